/*
 * Profiles read back from files: pyperf's own and other tools' folded
 * stacks, pprof (.pb.gz, gzip or not), or a directory of the period files
 * `record --every` writes (DIR/pyperf-YYYYmmddTHHMMSS.mmmZ.pb.gz or
 * .folded, output/archive.h), into one struct profile whose labels are
 * interned in a struct frametab with their parts. For diff, report and
 * annotate.
 *
 * What a struct read_profile holds:
 *   prof      the stacks, root first, merged when frames and origin are the
 *             same; prof.total is the sum of the counts.
 *   labels    every frame label with its parts (frametab_meta): function
 *             name, file, line, first line, kind (Python, native, kernel,
 *             pseudo), address and build id of native frames.
 *               pprof: labels rebuilt as pyperf makes them (frametab.h),
 *               so a profile written as pprof and as folded reads back to
 *               the same labels; a Location with inlined Lines gives one
 *               frame per Line.
 *               folded: the text as written (escapes undone), its parts
 *               parsed by the rule flamegraph/colors.c colours by:
 *               "name (file:LINE)" Python, "symbol (lib)" and
 *               "lib+0xADDR" native, "symbol [kernel]", "[...]", "process
 *               PID" and "thread NAME (TID)" pseudo; any other name
 *               (other tools') is a pseudo-frame whose name is the label.
 *   origins   each stack's origin (struct sample_origin, interned: equal
 *             origins are one pointer, never NULL here) says where and when
 *             its samples come from: pid, tid, process, cmdline, thread,
 *             container from pprof sample labels (record -a writes them),
 *             or pid/tid/thread from the "process PID" and "thread NAME
 *             (TID)" root frames of folded files (record -a, --threads);
 *             absent ones 0 or "". origin->source is the file (1-based
 *             index: files[source - 1]) the samples were read from, or 0
 *             when the caller asked files to merge (merge_files).
 *   files     one struct read_file per file read: its path, format, start
 *             and duration (pprof time_nanos/duration_nanos; a period
 *             file's start from its name, its duration unknown in folded
 *             form), ns per count, value type, samples, and a title.
 *
 * Values: a count is a CPU sample (value_type NULL), or for time-valued
 * profiles (record --mode offcpu/wall: value_type "off_cpu" or "wall") one
 * period_ns of time, a microsecond as pyperf writes them. pprof values in
 * nanoseconds are read back in periods, so a profile's counts are the same
 * from its pprof and its folded form. Files of different value types do not
 * mix (an error).
 *
 * Errors: a file that cannot be read whole and right (I/O, bad gzip, bad
 * protobuf, references to missing ids, a SVG or JSON file given where
 * folded or pprof is expected) is a one-line error in err; in a directory,
 * such a file is skipped with a one-line warning on stderr (a half-written
 * or corrupted period file must not lose the rest) and counted in skipped.
 * Everything read is bounded: READ_MAX_BYTES decompressed per pprof file,
 * READ_MAX_FRAMES frames per stack, READ_MAX_TOTAL samples, folded lines as
 * folded.h bounds them.
 */
#ifndef PYPERF_PROFILE_READ_H
#define PYPERF_PROFILE_READ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/formats.h"
#include "output/frametab.h"
#include "output/profile.h"
#include "util/u64map.h"

/* A pprof file's uncompressed size may not pass this. */
#define READ_MAX_BYTES (1ull << 30)
/* Most frames in one stack (pprof: after inlined lines are expanded). */
#define READ_MAX_FRAMES (1u << 16)
/* A profile's counts may not add up to more (so sums of them never wrap). */
#define READ_MAX_TOTAL (1ull << 62)

struct read_file {
	const char *path;        /* interned */
	enum out_format format;  /* FMT_FOLDED or FMT_PPROF */
	uint64_t start_unix_ns;  /* 0: unknown */
	uint64_t duration_ns;    /* 0: unknown */
	uint64_t period_ns;      /* ns one count stands for; 0: unknown (folded) */
	const char *value_type;  /* NULL: CPU samples; "off_cpu", "wall": time */
	const char *title;       /* pprof comment (record --title), or NULL */
	uint64_t samples;        /* sum of its counts */
};

struct read_opts {
	/* Directories: only period files whose time overlaps [since, until)
	 * (by the name's start, and the file's duration when known); 0: open. */
	uint64_t since_unix_ns, until_unix_ns;
	/* Stacks from different files merge (origin->source 0), so memory is
	 * bounded by the distinct stacks, not by the files. */
	bool merge_files;
	/* "pyperf diff": the start of warnings about skipped files. */
	const char *who;
};

/* Internal to the readers: what the file being read added to prof, so a
 * directory's file found bad (or out of the range) part way is taken back
 * whole. Its stacks go straight into prof, not into a profile of its own
 * added afterwards (which cost a second hashing of every stack). */
struct read_stage {
	bool on;
	size_t len;              /* prof.len before the file: later stacks are its own */
	uint64_t total;          /* prof.total before the file */
	struct read_stage_add {
		size_t index;
		uint64_t count;
	} *adds;                 /* counts it added to the stacks before it */
	size_t nadds, capadds;
};

struct read_profile {
	struct profile prof;
	struct frametab labels;
	struct read_file *files;
	size_t nfiles, capfiles;
	struct u64map origins;   /* hash of an origin's fields -> struct sample_origin * (probed) */
	const char *value_type;  /* every file's (they agree) */
	size_t skipped;          /* files of a directory skipped as unreadable */
	/* internal (pprof_read.c): a location's parts -> its label, kept
	 * across files */
	struct read_label_cache {
		struct read_label_slot {
			uint64_t hash;
			struct cached_label *entry; /* NULL: empty */
		} *slots;            /* open addressing, at most half full */
		size_t nslots, len;
	} label_cache;
	struct read_stage stage;
};

/* Reads path (a file, or a directory of period files) into rp, which it
 * initialises (free it with read_profile_free whatever the result).
 * Returns 0, or -errno after writing one line (without "\n") to err. */
int profile_read(struct read_profile *rp, const char *path, const struct read_opts *o, char *err,
		 size_t errlen);
void read_profile_free(struct read_profile *rp);
/* An empty rp, for read_profile_merge to add profiles read one by one to. */
void read_profile_init(struct read_profile *rp);
/* Adds the files and stacks of one (read by profile_read) to rp: labels
 * and origins are interned again in rp, a file's origins keep pointing to
 * it (its index shifted) unless merge_files. Files of a different value
 * type are refused as profile_read refuses them. Returns 0 or -errno with
 * err set; rp may hold part of one then. */
int read_profile_merge(struct read_profile *rp, const struct read_profile *one, bool merge_files, char *err,
		       size_t errlen);

/* The file a stack's samples came from, or NULL when files were merged. */
const struct read_file *read_profile_file(const struct read_profile *rp, const struct profile_stack *s);
/* Sum of the files' durations, 0 when any is unknown. */
uint64_t read_profile_duration_ns(const struct read_profile *rp);
/* Time the counts stand for: the sum over files of samples x period_ns; 0
 * when any file's period is unknown. */
uint64_t read_profile_time_ns(const struct read_profile *rp);

/* Internal to the readers (profile_read.c, pprof_read.c). */
int read_pprof(struct read_profile *rp, struct read_file *file, const uint8_t *data, size_t len,
	       uint32_t source, char *err, size_t errlen);
/* Adds a stack read to rp->prof, hash its profile_hash (while
 * rp->stage.on, remembered so it can be taken back). 0, -ENOMEM, or
 * -EOVERFLOW when the counts would pass READ_MAX_TOTAL. */
int read_profile_add(struct read_profile *rp, uint64_t hash, const char *const *frames, size_t nframes,
		     uint64_t count, const struct sample_origin *origin);
void read_label_cache_free(struct read_label_cache *c);
/* The interned origin equal to *o (strings copied in); NULL on ENOMEM. */
const struct sample_origin *read_profile_origin(struct read_profile *rp, const struct sample_origin *o);

#endif
