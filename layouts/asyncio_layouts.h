/* SPDX-License-Identifier: MIT */
/*
 * Per-CPython-version offsets an outside reader of asyncio tasks needs
 * (user/python/asyncio.c), 3.11+, beyond the plain objects of
 * object_layouts.h: generated into asyncio_table.c by
 * layouts/gen/asyncio_gen.sh from the headers (asyncio_probe.c) and, for
 * the private TaskObj of 3.11-3.13, the DWARF of the _asyncio extension.
 * 3.14+ take the task offsets from the process (_AsyncioDebug) instead:
 * their task_* fields are PY_OFF_NONE except those FutureObj shares with
 * every version (loop, callback0, callbacks).
 */
#ifndef PYPERF_ASYNCIO_LAYOUTS_H
#define PYPERF_ASYNCIO_LAYOUTS_H
#include <stdbool.h>
#include <stdint.h>

#include "pyperf.h"

struct py_async_layout {
	uint32_t version_hex;
	/* PyGenObject / PyCoroObject */
	uint16_t gen_frame_state;       /* int8_t gi_frame_state */
	uint16_t gen_iframe;            /* the embedded _PyInterpreterFrame */
	int8_t frame_created, frame_suspended;
	int8_t frame_suspended_yield_from; /* 3.13+; -128 before (told by RESUME's oparg) */
	int8_t frame_cleared;
	/* _PyInterpreterFrame */
	uint16_t frame_stacktop;        /* int, 3.11-3.13: index into localsplus */
	uint16_t frame_stackpointer;    /* pointer, 3.14+ */
	uint16_t frame_localsplus;
	uint8_t resume_opcode;          /* 3.11-3.12: RESUME, oparg >= 2 after await */
	/* TaskObj (3.11-3.13, from DWARF) */
	uint16_t task_size, task_loop, task_state, task_fut_waiter, task_coro, task_name;
	uint16_t task_callback0, task_callbacks;
};

extern const struct py_async_layout py_async_layouts[];
extern const unsigned py_async_layouts_count;

/* The entry of version_hex's major.minor: the same release if present
 * (*exact = true), else the nearest one. NULL for none. */
const struct py_async_layout *py_async_layout_find(uint32_t version_hex, bool *exact);

#endif
