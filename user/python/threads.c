/*
 * Collecting every Python thread's stack of a live process or a core for
 * pyperf dump (python/threads.h): the OS threads, the thread states walked
 * until two walks agree, TIDs, names, states and the GIL, and the source
 * lines the frames point at.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyperf.h"
#include "python/threadnames.h"
#include "python/threads.h"
#include "target/coredump.h"

/* Walks of one thread's frames until two in a row agree. */
#define WALK_TRIES 8
/* OS threads of the target considered (for TIDs and "other threads"). */
#define MAX_TASKS 65536
/* Source files: larger ones are not read. */
#define SRC_FILE_MAX (16u << 20)

/* ------------------------------------------------------------ /proc reads */

/* State letter of a thread from /proc/PID/task/TID/stat; 0 when unknown. */
static char thread_state(pid_t pid, int32_t tid)
{
	char line[1024];
	const char *p = proc_stat_fields(pid, (pid_t)tid, line, sizeof(line));

	return p && *p ? *p : 0;
}

const char *state_name(char st)
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

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* TIDs of the process, sorted. */
int read_tasks(struct dump *d)
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
/* The OS threads of a core: every NT_PRSTATUS. */
int core_tasks(struct dump *d)
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
bool source_line(struct dump *d, const char *file, int line, char *out, size_t cap)
{
	struct srcfile *sf = u64map_get_ptr(&d->files, u64map_key_of(file));

	out[0] = '\0';
	if (!file || line <= 0 || cap < 8)
		return false;
	if (!sf) {
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
		if (u64map_put_ptr(&d->files, u64map_key_of(file), sf)) {
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

	na = pywalk_frames_at(&d->src, L, th->ts.addr, d->buf_a, d->ent_a, d->adr_a, PYPERF_MAX_FRAMES, &fa);
	/* A core file does not change under us: one walk is the truth. */
	for (int i = 1; i < WALK_TRIES && !d->core; i++) {
		nb = pywalk_frames_at(&d->src, L, th->ts.addr, d->buf_b, d->ent_b, d->adr_b, PYPERF_MAX_FRAMES, &fb);
		bool same = walks_agree(d->buf_a, na, fa, d->buf_b, nb, fb);
		uint64_t *t = d->buf_a;
		uint8_t *e = d->ent_a;
		uint64_t *ad = d->adr_a;

		/* Keep the latest walk in buf_a. */
		d->buf_a = d->buf_b;
		d->buf_b = t;
		d->ent_a = d->ent_b;
		d->ent_b = e;
		d->adr_a = d->adr_b;
		d->adr_b = ad;
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
	if (d->adr_a) {
		th->addrs = malloc((na ? na : 1) * sizeof(*th->addrs));
		if (!th->addrs)
			return -ENOMEM;
		memcpy(th->addrs, d->adr_a, na * sizeof(*th->addrs));
	}
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

/* Python names (threading.Thread.name) replace the OS names of the
 * threads that have one; matched by ident (pthread_t). */
static void python_names(struct dump *d)
{
	struct pyobj_reader r;
	char err[256];

	if (pyobj_reader_init(&r, &d->src, &d->t, err, sizeof(err)))
		return;
	struct pythread_name *v = calloc(PYTHREAD_NAMES_MAX, sizeof(*v));
	int n = v ? pythread_names(&r, v, PYTHREAD_NAMES_MAX) : -1;

	for (size_t i = 0; i < d->nth; i++)
		for (int j = 0; j < n; j++)
			if (v[j].ident == d->th[i].ts.thread_id) {
				memcpy(d->th[i].name, v[j].name, sizeof(d->th[i].name));
				break;
			}
	free(v);
}

int collect(struct dump *d)
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
	/* Frame addresses: --locals reads each frame's variables, and a
	 * thread waiting on a lock has the variable that names it looked for. */
	d->adr_a = malloc(PYPERF_MAX_FRAMES * sizeof(*d->adr_a));
	d->adr_b = malloc(PYPERF_MAX_FRAMES * sizeof(*d->adr_b));
	if (!d->adr_a || !d->adr_b)
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
					free(d->th[i].addrs);
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
			coredump_thread_name(d->core, th->tid, th->os_name, sizeof(th->os_name));
		} else {
			proc_thread_name(d->o.pid, th->tid, th->os_name, sizeof(th->os_name));
			th->state = thread_state(d->o.pid, th->tid);
		}
		memcpy(th->name, th->os_name, sizeof(th->name));
	}
	python_names(d);
	qsort(d->th, d->nth, sizeof(*d->th), cmp_thread);
	return 0;
}

/* ------------------------------------------------------- other threads */

bool is_python_tid(const struct dump *d, int32_t tid)
{
	for (size_t i = 0; i < d->nth; i++)
		if (d->th[i].tid == tid)
			return true;
	return false;
}

bool other_thread(const struct dump *d, size_t i, char *name, size_t cap)
{
	name[0] = '\0';
	if (is_python_tid(d, d->tasks[i]))
		return false;
	if (d->core)
		coredump_thread_name(d->core, d->tasks[i], name, cap);
	else
		proc_thread_name(d->o.pid, d->tasks[i], name, cap);
	return true;
}

void dump_free(struct dump *d)
{
	for (size_t i = 0; i < d->nth; i++) {
		free(d->th[i].frames);
		free(d->th[i].entry);
		free(d->th[i].addrs);
		native_stack_free(&d->th[i].native);
		free(d->th[i].sampled);
	}
	free(d->th);
	free(d->gil_holder);
	free(d->ts);
	free(d->tasks);
	free(d->buf_a);
	free(d->buf_b);
	free(d->ent_a);
	free(d->ent_b);
	free(d->adr_a);
	free(d->adr_b);
	if (d->locals)
		pylocals_free(d->locals);
	free(d->locals);
	void *sf;

	for (size_t it = 0; u64map_next_ptr(&d->files, &it, NULL, &sf);)
		srcfile_free(sf);
	u64map_free(&d->files);
	symbolizer_free(d->sym);
	native_ctx_free(d->nat);
	frametab_free(&d->tab);
	coredump_close(d->core);
}
