/*
 * pyperf record: load the sampler, point it at one process, aggregate what
 * the ring buffer brings, and write a profile when the duration ends, the
 * user interrupts, or the target exits.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "commands.h"
#include "flamegraph.h"
#include "outfile.h"
#include "profile.h"
#include "pyperf.h"
#include "pyperf.skel.h"
#include "pyproc.h"
#include "frametab.h"
#include "symbolize.h"
#include "u64map.h"
#include "writers.h"

#define STR_(x) #x
#define PYPERF_STR(x) STR_(x)
#define DEFAULT_HZ 99
#define MAX_HZ 100000
/* Once this many stacks sit in the kernel map, userspace (which has copies)
 * clears them, so long runs never fill it. Map capacity is 16384. */
#define STACKMAP_CLEAR_AT 12000

enum out_format { FMT_AUTO, FMT_SVG, FMT_FOLDED, FMT_PPROF, FMT_SPEEDSCOPE };

struct record_opts {
	pid_t pid;
	int hz;
	double duration;            /* seconds; 0 = until Ctrl-C or exit */
	const char *output;
	enum out_format format;
	const char *title;
	bool verbose;
	bool threads;               /* process and thread root frames */
	bool no_lines;              /* aggregate per function */
	char **command;             /* launch mode: argv to run, NULL-terminated */
};

/* One distinct stack id as userspace knows it, symbolized. */
struct stack_entry {
	uint32_t flags;
	uint32_t nlabels;
	const char *labels[];       /* root first */
};

/* Samples of one stack (in one thread, with --threads). */
struct count_entry {
	const struct stack_entry *stack;
	uint32_t tid;
	uint64_t count;
};

struct recorder {
	struct record_opts opts;
	struct py_target target;
	struct pyperf *skel;
	struct ring_buffer *rb;
	int *perf_fds;
	struct bpf_link **links;
	int ncpus;
	struct frametab labels;
	struct symbolizer *sym;
	struct u64map stacks;       /* stack id -> struct stack_entry * */
	struct u64map counts;       /* stack id (x tid with --threads) -> struct count_entry * */
	struct u64map thread_roots; /* tid -> "thread NAME (TID)" label */
	const char *process_root;   /* "process PID" label */
	pid_t child;                /* launch mode: the command's PID */
	struct u64map in_kernel;    /* stack ids this run saw inserted into the kernel map */
	uint64_t samples;
	uint64_t start_unix_ns, duration_ns;
	uint64_t unresolved;        /* samples whose stack could not be read back */
	uint64_t stacks_deleted;
	const char *stack_buf_err;
	struct stack_frames *frames_buf;
	const char **label_buf;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level; (void)fmt; (void)ap;
	return 0;
}

static int libbpf_verbose(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

static const char usage[] =
	"usage: pyperf record -p PID [options]\n"
	"       pyperf record [options] -- COMMAND [ARGS...]\n"
	"\n"
	"Samples the Python stacks of a CPython process (3.8 to 3.15) on every CPU and\n"
	"writes a flame graph or another profile. A running process is not stopped; a\n"
	"launched COMMAND is profiled from its start, and its exit status is pyperf's.\n"
	"\n"
	"options:\n"
	"  -p, --pid PID         process to profile\n"
	"  -F, --frequency HZ    samples per second per CPU (default 99, at most 100000)\n"
	"  -d, --duration SECS   stop after SECS seconds (default: until Ctrl-C or the\n"
	"                        process exits); fractions allowed\n"
	"  -o, --output FILE     where to write (default pyperf-PID-DATE-TIME.svg);\n"
	"                        the format follows the extension: .svg flame graph,\n"
	"                        .folded or .txt folded stacks, .pb.gz or .pprof\n"
	"                        pprof, .speedscope.json speedscope\n"
	"  -f, --format FMT      svg, folded, pprof or speedscope, whatever the extension\n"
	"      --title TEXT      flame graph title\n"
	"      --threads         put 'thread NAME (TID)' under a 'process PID' root frame\n"
	"      --no-lines        one frame per function, not per line\n"
	"  -v, --verbose         show libbpf's messages\n"
	"  -h, --help            show this help\n"
	"\n"
	"Frames are 'qualname (file:line)', root first. Needs root (or CAP_BPF and\n"
	"CAP_PERFMON plus CAP_SYS_PTRACE) and a kernel with BTF (5.17 or later).\n"
	"\n"
	"examples:\n"
	"  pyperf record -p 1234 -d 30 -o hot.svg\n"
	"  pyperf record -p 1234 -F 999 -o stacks.folded\n"
	"  pyperf record -o app.svg -- python3 app.py --port 8080\n";

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	long v = strtol(s, &end, 10);

	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const struct {
	const char *name;
	enum out_format fmt;
	const char *suffixes[3];
} formats[] = {
	{ "svg", FMT_SVG, { ".svg" } },
	{ "folded", FMT_FOLDED, { ".folded", ".txt" } },
	{ "pprof", FMT_PPROF, { ".pb.gz", ".pprof" } },
	{ "speedscope", FMT_SPEEDSCOPE, { ".speedscope.json", ".json" } },
};

static enum out_format format_from_name(const char *path)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		for (size_t k = 0; k < 3 && formats[i].suffixes[k]; k++)
			if (ends_with(path, formats[i].suffixes[k]))
				return formats[i].fmt;
	return FMT_AUTO;
}

static const char *format_suffix(enum out_format f)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].fmt == f)
			return formats[i].suffixes[0];
	return ".svg";
}

static int parse_args(int argc, char **argv, struct record_opts *o, char *defname, size_t deflen)
{
	enum { OPT_TITLE = 256, OPT_THREADS, OPT_NO_LINES, OPT_IDLE };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "frequency", required_argument, NULL, 'F' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "title", required_argument, NULL, OPT_TITLE },
		{ "threads", no_argument, NULL, OPT_THREADS },
		{ "no-lines", no_argument, NULL, OPT_NO_LINES },
		{ "idle", no_argument, NULL, OPT_IDLE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->hz = DEFAULT_HZ;
	optind = 1;
	/* '+': options end at the command to launch. */
	while ((c = getopt_long(argc, argv, "+p:F:d:o:f:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_int(optarg, 1, INT_MAX, &v)) {
				fprintf(stderr, "pyperf record: invalid PID '%s'\n", optarg);
				return 2;
			}
			o->pid = (pid_t)v;
			break;
		case 'F':
			if (parse_int(optarg, 1, MAX_HZ, &v)) {
				fprintf(stderr, "pyperf record: invalid frequency '%s': give 1 to %d samples per second\n",
					optarg, MAX_HZ);
				return 2;
			}
			o->hz = (int)v;
			break;
		case 'd': {
			char *end;

			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->duration > 0) || o->duration > 1e7) {
				fprintf(stderr, "pyperf record: invalid duration '%s': give seconds, e.g. 30 or 0.5\n",
					optarg);
				return 2;
			}
			break;
		}
		case 'o':
			o->output = optarg;
			break;
		case 'f':
			o->format = FMT_AUTO;
			for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
				if (!strcmp(optarg, formats[i].name))
					o->format = formats[i].fmt;
			if (o->format == FMT_AUTO) {
				fprintf(stderr, "pyperf record: unknown format '%s': use svg, folded, pprof or speedscope\n",
					optarg);
				return 2;
			}
			break;
		case OPT_TITLE:
			o->title = optarg;
			break;
		case OPT_THREADS:
			o->threads = true;
			break;
		case OPT_NO_LINES:
			o->no_lines = true;
			break;
		case OPT_IDLE:
			fprintf(stderr, "pyperf record: --idle does not apply: CPU sampling only sees threads "
				"running on a CPU, so idle threads never appear\n");
			return 2;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			fputs("Run 'pyperf record --help' for usage.\n", stderr);
			return 2;
		}
	}
	if (optind < argc)
		o->command = argv + optind;
	if (o->command && o->pid) {
		fprintf(stderr, "pyperf record: give either -p PID or a command to run, not both\n");
		return 2;
	}
	if (!o->pid && !o->command) {
		fprintf(stderr, "pyperf record: which process? give -p PID or a command after -- "
			"(see 'pyperf record --help')\n");
		return 2;
	}
	if (!o->output) {
		time_t now = time(NULL);
		struct tm tm;
		char stamp[32];

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		snprintf(defname, deflen, "pyperf-%d-%s%s", o->pid ? (int)o->pid : (int)getpid(), stamp,
			 format_suffix(o->format == FMT_AUTO ? FMT_SVG : o->format));
		o->output = defname;
	}
	if (o->format == FMT_AUTO)
		o->format = format_from_name(o->output);
	if (o->format == FMT_AUTO) {
		fprintf(stderr, "pyperf record: cannot tell the format of '%s' from its extension: "
			"use .svg, .folded, .txt, .pb.gz, .pprof or .speedscope.json, or give --format\n", o->output);
		return 2;
	}
	return 0;
}

/* Pseudo-frame put at the root of a stack whose root side is missing. */
static const char *stack_flag_label(uint32_t flags)
{
	if (flags & STACK_TRUNCATED)
		return "[truncated: deeper than " PYPERF_STR(PYPERF_MAX_FRAMES) " frames]";
	if (flags & STACK_READ_FAULT)
		return "[unreadable frame]";
	if (flags & STACK_BAD_CHAIN)
		return "[broken frame chain]";
	return NULL;
}

/* Reads a new stack id's frames from the kernel and symbolizes them. */
static struct stack_entry *resolve_stack(struct recorder *r, uint64_t stack_id)
{
	int fd = bpf_map__fd(r->skel->maps.stacks);
	struct stack_frames *sf = r->frames_buf;

	if (bpf_map_lookup_elem(fd, &stack_id, sf) != 0)
		return NULL;
	uint32_t n = sf->nframes < PYPERF_MAX_FRAMES ? sf->nframes : PYPERF_MAX_FRAMES;
	size_t nl = 0;
	const char *flag_label = stack_flag_label(sf->flags);

	if (flag_label)
		r->label_buf[nl++] = frametab_pseudo(&r->labels, flag_label);
	/* The kernel stores the leaf first; profiles want the root first. */
	for (uint32_t i = n; i-- > 0;) {
		const char *l = symbolizer_frame(r->sym, sf->frames[i]);

		if (l)
			r->label_buf[nl++] = l;
	}
	struct stack_entry *e = malloc(sizeof(*e) + nl * sizeof(e->labels[0]));

	if (!e)
		return NULL;
	e->flags = sf->flags;
	e->nlabels = (uint32_t)nl;
	for (size_t i = 0; i < nl; i++)
		e->labels[i] = r->label_buf[i];
	return e;
}

/* Userspace has copies of every stack it saw: empty the kernel map. */
static void clear_kernel_stacks(struct recorder *r)
{
	int fd = bpf_map__fd(r->skel->maps.stacks);

	for (size_t i = 0; i < r->in_kernel.cap; i++) {
		if (!r->in_kernel.used[i])
			continue;
		if (bpf_map_delete_elem(fd, &r->in_kernel.keys[i]) == 0)
			r->stacks_deleted++;
	}
	u64map_free(&r->in_kernel);
}

static uint64_t count_key(const struct recorder *r, uint64_t stack_id, uint32_t tid)
{
	if (!r->opts.threads)
		return stack_id;
	uint64_t k = stack_id ^ ((uint64_t)tid * 0x9e3779b97f4a7c15ull);

	return k ^ (k >> 31);
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	const struct sample_event *ev = data;

	if (size < sizeof(*ev))
		return 0;
	r->samples++;
	uint64_t *slot = u64map_get(&r->stacks, ev->stack_id);
	struct stack_entry *st = slot ? (struct stack_entry *)(uintptr_t)*slot : NULL;

	if (!st) {
		st = resolve_stack(r, ev->stack_id);
		if (!st || u64map_put(&r->stacks, ev->stack_id, (uint64_t)(uintptr_t)st)) {
			free(st);
			r->unresolved++;
			return 0;
		}
	}
	if (ev->flags & SAMPLE_NEW_STACK) {
		u64map_put(&r->in_kernel, ev->stack_id, 1);
		if (r->in_kernel.len >= STACKMAP_CLEAR_AT)
			clear_kernel_stacks(r);
	}
	uint64_t key = count_key(r, ev->stack_id, ev->tid);
	uint64_t *cslot = u64map_get(&r->counts, key);
	struct count_entry *ce = cslot ? (struct count_entry *)(uintptr_t)*cslot : NULL;

	if (!ce) {
		ce = calloc(1, sizeof(*ce));
		if (!ce || u64map_put(&r->counts, key, (uint64_t)(uintptr_t)ce)) {
			free(ce);
			r->unresolved++;
			return 0;
		}
		ce->stack = st;
		ce->tid = ev->tid;
	}
	ce->count++;
	if (r->opts.threads && !u64map_get(&r->thread_roots, ev->tid)) {
		/* Named at first sight, while the thread still exists. */
		char name[64] = "", label[128];

		proc_thread_name(r->target.pid, (pid_t)ev->tid, name, sizeof(name));
		snprintf(label, sizeof(label), "thread %s (%u)", name[0] ? name : "?", ev->tid);
		const char *l = frametab_pseudo(&r->labels, label);

		if (l)
			u64map_put(&r->thread_roots, ev->tid, (uint64_t)(uintptr_t)l);
	}
	return 0;
}

static int open_perf_events(struct recorder *r)
{
	r->ncpus = libbpf_num_possible_cpus();
	if (r->ncpus <= 0) {
		fprintf(stderr, "pyperf record: failed to count CPUs: %s\n", strerror(-r->ncpus));
		return -1;
	}
	r->perf_fds = calloc((size_t)r->ncpus, sizeof(int));
	r->links = calloc((size_t)r->ncpus, sizeof(*r->links));
	if (!r->perf_fds || !r->links) {
		fprintf(stderr, "pyperf record: out of memory\n");
		return -1;
	}
	int opened = 0;

	for (int cpu = 0; cpu < r->ncpus; cpu++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.size = sizeof(attr),
			.freq = 1,
			.sample_freq = (uint64_t)r->opts.hz,
		};
		int fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

		r->perf_fds[cpu] = -1;
		if (fd < 0) {
			if (errno == ENODEV)
				continue; /* offline CPU */
			int e = errno;

			if (e == EINVAL)
				fprintf(stderr, "pyperf record: failed to open the cpu-clock event at %d Hz: %s "
					"(is it above /proc/sys/kernel/perf_event_max_sample_rate?)\n",
					r->opts.hz, strerror(e));
			else if (e == EACCES || e == EPERM)
				fprintf(stderr, "pyperf record: not allowed to open perf events: run as root "
					"or grant CAP_PERFMON\n");
			else
				fprintf(stderr, "pyperf record: failed to open the cpu-clock event on CPU %d: %s\n",
					cpu, strerror(e));
			return -1;
		}
		r->perf_fds[cpu] = fd;
		r->links[cpu] = bpf_program__attach_perf_event(r->skel->progs.pyperf_sample, fd);
		if (!r->links[cpu]) {
			int e = errno;

			r->links[cpu] = NULL;
			fprintf(stderr, "pyperf record: failed to attach the sampler to CPU %d: %s\n", cpu,
				strerror(e));
			return -1;
		}
		opened++;
	}
	if (!opened) {
		fprintf(stderr, "pyperf record: no CPU accepted a cpu-clock event\n");
		return -1;
	}
	return 0;
}

static int load_bpf(struct recorder *r)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		fprintf(stderr, "pyperf record: this kernel has no BTF (/sys/kernel/btf/vmlinux): "
			"use a kernel built with CONFIG_DEBUG_INFO_BTF=y\n");
		return -1;
	}
	libbpf_set_print(r->opts.verbose ? libbpf_verbose : libbpf_quiet);
	r->skel = pyperf__open();
	if (!r->skel) {
		fprintf(stderr, "pyperf record: failed to open the BPF program: %s\n", strerror(errno));
		return -1;
	}
	int err = pyperf__load(r->skel);

	if (err) {
		if (err == -EPERM || err == -EACCES)
			fprintf(stderr, "pyperf record: not allowed to load BPF programs: run as root "
				"or grant CAP_BPF and CAP_PERFMON\n");
		else
			fprintf(stderr, "pyperf record: failed to load the BPF program: %s "
				"(kernel 5.17+ with BTF needed; run with -v for the verifier's log)\n",
				strerror(-err));
		return -1;
	}
	r->rb = ring_buffer__new(bpf_map__fd(r->skel->maps.events), handle_event, r, NULL);
	if (!r->rb) {
		fprintf(stderr, "pyperf record: failed to create the ring buffer reader: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Symbolizer and BPF map entry for the target found in r->target. */
static int register_target(struct recorder *r)
{
	struct py_proc proc = {
		.runtime_addr = r->target.runtime_addr,
		.start_time = r->target.start_time,
		.layout = r->target.layout,
	};
	__u32 key = (__u32)r->target.pid;

	r->sym = symbolizer_new(&r->target, &r->labels);
	if (!r->sym) {
		fprintf(stderr, "pyperf record: out of memory\n");
		return -1;
	}
	symbolizer_set_lines(r->sym, !r->opts.no_lines);
	char root[64];

	snprintf(root, sizeof(root), "process %d", (int)r->target.pid);
	r->process_root = frametab_pseudo(&r->labels, root);
	if (bpf_map_update_elem(bpf_map__fd(r->skel->maps.procs), &key, &proc, BPF_ANY)) {
		fprintf(stderr, "pyperf record: failed to register PID %d with the sampler: %s\n",
			(int)key, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Launch mode: fork the command, holding it before exec on a pipe until
 * sampling runs; returns the write end that releases it, or -1.
 */
static int spawn_held(struct recorder *r)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC)) {
		fprintf(stderr, "pyperf record: failed to create a pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	r->child = fork();
	if (r->child < 0) {
		fprintf(stderr, "pyperf record: failed to fork: %s\n", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (r->child == 0) {
		char go;

		close(fds[1]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (read(fds[0], &go, 1) != 1)
			_exit(127); /* pyperf gave up before starting it */
		execvp(r->opts.command[0], r->opts.command);
		fprintf(stderr, "pyperf record: failed to run %s: %s\n", r->opts.command[0], strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	return fds[1];
}

/* Exit status of the launched command, shell style. */
static int child_status(struct recorder *r, bool wait)
{
	int status;
	pid_t got;

	if (r->child <= 0)
		return -1;
	bool forwarded = false;

	for (;;) {
		got = waitpid(r->child, &status, wait ? 0 : WNOHANG);
		if (got >= 0 || errno != EINTR)
			break;
		/* Interrupted while waiting for the command to end: pass the
		 * signal on once (a terminal's Ctrl-C reached it already). */
		if (stop_signal && !forwarded) {
			kill(r->child, stop_signal);
			forwarded = true;
		}
	}
	if (got != r->child)
		return -1;
	r->child = -r->child; /* reaped */
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/*
 * Waits until the launched process runs an initialized CPython (it may exec
 * through wrappers first). Returns 0, 1 when the command ended first (its
 * status in *status), or -1 on an error worth stopping for.
 */
static int wait_for_interpreter(struct recorder *r, int *status)
{
	char err[512];
	pid_t pid = r->child;

	for (;;) {
		int rc = py_target_open(pid, &r->target, err, sizeof(err));

		if (rc == 0)
			return 0;
		if (rc != -PYPROC_ENOTPY && rc != -PYPROC_ENOTREADY && rc != -PYPROC_ENOPROC) {
			fprintf(stderr, "pyperf record: %s\n", err);
			return -1;
		}
		*status = child_status(r, false);
		if (*status >= 0)
			return 1;
		if (stop_signal)
			return -1;
		struct timespec ts = { 0, 1000000 }; /* 1 ms: startup to user code takes longer */

		nanosleep(&ts, NULL);
	}
}

static void read_counters(struct recorder *r, uint64_t *out)
{
	int fd = bpf_map__fd(r->skel->maps.counters);
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals = calloc(ncpu > 0 ? (size_t)ncpu : 1, sizeof(uint64_t));

	memset(out, 0, CNT__MAX * sizeof(*out));
	if (!vals)
		return;
	for (__u32 k = 0; k < CNT__MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals) != 0)
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum stop_reason { STOP_DURATION, STOP_SIGNAL, STOP_EXITED, STOP_ERROR };

static void show_status(struct recorder *r, double started)
{
	uint64_t c[CNT__MAX];

	read_counters(r, c);
	fprintf(stderr, "\rpyperf: %.0fs, %" PRIu64 " samples, %" PRIu64 " lost\033[K",
		now_seconds() - started, r->samples, c[CNT_RINGBUF_FULL] + c[CNT_STACKMAP_FULL] + r->unresolved);
}

static enum stop_reason run_loop(struct recorder *r)
{
	int pidfd = (int)syscall(SYS_pidfd_open, r->target.pid, 0);
	double started = now_seconds(), last_status = started;
	double deadline = r->opts.duration > 0 ? started + r->opts.duration : 0;
	bool live = isatty(STDERR_FILENO);
	enum stop_reason why = STOP_ERROR;

	for (;;) {
		if (live && now_seconds() - last_status >= 1.0) {
			show_status(r, started);
			last_status = now_seconds();
		}
		int timeout_ms = 100;

		if (deadline) {
			double left = deadline - now_seconds();

			if (left <= 0) {
				why = STOP_DURATION;
				break;
			}
			if (left * 1000 < timeout_ms)
				timeout_ms = (int)(left * 1000) + 1;
		}
		int err = ring_buffer__poll(r->rb, timeout_ms);

		if (stop_signal) {
			why = STOP_SIGNAL;
			break;
		}
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "pyperf record: failed to read samples: %s\n", strerror(-err));
			why = STOP_ERROR;
			break;
		}
		bool exited;

		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

			exited = poll(&pfd, 1, 0) > 0;
		} else {
			exited = proc_start_time(r->target.pid) != r->target.start_time;
		}
		if (exited) {
			why = STOP_EXITED;
			break;
		}
	}
	/* Samples already in the ring buffer still count. */
	ring_buffer__consume(r->rb);
	if (pidfd >= 0)
		close(pidfd);
	if (live)
		fputs("\r\033[K", stderr);
	return why;
}

static int write_output(struct recorder *r, uint64_t *nstacks_out)
{
	struct profile prof;
	struct outfile out;
	int err;

	profile_init(&prof);
	for (size_t i = 0; i < r->counts.cap; i++) {
		if (!r->counts.used[i])
			continue;
		const struct count_entry *ce = (const struct count_entry *)(uintptr_t)r->counts.vals[i];
		const struct stack_entry *st = ce->stack;
		size_t n = 0;

		if (!ce->count || !st->nlabels)
			continue;
		if (r->opts.threads) {
			uint64_t *tl = u64map_get(&r->thread_roots, ce->tid);

			r->label_buf[n++] = r->process_root;
			r->label_buf[n++] = tl ? (const char *)(uintptr_t)*tl : "thread ?";
		}
		memcpy(r->label_buf + n, st->labels, st->nlabels * sizeof(st->labels[0]));
		n += st->nlabels;
		if (profile_add(&prof, r->label_buf, n, ce->count)) {
			profile_free(&prof);
			fprintf(stderr, "pyperf record: out of memory while aggregating\n");
			return -1;
		}
	}
	*nstacks_out = prof.len;
	err = outfile_open(&out, r->opts.output);
	if (err) {
		fprintf(stderr, "pyperf record: failed to create %s: %s\n", r->opts.output, strerror(-err));
		profile_free(&prof);
		return -1;
	}
	struct profile_meta meta = {
		.period_ns = 1000000000ull / (uint64_t)r->opts.hz,
		.start_unix_ns = r->start_unix_ns,
		.duration_ns = r->duration_ns,
		.name = r->opts.title,
	};

	if (r->opts.format == FMT_FOLDED) {
		err = profile_write_folded(&prof, out.f);
	} else if (r->opts.format == FMT_PPROF) {
		err = profile_write_pprof(&prof, &r->labels, &meta, out.f);
	} else if (r->opts.format == FMT_SPEEDSCOPE) {
		err = profile_write_speedscope(&prof, &r->labels, &meta, out.f);
	} else {
		struct fg_options fo;
		char title[128], subtitle[256];

		fg_options_init(&fo);
		snprintf(title, sizeof(title), "%s", r->opts.title ? r->opts.title : "pyperf: CPU flame graph");
		snprintf(subtitle, sizeof(subtitle), "PID %d (%s), CPython %u.%u, %d Hz", (int)r->target.pid,
			 r->target.comm, (r->target.version_hex >> 24) & 0xff, (r->target.version_hex >> 16) & 0xff,
			 r->opts.hz);
		fo.title = title;
		fo.subtitle = subtitle;
		err = profile_write_svg(&prof, &fo, out.f);
	}
	profile_free(&prof);
	if (err) {
		outfile_abort(&out);
		fprintf(stderr, "pyperf record: failed to write %s: %s\n", r->opts.output, strerror(-err));
		return -1;
	}
	err = outfile_commit(&out);
	if (err) {
		fprintf(stderr, "pyperf record: failed to write %s: %s\n", r->opts.output, strerror(-err));
		return -1;
	}
	return 0;
}

static void print_summary(struct recorder *r, enum stop_reason why, uint64_t nstacks)
{
	uint64_t c[CNT__MAX];
	struct symbolizer_stats ss = { 0 };

	read_counters(r, c);
	if (r->sym)
		symbolizer_stats(r->sym, &ss);
	const char *reason = why == STOP_EXITED ? "the process exited" :
			     why == STOP_SIGNAL ? "interrupted" : why == STOP_DURATION ? "duration reached" : "error";

	fprintf(stderr, "pyperf: %" PRIu64 " samples, %" PRIu64 " distinct stacks (%s)\n",
		r->samples, nstacks, reason);
	uint64_t lost = c[CNT_RINGBUF_FULL] + c[CNT_STACKMAP_FULL] + r->unresolved;

	if (lost)
		fprintf(stderr, "pyperf: lost %" PRIu64 " samples: %" PRIu64 " ring buffer full, %" PRIu64
			" stack map full, %" PRIu64 " stacks unreadable from the map\n",
			lost, c[CNT_RINGBUF_FULL], c[CNT_STACKMAP_FULL], r->unresolved);
	else
		fprintf(stderr, "pyperf: lost 0 samples\n");
	if (c[CNT_NO_TSTATE] + c[CNT_NO_FRAMES])
		fprintf(stderr, "pyperf: %" PRIu64 " samples not in Python code (thread without a Python "
			"thread state, or running no Python frame), not shown\n",
			c[CNT_NO_TSTATE] + c[CNT_NO_FRAMES]);
	if (c[CNT_TRUNCATED])
		fprintf(stderr, "pyperf: %" PRIu64 " samples deeper than %d frames: root side cut, marked [truncated]\n",
			c[CNT_TRUNCATED], PYPERF_MAX_FRAMES);
	if (c[CNT_READ_FAULT] + c[CNT_BAD_CHAIN])
		fprintf(stderr, "pyperf: %" PRIu64 " samples with unreadable frames and %" PRIu64
			" with a broken frame chain (the stack changed while read), marked as such\n",
			c[CNT_READ_FAULT], c[CNT_BAD_CHAIN]);
	if (ss.unreadable)
		fprintf(stderr, "pyperf: %" PRIu64 " of %" PRIu64 " code objects unreadable (freed before "
			"symbolization), shown as [unknown code]\n", ss.unreadable, ss.code_objects);
}

static void recorder_destroy(struct recorder *r)
{
	if (r->links)
		for (int i = 0; i < r->ncpus; i++)
			bpf_link__destroy(r->links[i]);
	if (r->perf_fds)
		for (int i = 0; i < r->ncpus; i++)
			if (r->perf_fds[i] >= 0)
				close(r->perf_fds[i]);
	free(r->links);
	free(r->perf_fds);
	ring_buffer__free(r->rb);
	pyperf__destroy(r->skel);
	for (size_t i = 0; i < r->stacks.cap; i++)
		if (r->stacks.used[i])
			free((void *)(uintptr_t)r->stacks.vals[i]);
	u64map_free(&r->stacks);
	for (size_t i = 0; i < r->counts.cap; i++)
		if (r->counts.used[i])
			free((void *)(uintptr_t)r->counts.vals[i]);
	u64map_free(&r->counts);
	u64map_free(&r->thread_roots);
	u64map_free(&r->in_kernel);
	symbolizer_free(r->sym);
	frametab_free(&r->labels);
	free(r->frames_buf);
	free(r->label_buf);
}

int cmd_record(int argc, char **argv)
{
	static struct recorder rec;
	struct recorder *r = &rec;
	char defname[128], err[512], vbuf[32];
	int ret = 1, exit_status = -1;

	memset(r, 0, sizeof(*r));
	int pa = parse_args(argc, argv, &r->opts, defname, sizeof(defname));

	if (pa)
		return pa < 0 ? 0 : pa;
	int w = outfile_check_writable(r->opts.output);

	if (w) {
		fprintf(stderr, "pyperf record: cannot write %s: %s\n", r->opts.output, strerror(-w));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	stop_signal = 0;
	if (!r->opts.command && py_target_open(r->opts.pid, &r->target, err, sizeof(err)) != 0) {
		fprintf(stderr, "pyperf record: %s\n", err);
		return 1;
	}
	frametab_init(&r->labels);
	u64map_init(&r->stacks);
	u64map_init(&r->counts);
	u64map_init(&r->thread_roots);
	u64map_init(&r->in_kernel);
	r->frames_buf = malloc(sizeof(*r->frames_buf));
	/* frames + a flag frame + process and thread roots */
	r->label_buf = malloc((PYPERF_MAX_FRAMES + 3) * sizeof(*r->label_buf));
	if (!r->frames_buf || !r->label_buf) {
		fprintf(stderr, "pyperf record: out of memory\n");
		goto cleanup;
	}
	if (load_bpf(r) || open_perf_events(r))
		goto cleanup;
	if (r->opts.command) {
		int go = spawn_held(r);

		if (go < 0)
			goto cleanup;
		/* Sampling is armed: let the command exec. */
		if (write(go, "g", 1) != 1) {
			fprintf(stderr, "pyperf record: failed to start %s\n", r->opts.command[0]);
			close(go);
			goto cleanup;
		}
		close(go);
		int rc = wait_for_interpreter(r, &exit_status);

		if (rc < 0) {
			exit_status = child_status(r, true);
			goto cleanup;
		}
		if (rc > 0) {
			fprintf(stderr, "pyperf record: %s exited (status %d) without running a CPython "
				"interpreter pyperf could find\n", r->opts.command[0], exit_status);
			ret = exit_status > 0 ? exit_status : 1;
			goto cleanup;
		}
	}
	if (register_target(r))
		goto cleanup;
	if (r->target.warning[0])
		fprintf(stderr, "pyperf: warning: %s\n", r->target.warning);
	fprintf(stderr, "pyperf: sampling PID %d (%s, CPython %s%s) at %d Hz%s\n", (int)r->target.pid,
		r->target.comm, py_version_str(r->target.version_hex, vbuf, sizeof(vbuf)),
		r->target.shared_lib ? ", libpython" : "", r->opts.hz,
		r->opts.duration > 0 || r->opts.command ? "" : "; Ctrl-C to stop");

	struct timespec t0;

	clock_gettime(CLOCK_REALTIME, &t0);
	r->start_unix_ns = (uint64_t)t0.tv_sec * 1000000000ull + (uint64_t)t0.tv_nsec;
	double mono0 = now_seconds();
	enum stop_reason why = run_loop(r);

	r->duration_ns = (uint64_t)((now_seconds() - mono0) * 1e9);
	uint64_t nstacks = 0;

	/* Stop sampling before writing so the summary and the file agree. */
	for (int i = 0; i < r->ncpus; i++) {
		bpf_link__destroy(r->links[i]);
		r->links[i] = NULL;
	}
	ring_buffer__consume(r->rb);
	if (why == STOP_ERROR)
		goto cleanup;
	if (write_output(r, &nstacks))
		goto cleanup;
	print_summary(r, why, nstacks);
	fprintf(stderr, "pyperf: wrote %s\n", r->opts.output);
	ret = 0;
	if (!r->samples)
		fprintf(stderr, "pyperf: no Python samples: was the process running Python code on a CPU?\n");
cleanup:
	if (r->opts.command && r->child > 0) {
		/* The command's exit status is pyperf's, once the profile is safe. */
		int st = child_status(r, true);

		if (ret == 0)
			ret = st >= 0 ? st : 1;
	} else if (r->opts.command && ret == 0 && exit_status >= 0) {
		ret = exit_status;
	}
	recorder_destroy(r);
	return ret;
}
