/* pyperf dump as text: a header line, then each thread and its frames,
 * innermost first, with source lines; then the other OS threads. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "output/dump.h"
#include "pyperf.h"
#include "target/coredump.h"
#include "util/utf8.h"

/*
 * Writes text that came from the target (names, paths, source lines) so it
 * cannot break a terminal: valid UTF-8 passes, each byte of an ill-formed
 * sequence becomes U+FFFD, control characters become \xNN.
 */
static void put_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t len = strlen((const char *)s);

	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);

		if (cp == UTF8_BAD) {
			fputs("\xef\xbf\xbd", f);
			i++;
			continue;
		}
		if (n == 1 && (c < 0x20 || c == 0x7f))
			fprintf(f, "\\x%02x", c);
		else
			fwrite(s + i, 1, n, f);
		i += n;
	}
}

static void print_frame_text(struct dump *d, FILE *f, uint64_t frame)
{
	const char *label = symbolizer_frame(d->sym, frame);
	const struct frame_meta *fm;
	char src[SRC_LINE_MAX + 8];

	if (!label)
		return; /* hidden (prologue) or out of memory */
	fputs("    ", f);
	put_str(f, label);
	fputc('\n', f);
	fm = frametab_meta(&d->tab, label);
	if (fm && fm->file[0] && source_line(d, fm->file, fm->line, src, sizeof(src))) {
		fputs("        ", f);
		put_str(f, src);
		fputc('\n', f);
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
#undef ITEM
	if (paren)
		fputc(')', f);
	fputc('\n', f);

	const struct native_stack *ns = &th->native;

	if (d->o.native && ns->merged) {
		/* Native frames interleaved, innermost first: the Python frames
		 * an evaluation-loop call runs come right before (inside) it. */
		for (size_t k = 0; k < ns->n; k++) {
			const struct native_frame *nf = &ns->frames[k];

			for (size_t j = 0; j < nf->py_count && nf->py_first + j < th->n; j++) {
				print_frame_text(d, f, th->frames[nf->py_first + j]);
			}
			print_native_frame_text(f, nf);
		}
	} else {
		for (size_t i = 0; i < th->n; i++)
			print_frame_text(d, f, th->frames[i]);
	}
	const char *flag = pywalk_stack_flag_label(th->flags);

	if (flag)
		fprintf(f, "    %s\n", flag);
	if (!th->n && !flag)
		fputs("    (no Python frames)\n", f);
	if (d->o.native && !ns->merged) {
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
