/*
 * pyperf dump: every Python thread's stack right now, read from the target's
 * memory with process_vm_readv (the target is never stopped), or from a core
 * file. The walk (pywalk.c) produces the same frames as record's BPF walker
 * and the same symbolizer labels them.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "target/coredump.h"
#include "target/memsrc.h"
#include "native/native.h"
#include "pyperf.h"
#include "target/pyproc.h"
#include "python/pywalk.h"
#include "output/frametab.h"
#include "output/json.h"
#include "python/symbolize.h"
#include "util/u64map.h"
#include "util/utf8.h"

/* Walks of one thread's frames until two in a row agree. */
#define WALK_TRIES 8
/* OS threads of the target considered (for TIDs and "other threads"). */
#define MAX_TASKS 65536
/* Source files: larger ones are not read; lines are cut at SRC_LINE_MAX bytes. */
#define SRC_FILE_MAX (16u << 20)
#define SRC_LINE_MAX 160
#define CMDLINE_MAX 4096

struct dump_opts {
	pid_t pid;
	const char *core;
	const char *exe;
	bool json;
	bool native;
};

struct dthread {
	struct pywalk_tstate ts;
	int32_t tid;                /* 0: unknown */
	char name[64];              /* "" when unknown */
	char state;                 /* /proc state letter, 0 when unknown */
	int gil;                    /* 1 holds, 0 does not, -1 unknown */
	uint32_t flags;             /* STACK_* */
	bool changing;              /* walks never agreed */
	size_t n;
	uint64_t *frames;           /* innermost first */
	uint8_t *entry;             /* pywalk_frames' entry marks */
	struct native_stack native; /* --native */
};

struct srcfile {
	char *data;                 /* NULL: unreadable */
	size_t len;
	uint32_t *line_start;       /* byte offset of line k + 1 */
	size_t nlines;
};

struct dump {
	struct dump_opts o;
	struct py_target t;
	struct memsrc src;
	struct coredump *core;      /* NULL for a live process */
	char cmdline[CMDLINE_MAX];
	struct frametab tab;         /* labels and their parts */
	struct symbolizer *sym;
	struct u64map files;        /* interned filename -> struct srcfile * */
	struct native_ctx *nat;
	struct pywalk_tstate *ts;
	size_t nts;
	uint32_t ts_flags;
	int32_t *tasks;             /* OS threads (TIDs) */
	size_t ntasks;
	struct dthread *th;
	size_t nth;
	uint64_t *gil_holder;        /* per thread: its interpreter's GIL holder */
	size_t vanished;            /* threads that exited while being read */
	uint64_t *buf_a, *buf_b;    /* frame walks */
	uint8_t *ent_a, *ent_b;
};

static const char usage[] =
	"usage: pyperf dump -p PID [options]\n"
	"       pyperf dump --core CORE [--exe PYTHON] [options]\n"
	"\n"
	"Prints the Python stack of every thread of a running CPython process (3.8 to\n"
	"3.15), innermost frame first, like gdb's 'thread apply all py-bt' but without\n"
	"stopping the process: its memory is read with process_vm_readv. Threads blocked\n"
	"in time.sleep, a lock, Thread.join or epoll_wait show where they wait.\n"
	"\n"
	"options:\n"
	"  -p, --pid PID       process to inspect\n"
	"      --core CORE     read an ELF core file instead of a live process\n"
	"      --exe PYTHON    the executable that dumped CORE (default: the path\n"
	"                      recorded in the core; it replaces the mapped file of\n"
	"                      the same name, else the program's); libraries are\n"
	"                      read from the paths recorded in the core\n"
	"  -j, --json          one JSON document on stdout instead of text\n"
	"  -n, --native        add each thread's native (C) frames, unwound from its\n"
	"                      registers with the files' call frame information and\n"
	"                      symbolized from their ELF symbol tables; in a live\n"
	"                      process only threads blocked in the kernel have\n"
	"                      readable registers (a running thread says so)\n"
	"  -h, --help          show this help\n"
	"\n"
	"For each thread: its TID, name, OS state (running, sleeping, disk wait, ...),\n"
	"'holds the GIL' when the interpreter says so, then frames as\n"
	"'qualname (file:line)' with the source line when the file is readable.\n"
	"A stack that kept changing while read is marked '(stack changing; may be\n"
	"inconsistent)'. A core file records no OS state and names only the main\n"
	"thread. Needs root (or CAP_SYS_PTRACE) for other users' processes.\n"
	"\n"
	"examples:\n"
	"  pyperf dump -p 1234\n"
	"  pyperf dump -p 1234 --json > stacks.json\n"
	"  pyperf dump --core core.1234 --exe /usr/bin/python3.11\n";

/* ---------------------------------------------------------------- output */

/*
 * Writes text that came from the target (names, paths, source lines) so it
 * cannot break a terminal: valid UTF-8 passes, each byte of an ill-formed
 * sequence becomes U+FFFD, control characters become \xNN. JSON strings go
 * through output/json.c.
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

static const char *state_name(char st)
{
	switch (st) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk wait";
	case 'T': return "stopped";
	case 't': return "tracing stop";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'I': return "idle";
	case 'P': return "parked";
	case 'W': return "waking";
	case 'K': return "wakekill";
	default: return NULL;
	}
}

/* ------------------------------------------------------------ /proc reads */

/* State letter of a thread from /proc/PID/task/TID/stat; 0 when unknown. */
static char thread_state(pid_t pid, int32_t tid)
{
	char line[1024];
	const char *p = proc_stat_fields(pid, (pid_t)tid, line, sizeof(line));

	return p && *p ? *p : 0;
}
static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* TIDs of the process, sorted. */
static int read_tasks(struct dump *d)
{
	char path[64];
	DIR *dir;
	struct dirent *de;
	size_t cap = 64;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)d->o.pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	d->tasks = malloc(cap * sizeof(*d->tasks));
	if (!d->tasks) {
		closedir(dir);
		return -ENOMEM;
	}
	while ((de = readdir(dir)) != NULL && d->ntasks < MAX_TASKS) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (*end || v <= 0 || v > INT32_MAX)
			continue;
		if (d->ntasks == cap) {
			int32_t *n = realloc(d->tasks, 2 * cap * sizeof(*n));

			if (!n) {
				closedir(dir);
				return -ENOMEM;
			}
			d->tasks = n;
			cap *= 2;
		}
		d->tasks[d->ntasks++] = (int32_t)v;
	}
	closedir(dir);
	qsort(d->tasks, d->ntasks, sizeof(*d->tasks), cmp_i32);
	return 0;
}

static bool has_task(const struct dump *d, int32_t tid)
{
	return tid > 0 && bsearch(&tid, d->tasks, d->ntasks, sizeof(*d->tasks), cmp_i32) != NULL;
}


/* ----------------------------------------------------------- source lines */

static void srcfile_free(struct srcfile *sf)
{
	if (!sf)
		return;
	free(sf->data);
	free(sf->line_start);
	free(sf);
}

static int srcfile_load(struct srcfile *sf, const char *path)
{
	FILE *f = fopen(path, "re");
	struct stat st;

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size > SRC_FILE_MAX) {
		fclose(f);
		return -EINVAL;
	}
	sf->data = malloc((size_t)st.st_size + 1);
	if (!sf->data) {
		fclose(f);
		return -ENOMEM;
	}
	sf->len = fread(sf->data, 1, (size_t)st.st_size, f);
	fclose(f);
	sf->data[sf->len] = '\0';
	size_t lines = 1;

	for (size_t i = 0; i < sf->len; i++)
		lines += sf->data[i] == '\n';
	sf->line_start = malloc(lines * sizeof(*sf->line_start));
	if (!sf->line_start)
		return -ENOMEM;
	sf->line_start[sf->nlines++] = 0;
	for (size_t i = 0; i < sf->len && sf->nlines < lines; i++)
		if (sf->data[i] == '\n')
			sf->line_start[sf->nlines++] = (uint32_t)(i + 1);
	return 0;
}

/* Where the target's file is readable from here: through /proc/PID/root
 * (containers) or /proc/PID/cwd for relative names; as is for a core. */
static bool source_path(const struct dump *d, const char *file, char *out, size_t cap)
{
	int n;

	if (!file[0] || file[0] == '<')
		return false; /* <string>, <frozen ...>, <stdin> */
	if (d->core) {
		if (file[0] != '/')
			return false;
		n = snprintf(out, cap, "%s", file);
	} else if (file[0] == '/') {
		n = snprintf(out, cap, "/proc/%d/root%s", (int)d->o.pid, file);
	} else {
		n = snprintf(out, cap, "/proc/%d/cwd/%s", (int)d->o.pid, file);
	}
	return n > 0 && (size_t)n < cap;
}

/*
 * The source text of line `line` of `file` (interned, so cached by pointer),
 * whitespace stripped and cut at SRC_LINE_MAX bytes, into out; false when
 * the file or line cannot be read.
 */
static bool source_line(struct dump *d, const char *file, int line, char *out, size_t cap)
{
	uint64_t *slot = u64map_get(&d->files, (uint64_t)(uintptr_t)file);
	struct srcfile *sf;

	out[0] = '\0';
	if (!file || line <= 0 || cap < 8)
		return false;
	if (slot) {
		sf = (struct srcfile *)(uintptr_t)*slot;
	} else {
		char path[PATH_MAX + 64];

		sf = calloc(1, sizeof(*sf));
		if (!sf)
			return false;
		if (!source_path(d, file, path, sizeof(path)) || srcfile_load(sf, path) != 0) {
			free(sf->data);
			free(sf->line_start);
			sf->data = NULL;
			sf->line_start = NULL;
			sf->nlines = 0;
		}
		if (u64map_put(&d->files, (uint64_t)(uintptr_t)file, (uint64_t)(uintptr_t)sf)) {
			srcfile_free(sf);
			return false;
		}
	}
	if (!sf->data || (size_t)line > sf->nlines)
		return false;
	const char *p = sf->data + sf->line_start[line - 1];
	const char *end = (size_t)line < sf->nlines ? sf->data + sf->line_start[line] : sf->data + sf->len;

	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	size_t len = (size_t)(end - p);

	if (len > SRC_LINE_MAX) {
		len = SRC_LINE_MAX;
		while (len > 0 && ((unsigned char)p[len] & 0xc0) == 0x80)
			len--; /* do not cut a UTF-8 character */
	}
	if (len + 4 > cap)
		len = cap - 4;
	size_t o = 0;

	for (size_t i = 0; i < len; i++)
		out[o++] = p[i] == '\t' ? ' ' : p[i];
	if (len < (size_t)(end - p)) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return o > 0;
}

/* ------------------------------------------------------------- the walk */

/* Do two walks agree? The innermost frame's instruction may move on (a
 * thread running a loop); everything else must be identical. */
static bool walks_agree(const uint64_t *a, size_t na, uint32_t fa, const uint64_t *b, size_t nb, uint32_t fb)
{
	if (na != nb || fa != fb)
		return false;
	if (na && (a[0] >> 16) != (b[0] >> 16))
		return false;
	return na < 2 || memcmp(a + 1, b + 1, (na - 1) * sizeof(*a)) == 0;
}

/*
 * A live thread may change its stack while it is read: walk until two walks
 * in a row agree and neither met a broken chain or an unreadable frame
 * (a torn read's usual signs). When that never happens the stack is marked
 * as changing, unless every walk saw exactly the same thing (a chain that
 * is broken for good: its marker says so).
 */
static int walk_thread(struct dump *d, struct dthread *th)
{
	const struct py_layout *L = &d->t.layout;
	const uint32_t bad = STACK_READ_FAULT | STACK_BAD_CHAIN;
	uint32_t fa = 0, fb = 0;
	size_t na, nb = 0;
	bool clean = false, all_same = true;

	na = pywalk_frames(&d->src, L, th->ts.addr, d->buf_a, d->ent_a, PYPERF_MAX_FRAMES, &fa);
	/* A core file does not change under us: one walk is the truth. */
	for (int i = 1; i < WALK_TRIES && !d->core; i++) {
		nb = pywalk_frames(&d->src, L, th->ts.addr, d->buf_b, d->ent_b, PYPERF_MAX_FRAMES, &fb);
		bool same = walks_agree(d->buf_a, na, fa, d->buf_b, nb, fb);
		uint64_t *t = d->buf_a;
		uint8_t *e = d->ent_a;

		/* Keep the latest walk in buf_a. */
		d->buf_a = d->buf_b;
		d->buf_b = t;
		d->ent_a = d->ent_b;
		d->ent_b = e;
		na = nb;
		fa = fb;
		if (same && !(fb & bad)) {
			clean = true;
			break;
		}
		all_same &= same;
		sched_yield();
	}
	th->changing = !d->core && !clean && !all_same;
	th->flags = fa;
	th->n = na;
	th->frames = malloc((na ? na : 1) * sizeof(*th->frames));
	th->entry = malloc(na ? na : 1);
	if (!th->frames || !th->entry)
		return -ENOMEM;
	memcpy(th->frames, d->buf_a, na * sizeof(*th->frames));
	memcpy(th->entry, d->ent_a, na);
	return 0;
}

/* Thread id (TID) of every thread state. */
static void map_tids(struct dump *d)
{
	const struct py_layout *L = &d->t.layout;

	if (L->flags & PYL_NATIVE_TID) {
		for (size_t i = 0; i < d->nth; i++) {
			uint64_t v = d->th[i].ts.native_tid;

			d->th[i].tid = v > 0 && v <= INT32_MAX ? (int32_t)v : 0;
		}
		return;
	}
	if (d->core) {
		/* pthread_t is the thread pointer, which the core records as
		 * each thread's fs_base register. */
		for (size_t i = 0; i < d->nth; i++)
			d->th[i].tid = coredump_tid_by_fsbase(d->core, d->th[i].ts.thread_id);
		return;
	}
	/* 3.8-3.10, live: the TID inside glibc's thread descriptor, at the
	 * offset that gives a distinct TID of this process for every thread
	 * (pywalk_pthread_tid_offset explains the method). */
	uint64_t *ptids = malloc((d->nth ? d->nth : 1) * sizeof(*ptids));

	if (!ptids)
		return;
	for (size_t i = 0; i < d->nth; i++)
		ptids[i] = d->th[i].ts.thread_id;
	int off = pywalk_pthread_tid_offset(&d->src, ptids, d->nth, d->tasks, d->ntasks);

	free(ptids);
	for (size_t i = 0; off >= 0 && i < d->nth; i++) {
		int32_t tid = 0;

		if (memsrc_read(&d->src, d->th[i].ts.thread_id + (uint64_t)off, &tid, sizeof(tid)) == 0 &&
		    has_task(d, tid))
			d->th[i].tid = tid;
	}
}

static int cmp_thread(const void *a, const void *b)
{
	const struct dthread *x = a, *y = b;

	/* Known TIDs first, ascending (the main thread's TID is the PID, the
	 * lowest); then interpreter and list order. */
	if ((x->tid > 0) != (y->tid > 0))
		return x->tid > 0 ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->ts.interp_index != y->ts.interp_index)
		return x->ts.interp_index < y->ts.interp_index ? -1 : 1;
	return 0;
}

static int collect(struct dump *d)
{
	const struct py_layout *L = &d->t.layout;
	int n;

	d->ts = calloc(PYPERF_MAX_THREADS, sizeof(*d->ts));
	d->buf_a = malloc(PYPERF_MAX_FRAMES * sizeof(*d->buf_a));
	d->buf_b = malloc(PYPERF_MAX_FRAMES * sizeof(*d->buf_b));
	d->ent_a = malloc(PYPERF_MAX_FRAMES);
	d->ent_b = malloc(PYPERF_MAX_FRAMES);
	if (!d->ts || !d->buf_a || !d->buf_b || !d->ent_a || !d->ent_b)
		return -ENOMEM;
	n = pywalk_tstates(&d->src, L, d->t.runtime_addr, d->ts, PYPERF_MAX_THREADS, &d->ts_flags);
	if (n < 0)
		return n;
	d->nts = (size_t)n;
	d->th = calloc(d->nts ? d->nts : 1, sizeof(*d->th));
	d->gil_holder = calloc(d->nts ? d->nts : 1, sizeof(*d->gil_holder));
	if (!d->th || !d->gil_holder)
		return -ENOMEM;
	for (size_t i = 0; i < d->nts; i++) {
		struct dthread *th = &d->th[d->nth++];

		th->ts = d->ts[i];
		th->gil = -1;
		if (walk_thread(d, th))
			return -ENOMEM;
	}
	if (!d->core) {
		/* Threads that exited while we read them may have left garbage:
		 * keep only thread states still listed afterwards. */
		struct pywalk_tstate *again = calloc(PYPERF_MAX_THREADS, sizeof(*again));
		uint32_t f2;

		if (!again)
			return -ENOMEM;
		n = pywalk_tstates(&d->src, L, d->t.runtime_addr, again, PYPERF_MAX_THREADS, &f2);
		if (n >= 0) {
			size_t keep = 0;

			for (size_t i = 0; i < d->nth; i++) {
				bool still = false;

				for (int j = 0; j < n && !still; j++)
					still = again[j].addr == d->th[i].ts.addr &&
						again[j].thread_id == d->th[i].ts.thread_id;
				if (still) {
					d->th[keep++] = d->th[i];
				} else {
					free(d->th[i].frames);
					free(d->th[i].entry);
					d->vanished++;
				}
			}
			d->nth = keep;
		}
		free(again);
	}
	map_tids(d);
	/* The GIL: one per process before 3.12, one per interpreter since.
	 * Read once per interpreter, so one snapshot names one holder. */
	for (size_t i = 0; i < d->nth; i++) {
		uint64_t holder;
		size_t j;

		for (j = 0; j < i; j++)
			if (d->th[j].ts.interp == d->th[i].ts.interp)
				break;
		if (j < i) {
			d->th[i].gil = d->th[j].gil < 0 ? -1 : d->gil_holder[j] == d->th[i].ts.addr;
			d->gil_holder[i] = d->gil_holder[j];
			continue;
		}
		if (pywalk_gil_holder(&d->src, L, d->t.runtime_addr, d->th[i].ts.interp, &holder) == 0) {
			d->gil_holder[i] = holder;
			d->th[i].gil = holder == d->th[i].ts.addr;
		}
	}
	for (size_t i = 0; i < d->nth; i++) {
		struct dthread *th = &d->th[i];

		if (th->tid <= 0)
			continue;
		if (d->core) {
			coredump_thread_name(d->core, th->tid, th->name, sizeof(th->name));
		} else {
			proc_thread_name(d->o.pid, th->tid, th->name, sizeof(th->name));
			th->state = thread_state(d->o.pid, th->tid);
		}
	}
	qsort(d->th, d->nth, sizeof(*d->th), cmp_thread);
	return 0;
}

/* ---------------------------------------------------------- text / JSON */

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

/* OS threads that have no Python thread state (C threads, helpers). */
static bool is_python_tid(const struct dump *d, int32_t tid)
{
	for (size_t i = 0; i < d->nth; i++)
		if (d->th[i].tid == tid)
			return true;
	return false;
}

static void print_text(struct dump *d, FILE *f)
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
		char name[64] = "";

		if (is_python_tid(d, d->tasks[i]))
			continue;
		if (d->core)
			coredump_thread_name(d->core, d->tasks[i], name, sizeof(name));
		else
			proc_thread_name(d->o.pid, d->tasks[i], name, sizeof(name));
		fprintf(f, " %d", (int)d->tasks[i]);
		if (name[0]) {
			fputs(" \"", f);
			put_str(f, name);
			fputc('"', f);
		}
	}
	fputc('\n', f);
}

static void print_frame_json(struct dump *d, FILE *f, uint64_t frame, bool *first)
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
	fprintf(f, ", \"code\": \"0x%" PRIx64 "\"}", (uint64_t)PYPERF_FRAME_CODE(frame));
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

static void print_json(struct dump *d, FILE *f)
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
		fprintf(f, ",\n  \"signal\": %d", coredump_signal(d->core));
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

		for (size_t k = 0; k < th->n; k++)
			print_frame_json(d, f, th->frames[k], &first);
		fputs(first ? "]" : "\n    ]", f);
		if (d->o.native)
			print_native_json(f, &th->native);
		fputc('}', f);
	}
	fputs(d->nth ? "\n  ],\n  \"other_threads\": [" : "],\n  \"other_threads\": [", f);
	bool first = true;

	for (size_t i = 0; i < d->ntasks; i++) {
		char name[64] = "";

		if (is_python_tid(d, d->tasks[i]))
			continue;
		if (d->core)
			coredump_thread_name(d->core, d->tasks[i], name, sizeof(name));
		else
			proc_thread_name(d->o.pid, d->tasks[i], name, sizeof(name));
		fprintf(f, "%s{\"tid\": %d, \"name\": ", first ? "" : ", ", (int)d->tasks[i]);
		first = false;
		if (name[0])
			json_write_string(f, name);
		else
			fputs("null", f);
		fputc('}', f);
	}
	fputs("]\n}\n", f);
}

/* ---------------------------------------------------------------- main */

static int parse_args(int argc, char **argv, struct dump_opts *o)
{
	enum { OPT_CORE = 256, OPT_EXE };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "core", required_argument, NULL, OPT_CORE },
		{ "exe", required_argument, NULL, OPT_EXE },
		{ "json", no_argument, NULL, 'j' },
		{ "native", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:jnh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': {
			char *end;

			errno = 0;
			long v = strtol(optarg, &end, 10);

			if (errno || end == optarg || *end || v < 1 || v > INT_MAX) {
				fprintf(stderr, "pyperf dump: invalid PID '%s'\n", optarg);
				return 2;
			}
			o->pid = (pid_t)v;
			break;
		}
		case OPT_CORE:
			o->core = optarg;
			break;
		case OPT_EXE:
			o->exe = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'n':
			o->native = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			fputs("Run 'pyperf dump --help' for usage.\n", stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pyperf dump: unexpected argument '%s'; run 'pyperf dump --help'\n", argv[optind]);
		return 2;
	}
	if (o->pid && o->core) {
		fprintf(stderr, "pyperf dump: give either -p PID or --core CORE, not both\n");
		return 2;
	}
	if (!o->pid && !o->core) {
		fprintf(stderr, "pyperf dump: which process? give -p PID or --core CORE (see 'pyperf dump --help')\n");
		return 2;
	}
	if (o->exe && !o->core) {
		fprintf(stderr, "pyperf dump: --exe goes with --core\n");
		return 2;
	}
	return 0;
}

static void dump_free(struct dump *d)
{
	for (size_t i = 0; i < d->nth; i++) {
		free(d->th[i].frames);
		free(d->th[i].entry);
		native_stack_free(&d->th[i].native);
	}
	free(d->th);
	free(d->gil_holder);
	free(d->ts);
	free(d->tasks);
	free(d->buf_a);
	free(d->buf_b);
	free(d->ent_a);
	free(d->ent_b);
	for (size_t i = 0; i < d->files.cap; i++)
		if (d->files.used[i])
			srcfile_free((struct srcfile *)(uintptr_t)d->files.vals[i]);
	u64map_free(&d->files);
	symbolizer_free(d->sym);
	native_ctx_free(d->nat);
	frametab_free(&d->tab);
	coredump_close(d->core);
}

/* The OS threads of a core: every NT_PRSTATUS. */
static int core_tasks(struct dump *d)
{
	size_t n = coredump_nthreads(d->core);

	d->tasks = malloc((n ? n : 1) * sizeof(*d->tasks));
	if (!d->tasks)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int32_t tid = coredump_thread(d->core, i)->tid;

		if (tid > 0)
			d->tasks[d->ntasks++] = tid;
	}
	qsort(d->tasks, d->ntasks, sizeof(*d->tasks), cmp_i32);
	return 0;
}

static int open_target(struct dump *d, char *err, size_t errlen)
{
	if (d->o.core) {
		int r = coredump_open(d->o.core, d->o.exe, &d->core, err, errlen);

		if (r)
			return r;
		d->src = coredump_memsrc(d->core);
		r = coredump_py_target(d->core, &d->t, err, errlen);
		if (r)
			return r;
		snprintf(d->cmdline, sizeof(d->cmdline), "%s", coredump_psargs(d->core));
		if (core_tasks(d)) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		return 0;
	}
	if (py_target_open(d->o.pid, &d->t, err, errlen) != 0)
		return -1;
	d->src = memsrc_pid(d->o.pid);
	proc_cmdline(d->o.pid, d->cmdline, sizeof(d->cmdline));
	int r = read_tasks(d);

	if (r) {
		if (r == -ENOENT || r == -ESRCH)
			snprintf(err, errlen, "PID %d exited", (int)d->o.pid);
		else
			snprintf(err, errlen, "failed to list /proc/%d/task: %s", (int)d->o.pid, strerror(-r));
		return r;
	}
	return 0;
}

static int unwind_native(struct dump *d)
{
	d->nat = native_ctx_new(&d->src, d->o.pid, d->core);
	if (!d->nat)
		return -ENOMEM;
	for (size_t i = 0; i < d->nth; i++) {
		struct dthread *th = &d->th[i];

		native_unwind(d->nat, th->tid, &th->native);
		native_merge(d->nat, &th->native, th->frames, th->entry, th->n, d->t.layout.flags);
	}
	return 0;
}

int cmd_dump(int argc, char **argv)
{
	static struct dump dump;
	struct dump *d = &dump;
	char err[512] = "";
	int ret = 1;

	memset(d, 0, sizeof(*d));
	int pa = parse_args(argc, argv, &d->o);

	if (pa)
		return pa < 0 ? 0 : pa;
	frametab_init(&d->tab);
	u64map_init(&d->files);
	if (open_target(d, err, sizeof(err))) {
		fprintf(stderr, "pyperf dump: %s\n", err[0] ? err : "cannot read the target");
		goto out;
	}
	d->sym = symbolizer_new_src(&d->t, &d->tab, &d->src);
	if (!d->sym) {
		fprintf(stderr, "pyperf dump: out of memory\n");
		goto out;
	}
	int r = collect(d);

	if (r == -ENOMEM) {
		fprintf(stderr, "pyperf dump: out of memory\n");
		goto out;
	}
	if (r < 0) {
		if (!d->core && proc_start_time(d->o.pid) != d->t.start_time)
			fprintf(stderr, "pyperf dump: PID %d exited while being read\n", (int)d->o.pid);
		else
			fprintf(stderr, "pyperf dump: cannot read the interpreter's thread list%s\n",
				d->core ? " from the core file" : "");
		goto out;
	}
	if (d->o.native && unwind_native(d)) {
		fprintf(stderr, "pyperf dump: out of memory\n");
		goto out;
	}
	if (d->o.json)
		print_json(d, stdout);
	else
		print_text(d, stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pyperf dump: failed to write the output: %s\n", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	dump_free(d);
	return ret;
}
