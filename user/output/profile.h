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

/* A slot of a profile's index: one cache line holds four, and the hash
 * kept there spares a look at stacks of another hash. */
struct profile_slot {
	uint64_t hash;           /* of the frame pointers and origin */
	size_t index;            /* in stacks, + 1; 0: empty */
};

struct profile {
	struct profile_stack *stacks;
	size_t len, cap;
	struct profile_slot *slots; /* open addressing, linear probing, at most half full */
	size_t nslots;           /* a power of two, or 0 */
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
/* profile_add_origin, saying where the stack is: *index in p->stacks. */
int profile_add_at(struct profile *p, const char *const *frames, size_t nframes, uint64_t count,
		   const struct sample_origin *origin, size_t *index);
/* The same, for a stack whose profile_hash is h. A reader adding many
 * stacks hashes them ahead and prefetches what each add will read, steps
 * 0, 1 and 2 in turn a few adds apart (each step reads what the one
 * before brought in): the index slot, the stack, its frames. */
uint64_t profile_hash(const char *const *frames, size_t nframes, const struct sample_origin *origin);
void profile_prefetch(const struct profile *p, uint64_t h, int step);
int profile_add_hashed(struct profile *p, uint64_t h, const char *const *frames, size_t nframes, uint64_t count,
		       const struct sample_origin *origin, size_t *index);
/* Removes the stacks added after the first len (their counts leave the
 * total), for a reader taking back what a bad file added. */
void profile_truncate(struct profile *p, size_t len);
/* Folded stacks sorted by frames, names escaped (flamegraph/folded.h). */
int profile_write_folded(struct profile *p, FILE *out);
int profile_write_svg(const struct profile *p, const struct fg_options *opts, FILE *out);

#endif
