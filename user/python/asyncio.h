/*
 * asyncio tasks of a CPython process (live or core), read from outside:
 * every task's name, state, coroutine stack (following nested awaits) and
 * the tasks awaiting it. 3.14+ from the interpreter's own AsyncioDebug
 * offsets; 3.11-3.13 from per-version layouts made from the interpreters'
 * files (layouts/), checked against real interpreters. Every read can fail
 * or be garbage: lists and chains are bounded, cycles cut, and a task that
 * changed while read is marked, never followed forever.
 */
#ifndef PYPERF_ASYNCIO_H
#define PYPERF_ASYNCIO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target/memsrc.h"
#include "target/pyproc.h"

#define ASYNC_MAX_TASKS 65536       /* tasks read per process */
#define ASYNC_MAX_AWAITERS 64       /* awaited_by entries kept per task */
#define ASYNC_MAX_FRAMES 256        /* coroutine frames kept per task */

enum async_task_state {
	ASYNC_PENDING = 0,              /* suspended: awaiting something */
	ASYNC_RUNNING,                  /* the task its loop's thread runs now */
	ASYNC_DONE,                     /* finished (result, exception or cancelled), not yet collected */
};

struct async_task {
	uint64_t addr;                  /* the Task object */
	uint64_t coro;                  /* its coroutine object */
	char name[128];                 /* task.get_name(); "" when unreadable */
	enum async_task_state state;
	int32_t tid;                    /* thread running its loop (3.14+: whose list holds it); 0 unknown */
	bool inconsistent;              /* changed while read: shown, marked */
	/* Coroutine frames, innermost first (the awaited coroutine's frame at
	 * its await line first, the task's own coroutine last), packed as
	 * pyperf_frame_pack() does (code address and instruction index), so
	 * the symbolizer names them like sampled frames. */
	uint64_t frames[ASYNC_MAX_FRAMES];
	size_t nframes;
	uint64_t awaited_by[ASYNC_MAX_AWAITERS]; /* addresses of the tasks awaiting it */
	size_t nawaited_by;
};

struct async_tasks {
	struct async_task *tasks;       /* malloc'd */
	size_t n;
	bool truncated;                 /* more than ASYNC_MAX_TASKS */
	bool incomplete;                /* a task list looped or was unreadable past some point: tasks may be missing */
};

/*
 * Reads every task of the process t (memory m). 0, or -errno with a
 * one-line reason in err (e.g. "asyncio is not imported", "CPython 3.10
 * has no tasks pyperf can read: 3.11 or later").
 */
int async_tasks_read(const struct memsrc *m, const struct py_target *t, struct async_tasks *out, char *err,
		     size_t errlen);
/*
 * The same for a core file: m is coredump_memsrc(core). (A live process
 * finds the _asyncio module's debug offsets through /proc/PID/maps; a core
 * through the files it maps.)
 */
struct coredump;
int async_tasks_read_core(const struct memsrc *m, const struct py_target *t, struct coredump *core,
			  struct async_tasks *out, char *err, size_t errlen);
void async_tasks_free(struct async_tasks *a);

/* The task whose coroutine object is coro, or NULL. */
const struct async_task *async_task_by_coro(const struct async_tasks *a, uint64_t coro);
/* The task at addr, or NULL. */
const struct async_task *async_task_by_addr(const struct async_tasks *a, uint64_t addr);

/*
 * For record --async: the offset of the frame embedded in a coroutine
 * object (PyGenObject.gi_iframe, 3.11+): a generator-owned frame at F
 * belongs to the coroutine at F - offset. 0 when unknown.
 */
uint16_t async_coro_frame_offset(const struct py_target *t);

/*
 * For tests (tests/unit/test_asyncio.c): Py_AsyncioModuleDebugOffsets
 * (3.14+), as 64-bit words, and the reader of one circular task list at
 * head (3.14+ only: t->version_hex and t->layout must be 3.14+), with tid
 * as every listed task's thread. Does what async_tasks_read does with one
 * thread's list, without looking for the offsets or the threads.
 */
struct async_debug_offsets {
	uint64_t task_size, task_name, task_awaited_by, task_is_task, task_awaited_by_is_set, task_coro,
		task_node;
	uint64_t interp_size, interp_tasks_head;
	uint64_t tstate_size, tstate_running_loop, tstate_running_task, tstate_tasks_head;
};
int async_tasks_read_list(const struct memsrc *m, const struct py_target *t, const struct async_debug_offsets *dbg,
			  uint64_t head, int32_t tid, struct async_tasks *out, char *err, size_t errlen);

#endif
