/* SPDX-License-Identifier: MIT */
/* Python thread names from threading._active (python/threadnames.h). */
#include <string.h>

#include "python/threadnames.h"

struct collect {
	const struct pyobj_reader *r;
	struct pythread_name *out;
	size_t n, cap;
};

static bool add_thread(void *ctx, uint64_t key, uint64_t thread)
{
	struct collect *c = ctx;
	struct pythread_name *t = &c->out[c->n];
	int64_t ident, tid;
	uint64_t name, native;

	if (c->n >= c->cap)
		return false;
	/* placeholders for threads Python did not start keep the OS name */
	if (pyobj_is_type(c->r, thread, "_DummyThread") || !pyobj_long(c->r, key, &ident) ||
	    !pyobj_getattr(c->r, thread, "_name", &name) || !pyobj_str(c->r, name, t->name, sizeof(t->name), NULL) ||
	    !t->name[0])
		return true;
	t->ident = (uint64_t)ident;
	t->tid = 0;
	if (pyobj_getattr(c->r, thread, "_native_id", &native) && pyobj_long(c->r, native, &tid) && tid > 0 &&
	    tid <= INT32_MAX)
		t->tid = (int32_t)tid;
	c->n++;
	return true;
}

int pythread_names(const struct pyobj_reader *r, struct pythread_name *out, size_t cap)
{
	uint64_t mod = pyobj_module(r, "threading"), active;
	struct collect c = { .r = r, .out = out, .cap = cap };

	if (!mod || !pyobj_getattr(r, mod, "_active", &active) ||
	    pyobj_dict_each(r, active, add_thread, &c, PYTHREAD_NAMES_MAX) < 0)
		return -1;
	return (int)c.n;
}
