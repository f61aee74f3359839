/*
 * The sampling session's state, private to user/sampler/: record and top
 * reach it only through the functions of session.h.
 */
#ifndef PYPERF_SESSION_IMPL_H
#define PYPERF_SESSION_IMPL_H
#include "sampler/session.h"

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
	session_sample_fn *on_sample;
	void *on_sample_ctx;
};

/* Starts sampling one more process; 0, or -1 after an error message. */
int session_add_process(struct session *s, const struct py_target *t);
/* -a: looks again at processes that just exec'd Python (session_poll calls it). */
void session_pending_tick(struct session *s);

#endif
