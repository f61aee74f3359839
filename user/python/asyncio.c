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
 * task waits for (a task, or a gather future's children) and from the
 * TaskGroup a child reports its completion to.
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
#include "python/pyobj.h"
#include "python/pywalk.h"
#include "target/coredump.h"
#include "target/elfsym.h"

#define ASYNC_MAX_LIST 4096         /* items of a gather's children list */

struct rd {
	const struct memsrc *m;
	const struct py_target *t;
	const struct py_layout *L;
	const struct py_async_layout *A;
	struct pyobj_reader o;          /* dicts, sets, strs, ints, attributes */
	unsigned minor;
	/* task field offsets for this version */
	uint32_t task_name, task_coro, task_state, task_loop, task_fut_waiter, task_awaited_by,
		task_awaited_by_is_set, task_node, task_size;
	uint64_t coro_type;             /* type of native coroutines, once seen */
	uint64_t task_type;             /* first task's type: the others are compared to it */
};

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
	if (!pyobj_plausible(a) || c->err)
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
	uint64_t tp = pyobj_type(&r->o, obj), basic;

	if (!tp)
		return false;
	if (tp == r->task_type)
		return true;
	if (!pyobj_read64(&r->o, tp + r->o.O->type_basicsize, &basic) || basic < r->task_size || basic > 65536)
		return false;
	if (!r->task_type && pyobj_is_type(&r->o, obj, "_asyncio.Task"))
		r->task_type = tp;
	return true;
}

static bool weakref_cb(void *ctx, uint64_t wr)
{
	struct collect *c = ctx;
	uint64_t obj = pyobj_ptr_at(&c->r->o, wr + c->r->o.O->weakref_object);

	if (obj && looks_like_task(c->r, obj))
		add_addr(c, obj);
	return true;
}

static bool task_cb(void *ctx, uint64_t obj)
{
	struct collect *c = ctx;

	if (looks_like_task(c->r, obj))
		add_addr(c, obj);
	return true;
}

static bool running_cb(void *ctx, uint64_t key, uint64_t val)
{
	(void)key;
	add_addr(ctx, val);
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* 3.11-3.13: the task sets and the running tasks of the _asyncio module. */
static int collect_sets(struct rd *r, struct collect *c, struct collect *running, char *err, size_t errlen)
{
	uint64_t mod = pyobj_module(&r->o, "_asyncio"), md, obj;

	if (!mod) {
		snprintf(err, errlen, "asyncio is not imported (no _asyncio in sys.modules)");
		return -ENOENT;
	}
	md = pyobj_ptr_at(&r->o, mod + r->o.O->module_dict);
	if (!md) {
		snprintf(err, errlen, "cannot read the _asyncio module's dict");
		return -EFAULT;
	}
	const char *weak = r->minor == 11 ? "_all_tasks" : "_scheduled_tasks";
	bool any = false;

	if (pyobj_dict_get_str(&r->o, md, weak, &obj) && pyobj_plausible(obj)) {
		uint64_t data;

		if (pyobj_getattr(&r->o, obj, "data", &data) && pyobj_is_type(&r->o, data, "set")) {
			pyobj_set_each(&r->o, data, weakref_cb, c, SIZE_MAX);
			any = true;
		}
	}
	if (r->minor >= 12 && pyobj_dict_get_str(&r->o, md, "_eager_tasks", &obj) && pyobj_is_type(&r->o, obj, "set")) {
		pyobj_set_each(&r->o, obj, task_cb, c, SIZE_MAX);
		any = true;
	}
	if (pyobj_dict_get_str(&r->o, md, "_current_tasks", &obj) && pyobj_is_type(&r->o, obj, "dict"))
		pyobj_dict_each(&r->o, obj, running_cb, running, SIZE_MAX);
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
	uint64_t node = pyobj_ptr_at(&r->o, head), seen = 0;
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
		node = pyobj_ptr_at(&r->o, node);
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
		uint64_t sp = pyobj_ptr_at(&r->o, frame + A->frame_stackpointer), v;

		/* 3.15 keeps a NULL reference above the awaited object
		 * (measured: stackpointer[-1] is 1, [-2] the coroutine) */
		uint64_t below = r->minor >= 15 ? 16 : 8;

		if (!sp || sp < frame + A->frame_localsplus + below || !pyobj_read64(&r->o, sp - below, &v))
			return 0;
		return v & ~3ull; /* a _PyStackRef */
	}
	int32_t top;

	if (memsrc_read(r->m, frame + A->frame_stacktop, &top, 4) || top < 1 || top > 65536)
		return 0;
	return pyobj_ptr_at(&r->o, frame + A->frame_localsplus + (uint64_t)(top - 1) * 8);
}

/* The frames of the coroutine chain from coro, innermost first. */
static void read_frames(struct rd *r, struct async_task *t)
{
	const struct py_async_layout *A = r->A;
	const struct py_layout *L = r->L;
	uint64_t outer_first[ASYNC_MAX_FRAMES];
	size_t n = 0;
	uint64_t coro = t->coro;

	if (!r->coro_type && pyobj_is_type(&r->o, coro, "coroutine"))
		r->coro_type = pyobj_type(&r->o, coro);
	while (coro && n < ASYNC_MAX_FRAMES) {
		int8_t st;
		uint8_t fb[PYPERF_FRAME_BUF];

		if (pyobj_type(&r->o, coro) != r->coro_type || memsrc_read(r->m, coro + A->gen_frame_state, &st, 1) ||
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
		if (!pyobj_plausible(code)) {
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

	if (pyobj_str(&r->o, name, t->name, sizeof(t->name), NULL))
		return;
	/* 3.13+ keep an int until get_name() is called */
	if (pyobj_is_type(&r->o, name, "int") && pyobj_long(&r->o, name, &num))
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
	if (!pyobj_plausible(t->coro))
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

	if (!pyobj_read64(&r->o, t->addr + r->task_awaited_by, &by) || !pyobj_plausible(by) ||
	    memsrc_read(r->m, t->addr + r->task_awaited_by_is_set, &is_set, 1))
		return;
	if (!is_set) {
		add_awaiter(a, t->addr, by);
		return;
	}
	struct collect c = { .r = r };

	pyobj_set_each(&r->o, by, task_cb, &c, SIZE_MAX);
	for (size_t i = 0; i < c.n; i++)
		add_awaiter(a, t->addr, c.addrs[i]);
	free(c.addrs);
}

/* 3.11-3.13: parent P waits on task C directly, or on a gather future
 * whose _children C is in; a TaskGroup child reports to the group (its
 * first done callback is the group's bound _on_task_done), whose
 * _parent_task awaits it. */
static void awaited_by_rebuilt(struct rd *r, struct async_tasks *a)
{
	const struct py_async_layout *A = r->A;

	for (size_t i = 0; i < a->n; i++) {
		struct async_task *p = &a->tasks[i];
		uint64_t w = pyobj_ptr_at(&r->o, p->addr + A->task_fut_waiter), kids, cb, group, parent;

		if (w && async_task_by_addr(a, w)) {
			add_awaiter(a, w, p->addr);
		} else if (w && pyobj_getattr(&r->o, w, "_children", &kids) && pyobj_is_type(&r->o, kids, "list")) {
			uint64_t items[ASYNC_MAX_LIST];
			int64_t n = pyobj_seq(&r->o, kids, items, ASYNC_MAX_LIST);

			for (int64_t k = 0; k < n && k < ASYNC_MAX_LIST; k++)
				add_awaiter(a, items[k], p->addr);
		}
		cb = pyobj_ptr_at(&r->o, p->addr + A->task_callback0);
		if (cb && pyobj_is_type(&r->o, cb, "method") && (group = pyobj_ptr_at(&r->o, cb + r->o.O->method_self)) &&
		    pyobj_getattr(&r->o, group, "_parent_task", &parent))
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
	int rc = pyobj_reader_init(&r->o, m, t, err, errlen);

	if (rc)
		return rc;
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

	if (!pyobj_plausible(loop))
		return 0;
	for (size_t i = 0; i < *ncache; i++)
		if (cache[i].loop == loop)
			return cache[i].tid;
	if (pyobj_getattr(&r->o, loop, "_thread_id", &idobj) && pyobj_is_type(&r->o, idobj, "int") && pyobj_long(&r->o, idobj, &pthread_id) &&
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
			uint64_t run = pyobj_ptr_at(&r.o, ts[i].addr + dbg.tstate_running_task);

			if (run)
				mark_running(out, run, (int32_t)ts[i].native_tid);
		}
	} else {
		struct loop_tid cache[ASYNC_MAX_LOOPS];
		size_t ncache = 0;

		for (size_t i = 0; i < out->n; i++)
			out->tasks[i].tid = loop_tid(&r, pyobj_ptr_at(&r.o, out->tasks[i].addr + r.A->task_loop), ts, nts, cache,
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
