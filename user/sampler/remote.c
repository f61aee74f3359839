/*
 * Which sampler takes the CPU samples, and the remote one. The timer
 * sampler interrupts each sampled thread (a cpu-clock event) and walks its
 * stack there; the remote sampler is a thread of pyperf woken at the rate
 * asked that runs a sleepable BPF program once over the targets' threads,
 * walking those on a CPU with their memory read from pyperf's side: the
 * target takes no interrupt. auto measures what an interrupt costs here.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyperf.skel.h"
#include "sampler/session_impl.h"

/* ------------------------------------------------------------ choosing */

/* Period of the probe's timer: 20 kHz, well under the kernel's usual
 * maximum, so no throttling. */
#define PROBE_PERIOD_NS 50000ull
#define PROBE_ROUNDS 9
#define PROBE_SPIN_NS 3000000ull
/* What the timer sampler's program adds to an interrupt (bench/RESULTS.md). */
#define TIMER_WALK_NS 2000.0
/* The timer sampler is kept while it costs a sampled thread less than
 * this. Below it, the timer's slowdown is within a VM's noise and it costs
 * less CPU in all (no wakeup per sample: the remote sampler's own CPU
 * per sample is 2-3x a timer interrupt's cost,
 * bench/RESULTS.md); above it, the target's slowdown is what matters. */
#define TIMER_MAX_SHARE 0.05

static void spin(uint64_t n)
{
	for (volatile uint64_t i = 0; i < n; i++)
		;
}

/* This thread's CPU time: a preemption by another process on a busy host
 * does not count, the interrupts this thread takes do. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t timed_spin(uint64_t n)
{
	uint64_t t0 = thread_cpu_ns();

	spin(n);
	return thread_cpu_ns() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Nanoseconds one cpu-clock interrupt takes from the thread it interrupts,
 * or < 0 if not measurable: the same busy loop timed bare and under a
 * 20 kHz timer of its own, alternately; each timed run against the mean
 * of the bare runs on either side, the median of those kept (a host busy
 * elsewhere slows some runs, bare or timed, not most). A few tens of
 * milliseconds.
 */
static double interrupt_cost_ns(void)
{
	uint64_t n = 1000, bare[PROBE_ROUNDS + 1];
	double extra[PROBE_ROUNDS];

	while (timed_spin(n) < PROBE_SPIN_NS / 8 && n < (1ull << 40))
		n *= 2;
	n = n * 8;
	bare[0] = timed_spin(n);
	for (int round = 0; round < PROBE_ROUNDS; round++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.size = sizeof(attr),
			.sample_period = PROBE_PERIOD_NS,
		};
		int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0)
			return -1;
		uint64_t timed = timed_spin(n);

		close(fd);
		bare[round + 1] = timed_spin(n);
		double base = ((double)bare[round] + (double)bare[round + 1]) / 2;

		extra[round] = ((double)timed - base) / ((double)timed / PROBE_PERIOD_NS);
	}
	qsort(extra, PROBE_ROUNDS, sizeof(extra[0]), cmp_double);
	double cost = extra[PROBE_ROUNDS / 2];

	return cost > 0 ? cost : 0;
}

int sampler_choose(struct session *r)
{
	enum sampler_kind want = r->cfg.sampler;
	const char *no_remote = NULL;

	if (r->cfg.mode == MODE_OFFCPU) {
		r->sampler = SAMPLER_AUTO;
		snprintf(r->sampler_why, sizeof(r->sampler_why), "off-CPU time is taken as threads switch");
		return 0;
	}
	if (r->cfg.all)
		no_remote = "-a samples every process with a timer per CPU";
	else if (r->cfg.native)
		no_remote = "--native unwinds from a thread's registers, which only interrupting it gives";
	if (want == SAMPLER_REMOTE && no_remote) {
		session_err(r, "--sampler remote cannot be used here: %s\n", no_remote);
		return -1;
	}
	if (want != SAMPLER_AUTO || no_remote) {
		r->sampler = no_remote ? SAMPLER_TIMER : want;
		snprintf(r->sampler_why, sizeof(r->sampler_why), "%s",
			 no_remote ? no_remote : r->cfg.sampler_given ? "asked" : "the default");
		return 0;
	}
	double cost = interrupt_cost_ns();
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cost < 0) {
		r->sampler = SAMPLER_TIMER;
		snprintf(r->sampler_why, sizeof(r->sampler_why), "the cost of an interrupt could not be measured");
		return 0;
	}
	double share = r->cfg.hz * (cost + TIMER_WALK_NS) / 1e9;

	if (share < TIMER_MAX_SHARE || cpus < 2) {
		r->sampler = SAMPLER_TIMER;
		snprintf(r->sampler_why, sizeof(r->sampler_why), "a timer interrupt costs %.1f us here: %.2f%% of a "
			 "sampled thread's time at %d Hz%s", cost / 1e3, 100 * share, r->cfg.hz,
			 cpus < 2 ? ", and one CPU leaves no room for a thread of pyperf's" : "");
	} else {
		r->sampler = SAMPLER_REMOTE;
		snprintf(r->sampler_why, sizeof(r->sampler_why), "a timer interrupt costs %.1f us here: the timer "
			 "would take %.1f%% of a sampled thread's time at %d Hz", cost / 1e3, 100 * share, r->cfg.hz);
	}
	return 0;
}

const char *sampler_kind_name(enum sampler_kind kind)
{
	return kind == SAMPLER_REMOTE ? "remote" : kind == SAMPLER_TIMER ? "timer" : "auto";
}

enum sampler_kind session_sampler(const struct session *r, const char **why)
{
	if (why)
		*why = r->sampler_why;
	return r->sampler;
}

/* ------------------------------------------------------------ remote */

/* Processes followed at once. */
#define REMOTE_PROCS 256
/* Ticks a late sampler thread still owes are taken at up to twice the
 * rate, not back to back: taking them at once (tried with up to 3 and 10)
 * ran the sampler in bursts exactly when the machine was busiest and cost
 * the target and a bystander more (bench/RESULTS.md); spread out, they
 * cost what the same samples cost on time. Owed beyond this (pyperf
 * stopped, or a host that cannot keep up) they are skipped. */
#define CATCH_UP_NS 20000000ull
#define CATCH_UP_MIN_PERIODS 3
/* The thread list is made again at least this often (threads that ended). */
#define RESCAN_NS 1000000000ull
/* While no target thread is on a CPU the thread sleeps until one is
 * switched in, and looks again at least this often (the kernel's hook can
 * miss a switch that races with the look that found none). */
#define IDLE_RECHECK_MS 10

struct remote {
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;          /* pids, against the thread's use */
	uint32_t pids[REMOTE_PROCS];
	size_t n;
	int prog_fd;
	struct pyperf__bss *bss;        /* the program's thread list (mmapped) */
	atomic_bool stop, rescan;
	atomic_int hz;
	atomic_uint_least64_t ticks, late;
	uint64_t scanned_ns;
	struct bpf_link *wake_link;     /* a target thread switched in: wake */
	struct ring_buffer *wake;
	uint64_t woken_ns;              /* when (CLOCK_MONOTONIC), 0 if not */
	uint64_t rand;                  /* the phase of the first tick after */
};

/* The targets' threads into the program's list, from /proc/PID/task. */
static void list_threads(struct remote *m)
{
	struct pyperf__bss *b = m->bss;
	uint32_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n && n < PYPERF_REMOTE_THREADS; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%u/task", m->pids[i]);
		DIR *d = opendir(path);
		struct dirent *e;

		if (!d)
			continue; /* ended: remote_sync drops it */
		while ((e = readdir(d)) && n < PYPERF_REMOTE_THREADS) {
			char *end;
			unsigned long tid = strtoul(e->d_name, &end, 10);

			if (*end == '\0' && tid > 0 && tid <= UINT32_MAX)
				b->remote_tids[n++] = (uint32_t)tid;
		}
		closedir(d);
	}
	b->remote_only_tgid = m->n == 1 ? m->pids[0] : 0;
	pthread_mutex_unlock(&m->lock);
	b->remote_ntids = n;
}

/* One run over the targets' threads; how many were on a CPU (1 if not
 * known, so that the thread does not sleep on a failure). */
static int run_sampler(struct remote *m)
{
	uint64_t now = monotonic_ns();

	/* Cleared before the list is made: a thread made meanwhile sets it again. */
	if (atomic_exchange(&m->rescan, false) | __atomic_exchange_n(&m->bss->remote_threads_changed, 0, __ATOMIC_SEQ_CST) ||
	    now - m->scanned_ns > RESCAN_NS) {
		list_threads(m);
		m->scanned_ns = now;
	}
	if (!m->bss->remote_ntids)
		return 0;
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	if (bpf_prog_test_run_opts(m->prog_fd, &opts))
		return 1;
	return (int)opts.retval;
}

static int on_wake(void *ctx, void *data, size_t size)
{
	struct remote *m = ctx;
	uint64_t t;

	if (size >= sizeof(t)) {
		memcpy(&t, data, sizeof(t));
		if (t > m->woken_ns)
			m->woken_ns = t;
	}
	return 0;
}

/*
 * Sleeps until a target thread is switched in after `since` (returns when,
 * CLOCK_MONOTONIC), or for IDLE_RECHECK_MS (returns 0). A switch reported
 * before `since` is one the run that found no thread on a CPU saw itself.
 */
static uint64_t await_target(struct remote *m, uint64_t since)
{
	uint64_t until = monotonic_ns() + IDLE_RECHECK_MS * 1000000ull, now;

	m->woken_ns = 0;
	while (!atomic_load(&m->stop) && (now = monotonic_ns()) < until) {
		int ms = (int)((until - now + 999999) / 1000000);

		if (ring_buffer__poll(m->wake, ms) < 0)
			return 0;
		if (m->woken_ns >= since)
			return m->woken_ns;
	}
	return 0;
}

/*
 * A sampling thread woken on a CPU where a target thread runs (the kernel
 * puts it there often when the wakeup comes from that thread's switch)
 * would wait for the target's slice to end, up to milliseconds (EEVDF runs
 * the current task to parity): a short slice of its own (Linux 6.12+; older
 * kernels ignore it) lets it run at once. Without it the first samples of
 * a burst of the target's were lost: half of them for 1 ms bursts.
 */
#define SAMPLER_SLICE_NS 100000ull

static void ask_short_slice(void)
{
	/* struct sched_attr as of its first version (the uapi header
	 * clashes with glibc's <sched.h>) */
	struct {
		uint32_t size, sched_policy;
		uint64_t sched_flags;
		int32_t sched_nice;
		uint32_t sched_priority;
		uint64_t sched_runtime, sched_deadline, sched_period;
	} a;

	memset(&a, 0, sizeof(a));
	if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) != 0)
		return;
	a.size = sizeof(a);
	a.sched_runtime = SAMPLER_SLICE_NS;
	syscall(SYS_sched_setattr, 0, &a, 0);
}

/* A uniform draw in [0, n) (xorshift64*): the phase of the first tick
 * after an idle spell. */
static uint64_t draw(struct remote *m, uint64_t n)
{
	m->rand ^= m->rand >> 12;
	m->rand ^= m->rand << 25;
	m->rand ^= m->rand >> 27;
	return n ? (m->rand * 2685821657736338717ull) % n : 0;
}

static void *remote_main(void *arg)
{
	struct remote *m = arg;
	struct timespec ts;
	uint64_t next = monotonic_ns(), last = 0;

	/* The default 50 us of timer slack is half a period at 10 kHz. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	ask_short_slice();
	while (!atomic_load(&m->stop)) {
		uint64_t period = 1000000000ull / (uint64_t)atomic_load(&m->hz), now, at;
		uint64_t owed_max = CATCH_UP_NS > CATCH_UP_MIN_PERIODS * period ?
				    CATCH_UP_NS : CATCH_UP_MIN_PERIODS * period;

		/* next: the tick as scheduled; at: when it is taken. */
		next += period;
		now = monotonic_ns();
		if (next + owed_max < now) {
			atomic_fetch_add(&m->late, (now - next) / period);
			next = now;
		}
		at = next;
		if (at < last + period / 2)
			at = last + period / 2;
		ts.tv_sec = (time_t)(at / 1000000000ull);
		ts.tv_nsec = (long)(at % 1000000000ull);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		uint64_t ran = monotonic_ns();
		int on_cpu = run_sampler(m);

		last = ran;
		atomic_fetch_add(&m->ticks, 1);
		if (on_cpu || !m->wake)
			continue;
		/* No target thread on a CPU: nothing to sample until one is
		 * switched in, and nothing owed. The first tick after falls at
		 * a random point of the period from then, so that a thread
		 * running in short bursts is sampled in proportion to its CPU
		 * time, not once per burst at its start. */
		uint64_t woken = await_target(m, ran);

		now = monotonic_ns();
		next = woken ? woken + draw(m, period) : now;
		if (next < now)
			next = now;
		next -= period;
		last = 0;
	}
	return NULL;
}

int remote_start(struct session *r)
{
	struct remote *m = calloc(1, sizeof(*m));
	sigset_t all, old;

	if (!m) {
		session_err(r, "out of memory\n");
		return -1;
	}
	pthread_mutex_init(&m->lock, NULL);
	atomic_init(&m->hz, r->cfg.hz);
	m->prog_fd = bpf_program__fd(r->skel->progs.pyperf_remote);
	m->bss = r->skel->bss;
	m->rand = monotonic_ns() | 1;
	r->remote = m;
	/* Without the hook the thread just never sleeps (it wakes at the rate
	 * asked, as it did before): a lesser kernel, not a failure. */
	m->wake_link = bpf_program__attach(r->skel->progs.pyperf_remote_wake);
	if (m->wake_link)
		m->wake = ring_buffer__new(bpf_map__fd(r->skel->maps.remote_wake), on_wake, m, NULL);
	/* Signals stay the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&m->thread, NULL, remote_main, m);

	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		session_err(r, "failed to start the remote sampler's thread: %s\n", strerror(e));
		return -1;
	}
	m->running = true;
	return 0;
}

static bool in_map(int fd, uint32_t pid)
{
	struct py_proc v;

	return bpf_map_lookup_elem(fd, &pid, &v) == 0;
}

void remote_sync(struct session *r)
{
	struct remote *m = r->remote;
	int fd;
	uint32_t key, *prev = NULL;
	bool changed = false;

	if (!m || !r->skel || atomic_load(&m->stop))
		return;
	fd = bpf_map__fd(r->skel->maps.procs);
	pthread_mutex_lock(&m->lock);
	/* Gone from the kernel's map (ended, exec'd): no longer visited. */
	for (size_t i = 0; i < m->n;) {
		if (in_map(fd, m->pids[i])) {
			i++;
			continue;
		}
		m->pids[i] = m->pids[--m->n];
		changed = true;
	}
	/* New in it (attached, or a child the fork hook added). */
	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		size_t i = 0;

		prev = &key;
		while (i < m->n && m->pids[i] != key)
			i++;
		if (i < m->n || m->n == REMOTE_PROCS)
			continue;
		m->pids[m->n++] = key;
		changed = true;
	}
	pthread_mutex_unlock(&m->lock);
	if (changed)
		atomic_store(&m->rescan, true);
}

void remote_set_hz(struct session *r, int hz)
{
	if (r->remote)
		atomic_store(&r->remote->hz, hz);
}

void session_remote_ticks(const struct session *r, uint64_t *ticks, uint64_t *late)
{
	*ticks = r->remote ? atomic_load(&r->remote->ticks) : 0;
	*late = r->remote ? atomic_load(&r->remote->late) : 0;
}

void remote_stop(struct session *r)
{
	struct remote *m = r->remote;

	if (!m)
		return;
	atomic_store(&m->stop, true);
	if (m->running)
		pthread_join(m->thread, NULL);
	m->running = false;
	m->n = 0;
	bpf_link__destroy(m->wake_link);
	m->wake_link = NULL;
	ring_buffer__free(m->wake);
	m->wake = NULL;
}

void remote_free(struct session *r)
{
	remote_stop(r);
	if (r->remote)
		pthread_mutex_destroy(&r->remote->lock);
	free(r->remote);
	r->remote = NULL;
}
