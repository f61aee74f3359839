/* The sampler's session without BPF: records of processes not sampled yet
 * (--subprocesses) wait for the poll instead of being opened in the ring
 * buffer's callback. */
#include "sampler/session_impl.h"
#include "unit.h"

/* No process has these PIDs: pid_max is at most 2^22. */
#define NO_PID 0x7ffffff0u

static struct sample_event cpu_record(uint32_t pid)
{
	return (struct sample_event){ .pid = pid, .tid = pid, .stack_id = 42, .kind = EVENT_CPU };
}

static void test_held_until_poll(void)
{
	struct session_config cfg = { .hz = 99, .subprocesses = true, .who = "test" };
	struct session *s = session_new(&cfg);
	struct sample_event ev = cpu_record(NO_PID);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_INT(aggregate_event(s, &ev, sizeof(ev)), 0);
	/* Held: nothing opened nor counted inside the callback. */
	CHECK_EQ_INT(session_totals(s).samples, 0);
	CHECK_EQ_INT(s->deferred.npids, 1);
	discover_open_deferred(s);
	/* Its process could not be opened: a sample, unresolved, as before. */
	CHECK_EQ_INT(session_totals(s).samples, 1);
	CHECK_EQ_INT(session_totals(s).unresolved, 1);
	CHECK_EQ_INT(s->deferred.npids, 0);
	CHECK_EQ_INT(s->deferred.len, 0);

	/* DEFER_PIDS processes wait at most; records of more are lost, counted. */
	for (uint32_t i = 0; i < DEFER_PIDS + 3; i++) {
		ev = cpu_record(NO_PID - 1 - i);
		aggregate_event(s, &ev, sizeof(ev));
	}
	CHECK_EQ_INT(s->deferred.npids, DEFER_PIDS);
	CHECK_EQ_INT(session_totals(s).samples, 1 + 3);
	CHECK_EQ_INT(session_totals(s).unresolved, 1 + 3);
	discover_open_deferred(s);
	CHECK_EQ_INT(session_totals(s).samples, 1 + DEFER_PIDS + 3);
	CHECK_EQ_INT(session_totals(s).unresolved, 1 + DEFER_PIDS + 3);
	session_free(s);
}

static void test_not_held_without_subprocesses(void)
{
	struct session_config cfg = { .hz = 99, .who = "test" };
	struct session *s = session_new(&cfg);
	struct sample_event ev = cpu_record(NO_PID);

	CHECK(s != NULL);
	if (!s)
		return;
	aggregate_event(s, &ev, sizeof(ev));
	CHECK_EQ_INT(s->deferred.npids, 0);
	CHECK_EQ_INT(session_totals(s).unresolved, 1);
	session_free(s);
}

int main(void)
{
	test_held_until_poll();
	test_not_held_without_subprocesses();
	UNIT_DONE();
}
