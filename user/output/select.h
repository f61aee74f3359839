/*
 * Which samples of profiles read back (profile_read.h) a report keeps, and
 * under which root: points in time for --since/--until, label filters
 * (--label KEY=VALUE) and the root frame of --group-by, all on a stack's
 * origin (struct sample_origin: the pprof sample labels record -a writes,
 * or the "process PID" / "thread NAME (TID)" roots of folded files).
 */
#ifndef PYPERF_SELECT_H
#define PYPERF_SELECT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/frametab.h"
#include "output/profile.h"

/*
 * A point in time, in ns since the epoch (UTC):
 *   RFC 3339 / ISO 8601 with a zone: 2026-12-02T02:00:00Z, 02:00:00.250+01:00,
 *     +0100 ('T' or a space between date and time; seconds optional);
 *   the same without a zone: local time (TZ), 2026-12-02T02:00[:00];
 *   a date alone: local midnight, 2026-12-02;
 *   relative to now_ns: -15m, -2h, -90s, -1.5h (a duration as -d takes it,
 *     after '-'), or "now".
 * Returns 0 or -EINVAL.
 */
int select_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns);

/* "2026-12-02T02:00:00.000Z", UTC to the millisecond, into buf (>= 32 bytes). */
void select_format_time(uint64_t unix_ns, char *buf, size_t len);

/* The labels a filter or --group-by can name. */
enum select_key { SEL_PID, SEL_TID, SEL_PROCESS, SEL_CMDLINE, SEL_THREAD, SEL_CONTAINER, SEL__MAX };

/* "pid" -> SEL_PID ...; -1 for an unknown name. */
int select_key_by_name(const char *name);
/* "pid" for SEL_PID ... */
const char *select_key_name(enum select_key k);
/* "pid, tid, process, cmdline, thread, container" for messages. */
const char *select_key_names(void);

/* One --label KEY=VALUE. VALUE is matched as a shell pattern (fnmatch:
 * *, ?, [...]) against process, cmdline, thread and container; pid and tid
 * take a number. A label the sample does not carry (no container, a folded
 * file without process roots) never matches, not even '*'. */
struct select_filter {
	enum select_key key;
	const char *value;     /* the text after '=' (not owned) */
	uint32_t number;       /* pid, tid */
};

/* Parses KEY=VALUE; 0, or -EINVAL with err set (one line). */
int select_filter_parse(const char *arg, struct select_filter *f, char *err, size_t errlen);
/* Whether an origin passes every filter (NULL origin: has no label). */
bool select_match(const struct select_filter *fs, size_t n, const struct sample_origin *o);

/* The root frame --group-by KEY puts over an origin's samples, interned in
 * ft as a pseudo-frame: "process 1234" (pid; the root record -a --threads
 * writes), "thread 1235" (tid), "process NAME", "cmdline TEXT", "thread
 * NAME", "container ID"; "[no container]" (and so on) when the origin lacks
 * the label. NULL on out-of-memory. */
const char *select_group_root(struct frametab *ft, enum select_key key, const struct sample_origin *o);

#endif
