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
#include "target/pyproc.h"
#include "util/u64map.h"

/* What a session measures. */
enum session_mode {
	MODE_CPU = 0,               /* perf-event samples on the CPU (counts) */
	MODE_OFFCPU,                /* time blocked off the CPU (weights in ns) */
	MODE_WALL,                  /* both, each CPU sample weighing 1e9/Hz ns */
};

struct session_config {
	int hz;
	enum session_mode mode;
	bool gil_only;              /* --gil: CPU samples only of the GIL holder */
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
	const char *who;            /* "pyperf record": prefix of error messages */
};

/* One distinct stack id as userspace knows it, symbolized. */
struct stack_entry {
	uint64_t generation;        /* of the process it belongs to */
	uint32_t flags;
	uint32_t nlabels;
	const char *labels[];       /* root first */
};


/* Samples of one stack (in one thread, with threads on). */
struct count_entry {
	const struct stack_entry *stack;
	const char *root;           /* the process's "process PID" label */
	const struct sample_origin *origin;
	uint32_t tid;
	uint64_t count;             /* CPU samples */
	uint64_t weight_ns;         /* offcpu/wall: nanoseconds (CPU samples at 1e9/Hz each in wall) */
};

/* One sampled process. */
struct session_proc {
	struct py_target target;
	struct symbolizer *sym;
	const char *root;           /* "process PID" label */
	const char *cmdline;        /* interned */
	const char *container;      /* interned, "" outside containers */
	uint64_t generation;        /* unique per process image in this session, and renewed
				     * (a new stack seed) when symbolized stacks may be stale */
	uint64_t prev_generation;   /* the one before the last renewal, or 0 */
	uint64_t image;             /* its first generation: keys its origins */
	uint64_t gil_lo, gil_hi;    /* as registered with the sampler (struct py_proc) */
	uint64_t cache_flushes;     /* the symbolizer's, at the last check */
	uint64_t code_objects;      /* the symbolizer's count, at the last check */
	uint64_t last_new_code_ns;  /* when that count last grew */
	uint64_t next_check_ns;     /* next revalidation of its code objects */
	uint64_t renew_at_ns;       /* renewals allowed: one token per RENEW_REFILL_NS since this */
};

struct session {
	struct session_config cfg;
	struct py_target target;    /* the first process (input to session_attach) */
	struct u64map procs;        /* pid -> struct session_proc * */
	struct u64map tried;        /* pid -> start time ^ exe identity of a failed look */
	uint64_t generations;
	uint64_t next_revalidate_ns; /* CLOCK_MONOTONIC of the next check of cached code objects */
	uint64_t renewals;          /* generations renewed because code objects went stale */
	struct u64map dead;         /* generations of ended processes, whose stacks go at the next reset */
	/* -a: processes that just exec'd a program named like Python, looked
	 * at again over their first second (while the loader maps libpython
	 * and the interpreter starts) rather than at the next /proc scan. */
	struct pending_exec {
		pid_t pid;
		uint64_t start_time;
		uint64_t next_ns;   /* CLOCK_MONOTONIC of the next look */
		unsigned tries;
		bool was_target;    /* sampled before the exec */
	} pending[64];
	size_t npending;
	struct u64map retired;      /* struct session_proc * of processes that exec'd (kept for their counts) */
	struct pyperf *skel;
	int stats_fd;               /* holds BPF run-time statistics on, or -1 */
	struct ring_buffer *rb;
	int *perf_fds;
	struct bpf_link **links;
	struct bpf_link *switch_link; /* offcpu/wall: the sched_switch program */
	struct bpf_link *exec_link;   /* sched_process_exec: drops exec'd targets, -a hears of execs */
	struct bpf_link *fork_link;   /* --subprocesses: forked children become targets in the kernel */
	int ncpus;
	struct frametab labels;
	struct u64map stacks;       /* stack id ^ pid -> struct stack_entry * */
	struct u64map counts;       /* stack id x pid (x tid with threads) -> struct count_entry * */
	struct u64map thread_roots; /* tid -> "thread NAME (TID)" label */
	struct u64map origins;      /* mix(pid generation, tid) -> struct sample_origin * */
	pid_t child;                /* launch mode: the command's PID (negated once reaped) */
	uint64_t samples;
	uint64_t unresolved;        /* samples of an unknown process or of a stack whose frames never arrived */
	uint64_t hidden;            /* samples whose every frame is hidden (not yet started) */
	uint64_t not_gil_wait;      /* gil-wait mode: off-CPU records of other waits, left out */
	const char **label_buf;
	/* Called for every sample after aggregation (top uses it). */
	void (*on_sample)(void *ctx, const struct count_entry *ce);
	void *on_sample_ctx;
};

/* Seconds on CLOCK_MONOTONIC. */
double session_now(void);

/* Set by SIGINT/SIGTERM once session_install_signals() ran. */
extern volatile sig_atomic_t session_stop_signal;
void session_install_signals(void);

/* Each returns 0, or -1 after printing a one-line error. */
int session_init(struct session *s, const struct session_config *cfg);
int session_load(struct session *s);            /* BPF program + perf events on every CPU */
int session_attach(struct session *s);          /* s->target -> sampler map, symbolizer */
/* Starts sampling one more process; 0, or -1 after an error message. */
int session_add_process(struct session *s, const struct py_target *t);
/* Subprocess mode: finds new Python descendants of the sampled processes
 * and adds them; notices exits. Cheap enough to call a few times a second. */
void session_scan_children(struct session *s);
/* -a: finds new Python processes anywhere on the host, forgets ended ones.
 * Meant to run about once a second. Returns how many are sampled. */
size_t session_scan_all(struct session *s);
/* -a: looks again at processes that just exec'd Python (session_poll calls it). */
void session_pending_tick(struct session *s);
/* Forgets the counts gathered so far (a new period), keeping caches. */
void session_reset_counts(struct session *s);
struct session_proc *session_main_proc(struct session *s);
/* Launch mode: start cfg.command held before exec, release it once sampling
 * runs, wait for its interpreter. Returns 0 when attached-ready in
 * s->target, 1 when the command ended first (*status), -1 on error. */
int session_launch(struct session *s, int *status);
/* The launched command's exit status (128+signal if killed), waiting for it
 * when wait is set; -1 when there is none or it has not ended. */
int session_child_status(struct session *s, bool wait);
int session_poll(struct session *s, int timeout_ms); /* >= 0, or -errno */
void session_stop_sampling(struct session *s);  /* detach; drain the ring buffer */
void session_counters(struct session *s, uint64_t out[CNT__MAX]);
/* Changes the sampling rate of the running perf events; 0 or -errno. */
int session_set_hz(struct session *s, int hz);
/* Nanoseconds the sampler has run in the kernel so far (0 unless
 * measure_cost is set and the kernel keeps statistics). */
uint64_t session_bpf_ns(struct session *s);
/* The unit of profile values for the session's mode: 1 for CPU samples
 * (counts), else nanoseconds per profile unit (values are microseconds). */
uint64_t session_unit_ns(const struct session *s);
/* Every aggregated stack into p (thread roots first with threads on);
 * with origins set, stacks keep their struct sample_origin (pprof labels). */
int session_profile(struct session *s, struct profile *p, bool origins);
void session_destroy(struct session *s);

#endif
