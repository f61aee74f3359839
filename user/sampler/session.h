/*
 * A sampling session: the loaded BPF sampler, its perf events, the target
 * process, and the samples aggregated per stack. record and top are two
 * front ends over it.
 */
#ifndef PYPERF_SESSION_H
#define PYPERF_SESSION_H
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "output/frametab.h"
#include "output/profile.h"
#include "pyperf.h"
#include "python/symbolize.h"
#include "target/pyproc.h"
#include "util/u64map.h"

/* What a session measures. */
enum session_mode {
	MODE_CPU = 0,               /* perf-event samples on the CPU (counts) */
	MODE_OFFCPU,                /* time blocked off the CPU (weights in ns) */
	MODE_WALL,                  /* both, each CPU sample weighing 1e9/Hz ns */
};

/* What takes the CPU samples (cpu and wall modes). */
enum sampler_kind {
	SAMPLER_TIMER = 0,          /* a timer interrupt on the sampled thread, walked there */
	SAMPLER_AUTO,               /* measured at start: the cheaper one for the rate asked */
	SAMPLER_REMOTE,             /* a thread of pyperf walks the targets' running threads */
};

struct session_config {
	int hz;
	enum sampler_kind sampler;  /* -a, --native and offcpu: the timer (or none) */
	bool sampler_given;         /* the user chose it (else the default): the summary says which */
	enum session_mode mode;
	bool gil_only;              /* --gil: CPU samples only of the GIL holder */
	bool mark_gil;              /* count CPU samples whose thread held the GIL (totals.gil_samples) */
	bool gil_wait;              /* --mode gil-wait: off-CPU time only of waits for the GIL */
	uint64_t min_block_ns;      /* offcpu/wall: shorter waits are dropped in the kernel */
	bool no_wait_reason;        /* offcpu/wall: no [sleep]/[lock]/[io]/[poll] leaf */
	bool verbose;               /* libbpf's messages on stderr */
	bool threads;               /* process and thread root frames */
	bool no_lines;              /* labels per function */
	char **command;             /* launch mode: argv, NULL-terminated */
	bool subprocesses;          /* also sample Python descendants of the target */
	bool all;                   /* every Python process on the host (-a) */
	bool per_thread;            /* count per thread even without root frames (labels) */
	bool measure_cost;          /* keep the kernel's BPF run-time statistics on */
	bool native;                /* --native: native frames merged with the Python ones */
	bool kernel;                /* --kernel: and the kernel's frames of samples taken there */
	uint64_t native_table_bytes; /* --native: room for unwind tables (0: the default) */
	bool async;                 /* --async: samples in an asyncio task get its logical stack */
	bool sample_times;          /* CPU samples carry their time (session_event.time_ns) */
	const char *who;            /* "pyperf record": prefix of error messages */
};

/* One distinct stack id as userspace knows it, symbolized. */
struct stack_entry {
	uint64_t generation;        /* of the process it belongs to */
	uint32_t flags;
	uint32_t native_stop;       /* --native: NSTOP_* its native frames ended with, 0 */
	uint32_t nlabels;
	/* --async: for each run of generator-owned frames (sample_event.gen_runs),
	 * how many labels lie root-ward of its outermost frame (those a task's
	 * logical stack replaces); ASYNC_NO_CUT when there is no such run. */
	uint32_t async_cut[PYPERF_ASYNC_RUNS];
	const char *labels[];       /* root first */
};
#define ASYNC_NO_CUT UINT32_MAX


/* Samples of one stack (in one thread, with threads on). */
struct count_entry {
	const struct stack_entry *stack;
	const char *root;           /* the process's "process PID" label */
	const struct sample_origin *origin;
	uint32_t tid;
	uint64_t count;             /* CPU samples */
	uint64_t weight_ns;         /* offcpu/wall: nanoseconds off the CPU (wall adds CPU samples when writing) */
};

/* Opaque: its fields are the sampler's own (sampler/session_impl.h). */
struct session;

/* What record and top report besides the profile. */
struct session_totals {
	uint64_t samples;
	uint64_t gil_samples;       /* mark_gil: CPU samples of a thread holding the GIL */
	uint64_t unresolved;        /* of an unknown process, or a stack whose frames never arrived */
	uint64_t unread;            /* still in the ring buffer when the time to read them at the end ran out */
	uint64_t hidden;            /* every frame hidden (not yet started) */
	uint64_t not_gil_wait;      /* gil-wait mode: off-CPU records of other waits, left out */
	/* --async */
	uint64_t async_in_task;     /* samples given a task's logical stack */
	uint64_t async_no_task;     /* samples in coroutines or generators of no task known (ended
				     * before it was read, or not a task): normal stacks */
	uint64_t async_waits;       /* wall/offcpu: waits of pending tasks added (one per task per pass) */
	uint64_t async_passes;      /* wall/offcpu: passes over the tasks */
	uint64_t async_pass_ns;     /* wall/offcpu: their mean interval */
};

typedef void session_sample_fn(void *ctx, const struct count_entry *ce);

/* One record as counted, for a view in time (record --timeline). */
struct session_event {
	uint64_t time_ns;           /* CLOCK_MONOTONIC (the kernel's ktime): a CPU sample's time (0 unless
				     * cfg.sample_times), or when a wait ended; 0: not tied to a moment
				     * (--async task waits, spread over a pass) */
	uint64_t weight_ns;         /* a wait: how long, ending at time_ns */
	uint32_t tid;
	bool cpu;                   /* a CPU sample, else a wait (off the CPU, or runnable in wall mode) */
	const struct count_entry *ce; /* its stack (with a wait's reason leaf) and thread (origin with
				       * cfg.per_thread) */
};
typedef void session_event_fn(void *ctx, const struct session_event *ev);

/* Seconds on CLOCK_MONOTONIC. */
double session_now(void);

/* Set by SIGINT/SIGTERM once session_install_signals() ran: the last
 * signal, and how many came (counted up to 2). A launched command gets the
 * signals the terminal did not send it already. */
extern volatile sig_atomic_t session_stop_signal;
extern volatile sig_atomic_t session_stop_count;
void session_install_signals(void);

/* A new session, or NULL after printing a one-line error. */
struct session *session_new(const struct session_config *cfg);
/* Stops everything and frees s (NULL is fine). */
void session_free(struct session *s);
/* Opens pid as the first process (what session_attach adds); 0, or a
 * -PYPROC_* code with the reason in err. */
int session_open_target(struct session *s, pid_t pid, char *err, size_t errlen);
/* The first process: opened, launched (session_launch) or zeroed with -a. */
const struct py_target *session_target(const struct session *s);
/* Where labels are interned (profiles are written against it). */
struct frametab *session_labels(struct session *s);
/* The current sampling rate (session_set_hz changes it). */
int session_hz(const struct session *s);
/* Processes sampled now. */
size_t session_nprocs(const struct session *s);
struct session_totals session_totals(const struct session *s);
/* --native: how native stacks went. */
struct native_stats {
	uint64_t stops[NSTOP__MAX];  /* samples and waits whose native stack ended early, by NSTOP_* */
	uint32_t tables;             /* files whose unwind table is loaded */
	uint32_t no_room;            /* files left without one: no room (--native-memory) */
	uint64_t table_bytes;        /* kernel memory the tables use */
};
void session_native_stats(const struct session *s, struct native_stats *out);
/* The symbolizers' figures summed over the processes sampled now. */
void session_symbolizer_stats(const struct session *s, struct symbolizer_stats *sum);
/* Launch mode: whether the command was started and not yet reaped. */
bool session_child_running(const struct session *s);
/* fn is called for every sample after aggregation (top uses it). */
void session_on_sample(struct session *s, session_sample_fn *fn, void *ctx);
/* fn is called for every record counted, with its time. */
void session_on_event(struct session *s, session_event_fn *fn, void *ctx);

/* Each returns 0, or -1 after printing a one-line error. */
int session_load(struct session *s);            /* BPF program + perf events on every CPU */
int session_attach(struct session *s);          /* the first process -> sampler map, symbolizer */
/* Subprocess mode: finds new Python descendants of the sampled processes
 * and adds them; notices exits. Cheap enough to call a few times a second. */
void session_scan_children(struct session *s);
/* -a: finds new Python processes anywhere on the host, forgets ended ones.
 * Meant to run about once a second. Returns how many are sampled. */
size_t session_scan_all(struct session *s);
/* Whether the counts gathered so far would make an empty profile
 * (session_profile would add nothing). */
bool session_counts_empty(const struct session *s);
/* Forgets the counts gathered so far (a new period), keeping caches. */
void session_reset_counts(struct session *s);
/* Launch mode: start cfg.command held before exec, release it once sampling
 * runs, wait for its interpreter. Returns 0 when it is the first process
 * (session_target), ready to attach, 1 when the command ended first (*status), -1 on error. */
int session_launch(struct session *s, int *status);
/* The launched command's exit status (128+signal if killed), waiting for it
 * when wait is set (until a second SIGINT/SIGTERM); -1 when there is none or
 * it has not ended. */
int session_child_status(struct session *s, bool wait);
int session_poll(struct session *s, int timeout_ms); /* >= 0, or -errno */
void session_stop_sampling(struct session *s);  /* detach; drain the ring buffer */
void session_counters(struct session *s, uint64_t out[CNT__MAX]);
/* The sampler used (SAMPLER_TIMER or SAMPLER_REMOTE once loaded; AUTO in
 * offcpu mode, which has none) and, in *why, why it was chosen. */
enum sampler_kind session_sampler(const struct session *s, const char **why);
/* "auto", "timer" or "remote": the name --sampler takes. */
const char *sampler_kind_name(enum sampler_kind kind);
/* Remote sampler: its wakeups so far, and those that came late (skipped). */
void session_remote_ticks(const struct session *s, uint64_t *ticks, uint64_t *late);
/* Changes the sampling rate of the running perf events; 0 or -errno. */
int session_set_hz(struct session *s, int hz);
/* The rate samples came at when it fell clearly short of the one asked,
 * else 0. Measured (samples over CPU time) while one process is sampled;
 * otherwise (-a, children followed) the kernel's maximum when it is now
 * below the rate asked. */
double session_achieved_hz(struct session *s);
/* Whether kernel.perf_event_max_sample_rate is now below the rate asked
 * (the kernel lowers it itself when sampling interrupts take too long). */
bool session_kernel_capped(struct session *s);
/* The rate to scale CPU samples by: the capped one, else the one asked. */
double session_effective_hz(struct session *s);
/* Nanoseconds the sampler has run in the kernel so far (0 unless
 * measure_cost is set and the kernel keeps statistics). */
uint64_t session_bpf_ns(struct session *s);
/* The unit of profile values for the session's mode: 1 for CPU samples
 * (counts), else nanoseconds per profile unit (values are microseconds). */
uint64_t session_unit_ns(const struct session *s);
/* Every aggregated stack into p (thread roots first with threads on);
 * with origins set, stacks keep their struct sample_origin (pprof labels). */
int session_profile(struct session *s, struct profile *p, bool origins);

#endif
