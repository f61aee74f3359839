/*
 * asyncio tasks read from outside (python/asyncio.h).
 *
 * 3.14+: each thread state heads a circular list of its tasks (llist_node
 * inside the task, offsets in the _asyncio module's _AsyncioDebug, found by
 * its ELF section .AsyncioDebug in the mapped files), plus the interpreter's
 * list for tasks of threads that are gone; awaited_by is a field.
 * 3.11-3.13: the task sets the _asyncio module exports (sys.modules via the
 * interpreter state: 3.11 _all_tasks, 3.12+ _scheduled_tasks and
 * _eager_tasks; _current_tasks maps loops to their running task), with
 * offsets from layouts/asyncio_table.c; awaited_by is rebuilt from what each
 * task waits for (a task, a gather future's children, or the future
 * asyncio.shield made for a task) and from the TaskGroup a child reports its
 * completion to.
 * Every read is bounded; nothing read is trusted beyond a type check.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asyncio_layouts.h"
#include "pyperf_frame.h"
#include "python/asyncio.h"
#include "python/pystr.h"
#include "python/pywalk.h"
#include "target/coredump.h"
#include "target/elfsym.h"

#define ASYNC_MAX_SET 262144        /* slots of one set's hash table */
#define ASYNC_MAX_DICT 65536        /* entries of one dict */
#define ASYNC_MAX_LIST 4096         /* items of a gather's children list */
#define ASYNC_NAME_READ 512         /* bytes of a string object read at once */
#define ASYNC_MAX_SHIELD 4          /* shields of shields followed */
#define ASYNC_MAX_CELLS 8           /* cells of a shield callback's closure (2 in CPython) */

/* 3.11-3.13 type flags (Include/object.h) */
#define TPFLAGS_INLINE_VALUES (1ul << 2)  /* 3.13 */
#define TPFLAGS_MANAGED_DICT (1ul << 4)

struct rd {
	const struct memsrc *m;
	const struct py_target *t;
	const struct py_layout *L;
	const struct py_async_layout *A;
	unsigned minor;
	struct pystr_layout strl;
	/* task field offsets for this version */
	uint32_t task_name, task_coro, task_state, task_loop, task_fut_waiter, task_awaited_by,
		task_awaited_by_is_set, task_node, task_size;
	uint64_t coro_type;             /* type of native coroutines, once seen */
	uint64_t task_type;             /* first task's type: the others are compared to it */
	uint64_t func_type;             /* type of Python functions, once seen */
};

static bool plausible(uint64_t p)
{
	return p >= 4096 && p < PYPERF_USER_ADDR_LIMIT && !(p & 7);
}

static bool rd64(const struct rd *r, uint64_t addr, uint64_t *out)
{
	return plausible(addr & ~7ull) && memsrc_read(r->m, addr, out, 8) == 0;
}

static uint64_t ptr_at(const struct rd *r, uint64_t addr)
{
	uint64_t v;

	return rd64(r, addr, &v) && plausible(v) ? v : 0;
}

static uint64_t type_of(const struct rd *r, uint64_t obj)
{
	return plausible(obj) ? ptr_at(r, obj + r->L->object_type) : 0;
}

/* Does the type of obj have exactly this tp_name? */
static bool type_is(const struct rd *r, uint64_t obj, const char *name)
{
	uint64_t tp = type_of(r, obj), np;
	char buf[32];
	size_t n = strlen(name) + 1;

	if (!tp || n > sizeof(buf) || !rd64(r, tp + r->A->type_name, &np) || !np)
		return false;
	return memsrc_read(r->m, np, buf, n) == 0 && memcmp(buf, name, n) == 0;
}

/* A str object as UTF-8 (cut to outlen); false when obj is no readable str. */
static bool read_str(const struct rd *r, uint64_t obj, char *out, size_t outlen)
{
	uint8_t buf[ASYNC_NAME_READ];
	struct pystr_header h;

	if (!plausible(obj))
		return false;
	size_t got = memsrc_read_partial(r->m, obj, buf, sizeof(buf));

	if (got < r->strl.ascii_size || pystr_parse_header(&r->strl, buf, got, &h) || h.data_offset > got)
		return false;
	uint64_t want = (uint64_t)h.length * h.kind;
	size_t have = got - h.data_offset;

	if (want > have)
		want = have - have % h.kind; /* names longer than a read are cut */
	pystr_to_utf8(h.kind, buf + h.data_offset, (size_t)want, (int64_t)(want / h.kind), out, outlen);
	return true;
}

static bool str_equals(const struct rd *r, uint64_t obj, const char *s)
{
	char buf[64];

	return read_str(r, obj, buf, sizeof(buf)) && strcmp(buf, s) == 0;
}

/* A small int object (up to two 30-bit digits), for names like Task-7 and
 * thread ids. 3.12+: lv_tag (sign in the low 2 bits, digits << 3). */
static bool read_int(const struct rd *r, uint64_t obj, int64_t *out)
{
	uint64_t w[2];

	if (!plausible(obj) || memsrc_read(r->m, obj + 16, w, sizeof(w)))
		return false;
	uint64_t ndig, neg;

	if (r->minor >= 12) {
		ndig = w[0] >> 3;
		neg = (w[0] & 3) == 2;
	} else {
		int64_t sz = (int64_t)w[0];

		neg = sz < 0;
		ndig = (uint64_t)(sz < 0 ? -sz : sz);
	}
	if (ndig > 3)
		return false;
	uint32_t d[3] = { (uint32_t)w[1], (uint32_t)(w[1] >> 32), 0 };

	if (ndig == 3 && memsrc_read(r->m, obj + 32, &d[2], 4))
		return false;
	uint64_t v = 0;

	for (uint64_t i = ndig; i-- > 0;)
		v = (v << 30) | (d[i] & 0x3fffffff);
	*out = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

/*
 * Looks a str key up in the dict keys object keys (values: a split dict's
 * values array, or 0); sets *index to the entry's index. Walks the entries
 * (no hashing: only the keys' text is compared).
 */
static bool keys_lookup(const struct rd *r, uint64_t keys, uint64_t values, const char *name, uint64_t *val)
{
	const struct py_async_layout *A = r->A;
	uint8_t hdr[48];

	if (!plausible(keys) || memsrc_read(r->m, keys, hdr, sizeof(hdr)))
		return false;
	uint8_t log2_size = hdr[A->keys_log2_size], log2_index = hdr[A->keys_log2_index_bytes];
	uint8_t kind = hdr[A->keys_kind];
	int64_t nentries;

	memcpy(&nentries, hdr + A->keys_nentries, 8);
	if (log2_size > 20 || log2_index > 24 || nentries < 0 || nentries > ASYNC_MAX_DICT ||
	    (uint64_t)nentries > (1ull << log2_size))
		return false;
	/* kind 0 (general): hash, key, value; unicode and split: key, value */
	size_t esz = kind == 0 ? 24 : 16, koff = kind == 0 ? 8 : 0;
	uint64_t entries = keys + A->keys_indices + (1ull << log2_index);
	uint64_t chunk[3 * 64];

	for (int64_t i = 0; i < nentries; i += 64) {
		size_t n = (size_t)(nentries - i < 64 ? nentries - i : 64);

		if (memsrc_read(r->m, entries + (uint64_t)i * esz, chunk, n * esz))
			return false;
		for (size_t j = 0; j < n; j++) {
			uint64_t key = chunk[(j * esz + koff) / 8];

			if (!key || !str_equals(r, key, name))
				continue;
			if (values)
				return rd64(r, values + A->dictvalues_values + (uint64_t)(i + (int64_t)j) * 8, val);
			*val = chunk[(j * esz + koff) / 8 + 1];
			return true;
		}
	}
	return false;
}

static bool dict_lookup(const struct rd *r, uint64_t dict, const char *name, uint64_t *val)
{
	uint64_t keys, values = 0;

	if (!rd64(r, dict + r->A->dict_keys, &keys) || !rd64(r, dict + r->A->dict_values, &values))
		return false;
	return keys_lookup(r, keys, values, name, val);
}

/* Calls fn(value) for every value of a dict (bounded). */
static void dict_values_each(const struct rd *r, uint64_t dict, void (*fn)(void *, uint64_t, uint64_t), void *ctx)
{
	const struct py_async_layout *A = r->A;
	uint64_t keys, values;
	uint8_t hdr[48];

	if (!rd64(r, dict + A->dict_keys, &keys) || !rd64(r, dict + A->dict_values, &values) ||
	    !plausible(keys) || memsrc_read(r->m, keys, hdr, sizeof(hdr)))
		return;
	uint8_t log2_size = hdr[A->keys_log2_size], log2_index = hdr[A->keys_log2_index_bytes];
	int64_t nentries;

	memcpy(&nentries, hdr + A->keys_nentries, 8);
	if (log2_size > 20 || log2_index > 24 || nentries < 0 || nentries > ASYNC_MAX_DICT)
		return;
	size_t esz = hdr[A->keys_kind] == 0 ? 24 : 16, koff = esz == 24 ? 8 : 0;
	uint64_t entries = keys + A->keys_indices + (1ull << log2_index);

	for (int64_t i = 0; i < nentries; i++) {
		uint64_t e[3] = { 0, 0, 0 }, v;

		if (memsrc_read(r->m, entries + (uint64_t)i * esz, e, esz) || !e[koff / 8])
			continue;
		v = e[koff / 8 + 1];
		if (values && !rd64(r, values + A->dictvalues_values + (uint64_t)i * 8, &v))
			continue;
		if (v)
			fn(ctx, e[koff / 8], v);
	}
}

/* An instance attribute of obj (3.11-3.13): its __dict__ at tp_dictoffset,
 * or the managed dict / shared-key values before (3.11, 3.12) or inside
 * (3.13) the object. */
static bool obj_attr(const struct rd *r, uint64_t obj, const char *name, uint64_t *val)
{
	const struct py_async_layout *A = r->A;
	uint64_t tp = type_of(r, obj), flags, dictoff, basic;

	if (!tp || !rd64(r, tp + A->type_flags, &flags) || !rd64(r, tp + A->type_dictoffset, &dictoff) ||
	    !rd64(r, tp + A->type_basicsize, &basic))
		return false;
	if ((int64_t)dictoff > 0 && dictoff < 4096) {
		uint64_t d = ptr_at(r, obj + dictoff);

		return d && dict_lookup(r, d, name, val);
	}
	if (!(flags & TPFLAGS_MANAGED_DICT))
		return false;
	uint64_t w, keys = ptr_at(r, tp + A->heaptype_cached_keys), values = 0;

	if (!rd64(r, obj - 24, &w))
		return false;
	if (r->minor == 12 && (w & 1)) {
		values = w + 1;        /* stored as values - 1: odd means values, not a dict */
	} else if (plausible(w)) {
		return dict_lookup(r, w, name, val);
	} else if (r->minor == 11) {
		values = ptr_at(r, obj - 32);
	} else if (r->minor >= 13 && (flags & TPFLAGS_INLINE_VALUES) && basic < 4096) {
		uint8_t hdr[4];

		values = obj + basic;
		if (memsrc_read(r->m, values, hdr, 4) || !hdr[3]) /* valid */
			return false;
	}
	return plausible(values) && keys && keys_lookup(r, keys, values, name, val);
}

/* Calls fn(key) for every live key of a set (bounded). */
static size_t set_each(const struct rd *r, uint64_t set, void (*fn)(void *, uint64_t), void *ctx)
{
	int64_t mask;
	uint64_t table;
	size_t calls = 0;

	if (!rd64(r, set + r->A->set_mask, (uint64_t *)&mask) || !rd64(r, set + r->A->set_table, &table) ||
	    mask < 0 || mask >= ASYNC_MAX_SET || !plausible(table))
		return 0;
	uint64_t chunk[2 * 256];

	for (int64_t i = 0; i <= mask; i += 256) {
		size_t n = (size_t)(mask + 1 - i < 256 ? mask + 1 - i : 256);

		if (memsrc_read(r->m, table + (uint64_t)i * 16, chunk, n * 16))
			return calls;
		for (size_t j = 0; j < n; j++)
			if (plausible(chunk[2 * j])) {
				fn(ctx, chunk[2 * j]);
				calls++;
			}
	}
	return calls;
}

/* ---- collecting tasks ---- */

struct collect {
	struct rd *r;
	uint64_t *addrs;
	size_t n, cap;
	bool truncated;
	bool incomplete;                /* a list looped or was unreadable */
	int err;
};

static void add_addr(struct collect *c, uint64_t a)
{
	if (!plausible(a) || c->err)
		return;
	if (c->n >= ASYNC_MAX_TASKS) {
		c->truncated = true;
		return;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		uint64_t *v = realloc(c->addrs, cap * sizeof(*v));

		if (!v) {
			c->err = -ENOMEM;
			return;
		}
		c->addrs = v;
		c->cap = cap;
	}
	c->addrs[c->n++] = a;
}

/* A plausible task: the first one found fixes the type (asyncio.Task);
 * subclasses have another type but a tp_basicsize at least the task's. */
static bool looks_like_task(struct rd *r, uint64_t obj)
{
	uint64_t tp = type_of(r, obj), basic;

	if (!tp)
		return false;
	if (tp == r->task_type)
		return true;
	if (!rd64(r, tp + r->A->type_basicsize, &basic) || basic < r->task_size || basic > 65536)
		return false;
	if (!r->task_type && type_is(r, obj, "_asyncio.Task"))
		r->task_type = tp;
	return true;
}

static void weakref_cb(void *ctx, uint64_t wr)
{
	struct collect *c = ctx;
	uint64_t obj = ptr_at(c->r, wr + c->r->A->weakref_object);

	if (obj && looks_like_task(c->r, obj))
		add_addr(c, obj);
}

static void task_cb(void *ctx, uint64_t obj)
{
	struct collect *c = ctx;

	if (looks_like_task(c->r, obj))
		add_addr(c, obj);
}

static void running_cb(void *ctx, uint64_t key, uint64_t val)
{
	(void)key;
	add_addr(ctx, val);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* 3.11-3.13: the task sets and the running tasks of the _asyncio module. */
static int collect_sets(struct rd *r, struct collect *c, struct collect *running, char *err, size_t errlen)
{
	uint64_t interp = ptr_at(r, r->t->runtime_addr + r->L->runtime_interpreters_head);
	uint64_t modules = interp ? ptr_at(r, interp + r->A->interp_modules) : 0, mod, md, obj;

	if (!modules) {
		snprintf(err, errlen, "cannot read sys.modules of the interpreter");
		return -EFAULT;
	}
	if (!dict_lookup(r, modules, "_asyncio", &mod) || !plausible(mod)) {
		snprintf(err, errlen, "asyncio is not imported (no _asyncio in sys.modules)");
		return -ENOENT;
	}
	md = ptr_at(r, mod + r->A->module_dict);
	if (!md) {
		snprintf(err, errlen, "cannot read the _asyncio module's dict");
		return -EFAULT;
	}
	const char *weak = r->minor == 11 ? "_all_tasks" : "_scheduled_tasks";
	bool any = false;

	if (dict_lookup(r, md, weak, &obj) && plausible(obj)) {
		uint64_t data;

		if (obj_attr(r, obj, "data", &data) && type_is(r, data, "set")) {
			set_each(r, data, weakref_cb, c);
			any = true;
		}
	}
	if (r->minor >= 12 && dict_lookup(r, md, "_eager_tasks", &obj) && type_is(r, obj, "set")) {
		set_each(r, obj, task_cb, c);
		any = true;
	}
	if (dict_lookup(r, md, "_current_tasks", &obj) && type_is(r, obj, "dict"))
		dict_values_each(r, obj, running_cb, running);
	if (!any) {
		snprintf(err, errlen, "cannot read the task set of the _asyncio module");
		return -EFAULT;
	}
	return 0;
}

/* 3.14+: finds _AsyncioDebug in the mapped files that may hold it. */
struct mapped {
	const char *path, *local;
	uint64_t start, offset;
};

static bool debug_from_file(struct rd *r, const struct mapped *f, struct async_debug_offsets *dbg)
{
	const char *base = strrchr(f->path, '/');

	base = base ? base + 1 : f->path;
	if (strncmp(base, "_asyncio", 8) && strncmp(base, "libpython", 9) && strncmp(base, "python", 6))
		return false;
	struct elf_file ef;
	uint64_t size = 0, bias = 0;

	if (elf_file_open(&ef, f->local))
		return false;
	uint64_t sec = elf_file_section(&ef, ".AsyncioDebug", &size);
	bool ok = sec && size >= sizeof(*dbg) && elf_file_bias(&ef, f->start, f->offset, &bias) == 0 &&
		  memsrc_read(r->m, sec + bias, dbg, sizeof(*dbg)) == 0;

	elf_file_close(&ef);
	return ok;
}

static bool find_debug_live(struct rd *r, pid_t pid, struct async_debug_offsets *dbg)
{
	char path[64], line[PATH_MAX + 256], local[PATH_MAX + 32];
	FILE *f;
	bool found = false;
	char last[PATH_MAX] = "";

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		uint64_t start, end, offset;
		char perms[8];
		int pos = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %n", &start, &end, perms,
			   &offset, &pos) < 4 || !pos)
			continue;
		char *p = line + pos;

		p[strcspn(p, "\n")] = '\0';
		if (p[0] != '/' || !strcmp(p, last))
			continue; /* only a file's first (lowest-offset) mapping */
		snprintf(last, sizeof(last), "%s", p);
		snprintf(local, sizeof(local), "/proc/%d/root%s", (int)pid, p);
		struct mapped mf = { p, local, start, offset };

		found = debug_from_file(r, &mf, dbg);
	}
	fclose(f);
	return found;
}

static bool find_debug_core(struct rd *r, struct coredump *core, struct async_debug_offsets *dbg)
{
	const char *last = "";

	for (size_t i = 0; i < coredump_nfiles(core); i++) {
		const struct core_file *cf = coredump_file(core, i);

		if (!cf || !cf->local[0] || !strcmp(cf->path, last))
			continue;
		last = cf->path;
		struct mapped mf = { cf->path, cf->local, cf->start, cf->offset };

		if (debug_from_file(r, &mf, dbg))
			return true;
	}
	return false;
}

/* Walks one circular task list headed at head (3.14+). A list that does
 * not come back to its head (a NULL or unreadable next pointer, or a loop
 * that misses the head, found by Brent's method) is cut and marked. */
static void walk_list(struct rd *r, struct collect *c, uint64_t head, int32_t tid, int32_t *tids)
{
	uint64_t node = ptr_at(r, head), seen = 0;
	size_t power = 1, k;

	for (k = 0; node && node != head && k < ASYNC_MAX_TASKS + 1; k++) {
		size_t before = c->n;

		if (node == seen) {
			c->incomplete = true;
			return;
		}
		if (k + 1 == power) {
			seen = node;
			power *= 2;
		}
		add_addr(c, node - r->task_node);
		if (c->n > before && tids)
			tids[c->n - 1] = tid;
		if (c->truncated || c->err)
			return;
		node = ptr_at(r, node);
	}
	if (node != head)
		c->incomplete = true;
}

/* ---- one task ---- */

/* The top of a suspended frame's value stack: what an await waits on. */
static uint64_t stack_top(const struct rd *r, uint64_t frame)
{
	const struct py_async_layout *A = r->A;

	if (A->frame_stackpointer != PY_OFF_NONE) {
		uint64_t sp = ptr_at(r, frame + A->frame_stackpointer), v;

		/* 3.15 keeps a NULL reference above the awaited object
		 * (measured: stackpointer[-1] is 1, [-2] the coroutine) */
		uint64_t below = r->minor >= 15 ? 16 : 8;

		if (!sp || sp < frame + A->frame_localsplus + below || !rd64(r, sp - below, &v))
			return 0;
		return v & ~3ull; /* a _PyStackRef */
	}
	int32_t top;

	if (memsrc_read(r->m, frame + A->frame_stacktop, &top, 4) || top < 1 || top > 65536)
		return 0;
	return ptr_at(r, frame + A->frame_localsplus + (uint64_t)(top - 1) * 8);
}

/* The frames of the coroutine chain from coro, innermost first. */
static void read_frames(struct rd *r, struct async_task *t)
{
	const struct py_async_layout *A = r->A;
	const struct py_layout *L = r->L;
	uint64_t outer_first[ASYNC_MAX_FRAMES];
	size_t n = 0;
	uint64_t coro = t->coro;

	if (!r->coro_type && type_is(r, coro, "coroutine"))
		r->coro_type = type_of(r, coro);
	while (coro && n < ASYNC_MAX_FRAMES) {
		int8_t st;
		uint8_t fb[PYPERF_FRAME_BUF];

		if (type_of(r, coro) != r->coro_type || memsrc_read(r->m, coro + A->gen_frame_state, &st, 1) ||
		    st >= A->frame_cleared)
			break;
		uint64_t frame = coro + A->gen_iframe;
		size_t size = L->frame_size <= sizeof(fb) ? L->frame_size : sizeof(fb);

		if (memsrc_read(r->m, frame, fb, size)) {
			t->inconsistent = true;
			break;
		}
		uint64_t code, instr;

		memcpy(&code, fb + L->frame_code, 8);
		memcpy(&instr, fb + L->frame_instr, 8);
		code = pyperf_frame_code_of(code, L->flags);
		if (!plausible(code)) {
			t->inconsistent = true;
			break;
		}
		outer_first[n++] = pyperf_frame_pack(code, 1, pyperf_lasti_of_instr(instr, code, L->code_code_adaptive));
		/* Suspended in await: follow what it awaits while that is a
		 * coroutine. 3.11-3.12 tell it by the RESUME after the yield
		 * (oparg >= 2: after yield from / await). */
		bool in_await;

		if (A->frame_suspended_yield_from != -128) {
			in_await = st == A->frame_suspended_yield_from ||
				   (r->minor >= 15 && st == A->frame_suspended_yield_from + 1);
		} else {
			uint8_t unit[2];

			in_await = st == A->frame_suspended && memsrc_read(r->m, instr + 2, unit, 2) == 0 && unit[1] >= 2;
		}
		uint64_t next = in_await ? stack_top(r, frame) : 0;

		if (next == coro)
			break;
		coro = next;
	}
	if (coro && n == ASYNC_MAX_FRAMES)
		t->inconsistent = true; /* cut: a chain this deep is a cycle or garbage */
	for (size_t i = 0; i < n; i++)
		t->frames[i] = outer_first[n - 1 - i];
	t->nframes = n;
}

static void read_name(struct rd *r, struct async_task *t, uint64_t name)
{
	int64_t num;

	if (read_str(r, name, t->name, sizeof(t->name)))
		return;
	/* 3.13+ keep an int until get_name() is called */
	if (type_is(r, name, "int") && read_int(r, name, &num))
		snprintf(t->name, sizeof(t->name), "Task-%" PRId64, num);
}

static int read_task(struct rd *r, uint64_t addr, struct async_task *t)
{
	uint8_t buf[512];
	size_t size = r->task_size <= sizeof(buf) ? r->task_size : sizeof(buf);

	memset(t, 0, sizeof(*t));
	t->addr = addr;
	if (memsrc_read(r->m, addr, buf, size))
		return -EFAULT;
#define FIELD(off) (((off) + 8 <= size) ? *(const uint64_t *)(const void *)(buf + (off)) : 0)
	uint32_t state;

	memcpy(&state, buf + r->task_state, 4);
	t->state = state == 0 ? ASYNC_PENDING : ASYNC_DONE;
	t->coro = FIELD(r->task_coro);
	if (!plausible(t->coro))
		t->coro = 0;
	read_name(r, t, FIELD(r->task_name));
	if (t->coro)
		read_frames(r, t);
	return 0;
}

/* ---- awaited_by ---- */

static int cmp_task_addr(const void *a, const void *b)
{
	const struct async_task *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

const struct async_task *async_task_by_addr(const struct async_tasks *a, uint64_t addr)
{
	struct async_task key = { .addr = addr };

	if (!a || !a->n)
		return NULL;
	return bsearch(&key, a->tasks, a->n, sizeof(*a->tasks), cmp_task_addr);
}

const struct async_task *async_task_by_coro(const struct async_tasks *a, uint64_t coro)
{
	for (size_t i = 0; a && i < a->n; i++)
		if (a->tasks[i].coro == coro)
			return &a->tasks[i];
	return NULL;
}

static void add_awaiter(struct async_tasks *a, uint64_t child, uint64_t parent)
{
	struct async_task *c = (struct async_task *)async_task_by_addr(a, child);

	if (!c || child == parent || !async_task_by_addr(a, parent))
		return;
	for (size_t i = 0; i < c->nawaited_by; i++)
		if (c->awaited_by[i] == parent)
			return;
	if (c->nawaited_by < ASYNC_MAX_AWAITERS)
		c->awaited_by[c->nawaited_by++] = parent;
}

/* 3.14+: the task's own awaited_by (one object, or a set of them). */
static void awaited_by_field(struct rd *r, struct async_tasks *a, struct async_task *t)
{
	uint64_t by;
	uint8_t is_set;

	if (!rd64(r, t->addr + r->task_awaited_by, &by) || !plausible(by) ||
	    memsrc_read(r->m, t->addr + r->task_awaited_by_is_set, &is_set, 1))
		return;
	if (!is_set) {
		add_awaiter(a, t->addr, by);
		return;
	}
	struct collect c = { .r = r };

	set_each(r, by, task_cb, &c);
	for (size_t i = 0; i < c.n; i++)
		add_awaiter(a, t->addr, c.addrs[i]);
	free(c.addrs);
}

/* Is obj a Python function? Most callbacks asked about are not: once the
 * function type is known, one read tells. */
static bool is_function(struct rd *r, uint64_t obj)
{
	uint64_t tp = type_of(r, obj);

	if (!tp)
		return false;
	if (r->func_type)
		return tp == r->func_type;
	if (!type_is(r, obj, "function"))
		return false;
	r->func_type = tp;
	return true;
}

/*
 * 3.11-3.13: the task a future awaited stands for: the future itself when
 * it is a listed task, else the task asyncio.shield(task) made it for. Its
 * first done callback is then shield's _outer_done_callback (added before
 * anyone awaits it), the only holder of the shielded object: a cell of its
 * closure. That object is a task, or the outer future of another shield.
 * 0 for any other future.
 */
static uint64_t awaited_task(struct rd *r, const struct async_tasks *a, uint64_t fut)
{
	const struct py_async_layout *A = r->A;

	for (int depth = 0; fut && depth <= ASYNC_MAX_SHIELD; depth++) {
		if (async_task_by_addr(a, fut))
			return fut;
		uint64_t cb = ptr_at(r, fut + A->task_callback0), closure, items, next = 0;
		int64_t n;

		if (!cb || !is_function(r, cb) ||
		    !str_equals(r, ptr_at(r, cb + A->func_qualname), "shield.<locals>._outer_done_callback") ||
		    !(closure = ptr_at(r, cb + A->func_closure)) || !type_is(r, closure, "tuple") ||
		    !rd64(r, closure + A->list_size, (uint64_t *)&n) || n < 1 || n > ASYNC_MAX_CELLS)
			return 0;
		items = closure + A->tuple_items;
		for (int64_t k = 0; k < n && !next; k++) {
			uint64_t cell = ptr_at(r, items + (uint64_t)k * 8), v;

			if (!type_is(r, cell, "cell") || !(v = ptr_at(r, cell + A->cell_ref)) || v == fut)
				continue;
			if (async_task_by_addr(a, v) || type_is(r, v, "_asyncio.Future"))
				next = v;
		}
		fut = next;
	}
	return 0;
}

/* 3.11-3.13: parent P waits on task C directly (or through shield), or on
 * a gather future whose _children C is in; a TaskGroup child reports to the
 * group (its first done callback is the group's bound _on_task_done), whose
 * _parent_task awaits it. */
static void awaited_by_rebuilt(struct rd *r, struct async_tasks *a)
{
	const struct py_async_layout *A = r->A;

	for (size_t i = 0; i < a->n; i++) {
		struct async_task *p = &a->tasks[i];
		uint64_t w = ptr_at(r, p->addr + A->task_fut_waiter), kids, cb, group, parent, c;

		if (w && (c = awaited_task(r, a, w))) {
			add_awaiter(a, c, p->addr);
		} else if (w && obj_attr(r, w, "_children", &kids) && type_is(r, kids, "list")) {
			int64_t n;
			uint64_t items = ptr_at(r, kids + A->list_items);

			if (items && rd64(r, kids + A->list_size, (uint64_t *)&n) && n > 0 && n <= ASYNC_MAX_LIST)
				for (int64_t k = 0; k < n; k++)
					add_awaiter(a, awaited_task(r, a, ptr_at(r, items + (uint64_t)k * 8)), p->addr);
		}
		cb = ptr_at(r, p->addr + A->task_callback0);
		if (cb && type_is(r, cb, "method") && (group = ptr_at(r, cb + A->method_self)) &&
		    obj_attr(r, group, "_parent_task", &parent))
			add_awaiter(a, p->addr, parent);
	}
}

/* ---- the whole read ---- */

static int setup(struct rd *r, const struct memsrc *m, const struct py_target *t, char *err, size_t errlen)
{
	char v[32];

	memset(r, 0, sizeof(*r));
	r->m = m;
	r->t = t;
	r->L = &t->layout;
	r->minor = (t->version_hex >> 16) & 0xff;
	if ((t->version_hex >> 24) != 3 || r->minor < 11 || !(r->A = py_async_layout_find(t->version_hex, NULL))) {
		snprintf(err, errlen, "CPython %s has no asyncio tasks pyperf can read: 3.11 to 3.15 only",
			 py_version_str(t->version_hex, v, sizeof(v)));
		return -ENOTSUP;
	}
	r->strl = (struct pystr_layout){
		.state_off = r->L->unicode_state, .length_off = r->L->unicode_length,
		.ascii_size = r->L->unicode_ascii_size, .compact_size = r->L->unicode_compact_size,
		.kind_shift = r->L->unicode_kind_shift, .compact_shift = r->L->unicode_compact_shift,
		.ascii_shift = r->L->unicode_ascii_shift,
	};
	if (r->minor < 14) {
		r->task_name = r->A->task_name;
		r->task_coro = r->A->task_coro;
		r->task_state = r->A->task_state;
		r->task_size = r->A->task_size;
	}
	return 0;
}

static int apply_debug(struct rd *r, const struct async_debug_offsets *d, char *err, size_t errlen)
{
	/* fut_state is not published: it is the enum right after awaited_by,
	 * followed by the is_task and awaited_by_is_set chars. */
	if (d->task_size < 64 || d->task_size > 512 || d->task_name + 8 > d->task_size ||
	    d->task_coro + 8 > d->task_size || d->task_node + 16 > d->task_size ||
	    d->task_is_task != d->task_awaited_by + 12 || d->task_awaited_by_is_set >= d->task_size ||
	    d->tstate_tasks_head > 65536 || d->interp_tasks_head > 65536 || d->tstate_running_task > 65536) {
		snprintf(err, errlen, "the _asyncio module's debug offsets (.AsyncioDebug) are not as expected");
		return -EINVAL;
	}
	r->task_size = (uint32_t)d->task_size;
	r->task_name = (uint32_t)d->task_name;
	r->task_coro = (uint32_t)d->task_coro;
	r->task_state = (uint32_t)d->task_awaited_by + 8;
	r->task_awaited_by = (uint32_t)d->task_awaited_by;
	r->task_awaited_by_is_set = (uint32_t)d->task_awaited_by_is_set;
	r->task_node = (uint32_t)d->task_node;
	return 0;
}

static void mark_running(struct async_tasks *a, uint64_t addr, int32_t tid)
{
	struct async_task *t = (struct async_task *)async_task_by_addr(a, addr);

	if (t) {
		t->state = ASYNC_RUNNING;
		if (tid)
			t->tid = tid;
	}
}

/* The listed tasks (c; tids: each one's thread, or NULL) read into out:
 * sorted by address, duplicates (a task in two sets) dropped, and the
 * tasks awaiting each one filled in. 0 or -ENOMEM (out is then empty). */
static int build_tasks(struct rd *r, const struct collect *c, const int32_t *tids, struct async_tasks *out)
{
	uint64_t *order;

	out->truncated = c->truncated;
	out->incomplete = c->incomplete;
	out->tasks = calloc(c->n ? c->n : 1, sizeof(*out->tasks));
	order = malloc((c->n ? c->n : 1) * sizeof(*order) * 2);
	if (!out->tasks || !order) {
		free(order);
		async_tasks_free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n; i++) {
		order[2 * i] = c->addrs[i];
		order[2 * i + 1] = tids ? (uint64_t)(uint32_t)tids[i] : 0;
	}
	qsort(order, c->n, 2 * sizeof(*order), cmp_u64);
	for (size_t i = 0; i < c->n; i++) {
		if (i && order[2 * i] == order[2 * (i - 1)])
			continue;
		struct async_task *tk = &out->tasks[out->n];

		if (read_task(r, order[2 * i], tk))
			continue; /* freed since listed */
		tk->tid = (int32_t)order[2 * i + 1];
		out->n++;
	}
	free(order);
	if (r->minor >= 14) {
		for (size_t i = 0; i < out->n; i++)
			awaited_by_field(r, out, &out->tasks[i]);
	} else {
		awaited_by_rebuilt(r, out);
	}
	return 0;
}

/*
 * 3.11-3.13 record no thread per task, but its loop (fut_loop) does:
 * BaseEventLoop.run_forever sets _thread_id to threading.get_ident(), the
 * pthread id (None while the loop is not running); the thread state with
 * that thread_id has the TID. Loops are few: each is looked up once.
 */
#define ASYNC_MAX_LOOPS 64

struct loop_tid {
	uint64_t loop;
	int32_t tid;
};

static int32_t loop_tid(struct rd *r, uint64_t loop, const struct pywalk_tstate *ts, int nts,
			struct loop_tid *cache, size_t *ncache)
{
	uint64_t idobj;
	int64_t pthread_id;
	int32_t tid = 0;

	if (!plausible(loop))
		return 0;
	for (size_t i = 0; i < *ncache; i++)
		if (cache[i].loop == loop)
			return cache[i].tid;
	if (obj_attr(r, loop, "_thread_id", &idobj) && type_is(r, idobj, "int") && read_int(r, idobj, &pthread_id) &&
	    pthread_id)
		for (int i = 0; i < nts; i++)
			if (ts[i].thread_id == (uint64_t)pthread_id && ts[i].native_tid > 0 &&
			    ts[i].native_tid <= INT32_MAX) {
				tid = (int32_t)ts[i].native_tid;
				break;
			}
	if (*ncache < ASYNC_MAX_LOOPS)
		cache[(*ncache)++] = (struct loop_tid){ loop, tid };
	return tid;
}

static int read_all(const struct memsrc *m, const struct py_target *t, struct coredump *core,
		    struct async_tasks *out, char *err, size_t errlen)
{
	struct rd r;
	struct collect c = { .r = &r }, running = { .r = &r };
	struct async_debug_offsets dbg;
	int32_t *tids = NULL;
	struct pywalk_tstate ts[PYPERF_MAX_THREADS];
	int nts = 0;
	uint32_t fl = 0;
	int ret = setup(&r, m, t, err, errlen);

	memset(out, 0, sizeof(*out));
	if (ret)
		return ret;
	if (r.minor >= 14) {
		bool found = core ? find_debug_core(&r, core, &dbg) : find_debug_live(&r, m->pid, &dbg);

		if (!found) {
			snprintf(err, errlen, "asyncio is not imported (no _asyncio debug offsets in the process)");
			return -ENOENT;
		}
		if ((ret = apply_debug(&r, &dbg, err, errlen)))
			return ret;
		nts = pywalk_tstates(m, r.L, t->runtime_addr, ts, PYPERF_MAX_THREADS, &fl);
		if (nts < 0) {
			snprintf(err, errlen, "cannot read the interpreter's thread list");
			return -EFAULT;
		}
		tids = calloc(ASYNC_MAX_TASKS, sizeof(*tids));
		if (!tids)
			return -ENOMEM;
		uint64_t last_interp = 0;

		for (int i = 0; i < nts; i++) {
			walk_list(&r, &c, ts[i].addr + dbg.tstate_tasks_head, (int32_t)ts[i].native_tid, tids);
			if (ts[i].interp != last_interp) {
				last_interp = ts[i].interp;
				walk_list(&r, &c, ts[i].interp + dbg.interp_tasks_head, 0, tids);
			}
		}
	} else {
		ret = collect_sets(&r, &c, &running, err, errlen);
		if (ret)
			goto out;
		/* only for the loops' threads: tasks are read without them */
		nts = pywalk_tstates(m, r.L, t->runtime_addr, ts, PYPERF_MAX_THREADS, &fl);
		if (nts < 0)
			nts = 0;
	}
	if (c.err) {
		ret = c.err;
		goto out;
	}
	if ((ret = build_tasks(&r, &c, tids, out)))
		goto out;
	if (r.minor >= 14) {
		for (int i = 0; i < nts; i++) {
			uint64_t run = ptr_at(&r, ts[i].addr + dbg.tstate_running_task);

			if (run)
				mark_running(out, run, (int32_t)ts[i].native_tid);
		}
	} else {
		struct loop_tid cache[ASYNC_MAX_LOOPS];
		size_t ncache = 0;

		for (size_t i = 0; i < out->n; i++)
			out->tasks[i].tid = loop_tid(&r, ptr_at(&r, out->tasks[i].addr + r.A->task_loop), ts, nts, cache,
						     &ncache);
		for (size_t i = 0; i < running.n; i++)
			mark_running(out, running.addrs[i], 0);
	}
	/* a task awaiting itself through others: cut at the first repeat when
	 * printed (output) */
	ret = 0;
out:
	free(tids);
	free(c.addrs);
	free(running.addrs);
	return ret;
}

int async_tasks_read_list(const struct memsrc *m, const struct py_target *t, const struct async_debug_offsets *dbg,
			  uint64_t head, int32_t tid, struct async_tasks *out, char *err, size_t errlen)
{
	struct rd r;
	struct collect c = { .r = &r };
	int32_t *tids;
	int ret = setup(&r, m, t, err, errlen);

	memset(out, 0, sizeof(*out));
	if (ret)
		return ret;
	if (r.minor < 14) {
		snprintf(err, errlen, "task lists are read on CPython 3.14+ only");
		return -ENOTSUP;
	}
	if ((ret = apply_debug(&r, dbg, err, errlen)))
		return ret;
	tids = calloc(ASYNC_MAX_TASKS, sizeof(*tids));
	if (!tids)
		return -ENOMEM;
	walk_list(&r, &c, head, tid, tids);
	ret = c.err ? c.err : build_tasks(&r, &c, tids, out);
	free(tids);
	free(c.addrs);
	return ret;
}

int async_tasks_read(const struct memsrc *m, const struct py_target *t, struct async_tasks *out, char *err,
		     size_t errlen)
{
	return read_all(m, t, NULL, out, err, errlen);
}

int async_tasks_read_core(const struct memsrc *m, const struct py_target *t, struct coredump *core,
			  struct async_tasks *out, char *err, size_t errlen)
{
	return read_all(m, t, core, out, err, errlen);
}

void async_tasks_free(struct async_tasks *a)
{
	if (!a)
		return;
	free(a->tasks);
	memset(a, 0, sizeof(*a));
}

uint16_t async_coro_frame_offset(const struct py_target *t)
{
	const struct py_async_layout *A;

	if ((t->version_hex >> 24) != 3 || ((t->version_hex >> 16) & 0xff) < 11)
		return 0;
	A = py_async_layout_find(t->version_hex, NULL);
	return A ? A->gen_iframe : 0;
}
