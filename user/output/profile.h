/* Aggregated stacks of interned frame labels, and the writers that take them. */
#ifndef PYPERF_PROFILE_H
#define PYPERF_PROFILE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/u64map.h"

struct fg_options;

/* What identifies where samples came from, for pprof labels; interned. */
struct sample_origin {
	uint32_t pid;
	uint32_t tid;
	const char *comm;           /* process name */
	const char *cmdline;        /* start of the command line */
	const char *thread;         /* thread name */
	const char *container;      /* container id from the cgroup path, or "" */
	uint32_t source;            /* profiles read back (profile_read.h): the file, 1-based; else 0 */
};

struct profile_stack {
	const struct sample_origin *origin; /* where the samples came from (pprof labels), or NULL */
	uint64_t count;
	size_t nframes;
	const char **frames;     /* root first; interned labels (not owned) */
};

struct profile {
	struct profile_stack *stacks;
	size_t len, cap;
	struct u64map index;     /* hash of the frame pointers -> stacks index + 1 (chained by probing) */
	uint64_t total;
};

void profile_init(struct profile *p);
void profile_free(struct profile *p);
/* Adds count samples of a stack (root first, interned labels); identical
 * stacks merge. Returns 0 or -ENOMEM. */
int profile_add(struct profile *p, const char *const *frames, size_t nframes, uint64_t count);
/* The same, keeping stacks of different origins apart (pprof labels). */
int profile_add_origin(struct profile *p, const char *const *frames, size_t nframes, uint64_t count,
		       const struct sample_origin *origin);
/* Folded stacks sorted by frames, names escaped (flamegraph/folded.h). */
int profile_write_folded(struct profile *p, FILE *out);
int profile_write_svg(const struct profile *p, const struct fg_options *opts, FILE *out);

#endif
