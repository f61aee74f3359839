/*
 * record --async: samples taken in an asyncio task get the task's logical
 * stack ("task parent;task worker-2;worker (f:l);crunch (f:l);burn (f:l)"),
 * the chain of awaiting tasks in place of the event loop's frames; in
 * wall and offcpu modes, pending tasks add their waits at their await
 * lines. The task tables come from the reader of python/asyncio.h.
 *
 * async_stack.c holds what needs no session (indexing a table, the chain
 * of awaiters, the labels of a logical stack): unit-tested with made-up
 * tables. async.c ties it to the session.
 */
#ifndef PYPERF_ASYNC_H
#define PYPERF_ASYNC_H
#include <stddef.h>
#include <stdint.h>

#include "output/frametab.h"
#include "pyperf.h"
#include "python/asyncio.h"
#include "util/u64map.h"

#define ASYNC_MAX_CHAIN 32          /* "task" frames of one logical stack */
#define ASYNC_MAX_LABELS (ASYNC_MAX_CHAIN + PYPERF_MAX_FRAMES + 2)

/* One read of a process's tasks, looked up by coroutine and by address. */
struct async_table {
	struct async_tasks tasks;
	struct u64map by_coro;          /* coroutine object -> index + 1 */
	struct u64map by_addr;          /* task object -> index + 1 */
	const char **labels;            /* "task NAME" per task, made on first use (NULL: not yet) */
};

/* Takes over *a (emptied) and indexes it; 0, or -ENOMEM (then *t is empty
 * and a's tasks freed). */
int async_table_set(struct async_table *t, struct async_tasks *a);
void async_table_free(struct async_table *t);
const struct async_task *async_table_by_coro(const struct async_table *t, uint64_t coro);
const struct async_task *async_table_by_addr(const struct async_table *t, uint64_t addr);

/*
 * The task whose coroutine owns one of a sample's runs of generator
 * frames (gen_runs, as sample_event carries them; frame_offset: where a
 * coroutine's frame lies in it), the leaf-most such run's index in *run;
 * NULL when none does.
 */
const struct async_task *async_task_of_runs(const struct async_table *t, const __u64 gen_runs[PYPERF_ASYNC_RUNS],
					    uint16_t frame_offset, int *run);

/*
 * The chain of tasks awaiting t, root first, t last, into out (at most
 * max): from t up its first awaiter to a task nobody awaits (or whose
 * awaiter is not in the table), a cycle cut where it closes. Returns how
 * many; the root side is dropped when the chain is longer than max.
 */
size_t async_task_chain(const struct async_table *t, const struct async_task *task, const struct async_task **out,
			size_t max);

/* The interned "task NAME" label of a task of t ("task 0xADDR" when it
 * has no readable name); NULL if out of memory. */
const char *async_task_label(struct async_table *t, struct frametab *labels, const struct async_task *task);

/*
 * The labels of task's logical stack into out (cap entries): its chain's
 * "task" labels, root first, then the frame labels given (root first, the
 * task's coroutine frame first). Returns how many.
 */
size_t async_stack_labels(struct async_table *t, struct frametab *labels, const struct async_task *task,
			  const char *const *frames, size_t nframes, const char **out, size_t cap);

/*
 * Which of a stack's frames (leaf first, as sent) end a run of
 * generator-owned frames, counted as the kernel counts them for
 * sample_event.gen_runs (shims are not sent, so they never split a run):
 * run_of[i] is the run whose outermost frame is frame i, else -1.
 */
void async_gen_run_ends(const uint64_t *frames, uint32_t n, int8_t *run_of);

/* A 64-bit key of a label sequence (labels are interned: pointers compare). */
uint64_t async_labels_key(const char *const *labels, size_t n);

#endif
