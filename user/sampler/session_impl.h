/*
 * The sampling session's state, private to user/sampler/: record and top
 * reach it only through the functions of session.h.
 */
#ifndef PYPERF_SESSION_IMPL_H
#define PYPERF_SESSION_IMPL_H
#include <time.h>

#include "native/nfiles.h"
#include "python/threadnames.h"
#include "native/nmerge.h"
#include "sampler/session.h"

#define DEFER_PIDS 64
#define DEFER_BYTES (1u << 20)

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
	uint64_t gc_addr;           /* py_proc.gc_collecting_addr */
	uint64_t cache_flushes;     /* the symbolizer's, at the last check */
	uint64_t code_objects;      /* the symbolizer's count, at the last check */
	uint64_t last_new_code_ns;  /* when that count last grew */
	uint64_t next_check_ns;     /* next revalidation of its code objects */
	uint64_t renew_at_ns;       /* renewals allowed: one token per RENEW_REFILL_NS since this */
	/* --native */
	struct nproc nproc;         /* its executable mappings, as last read */
	uint32_t native_generation; /* native_proc.generation last sent */
	bool native_stale;          /* a stack ran into code in no known mapping */
	uint64_t native_reload_ns;  /* not read again before this */
	struct async_proc *async;   /* --async: its tasks (NULL: not followed) */
	/* Python thread names (--threads, -a labels), read when a thread is
	 * first seen, at most every PYNAMES_REREAD_NS */
	struct pythread_name *pynames;
	size_t npynames;
	uint64_t pynames_ns;        /* CLOCK_MONOTONIC of the last read, 0: never */
};

struct session {
	struct session_config cfg;
	struct py_target target;    /* the first process (input to session_attach) */
	struct u64map procs;        /* pid -> struct session_proc * */
	struct u64map tried;        /* pid -> start time ^ exe identity of a failed look */
	struct u64map tried_next;   /* pid -> when to look again (see try_add), 0: never */
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
	/* --subprocesses: records of a process not sampled yet (a fork the
	 * kernel already follows) wait here while the ring buffer is read,
	 * and are replayed once session_poll has opened their process:
	 * opening one takes milliseconds, too long inside the callback. */
	struct deferred {
		uint32_t pids[DEFER_PIDS]; /* to open */
		size_t npids;
		unsigned char *buf;     /* records, each a size_t length then its bytes, 8-aligned */
		size_t len, cap;        /* cap at most DEFER_BYTES */
		bool replaying;         /* a process still unknown now is unresolved */
	} deferred;
	struct u64map retired;      /* image -> struct session_proc * of processes that exec'd (kept for their counts) */
	struct pyperf *skel;
	int stats_fd;               /* holds BPF run-time statistics on, or -1 */
	struct ring_buffer *rb;
	/* The sampling perf events: one per CPU (-a), or per target thread
	 * (-p, launch mode; each inherited by the threads it makes). */
	int *perf_fds;
	size_t nperf, capperf;
	bool task_events;           /* events on the targets' threads, not per CPU */
	uint64_t next_follow_ns;    /* next check that every target thread has one */
	bool detached;              /* sampling stopped: no event opened again */
	enum sampler_kind sampler;  /* the one used: TIMER or REMOTE (AUTO: none, offcpu) */
	char sampler_why[192];
	struct remote *remote;      /* --sampler remote: its thread and iterators */
	struct bpf_link *switch_link; /* offcpu/wall: the sched_switch program */
	struct bpf_link *exec_link;   /* sched_process_exec: drops exec'd targets, -a hears of execs */
	struct bpf_link *fork_link;   /* --subprocesses: forked children become targets in the kernel */
	struct frametab labels;
	struct u64map stacks;       /* stack id ^ pid -> struct stack_entry * */
	struct u64map counts;       /* stack id x pid (x tid with threads) -> struct count_entry * */
	struct u64map thread_roots; /* tid -> "thread NAME (TID)" label */
	struct u64map origins;      /* mix(pid generation, tid) -> struct sample_origin * */
	pid_t child;                /* launch mode: the command's PID (negated once reaped) */
	uint64_t samples;
	uint64_t unresolved;        /* samples of an unknown process or of a stack whose frames never arrived */
	uint64_t hidden;            /* samples whose every frame is hidden (not yet started) */
	uint64_t gil_samples;       /* mark_gil: CPU samples whose thread held the GIL */
	uint64_t not_gil_wait;      /* gil-wait mode: off-CPU records of other waits, left out */
	/* --async: see struct session_totals */
	uint64_t async_in_task, async_no_task, async_waits, async_passes, async_pass_ns;
	const char **label_buf;
	/* session_poll's bound on reading: a ring buffer refilled as fast as
	 * it is read would keep one read going past any deadline. */
	uint64_t read_budget_ns;    /* per poll, from its first record */
	uint64_t read_until_ns;     /* 0 until the poll's first record */
	uint64_t read_count;        /* records read by this poll */
	bool read_time_up;          /* the last read stopped at its budget */
	bool read_skip;             /* records are only counted (unread), not aggregated */
	uint64_t unread;            /* samples skipped so */
	/* Called for every sample after aggregation (top uses it). */
	session_sample_fn *on_sample;
	void *on_sample_ctx;
	session_event_fn *on_event;
	void *on_event_ctx;
	/* --native: files, their tables' place in unwind_rows, kernel symbols */
	struct native_state {
		struct nfiles *files;
		struct ksyms *ksyms;
		uint32_t rows_used, rows_cap;
		uint32_t tables;            /* files whose table is loaded */
		struct u64map by_build_id;  /* interned build id -> the struct nfile * whose rows serve it */
		uint32_t no_room;           /* files left without a table: no room */
		uint64_t stops[NSTOP__MAX]; /* samples and waits whose native stack ended early, by kind */
		/* native_stack_labels' working arrays */
		struct merge_item *items;
		const char **names;
		bool *eval;
	} native;
	/* The rate samples really came at, measured as the first process's
	 * samples over its CPU time while it is the only one sampled. */
	struct rate_probe {
		bool started;
		bool frozen;                /* another process joined, or it ended */
		clockid_t clock;            /* the process's CPU-time clock */
		uint64_t next_ns;           /* CLOCK_MONOTONIC of the next reading */
		uint64_t samples0, cpu0_ns; /* at the start, or since the rate changed */
		uint64_t samples, cpu_ns;   /* at the last good reading */
	} rate;
};

/* Shared by the sampler's files, one job each:
 *   session.c     new/free, accessors, poll, stop: the glue
 *   bpf.c         the BPF program, its perf events and counters
 *   aggregate.c   ring-buffer records into symbolized stacks and counts
 *   procs.c       adding, retiring and forgetting sampled processes
 *   offcpu.c      threads already blocked at the start and at the end
 *   discover.c    finding processes: children, -a scans, execs
 *   launch.c      running a command to profile
 *   revalidate.c  checking cached code objects again
 *   async.c       --async: asyncio tasks' logical stacks and waits */

/* session.c: a one-line error prefixed with the command's name. */
__attribute__((format(printf, 2, 3)))
void session_err(const struct session *s, const char *fmt, ...);
/* Launch mode: SIGINT/SIGTERM sent to pyperf alone go on to pid (0: none). */
void session_forward_signals(pid_t pid);

/* CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns() too. */
static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t k = a ^ (b * 0x9e3779b97f4a7c15ull);

	return k ^ (k >> 31);
}

/* session.c: the ring buffer's callback, aggregating one record; -ETIME
 * (stop reading) once the poll's read budget is spent. */
int session_read_record(void *ctx, void *data, size_t size);

/* bpf.c */
/* Lowers cfg.hz to the kernel's perf_event_max_sample_rate, saying so. */
void sampler_clamp_hz(struct session *s);
void perf_events_close(struct session *s);
/* Task events: gives every thread of pid that has none an event of its
 * own (its later threads inherit it); 0, or -1 after an error message. */
int sampler_follow(struct session *s, pid_t pid);
/* Launch mode: the held child's event, before it runs anything. */
int sampler_follow_child(struct session *s, pid_t pid);
/* Task events: every 1 s, sampler_follow for each sampled process. */
void sampler_follow_tick(struct session *s);
void sampler_detach(struct session *s);         /* samplers off; the exec hook stays */
/* Reads the rate probe's counters every 100 ms (now when forced). */
void rate_probe_tick(struct session *s, bool force);
/* Samples per second of CPU time, when enough was measured (CPU time worth
 * 200 samples at hz); else 0. */
double rate_measured_hz(uint64_t samples, uint64_t cpu_ns, int hz);
void sampler_unload(struct session *s);         /* everything session_load made */

/* remote.c: the remote sampler */
/* Decides cfg.sampler for the session (auto: measures a timer interrupt's
 * cost); 0, or -1 after an error message (remote asked, not possible). */
int sampler_choose(struct session *s);
/* Starts its thread (no process yet); 0, or -1 after an error message. */
int remote_start(struct session *s);
/* Its iterators follow the processes in the kernel's procs map. */
void remote_sync(struct session *s);
void remote_set_hz(struct session *s, int hz);
void remote_stop(struct session *s);            /* thread joined, iterators gone */
void remote_free(struct session *s);

/* aggregate.c */
int aggregate_event(void *ctx, void *data, size_t size); /* the ring buffer's callback */
/* Counts ev (its tid, kind and weight) against stack st of key skey, as a
 * record of the ring buffer would be; false if out of memory. */
bool aggregate_count(struct session *s, struct session_proc *proc, const struct sample_event *ev,
		     const struct stack_entry *st, uint64_t skey);
/* Enters a stack sent with its frames; the known one if defined before.
 * NULL if out of memory. */
struct stack_entry *define_stack(struct session *s, struct session_proc *proc, uint64_t stack_id,
				 const uint64_t *frames, uint32_t n, uint32_t nnative, uint32_t flags);

/* native.c (--native; each does nothing without it) */
uint32_t native_table_rows(const struct session *s);  /* rows of unwind_rows to make */
int native_init(struct session *s);                   /* 0, or -1 after an error message */
void native_free(struct session *s);
int native_add_process(struct session *s, struct session_proc *p); /* mappings to the kernel */
void native_forget(struct session *s, struct session_proc *p);
void native_tick(struct session *s);                  /* mappings read again where stale */
/* The labels (root first) of a stack with native frames; *stop: the
 * NSTOP_* its native part ended with, 0 if none. */
size_t native_stack_labels(struct session *s, struct session_proc *p, const uint64_t *frames, uint32_t n,
			   uint32_t nnative, uint32_t flags, const char **out, uint32_t *stop);
void aggregate_free(struct session *s);

/* procs.c */
static inline struct session_proc *procs_find(const struct session *s, uint32_t pid)
{
	return u64map_get_ptr(&s->procs, pid);
}
/* Starts sampling one more process; 0, or -1 after an error message. */
int session_add_process(struct session *s, const struct py_target *t);
/* A process's entry in the kernel's procs map, its generation the stack seed. */
struct py_proc procs_kernel_entry(const struct session_proc *p, uint64_t generation);
void procs_retire(struct session *s, uint32_t pid);
void procs_forget(struct session *s, uint32_t pid);
void procs_free(struct session *s);

/* offcpu.c */
void offcpu_gil_range(const struct py_target *t, uint64_t *lo, uint64_t *hi);
void offcpu_seed_blocked(struct session *s, const struct py_target *t, uint64_t gil_lo, uint64_t gil_hi);
void offcpu_flush_blocked(struct session *s);

/* discover.c */
void discover_note_exec(struct session *s, const struct exec_event *e);
/* Holds a record of a process not sampled yet; false when the queue is
 * full (the record is then lost, as one of an unknown process). */
bool discover_defer(struct session *s, const void *data, size_t size);
/* Opens the processes of held records and replays the records. */
void discover_open_deferred(struct session *s);
void discover_free(struct session *s);
/* -a: looks again at processes that just exec'd Python (session_poll calls it). */
void session_pending_tick(struct session *s);

/* async.c (--async; each does nothing without it) */
struct async_proc;
/* Starts following p's tasks; 0, or -1 after an error message when the
 * process asked for cannot be (CPython before 3.11, unknown layout). */
int async_add_process(struct session *s, struct session_proc *p);
void async_forget(struct session_proc *p);
/* A CPU or off-CPU record's stack st (key *skey) as its task's logical
 * stack, *skey its key then; st itself outside any known task. */
const struct stack_entry *async_sample_stack(struct session *s, struct session_proc *p, const struct sample_event *ev,
					     const struct stack_entry *st, uint64_t *skey);
/* wall/offcpu: the waits of pending tasks, when a pass is due (final:
 * now, at the end). */
void async_tick(struct session *s, bool final);

/* revalidate.c */
void revalidate_arm(struct session *s);         /* the first check, once a process is sampled */
void revalidate_tick(struct session *s);        /* the checks due now */

#endif
