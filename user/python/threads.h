/*
 * Every Python thread's stack of a live process or a core, as pyperf dump
 * shows it: the thread states walked (until two walks agree when the
 * process runs on), each thread's TID, name, OS state and whether it holds
 * the GIL, the OS threads of the process, and the source lines of frames.
 * The command (cmd/dump.c) opens the target and fills this; output/dump.h
 * prints it.
 */
#ifndef PYPERF_THREADS_H
#define PYPERF_THREADS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "native/native.h"
#include "output/frametab.h"
#include "python/asyncio.h"
#include "python/pylocals.h"
#include "python/pywalk.h"
#include "python/symbolize.h"
#include "python/waits.h"
#include "target/memsrc.h"
#include "target/pyproc.h"
#include "util/u64map.h"

/* Source lines are cut at SRC_LINE_MAX bytes (plus "..."). */
#define SRC_LINE_MAX 160
#define CMDLINE_MAX 4096

struct dump_opts {
	pid_t pid;
	const char *core;
	const char *exe;
	bool json;
	bool native;
	bool async_tasks;           /* --async: asyncio tasks instead of threads */
	bool locals;                /* --locals: each frame's variables */
	bool all;                   /* -a: every Python process */
};

struct dthread {
	struct pywalk_tstate ts;
	int32_t tid;                /* 0: unknown */
	char name[64];              /* Python name (threading), else OS name; "" when unknown */
	char os_name[64];           /* OS name (comm), "" when unknown */
	char state;                 /* /proc state letter, 0 when unknown */
	int gil;                    /* 1 holds, 0 does not, -1 unknown */
	uint32_t flags;             /* STACK_* */
	bool changing;              /* walks never agreed */
	size_t n;
	uint64_t *frames;           /* innermost first */
	uint8_t *entry;             /* pywalk_frames' entry marks */
	uint64_t *addrs;            /* each frame's address (pywalk_frames_at) */
	struct native_stack native; /* --native */
	/* --native, a thread running on a CPU: its stack as the in-kernel
	 * sampler saw it, native and Python frames merged, innermost first
	 * (labels of struct dump's tab); NULL when not sampled */
	const char **sampled;
	size_t nsampled;
	bool running;               /* --native: on a CPU when its registers were asked for */
	struct thread_wait wait;    /* what it waits on (python/thread_waits.c) */
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
	uint64_t *adr_a, *adr_b;    /* --locals: frame addresses of the walks */
	struct pylocals *locals;    /* --locals: the reader */
	struct async_tasks aio;     /* --async */
};

/* The OS threads (TIDs, sorted) into d->tasks: of the live process d->o.pid
 * from /proc (read_tasks, -errno when unlistable), or of the core (every
 * NT_PRSTATUS). 0 or -ENOMEM. */
int read_tasks(struct dump *d);
int core_tasks(struct dump *d);

/* Walks every thread state of d->t into d->th, sorted by TID; a negative
 * value when the thread list is unreadable, -ENOMEM when out of memory. */
int collect(struct dump *d);

/* What every thread of d->th waits on, into its wait (python/thread_waits.c). */
void collect_waits(struct dump *d);

/* Wait-for cycles among d->th (an edge: a thread's wait.blocker_tid), each
 * as indices into d->th in order; returns how many cycles were found (at
 * most max), their lengths in lens and members in idx (n threads at most
 * in all). */
size_t find_deadlocks(const struct dump *d, size_t *idx, size_t *lens, size_t max);

/* Frees what collect, read_tasks and the command attached to d. */
void dump_free(struct dump *d);

/* The source text of line `line` of `file` (interned, so cached by pointer),
 * whitespace stripped and cut at SRC_LINE_MAX bytes, into out; false when
 * the file or line cannot be read. */
bool source_line(struct dump *d, const char *file, int line, char *out, size_t cap);

/* The name of a /proc state letter ("running", ...), NULL when unknown. */
const char *state_name(char st);

/* Whether tid has a Python thread state among d->th. */
bool is_python_tid(const struct dump *d, int32_t tid);

/* Whether d->tasks[i] is an OS thread without a Python thread state (a C
 * thread, a helper); if so its name (or "") goes into name. */
bool other_thread(const struct dump *d, size_t i, char *name, size_t cap);

#endif
