/* python/waits.c on fixed inputs: /proc syscall lines, syscall kinds, the
 * Python frames around a futex, sleeps, select/poll sets, lock objects
 * behind a futex (semaphore and parking-lot forms), /proc/net lines. */
#include <stdint.h>
#include <string.h>

#include "fakemem.h"
#include "python/threads.h"
#include "python/waits.h"
#include "unit.h"

static void test_parse(void)
{
	struct wait_regs r;

	CHECK(wait_regs_parse("running\n", &r) && r.where == WHERE_RUNNING);
	CHECK(wait_regs_parse("-1 0x7ffd1000 0x401000\n", &r) && r.where == WHERE_USER && r.sp == 0x7ffd1000);
	CHECK(wait_regs_parse("202 0x7f6dbc001200 0x189 0x0 0x0 0x0 0xffffffff 0x7f6dc151ee00 0x7f6dc151ee10\n", &r));
	CHECK_EQ_INT(r.where, WHERE_SYSCALL);
	CHECK_EQ_INT(r.nr, 202);
	CHECK(r.arg[0] == 0x7f6dbc001200ull && r.arg[1] == 0x189 && r.arg[5] == 0xffffffff);
	CHECK(r.sp == 0x7f6dc151ee00ull && r.pc == 0x7f6dc151ee10ull);
	CHECK(!wait_regs_parse("", &r));
	CHECK(!wait_regs_parse("garbage", &r));
	CHECK(!wait_regs_parse("202 0x1 0x2", &r));
}

static struct wait_regs sys(long nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct wait_regs r = { .where = WHERE_SYSCALL, .nr = nr, .arg = { a0, a1, a2 } };

	return r;
}

static void test_kinds(void)
{
	struct wait_regs r = sys(202, 0x1080, 0x189, 0);

	CHECK_EQ_INT(wait_syscall_kind(&r, 0x1000, 0x1100), WK_GIL);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0x2000, 0x2100), WK_LOCK);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_LOCK);
	r = sys(230, 1, 1, 0x5000);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_SLEEP);
	r = sys(270, 0, 0, 0);     /* pselect6 without descriptors: time.sleep before 3.11 */
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_SLEEP);
	r = sys(270, 5, 0x6000, 0);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_SELECT);
	r = sys(7, 0x6000, 0, 0);  /* poll of nothing */
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_SLEEP);
	r = sys(7, 0x6000, 2, 0);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_POLL);
	r = sys(45, 5, 0x7000, 10);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_READ);
	CHECK_EQ_INT(wait_syscall_fd(&r, WK_READ), 5);
	r = sys(281, 9, 0, 0);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_EPOLL);
	CHECK_EQ_INT(wait_syscall_fd(&r, WK_EPOLL), 9);
	r = sys(43, 3, 0, 0);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_ACCEPT);
	r = sys(61, 0, 0, 0);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_CHILD);
	r = sys(999, 0, 0, 0);
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_SYSCALL);
	CHECK(wait_syscall_name(999) == NULL);
	CHECK_STR(wait_syscall_name(202), "futex");
	r.where = WHERE_RUNNING;
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_RUNNING);
	r.where = WHERE_USER;
	CHECK_EQ_INT(wait_syscall_kind(&r, 0, 0), WK_STOPPED);
	CHECK_STR(wait_kind_name(WK_QUEUE), "queue");
	CHECK_STR(wait_kind_name((enum wait_kind)1000), "unknown");
}

#define TH "/usr/lib/python3.12/threading.py"

static void test_refine(void)
{
	/* 3.11+ qualnames */
	const char *n1[] = { "Condition.wait", "Event.wait", "worker" }, *f1[] = { TH, TH, "/app.py" };
	const char *n2[] = { "Condition.wait", "Queue.get", "worker" }, *f2[] = { TH, "/usr/lib/python3.12/queue.py", "/app.py" };
	const char *n3[] = { "Thread._wait_for_tstate_lock", "Thread.join" }, *f3[] = { TH, TH };
	const char *n4[] = { "worker" }, *f4[] = { "/app.py" };
	const char *n5[] = { "Condition.wait", "Condition.wait_for", "Barrier._wait" }, *f5[] = { TH, TH, TH };
	const char *n6[] = { "Condition.wait", "Semaphore.acquire" }, *f6[] = { TH, TH };
	/* before 3.11: bare names, Event.wait is a threading.py `wait` calling Condition.wait */
	const char *n7[] = { "wait", "wait", "worker" }, *f7[] = { TH, TH, "/app.py" };
	const char *n8[] = { "join" }, *f8[] = { TH };
	/* a function named wait in another file is no condition */
	const char *n9[] = { "wait" }, *f9[] = { "/app/mythreading.py" };

	CHECK_EQ_INT(wait_refine_futex(n1, f1, 3), WK_EVENT);
	CHECK_EQ_INT(wait_refine_futex(n2, f2, 3), WK_QUEUE);
	CHECK_EQ_INT(wait_refine_futex(n3, f3, 2), WK_JOIN);
	CHECK_EQ_INT(wait_refine_futex(n4, f4, 1), WK_LOCK);
	CHECK_EQ_INT(wait_refine_futex(n5, f5, 3), WK_CONDITION);
	CHECK_EQ_INT(wait_refine_futex(n6, f6, 2), WK_SEMAPHORE);
	CHECK_EQ_INT(wait_refine_futex(n7, f7, 3), WK_EVENT);
	CHECK_EQ_INT(wait_refine_futex(n8, f8, 1), WK_JOIN);
	CHECK_EQ_INT(wait_refine_futex(n9, f9, 1), WK_LOCK);
	CHECK_EQ_INT(wait_refine_futex(n1, f1, 1), WK_CONDITION);
	CHECK_EQ_INT(wait_refine_futex(NULL, NULL, 0), WK_LOCK);
}

static void test_sleep_and_sets(void)
{
	struct fakemem fm = { 0 };
	struct memsrc m = src_of(&fm);
	uint8_t *mem = region(&fm, 0x10000, 4096);
	double secs = 0;

	put64(mem, 0, 3600);            /* timespec {3600, 500000000} */
	put64(mem, 8, 500000000);
	struct wait_regs r = sys(35, 0x10000, 0, 0);

	CHECK_EQ_INT(wait_sleep_seconds(&m, &r, true, &secs), 2);
	CHECK(secs > 3600.49 && secs < 3600.51);
	r = sys(230, 1, 0, 0x10000);    /* relative clock_nanosleep */
	CHECK_EQ_INT(wait_sleep_seconds(&m, &r, false, &secs), 2);
	r = sys(230, 1, 1, 0x10000);    /* absolute: needs a clock, so not in a core */
	CHECK_EQ_INT(wait_sleep_seconds(&m, &r, false, &secs), 0);
	r = sys(230, 1, 1, 0x10000);    /* live: monotonic 3600.5 s is not long past boot here, or it is 0 */
	CHECK(wait_sleep_seconds(&m, &r, true, &secs) == 1 && secs >= 0);
	put64(mem, 8, 2000000000);      /* invalid nanoseconds */
	r = sys(35, 0x10000, 0, 0);
	CHECK_EQ_INT(wait_sleep_seconds(&m, &r, true, &secs), 0);
	r = sys(270, 0, 0, 0);          /* pselect6 with no timeout pointer */
	CHECK_EQ_INT(wait_sleep_seconds(&m, &r, true, &secs), 0);

	/* select(6, {1, 5}, NULL, {5}) watches 2 descriptors, the first 1 */
	int first;

	put64(mem, 64, (1u << 1) | (1u << 5));
	put64(mem, 128, 1u << 5);
	r = (struct wait_regs){ .where = WHERE_SYSCALL, .nr = 23, .arg = { 6, 0x10040, 0, 0x10080 } };
	CHECK_EQ_INT(wait_watched_fds(&m, &r, WK_SELECT, &first), 2);
	CHECK_EQ_INT(first, 1);
	r.arg[0] = 100000;              /* more than FD_SETSIZE: not believed */
	CHECK_EQ_INT(wait_watched_fds(&m, &r, WK_SELECT, &first), -1);
	/* poll of {fd 7}, {fd -1 (ignored)}, {fd 9} */
	put32(mem, 256, 7);
	put32(mem, 264, -1);
	put32(mem, 272, 9);
	r = sys(7, 0x10100, 3, 0);
	CHECK_EQ_INT(wait_watched_fds(&m, &r, WK_POLL, &first), 2);
	CHECK_EQ_INT(first, 7);
	r = sys(7, 0x90000, 3, 0);      /* unreadable */
	CHECK_EQ_INT(wait_watched_fds(&m, &r, WK_POLL, &first), -1);
	fake_free(&fm);
}

/* A type object at type whose tp_name (at +24) is name. */
static void put_type(struct fakemem *fm, uint64_t type, const char *name)
{
	uint8_t *t = region(fm, type, 64);
	uint8_t *s = region(fm, type + 0x1000, 32);

	put64(t, 24, type + 0x1000);
	memcpy(s, name, strlen(name) + 1);
}

static void test_find_lock(void)
{
	struct fakemem fm = { 0 };
	struct memsrc m = src_of(&fm);
	struct wait_lock lk;
	const uint64_t lock_t = 0x100000, rlock_t = 0x200000, other_t = 0x300000;

	put_type(&fm, lock_t, "_thread.lock");
	put_type(&fm, rlock_t, "_thread.RLock");
	put_type(&fm, other_t, "_thread.lockx");
	/* 3.12: a semaphore at 0x500000; an RLock at 0x600000 points at it,
	 * owned by ident 0x7777; a decoy of another type points at it too. */
	uint8_t *rl = region(&fm, 0x600000, 48), *decoy = region(&fm, 0x610000, 48);
	uint8_t *stack = region(&fm, 0x7f0000, 4096);

	put64(rl, 8, rlock_t);
	put64(rl, 16, 0x500000);
	put64(rl, 24, 0x7777);
	put64(decoy, 8, other_t);
	put64(decoy, 16, 0x500000);
	put64(stack, 40, 0x610000);
	put64(stack, 48, 12345);        /* not a pointer */
	put64(stack, 200, 0x600000);
	CHECK_EQ_INT(wait_find_lock(&m, 0x030c01f0, 0x500000, 0x7f0000, NULL, 0, &lk), 0);
	CHECK(lk.obj == 0x600000 && lk.rlock && lk.owner_ident == 0x7777);
	/* not on the stack, but in a register (a core) */
	put64(stack, 200, 0);
	const uint64_t regs[] = { 0, 0x600000 };

	CHECK_EQ_INT(wait_find_lock(&m, 0x030c01f0, 0x500000, 0x7f0000, NULL, 0, &lk), -1);
	CHECK(lk.obj == 0);
	CHECK_EQ_INT(wait_find_lock(&m, 0x030c01f0, 0x500000, 0x7f0000, regs, 2, &lk), 0);
	CHECK(lk.obj == 0x600000);
	/* 3.14: the futex is a parking-lot entry on the stack (sp + 0x100):
	 * its addr (futex - 8) is the PyMutex of a Lock at 0x700000. */
	uint8_t *l = region(&fm, 0x700000, 32);

	put64(l, 8, lock_t);
	put64(stack, 0xf8, 0x700010);
	CHECK_EQ_INT(wait_find_lock(&m, 0x030e00f0, 0x7f0100, 0x7f0000, NULL, 0, &lk), 0);
	CHECK(lk.obj == 0x700000 && !lk.rlock && lk.parked_on == 0x700010);
	/* parked on something that is no lock (a thread handle's event) */
	put64(stack, 0xf8, 0x710009);
	CHECK_EQ_INT(wait_find_lock(&m, 0x030e00f0, 0x7f0100, 0x7f0000, NULL, 0, &lk), 0);
	CHECK(lk.obj == 0 && lk.parked_on == 0x710009);
	/* before 3.13 a futex near sp is not a parking lot */
	CHECK_EQ_INT(wait_find_lock(&m, 0x030c01f0, 0x7f0100, 0x7f0000, NULL, 0, &lk), -1);
	CHECK_EQ_INT(wait_find_lock(&m, 0x030c01f0, 0, 0x7f0000, NULL, 0, &lk), -1);
	fake_free(&fm);
}

static void test_net(void)
{
	char out[128];

	CHECK(wait_net_line("   3: 0100007F:A8EA 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1",
			    false, 4242, out, sizeof(out)));
	CHECK_STR(out, "127.0.0.1:43242 -> 127.0.0.1:5432");
	CHECK(!wait_net_line("   3: 0100007F:A8EA 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 4242 1",
			     false, 4243, out, sizeof(out)));
	/* listening: no peer */
	CHECK(wait_net_line("   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1",
			    false, 77, out, sizeof(out)));
	CHECK_STR(out, "0.0.0.0:8080");
	CHECK(wait_net_line("   0: 00000000000000000000000001000000:1F90 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 99 1",
			    true, 99, out, sizeof(out)));
	CHECK_STR(out, "[::1]:8080 -> [::ffff:127.0.0.1]:54321");
	CHECK(!wait_net_line("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
			     false, 0, out, sizeof(out)));
	CHECK(!wait_net_line("   3: 0100007F:ZZZZ 0100007F:1538 01 0:0 0:0 0 0 0 4242", false, 4242, out, sizeof(out)));
	CHECK(wait_unix_line("0000000000000000: 00000002 00000000 00010000 0001 01 31337 /run/app.sock\n", 31337, out, sizeof(out)));
	CHECK_STR(out, "/run/app.sock");
	CHECK(wait_unix_line("0000000000000000: 00000003 00000000 00000000 0001 03 555\n", 555, out, sizeof(out)));
	CHECK_STR(out, "");
	CHECK(!wait_unix_line("Num       RefCount Protocol Flags    Type St Inode Path\n", 0, out, sizeof(out)));
}

/* Wait-for cycles: each named once, from its lowest thread; chains that
 * end, and threads waiting for a thread not listed, are no cycle. */
static void test_deadlocks(void)
{
	static struct dump d;
	struct dthread th[7] = { 0 };
	/* 10->11->10; 12->13->99 (not listed); 14->15->16->14 */
	const int32_t tid[7] = { 10, 11, 12, 13, 14, 15, 16 }, waits[7] = { 11, 10, 13, 99, 15, 16, 14 };
	size_t idx[7], lens[7];

	for (int i = 0; i < 7; i++) {
		th[i].tid = tid[i];
		th[i].wait.blocker_tid = waits[i];
	}
	d.th = th;
	d.nth = 7;
	CHECK_EQ_INT(find_deadlocks(&d, idx, lens, 7), 2);
	CHECK(lens[0] == 2 && idx[0] == 0 && idx[1] == 1);
	CHECK(lens[1] == 3 && idx[2] == 4 && idx[3] == 5 && idx[4] == 6);
	CHECK_EQ_INT(find_deadlocks(&d, idx, lens, 1), 1);
	th[1].wait.blocker_tid = 0;
	CHECK_EQ_INT(find_deadlocks(&d, idx, lens, 7), 1);
	/* A thread "waiting for itself" is a state read mid-change (no wait
	 * dump names can be on the waiter): no cycle. */
	th[0].wait.blocker_tid = 10;
	CHECK_EQ_INT(find_deadlocks(&d, idx, lens, 7), 1);
	CHECK(lens[0] == 3 && idx[0] == 4);
}

int main(void)
{
	test_parse();
	test_kinds();
	test_refine();
	test_sleep_and_sets();
	test_find_lock();
	test_net();
	test_deadlocks();
	UNIT_DONE();
}
