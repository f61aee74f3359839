/* SPDX-License-Identifier: MIT */
/*
 * Python thread names (threading.Thread.name) read from the interpreter's
 * own registry: threading._active of the main interpreter maps each
 * thread's ident (its pthread_t, the thread state's thread_id) to its
 * Thread object, whose _name is the name and _native_id the TID (3.8+).
 * Threads without a Thread object (started from C, or _DummyThread
 * placeholders) are not listed: they keep their OS name.
 */
#ifndef PYPERF_THREADNAMES_H
#define PYPERF_THREADNAMES_H
#include <stddef.h>
#include <stdint.h>

#include "python/pyobj.h"

#define PYTHREAD_NAMES_MAX 8192      /* _active entries read at most */

struct pythread_name {
	uint64_t ident;          /* threading.get_ident(): the pthread_t */
	int32_t tid;             /* Thread._native_id, 0 when unknown */
	char name[64];           /* UTF-8, cut with "..." */
};

/* Fills out with up to cap named threads. Returns how many, or -1 when
 * threading is not imported or its registry cannot be read. */
int pythread_names(const struct pyobj_reader *r, struct pythread_name *out, size_t cap);

#endif
