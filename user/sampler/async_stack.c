/*
 * record --async, the part that needs no session: a task table indexed,
 * the chain of awaiting tasks, and the labels of a logical stack. Tables
 * come from another process's memory: names, links and counts are not
 * trusted (every walk bounded, cycles cut, names sanitized).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/async.h"
#include "util/utf8.h"

int async_table_set(struct async_table *t, struct async_tasks *a)
{
	async_table_free(t);
	t->tasks = *a;
	memset(a, 0, sizeof(*a));
	if (t->tasks.n > ASYNC_MAX_TASKS)
		t->tasks.n = ASYNC_MAX_TASKS;
	if (t->tasks.n && !(t->labels = calloc(t->tasks.n, sizeof(t->labels[0]))))
		goto nomem;
	for (size_t i = 0; i < t->tasks.n; i++) {
		const struct async_task *k = &t->tasks.tasks[i];

		/* The first of duplicates wins (a task read twice as it moved). */
		if (k->coro && !u64map_get(&t->by_coro, k->coro) && u64map_put(&t->by_coro, k->coro, i + 1))
			goto nomem;
		if (k->addr && !u64map_get(&t->by_addr, k->addr) && u64map_put(&t->by_addr, k->addr, i + 1))
			goto nomem;
	}
	return 0;
nomem:
	async_table_free(t);
	return -ENOMEM;
}

void async_table_free(struct async_table *t)
{
	async_tasks_free(&t->tasks);
	u64map_free(&t->by_coro);
	u64map_free(&t->by_addr);
	free(t->labels);
	memset(t, 0, sizeof(*t));
}

static const struct async_task *task_at(const struct async_table *t, const uint64_t *idx)
{
	return idx && *idx >= 1 && *idx <= t->tasks.n ? &t->tasks.tasks[*idx - 1] : NULL;
}

const struct async_task *async_table_by_coro(const struct async_table *t, uint64_t coro)
{
	return coro ? task_at(t, u64map_get(&t->by_coro, coro)) : NULL;
}

const struct async_task *async_table_by_addr(const struct async_table *t, uint64_t addr)
{
	return addr ? task_at(t, u64map_get(&t->by_addr, addr)) : NULL;
}

const struct async_task *async_task_of_runs(const struct async_table *t, const __u64 gen_runs[PYPERF_ASYNC_RUNS],
					    uint16_t frame_offset, int *run)
{
	*run = -1;
	if (!frame_offset)
		return NULL;
	for (int i = 0; i < PYPERF_ASYNC_RUNS; i++) {
		if (gen_runs[i] <= frame_offset)
			continue;
		const struct async_task *k = async_table_by_coro(t, gen_runs[i] - frame_offset);

		if (k) {
			*run = i;
			return k;
		}
	}
	return NULL;
}

size_t async_task_chain(const struct async_table *t, const struct async_task *task, const struct async_task **out,
			size_t max)
{
	/* Walked leaf-ward first into a ring of the max nearest to task,
	 * then turned root first. */
	const struct async_task *seen[ASYNC_MAX_CHAIN];
	size_t n = 0;

	if (!max || !task)
		return 0;
	if (max > ASYNC_MAX_CHAIN)
		max = ASYNC_MAX_CHAIN;
	for (const struct async_task *k = task; k && n < max;) {
		seen[n++] = k;
		const struct async_task *up = k->nawaited_by ? async_table_by_addr(t, k->awaited_by[0]) : NULL;

		for (size_t i = 0; up && i < n; i++)
			if (seen[i] == up)
				up = NULL; /* a cycle: it closes here */
		k = up;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = seen[n - 1 - i];
	return n;
}

const char *async_task_label(struct async_table *t, struct frametab *labels, const struct async_task *task)
{
	size_t i = (size_t)(task - t->tasks.tasks);

	if (i < t->tasks.n && t->labels && t->labels[i])
		return t->labels[i];
	/* A name from the target: any bytes, maybe unterminated. Made valid
	 * UTF-8 here; separators are the writers' to escape. */
	char name[sizeof(task->name) * 3 + 1], label[sizeof(name) + 32];
	size_t n = strnlen(task->name, sizeof(task->name));

	name[utf8_sanitize(task->name, n, name)] = '\0';
	if (name[0])
		snprintf(label, sizeof(label), "task %s", name);
	else
		snprintf(label, sizeof(label), "task 0x%" PRIx64, task->addr);
	const char *l = frametab_pseudo(labels, label);

	if (l && i < t->tasks.n && t->labels)
		t->labels[i] = l;
	return l;
}

size_t async_stack_labels(struct async_table *t, struct frametab *labels, const struct async_task *task,
			  const char *const *frames, size_t nframes, const char **out, size_t cap)
{
	const struct async_task *chain[ASYNC_MAX_CHAIN];
	size_t nchain = async_task_chain(t, task, chain, ASYNC_MAX_CHAIN), n = 0;

	for (size_t i = 0; i < nchain && n < cap; i++) {
		const char *l = async_task_label(t, labels, chain[i]);

		if (l)
			out[n++] = l;
	}
	for (size_t i = 0; i < nframes && n < cap; i++)
		if (frames[i])
			out[n++] = frames[i];
	return n;
}

void async_gen_run_ends(const uint64_t *frames, uint32_t n, int8_t *run_of)
{
	int runs = 0;

	for (uint32_t i = 0; i < n; i++) {
		bool gen = PYPERF_FRAME_IS_GEN(frames[i]);
		bool ends = gen && (i + 1 == n || !PYPERF_FRAME_IS_GEN(frames[i + 1]));

		run_of[i] = -1;
		if (ends && runs < PYPERF_ASYNC_RUNS)
			run_of[i] = (int8_t)runs++;
	}
}

uint64_t async_labels_key(const char *const *labels, size_t n)
{
	uint64_t h = 0xa5c0a5c0a5c0a5c0ull ^ n;

	for (size_t i = 0; i < n; i++) {
		h = (h ^ (uint64_t)(uintptr_t)labels[i]) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h * 0x9e3779b97f4a7c15ull;
}
