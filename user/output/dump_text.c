/* pyperf dump as text: a header line, then each thread and its frames,
 * innermost first, with source lines; then the other OS threads. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "output/dump.h"
#include "pyperf.h"
#include "target/coredump.h"
#include "util/safetext.h"

/* Text that came from the target (names, paths, source lines), written so
 * it cannot break a terminal (util/safetext.h). */
static void put_str(FILE *f, const char *str)
{
	if (str)
		safetext_put(f, str, strlen(str), false);
}

/* false when the frame is not shown */
static bool print_frame_text(struct dump *d, FILE *f, uint64_t frame)
{
	const char *label = symbolizer_frame(d->sym, frame);
	const struct frame_meta *fm;
	char src[SRC_LINE_MAX + 8];

	if (!label)
		return false; /* hidden (prologue) or out of memory */
	fputs("    ", f);
	put_str(f, label);
	fputc('\n', f);
	fm = frametab_meta(&d->tab, label);
	if (fm && fm->file[0] && source_line(d, fm->file, fm->line, src, sizeof(src))) {
		fputs("        ", f);
		put_str(f, src);
		fputc('\n', f);
	}
	return true;
}

/* --locals: frame k's variables under it, "KIND NAME = VALUE". */
static void print_locals_text(struct dump *d, FILE *f, const struct dthread *th, size_t k)
{
	static const char *const kinds[] = { "arg  ", "local", "cell ", "free " };

	if (!d->locals || !th->addrs)
		return;
	const struct pylocals_frame *lf = pylocals_read(d->locals, th->addrs[k], PYPERF_FRAME_CODE(th->frames[k]));

	if (lf->error) {
		fprintf(f, "        (variables not shown: %s)\n", lf->error);
		return;
	}
	for (size_t i = 0; i < lf->n; i++) {
		fprintf(f, "        %s ", kinds[lf->v[i].kind]);
		put_str(f, lf->v[i].name);
		fputs(" = ", f);
		put_str(f, lf->v[i].value);
		fputc('\n', f);
	}
	if (lf->truncated)
		fprintf(f, "        (only the first %d variables are shown)\n", PYLOCALS_MAX);
}

/* A running thread's stack as the in-kernel sampler saw it. */
static void print_sampled_text(struct dump *d, FILE *f, const struct dthread *th)
{
	char src[SRC_LINE_MAX + 8];

	fputs("    (running: sampled on its CPU by the in-kernel unwinder)\n", f);
	for (size_t k = 0; k < th->nsampled; k++) {
		const struct frame_meta *fm = frametab_meta(&d->tab, th->sampled[k]);
		bool native = fm && (fm->kind == FRAME_NATIVE || fm->kind == FRAME_KERNEL);

		fputs(native ? "    [native] " : "    ", f);
		put_str(f, th->sampled[k]);
		fputc('\n', f);
		if (fm && fm->kind == FRAME_PYTHON && source_line(d, fm->file, fm->line, src, sizeof(src))) {
			fputs("        ", f);
			put_str(f, src);
			fputc('\n', f);
		}
	}
}

static void print_native_frame_text(FILE *f, const struct native_frame *nf)
{
	fprintf(f, "    [native] 0x%" PRIx64 " ", nf->pc);
	if (nf->symbol[0]) {
		put_str(f, nf->symbol);
		fprintf(f, "+0x%" PRIx64, nf->offset);
		if (nf->file[0]) {
			fputs(" (", f);
			put_str(f, nf->file);
			fputc(')', f);
		}
	} else if (nf->file[0]) {
		fputs("?? (", f);
		put_str(f, nf->file);
		fprintf(f, "+0x%" PRIx64 ")", nf->offset);
	} else {
		fputs("??", f);
	}
	fputc('\n', f);
}

/* What the thread waits on, after its header (a running thread's state
 * already says so). */
static void print_wait_text(FILE *f, const struct dthread *th, const char *state)
{
	if (!th->wait.text[0] || (th->wait.kind == WK_RUNNING && state))
		return;
	fputs(": ", f);
	put_str(f, th->wait.text);
}

/* Where a thread waits: its innermost Python frame's file:line. */
static void put_where(struct dump *d, FILE *f, const struct dthread *th)
{
	for (size_t k = 0; k < th->n; k++) {
		const char *label = symbolizer_frame(d->sym, th->frames[k]);
		const struct frame_meta *fm = label ? frametab_meta(&d->tab, label) : NULL;

		if (fm && fm->file[0]) {
			fputs(" (", f);
			put_str(f, fm->file);
			fprintf(f, ":%d)", fm->line);
			return;
		}
	}
}

static void put_thread_ref(FILE *f, const struct dthread *th)
{
	fprintf(f, "thread %d", (int)th->tid);
	if (th->name[0]) {
		fputs(" \"", f);
		put_str(f, th->name);
		fputc('"', f);
	}
}

/* Each wait-for cycle: "deadlock: A waits for B (file:line) -> B waits for
 * A (file:line)". */
static void print_deadlocks_text(struct dump *d, FILE *f)
{
	size_t *idx = calloc(d->nth + 1, sizeof(*idx)), *lens = calloc(d->nth + 1, sizeof(*lens));
	size_t n = idx && lens ? find_deadlocks(d, idx, lens, d->nth) : 0;

	for (size_t c = 0, at = 0; c < n; at += lens[c], c++) {
		fputs("deadlock: ", f);
		for (size_t k = 0; k < lens[c]; k++) {
			const struct dthread *a = &d->th[idx[at + k]], *b = &d->th[idx[at + (k + 1) % lens[c]]];

			if (k)
				fputs(" -> ", f);
			put_thread_ref(f, a);
			fputs(" waits for ", f);
			put_thread_ref(f, b);
			put_where(d, f, a);
		}
		fputc('\n', f);
	}
	if (n)
		fputc('\n', f);
	free(idx);
	free(lens);
}

static void print_thread_text(struct dump *d, FILE *f, const struct dthread *th)
{
	const char *st = state_name(th->state);
	bool paren = false;

	if (th->tid > 0)
		fprintf(f, "Thread %d", (int)th->tid);
	else
		fprintf(f, "Thread ? (pthread 0x%" PRIx64 ")", th->ts.thread_id);
	if (th->name[0]) {
		fputs(" \"", f);
		put_str(f, th->name);
		fputc('"', f);
	}
#define ITEM(...) do { fputs(paren ? ", " : " (", f); paren = true; fprintf(f, __VA_ARGS__); } while (0)
	if (st)
		ITEM("%s", st);
	if (th->gil == 1)
		ITEM("holds the GIL");
	if (th->ts.interp_index)
		ITEM("interpreter %u", th->ts.interp_index);
	if (th->changing)
		ITEM("stack changing; may be inconsistent");
	if (th->os_name[0] && strcmp(th->os_name, th->name) != 0) {
		ITEM("os name \"");
		put_str(f, th->os_name);
		fputc('"', f);
	}
#undef ITEM
	if (paren)
		fputc(')', f);
	print_wait_text(f, th, st);
	fputc('\n', f);

	const struct native_stack *ns = &th->native;

	if (th->nsampled) {
		print_sampled_text(d, f, th);
	} else if (d->o.native && ns->merged) {
		/* Native frames interleaved, innermost first: the Python frames
		 * an evaluation-loop call runs come right before (inside) it. */
		for (size_t k = 0; k < ns->n; k++) {
			const struct native_frame *nf = &ns->frames[k];

			for (size_t j = 0; j < nf->py_count && nf->py_first + j < th->n; j++) {
				if (print_frame_text(d, f, th->frames[nf->py_first + j]))
					print_locals_text(d, f, th, nf->py_first + j);
			}
			print_native_frame_text(f, nf);
		}
	} else {
		for (size_t i = 0; i < th->n; i++)
			if (print_frame_text(d, f, th->frames[i]))
				print_locals_text(d, f, th, i);
	}
	const char *flag = pywalk_stack_flag_label(th->flags);

	if (flag)
		fprintf(f, "    %s\n", flag);
	if (!th->n && !flag && !th->nsampled)
		fputs("    (no Python frames)\n", f);
	if (d->o.native && !ns->merged && !th->nsampled) {
		if (ns->n) {
			fputs("  native frames:\n", f);
			for (size_t k = 0; k < ns->n; k++)
				print_native_frame_text(f, &ns->frames[k]);
		}
		if (ns->why[0])
			fprintf(f, "  native frames: %s\n", ns->why);
	}
	fputc('\n', f);
}

static void print_header_text(struct dump *d, FILE *f)
{
	char vbuf[32];

	py_version_str(d->t.version_hex, vbuf, sizeof(vbuf));
	if (d->core) {
		fputs("Core file ", f);
		put_str(f, d->o.core);
		fprintf(f, ": PID %d", (int)d->t.pid);
		if (d->cmdline[0]) {
			fputs(", ", f);
			put_str(f, d->cmdline);
		}
		fprintf(f, " (CPython %s", vbuf);
		int sig = coredump_signal(d->core);

		if (sig > 0)
			fprintf(f, ", killed by signal %d", sig);
		fputs(")\n", f);
		char cut[128];

		if (coredump_truncated(d->core, cut, sizeof(cut)))
			fprintf(f, "(%s: frames in the missing part show as unreadable)\n", cut);
	} else {
		fprintf(f, "Process %d: ", (int)d->t.pid);
		put_str(f, d->cmdline[0] ? d->cmdline : d->t.comm);
		fprintf(f, " (CPython %s)\n", vbuf);
	}
	if (d->ts_flags & PYWALK_THREADS_TRUNCATED)
		fprintf(f, "(only the first %d thread states are shown)\n", PYPERF_MAX_THREADS);
	if (d->ts_flags & PYWALK_INTERPS_TRUNCATED)
		fprintf(f, "(only the first %d interpreters are shown)\n", PYPERF_MAX_INTERPRETERS);
	if (d->ts_flags & (PYWALK_THREADS_FAULT | PYWALK_THREADS_CYCLE))
		fputs("(the thread list was unreadable past some point: threads may be missing)\n", f);
	if (d->vanished)
		fprintf(f, "(%zu thread(s) exited while being read, not shown)\n", d->vanished);
	fputc('\n', f);
}

void print_text(struct dump *d, FILE *f)
{
	print_header_text(d, f);
	for (size_t i = 0; i < d->nth; i++)
		print_thread_text(d, f, &d->th[i]);
	print_deadlocks_text(d, f);
	size_t others = 0;

	for (size_t i = 0; i < d->ntasks; i++)
		others += !is_python_tid(d, d->tasks[i]);
	if (!others)
		return;
	fprintf(f, "%zu other thread%s without a Python thread state:", others, others == 1 ? "" : "s");
	for (size_t i = 0; i < d->ntasks; i++) {
		char name[64];

		if (!other_thread(d, i, name, sizeof(name)))
			continue;
		fprintf(f, " %d", (int)d->tasks[i]);
		if (name[0]) {
			fputs(" \"", f);
			put_str(f, name);
			fputc('"', f);
		}
	}
	fputc('\n', f);
}

/* ---- dump --async ---- */

#define ASYNC_TREE_DEPTH 64

static const char *async_state_name(enum async_task_state s)
{
	return s == ASYNC_RUNNING ? "running" : s == ASYNC_DONE ? "done" : "pending";
}

/* Children of each task (the tasks awaited by it) as index lists. */
struct async_tree {
	size_t *first, *count, *kids;
	uint8_t *mark;                 /* 1: on the path being printed, 2: printed */
};

static int async_tree_build(const struct async_tasks *a, struct async_tree *t)
{
	size_t total = 0;

	t->first = calloc(a->n + 1, sizeof(size_t));
	t->count = calloc(a->n + 1, sizeof(size_t));
	t->mark = calloc(a->n + 1, 1);
	for (size_t i = 0; i < a->n; i++)
		total += a->tasks[i].nawaited_by;
	t->kids = calloc(total + 1, sizeof(size_t));
	if (!t->first || !t->count || !t->mark || !t->kids)
		return -1;
	/* count, then place: children in task address order */
	for (size_t i = 0; i < a->n; i++)
		for (size_t k = 0; k < a->tasks[i].nawaited_by; k++) {
			const struct async_task *p = async_task_by_addr(a, a->tasks[i].awaited_by[k]);

			if (p)
				t->count[p - a->tasks]++;
		}
	for (size_t i = 0, off = 0; i < a->n; i++) {
		t->first[i] = off;
		off += t->count[i];
		t->count[i] = 0;
	}
	for (size_t i = 0; i < a->n; i++)
		for (size_t k = 0; k < a->tasks[i].nawaited_by; k++) {
			const struct async_task *p = async_task_by_addr(a, a->tasks[i].awaited_by[k]);

			if (p) {
				size_t pi = (size_t)(p - a->tasks);

				t->kids[t->first[pi] + t->count[pi]++] = i;
			}
		}
	return 0;
}

static void async_tree_free(struct async_tree *t)
{
	free(t->first);
	free(t->count);
	free(t->kids);
	free(t->mark);
}

static void indent(FILE *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fputc(' ', f);
}

static void print_task_text(struct dump *d, FILE *f, struct async_tree *tr, size_t i, unsigned depth)
{
	const struct async_task *t = &d->aio.tasks[i];

	indent(f, depth * 2);
	fputs("task ", f);
	put_str(f, t->name[0] ? t->name : "?");
	fprintf(f, " [%s]", async_state_name(t->state));
	if (tr->mark[i] == 1) {
		fputs(" (awaits a task above it: cycle cut)\n", f);
		return;
	}
	if (tr->mark[i] == 2) {
		fputs(" (shown above)\n", f);
		return;
	}
	if (t->inconsistent)
		fputs(" (changed while read; may be inconsistent)", f);
	fputc('\n', f);
	/* outermost first: the task's coroutine, down to its innermost await */
	for (size_t k = t->nframes; k-- > 0;) {
		const char *label = symbolizer_frame(d->sym, t->frames[k]);

		if (!label)
			continue;
		indent(f, depth * 2 + 4);
		put_str(f, label);
		fputc('\n', f);
	}
	if (depth >= ASYNC_TREE_DEPTH) {
		indent(f, depth * 2 + 2);
		fputs("(deeper tasks not shown)\n", f);
		return;
	}
	tr->mark[i] = 1;
	for (size_t k = 0; k < tr->count[i]; k++)
		print_task_text(d, f, tr, tr->kids[tr->first[i] + k], depth + 1);
	tr->mark[i] = 2;
}

static const char *thread_name_of(struct dump *d, int32_t tid)
{
	for (size_t i = 0; i < d->nth; i++)
		if (d->th[i].tid == tid && d->th[i].name[0])
			return d->th[i].name;
	return NULL;
}

static bool is_root(const struct async_tasks *a, const struct async_task *t)
{
	for (size_t k = 0; k < t->nawaited_by; k++)
		if (async_task_by_addr(a, t->awaited_by[k]))
			return false;
	return true;
}

void print_async_text(struct dump *d, FILE *f)
{
	const struct async_tasks *a = &d->aio;
	struct async_tree tr = { 0 };

	print_header_text(d, f);
	if (a->truncated)
		fprintf(f, "(only the first %d tasks are shown)\n\n", ASYNC_MAX_TASKS);
	if (a->incomplete)
		fputs("(a task list was unreadable past some point: tasks may be missing)\n\n", f);
	if (!a->n) {
		fputs("no asyncio tasks\n", f);
		return;
	}
	if (async_tree_build(a, &tr)) {
		async_tree_free(&tr);
		fputs("pyperf dump: out of memory\n", stderr);
		return;
	}
	/* Roots (awaited by no task read) thread by thread, in TID order; 0
	 * (not known: 3.14+ tasks of threads that are gone, 3.11-3.13 tasks
	 * of a loop that is not running) last. */
	int64_t prev = -1;

	for (;;) {
		int64_t tid = INT64_MAX;

		for (size_t i = 0; i < a->n; i++) {
			int64_t v = a->tasks[i].tid > 0 ? a->tasks[i].tid : INT32_MAX + 1ll;

			if (v > prev && v < tid && is_root(a, &a->tasks[i]))
				tid = v;
		}
		if (tid == INT64_MAX)
			break;
		prev = tid;
		if (tid <= INT32_MAX) {
			const char *name = thread_name_of(d, (int32_t)tid);

			fprintf(f, "Thread %d", (int)tid);
			if (name) {
				fputs(" \"", f);
				put_str(f, name);
				fputc('"', f);
			}
			fputs(" (event loop):\n", f);
		} else {
			fputs("Event loop tasks (thread not known: the loop is not running or its thread is gone):\n", f);
		}
		for (size_t i = 0; i < a->n; i++) {
			int64_t v = a->tasks[i].tid > 0 ? a->tasks[i].tid : INT32_MAX + 1ll;

			if (v == tid && is_root(a, &a->tasks[i]))
				print_task_text(d, f, &tr, i, 0);
		}
		fputc('\n', f);
	}
	/* awaited only by one another: a cycle no root reaches */
	bool cycle = false;

	for (size_t i = 0; i < a->n; i++) {
		if (tr.mark[i])
			continue;
		if (!cycle)
			fputs("Tasks in a cycle of awaits:\n", f);
		cycle = true;
		print_task_text(d, f, &tr, i, 0);
	}
	async_tree_free(&tr);
}
