/*
 * pyperf top: a live view of the hottest Python functions of a process,
 * refreshed every second. Percentages are of the last refresh interval;
 * seconds are cumulative since the start.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "sampler/session.h"

#define MAX_ROWS 200

struct func_stat {
	const char *func;         /* interned "name (file)" */
	uint64_t own, total;      /* this interval */
	uint64_t own_all, total_all;
	uint64_t seen_in;         /* sample number that last counted total (dedups recursion) */
};

/* Rows of one kind: per function, or per line (the 'l' key). */
struct statset {
	struct u64map of;         /* frame label -> struct func_stat * */
	struct func_stat **v;
	size_t n, cap;
};

#define MAX_THREADS 1024

struct top {
	struct session *s;
	int hz;
	int rows;
	double duration;
	struct statset sets[2];   /* 0: functions, 1: lines */
	bool by_line;             /* 'l': rows per line */
	bool by_total;            /* 't' / 'o': sort by TOTAL% or by OWN% */
	bool paused;              /* 'p': sampling goes on, the screen stays */
	uint32_t thread;          /* 'n' / 'a': rows of this TID only, 0 for all */
	uint32_t tids[MAX_THREADS]; /* threads seen, in order of first sample */
	size_t ntids;
	uint64_t tid_seen_in[MAX_THREADS]; /* interval number a thread last had a sample in */
	uint64_t interval_no;
	uint64_t interval_samples, sample_no;
	uint64_t interval_all;    /* samples of every thread this interval */
	uint64_t gil_at_interval; /* totals.gil_samples when the interval began */
	bool tty_in, tty_out;
	struct termios saved;
};

#define WHO "top"

enum { OPT_NATIVE = OPT_LONG_ONLY, OPT_KERNEL, OPT_SAMPLER };

static const struct opt_spec top_options[] = {
	{ "pid", 'p', "PID", "process to watch (required)" },
	{ "frequency", 'F', "HZ", "samples per second per CPU (default 99)" },
	{ "rows", 'n', "N", "functions shown (default: what fits the terminal)" },
	{ "duration", 'd', "SECS", "quit after SECS seconds (fractions and units allowed: 0.5, "
	  "500ms, 2m, 1h)" },
	{ "native", OPT_NATIVE, NULL, "also C functions (the native stack, unwound in the kernel), "
	  "'symbol (library)'" },
	{ "kernel", OPT_KERNEL, NULL, "with --native: also kernel functions" },
	{ "sampler", OPT_SAMPLER, "KIND", "what takes the samples, as for record: timer (an interrupt on "
	  "the sampled thread), remote (a thread of pyperf reads the target's running threads: they take "
	  "no interrupt; not with --native), auto (takes remote when the timer would cost a thread 5% or "
	  "more at -F); default auto" },
	{ "verbose", 'v', NULL, "show libbpf's messages" },
	OPT_HELP_ROW,
	{ NULL },
};

static const struct opt_cmd top_cmd = {
	.name = WHO,
	.head =
	"usage: pyperf top -p PID [options]\n"
	"\n"
	"A live view of the hottest Python functions of a running CPython process,\n"
	"refreshed every second: OWN% is time in the function itself, TOTAL% time in it\n"
	"and what it calls, both over the last second; OWN(s) and TOTAL(s) add up since\n"
	"the start. The header gives the share of samples whose thread held the GIL\n"
	"and how many threads had samples, over the last second.\n"
	"\n"
	"Keys: o sorts by OWN%, t by TOTAL%; l switches between rows per function and\n"
	"per line; n shows one thread (again: the next one), a all threads; p or space\n"
	"pauses the screen (sampling goes on); q or Ctrl-C quits.\n",
	.opts = top_options,
};

/* What the options give; hz, rows and duration go into struct top. */
struct top_args {
	struct top *t;
	pid_t pid;
	bool verbose;
	bool native, kernel;
	enum sampler_kind sampler;
	bool sampler_given;
};

static struct func_stat *stat_for(struct top *t, struct statset *set, bool by_line, const char *label)
{
	struct func_stat *known = u64map_get_ptr(&set->of, u64map_key_of(label));

	if (known)
		return known;
	const struct frame_meta *m = frametab_meta(session_labels(t->s), label);
	const char *func = label;

	if (by_line) {
		/* a Python label is its line already; other kinds as functions */
	} else if (m && m->kind == FRAME_PYTHON && m->file[0]) {
		func = frametab_python(session_labels(t->s), m->name, m->file, -1, m->firstline);
	} else if (m && m->kind == FRAME_NATIVE && m->name == label) {
		/* "lib.so+0xADDR", a row per address: one row per file instead */
		const char *slash = strrchr(m->file, '/');
		char grouped[300];

		snprintf(grouped, sizeof(grouped), "[%s, no symbol]", slash ? slash + 1 : m->file);
		func = frametab_pseudo(session_labels(t->s), grouped);
	}

	/* Labels of one function on different lines share its stat. */
	for (size_t i = 0; func && i < set->n; i++) {
		if (set->v[i]->func == func) {
			u64map_put_ptr(&set->of, u64map_key_of(label), set->v[i]);
			return set->v[i];
		}
	}
	if (!func)
		return NULL;
	if (set->n == set->cap) {
		size_t ncap = set->cap ? set->cap * 2 : 64;
		struct func_stat **n = realloc(set->v, ncap * sizeof(*n));

		if (!n)
			return NULL;
		set->v = n;
		set->cap = ncap;
	}
	struct func_stat *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->func = func;
	set->v[set->n++] = fs;
	u64map_put_ptr(&set->of, u64map_key_of(label), fs);
	return fs;
}

/* Counts the thread as active in this interval; remembers new ones. */
static void see_thread(struct top *t, uint32_t tid)
{
	for (size_t i = 0; i < t->ntids; i++) {
		if (t->tids[i] == tid) {
			t->tid_seen_in[i] = t->interval_no;
			return;
		}
	}
	if (t->ntids < MAX_THREADS) {
		t->tids[t->ntids] = tid;
		t->tid_seen_in[t->ntids++] = t->interval_no;
	}
}

static size_t active_threads(const struct top *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->ntids; i++)
		n += t->tid_seen_in[i] == t->interval_no;
	return n;
}

static void on_sample(void *ctx, const struct count_entry *ce)
{
	struct top *t = ctx;
	const struct stack_entry *st = ce->stack;

	t->interval_all++;
	see_thread(t, ce->tid);
	if (t->thread && ce->tid != t->thread)
		return;
	t->interval_samples++;
	t->sample_no++;
	for (int k = 0; k < 2; k++) {
		for (uint32_t i = 0; i < st->nlabels; i++) {
			struct func_stat *fs = stat_for(t, &t->sets[k], k == 1, st->labels[i]);

			if (!fs)
				continue;
			if (fs->seen_in != t->sample_no) {
				fs->seen_in = t->sample_no;
				fs->total++;
				fs->total_all++;
			}
			if (i + 1 == st->nlabels) {
				fs->own++;
				fs->own_all++;
			}
		}
	}
}

static int cmp_own(const void *a, const void *b)
{
	const struct func_stat *x = *(const struct func_stat *const *)a, *y = *(const struct func_stat *const *)b;

	if (x->own != y->own)
		return x->own < y->own ? 1 : -1;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	if (x->own_all != y->own_all)
		return x->own_all < y->own_all ? 1 : -1;
	return strcmp(x->func, y->func);
}

static int cmp_total(const void *a, const void *b)
{
	const struct func_stat *x = *(const struct func_stat *const *)a, *y = *(const struct func_stat *const *)b;

	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	if (x->total_all != y->total_all)
		return x->total_all < y->total_all ? 1 : -1;
	return cmp_own(a, b);
}

/* Forgets every row: the thread shown changed. */
static void clear_stats(struct top *t)
{
	for (int k = 0; k < 2; k++) {
		struct statset *set = &t->sets[k];

		for (size_t i = 0; i < set->n; i++)
			free(set->v[i]);
		set->n = 0;
		u64map_free(&set->of);
		u64map_init(&set->of);
	}
	t->interval_samples = 0;
}

static void render(struct top *t, double elapsed, double interval, const char *status)
{
	uint64_t c[CNT__MAX];
	int width = 100, height = 24;
	struct winsize ws;
	char vbuf[32];
	struct statset *set = &t->sets[t->by_line];
	struct session_totals tot = session_totals(t->s);

	if (t->tty_out && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 && ws.ws_row > 5) {
		width = ws.ws_col;
		height = ws.ws_row;
	}
	session_counters(t->s, c);
	qsort(set->v, set->n, sizeof(*set->v), t->by_total ? cmp_total : cmp_own);
	int rows = t->rows ? t->rows : height - 6;

	if (rows > MAX_ROWS)
		rows = MAX_ROWS;
	if (t->tty_out)
		fputs("\033[H\033[2J", stdout);
	const struct py_target *target = session_target(t->s);

	printf("pyperf top: PID %d (%s, CPython %s), %d Hz, sampler %s, %.0fs%s%s\n", (int)target->pid,
	       target->comm, py_version_str(target->version_hex, vbuf, sizeof(vbuf)), t->hz,
	       sampler_kind_name(session_sampler(t->s, NULL)),
	       elapsed, status, t->paused ? ", PAUSED (p resumes)" : "");
	/* The GIL share and active threads are of the whole process, whatever
	 * thread the rows are of. */
	uint64_t gil = tot.gil_samples - t->gil_at_interval;

	printf("%.0f samples/s, %" PRIu64 " samples, %" PRIu64 " lost; GIL held in %.0f%% of samples; "
	       "%zu thread%s active\n",
	       interval > 0 ? (double)t->interval_all / interval : 0.0, tot.samples,
	       c[CNT_RINGBUF_FULL] + tot.unresolved,
	       t->interval_all ? 100.0 * (double)gil / (double)t->interval_all : 0.0, active_threads(t),
	       active_threads(t) == 1 ? "" : "s");
	if (t->thread)
		printf("thread %u only (n: next thread, a: all); ", t->thread);
	else
		printf("all threads (n: one thread); ");
	printf("sorted by %s (o/t); %s (l); p pauses; q quits\n\n", t->by_total ? "TOTAL%" : "OWN%",
	       t->by_line ? "per line" : "per function");
	printf("%6s %7s %8s %9s  %s\n", "OWN%", "TOTAL%", "OWN(s)", "TOTAL(s)", t->by_line ? "LINE" : "FUNCTION");
	for (int i = 0; i < rows && (size_t)i < set->n; i++) {
		const struct func_stat *fs = set->v[i];
		double denom = t->interval_samples ? (double)t->interval_samples : 1.0;
		int room = width - 35;

		if (!fs->total_all)
			continue;
		printf("%5.1f%% %6.1f%% %8.2f %9.2f  %.*s\n", 100.0 * (double)fs->own / denom,
		       100.0 * (double)fs->total / denom, (double)fs->own_all / t->hz,
		       (double)fs->total_all / t->hz, room > 10 ? room : 10, fs->func);
	}
	fflush(stdout);
}

/* A new interval begins: this one's counts are forgotten. */
static void next_interval(struct top *t)
{
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < t->sets[k].n; i++)
			t->sets[k].v[i]->own = t->sets[k].v[i]->total = 0;
	t->interval_samples = 0;
	t->interval_all = 0;
	t->gil_at_interval = session_totals(t->s).gil_samples;
	t->interval_no++;
}

/* One option: converts and range-checks it. */
static int top_opt(int key, const char *arg, void *ctx)
{
	struct top_args *a = ctx;

	switch (key) {
	case 'p':
		return opt_pid_arg(WHO, arg, &a->pid);
	case 'F':
		if (opt_hz(arg, &a->t->hz))
			return opt_usage_error(WHO, "invalid frequency '%s': give 1 to %d", arg, OPT_HZ_MAX);
		break;
	case 'n':
		if (opt_int(arg, 1, MAX_ROWS, &a->t->rows))
			return opt_usage_error(WHO, "invalid row count '%s': give 1 to %d", arg, MAX_ROWS);
		break;
	case 'd':
		if (opt_duration(arg, OPT_ABOVE_ZERO, OPT_DURATION_MAX, &a->t->duration))
			return opt_usage_error(WHO, "invalid duration '%s'", arg);
		break;
	case 'v':
		a->verbose = true;
		break;
	case OPT_NATIVE:
		a->native = true;
		break;
	case OPT_KERNEL:
		a->kernel = true;
		break;
	case OPT_SAMPLER:
		a->sampler_given = true;
		return opt_sampler(WHO, arg, &a->sampler);
	default:
		return opt_usage_error(WHO, "option %d not handled", key);
	}
	return 0;
}

/* Fills *a (a->t's hz, rows and duration too). 0 to run, -1 after --help,
 * or the exit code of bad usage. */
static int parse_args(int argc, char **argv, struct top_args *a)
{
	int first, rc = opts_parse(&top_cmd, argc, argv, top_opt, a, &first);

	if (rc)
		return rc;
	if (first < argc)
		return opt_usage_error(WHO, "unexpected argument '%s'; run 'pyperf top --help'", argv[first]);
	if (!a->pid)
		return opt_usage_error(WHO, "which process? give -p PID (see 'pyperf top --help')");
	if (a->kernel && !a->native)
		return opt_usage_error(WHO, "--kernel adds kernel frames to native stacks: use it with --native");
	if (a->sampler == SAMPLER_REMOTE && a->native)
		return opt_usage_error(WHO, "%s", OPT_SAMPLER_NO_NATIVE);
	return 0;
}

/* Raw keys without echo, so 'q' quits at once; restored on every exit path. */
static void terminal_raw(struct top *t)
{
	struct termios raw;

	t->tty_in = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0;
	if (!t->tty_in)
		return;
	raw = t->saved;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	tcsetattr(STDIN_FILENO, TCSANOW, &raw);
}

/* The thread after the one shown, in order of first sample; 0 (all)
 * after the last. */
static uint32_t next_thread(const struct top *t)
{
	if (!t->thread)
		return t->ntids ? t->tids[0] : 0;
	for (size_t i = 0; i + 1 < t->ntids; i++)
		if (t->tids[i] == t->thread)
			return t->tids[i + 1];
	return 0;
}

/* Reads the keys typed since the last call. Returns true on q; *redraw
 * when the view changed (and should be drawn now). */
static bool read_keys(struct top *t, bool *redraw)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	char ch;

	*redraw = false;
	if (!t->tty_in || poll(&pfd, 1, 0) <= 0)
		return false;
	while (read(STDIN_FILENO, &ch, 1) == 1) {
		switch (ch) {
		case 'q': case 'Q':
			return true;
		case 'o': t->by_total = false; break;
		case 't': t->by_total = true; break;
		case 'l': t->by_line = !t->by_line; break;
		case 'p': case ' ': t->paused = !t->paused; break;
		case 'n': case '\t':
			t->thread = next_thread(t);
			clear_stats(t);
			break;
		case 'a':
			t->thread = 0;
			clear_stats(t);
			break;
		default:
			continue;
		}
		*redraw = true;
	}
	return false;
}

int cmd_top(int argc, char **argv)
{
	static struct top top;
	struct top *t = &top;
	char err[512];
	int ret = 1;

	memset(t, 0, sizeof(*t));
	t->hz = 99;
	/* auto by default, as record (issue #22: one default for both) */
	struct top_args a = { .t = t, .sampler = SAMPLER_AUTO };
	int pa = parse_args(argc, argv, &a);

	if (pa)
		return pa < 0 ? 0 : pa;
	pid_t pid = a.pid;
	struct session_config cfg = { .hz = t->hz, .verbose = a.verbose, .who = "pyperf top", .native = a.native,
				      .kernel = a.kernel, .mark_gil = true, .per_thread = true,
				      .sampler = a.sampler, .sampler_given = a.sampler_given };

	u64map_init(&t->sets[0].of);
	u64map_init(&t->sets[1].of);
	session_install_signals();
	t->s = session_new(&cfg);
	if (!t->s)
		goto cleanup;
	t->hz = session_hz(t->s); /* at most the kernel's maximum */
	if (session_open_target(t->s, pid, err, sizeof(err)) != 0) {
		fprintf(stderr, "pyperf top: %s\n", err);
		goto cleanup;
	}
	session_on_sample(t->s, on_sample, t);
	if (session_load(t->s) || session_attach(t->s))
		goto cleanup;
	t->tty_out = isatty(STDOUT_FILENO);
	terminal_raw(t);
	if (t->tty_out)
		fputs("\033[?1049h", stdout); /* alternate screen: the shell's screen comes back on exit */

	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	double start = session_now(), last = start;
	const char *status = "";

	for (;;) {
		int e = session_poll(t->s, 100);

		if (e < 0 && e != -EINTR) {
			status = ", failed to read samples";
			break;
		}
		bool redraw;

		if (session_stop_signal || read_keys(t, &redraw))
			break;
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

		if (pidfd >= 0 && poll(&pfd, 1, 0) > 0) {
			status = ", the process exited";
			break;
		}
		double now = session_now();

		/* Paused: counting goes on, the screen stays until a key. */
		if (redraw || (!t->paused && now - last >= 1.0)) {
			render(t, now - start, now - last, "");
			if (!redraw || now - last >= 1.0) {
				next_interval(t);
				last = now;
			}
		}
		if (t->duration > 0 && now - start >= t->duration)
			break;
	}
	if (pidfd >= 0)
		close(pidfd);
	session_stop_sampling(t->s);
	if (t->tty_out)
		fputs("\033[?1049l", stdout);
	/* The last view stays on the terminal after quitting. */
	t->paused = false;
	render(t, session_now() - start, session_now() - last, status);
	/* Why this sampler (auto's measure, say), as record's summary says it. */
	const char *why;

	session_sampler(t->s, &why);
	fprintf(stderr, "pyperf top: sampler: %s (%s)\n", sampler_kind_name(session_sampler(t->s, NULL)), why);
	ret = 0;
cleanup:
	if (t->tty_in)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < t->sets[k].n; i++)
			free(t->sets[k].v[i]);
		free(t->sets[k].v);
		u64map_free(&t->sets[k].of);
	}
	session_free(t->s);
	return ret;
}
