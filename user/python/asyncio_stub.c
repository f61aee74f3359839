/*
 * TEMPORARY STUB, to be deleted when user/python/asyncio.c (the real
 * reader of asyncio.h, another branch of issue #19) is merged: weak
 * definitions so record --async links and its unit tests run before the
 * reader exists. The real definitions override these at link time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/asyncio.h"

__attribute__((weak)) int async_tasks_read(const struct memsrc *m, const struct py_target *t,
					   struct async_tasks *out, char *err, size_t errlen)
{
	(void)m;
	(void)t;
	memset(out, 0, sizeof(*out));
	snprintf(err, errlen, "this build has no asyncio task reader yet");
	return -ENOSYS;
}

__attribute__((weak)) void async_tasks_free(struct async_tasks *a)
{
	free(a->tasks);
	memset(a, 0, sizeof(*a));
}

__attribute__((weak)) const struct async_task *async_task_by_coro(const struct async_tasks *a, uint64_t coro)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->tasks[i].coro == coro)
			return &a->tasks[i];
	return NULL;
}

__attribute__((weak)) const struct async_task *async_task_by_addr(const struct async_tasks *a, uint64_t addr)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->tasks[i].addr == addr)
			return &a->tasks[i];
	return NULL;
}

__attribute__((weak)) uint16_t async_coro_frame_offset(const struct py_target *t)
{
	(void)t;
	return 0;
}
