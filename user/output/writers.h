/* Profile writers beyond folded and SVG (those are in profile.h). */
#ifndef PYPERF_WRITERS_H
#define PYPERF_WRITERS_H
#include <stdint.h>
#include <stdio.h>

#include "output/frametab.h"
#include "output/profile.h"

struct profile_meta {
	uint64_t period_ns;      /* nanoseconds one sample stands for (1e9 / Hz) */
	uint64_t start_unix_ns;  /* when recording started (wall clock) */
	uint64_t duration_ns;    /* how long it ran */
	const char *name;        /* human title, e.g. "pyperf: PID 1234 (python3)" */
	const char *value_type;  /* NULL: counts of CPU samples (samples/count, cpu/nanoseconds);
				  * else one sample type VALUE_TYPE/nanoseconds ("off_cpu",
				  * "wall") with values count * period_ns */
};

/* pprof: gzip-compressed profile.proto (zlib), sample types samples/count and
 * cpu/nanoseconds; one Function per (name, file, first line), one Location
 * per (function, line), or per (function, file, address) for native and
 * kernel frames, which carry a Mapping per file (pprof.c). Returns 0 or
 * -errno. */
int profile_write_pprof(const struct profile *p, const struct frametab *ft, const struct profile_meta *m,
			FILE *out);

/* speedscope JSON (https://www.speedscope.app/file-format-schema.json),
 * one "sampled" profile with weights in samples. Returns 0 or -errno. */
int profile_write_speedscope(const struct profile *p, const struct frametab *ft,
			     const struct profile_meta *m, FILE *out);

struct timeline;
/* record --timeline: one "evented" profile per thread of t (its time order;
 * times in nanoseconds from t->origin_ns, or from the earliest wait when
 * one began before it), by pid then tid, then p as
 * the "sampled" profile "NAME: all threads, aggregated". Sorts t. Returns
 * 0 or -errno. */
int profile_write_speedscope_timeline(const struct profile *p, struct timeline *t, const struct frametab *ft,
				      const struct profile_meta *m, FILE *out);

#endif
