/*
 * What one timer wakeup costs this host: a thread sleeping to absolute
 * times RATE times a second for SECONDS, as pyperf's remote sampler does
 * (clock_nanosleep, timer slack 1 ns), and nothing else. Prints the
 * wakeups made and the thread's CPU time (schedstat, ns) over them:
 *   wakeup_cost RATE SECONDS  ->  "wakeups N cpu_ns M"
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	unsigned long long run = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (!f || fscanf(f, "%llu", &run) != 1) {
		fprintf(stderr, "wakeup_cost: cannot read /proc/thread-self/schedstat\n");
		exit(1);
	}
	fclose(f);
	return run;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: wakeup_cost RATE SECONDS\n");
		return 2;
	}
	uint64_t period = 1000000000ull / strtoull(argv[1], NULL, 10);
	uint64_t end = now_ns() + (uint64_t)(atof(argv[2]) * 1e9), next = now_ns(), n = 0;

	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	uint64_t c0 = cpu_ns();

	while (next < end) {
		next += period;
		uint64_t now = now_ns();

		if (next + period < now)
			next = now;
		struct timespec ts = { .tv_sec = (time_t)(next / 1000000000ull), .tv_nsec = (long)(next % 1000000000ull) };

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		n++;
	}
	printf("wakeups %llu cpu_ns %llu\n", (unsigned long long)n, (unsigned long long)(cpu_ns() - c0));
	return 0;
}
