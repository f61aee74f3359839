/*
 * Unit tests for user/python/asyncio.c on a fake target memory (as
 * test_pywalk.c fakes one): a 3.14-style task list read with given
 * _AsyncioDebug offsets (async_tasks_read_list), fed hostile input: lists
 * that loop or break, a list over ASYNC_MAX_TASKS, garbage names,
 * self-awaiting and mutually awaiting tasks, a coroutine chain that loops.
 * Every walk must end, keep what it could read, and say what it cut.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layouts.h"
#include "object_layouts.h"
#include "output/dump.h"
#include "python/asyncio.h"
#include "python/threads.h"
#include "target/memsrc.h"
#include "fakemem.h"
#include "unit.h"

/* ------------------------------------------------------- a 3.14 target */

#define V314 0x030e0af0u

/* task fields (what _AsyncioDebug would say): state is awaited_by + 8 */
#define T_AWAITED_BY 40
#define T_IS_TASK 52
#define T_BY_IS_SET 53
#define T_CORO 64
#define T_NAME 72
#define T_NODE 80
#define T_SIZE 128

#define HEAD 0x10000ull
#define STRS 0x20000ull                  /* str objects, 256 bytes apart */
#define STR(i) (STRS + 256ull * (i))
#define CORO_TYPE 0x30000ull
#define CORO_TYPE_NAME 0x30800ull
#define STR_TYPE 0x30400ull              /* inside the CORO_TYPE region */
#define COROS 0x40000ull                 /* coroutine objects, 512 bytes apart */
#define CORO(i) (COROS + 512ull * (i))
#define CODE 0x500000ull                 /* never read */
#define TASKS 0x1000000ull
#define TASK(i) (TASKS + (uint64_t)T_SIZE * (i))
#define UNMAPPED 0xdead0000ull
#define TID 4242

struct fake {
	struct fakemem fm;
	struct memsrc m;
	struct py_target t;
	struct async_debug_offsets dbg;
	uint8_t *head, *tasks, *strs, *coros;
	size_t ntasks;
};

/* A proper circular list of n tasks, no names, no coroutines. */
static void fake_init(struct fake *f, size_t n)
{
	const struct py_layout *L = py_layout_find(V314, NULL);

	if (!L)
		abort();
	memset(f, 0, sizeof(*f));
	f->m = (struct memsrc){ .read = fake_read, .ctx = &f->fm };
	f->t.version_hex = V314;
	f->t.layout = *L;
	f->dbg = (struct async_debug_offsets){
		.task_size = T_SIZE, .task_name = T_NAME, .task_awaited_by = T_AWAITED_BY, .task_is_task = T_IS_TASK,
		.task_awaited_by_is_set = T_BY_IS_SET, .task_coro = T_CORO, .task_node = T_NODE,
	};
	f->ntasks = n;
	f->head = region(&f->fm, HEAD, 64);
	f->strs = region(&f->fm, STRS, 256 * 16);
	f->coros = region(&f->fm, COROS, 512 * 8);
	f->tasks = region(&f->fm, TASKS, (size_t)T_SIZE * n);
	put64(f->head, 0, n ? TASK(0) + T_NODE : HEAD);
	for (size_t i = 0; i < n; i++)
		put64(f->tasks, T_SIZE * i + T_NODE, i + 1 < n ? TASK(i + 1) + T_NODE : HEAD);
	/* the coroutine type, named as read_frames checks */
	uint8_t *tp = region(&f->fm, CORO_TYPE, 4096);

	put64(tp, 24, CORO_TYPE_NAME); /* tp_name */
	memcpy(tp + (CORO_TYPE_NAME - CORO_TYPE), "coroutine", 10);
	/* the str type, with the flag pyobj_str checks */
	const struct py_obj_layout *O = py_obj_layout_find(V314, NULL);

	if (!O)
		abort();
	put64(tp, STR_TYPE - CORO_TYPE + O->type_flags, O->tpflags_str);
}

static uint8_t *task(struct fake *f, size_t i)
{
	return f->tasks + (size_t)T_SIZE * i;
}

/* An ASCII str object at STR(i) with text s (length may lie: len). */
static void make_str(struct fake *f, size_t i, const char *s, int64_t len)
{
	const struct py_layout *L = &f->t.layout;
	uint8_t *o = f->strs + 256 * i;
	uint32_t state = (1u << L->unicode_kind_shift) | (1u << L->unicode_compact_shift) |
			 (1u << L->unicode_ascii_shift);

	put64(o, L->object_type, STR_TYPE);
	memcpy(o + L->unicode_state, &state, 4);
	memcpy(o + L->unicode_length, &len, 8);
	memcpy(o + L->unicode_ascii_size, s, strlen(s) + 1);
}

static int read_fake(struct fake *f, struct async_tasks *out)
{
	char err[256] = "";
	int ret = async_tasks_read_list(&f->m, &f->t, &f->dbg, HEAD, TID, out, err, sizeof(err));

	if (ret)
		fprintf(stderr, "async_tasks_read_list: %s\n", err);
	return ret;
}

static void fake_done(struct fake *f)
{
	fake_free(&f->fm);
}

/* ------------------------------------------------------- tests */

static void test_proper_list(void)
{
	struct fake f;
	struct async_tasks a;

	fake_init(&f, 3);
	make_str(&f, 0, "first", 5);
	put64(task(&f, 0), T_NAME, STR(0));
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.n, 3);
	CHECK(!a.truncated && !a.incomplete);
	CHECK_STR(a.tasks[0].name, "first");
	CHECK_EQ_INT(a.tasks[2].tid, TID);
	CHECK(!a.tasks[0].inconsistent);
	async_tasks_free(&a);
	fake_done(&f);
}

/* next pointers loop among the tasks without coming back to the head */
static void test_list_loops(void)
{
	struct fake f;
	struct async_tasks a;

	fake_init(&f, 4);
	put64(task(&f, 3), T_NODE, TASK(1) + T_NODE);
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.n, 4);
	CHECK(a.incomplete);
	CHECK(!a.truncated);
	CHECK(f.fm.reads < 1000); /* cut at the loop, not at ASYNC_MAX_TASKS */
	async_tasks_free(&a);
	/* a node pointing at itself */
	put64(task(&f, 0), T_NODE, TASK(0) + T_NODE);
	f.fm.reads = 0;
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.n, 1);
	CHECK(a.incomplete && f.fm.reads < 1000);
	async_tasks_free(&a);
	fake_done(&f);
}

/* the third task's next pointer leads to unreadable memory */
static void test_list_unreadable(void)
{
	struct fake f;
	struct async_tasks a;

	fake_init(&f, 5);
	put64(task(&f, 2), T_NODE, UNMAPPED + T_NODE);
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.n, 3);
	CHECK(a.incomplete);
	async_tasks_free(&a);
	/* NULL next */
	put64(task(&f, 2), T_NODE, 0);
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.n, 3);
	CHECK(a.incomplete);
	async_tasks_free(&a);
	fake_done(&f);
}

static void test_list_too_long(void)
{
	struct fake f;
	struct async_tasks a;

	fake_init(&f, ASYNC_MAX_TASKS + 10);
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.n, ASYNC_MAX_TASKS);
	CHECK(a.truncated);
	async_tasks_free(&a);
	fake_done(&f);
}

static void test_garbage_names(void)
{
	struct fake f;
	struct async_tasks a;

	fake_init(&f, 5);
	memset(f.strs + 256 * 1, 0xff, 256);             /* no str at all */
	make_str(&f, 2, "liar", (int64_t)1 << 40);       /* length far past the object */
	make_str(&f, 3, "neg", -5);
	put64(task(&f, 0), T_NAME, UNMAPPED);
	put64(task(&f, 1), T_NAME, STR(1));
	put64(task(&f, 2), T_NAME, STR(2));
	put64(task(&f, 3), T_NAME, STR(3));
	put64(task(&f, 4), T_NAME, STR(4) + 3);          /* misaligned */
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.n, 5);
	CHECK_STR(a.tasks[0].name, "");
	CHECK_STR(a.tasks[1].name, "");
	/* cut to what one read holds, and terminated */
	CHECK(strncmp(a.tasks[2].name, "liar", 4) == 0);
	CHECK(memchr(a.tasks[2].name, 0, sizeof(a.tasks[2].name)) != NULL);
	CHECK_STR(a.tasks[3].name, "");
	CHECK_STR(a.tasks[4].name, "");
	async_tasks_free(&a);
	fake_done(&f);
}

/* Prints a's tree as dump --async does; the text, malloc'd. */
static char *print_tree(struct async_tasks *a)
{
	struct dump *d = calloc(1, sizeof(*d));
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!d || !out)
		abort();
	d->t.version_hex = V314;
	d->aio = *a;
	print_async_text(d, out);
	fclose(out);
	free(d);
	return text;
}

static void test_awaited_by_cycles(void)
{
	struct fake f;
	struct async_tasks a;

	fake_init(&f, 4);
	/* 0 awaits itself; 1 and 2 await each other; 3 awaited by 2 */
	put64(task(&f, 0), T_AWAITED_BY, TASK(0));
	put64(task(&f, 1), T_AWAITED_BY, TASK(2));
	put64(task(&f, 2), T_AWAITED_BY, TASK(1));
	put64(task(&f, 3), T_AWAITED_BY, TASK(2));
	static const char *const names[] = { "self", "one", "two", "three" };

	for (size_t i = 0; i < 4; i++) {
		make_str(&f, i, names[i], (int64_t)strlen(names[i]));
		put64(task(&f, i), T_NAME, STR(i));
	}
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.n, 4);
	CHECK_EQ_INT(a.tasks[0].nawaited_by, 0); /* a task does not await itself */
	CHECK_EQ_INT(a.tasks[1].nawaited_by, 1);
	CHECK_EQ_INT(a.tasks[1].awaited_by[0], TASK(2));
	CHECK_EQ_INT(a.tasks[2].nawaited_by, 1);
	char *text = print_tree(&a);

	/* "self" is a root; one, two, three hang in a cycle no root reaches:
	 * printed once each, the repeat cut */
	CHECK(strstr(text, "Thread 4242 (event loop):\ntask self [pending]\n") != NULL);
	CHECK(strstr(text, "Tasks in a cycle of awaits:\n") != NULL);
	CHECK(strstr(text, "(awaits a task above it: cycle cut)") != NULL);
	CHECK(strlen(text) < 1000);
	if (!strstr(text, "cycle cut"))
		fprintf(stderr, "%s", text);
	free(text);
	async_tasks_free(&a);
	fake_done(&f);
}

/* A suspended coroutine at CORO(i) awaiting the object next. */
static void make_coro(struct fake *f, size_t i, uint64_t next)
{
	const struct py_layout *L = &f->t.layout;
	uint8_t *c = f->coros + 512 * i;
	uint64_t frame = CORO(i) + 72;           /* gi_iframe, 3.14 */
	uint8_t *fr = c + 72;

	put64(c, 8, CORO_TYPE);
	c[67] = (uint8_t)-1;                     /* FRAME_SUSPENDED_YIELD_FROM */
	put64(fr, L->frame_code, CODE | 1);      /* a tagged _PyStackRef */
	put64(fr, L->frame_instr, CODE + L->code_code_adaptive + 2 * (i + 1));
	put64(fr, 64, frame + 80 + 8);           /* stackpointer */
	put64(fr, 80, next);                     /* localsplus[0]: the awaited object */
}

static void test_coroutine_loop(void)
{
	struct fake f;
	struct async_tasks a;

	fake_init(&f, 2);
	/* task 0: CORO(0) awaits CORO(1) awaits CORO(0) ...; task 1: CORO(2)
	 * awaits CORO(3), which awaits nothing */
	make_coro(&f, 0, CORO(1));
	make_coro(&f, 1, CORO(0));
	make_coro(&f, 2, CORO(3));
	make_coro(&f, 3, 0);
	put64(task(&f, 0), T_CORO, CORO(0));
	put64(task(&f, 1), T_CORO, CORO(2));
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.n, 2);
	CHECK_EQ_INT(a.tasks[0].nframes, ASYNC_MAX_FRAMES);
	CHECK(a.tasks[0].inconsistent);
	CHECK_EQ_INT(a.tasks[1].nframes, 2);
	CHECK(!a.tasks[1].inconsistent);
	async_tasks_free(&a);
	/* a coroutine awaiting itself */
	make_coro(&f, 0, CORO(0));
	CHECK_EQ_INT(read_fake(&f, &a), 0);
	CHECK_EQ_INT(a.tasks[0].nframes, 1);
	async_tasks_free(&a);
	fake_done(&f);
}

int main(void)
{
	test_proper_list();
	test_list_loops();
	test_list_unreadable();
	test_list_too_long();
	test_garbage_names();
	test_awaited_by_cycles();
	test_coroutine_loop();
	UNIT_DONE();
}
