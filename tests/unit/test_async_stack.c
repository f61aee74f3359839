/* record --async: logical stacks from made-up task tables (user/sampler/async_stack.c). */
#include <stdlib.h>
#include <string.h>

#include "pyperf_frame.h"
#include "sampler/async.h"
#include "unit.h"

#define OFF 0x58 /* a coroutine's frame lies this far into it */

/* A table of n tasks: task i at 0x1000 * (i + 1), its coroutine 0x100 past. */
static struct async_tasks fake_tasks(size_t n)
{
	struct async_tasks a = { .tasks = calloc(n, sizeof(struct async_task)), .n = n };

	for (size_t i = 0; i < n; i++) {
		a.tasks[i].addr = 0x1000 * (i + 1);
		a.tasks[i].coro = 0x1000 * (i + 1) + 0x100;
		snprintf(a.tasks[i].name, sizeof(a.tasks[i].name), "t%zu", i);
		a.tasks[i].state = ASYNC_PENDING;
	}
	return a;
}

static void awaits(struct async_task *waiter_of, const struct async_task *waiter)
{
	if (waiter_of->nawaited_by < ASYNC_MAX_AWAITERS)
		waiter_of->awaited_by[waiter_of->nawaited_by++] = waiter->addr;
}

/* The labels joined with ';' (folded style) into buf. */
static const char *joined(const char **labels, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ";" : "", labels[i]);
	return buf;
}

static void test_lookup_and_runs(void)
{
	struct async_table t = { 0 };
	struct async_tasks a = fake_tasks(3);
	int run = 7;

	CHECK_EQ_INT(async_table_set(&t, &a), 0);
	CHECK(a.tasks == NULL); /* taken over */
	CHECK(async_table_by_coro(&t, 0x2100) == &t.tasks.tasks[1]);
	CHECK(async_table_by_addr(&t, 0x3000) == &t.tasks.tasks[2]);
	CHECK(async_table_by_coro(&t, 0x2000) == NULL);
	CHECK(async_table_by_coro(&t, 0) == NULL);

	/* A generator expression inside the task's code (an innermost run
	 * that is no task), then the task's coroutine, then a generator
	 * around the event loop. */
	__u64 runs[PYPERF_ASYNC_RUNS] = { 0x9000 + OFF, 0x2100 + OFF, 0x7700 + OFF, 0 };

	CHECK(async_task_of_runs(&t, runs, OFF, &run) == &t.tasks.tasks[1]);
	CHECK_EQ_INT(run, 1);
	/* No offset known, nothing but 0s, or addresses below the offset: none. */
	CHECK(async_task_of_runs(&t, runs, 0, &run) == NULL);
	CHECK_EQ_INT(run, -1);
	__u64 none[PYPERF_ASYNC_RUNS] = { 0, 0x10, 0, 0 };

	CHECK(async_task_of_runs(&t, none, OFF, &run) == NULL);
	async_table_free(&t);
	CHECK(async_table_by_coro(&t, 0x2100) == NULL); /* empty after free */
}

static void test_chain_and_labels(void)
{
	struct async_table t = { 0 };
	struct async_tasks a = fake_tasks(5);
	struct frametab ft;
	const char *out[64], *frames[3];
	char buf[512];

	frametab_init(&ft);
	strcpy(a.tasks[0].name, "parent");
	strcpy(a.tasks[1].name, "worker-1");
	strcpy(a.tasks[2].name, "worker-2");
	strcpy(a.tasks[3].name, "other");
	awaits(&a.tasks[1], &a.tasks[0]);
	awaits(&a.tasks[2], &a.tasks[0]);
	/* several awaiters: the first is followed */
	awaits(&a.tasks[4], &a.tasks[2]);
	awaits(&a.tasks[4], &a.tasks[3]);
	strcpy(a.tasks[4].name, "leaf");
	CHECK_EQ_INT(async_table_set(&t, &a), 0);

	frames[0] = frametab_pseudo(&ft, "worker (w.py:10)");
	frames[1] = frametab_pseudo(&ft, "crunch (w.py:5)");
	frames[2] = frametab_pseudo(&ft, "burn (w.py:2)");
	size_t n = async_stack_labels(&t, &ft, &t.tasks.tasks[2], frames, 3, out, 64);

	CHECK_STR(joined(out, n, buf, sizeof(buf)),
		  "task parent;task worker-2;worker (w.py:10);crunch (w.py:5);burn (w.py:2)");
	n = async_stack_labels(&t, &ft, &t.tasks.tasks[4], frames, 1, out, 64);
	CHECK_STR(joined(out, n, buf, sizeof(buf)), "task parent;task worker-2;task leaf;worker (w.py:10)");
	/* a root task alone */
	n = async_stack_labels(&t, &ft, &t.tasks.tasks[0], frames + 2, 1, out, 64);
	CHECK_STR(joined(out, n, buf, sizeof(buf)), "task parent;burn (w.py:2)");
	/* labels are interned: the same task gives the same pointer, and
	 * the key of a stack depends on the order of its labels */
	const char *again[64];
	size_t m = async_stack_labels(&t, &ft, &t.tasks.tasks[0], frames + 2, 1, again, 64);

	CHECK_EQ_INT(m, n);
	CHECK(again[0] == out[0]);
	CHECK(async_labels_key(out, n) == async_labels_key(again, m));
	const char *swapped[2] = { out[1], out[0] };

	CHECK(async_labels_key(out, 2) != async_labels_key(swapped, 2));
	/* the room given is respected */
	n = async_stack_labels(&t, &ft, &t.tasks.tasks[4], frames, 3, out, 2);
	CHECK_EQ_INT(n, 2);
	async_table_free(&t);
	frametab_free(&ft);
}

static void test_hostile_links(void)
{
	struct async_table t = { 0 };
	struct async_tasks a = fake_tasks(ASYNC_MAX_CHAIN + 10);
	const struct async_task *chain[ASYNC_MAX_CHAIN];

	/* a cycle: 0 awaits 1 awaits 2 awaits 0 */
	awaits(&a.tasks[0], &a.tasks[1]);
	awaits(&a.tasks[1], &a.tasks[2]);
	awaits(&a.tasks[2], &a.tasks[0]);
	/* an awaiter not in the table */
	a.tasks[3].awaited_by[0] = 0xdead000;
	a.tasks[3].nawaited_by = 1;
	/* a chain longer than the bound: 5 <- 6 <- ... <- last */
	for (size_t i = 5; i + 1 < a.n; i++)
		awaits(&a.tasks[i], &a.tasks[i + 1]);
	CHECK_EQ_INT(async_table_set(&t, &a), 0);
	const struct async_task *k = t.tasks.tasks;

	size_t n = async_task_chain(&t, &k[0], chain, ASYNC_MAX_CHAIN);

	CHECK_EQ_INT(n, 3);
	CHECK(chain[2] == &k[0]); /* the task itself last */
	CHECK(chain[1] == &k[1]);
	CHECK(chain[0] == &k[2]); /* the cycle cut where it closes */
	n = async_task_chain(&t, &k[3], chain, ASYNC_MAX_CHAIN);
	CHECK_EQ_INT(n, 1);
	CHECK(chain[0] == &k[3]);
	n = async_task_chain(&t, &k[5], chain, ASYNC_MAX_CHAIN);
	CHECK_EQ_INT(n, ASYNC_MAX_CHAIN); /* the root side dropped */
	CHECK(chain[ASYNC_MAX_CHAIN - 1] == &k[5]);
	CHECK(chain[0] == &k[5 + ASYNC_MAX_CHAIN - 1]);
	CHECK_EQ_INT(async_task_chain(&t, &k[5], chain, 0), 0);
	CHECK_EQ_INT(async_task_chain(&t, NULL, chain, ASYNC_MAX_CHAIN), 0);
	async_table_free(&t);
}

static void test_hostile_names(void)
{
	struct async_table t = { 0 };
	struct async_tasks a = fake_tasks(3);
	struct frametab ft;

	frametab_init(&ft);
	a.tasks[0].name[0] = '\0';                                 /* unreadable name */
	memcpy(a.tasks[1].name, "bad\xff\xfe;x", 8);                /* not UTF-8, a separator */
	memset(a.tasks[2].name, 'n', sizeof(a.tasks[2].name));     /* not terminated */
	CHECK_EQ_INT(async_table_set(&t, &a), 0);
	CHECK_STR(async_task_label(&t, &ft, &t.tasks.tasks[0]), "task 0x1000");
	CHECK_STR(async_task_label(&t, &ft, &t.tasks.tasks[1]), "task bad\xef\xbf\xbd\xef\xbf\xbd;x");
	const char *l = async_task_label(&t, &ft, &t.tasks.tasks[2]);

	CHECK(l && strlen(l) == 5 + sizeof(a.tasks[2].name));
	async_table_free(&t);
	frametab_free(&ft);
}

/* A frame as the kernel packs it: code address, generator flag, lasti. */
static uint64_t fr(uint64_t code, int gen)
{
	return pyperf_frame_pack(code, (__u32)gen, 3);
}

static void test_run_ends(void)
{
	/* leaf first: genexpr (gen), burn, crunch (gen), worker (gen),
	 * Handle._run, _run_once, run_forever, a fixture generator (gen) */
	uint64_t frames[] = { fr(0x1000, 1), fr(0x2000, 0), fr(0x3000, 1), fr(0x4000, 1),
			      fr(0x5000, 0), fr(0x6000, 0), fr(0x7000, 0), fr(0x8000, 1) };
	int8_t run_of[8];

	async_gen_run_ends(frames, 8, run_of);
	CHECK_EQ_INT(run_of[0], 0);  /* the genexpr alone */
	CHECK_EQ_INT(run_of[1], -1);
	CHECK_EQ_INT(run_of[2], -1); /* inside the run, not its end */
	CHECK_EQ_INT(run_of[3], 1);  /* the task's coroutine: outermost of its run */
	CHECK_EQ_INT(run_of[4], -1);
	CHECK_EQ_INT(run_of[7], 2);  /* a run the stack ends in */
	/* more runs than the kernel keeps: the rest are not counted */
	uint64_t many[12];

	for (int i = 0; i < 12; i++)
		many[i] = fr(0x1000 * (uint64_t)(i + 1), i % 2 == 0);
	int8_t ro[12];

	async_gen_run_ends(many, 12, ro);
	CHECK_EQ_INT(ro[0], 0);
	CHECK_EQ_INT(ro[6], 3);
	CHECK_EQ_INT(ro[8], -1);
}

int main(void)
{
	test_lookup_and_runs();
	test_chain_and_labels();
	test_hostile_links();
	test_hostile_names();
	test_run_ends();
	UNIT_DONE();
}
