/*
 * The BPF side of a session: loading the sampler program, its cpu-clock
 * perf events (per CPU, or on the targets' threads), the tracepoints it
 * hooks, and the kernel's counters.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyperf.skel.h"
#include "sampler/session_impl.h"

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level; (void)fmt; (void)ap;
	return 0;
}

static int libbpf_verbose(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

#define MAX_RATE_SYSCTL "/proc/sys/kernel/perf_event_max_sample_rate"

/*
 * The kernel refuses a frequency above perf_event_max_sample_rate: sample
 * at that maximum instead, saying so (a rate under a CPU budget still
 * climbs back only to what the kernel allows).
 */
/* The kernel's current maximum rate (it lowers it itself when sampling
 * interrupts take too long), or 0 when unreadable. */
static int kernel_max_rate(void)
{
	FILE *f = fopen(MAX_RATE_SYSCTL, "re");
	int max = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &max) != 1 || max < 0)
		max = 0;
	fclose(f);
	return max;
}

void sampler_clamp_hz(struct session *r)
{
	int max = kernel_max_rate();

	/* not readable: the kernel's answer at open says more */
	if (max <= 0 || r->cfg.hz <= max)
		return;
	session_err(r, "warning: -F %d is above the kernel's maximum (kernel.perf_event_max_sample_rate "
		    "= %d): sampling at %d Hz\n", r->cfg.hz, max, max);
	r->cfg.hz = max;
}

void perf_events_close(struct session *r)
{
	for (size_t i = 0; i < r->nperf; i++)
		close(r->perf_fds[i]);
	free(r->perf_fds);
	r->perf_fds = NULL;
	r->nperf = r->capperf = 0;
}

/* Task events kept open at most: past that (or the process's file limit)
 * the session falls back to an event per CPU. */
#define TASK_EVENTS_MAX 16384

static int keep_event(struct session *r, int fd)
{
	if (r->nperf == r->capperf) {
		size_t cap = r->capperf ? 2 * r->capperf : 64;
		int *fds = realloc(r->perf_fds, cap * sizeof(*fds));

		if (!fds)
			return -1;
		r->perf_fds = fds;
		r->capperf = cap;
	}
	r->perf_fds[r->nperf++] = fd;
	return 0;
}

/*
 * A cpu-clock event at the session's rate running the sampler: on one CPU
 * for every task (tid -1), or on thread tid wherever it runs, inherited by
 * the threads it creates from now on (with --subprocesses, by its forked
 * children too). Attached with an ioctl: a bpf_link per event would double
 * the file descriptors of a many-threaded target. The fd, or -errno.
 */
static int open_sampling_event(struct session *r, pid_t tid, int cpu)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.size = sizeof(attr),
		.freq = 1,
		.sample_freq = (uint64_t)r->cfg.hz,
		/* On once it runs the sampler: a thread created in between
		 * inherits an event without it (it then gets one of its own
		 * at the next check, the stray one costing only interrupts). */
		.disabled = 1,
		.inherit = tid >= 0,
		.inherit_thread = tid >= 0 && !r->cfg.subprocesses,
	};
	int fd = (int)syscall(SYS_perf_event_open, &attr, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, bpf_program__fd(r->skel->progs.pyperf_sample)) ||
	    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static void event_open_error(struct session *r, int e, const char *where)
{
	if (e == EINVAL)
		session_err(r, "failed to open the cpu-clock event at %d Hz: %s "
			"(is it above /proc/sys/kernel/perf_event_max_sample_rate?)\n", r->cfg.hz, strerror(e));
	else if (e == EACCES || e == EPERM)
		session_err(r, "not allowed to open perf events: run as root or grant CAP_PERFMON\n");
	else
		session_err(r, "failed to open the cpu-clock event %s: %s\n", where, strerror(e));
}

static int open_cpu_events(struct session *r)
{
	int ncpus = libbpf_num_possible_cpus(), opened = 0;

	if (ncpus <= 0) {
		session_err(r, "failed to count CPUs: %s\n", strerror(-ncpus));
		return -1;
	}
	for (int cpu = 0; cpu < ncpus; cpu++) {
		int fd = open_sampling_event(r, -1, cpu);
		char where[32];

		if (fd == -ENODEV)
			continue; /* offline CPU */
		snprintf(where, sizeof(where), "on CPU %d", cpu);
		if (fd < 0) {
			event_open_error(r, -fd, where);
			return -1;
		}
		if (keep_event(r, fd)) {
			close(fd);
			session_err(r, "out of memory\n");
			return -1;
		}
		opened++;
	}
	if (!opened) {
		session_err(r, "no CPU accepted a cpu-clock event\n");
		return -1;
	}
	return 0;
}

/* Task events cannot go on (too many threads): events per CPU instead. */
static int fall_back_to_cpu_events(struct session *r, const char *why)
{
	session_err(r, "warning: %s: sampling with a timer per CPU instead (every process on the host "
		    "takes its interrupts)\n", why);
	perf_events_close(r);
	r->task_events = false;
	return open_cpu_events(r);
}

/* The sampler's program id, which the task-events iterator looks for. */
static uint32_t sample_prog_id(struct session *r)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(r->skel->progs.pyperf_sample), &info, &len))
		return 0;
	return info.id;
}

/* Up to cap threads of pid without a sampling event into tids: their
 * count, or -errno. */
static int uncovered_threads(struct session *r, pid_t pid, uint32_t *tids, int cap)
{
	union bpf_iter_link_info li;
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &li, .link_info_len = sizeof(li));
	struct bpf_link *link;
	int n = 0, err = 0;

	memset(&li, 0, sizeof(li));
	li.task.pid = (__u32)pid;
	r->skel->bss->task_events_tgid = (__u32)pid;
	r->skel->bss->task_events_prog_id = sample_prog_id(r);
	link = bpf_program__attach_iter(r->skel->progs.pyperf_task_events, &opts);
	if (!link) /* before 6.1 no filter: every task, the program keeps pid's */
		link = bpf_program__attach_iter(r->skel->progs.pyperf_task_events, NULL);
	if (!link)
		return -errno;
	int fd = bpf_iter_create(bpf_link__fd(link));

	if (fd < 0) {
		err = -errno;
	} else {
		uint32_t buf[256];
		ssize_t got;

		while ((got = read(fd, buf, sizeof(buf))) > 0)
			for (size_t i = 0; i < (size_t)got / sizeof(buf[0]) && n < cap; i++)
				tids[n++] = buf[i];
		if (got < 0)
			err = -errno;
		close(fd);
	}
	bpf_link__destroy(link);
	return err ? err : n;
}

#define FOLLOW_ROUNDS 8
#define FOLLOW_BATCH 4096
#define FOLLOW_EVERY_NS 1000000000ull

/* One more event on thread tid: 0, 1 when it ended or there is no room
 * (fell back to events per CPU), -1 after an error message. */
static int follow_thread(struct session *r, pid_t tid)
{
	int fd = r->nperf >= TASK_EVENTS_MAX ? -EMFILE : open_sampling_event(r, tid, -1);

	if (fd == -EMFILE && r->nperf < TASK_EVENTS_MAX) {
		struct rlimit rl;

		/* the soft limit (often 1024) as high as allowed, once */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			fd = open_sampling_event(r, tid, -1);
		}
	}
	if (fd == -ESRCH)
		return 1; /* the thread ended */
	if (fd == -EMFILE || fd == -ENFILE) {
		char why[96];

		snprintf(why, sizeof(why), "no room for a timer on each of the targets' threads (%zu open)", r->nperf);
		return fall_back_to_cpu_events(r, why) ? -1 : 1;
	}
	if (fd < 0) {
		char where[48];

		snprintf(where, sizeof(where), "on thread %d", (int)tid);
		event_open_error(r, -fd, where);
		return -1;
	}
	if (keep_event(r, fd)) {
		close(fd);
		session_err(r, "out of memory\n");
		return -1;
	}
	return 0;
}

int sampler_follow(struct session *r, pid_t pid)
{
	static uint32_t tids[FOLLOW_BATCH];

	/* Rounds: a thread made by one not yet followed has no event either. */
	for (int round = 0; round < FOLLOW_ROUNDS && r->task_events && !r->detached; round++) {
		int n = uncovered_threads(r, pid, tids, FOLLOW_BATCH);

		if (n < 0) {
			char why[128];

			snprintf(why, sizeof(why), "cannot list the threads of PID %d lacking a timer (%s)", (int)pid,
				 strerror(-n));
			return fall_back_to_cpu_events(r, why);
		}
		if (n == 0)
			return 0;
		for (int i = 0; i < n && r->task_events; i++)
			if (follow_thread(r, (pid_t)tids[i]) < 0)
				return -1;
	}
	return 0; /* threads made faster than followed: the next check goes on */
}

int sampler_follow_child(struct session *r, pid_t pid)
{
	if (!r->task_events || r->detached)
		return 0;
	return follow_thread(r, pid) < 0 ? -1 : 0;
}

void sampler_follow_tick(struct session *r)
{
	uint64_t now = monotonic_ns(), pid;

	if (!r->task_events || r->detached || now < r->next_follow_ns)
		return;
	r->next_follow_ns = now + FOLLOW_EVERY_NS;
	for (size_t it = 0; u64map_next(&r->procs, &it, &pid, NULL);)
		if (sampler_follow(r, (pid_t)pid))
			return;
}

/* The sampling events for the session: per CPU with -a, else on the
 * sampled processes' threads (none yet before the first attach). */
static int open_perf_events(struct session *r)
{
	uint64_t pid;

	if (!r->task_events)
		return open_cpu_events(r);
	for (size_t it = 0; u64map_next(&r->procs, &it, &pid, NULL);)
		if (sampler_follow(r, (pid_t)pid))
			return -1;
	return 0;
}

/* quiet: a failure is not an error (the caller tries otherwise). */
static int load_bpf(struct session *r, bool quiet)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		session_err(r, "this kernel has no BTF (/sys/kernel/btf/vmlinux): "
			"use a kernel built with CONFIG_DEBUG_INFO_BTF=y\n");
		return -1;
	}
	libbpf_set_print(r->cfg.verbose ? libbpf_verbose : libbpf_quiet);
	r->skel = pyperf__open();
	if (!r->skel) {
		session_err(r, "failed to open the BPF program: %s\n", strerror(errno));
		return -1;
	}
	r->skel->rodata->follow_forks = r->cfg.subprocesses;
	r->skel->rodata->min_block_ns = r->cfg.min_block_ns;
	r->skel->rodata->with_wait_reason = !r->cfg.no_wait_reason || r->cfg.gil_wait;
	r->skel->rodata->gil_only = r->cfg.gil_only;
	r->skel->rodata->mark_gil = r->cfg.mark_gil;
	r->skel->rodata->notify_exec = r->cfg.all;
	r->skel->rodata->track_runnable = r->cfg.mode == MODE_WALL;
	r->skel->rodata->native_stacks = r->cfg.native;
	r->skel->rodata->kernel_stacks = r->cfg.native && r->cfg.kernel;
	r->skel->rodata->async_tasks = r->cfg.async;
	r->skel->rodata->sample_times = r->cfg.sample_times;
	r->skel->rodata->remote_sampler = r->sampler == SAMPLER_REMOTE;
	/* The tables' room is kernel memory taken at load: only with --native. */
	bpf_map__set_max_entries(r->skel->maps.unwind_rows, r->cfg.native ? native_table_rows(r) : 1);
	if (!r->cfg.native) {
		bpf_map__set_max_entries(r->skel->maps.native_procs, 1);
		bpf_map__set_max_entries(r->skel->maps.row_cache, 1);
	}
	/* CPU mode pays nothing for off-CPU time: the switch program is not
	 * even loaded. Nor is a sampler not used. */
	bpf_program__set_autoload(r->skel->progs.pyperf_switch, r->cfg.mode != MODE_CPU);
	bpf_program__set_autoload(r->skel->progs.pyperf_remote, r->sampler == SAMPLER_REMOTE);
	bpf_program__set_autoload(r->skel->progs.pyperf_remote_wake, r->sampler == SAMPLER_REMOTE);
	bpf_program__set_autoload(r->skel->progs.pyperf_sample, r->sampler == SAMPLER_TIMER);
	bpf_program__set_autoload(r->skel->progs.pyperf_task_events, r->sampler == SAMPLER_TIMER && !r->cfg.all);
	int err = pyperf__load(r->skel);

	if (err && quiet)
		return -1;
	if (err) {
		/* As root, EACCES is the verifier refusing the program. */
		if (err == -EPERM || (err == -EACCES && geteuid() != 0))
			session_err(r, "not allowed to load BPF programs: run as root "
				"or grant CAP_BPF and CAP_PERFMON\n");
		else if (err == -EACCES)
			session_err(r, "this kernel's BPF verifier rejected the sampler program "
				"(run with -v for the verifier's log and report it)\n");
		else
			session_err(r, "failed to load the BPF program: %s "
				"(kernel 5.17+ with BTF needed; run with -v for the verifier's log)\n",
				strerror(-err));
		return -1;
	}
	r->rb = ring_buffer__new(bpf_map__fd(r->skel->maps.events), session_read_record, r, NULL);
	if (!r->rb) {
		session_err(r, "failed to create the ring buffer reader: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int session_load(struct session *r)
{
	if (sampler_choose(r))
		return -1;
	if (r->sampler == SAMPLER_REMOTE && r->cfg.sampler == SAMPLER_AUTO && load_bpf(r, true)) {
		/* chosen, not asked: the timer then, saying why */
		pyperf__destroy(r->skel);
		r->skel = NULL;
		r->sampler = SAMPLER_TIMER;
		snprintf(r->sampler_why, sizeof(r->sampler_why), "this kernel cannot run the remote sampler "
			 "(sleepable syscall programs calling bpf_task_from_pid: Linux 6.2 or later)");
	}
	if (!r->skel && load_bpf(r, false))
		return -1;
	/* -a samples every process: a timer per CPU. One process (and its
	 * children): timers on its threads, opened as it is attached, so
	 * other processes take no interrupt. */
	r->task_events = !r->cfg.all && r->sampler == SAMPLER_TIMER;
	if (r->sampler == SAMPLER_TIMER && open_perf_events(r))
		return -1;
	if (r->sampler == SAMPLER_REMOTE && remote_start(r))
		return -1;
	if (r->cfg.mode != MODE_CPU) {
		r->switch_link = bpf_program__attach(r->skel->progs.pyperf_switch);
		if (!r->switch_link) {
			session_err(r, "failed to attach to the sched_switch tracepoint: %s\n", strerror(errno));
			return -1;
		}
	}
	/* An exec makes a target's offsets wrong: the hook drops its entry
	 * at once (and with -a reports the exec). Forks matter only when
	 * children are followed, or to the remote sampler. */
	r->exec_link = bpf_program__attach(r->skel->progs.pyperf_exec);
	if (!r->exec_link) {
		session_err(r, "failed to attach to the sched_process_exec tracepoint: %s\n", strerror(errno));
		return -1;
	}
	/* The remote sampler hears of the threads a target makes there too. */
	if (r->cfg.subprocesses || r->sampler == SAMPLER_REMOTE) {
		r->fork_link = bpf_program__attach(r->skel->progs.pyperf_fork);
		if (!r->fork_link) {
			session_err(r, "failed to attach to the sched_process_fork tracepoint: %s\n", strerror(errno));
			return -1;
		}
	}
	/* Statistics cost a little on every run: only when asked (a budget). */
	if (r->cfg.measure_cost)
		r->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	return 0;
}

/* One of the BPF program's counters, summed over CPUs (0 if unreadable). */
static uint64_t counter_total(struct session *r, __u32 key)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals = ncpu > 0 ? calloc((size_t)ncpu, sizeof(uint64_t)) : NULL;
	uint64_t sum = 0;

	if (vals && r->skel && bpf_map_lookup_elem(bpf_map__fd(r->skel->maps.counters), &key, vals) == 0)
		for (int c = 0; c < ncpu; c++)
			sum += vals[c];
	free(vals);
	return sum;
}

void session_counters(struct session *r, uint64_t out[CNT__MAX])
{
	for (__u32 k = 0; k < CNT__MAX; k++)
		out[k] = counter_total(r, k);
}

int session_set_hz(struct session *r, int hz)
{
	int old = r->cfg.hz;

	if (r->sampler == SAMPLER_REMOTE) {
		remote_set_hz(r, hz);
		r->cfg.hz = hz;
		r->rate.started = false;
		return 0;
	}
	/* New events rather than PERF_EVENT_IOC_PERIOD: on a frequency-mode
	 * cpu-clock event that ioctl left the kernel sampling far faster than
	 * asked (a flood that filled the ring buffer). A few milliseconds
	 * without samples is the price. */
	perf_events_close(r);
	r->cfg.hz = hz;
	r->rate.started = false; /* measured again at the new rate */
	if (open_perf_events(r) == 0)
		return 0;
	perf_events_close(r);
	r->cfg.hz = old;
	return open_perf_events(r) == 0 ? -EAGAIN : -EIO;
}

/*
 * The rate really achieved is samples of the process over the CPU time it
 * used: the kernel throttles events above its maximum, and a busy or
 * virtual machine delivers timer interrupts late or not at all, whatever
 * the maximum says. Counted this way count x period is the CPU time the
 * process used, which is what a profile's values claim. Only while the
 * first process is the only one sampled: the counter is for all of them.
 * (A measure from the gaps between ticks was tried first and dropped: on
 * a loaded VM it read 30-40% low.)
 */
void rate_probe_tick(struct session *r, bool force)
{
	struct rate_probe *p = &r->rate;
	struct timespec ts;
	uint64_t now = monotonic_ns();
	pid_t pid = r->target.pid;

	if (p->frozen || r->cfg.all || r->cfg.mode == MODE_OFFCPU || !r->skel || pid <= 0)
		return;
	if (!force && now < p->next_ns)
		return;
	p->next_ns = now + 100000000ull;
	if (r->procs.len != 1 || !procs_find(r, (uint32_t)pid)) {
		p->frozen = p->started; /* before the first reading: not attached yet */
		return;
	}
	if (!p->started && clock_getcpuclockid(pid, &p->clock) != 0) {
		p->frozen = true;
		return;
	}
	uint64_t samples = counter_total(r, CNT_SAMPLES);

	if (clock_gettime(p->clock, &ts) != 0) { /* it ended: the last reading stands */
		p->frozen = true;
		return;
	}
	p->samples = samples;
	p->cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (!p->started) {
		p->samples0 = p->samples;
		p->cpu0_ns = p->cpu_ns;
		p->started = true;
	}
}

double rate_measured_hz(uint64_t samples, uint64_t cpu_ns, int hz)
{
	double cpu_s = cpu_ns / 1e9;

	return hz > 0 && cpu_s * hz >= 200 ? samples / cpu_s : 0;
}

bool session_kernel_capped(struct session *r)
{
	int max = r->cfg.mode == MODE_OFFCPU ? 0 : kernel_max_rate();

	return max > 0 && max < r->cfg.hz;
}

double session_achieved_hz(struct session *r)
{
	const struct rate_probe *p = &r->rate;

	if (r->cfg.mode == MODE_OFFCPU)
		return 0;
	double measured = p->started && p->cpu_ns > p->cpu0_ns && p->samples >= p->samples0 ?
			  rate_measured_hz(p->samples - p->samples0, p->cpu_ns - p->cpu0_ns, r->cfg.hz) : 0;

	/* Measured, it decides whatever the kernel's maximum says; a small
	 * shortfall is the noise of counting a process that starts and stops. */
	if (measured > 0)
		return measured < 0.9 * r->cfg.hz ? measured : 0;
	return session_kernel_capped(r) ? kernel_max_rate() : 0;
}

double session_effective_hz(struct session *r)
{
	double achieved = session_achieved_hz(r);

	return achieved > 0 ? achieved : r->cfg.hz;
}

uint64_t session_bpf_ns(struct session *r)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	uint64_t ns = 0;

	memset(&info, 0, sizeof(info));
	if (r->stats_fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(bpf_program__fd(r->skel->progs.pyperf_sample), &info, &len) == 0)
		ns += info.run_time_ns;
	if (r->switch_link) {
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_program__fd(r->skel->progs.pyperf_switch), &info, &len) == 0)
			ns += info.run_time_ns;
	}
	return ns;
}

void sampler_detach(struct session *r)
{
	r->detached = true;
	remote_stop(r);
	perf_events_close(r);
	bpf_link__destroy(r->switch_link);
	r->switch_link = NULL;
	bpf_link__destroy(r->fork_link);
	r->fork_link = NULL;
}

void sampler_unload(struct session *r)
{
	bpf_link__destroy(r->switch_link);
	bpf_link__destroy(r->exec_link);
	bpf_link__destroy(r->fork_link);
	perf_events_close(r);
	remote_free(r);
	if (r->stats_fd >= 0)
		close(r->stats_fd);
	ring_buffer__free(r->rb);
	pyperf__destroy(r->skel);
}
