/*
 * record --async in a session: per process, a table of its asyncio tasks
 * (python/asyncio.h), read again when a sample names a coroutine the table
 * does not know (at most every ASYNC_REFRESH_NS) and, in wall and offcpu
 * modes, at every pass over the pending tasks.
 *
 * CPU samples: the kernel sends where each run of generator-owned frames
 * ends (sample_event.gen_runs); the run whose outermost frame belongs to
 * a task's coroutine is the task's code, and the labels root-ward of it
 * (the event loop's) are replaced by the chain of awaiting tasks.
 *
 * Waits (wall, offcpu): a pending task is on no thread's stack. Every
 * pass (ASYNC_PASS_NS apart, or more when reading the tasks takes long),
 * each task pending then is counted as having waited since the previous
 * pass, at its coroutine stack as the reader saw it (innermost frame at
 * the await line). So task waits are sampled at the pass interval: a
 * task that starts or stops waiting between two passes is off by up to
 * one interval, and one that waits for less than an interval between two
 * passes may be missed or counted whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/async.h"
#include "sampler/session_impl.h"
#include "target/memsrc.h"

#define ASYNC_REFRESH_NS 100000000ull /* a table read again for an unknown coroutine at most this often */
#define ASYNC_PASS_NS 10000000ull     /* wall/offcpu: pending tasks counted this often at most */
#define ASYNC_PASS_COST 10            /* ... and at least this many times the last read's duration apart */

struct async_proc {
	struct async_table table;
	uint16_t frame_offset;          /* async_coro_frame_offset() */
	uint64_t next_refresh_ns;       /* CLOCK_MONOTONIC: no read for an unknown coroutine before this */
	uint64_t last_pass_ns;          /* wall/offcpu: the previous pass (or the attach) */
	uint64_t next_pass_ns;
	bool said;                      /* a failed read was reported (-v) */
};

int async_add_process(struct session *r, struct session_proc *p)
{
	const struct py_target *t = &p->target;
	unsigned major = (t->version_hex >> 24) & 0xff, minor = (t->version_hex >> 16) & 0xff;
	const char *why = NULL;
	char buf[160];

	if (!r->cfg.async)
		return 0;
	uint16_t off = t->version_hex >= 0x030b0000 ? async_coro_frame_offset(t) : 0;

	if (t->version_hex < 0x030b0000) {
		snprintf(buf, sizeof(buf), "CPython %u.%u runs coroutines in frame objects pyperf does not tie "
			 "to tasks: --async needs 3.11 or later", major, minor);
		why = buf;
	} else if (!off) {
		snprintf(buf, sizeof(buf), "where CPython %u.%u keeps a coroutine's frame is not known: --async "
			 "cannot tie samples to tasks", major, minor);
		why = buf;
	}
	if (why) {
		/* The process asked for is refused; others (-a, children) are
		 * sampled with their normal stacks. */
		if (t->pid == r->target.pid && !r->cfg.all) {
			session_err(r, "%s\n", why);
			return -1;
		}
		if (r->cfg.verbose)
			fprintf(stderr, "pyperf: PID %d: %s; its stacks stay as they are\n", (int)t->pid, why);
		return 0;
	}
	p->async = calloc(1, sizeof(*p->async));
	if (!p->async) {
		session_err(r, "out of memory\n");
		return -1;
	}
	p->async->frame_offset = off;
	p->async->last_pass_ns = monotonic_ns();
	p->async->next_pass_ns = p->async->last_pass_ns + ASYNC_PASS_NS;
	return 0;
}

void async_forget(struct session_proc *p)
{
	if (!p->async)
		return;
	async_table_free(&p->async->table);
	free(p->async);
	p->async = NULL;
}

/* Reads p's tasks again; the time it took, or 0 if it failed (the old
 * table is kept then). */
static uint64_t read_tasks(struct session *r, struct session_proc *p)
{
	struct async_proc *ap = p->async;
	struct memsrc m = memsrc_pid(p->target.pid);
	struct async_tasks a = { 0 };
	char err[256] = "";
	uint64_t t0 = monotonic_ns();
	int rc = async_tasks_read(&m, &p->target, &a, err, sizeof(err));

	if (rc < 0) {
		async_tasks_free(&a);
		if (r->cfg.verbose && !ap->said)
			fprintf(stderr, "pyperf: PID %d: cannot read asyncio tasks: %s\n", (int)p->target.pid,
				err[0] ? err : strerror(-rc));
		ap->said = true;
		return 0;
	}
	if (async_table_set(&ap->table, &a))
		return 0;
	uint64_t took = monotonic_ns() - t0;

	return took ? took : 1;
}

/* The interned stack with these labels (made on first use); NULL if out
 * of memory or a key collision with another stack. */
static const struct stack_entry *stack_of_labels(struct session *r, struct session_proc *p, const char **labels,
						 size_t n, uint32_t flags, uint64_t *skey)
{
	*skey = mix(async_labels_key(labels, n), p->generation);
	struct stack_entry *st = u64map_get_ptr(&r->stacks, *skey);

	if (st)
		return st->nlabels == n && !memcmp(st->labels, labels, n * sizeof(labels[0])) ? st : NULL;
	st = malloc(sizeof(*st) + n * sizeof(st->labels[0]));
	if (!st)
		return NULL;
	st->generation = p->generation;
	st->flags = flags;
	st->native_stop = 0;
	st->nlabels = (uint32_t)n;
	for (int i = 0; i < PYPERF_ASYNC_RUNS; i++)
		st->async_cut[i] = ASYNC_NO_CUT;
	memcpy(st->labels, labels, n * sizeof(labels[0]));
	if (u64map_put_ptr(&r->stacks, *skey, st)) {
		free(st);
		return NULL;
	}
	return st;
}

static bool has_runs(const struct sample_event *ev)
{
	for (int i = 0; i < PYPERF_ASYNC_RUNS; i++)
		if (ev->gen_runs[i])
			return true;
	return false;
}

const struct stack_entry *async_sample_stack(struct session *r, struct session_proc *p, const struct sample_event *ev,
					     const struct stack_entry *st, uint64_t *skey)
{
	struct async_proc *ap = p->async;
	int run;

	if (!ap || !has_runs(ev))
		return st; /* outside any coroutine: not in a task */
	const struct async_task *task = async_task_of_runs(&ap->table, ev->gen_runs, ap->frame_offset, &run);

	if (!task) {
		uint64_t now = monotonic_ns();

		/* A task newer than the table, or no task at all (a generator):
		 * the table is read again, but not for every such sample. */
		if (now >= ap->next_refresh_ns) {
			ap->next_refresh_ns = now + ASYNC_REFRESH_NS;
			if (read_tasks(r, p))
				task = async_task_of_runs(&ap->table, ev->gen_runs, ap->frame_offset, &run);
		}
	}
	if (!task || run < 0 || st->async_cut[run] == ASYNC_NO_CUT || st->async_cut[run] > st->nlabels) {
		r->async_no_task++;
		return st;
	}
	uint32_t cut = st->async_cut[run];
	size_t n = async_stack_labels(&ap->table, &r->labels, task, st->labels + cut, st->nlabels - cut,
				      r->label_buf, ASYNC_MAX_LABELS);
	uint64_t key;
	const struct stack_entry *logical = stack_of_labels(r, p, r->label_buf, n, st->flags, &key);

	if (!logical) {
		r->async_no_task++;
		return st;
	}
	r->async_in_task++;
	*skey = key;
	return logical;
}

/* One pass over p's tasks: each pending one waited since the last pass. */
static void pass_process(struct session *r, struct session_proc *p, uint64_t now)
{
	struct async_proc *ap = p->async;
	uint64_t took = read_tasks(r, p);
	uint64_t waited = now > ap->last_pass_ns ? now - ap->last_pass_ns : 0;
	uint64_t gap = took * ASYNC_PASS_COST;

	ap->last_pass_ns = now;
	ap->next_pass_ns = now + (gap > ASYNC_PASS_NS ? gap : ASYNC_PASS_NS);
	ap->next_refresh_ns = now + ASYNC_REFRESH_NS; /* just read */
	if (!took || !waited)
		return;
	r->async_passes++;
	r->async_pass_ns += waited;
	for (size_t i = 0; i < ap->table.tasks.n; i++) {
		const struct async_task *k = &ap->table.tasks.tasks[i];
		const char *frames[ASYNC_MAX_FRAMES];
		size_t nf = 0;

		if (k->state != ASYNC_PENDING)
			continue; /* running: CPU samples (or off-CPU waits) have it; done: no more waits */
		/* Innermost first from the reader; labels go root first. */
		for (size_t j = k->nframes < ASYNC_MAX_FRAMES ? k->nframes : ASYNC_MAX_FRAMES; j-- > 0;) {
			const char *l = symbolizer_frame(p->sym, k->frames[j]);

			if (l)
				frames[nf++] = l;
		}
		size_t n = async_stack_labels(&ap->table, &r->labels, k, frames, nf, r->label_buf, ASYNC_MAX_LABELS);
		uint64_t skey;
		const struct stack_entry *st = stack_of_labels(r, p, r->label_buf, n, 0, &skey);
		uint32_t tid = k->tid > 0 ? (uint32_t)k->tid : (uint32_t)p->target.pid;
		struct sample_event ev = {
			.pid = (uint32_t)p->target.pid, .tid = tid, .kind = EVENT_OFFCPU, .weight_ns = waited,
		};

		if (st && aggregate_count(r, p, &ev, st, skey))
			r->async_waits++;
	}
}

void async_tick(struct session *r, bool final)
{
	void *v;
	uint64_t now;

	if (!r->cfg.async || r->cfg.mode == MODE_CPU)
		return;
	now = monotonic_ns();
	for (size_t it = 0; u64map_next_ptr(&r->procs, &it, NULL, &v);) {
		struct session_proc *p = v;

		if (p->async && (final || now >= p->async->next_pass_ns))
			pass_process(r, p, now);
	}
}
