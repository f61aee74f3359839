/* pyperf dump as one JSON document: the process, then each thread with its
 * frames (and native frames with --native), then the other OS threads.
 * Strings go through output/json.c. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "output/dump.h"
#include "output/json.h"
#include "pyperf.h"
#include "target/coredump.h"

/* --locals: a frame's "locals" array (and "locals_error" when unreadable). */
static void print_locals_json(FILE *f, const struct pylocals_frame *lf)
{
	static const char *const kinds[] = { "arg", "local", "cell", "free" };

	fputs(", \"locals\": [", f);
	for (size_t i = 0; !lf->error && i < lf->n; i++) {
		const struct pylocal *v = &lf->v[i];

		fputs(i ? ",\n        {\"name\": " : "\n        {\"name\": ", f);
		json_write_string(f, v->name);
		fprintf(f, ", \"kind\": \"%s\", \"value\": ", kinds[v->kind]);
		if (v->unset)
			fputs("null", f);
		else
			json_write_string(f, v->value);
		fputs(", \"type\": ", f);
		if (v->type)
			json_write_string(f, v->type);
		else
			fputs("null", f);
		fputc('}', f);
	}
	fputc(']', f);
	if (lf->truncated)
		fputs(", \"locals_truncated\": true", f);
	if (lf->error) {
		fputs(", \"locals_error\": ", f);
		json_write_string(f, lf->error);
	}
}

/* lf: the frame's variables with --locals, else NULL */
static void print_frame_json(struct dump *d, FILE *f, uint64_t frame, bool *first, const struct pylocals_frame *lf)
{
	const char *label = symbolizer_frame(d->sym, frame);
	const struct frame_meta *fm;
	char src[SRC_LINE_MAX + 8];

	if (!label)
		return;
	fm = frametab_meta(&d->tab, label);
	fputs(*first ? "\n      {" : ",\n      {", f);
	*first = false;
	fputs("\"label\": ", f);
	json_write_string(f, label);
	if (fm && fm->file[0]) {
		fputs(", \"function\": ", f);
		json_write_string(f, fm->name);
		fputs(", \"file\": ", f);
		json_write_string(f, fm->file);
		if (fm->line >= 0)
			fprintf(f, ", \"line\": %d", fm->line);
		else
			fputs(", \"line\": null", f);
		if (source_line(d, fm->file, fm->line, src, sizeof(src))) {
			fputs(", \"source\": ", f);
			json_write_string(f, src);
		}
	} else {
		fputs(", \"function\": null, \"file\": null, \"line\": null", f);
	}
	fprintf(f, ", \"code\": \"0x%" PRIx64 "\"", (uint64_t)PYPERF_FRAME_CODE(frame));
	if (lf)
		print_locals_json(f, lf);
	fputc('}', f);
}

static void print_native_json(FILE *f, const struct native_stack *ns)
{
	fputs(", \"native\": [", f);
	for (size_t k = 0; k < ns->n; k++) {
		const struct native_frame *nf = &ns->frames[k];

		fprintf(f, "%s\n      {\"pc\": \"0x%" PRIx64 "\", \"symbol\": ", k ? "," : "", nf->pc);
		if (nf->symbol[0])
			json_write_string(f, nf->symbol);
		else
			fputs("null", f);
		fprintf(f, ", \"offset\": %" PRIu64 ", \"file\": ", nf->offset);
		if (nf->file[0])
			json_write_string(f, nf->file);
		else
			fputs("null", f);
		if (ns->merged)
			fprintf(f, ", \"python_frames\": [%zu, %zu]", nf->py_first, nf->py_count);
		fputc('}', f);
	}
	fputs(ns->n ? "\n    ]" : "]", f);
	fputs(", \"native_merged\": ", f);
	fputs(ns->merged ? "true" : "false", f);
	if (ns->why[0]) {
		fputs(", \"native_error\": ", f);
		json_write_string(f, ns->why);
	}
}

/* A running thread's stack from the in-kernel sampler, innermost first:
 * {"label", "kind": "python"|"native"|"kernel"|"other", "function", "file",
 * "line"}. */
static void print_sampled_json(struct dump *d, FILE *f, const struct dthread *th)
{
	static const char *const kinds[] = { [FRAME_PYTHON] = "python", [FRAME_PSEUDO] = "other",
					     [FRAME_NATIVE] = "native", [FRAME_KERNEL] = "kernel" };

	fputs(", \"sampled\": [", f);
	for (size_t k = 0; k < th->nsampled; k++) {
		const struct frame_meta *fm = frametab_meta(&d->tab, th->sampled[k]);

		fputs(k ? ",\n      {\"label\": " : "\n      {\"label\": ", f);
		json_write_string(f, th->sampled[k]);
		fprintf(f, ", \"kind\": \"%s\"", fm && fm->kind <= FRAME_KERNEL ? kinds[fm->kind] : "other");
		if (fm && fm->kind != FRAME_PSEUDO) {
			fputs(", \"function\": ", f);
			json_write_string(f, fm->name);
			fputs(", \"file\": ", f);
			json_write_string(f, fm->file);
			if (fm->kind == FRAME_PYTHON && fm->line >= 0)
				fprintf(f, ", \"line\": %d", fm->line);
		}
		fputc('}', f);
	}
	fputs(th->nsampled ? "\n    ]" : "]", f);
}

static void print_wait_json(FILE *f, const struct thread_wait *w)
{
	fputs(",\n     \"wait\": ", f);
	if (w->kind == WK_UNKNOWN) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"kind\": \"%s\", \"text\": ", wait_kind_name(w->kind));
	json_write_string(f, w->text);
	if (w->nr >= 0) {
		const char *name = wait_syscall_name(w->nr);

		fprintf(f, ", \"syscall_nr\": %ld, \"syscall\": ", w->nr);
		if (name)
			json_write_string(f, name);
		else
			fputs("null", f);
	}
	if (w->futex)
		fprintf(f, ", \"futex\": \"0x%" PRIx64 "\"", w->futex);
	if (w->lock.obj)
		fprintf(f, ", \"lock\": \"0x%" PRIx64 "\", \"lock_type\": \"%s\"", w->lock.obj,
			w->lock.rlock ? "RLock" : "Lock");
	if (w->lock.var[0]) {
		fputs(", \"lock_var\": ", f);
		json_write_string(f, w->lock.var);
		fputs(", \"lock_var_function\": ", f);
		json_write_string(f, w->lock.var_func);
	}
	if (w->lock.rlock)
		fprintf(f, ", \"owner_ident\": \"0x%" PRIx64 "\"", w->lock.owner_ident);
	if (w->lock.parked_on)
		fprintf(f, ", \"parked_on\": \"0x%" PRIx64 "\"", w->lock.parked_on);
	if (w->blocker_tid > 0)
		fprintf(f, ", \"waits_for_tid\": %d", (int)w->blocker_tid);
	if (w->fd >= 0)
		fprintf(f, ", \"fd\": %d", w->fd);
	if (w->fd_desc[0]) {
		fputs(", \"fd_target\": ", f);
		json_write_string(f, w->fd_desc);
	}
	if (w->nfds >= 0)
		fprintf(f, ", \"fds\": %d", w->nfds);
	if (w->secs_kind)
		fprintf(f, ", \"%s\": %.3f", w->secs_kind == 1 ? "seconds_left" : "seconds_requested", w->secs);
	fputc('}', f);
}

/* Wait-for cycles: each a list of {tid, waits_for}. */
static void print_deadlocks_json(struct dump *d, FILE *f)
{
	size_t *idx = calloc(d->nth + 1, sizeof(*idx)), *lens = calloc(d->nth + 1, sizeof(*lens));
	size_t n = idx && lens ? find_deadlocks(d, idx, lens, d->nth) : 0;

	fputs(",\n  \"deadlocks\": [", f);
	for (size_t c = 0, at = 0; c < n; at += lens[c], c++) {
		fputs(c ? ", [" : "[", f);
		for (size_t k = 0; k < lens[c]; k++) {
			const struct dthread *a = &d->th[idx[at + k]];

			fprintf(f, "%s{\"tid\": %d, \"waits_for\": %d}", k ? ", " : "", (int)a->tid,
				(int)a->wait.blocker_tid);
		}
		fputc(']', f);
	}
	fputc(']', f);
	free(idx);
	free(lens);
}

void print_json(struct dump *d, FILE *f)
{
	char vbuf[32];

	py_version_str(d->t.version_hex, vbuf, sizeof(vbuf));
	fprintf(f, "{\n  \"pid\": %d,\n  \"command\": ", (int)d->t.pid);
	json_write_string(f, d->cmdline[0] ? d->cmdline : d->t.comm);
	fputs(",\n  \"python_version\": ", f);
	json_write_string(f, vbuf);
	fputs(",\n  \"core\": ", f);
	if (d->core) {
		json_write_string(f, d->o.core);
		char cut[128];

		fprintf(f, ",\n  \"signal\": %d,\n  \"core_truncated\": %s", coredump_signal(d->core),
			coredump_truncated(d->core, cut, sizeof(cut)) ? "true" : "false");
	} else {
		fputs("null", f);
	}
	fprintf(f, ",\n  \"threads_truncated\": %s,\n  \"threads_incomplete\": %s,\n  \"threads_vanished\": %zu,\n"
		"  \"threads\": [",
		(d->ts_flags & (PYWALK_THREADS_TRUNCATED | PYWALK_INTERPS_TRUNCATED)) ? "true" : "false",
		(d->ts_flags & (PYWALK_THREADS_FAULT | PYWALK_THREADS_CYCLE)) ? "true" : "false", d->vanished);
	for (size_t i = 0; i < d->nth; i++) {
		const struct dthread *th = &d->th[i];
		const char *st = state_name(th->state);

		fputs(i ? ",\n    {" : "\n    {", f);
		if (th->tid > 0)
			fprintf(f, "\"tid\": %d", (int)th->tid);
		else
			fputs("\"tid\": null", f);
		fputs(", \"name\": ", f);
		if (th->name[0])
			json_write_string(f, th->name);
		else
			fputs("null", f);
		fputs(", \"os_name\": ", f);
		if (th->os_name[0])
			json_write_string(f, th->os_name);
		else
			fputs("null", f);
		fputs(", \"state\": ", f);
		if (st)
			json_write_string(f, st);
		else
			fputs("null", f);
		fprintf(f, ", \"holds_gil\": %s", th->gil < 0 ? "null" : th->gil ? "true" : "false");
		fprintf(f, ", \"interpreter\": %u, \"thread_state\": \"0x%" PRIx64 "\", \"pthread\": \"0x%" PRIx64 "\"",
			th->ts.interp_index, th->ts.addr, th->ts.thread_id);
		fprintf(f, ", \"consistent\": %s, \"truncated\": %s, \"read_fault\": %s, \"broken_chain\": %s",
			th->changing ? "false" : "true", (th->flags & STACK_TRUNCATED) ? "true" : "false",
			(th->flags & STACK_READ_FAULT) ? "true" : "false",
			(th->flags & STACK_BAD_CHAIN) ? "true" : "false");
		fputs(",\n     \"frames\": [", f);
		bool first = true;

		for (size_t k = 0; k < th->n; k++) {
			const struct pylocals_frame *lf = NULL;

			/* read only for frames that are shown */
			if (d->locals && th->addrs && symbolizer_frame(d->sym, th->frames[k]))
				lf = pylocals_read(d->locals, th->addrs[k], PYPERF_FRAME_CODE(th->frames[k]));
			print_frame_json(d, f, th->frames[k], &first, lf);
		}
		fputs(first ? "]" : "\n    ]", f);
		if (d->o.native)
			print_native_json(f, &th->native);
		if (th->nsampled)
			print_sampled_json(d, f, th);
		print_wait_json(f, &th->wait);
		fputc('}', f);
	}
	fputs(d->nth ? "\n  ],\n  \"other_threads\": [" : "],\n  \"other_threads\": [", f);
	bool first = true;

	for (size_t i = 0; i < d->ntasks; i++) {
		char name[64];

		if (!other_thread(d, i, name, sizeof(name)))
			continue;
		fprintf(f, "%s{\"tid\": %d, \"name\": ", first ? "" : ", ", (int)d->tasks[i]);
		first = false;
		if (name[0])
			json_write_string(f, name);
		else
			fputs("null", f);
		fputc('}', f);
	}
	fputc(']', f);
	print_deadlocks_json(d, f);
	fputs("\n}\n", f);
}

/* dump --async: one object per task; frames innermost first, as the
 * threads' frames are. */
void print_async_json(struct dump *d, FILE *f)
{
	const struct async_tasks *a = &d->aio;
	char vbuf[32];

	py_version_str(d->t.version_hex, vbuf, sizeof(vbuf));
	fprintf(f, "{\n  \"pid\": %d,\n  \"command\": ", (int)d->t.pid);
	json_write_string(f, d->cmdline[0] ? d->cmdline : d->t.comm);
	fputs(",\n  \"python_version\": ", f);
	json_write_string(f, vbuf);
	fputs(",\n  \"core\": ", f);
	if (d->core)
		json_write_string(f, d->o.core);
	else
		fputs("null", f);
	fprintf(f, ",\n  \"tasks_truncated\": %s,\n  \"tasks\": [", a->truncated ? "true" : "false");
	for (size_t i = 0; i < a->n; i++) {
		const struct async_task *t = &a->tasks[i];
		static const char *const states[] = { "pending", "running", "done" };

		fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
		if (t->name[0])
			json_write_string(f, t->name);
		else
			fputs("null", f);
		fprintf(f, ", \"state\": \"%s\", \"address\": \"0x%" PRIx64 "\", \"coro\": \"0x%" PRIx64 "\"",
			states[t->state <= ASYNC_DONE ? t->state : 0], t->addr, t->coro);
		if (t->tid > 0)
			fprintf(f, ", \"tid\": %d", (int)t->tid);
		else
			fputs(", \"tid\": null", f);
		fprintf(f, ", \"consistent\": %s,\n     \"frames\": [", t->inconsistent ? "false" : "true");
		bool first = true;

		for (size_t k = 0; k < t->nframes; k++)
			print_frame_json(d, f, t->frames[k], &first, NULL);
		fputs(first ? "]" : "\n    ]", f);
		fputs(", \"awaited_by\": [", f);
		for (size_t k = 0; k < t->nawaited_by; k++)
			fprintf(f, "%s\"0x%" PRIx64 "\"", k ? ", " : "", t->awaited_by[k]);
		fputs("]}", f);
	}
	fputs(a->n ? "\n  ]\n}\n" : "]\n}\n", f);
}
