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

/* The achieved rate: samples over the process's CPU time, reported only
 * when clearly short of the rate asked and when enough was measured. */
static void test_achieved_rate(void)
{
	struct session_config cfg = { .hz = 1000, .who = "test" };
	struct session *s = session_new(&cfg);

	CHECK(s != NULL);
	if (!s)
		return;
	/* 2 s of CPU at 1000 Hz asked, 700 samples: 350 Hz. */
	s->rate = (struct rate_probe){ .started = true, .samples0 = 100, .cpu0_ns = 1000000000ull,
				       .samples = 800, .cpu_ns = 3000000000ull };
	CHECK(session_achieved_hz(s) > 349.9 && session_achieved_hz(s) < 350.1);
	CHECK(session_effective_hz(s) > 349.9 && session_effective_hz(s) < 350.1);
	/* 95% of the asked rate: noise, the asked one stands. */
	s->rate.samples = 100 + 1900;
	CHECK(session_achieved_hz(s) == 0);
	CHECK(session_effective_hz(s) == 1000);
	/* 0.1 s of CPU is worth 100 samples at 1000 Hz: too little to say. */
	s->rate.samples = 100 + 10;
	s->rate.cpu_ns = s->rate.cpu0_ns + 100000000ull;
	CHECK(session_achieved_hz(s) == 0);
	/* A counter that went backwards is garbage, not a rate. */
	s->rate.samples = 50;
	s->rate.cpu_ns = 3000000000ull;
	CHECK(session_achieved_hz(s) == 0);
	CHECK(rate_measured_hz(700, 2000000000ull, 1000) > 349.9);
	CHECK(rate_measured_hz(700, 2000000000ull, 0) == 0);
	session_free(s);
}

int main(void)
{
	test_held_until_poll();
	test_not_held_without_subprocesses();
	test_achieved_rate();
	UNIT_DONE();
}
