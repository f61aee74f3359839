/*
 * pyperf dump: every Python thread's stack right now, read from the target's
 * memory with process_vm_readv (the target is never stopped), or from a core
 * file. The walk (pywalk.c) produces the same frames as record's BPF walker
 * and the same symbolizer labels them. This file is the command: its options,
 * opening the target, and the order of the steps; python/threads.c collects
 * the threads and output/dump_text.c, output/dump_json.c print them.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "native/native.h"
#include "output/dump.h"
#include "output/frametab.h"
#include "python/symbolize.h"
#include "python/threads.h"
#include "sampler/snapshot.h"
#include "target/coredump.h"
#include "target/memsrc.h"
#include "target/pyproc.h"
#include "util/u64map.h"

#define WHO "dump"

enum { OPT_CORE = OPT_LONG_ONLY, OPT_EXE, OPT_ASYNC, OPT_LOCALS };

static const struct opt_spec dump_options[] = {
	{ "pid", 'p', "PID", "process to inspect" },
	{ "all", 'a', NULL, "every Python process on the host, one after another: a header line per "
	  "process, then its threads (--json: an array with one document per process); a process that "
	  "exits meanwhile is skipped with a note on stderr" },
	{ "core", OPT_CORE, "CORE", "read an ELF core file instead of a live process" },
	{ "exe", OPT_EXE, "PYTHON", "the executable that dumped CORE (default: the path recorded in "
	  "the core; it replaces the mapped file of the same name, else the program's); libraries "
	  "are read from the paths recorded in the core" },
	{ "json", 'j', NULL, "one JSON document on stdout instead of text" },
	{ "native", 'n', NULL, "add each thread's native (C) frames, unwound from its registers with "
	  "the files' call frame information and symbolized from their ELF symbol tables; a thread "
	  "running on a CPU (whose registers cannot be read without stopping it) is sampled there by "
	  "the in-kernel unwinder of record --native instead, for up to half a second, and shown as "
	  "that sample's stack, native and Python frames merged" },
	{ "locals", OPT_LOCALS, NULL, "under each frame, its variables: arguments first, then other locals, then "
	  "cell and free variables, each 'KIND NAME = VALUE'; values as Python prints them for None, bool, int "
	  "(past 40 digits its first and last 10), float, str and bytes (cut after 200 characters, with the "
	  "length), 'list(len=N) [first items]' for list, tuple, dict and set (nested down to 2 levels), "
	  "'<Type at 0xADDR>' for other objects, '<unset>' for a variable not assigned yet; in --json a "
	  "\"locals\" array per frame" },
	{ "async", OPT_ASYNC, NULL, "print the asyncio tasks instead of the threads (CPython 3.11-3.15): per "
	  "thread running an event loop, a tree of tasks rooted at those no task awaits, each as 'task NAME "
	  "[running|pending|done]' with its coroutine stack (outermost first, down to the await it is "
	  "suspended in), the tasks it awaits (await task, gather, TaskGroup, shield) under it" },
	OPT_HELP_ROW,
	{ NULL },
};

static const struct opt_cmd dump_cmd = {
	.name = WHO,
	.head =
	"usage: pyperf dump -p PID [options]\n"
	"       pyperf dump -a [options]\n"
	"       pyperf dump --core CORE [--exe PYTHON] [options]\n"
	"\n"
	"Prints the Python stack of every thread of a running CPython process (3.8 to\n"
	"3.15), innermost frame first, like gdb's 'thread apply all py-bt' but without\n"
	"stopping the process: its memory is read with process_vm_readv. Threads blocked\n"
	"in time.sleep, a lock, Thread.join or epoll_wait show where they wait, and what\n"
	"they wait on.\n",
	.opts = dump_options,
	.foot =
	"For each thread: its TID, name, OS state (running, sleeping, disk wait, ...),\n"
	"'holds the GIL' when the interpreter says so, what it waits on (from its\n"
	"blocking syscall, its innermost Python frames and the interpreter's state):\n"
	"  waiting for the GIL (held by thread TID)    sleeping (N.N s left)\n"
	"  waiting on a lock (Lock at 0xADDR; ...)      waiting on a lock (RLock at\n"
	"  0xADDR, owned by thread TID)   waiting on a condition / an event / queue.get\n"
	"  joining thread TID \"NAME\"   reading from TCP socket A -> B / pipe / file PATH\n"
	"  waiting in select/poll/epoll on N fds   in syscall NAME   running\n"
	"then frames as 'qualname (file:line)' with the source line when the file is\n"
	"readable. The name is the Python one (threading.Thread.name, \"MainThread\"),\n"
	"from the interpreter's thread registry, with 'os name \"...\"' when the OS name\n"
	"differs; threads Python did not start keep their OS name (JSON: name, os_name).\n"
	"Threads waiting for one another in a cycle (RLock owners, the GIL holder,\n"
	"joins) are named after the threads: 'deadlock: thread A waits for thread B\n"
	"(file:line) -> thread B waits for thread A (file:line)'. A plain Lock records\n"
	"no owner: its address is shown, to match across threads. From a core file the\n"
	"syscall and its arguments come from the registers; descriptors are not in it.\n"
	"A stack that kept changing while read is marked '(stack changing; may be\n"
	"inconsistent)'. A core file records no OS state, and OS names only of the\n"
	"main thread (Python names come from its memory, as live).\n"
	"Needs root (or CAP_SYS_PTRACE) for other users' processes.\n"
	"\n"
	"examples:\n"
	"  pyperf dump -p 1234\n"
	"  pyperf dump -p 1234 --json > stacks.json\n"
	"  pyperf dump -p 1234 --locals\n"
	"  pyperf dump -p 1234 --async\n"
	"  pyperf dump -a\n"
	"  pyperf dump --core core.1234 --exe /usr/bin/python3.11\n",
};

/* One option: converts and range-checks it. */
static int dump_opt(int key, const char *arg, void *ctx)
{
	struct dump_opts *o = ctx;

	switch (key) {
	case 'p':
		return opt_pid_arg(WHO, arg, &o->pid);
	case 'a': o->all = true; break;
	case OPT_CORE: o->core = arg; break;
	case OPT_EXE: o->exe = arg; break;
	case 'j': o->json = true; break;
	case 'n': o->native = true; break;
	case OPT_ASYNC: o->async_tasks = true; break;
	case OPT_LOCALS: o->locals = true; break;
	default:
		return opt_usage_error(WHO, "option %d not handled", key);
	}
	return 0;
}

/* 0 to dump, -1 after --help, or the exit code of bad usage. */
static int parse_args(int argc, char **argv, struct dump_opts *o)
{
	int first;

	memset(o, 0, sizeof(*o));
	int rc = opts_parse(&dump_cmd, argc, argv, dump_opt, o, &first);

	if (rc)
		return rc;
	if (first < argc)
		return opt_usage_error(WHO, "unexpected argument '%s'; run 'pyperf dump --help'", argv[first]);
	if ((o->pid != 0) + (o->core != NULL) + o->all > 1)
		return opt_usage_error(WHO, "give one of -p PID, -a or --core CORE");
	if (!o->pid && !o->core && !o->all)
		return opt_usage_error(WHO, "which process? give -p PID, -a or --core CORE (see 'pyperf dump --help')");
	if (o->all && o->async_tasks)
		return opt_usage_error(WHO, "--async goes with one process (-p or --core), not -a");
	if (o->async_tasks && o->native)
		return opt_usage_error(WHO, "--async shows tasks, not threads: drop --native");
	if (o->async_tasks && o->locals)
		return opt_usage_error(WHO, "--async shows tasks, not threads: drop --locals");
	if (o->exe && !o->core)
		return opt_usage_error(WHO, "--exe goes with --core");
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

/* How long dump --native waits for the in-kernel sampler to catch every
 * running thread on a CPU. */
#define SAMPLE_RUNNING_S 0.5

/* Threads on a CPU (registers unreadable from /proc) get a stack from the
 * in-kernel sampler instead; those it misses keep the reason. A sampler
 * that cannot start is said once: the rest of the dump stands. */
static int sample_running(struct dump *d, size_t nrunning)
{
	struct snapshot_stack *ss = calloc(nrunning, sizeof(*ss));
	char err[256] = "";
	size_t k = 0;

	if (!ss)
		return -ENOMEM;
	for (size_t i = 0; i < d->nth; i++)
		if (d->th[i].running)
			ss[k++].tid = d->th[i].tid;
	if (snapshot_running(d->o.pid, ss, k, &d->tab, SAMPLE_RUNNING_S, err, sizeof(err))) {
		fprintf(stderr, "pyperf dump: native frames of running threads: %s\n", err);
	} else {
		for (size_t j = 0, i = 0; j < k; j++) {
			while (i < d->nth && d->th[i].tid != ss[j].tid)
				i++;
			if (i == d->nth)
				break;
			if (ss[j].n) {
				d->th[i].sampled = ss[j].labels;
				d->th[i].nsampled = ss[j].n;
				d->th[i].native.why[0] = '\0';
				ss[j].labels = NULL;
			} else {
				snprintf(d->th[i].native.why, sizeof(d->th[i].native.why),
					 "thread ran but was not on a CPU when sampled for %.1f s", SAMPLE_RUNNING_S);
			}
		}
	}
	snapshot_free(ss, k);
	free(ss);
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static int unwind_native(struct dump *d)
{
	size_t nrunning = 0;

	d->nat = native_ctx_new(&d->src, d->o.pid, d->core);
	if (!d->nat)
		return -ENOMEM;
	for (size_t i = 0; i < d->nth; i++) {
		struct dthread *th = &d->th[i];

		th->running = native_unwind(d->nat, th->tid, &th->native) == -EBUSY;
		nrunning += th->running;
		native_merge(d->nat, &th->native, th->frames, th->entry, th->n, d->t.layout.flags);
	}
	return nrunning && !d->core ? sample_running(d, nrunning) : 0;
}

/*
 * Reads the target d->o names (a PID or a core) into d. Returns 0, 1 after
 * printing why (one line), or -ESRCH when a process of -a exited first.
 */
static int dump_read(struct dump *d)
{
	char err[512] = "";

	frametab_init(&d->tab);
	u64map_init(&d->files);
	int r = open_target(d, err, sizeof(err));

	if (r) {
		if (d->o.all && proc_start_time(d->o.pid) == 0)
			return -ESRCH;
		fprintf(stderr, "pyperf dump: %s\n", err[0] ? err : "cannot read the target");
		return 1;
	}
	char cut[128] = "";

	/* Said first: what follows is read from what is left. */
	if (d->core && coredump_truncated(d->core, cut, sizeof(cut)))
		fprintf(stderr, "pyperf dump: %s: frames in the missing part show as unreadable\n", cut);
	if (d->core && coredump_warning(d->core)[0])
		fprintf(stderr, "pyperf dump: warning: %s\n", coredump_warning(d->core));
	/* e.g. _Py_DebugOffsets unusable, the table of the same release used instead */
	if (d->t.warning[0])
		fprintf(stderr, "pyperf: warning: %s\n", d->t.warning);
	d->sym = symbolizer_new_src(&d->t, &d->tab, &d->src);
	if (!d->sym) {
		fprintf(stderr, "pyperf dump: out of memory\n");
		return 1;
	}
	r = collect(d);
	if (r == -ENOMEM) {
		fprintf(stderr, "pyperf dump: out of memory\n");
		return 1;
	}
	if (r < 0) {
		if (!d->core && proc_start_time(d->o.pid) != d->t.start_time) {
			if (d->o.all)
				return -ESRCH;
			fprintf(stderr, "pyperf dump: PID %d exited while being read\n", (int)d->o.pid);
		} else {
			fprintf(stderr, "pyperf dump: cannot read the interpreter's thread list%s%s\n",
				d->core ? " from the core file" : "", cut[0] ? " (it is cut short)" : "");
		}
		return 1;
	}
	if (d->o.async_tasks) {
		/* Tasks pyperf cannot read (version, asyncio not imported): one
		 * line, exit 1. */
		int ar = d->core ? async_tasks_read_core(&d->src, &d->t, d->core, &d->aio, err, sizeof(err))
				 : async_tasks_read(&d->src, &d->t, &d->aio, err, sizeof(err));

		if (ar) {
			fprintf(stderr, "pyperf dump: %s\n", ar == -ENOMEM ? "out of memory" : err);
			return 1;
		}
	} else {
		collect_waits(d);
	}
	if (d->o.locals) {
		/* Values are read while printing, frame by frame: memory stays
		 * bounded whatever the number of threads. */
		d->locals = malloc(sizeof(*d->locals));
		r = d->locals ? pylocals_init(d->locals, &d->src, &d->t, err, sizeof(err)) : -ENOMEM;
		if (r) {
			free(d->locals);
			d->locals = NULL;
			fprintf(stderr, "pyperf dump: --locals: %s\n", r == -ENOMEM ? "out of memory" : err);
			return 1;
		}
	}
	if (d->o.native && unwind_native(d)) {
		fprintf(stderr, "pyperf dump: out of memory\n");
		return 1;
	}
	return 0;
}

static void dump_print(struct dump *d)
{
	if (d->o.async_tasks && d->o.json)
		print_async_json(d, stdout);
	else if (d->o.async_tasks)
		print_async_text(d, stdout);
	else if (d->o.json)
		print_json(d, stdout);
	else
		print_text(d, stdout);
}

static void dump_reset(struct dump *d)
{
	struct dump_opts o = d->o;

	async_tasks_free(&d->aio);
	dump_free(d);
	memset(d, 0, sizeof(*d));
	d->o = o;
}

/* Is pid running an initialized CPython? (what record -a samples) */
static bool is_python(pid_t pid)
{
	struct py_target t;
	char err[256];

	return py_target_open(pid, &t, err, sizeof(err)) == 0;
}

/* dump -a: every Python process, in PID order. 0, or 1 when none could be
 * dumped. */
static int dump_all(struct dump *d)
{
	pid_t *pids = NULL;
	size_t n = 0, cap = 0, shown = 0;
	DIR *dir = opendir("/proc");
	struct dirent *de;
	int ret = 1;

	if (!dir) {
		fprintf(stderr, "pyperf dump: failed to list /proc: %s\n", strerror(errno));
		return 1;
	}
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (*end || v <= 0 || v > INT_MAX || v == getpid())
			continue;
		if (n == cap) {
			pid_t *np = realloc(pids, (cap ? 2 * cap : 256) * sizeof(*np));

			if (!np) {
				closedir(dir);
				free(pids);
				fprintf(stderr, "pyperf dump: out of memory\n");
				return 1;
			}
			pids = np;
			cap = cap ? 2 * cap : 256;
		}
		pids[n++] = (pid_t)v;
	}
	closedir(dir);
	qsort(pids, n, sizeof(*pids), cmp_pid);
	if (d->o.json)
		fputs("[\n", stdout);
	for (size_t i = 0; i < n; i++) {
		if (!is_python(pids[i]))
			continue;
		dump_reset(d);
		d->o.pid = pids[i];
		int r = dump_read(d);

		if (r == -ESRCH) {
			fprintf(stderr, "pyperf dump: PID %d exited while being read: skipped\n", (int)pids[i]);
			continue;
		}
		if (r)
			continue;
		if (d->o.json && shown)
			fputs(",\n", stdout);
		dump_print(d);
		shown++;
	}
	if (d->o.json)
		fputs("]\n", stdout);
	if (shown)
		ret = 0;
	else
		fprintf(stderr, "pyperf dump: no Python process found%s\n", geteuid() ? " (run as root to see other users' processes)" : "");
	free(pids);
	return ret;
}

int cmd_dump(int argc, char **argv)
{
	static struct dump dump;
	struct dump *d = &dump;
	int ret = 1;

	memset(d, 0, sizeof(*d));
	int pa = parse_args(argc, argv, &d->o);

	if (pa)
		return pa < 0 ? 0 : pa;
	if (d->o.all)
		ret = dump_all(d);
	else if (dump_read(d) == 0) {
		dump_print(d);
		ret = 0;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pyperf dump: failed to write the output: %s\n", strerror(errno));
		ret = 1;
	}
	dump_reset(d);
	return ret;
}
