/*
 * pyperf dump: every Python thread's stack right now, read from the target's
 * memory with process_vm_readv (the target is never stopped), or from a core
 * file. The walk (pywalk.c) produces the same frames as record's BPF walker
 * and the same symbolizer labels them. This file is the command: its options,
 * opening the target, and the order of the steps; python/threads.c collects
 * the threads and output/dump_text.c, output/dump_json.c print them.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "native/native.h"
#include "output/dump.h"
#include "output/frametab.h"
#include "python/symbolize.h"
#include "python/threads.h"
#include "target/coredump.h"
#include "target/memsrc.h"
#include "target/pyproc.h"
#include "util/u64map.h"

#define WHO "dump"

enum { OPT_CORE = OPT_LONG_ONLY, OPT_EXE, OPT_ASYNC };

static const struct opt_spec dump_options[] = {
	{ "pid", 'p', "PID", "process to inspect" },
	{ "core", OPT_CORE, "CORE", "read an ELF core file instead of a live process" },
	{ "exe", OPT_EXE, "PYTHON", "the executable that dumped CORE (default: the path recorded in "
	  "the core; it replaces the mapped file of the same name, else the program's); libraries "
	  "are read from the paths recorded in the core" },
	{ "json", 'j', NULL, "one JSON document on stdout instead of text" },
	{ "native", 'n', NULL, "add each thread's native (C) frames, unwound from its registers with "
	  "the files' call frame information and symbolized from their ELF symbol tables; in a live "
	  "process only threads blocked in the kernel have readable registers (a running thread says "
	  "so)" },
	{ "async", OPT_ASYNC, NULL, "print the asyncio tasks instead of the threads (CPython 3.11-3.15): per "
	  "thread running an event loop, a tree of tasks rooted at those no task awaits, each as 'task NAME "
	  "[running|pending|done]' with its coroutine stack (outermost first, down to the await it is "
	  "suspended in), the tasks it awaits (gather, TaskGroup, await task) under it" },
	OPT_HELP_ROW,
	{ NULL },
};

static const struct opt_cmd dump_cmd = {
	.name = WHO,
	.head =
	"usage: pyperf dump -p PID [options]\n"
	"       pyperf dump --core CORE [--exe PYTHON] [options]\n"
	"\n"
	"Prints the Python stack of every thread of a running CPython process (3.8 to\n"
	"3.15), innermost frame first, like gdb's 'thread apply all py-bt' but without\n"
	"stopping the process: its memory is read with process_vm_readv. Threads blocked\n"
	"in time.sleep, a lock, Thread.join or epoll_wait show where they wait.\n",
	.opts = dump_options,
	.foot =
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
	"  pyperf dump -p 1234 --async\n"
	"  pyperf dump --core core.1234 --exe /usr/bin/python3.11\n",
};

/* One option: converts and range-checks it. */
static int dump_opt(int key, const char *arg, void *ctx)
{
	struct dump_opts *o = ctx;

	switch (key) {
	case 'p':
		return opt_pid_arg(WHO, arg, &o->pid);
	case OPT_CORE: o->core = arg; break;
	case OPT_EXE: o->exe = arg; break;
	case 'j': o->json = true; break;
	case 'n': o->native = true; break;
	case OPT_ASYNC: o->async_tasks = true; break;
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
	if (o->pid && o->core)
		return opt_usage_error(WHO, "give either -p PID or --core CORE, not both");
	if (!o->pid && !o->core)
		return opt_usage_error(WHO, "which process? give -p PID or --core CORE (see 'pyperf dump --help')");
	if (o->async_tasks && o->native)
		return opt_usage_error(WHO, "--async shows tasks, not threads: drop --native");
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
			fprintf(stderr, "pyperf dump: cannot read the interpreter's thread list%s%s\n",
				d->core ? " from the core file" : "", cut[0] ? " (it is cut short)" : "");
		goto out;
	}
	if (d->o.async_tasks) {
		/* Tasks pyperf cannot read (version, asyncio not imported): one
		 * line, exit 1. */
		int ar = d->core ? async_tasks_read_core(&d->src, &d->t, d->core, &d->aio, err, sizeof(err))
				 : async_tasks_read(&d->src, &d->t, &d->aio, err, sizeof(err));

		if (ar) {
			fprintf(stderr, "pyperf dump: %s\n", ar == -ENOMEM ? "out of memory" : err);
			goto out;
		}
	}
	if (!d->o.async_tasks)
		collect_waits(d);
	if (d->o.native && unwind_native(d)) {
		fprintf(stderr, "pyperf dump: out of memory\n");
		goto out;
	}
	if (d->o.async_tasks && d->o.json)
		print_async_json(d, stdout);
	else if (d->o.async_tasks)
		print_async_text(d, stdout);
	else if (d->o.json)
		print_json(d, stdout);
	else
		print_text(d, stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pyperf dump: failed to write the output: %s\n", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	async_tasks_free(&d->aio);
	dump_free(d);
	return ret;
}
