/*
 * pyperf record: load the sampler, point it at one process, aggregate what
 * the ring buffer brings, and write a profile when the duration ends, the
 * user interrupts, or the target exits.
 */
#include <errno.h>
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#include "cmd/commands.h"
#include "cmd/options.h"
#include "flamegraph.h"
#include "output/outfile.h"
#include "output/profile.h"
#include "output/archive.h"
#include "output/formats.h"
#include "output/push.h"
#include "sampler/session.h"
#include "python/symbolize.h"
#include "pyperf.h"
#include "target/pyproc.h"
#include "output/frametab.h"
#include "output/writers.h"
#include "output/timeline.h"

#define DEFAULT_HZ 99
#define KEEP_MAX 1000000       /* --keep: period files */
#define MIN_BLOCK_MAX_S 1e6    /* --min-block: seconds */

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
	bool subprocesses;          /* follow Python children */
	char **command;             /* launch mode: argv to run, NULL-terminated */
	bool all;                   /* -a: every Python process on the host */
	double every;               /* seconds per period file; 0 = one file */
	long keep;                  /* period files kept in the directory; 0 = all */
	uint64_t max_disk;          /* bytes of period files kept; 0 = no limit */
	const char *push_url;       /* Pyroscope-compatible server, or NULL */
	double cpu_budget;          /* percent of the host's CPU for pyperf + its BPF; 0 = none */
	const char *log;            /* messages go to this file (SIGHUP reopens it) */
	enum session_mode mode;     /* --mode cpu|offcpu|wall */
	uint64_t min_block_ns;      /* --min-block */
	bool min_block_given;
	bool no_wait_reason;
	bool gil_only;              /* --gil */
	bool gil_wait;              /* --mode gil-wait */
	bool hz_given;
	bool budget_given;
	bool native;                /* --native */
	bool kernel;                /* --kernel */
	uint64_t native_memory;     /* --native-memory: room for unwind tables */
	bool async;                 /* --async: asyncio tasks' logical stacks */
	bool timeline;              /* --timeline: speedscope's evented profiles, per thread in time order */
	enum sampler_kind sampler;  /* --sampler */
	bool sampler_given;
};

struct recorder {
	struct record_opts opts;
	struct session *s;
	uint64_t start_unix_ns, duration_ns;
	uint64_t period_start_unix_ns;
	uint64_t period_samples_base;   /* session samples when the period began */
	uint64_t periods, pruned;
	uint64_t max_period_stacks;     /* --every: the most distinct stacks in one period file */
	double end_at;                  /* session_now() when -d ends; 0 = none */
	bool stopping;                  /* the last period is being written */
	struct pusher *pusher;
	struct timeline tl;             /* --timeline */
	uint64_t tl_untimed;            /* --timeline: waits not tied to a moment (asyncio task waits) */
};

#define ALL_DEFAULT_HZ 19
#define ALL_DEFAULT_BUDGET 1    /* percent of the host's CPU */
#define BUDGET_CHECK_S 5.0
#define PUSH_QUEUE 64          /* periods waiting for the server; then the oldest goes */
#define PUSH_FINISH_MS 10000

static bool is_dir_name(const char *path)
{
	size_t n = strlen(path);

	return n > 0 && path[n - 1] == '/';
}

#define WHO "record"
#define STR_(x) #x
#define STR(x) STR_(x)

enum {
	OPT_TITLE = OPT_LONG_ONLY, OPT_THREADS, OPT_NO_LINES, OPT_IDLE, OPT_SUBPROCESSES, OPT_EVERY, OPT_KEEP,
	OPT_MAX_DISK, OPT_PUSH, OPT_CPU_BUDGET, OPT_LOG, OPT_MIN_BLOCK, OPT_NO_WAIT_REASON, OPT_GIL,
	OPT_NATIVE, OPT_KERNEL, OPT_NATIVE_MEMORY, OPT_ASYNC, OPT_TIMELINE, OPT_SAMPLER,
};

static const struct opt_spec record_options[] = {
	{ "pid", 'p', "PID", "process to profile" },
	{ "all", 'a', NULL, "every Python process on the host, including ones that start later "
	  "(default " STR(ALL_DEFAULT_HZ) " Hz, pprof, 'process PID' roots)" },
	{ "every", OPT_EVERY, "DURATION", "with -o DIR/: one profile per period (10s, 1m, 1h), "
	  "written into DIR named by time" },
	{ "keep", OPT_KEEP, "N", "keep only the newest N period files" },
	{ "max-disk", OPT_MAX_DISK, "SIZE", "keep period files under SIZE in all (500M, 2G)" },
	{ "cpu-budget", OPT_CPU_BUDGET, "PCT", "keep pyperf's own CPU time plus its BPF run time under "
	  "PCT percent of the host's CPUs by lowering the rate (default " STR(ALL_DEFAULT_BUDGET)
	  " with -a, none otherwise)" },
	{ "log", OPT_LOG, "FILE", "write messages to FILE; SIGHUP reopens it (if that fails, the "
	  "old file is kept and says why)" },
	{ "push", OPT_PUSH, "URL", "also send each profile (pprof) to a Pyroscope-compatible server's "
	  "/ingest, from a queue that retries and, when full, drops the oldest (counted)" },
	{ "mode", 'm', "MODE", "cpu: samples of threads on a CPU (default); offcpu: exact time threads "
	  "spend blocked (sleep, locks, I/O, select, the GIL), at the line that waits; wall: both, in "
	  "one unit (microseconds), CPU samples weighing 1/HZ s; gil-wait: only the time threads wait "
	  "to take the GIL" },
	{ "sampler", OPT_SAMPLER, "KIND", "what takes CPU samples: timer (an interrupt on the sampled "
	  "thread, walked there), remote (a thread of pyperf reads the targets' running threads: they take "
	  "no interrupt; not with -a or --native), auto (measures an interrupt's cost here and takes "
	  "remote when the timer would cost a thread 5% or more at -F); default auto" },
	{ "gil", OPT_GIL, NULL, "CPU samples only of the thread holding the GIL (the view when "
	  "threads do not scale)" },
	{ "min-block", OPT_MIN_BLOCK, "DURATION", "offcpu/wall: drop waits shorter than DURATION "
	  "(e.g. 100us, 1ms), in the kernel" },
	{ "no-wait-reason", OPT_NO_WAIT_REASON, NULL, "offcpu/wall: no [sleep], [lock], [gil], [io] "
	  "or [poll] leaf frame naming what a thread waits in" },
	{ "native", OPT_NATIVE, NULL, "also the C frames: the native stack, unwound in the kernel from "
	  ".eh_frame, with each interpreter frame replaced by the Python frames it runs; 'symbol "
	  "(library)'" },
	{ "kernel", OPT_KERNEL, NULL, "with --native: also the kernel's frames of samples taken in the "
	  "kernel, 'symbol [kernel]'" },
	{ "native-memory", OPT_NATIVE_MEMORY, "SIZE", "with --native: kernel memory for unwind tables "
	  "(default 32M; files beyond it get '[unknown native]' frames)" },
	{ "async", OPT_ASYNC, NULL, "asyncio (CPython 3.11+): a sample in a task's code goes under "
	  "the chain of tasks awaiting it, 'task NAME' frames root first, in place of the event loop's "
	  "frames; with --mode wall or offcpu, pending tasks also count their waits at their await "
	  "lines (sampled every 10 ms or more)" },
	{ "frequency", 'F', "HZ", "samples per second per CPU (default " STR(DEFAULT_HZ) ", at most "
	  STR(OPT_HZ_MAX) ")" },
	{ "duration", 'd', "SECS", "stop after SECS seconds (default: until Ctrl-C or the process "
	  "exits); fractions and units allowed (0.5, 500ms, 2m, 1h)" },
	{ "output", 'o', "FILE", "where to write (default pyperf-PID-DATE-TIME.svg); the format "
	  "follows the extension: .svg flame graph, .folded or .txt folded stacks, .pb.gz or .pprof "
	  "pprof, .speedscope.json speedscope; '-': standard output, folded unless -f says otherwise" },
	{ "format", 'f', "FMT", "svg, folded, pprof or speedscope, whatever the extension" },
	{ "timeline", OPT_TIMELINE, NULL, "with a speedscope output: also each thread's samples and waits "
	  "in time order (speedscope's Time Order view shows the phases of the run), waits in wall and "
	  "offcpu modes as intervals with their [sleep]/[lock]/[io]... leaf; at most "
	  "2 million events kept (the aggregated profile has all)" },
	{ "title", OPT_TITLE, "TEXT", "flame graph title (pprof, speedscope: the profile's name)" },
	{ "threads", OPT_THREADS, NULL, "put 'thread NAME (TID)' under a 'process PID' root frame (NAME: threading's name, else the OS one)" },
	{ "no-lines", OPT_NO_LINES, NULL, "one frame per function, not per line" },
	{ "subprocesses", OPT_SUBPROCESSES, NULL, "also sample Python child processes (fork or "
	  "exec), each under a 'process PID' root frame" },
	{ "idle", OPT_IDLE, NULL, NULL }, /* not shown: says what to use instead */
	{ "verbose", 'v', NULL, "show libbpf's messages, and how often the timer sampler ran" },
	OPT_HELP_ROW,
	{ NULL },
};

static const struct opt_cmd record_cmd = {
	.name = WHO,
	.head =
	"usage: pyperf record -p PID [options]\n"
	"       pyperf record [options] -- COMMAND [ARGS...]\n"
	"       pyperf record -a [--every 60s -o DIR/] [options]\n"
	"\n"
	"Samples the Python stacks of a CPython process (3.8 to 3.15) and writes a flame\n"
	"graph or another profile. A running process is not stopped; a launched COMMAND\n"
	"is profiled from its start, and its exit status is pyperf's. The timers are on\n"
	"the target's threads only (-a: one per CPU).\n",
	.opts = record_options,
	.foot =
	"Frames are 'qualname (file:line)', root first. Needs root (or CAP_BPF and\n"
	"CAP_PERFMON plus CAP_SYS_PTRACE) and a kernel with BTF (5.17 or later).\n"
	"\n"
	"examples:\n"
	"  pyperf record -p 1234 -d 30 -o hot.svg\n"
	"  pyperf record -p 1234 -F 999 -o stacks.folded\n"
	"  pyperf record -p 1234 --mode offcpu -d 10 -o waits.svg\n"
	"  pyperf record -o app.svg -- python3 app.py --port 8080\n"
	"  pyperf record --mode wall --timeline -o run.speedscope.json -- python3 job.py\n"
	"  pyperf record -a --every 60s --keep 1440 -o /var/lib/pyperf/\n",
	.stop_at_operand = true, /* options end at the command to launch */
};

static const struct {
	const char *name;
	enum session_mode mode;
	bool gil_wait;
} modes[] = {
	{ "cpu", MODE_CPU, false },
	{ "offcpu", MODE_OFFCPU, false },
	{ "off-cpu", MODE_OFFCPU, false },
	{ "wall", MODE_WALL, false },
	{ "gil-wait", MODE_OFFCPU, true }, /* off-CPU time, only of waits to take the GIL */
};

static int parse_mode(const char *arg, struct record_opts *o)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(arg, modes[i].name)) {
			o->mode = modes[i].mode;
			o->gil_wait = modes[i].gil_wait;
			return 0;
		}
	}
	return opt_usage_error(WHO, "unknown mode '%s': use cpu, offcpu, wall or gil-wait", arg);
}

static int parse_format(const char *arg, struct record_opts *o)
{
	o->format = format_by_name(arg);
	if (o->format != FMT_AUTO)
		return 0;
	return opt_usage_error(WHO, "unknown format '%s': use svg, folded, pprof or speedscope", arg);
}

/* One option: converts and range-checks it. */
static int record_opt(int key, const char *arg, void *ctx)
{
	struct record_opts *o = ctx;
	double d;

	switch (key) {
	case 'p':
		return opt_pid_arg(WHO, arg, &o->pid);
	case 'F':
		if (opt_hz(arg, &o->hz))
			return opt_usage_error(WHO, "invalid frequency '%s': give 1 to %d samples per second",
					       arg, OPT_HZ_MAX);
		o->hz_given = true;
		break;
	case 'd':
		if (opt_duration(arg, OPT_ABOVE_ZERO, OPT_DURATION_MAX, &o->duration))
			return opt_usage_error(WHO, "invalid duration '%s': give seconds, e.g. 30 or 0.5 "
					       "(or 500ms, 2m, 1h)", arg);
		break;
	case OPT_EVERY:
		if (opt_duration(arg, 1, OPT_DURATION_MAX, &o->every))
			return opt_usage_error(WHO, "invalid period '%s': give e.g. 10s, 1m, 1h (at least 1s)",
					       arg);
		break;
	case OPT_MIN_BLOCK:
		if (opt_duration(arg, 0, MIN_BLOCK_MAX_S, &d))
			return opt_usage_error(WHO, "invalid --min-block '%s': give e.g. 100us, 1ms or 0.5s",
					       arg);
		o->min_block_ns = (uint64_t)(d * 1e9 + 0.5);
		o->min_block_given = true;
		break;
	case OPT_KEEP:
		if (opt_long(arg, 1, KEEP_MAX, &o->keep))
			return opt_usage_error(WHO, "invalid --keep '%s': give a number of files", arg);
		break;
	case OPT_MAX_DISK:
		if (opt_size(arg, 1, UINT64_MAX, &o->max_disk))
			return opt_usage_error(WHO, "invalid --max-disk '%s': give e.g. 500M or 2G", arg);
		break;
	case OPT_CPU_BUDGET:
		if (opt_percent(arg, OPT_ABOVE_ZERO, 100, &o->cpu_budget, NULL))
			return opt_usage_error(WHO, "invalid --cpu-budget '%s': give a percentage, e.g. 1 "
					       "or 0.5", arg);
		o->budget_given = true;
		break;
	case 'm':
		return parse_mode(arg, o);
	case 'f':
		return parse_format(arg, o);
	case 'o': o->output = arg; break;
	case OPT_TITLE: o->title = arg; break;
	case OPT_PUSH: o->push_url = arg; break;
	case OPT_LOG: o->log = arg; break;
	case 'a': o->all = true; break;
	case OPT_THREADS: o->threads = true; break;
	case OPT_NO_LINES: o->no_lines = true; break;
	case OPT_SUBPROCESSES: o->subprocesses = true; break;
	case OPT_GIL: o->gil_only = true; break;
	case OPT_NATIVE: o->native = true; break;
	case OPT_SAMPLER:
		o->sampler_given = true;
		return opt_sampler(WHO, arg, &o->sampler);
	case OPT_KERNEL: o->kernel = true; break;
	case OPT_ASYNC: o->async = true; break;
	case OPT_TIMELINE: o->timeline = true; break;
	case OPT_NATIVE_MEMORY:
		if (opt_size(arg, 1 << 20, 1ull << 30, &o->native_memory))
			return opt_usage_error(WHO, "invalid --native-memory '%s': give 1M to 1G, e.g. 64M", arg);
		break;
	case OPT_NO_WAIT_REASON: o->no_wait_reason = true; break;
	case 'v': o->verbose = true; break;
	case OPT_IDLE:
		return opt_usage_error(WHO, "--idle does not apply: CPU sampling only sees threads running "
				       "on a CPU; use --mode offcpu (where threads wait) or --mode wall (both)");
	default:
		return opt_usage_error(WHO, "option %d not handled", key);
	}
	return 0;
}

/* "pyperf-[all-]PID-DATE-TIME.EXT" in the current directory. */
static const char *default_output(const struct record_opts *o, char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32];

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(buf, len, "pyperf-%s%d-%s%s", o->all ? "all-" : "", o->pid ? (int)o->pid : (int)getpid(),
		 stamp, format_suffix(o->format == FMT_AUTO ? FMT_SVG : o->format));
	return buf;
}

/* The checks that relate options to each other, and the defaults that depend on others. */
static int check_args(struct record_opts *o, char *defname, size_t deflen)
{
	if ((o->command != NULL) + (o->pid != 0) + o->all > 1)
		return opt_usage_error(WHO, "give one of -p PID, -a or a command to run, not both");
	if (!o->pid && !o->command && !o->all)
		return opt_usage_error(WHO, "which process? give -p PID, -a, or a command after -- "
				       "(see 'pyperf record --help')");
	if (o->all && !o->hz_given)
		o->hz = ALL_DEFAULT_HZ; /* always-on: cheap by default */
	if (o->all && !o->budget_given && o->mode != MODE_OFFCPU) /* off-CPU: no rate to lower */
		o->cpu_budget = ALL_DEFAULT_BUDGET;
	if ((o->all || o->push_url) && o->format == FMT_AUTO && (!o->output || is_dir_name(o->output)))
		o->format = FMT_PPROF;
	if (o->every > 0 && (!o->output || !is_dir_name(o->output)))
		return opt_usage_error(WHO, "--every writes one file per period: give a directory with -o DIR/");
	if ((o->keep || o->max_disk) && !o->every)
		return opt_usage_error(WHO, "--keep and --max-disk apply to --every's period files");
	if (o->every > 0 && o->timeline)
		return opt_usage_error(WHO, "--timeline puts the whole run in time order in one file, and --every "
				       "writes a file per period: use one or the other");
	if (o->every > 0)
		return 0; /* file names are made per period */
	if (!o->output)
		o->output = default_output(o, defname, deflen);
	if (o->format == FMT_AUTO)
		o->format = format_from_path(o->output);
	if (o->push_url && o->format != FMT_AUTO && o->format != FMT_PPROF)
		return opt_usage_error(WHO, "--push sends pprof: use a .pb.gz output or --format pprof");
	if (o->format == FMT_AUTO)
		return opt_usage_error(WHO, "cannot tell the format of '%s' from its extension: use .svg, "
				       ".folded, .txt, .pb.gz, .pprof or .speedscope.json, or give --format",
				       o->output);
	return 0;
}

/* Options that would change nothing in the mode or format asked for are
 * refused, not ignored; 0, or the exit code of bad usage. */
static int check_applies(const struct record_opts *o)
{
	const struct {
		bool refused;
		const char *why;
	} rules[] = {
		{ o->mode == MODE_CPU && o->min_block_given,
		  "--min-block drops short waits: use it with --mode offcpu, wall or gil-wait" },
		{ o->mode == MODE_CPU && o->no_wait_reason,
		  "--no-wait-reason drops the leaf frame of waits: use it with --mode offcpu, wall or gil-wait" },
		{ o->mode == MODE_OFFCPU && o->gil_only,
		  "--gil filters CPU samples: use it with --mode cpu or wall (--mode gil-wait is the time "
		  "spent waiting for the GIL)" },
		{ o->mode == MODE_OFFCPU && o->budget_given,
		  "--cpu-budget lowers the sampling rate, and --mode offcpu records every wait: there is no "
		  "rate to lower" },
		{ o->sampler_given && o->mode == MODE_OFFCPU,
		  "--sampler chooses what takes CPU samples, and --mode offcpu takes none" },
		{ o->sampler == SAMPLER_REMOTE && o->native, OPT_SAMPLER_NO_NATIVE },
		{ o->sampler == SAMPLER_REMOTE && o->all,
		  "-a samples every process with a timer per CPU: --sampler remote follows given processes only" },
		{ o->kernel && !o->native, "--kernel adds kernel frames to native stacks: use it with --native" },
		{ o->native_memory && !o->native, "--native-memory sizes --native's unwind tables: use it with "
		  "--native" },
		{ o->async && o->native, "--async and --native do not combine yet: a task's logical stack "
		  "replaces Python frames only" },
		{ o->async && o->gil_wait, "--async adds the waits of tasks, which are not GIL waits: use "
		  "--mode wall or offcpu" },
		{ o->timeline && o->format != FMT_SPEEDSCOPE,
		  "--timeline writes speedscope's evented profiles: give -o FILE.speedscope.json or "
		  "--format speedscope" },
		{ o->title && o->format == FMT_FOLDED,
		  "--title names an SVG, pprof or speedscope profile: folded stacks have no title" },
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].refused)
			return opt_usage_error(WHO, "%s", rules[i].why);
	return 0;
}

/* 0 to record, -1 after --help, or the exit code of bad usage. */
static int parse_args(int argc, char **argv, struct record_opts *o, char *defname, size_t deflen)
{
	int first;

	memset(o, 0, sizeof(*o));
	o->hz = DEFAULT_HZ;
	o->sampler = SAMPLER_AUTO;
	int rc = opts_parse(&record_cmd, argc, argv, record_opt, o, &first);

	if (rc)
		return rc;
	if (first < argc)
		o->command = argv + first;
	rc = check_args(o, defname, deflen);
	return rc ? rc : check_applies(o);
}

enum stop_reason { STOP_DURATION, STOP_SIGNAL, STOP_EXITED, STOP_ERROR };

static void show_status(struct recorder *r, double started)
{
	uint64_t c[CNT__MAX];
	struct session_totals tot = session_totals(r->s);

	session_counters(r->s, c);
	fprintf(stderr, "\rpyperf: %.0fs, %" PRIu64 " samples, %" PRIu64 " lost\033[K",
		session_now() - started, tot.samples, c[CNT_RINGBUF_FULL] + tot.unresolved);
}

static int write_output(struct recorder *r, const char *path, uint64_t *nstacks_out);

/* Hands the profile just written to the push queue. */
static void push_file(struct recorder *r, const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	long len = -1;

	if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)len + 1)) && fread(buf, 1, (size_t)len, f) == (size_t)len)
		pusher_submit(r->pusher, buf, (size_t)len, r->start_unix_ns / 1000000000ull,
			      (r->start_unix_ns + r->duration_ns) / 1000000000ull + 1);
	else
		fprintf(stderr, "pyperf record: failed to read %s back for --push\n", path);
	free(buf);
	if (f)
		fclose(f);
}

/* Writes the period that just ended as its own file (its distinct stacks in
 * *nstacks) and starts the next. A period with nothing in it writes no file:
 * an empty file would take a --keep slot from one with samples. Nor does a
 * period end less than half a period before -d does: the last one runs on
 * to the end rather than leave a sliver of a file after it. */
static int write_period(struct recorder *r, uint64_t *nstacks)
{
	char path[PATH_MAX];
	struct timespec now;

	*nstacks = 0;
	if (!r->stopping && r->end_at > 0 && r->end_at - session_now() < r->opts.every / 2)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	uint64_t before = session_totals(r->s).samples;
	double secs = (double)(now_ns - r->period_start_unix_ns) / 1e9;

	if (session_counts_empty(r->s)) {
		fprintf(stderr, "pyperf: nothing sampled in %.0fs: no period file\n", secs);
	} else {
		archive_period_path(path, sizeof(path), r->opts.output, r->period_start_unix_ns,
				    format_suffix(r->opts.format));
		r->start_unix_ns = r->period_start_unix_ns;
		r->duration_ns = now_ns - r->period_start_unix_ns;
		if (write_output(r, path, nstacks))
			return -1;
		fprintf(stderr, "pyperf: %" PRIu64 " samples from %zu processes (%" PRIu64 " distinct stacks) "
			"in %.0fs -> %s\n", before - r->period_samples_base, session_nprocs(r->s), *nstacks, secs,
			path);
		r->periods++;
		if (*nstacks > r->max_period_stacks)
			r->max_period_stacks = *nstacks;
		if (r->opts.keep || r->opts.max_disk)
			r->pruned += archive_prune(r->opts.output, format_suffix(r->opts.format), r->opts.keep,
						   r->opts.max_disk);
	}
	r->period_samples_base = before;
	session_reset_counts(r->s);
	r->period_start_unix_ns = now_ns;
	return 0;
}

static volatile sig_atomic_t reopen_log;

static void on_hup(int sig)
{
	(void)sig;
	reopen_log = 1;
}

/* Points stderr at the end of the file path, creating it; 0 or -errno. The
 * file is opened before anything is closed, so on failure stderr is still
 * where it was. */
static int log_to(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);

	if (fd < 0)
		return -errno;
	fflush(stderr);
	if (fd == STDERR_FILENO) /* stderr was closed: the file took its place */
		return fcntl(fd, F_SETFD, 0) < 0 ? -errno : 0;
	int err = dup2(fd, STDERR_FILENO) < 0 ? -errno : 0;

	close(fd);
	return err;
}

/* SIGHUP with --log (logrotate moved the file): the new file. If it cannot be
 * opened (its directory gone, the disk full), the old one says so and keeps
 * the messages: a daemon does not stop recording over its log. */
static void reopen_log_file(const char *path)
{
	int err = log_to(path);

	if (err)
		fprintf(stderr, "pyperf record: cannot reopen log %s: %s; still writing to the old one\n",
			path, strerror(-err));
}

static uint64_t self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct budget {
	double last_wall;
	uint64_t last_self, last_bpf;
};

/*
 * --cpu-budget: pyperf's CPU time plus the sampler's kernel run time, as a
 * share of all online CPUs over the last interval. Over budget, the rate
 * drops in proportion (with a margin); far under it, it climbs back toward
 * the rate asked for.
 */
static void check_budget(struct recorder *r, struct budget *b)
{
	double wall = session_now();
	uint64_t self = self_cpu_ns(), bpf = session_bpf_ns(r->s);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double used = 100.0 * (double)((self - b->last_self) + (bpf - b->last_bpf)) /
		      ((wall - b->last_wall) * 1e9 * (double)(ncpu > 0 ? ncpu : 1));
	int hz = session_hz(r->s), want = hz;

	b->last_wall = wall;
	b->last_self = self;
	b->last_bpf = bpf;
	if (used > r->opts.cpu_budget && hz > 1)
		want = (int)((double)hz * r->opts.cpu_budget / used * 0.8);
	else if (used < r->opts.cpu_budget / 4 && hz < r->opts.hz)
		want = hz * 2;
	if (want < 1)
		want = 1;
	if (want > r->opts.hz)
		want = r->opts.hz;
	if (want != hz && session_set_hz(r->s, want) == 0)
		fprintf(stderr, "pyperf: %s the CPU budget (%.2f%% used, %.2f%% allowed): sampling at %d Hz now\n",
			want < hz ? "over" : "well under", used, r->opts.cpu_budget, want);
}

static enum stop_reason run_loop(struct recorder *r)
{
	struct budget budget = { session_now(), self_cpu_ns(), session_bpf_ns(r->s) };
	double last_budget = budget.last_wall;
	int pidfd = r->opts.all ? -1 : (int)syscall(SYS_pidfd_open, session_target(r->s)->pid, 0);
	double started = session_now(), last_status = started, last_scan = started;
	double period_end = r->opts.every > 0 ? started + r->opts.every : 0;
	double deadline = r->opts.duration > 0 ? started + r->opts.duration : 0;
	bool live = isatty(STDERR_FILENO);
	enum stop_reason why = STOP_ERROR;

	for (;;) {
		if (live && session_now() - last_status >= 1.0) {
			show_status(r, started);
			last_status = session_now();
		}
		/* Records wait at most this long to be symbolized (the kernel wakes us only
		 * when much is queued): short, so code objects that live briefly
		 * (exec, eval) are still there to be read. */
		int timeout_ms = 20;

		if (r->opts.subprocesses && session_now() - last_scan >= 0.1) {
			session_scan_children(r->s);
			last_scan = session_now();
		}
		/* New processes are found within a second; /proc is not read more often. */
		if (r->opts.all && session_now() - last_scan >= 1.0) {
			session_scan_all(r->s);
			last_scan = session_now();
		}
		if (r->opts.cpu_budget > 0 && session_now() - last_budget >= BUDGET_CHECK_S) {
			check_budget(r, &budget);
			last_budget = session_now();
		}
		if (reopen_log && r->opts.log) {
			reopen_log = 0;
			reopen_log_file(r->opts.log);
		}
		if (period_end && session_now() >= period_end) {
			uint64_t n;

			if (write_period(r, &n)) {
				why = STOP_ERROR;
				break;
			}
			period_end += r->opts.every;
			if (period_end < session_now()) /* a slow write: skip, do not burst */
				period_end = session_now() + r->opts.every;
		}

		if (deadline) {
			double left = deadline - session_now();

			if (left <= 0) {
				why = STOP_DURATION;
				break;
			}
			if (left * 1000 < timeout_ms)
				timeout_ms = (int)(left * 1000) + 1;
		}
		int err = session_poll(r->s, timeout_ms);

		if (session_stop_signal) {
			why = STOP_SIGNAL;
			break;
		}
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "pyperf record: failed to read samples: %s\n", strerror(-err));
			why = STOP_ERROR;
			break;
		}
		bool exited;

		if (r->opts.all) {
			exited = false;
		} else if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

			exited = poll(&pfd, 1, 0) > 0;
		} else {
			exited = proc_start_time(session_target(r->s)->pid) != session_target(r->s)->start_time;
		}
		if (exited) {
			why = STOP_EXITED;
			break;
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	if (live)
		fputs("\r\033[K", stderr);
	return why;
}

/* pprof's sample type for a mode's values; NULL for CPU sample counts. */
static const char *mode_value_type(enum session_mode m)
{
	return m == MODE_OFFCPU ? "off_cpu" : m == MODE_WALL ? "wall" : NULL;
}

static int write_output(struct recorder *r, const char *path, uint64_t *nstacks_out)
{
	struct profile prof;
	struct outfile out;
	int err;

	profile_init(&prof);
	if (session_profile(r->s, &prof, r->opts.format == FMT_PPROF && r->opts.all)) {
		profile_free(&prof);
		fprintf(stderr, "pyperf record: out of memory while aggregating\n");
		return -1;
	}
	*nstacks_out = prof.len;
	err = outfile_open(&out, path);
	if (err) {
		fprintf(stderr, "pyperf record: failed to create %s: %s\n", path, outfile_strerror(err));
		profile_free(&prof);
		return -1;
	}
	struct profile_meta meta = {
		/* The rate achieved, so that count x period stays CPU time when
		 * the kernel throttled sampling. */
		.period_ns = r->opts.mode == MODE_CPU ? (uint64_t)(1e9 / session_effective_hz(r->s) + 0.5) :
			     session_unit_ns(r->s),
		.value_type = mode_value_type(r->opts.mode),
		.start_unix_ns = r->start_unix_ns,
		.duration_ns = r->duration_ns,
		.name = r->opts.title,
	};

	if (r->opts.format == FMT_FOLDED) {
		err = profile_write_folded(&prof, out.f);
	} else if (r->opts.format == FMT_PPROF) {
		err = profile_write_pprof(&prof, session_labels(r->s), &meta, out.f);
	} else if (r->opts.format == FMT_SPEEDSCOPE && r->opts.timeline) {
		r->tl.period_ns = (uint64_t)(1e9 / session_effective_hz(r->s) + 0.5);
		err = profile_write_speedscope_timeline(&prof, &r->tl, session_labels(r->s), &meta, out.f);
	} else if (r->opts.format == FMT_SPEEDSCOPE) {
		err = profile_write_speedscope(&prof, session_labels(r->s), &meta, out.f);
	} else {
		struct fg_options fo;
		char title[128], subtitle[256];

		fg_options_init(&fo);
		char rate[32] = "off-CPU";

		if (r->opts.mode != MODE_OFFCPU)
			snprintf(rate, sizeof(rate), "%d Hz", r->opts.hz);
		snprintf(title, sizeof(title), "%s", r->opts.title ? r->opts.title :
			 r->opts.gil_wait ? "pyperf: GIL-wait flame graph" :
			 r->opts.mode == MODE_OFFCPU ? "pyperf: off-CPU flame graph" :
			 r->opts.mode == MODE_WALL ? "pyperf: wall-clock flame graph" : "pyperf: CPU flame graph");
		if (r->opts.all)
			snprintf(subtitle, sizeof(subtitle), "all Python processes, %s", rate);
		else
			snprintf(subtitle, sizeof(subtitle), "PID %d (%s), CPython %u.%u, %s", (int)session_target(r->s)->pid,
				 session_target(r->s)->comm, (session_target(r->s)->version_hex >> 24) & 0xff,
				 (session_target(r->s)->version_hex >> 16) & 0xff, rate);
		if (r->opts.gil_wait)
			fo.count_name = "µs waiting for the GIL";
		else if (r->opts.mode == MODE_OFFCPU)
			fo.count_name = "µs of off-CPU time";
		else if (r->opts.mode == MODE_WALL)
			fo.count_name = "µs of wall time";
		fo.title = title;
		fo.subtitle = subtitle;
		err = profile_write_svg(&prof, &fo, out.f);
	}
	profile_free(&prof);
	if (err) {
		err = outfile_fail(&out, err);
		fprintf(stderr, "pyperf record: failed to write %s: %s\n", outfile_name(path), strerror(-err));
		return -1;
	}
	err = outfile_commit(&out);
	if (err) {
		fprintf(stderr, "pyperf record: failed to write %s: %s\n", outfile_name(path), strerror(-err));
		return -1;
	}
	if (r->pusher)
		push_file(r, path);
	return 0;
}

/* Where native stacks ended early, by kind, and the unwind tables' size. */
static void print_native_summary(struct session *s)
{
	static const char *const kinds[NSTOP__MAX] = {
		[NSTOP_NO_MAPPING] = "in no mapped file (JIT or trampoline code)",
		[NSTOP_NO_TABLE] = "in a file without unwind information",
		[NSTOP_NO_ROW] = "at a pc its file's table does not cover",
		[NSTOP_UNSUPPORTED] = "at an unwind rule pyperf does not follow",
		[NSTOP_READ_FAULT] = "at unreadable stack memory",
		[NSTOP_BAD_FRAME] = "at a frame that made no sense",
		[NSTOP_TRUNCATED] = "deeper than " STR(PYPERF_MAX_NATIVE) " frames",
	};
	struct native_stats ns;
	char line[1024];
	size_t len = 0;

	session_native_stats(s, &ns);
	for (int k = 1; k < NSTOP__MAX; k++)
		if (ns.stops[k] && len < sizeof(line))
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%" PRIu64 " %s", len ? ", " : "",
						ns.stops[k], kinds[k]);
	if (len)
		fprintf(stderr, "pyperf: native stacks cut short, marked [unknown native]: %s\n", line);
	fprintf(stderr, "pyperf: unwind tables of %u files, %.1f MiB%s\n", ns.tables, ns.table_bytes / 1048576.0,
		ns.no_room ? " (full: raise --native-memory)" : "");
}

/* --async: how many samples went to tasks, and how task waits were taken. */
static void print_async_summary(struct recorder *r)
{
	struct session_totals t = session_totals(r->s);

	fprintf(stderr, "pyperf: %" PRIu64 " samples in asyncio tasks, under their 'task' frames", t.async_in_task);
	if (t.async_no_task)
		fprintf(stderr, "; %" PRIu64 " in coroutines or generators of no task known (a task that ended "
			"before it was read, or not a task), with their normal stacks", t.async_no_task);
	fputc('\n', stderr);
	if (r->opts.mode != MODE_CPU)
		fprintf(stderr, "pyperf: waits of pending tasks sampled %" PRIu64 " times, every %.1f ms on "
			"average (%" PRIu64 " task waits added)\n", t.async_passes, t.async_pass_ns / 1e6,
			t.async_waits);
}

/* --timeline: how much of the run it holds. */
static void print_timeline_summary(struct recorder *r)
{
	fprintf(stderr, "pyperf: timeline of %zu threads, %zu events (speedscope: Time Order view)\n",
		r->tl.nthreads, r->tl.len);
	if (r->tl.full_at_ns)
		fprintf(stderr, "pyperf: warning: the timeline stopped at %u events (%.0f MiB), %.1f s into the "
			"recording: %" PRIu64 " later events are only in the profile of all threads aggregated\n",
			TIMELINE_MAX_EVENTS, TIMELINE_MAX_EVENTS * sizeof(struct timeline_event) / 1048576.0,
			r->tl.full_at_ns > r->tl.origin_ns ? (r->tl.full_at_ns - r->tl.origin_ns) / 1e9 : 0.0,
			r->tl.dropped);
	else if (r->tl.dropped)
		fprintf(stderr, "pyperf: warning: out of memory: %" PRIu64 " events left off the timeline (they "
			"are in the profile of all threads aggregated)\n", r->tl.dropped);
	if (r->tl_untimed)
		fprintf(stderr, "pyperf: %" PRIu64 " waits of pending asyncio tasks are only in the aggregated "
			"profile: each spans a pass over the tasks, not a moment of one thread\n", r->tl_untimed);
}

static void print_summary(struct recorder *r, enum stop_reason why, uint64_t nstacks)
{
	uint64_t c[CNT__MAX];
	struct symbolizer_stats ss = { 0 };

	session_counters(r->s, c);
	session_symbolizer_stats(r->s, &ss);
	const char *reason = why == STOP_EXITED ? "the process exited" :
			     why == STOP_SIGNAL ? "interrupted" : why == STOP_DURATION ? "duration reached" : "error";

	if (r->opts.every > 0) /* stacks are distinct within a period, not across them */
		fprintf(stderr, "pyperf: %" PRIu64 " samples, %" PRIu64 " period files, at most %" PRIu64
			" distinct stacks in one (%s)\n", session_totals(r->s).samples, r->periods,
			r->max_period_stacks, reason);
	else
		fprintf(stderr, "pyperf: %" PRIu64 " samples, %" PRIu64 " distinct stacks (%s)\n",
			session_totals(r->s).samples, nstacks, reason);
	double achieved = session_achieved_hz(r->s);

	if (achieved > 0)
		fprintf(stderr, "pyperf: samples came at ~%.0f Hz of the %d Hz asked (%s); values use %.0f Hz\n",
			achieved, r->opts.hz, session_kernel_capped(r->s) ?
			"the kernel throttled sampling: see kernel.perf_event_max_sample_rate and "
			"kernel.perf_cpu_time_max_percent" :
			"timer interrupts came late or not at all: a busy or virtual machine", achieved);
	if (r->opts.gil_wait)
		fprintf(stderr, "pyperf: counts are microseconds spent waiting to take the GIL (%" PRIu64
			" other waits left out)\n", session_totals(r->s).not_gil_wait);
	else if (r->opts.mode == MODE_OFFCPU)
		fputs("pyperf: counts are microseconds of off-CPU (blocked) time\n", stderr);
	if (c[CNT_NOT_GIL_HOLDER])
		fprintf(stderr, "pyperf: %" PRIu64 " samples of threads not holding the GIL left out (--gil)\n",
			c[CNT_NOT_GIL_HOLDER]);
	else if (r->opts.mode == MODE_WALL)
		fprintf(stderr, "pyperf: counts are microseconds of wall time: on-CPU samples at %.0f us "
			"each plus off-CPU (blocked) time\n", 1e6 / session_effective_hz(r->s));
	if (c[CNT_OFFCPU_SHORT])
		fprintf(stderr, "pyperf: %" PRIu64 " waits shorter than --min-block dropped\n",
			c[CNT_OFFCPU_SHORT]);
	struct session_totals tot = session_totals(r->s);
	uint64_t lost = c[CNT_RINGBUF_FULL] + tot.unresolved + tot.unread;

	if (lost)
		fprintf(stderr, "pyperf: lost %" PRIu64 " samples: %" PRIu64 " ring buffer full, %" PRIu64
			" stacks not resolved, %" PRIu64 " not read in time at the end\n", lost,
			c[CNT_RINGBUF_FULL], tot.unresolved, tot.unread);
	else
		fprintf(stderr, "pyperf: lost 0 samples\n");
	if (c[CNT_NO_TSTATE] + c[CNT_NO_FRAMES] && !r->opts.native)
		fprintf(stderr, "pyperf: %" PRIu64 " samples not in Python code (thread without a Python "
			"thread state, or running no Python frame), not shown (--native shows them)\n",
			c[CNT_NO_TSTATE] + c[CNT_NO_FRAMES]);
	if (r->opts.native)
		print_native_summary(r->s);
	if (r->opts.async)
		print_async_summary(r);
	if (r->opts.timeline)
		print_timeline_summary(r);
	if (session_totals(r->s).hidden)
		fprintf(stderr, "pyperf: %" PRIu64 " samples only in functions not yet started (3.11+ "
			"prologue frames, hidden as CPython hides them), not shown\n", session_totals(r->s).hidden);
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
	const char *chosen;
	enum sampler_kind used = session_sampler(r->s, &chosen);
	uint64_t ticks, late;

	session_remote_ticks(r->s, &ticks, &late);
	if (used == SAMPLER_REMOTE)
		fprintf(stderr, "pyperf: sampler: %s (%s); %" PRIu64 " wakeups%s\n", sampler_kind_name(used), chosen,
			ticks, late ? ", some late (skipped)" : "");
	else if (used == SAMPLER_TIMER)
		fprintf(stderr, "pyperf: sampler: %s (%s)\n", sampler_kind_name(used), chosen);
	if (r->opts.verbose && late)
		fprintf(stderr, "pyperf: the remote sampler skipped %" PRIu64 " wakeups it was late for\n", late);
	if (r->opts.verbose && used == SAMPLER_REMOTE)
		fprintf(stderr, "pyperf: the remote sampler took %" PRIu64 " stacks as one read showed them, and read %"
			PRIu64 " again (the thread had returned past them while they were read)\n", c[CNT_ONE_READ],
			c[CNT_CHANGED]);
	if (r->opts.verbose && used == SAMPLER_REMOTE)
		fprintf(stderr, "pyperf: the remote sampler ran on a sampled thread's CPU (preempting it) for %" PRIu64
			" of %" PRIu64 " samples\n", c[CNT_REMOTE_PREEMPTED], c[CNT_SAMPLES]);
	if (r->opts.verbose)
		fprintf(stderr, "pyperf: the timer sampler ran %" PRIu64 " times, %" PRIu64 " of them in sampled "
			"processes\n", c[CNT_RUNS], c[CNT_SAMPLES]);
}

/* The output file, or with --every the directory (made if missing, one
 * level, like mkdir), can be written; 0, or 1 after saying why. */
static int check_output(const struct record_opts *o)
{
	if (o->every > 0) {
		if (mkdir(o->output, 0755) != 0 && errno != EEXIST) {
			fprintf(stderr, "pyperf record: cannot create %s: %s\n", o->output, strerror(errno));
			return 1;
		}
		if (access(o->output, W_OK | X_OK) != 0) {
			fprintf(stderr, "pyperf record: cannot write into %s: %s\n", o->output, strerror(errno));
			return 1;
		}
		return 0;
	}
	if (o->push_url && strcmp(o->output, "-") == 0) {
		fprintf(stderr, "pyperf record: --push reads back the file it sends: give -o FILE.pb.gz, "
			"not -\n");
		return 1;
	}
	int w = outfile_check_writable(o->output);

	if (w) {
		fprintf(stderr, "pyperf record: cannot write %s: %s\n", o->output, outfile_strerror(w));
		return 1;
	}
	return 0;
}

/* --timeline: each record counted, with its time. */
static void on_timeline_event(void *ctx, const struct session_event *ev)
{
	struct recorder *r = ctx;
	const struct stack_entry *st = ev->ce->stack;

	if (!ev->time_ns) {
		r->tl_untimed++;
		return;
	}
	if (!ev->cpu && !ev->weight_ns)
		return; /* a wait shorter than --min-block, ended by the end of the recording */
	timeline_add(&r->tl, ev->ce->origin, ev->time_ns, ev->weight_ns, st->labels, st->nlabels);
}

static int init_session(struct recorder *r)
{
	struct session_config cfg = {
		.hz = r->opts.hz, .verbose = r->opts.verbose, .threads = r->opts.threads,
		.no_lines = r->opts.no_lines, .command = r->opts.command, .who = "pyperf record",
		.subprocesses = r->opts.subprocesses, .all = r->opts.all,
		/* pprof labels name the thread of every sample */
		.per_thread = r->opts.all && r->opts.format == FMT_PPROF,
		.measure_cost = r->opts.cpu_budget > 0,
		.mode = r->opts.mode, .min_block_ns = r->opts.min_block_ns,
		.no_wait_reason = r->opts.no_wait_reason,
		.gil_only = r->opts.gil_only, .gil_wait = r->opts.gil_wait,
		.native = r->opts.native, .kernel = r->opts.kernel, .native_table_bytes = r->opts.native_memory,
		.async = r->opts.async, .sampler = r->opts.sampler, .sampler_given = r->opts.sampler_given,
		.sample_times = r->opts.timeline,
	};

	if (r->opts.timeline)
		cfg.per_thread = true; /* each count knows its thread (origin): one timeline per thread */

	r->s = session_new(&cfg);
	if (r->s)
		r->opts.hz = session_hz(r->s); /* at most the kernel's maximum */
	if (r->s && r->opts.timeline)
		session_on_event(r->s, on_timeline_event, r);
	return r->s ? 0 : -1;
}

/* --push: the queue that sends each profile; 0, or -1 after saying why. */
static int start_pusher(struct recorder *r)
{
	char host[128] = "localhost", labels[256], perr[256];

	gethostname(host, sizeof(host) - 1);
	if (r->opts.pid)
		snprintf(labels, sizeof(labels), "{host=%s,pid=%d}", host, (int)r->opts.pid);
	else
		snprintf(labels, sizeof(labels), "{host=%s}", host);
	r->pusher = pusher_new(r->opts.push_url, r->opts.mode == MODE_OFFCPU ? "pyperf.off_cpu" :
			       r->opts.mode == MODE_WALL ? "pyperf.wall" : "pyperf.cpu", labels, r->opts.hz, PUSH_QUEUE, perr,
			       sizeof(perr));
	if (!r->pusher) {
		fprintf(stderr, "pyperf record: %s\n", perr);
		return -1;
	}
	return 0;
}

/* Runs the command to profile; 0 once its interpreter is found, else the exit code. */
static int launch_command(struct recorder *r)
{
	int exit_status = -1;
	int rc = session_launch(r->s, &exit_status);

	if (rc < 0) /* finish() waits for the command */
		return session_stop_signal ? 128 + session_stop_signal : 1;
	if (rc > 0) {
		fprintf(stderr, "pyperf record: %s exited (status %d) without running a CPython "
			"interpreter pyperf could find\n", r->opts.command[0], exit_status);
		return exit_status > 0 ? exit_status : 1;
	}
	return 0;
}

/* Attaches to the one target and says what is recorded; 0 or -1. */
static int attach_target(struct recorder *r)
{
	char what[64], vbuf[32];

	if (session_attach(r->s))
		return -1;
	if (session_target(r->s)->warning[0])
		fprintf(stderr, "pyperf: warning: %s\n", session_target(r->s)->warning);
	if (r->opts.mode == MODE_OFFCPU)
		snprintf(what, sizeof(what), "off-CPU time");
	else
		snprintf(what, sizeof(what), "%sat %d Hz", r->opts.mode == MODE_WALL ? "wall time " : "",
			 r->opts.hz);
	fprintf(stderr, "pyperf: %s PID %d (%s, CPython %s%s) %s%s\n",
		r->opts.mode == MODE_CPU ? "sampling" : "recording", (int)session_target(r->s)->pid,
		session_target(r->s)->comm, py_version_str(session_target(r->s)->version_hex, vbuf, sizeof(vbuf)),
		session_target(r->s)->shared_lib ? ", libpython" : "", what,
		r->opts.duration > 0 || r->opts.command ? "" : "; Ctrl-C to stop");
	return 0;
}

/* Loads the sampler and points it at what to record; 0, or the exit code. */
static int start(struct recorder *r)
{
	char err[512];

	if (init_session(r))
		return 1;
	if (r->opts.push_url && start_pusher(r))
		return 1;
	if (r->opts.pid && session_open_target(r->s, r->opts.pid, err, sizeof(err)) != 0) {
		fprintf(stderr, "pyperf record: %s\n", err);
		return 1;
	}
	if (session_load(r->s))
		return 1;
	if (r->opts.command) {
		int rc = launch_command(r);

		if (rc)
			return rc;
	}
	if (r->opts.all) {
		size_t n = session_scan_all(r->s);

		fprintf(stderr, "pyperf: sampling every Python process (%zu now) at %d Hz%s\n", n, r->opts.hz,
			r->opts.every > 0 ? "" : "; Ctrl-C to stop");
		return 0;
	}
	return attach_target(r) ? 1 : 0;
}

/* Samples until the end, writes the profile and the summary; 0 or 1. */
static int record(struct recorder *r)
{
	struct timespec t0;

	clock_gettime(CLOCK_REALTIME, &t0);
	r->start_unix_ns = (uint64_t)t0.tv_sec * 1000000000ull + (uint64_t)t0.tv_nsec;
	clock_gettime(CLOCK_MONOTONIC, &t0); /* the kernel's ktime: the timeline's time 0 */
	r->tl.origin_ns = (uint64_t)t0.tv_sec * 1000000000ull + (uint64_t)t0.tv_nsec;
	r->period_start_unix_ns = r->start_unix_ns;
	double mono0 = session_now();

	r->end_at = r->opts.duration > 0 ? mono0 + r->opts.duration : 0;
	enum stop_reason why = run_loop(r);

	r->duration_ns = (uint64_t)((session_now() - mono0) * 1e9);
	uint64_t nstacks = 0;

	/* Stop sampling before writing so the summary and the file agree. */
	session_stop_sampling(r->s);
	if (why == STOP_ERROR)
		return 1;
	r->stopping = true;
	if (r->opts.every > 0 ? write_period(r, &nstacks) : write_output(r, r->opts.output, &nstacks))
		return 1;
	print_summary(r, why, nstacks);
	if (r->opts.every > 0)
		fprintf(stderr, "pyperf: wrote %" PRIu64 " period files into %s%s\n", r->periods, r->opts.output,
			r->pruned ? " (oldest pruned)" : "");
	else
		fprintf(stderr, "pyperf: wrote %s\n", outfile_name(r->opts.output));
	if (!session_totals(r->s).samples)
		fprintf(stderr, "pyperf: no Python samples: %s\n", r->opts.mode == MODE_OFFCPU ?
			"did a Python thread block while recording?" : "was the process running Python code on a CPU?");
	return 0;
}

/* Lets the push queue drain and collects a launched command; the exit code. */
static int finish(struct recorder *r, int ret)
{
	if (r->pusher) {
		struct push_stats ps;

		/* What the server has not taken yet gets a few seconds more. */
		pusher_finish(r->pusher, PUSH_FINISH_MS, &ps);
		if (ret == 0 || ps.sent || ps.dropped || ps.pending)
			fprintf(stderr, "pyperf: pushed %" PRIu64 " profiles to %s; %" PRIu64 " dropped, %" PRIu64
				" not delivered, %" PRIu64 " retries\n", ps.sent, r->opts.push_url, ps.dropped,
				ps.pending, ps.retries);
		if (ret == 0 && (ps.dropped || ps.pending))
			ret = 1;
	}
	if (r->opts.command && r->s && session_child_running(r->s)) {
		/* The command's exit status is pyperf's, once the profile is safe. */
		int st = session_child_status(r->s, false);

		if (st < 0 && session_stop_signal && session_stop_count < 2)
			fprintf(stderr, "pyperf: waiting for %s to exit; interrupt again to stop waiting\n",
				r->opts.command[0]);
		else if (st < 0 && !session_stop_signal)
			/* The duration ended first: say why pyperf does not return yet. */
			fprintf(stderr, "pyperf: waiting for %s to exit (its status is pyperf's); Ctrl-C to stop it\n",
				r->opts.command[0]);
		if (st < 0)
			st = session_child_status(r->s, true);
		if (st < 0 && session_stop_count >= 2)
			fprintf(stderr, "pyperf: stopped waiting for %s, which still runs\n", r->opts.command[0]);
		if (ret == 0)
			ret = st >= 0 ? st : session_stop_signal ? 128 + session_stop_signal : 1;
	}
	session_free(r->s);
	timeline_free(&r->tl);
	return ret;
}

int cmd_record(int argc, char **argv)
{
	static struct recorder rec;
	struct recorder *r = &rec;
	char defname[128];

	memset(r, 0, sizeof(*r));
	timeline_init(&r->tl);
	int ret = parse_args(argc, argv, &r->opts, defname, sizeof(defname));

	if (ret)
		return ret < 0 ? 0 : ret;
	if (check_output(&r->opts))
		return 1;
	if (r->opts.log) {
		int err = log_to(r->opts.log);

		if (err) {
			fprintf(stdout, "pyperf record: cannot open log %s: %s\n", r->opts.log, strerror(-err));
			return 1;
		}
		setvbuf(stderr, NULL, _IOLBF, 0);
	}
	session_install_signals();
	signal(SIGHUP, on_hup);
	ret = start(r);
	if (ret == 0)
		ret = record(r);
	return finish(r, ret);
}
