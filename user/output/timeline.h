/*
 * record --timeline: every sample and wait kept with its time, per thread,
 * and turned into nested open/close frame events (speedscope's "evented"
 * profiles) for a time-ordered view of the run.
 */
#ifndef PYPERF_TIMELINE_H
#define PYPERF_TIMELINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output/profile.h"
#include "util/u64map.h"

/* Memory bound: past this many events (24 bytes each, 48 MiB) the timeline
 * stops growing (counted in dropped); the aggregated profile goes on. */
#define TIMELINE_MAX_EVENTS 2000000u

/* A CPU sample (wait_ns 0) at time_ns, or a wait that ended at time_ns
 * after wait_ns; times in CLOCK_MONOTONIC nanoseconds. */
struct timeline_event {
	uint64_t time_ns;
	uint64_t wait_ns;
	uint32_t stack;             /* index into stacks */
	uint32_t thread;            /* index into threads */
};

struct timeline_stack {
	const char *const *labels;  /* root first, interned (not owned) */
	uint32_t nlabels;
};

struct timeline {
	struct timeline_event *events;
	size_t len, cap, max;       /* max: TIMELINE_MAX_EVENTS unless a test lowers it */
	struct timeline_stack *stacks;
	size_t nstacks, stacks_cap;
	struct u64map stack_index;  /* labels pointer -> index + 1 */
	const struct sample_origin **threads; /* pid, tid, name: one per thread of a process image */
	size_t nthreads, threads_cap;
	struct u64map thread_index; /* origin pointer -> index + 1 */
	uint64_t dropped;           /* events not kept: past max, or out of memory */
	uint64_t full_at_ns;        /* time of the first event dropped for max, or 0 */
	size_t *thread_first;       /* once sorted: thread i's events are [thread_first[i], thread_first[i + 1]) */
	bool sorted;
	/* Set by the caller, for the writer: */
	uint64_t origin_ns;         /* time 0 of the file (the recording's start), CLOCK_MONOTONIC */
	uint64_t period_ns;         /* what one CPU sample stands for (1e9 / Hz) */
};

void timeline_init(struct timeline *t);
void timeline_free(struct timeline *t);
/* Keeps one event of thread (interned, stable until the timeline is
 * written) with its stack (labels root first, stable likewise; nlabels may
 * be 0: the thread ran nothing shown). Counted in dropped when full. */
void timeline_add(struct timeline *t, const struct sample_origin *thread, uint64_t time_ns, uint64_t wait_ns,
		  const char *const *labels, size_t nlabels);

/* One frame event of a thread's time order. */
typedef int timeline_frame_fn(void *ctx, bool open, const char *label, uint64_t at_ns);

/* Sorts the events by thread, then time (once). */
void timeline_sort(struct timeline *t);
/* The earliest time any event covers (a wait's start), or 0 when empty. */
uint64_t timeline_first_ns(struct timeline *t);
/*
 * Thread th's frames as balanced open/close events at non-decreasing
 * times, each an absolute CLOCK_MONOTONIC time, never before from_ns:
 * a CPU sample's stack runs from its time to the next event's, or for
 * period_ns when that comes more than 2 periods later (the thread was off
 * the CPU in between, unseen); a wait covers [end - wait, end]. Overlaps
 * (clock skew between CPUs, a wait starting before the last sample's
 * period ran out) go to the earlier event. Between two events at most 2
 * periods apart (the thread ran between two waits, on the CPU all along)
 * only the frames that differ close (at the end of the first) and open (at
 * the start of the second): the same stack goes on, shared frames stay
 * open; further apart, every frame closes. Stops at fn's first non-zero return and returns it; else 0.
 * The end of the last event is in *end_ns (0 if none). Sorts first.
 */
int timeline_walk(struct timeline *t, size_t th, uint64_t period_ns, uint64_t from_ns, timeline_frame_fn *fn,
		  void *ctx, uint64_t *end_ns);

#endif
