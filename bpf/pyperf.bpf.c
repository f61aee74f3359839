// SPDX-License-Identifier: GPL-2.0
/*
 * pyperf's sampler: runs on every cpu-clock perf event, finds the CPython
 * thread state of the interrupted thread and walks its frame chain, then
 * hands userspace a stack id through the ring buffer.
 *
 * Offsets are data (struct py_layout per target process); this file has no
 * per-version branches, only per-feature flags.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "pyperf.h"
#include "pyperf_frame.h"

char LICENSE[] SEC("license") = "GPL";

/* Frames kept per stack; at most PYPERF_MAX_FRAMES (set by userspace). */
const volatile __u32 max_frames = PYPERF_MAX_FRAMES;
/* Forked children of a target become targets (--subprocesses). */
const volatile bool follow_forks = false;
/* Off-CPU waits shorter than this are dropped in the kernel (--min-block). */
const volatile __u64 min_block_ns = 0;
/* Off-CPU waits carry the blocking syscall's WAIT_* reason. */
const volatile bool with_wait_reason = true;
/* Wall mode: time runnable but not running (preempted) counts too. */
const volatile bool track_runnable = false;
/* --gil: CPU samples only of the thread that holds the GIL. */
const volatile bool gil_only = false;
/* top: mark CPU samples whose thread held the GIL (SAMPLE_GIL). */
const volatile bool mark_gil = false;
/* -a: tell userspace of every exec (EVENT_EXEC), not only targets' execs. */
const volatile bool notify_exec = false;
/* --native: unwind the native stack too (tables in unwind_rows). */
const volatile bool native_stacks = false;
/* --kernel: the kernel's frames of a sample taken in the kernel. */
const volatile bool kernel_stacks = false;
/* --async: each sample carries where its runs of generator-owned frames
 * end (sample_event.gen_runs), for userspace to find the task. */
const volatile bool async_tasks = false;
/* record --timeline: CPU samples carry their time (a clock read each). */
const volatile bool sample_times = false;
/* --sampler remote: thread creations in targets are reported (below). */
const volatile bool remote_sampler = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);               /* tgid */
	__type(value, struct py_proc);
} procs SEC(".maps");

/* Per thread: its PyThreadState once found, validated on every use. Task
 * storage is found from the task without hashing and goes with the task. */
struct thread_cache {
	__u64 tstate;
	__u64 want_id;        /* the id that thread state stores for this thread */
	__u64 seed;           /* py_proc.stack_seed it was found under: an exec or a new attach invalidates */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_cache);
} thread_cache SEC(".maps");

/*
 * Stack ids whose frames went to userspace, direct-mapped by the id's low
 * bits. A stack's frames travel once, inside the ring-buffer record of its
 * first sample (sized to the stack); an id pushed out of its slot by
 * another is just sent again. Inserting an 8 KiB map element per new id
 * instead cost most of a sample (bench/RESULTS.md).
 */
#define SENT_SLOTS (1u << 16)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SENT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} sent_stacks SEC(".maps");

/* host TID -> a blocked target thread's stack and when it blocked. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct offcpu_start);
} offcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* --native: every file's unwind table, each a slice; sized by userspace
 * (1 entry without --native). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_row);
} unwind_rows SEC(".maps");

/*
 * --native: rows found lately, per CPU, direct-mapped by pc: a process's
 * samples return through the same few hundred call sites, and a hit saves
 * both binary searches (most of a frame's cost). Tagged with the process
 * image and its mappings' generation, so a reload or another process never
 * hits a stale row.
 */
#define ROW_CACHE_SLOTS 8192

struct row_cache_entry {
	__u64 pc;
	__u64 tag;
	struct unwind_row row;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ROW_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct row_cache_entry);
} row_cache SEC(".maps");

/* --native: tgid -> its executable mappings and where their tables are. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct native_proc);
} native_procs SEC(".maps");


/*
 * Bytes of a 3.11+ thread's data stack read at once. Its frames lie back to
 * back, each caller just below its callee, so one read ending at the leaf
 * frame usually holds several frames (a frame is its ~80-byte header plus
 * 8 bytes per local and stack slot).
 */
#define FRAME_BLOCK 2048
#define PAGE_BYTES 4096
/* The remote sampler's reads cost per page touched, not per byte: it
 * reads up to the whole of the frame's page. */
#define REMOTE_BLOCK 4096

#define SHIMS 32
/* Frames the remote sampler's check finds again as read. */
#define KEPT_FRAMES 2

/* Per-CPU working memory: too large for the 512-byte BPF stack. */
struct scratch {
	__u64 frame;          /* next frame to visit */
	/* The remote sampler's check that the stack it read was one the
	 * thread had (stack_still_live): where the walk started, and the
	 * innermost recorded frames (not shims) as read: address, code
	 * object, previous frame pointer (a shim, perhaps) and instruction. */
	__u64 first_frame;
	struct {
		__u64 frame, code, prev, instr;
		__u64 body;   /* the caller (3.8-3.13): digest of its frame's first blen bytes */
		__u64 blen;
		__u32 read;   /* which read of the target's memory it came from */
		__u32 pad;
	} kept[KEPT_FRAMES];
	__u32 reads;          /* reads of frame memory by this walk */
	__u32 pad_reads;
	__u32 verified;       /* kept frames the check found as read so far */
	__u32 live;           /* the check's answer */
	/* 3.12-3.13: the walk found the innermost frame's caller running
	 * again (its callee had returned), in the same read */
	__u32 caller_resumed;
	/* 3.14+: the frame the walk started at had returned (its code cleared) */
	__u32 start_returned;
	__u32 pad_returned;
	__u64 hash;
	__u32 n;              /* frames captured so far */
	__u32 flags;          /* STACK_* */
	__u64 block_base;     /* target address of buf[0] */
	__u32 block_len;      /* bytes of buf holding target memory (0: none) */
	__u32 small_records;  /* id-only records sent from this CPU */
	/* thread-state search */
	__u64 interp;
	__u64 tstate;
	__u64 want_id;        /* TID, or fsbase when matching pthread_t */
	__u64 found;
	/* native unwind */
	__u64 pc, sp, bp;
	__u32 nnat;           /* native values stored after the Python frames */
	__u32 last_map;       /* index of the mapping found last: frames cluster */
	/* 3.12+ entry (shim) frames met by the Python walk, innermost first:
	 * they live in the C stack frames of the loops that made them. */
	__u32 nshims, shim_next;
	__u64 shims[SHIMS];
	__u64 cache_tag;      /* row_cache entries of this process image and mappings */
	/* --async: the outermost generator-owned frame of the run being
	 * walked (0: the last frame was not one), runs stored so far */
	__u64 run_top;
	__u32 nruns, pad_runs;
	/* One frame header past the block's end: field reads at any offset
	 * in the block stay inside buf for the verifier. */
	__u8 buf[REMOTE_BLOCK + PYPERF_FRAME_BUF];
	struct py_stack_record rec;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* What the bpf_loop callbacks work on, passed in their context argument. */
struct walk_ctx {
	struct scratch *s;
	const struct py_layout *L;     /* in the procs map value: no copy */
	const struct native_proc *np;  /* --native: this process's mappings */
	__u64 seed;                    /* py_proc.stack_seed */
	struct task_struct *task;      /* the thread walked */
};

/* Waking userspace for every record costs an interrupt per sample (most of
 * the per-sample cost measured in bench/); userspace polls anyway (record
 * every 20 ms, top every 100 ms), so wake it only when a good part of the
 * buffer is waiting. */
#define WAKEUP_AT_BYTES (1u << 20)

static __always_inline __u64 submit_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_AT_BYTES ? BPF_RB_FORCE_WAKEUP
										  : BPF_RB_NO_WAKEUP;
}

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_map, &zero);
}

/* Fields of a header copied to p (at most PYPERF_FRAME_BUF bytes). */
static __always_inline __u64 buf_u64(const __u8 *p, __u16 off)
{
	if (off > PYPERF_FRAME_BUF - 8)
		return 0;
	return *(const __u64 *)(p + off);
}

static __always_inline __s32 buf_s32(const __u8 *p, __u16 off)
{
	if (off > PYPERF_FRAME_BUF - 4)
		return -1;
	return *(const __s32 *)(p + off);
}

/* Bytes of a frame's header to read (the layout's, kept inside buf). */
static __always_inline __u32 frame_read_size(const struct py_layout *L)
{
	__u32 size = L->frame_size;

	return size < 8 || size > PYPERF_FRAME_BUF ? PYPERF_FRAME_BUF : size;
}

/* A frame's raw instruction field (pointer, or f_lasti), to compare. */
static __always_inline __u64 buf_instr(const __u8 *p, const struct py_layout *L)
{
	if (L->flags & PYL_INSTR_POINTER)
		return buf_u64(p, L->frame_instr);
	return (__u32)buf_s32(p, L->frame_instr);
}

static __always_inline __u8 buf_u8(const __u8 *p, __u16 off)
{
	if (off > PYPERF_FRAME_BUF - 1)
		return 0;
	return p[off];
}

static __always_inline __u16 tstate_id_off(const struct py_layout *L)
{
	return (L->flags & PYL_NATIVE_TID) ? L->tstate_native_thread_id : L->tstate_thread_id;
}

/* What the thread's PyThreadState stores as its id. Plain loads from the
 * trusted task pointer: no helper call on the common path. */
static __always_inline __u64 thread_id_key(const struct py_layout *L, __u32 tid, struct task_struct *task)
{
	if (L->flags & PYL_NATIVE_TID) {
		/* native_thread_id is what gettid() said inside the process's
		 * own PID namespace (a container), not the host's TID. */
		struct pid *tp = task->thread_pid;
		unsigned int level = tp->level;
		struct upid up = {};

		if (level == 0)
			return tid;
		if (bpf_core_read(&up, sizeof(up), &tp->numbers[level & 31]))
			return 0;
		return (__u32)up.nr;
	}
	/* Before 3.11 a thread state only knows its pthread_t, which on
	 * x86_64 is the thread pointer: the task's fsbase. */
#if defined(__TARGET_ARCH_x86)
	return task->thread.fsbase;
#else
	/* arm64 keeps the thread pointer in task->thread.uw.tp_value, but
	 * glibc's pthread_t lies sizeof(struct pthread) below it, a size
	 * private to each glibc build. */
#error "pyperf is x86_64 only: Python 3.8-3.10 thread states are matched by pthread_t, which only x86_64 gives here (task->thread.fsbase)"
#endif
}

/* --async: the run of generator-owned frames walked so far ended. */
static __always_inline void end_gen_run(struct scratch *s)
{
	__u32 k = s->nruns;

	if (!s->run_top)
		return;
	if (k < PYPERF_ASYNC_RUNS) {
		s->rec.ev.gen_runs[k] = s->run_top;
		s->nruns = k + 1;
	}
	s->run_top = 0;
}

/* ---------------------------------------------------------------- native */

static __always_inline void native_push(struct scratch *s, __u64 v)
{
	__u32 idx = s->n + s->nnat;

	if (idx < PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE && s->nnat < PYPERF_MAX_NATIVE) {
		s->rec.frames[idx] = v;
		s->nnat++;
		s->hash = (s->hash ^ v) * 0x100000001b3ull;
		s->hash ^= s->hash >> 29;
	}
}

static __always_inline long native_stop(struct scratch *s, __u32 kind)
{
	native_push(s, PYPERF_NATIVE_STOP(kind));
	count(CNT_NATIVE_STOPPED);
	return 1;
}

/* A binary search's state, stepped by bpf_loop: the verifier checks one
 * step, not every path through an unrolled search. */
struct search {
	__u64 key;
	__u32 lo, hi;
	__u32 first;                   /* rows: where the table starts */
	const struct native_proc *np;  /* mappings */
	int failed;
};

/* lo ends as the number of mappings starting at or below key. */
static long mapping_search_step(__u64 i, void *ctx)
{
	struct search *q = ctx;

	if (q->lo >= q->hi)
		return 1;
	__u32 mid = (q->lo + q->hi) / 2;

	if (q->np->m[mid & (PYPERF_NATIVE_MAPPINGS - 1)].start <= q->key)
		q->lo = mid + 1;
	else
		q->hi = mid;
	return 0;
}

/* lo ends as the number of rows starting at or below key. */
static long row_search_step(__u64 i, void *ctx)
{
	struct search *q = ctx;

	if (q->lo >= q->hi)
		return 1;
	__u32 mid = (q->lo + q->hi) / 2, key = q->first + mid;
	const struct unwind_row *row = bpf_map_lookup_elem(&unwind_rows, &key);

	if (!row) {
		q->failed = 1;
		return 1;
	}
	if (row->addr <= q->key)
		q->lo = mid + 1;
	else
		q->hi = mid;
	return 0;
}

/* The mapping holding pc: the one found last (frames cluster in a few
 * files), else a binary search. -1 if none. */
static __always_inline int find_mapping(struct scratch *s, const struct native_proc *np, __u64 pc)
{
	__u32 n = np->n, k = s->last_map & (PYPERF_NATIVE_MAPPINGS - 1);

	if (n > PYPERF_NATIVE_MAPPINGS)
		n = PYPERF_NATIVE_MAPPINGS;
	if (k < n && np->m[k].start <= pc && pc < np->m[k].end)
		return (int)k;
	struct search q = { .key = pc, .lo = 0, .hi = n, .np = np };

	bpf_loop(11, mapping_search_step, &q, 0); /* 2^11 > PYPERF_NATIVE_MAPPINGS */
	if (q.lo == 0)
		return -1;
	k = (q.lo - 1) & (PYPERF_NATIVE_MAPPINGS - 1);
	if (k >= n || pc >= np->m[k].end)
		return -1;
	s->last_map = k;
	return (int)k;
}

/* The row of [first, first + count) of unwind_rows in force at addr (the
 * last one starting at or below it), or NULL. */
static __always_inline const struct unwind_row *find_row(__u32 first, __u32 count, __u32 addr)
{
	struct search q = { .key = addr, .lo = 0, .hi = count, .first = first };

	bpf_loop(25, row_search_step, &q, 0); /* 2^25 rows: more than unwind_rows holds */
	if (q.failed || q.lo == 0)
		return NULL;
	__u32 key = first + q.lo - 1;

	return bpf_map_lookup_elem(&unwind_rows, &key);
}

/*
 * Reads the 8-byte words at addr (and addr + 8 when two) of the thread's
 * stack into out, through a window of it copied into s->buf: one read of
 * up to FRAME_BLOCK bytes serves several frames (the unwinder moves up the
 * stack a few hundred bytes a frame), where a read per word cost most of
 * a frame. The window stops at the end of addr's page: the page above the
 * stack's top is not mapped, and a read that faults anywhere fails whole.
 */
static __always_inline int stack_words(struct scratch *s, __u64 addr, __u64 *out, bool two)
{
	__u32 len = two ? 16 : 8;

	if (!(s->block_len && addr >= s->block_base && addr - s->block_base + len <= s->block_len)) {
		__u64 end = (addr & ~(__u64)(PAGE_BYTES - 1)) + PAGE_BYTES;

		if (end - addr > FRAME_BLOCK)
			end = addr + FRAME_BLOCK;
		__u64 wlen = end - addr;

		barrier_var(wlen);
		if (wlen >= len && wlen <= FRAME_BLOCK &&
		    bpf_probe_read_user(s->buf, wlen, (const void *)addr) == 0) {
			s->block_base = addr;
			s->block_len = wlen;
		} else {
			/* two words across a page end, or a window that faults */
			s->block_len = 0;
			return bpf_probe_read_user(out, len, (const void *)addr) ? -1 : 0;
		}
	}
	__u32 at = (__u32)(addr - s->block_base) & (FRAME_BLOCK - 1);

	out[0] = *(const __u64 *)(s->buf + at);
	if (two)
		out[1] = *(const __u64 *)(s->buf + at + 8);
	return 0;
}

/* One native frame: records pc, then finds its caller's pc, sp and bp by
 * the row of the file's table that covers it. */
static long native_step(__u64 i, void *ctx)
{
	struct walk_ctx *c = ctx;
	struct scratch *s = c->s;
	const struct native_proc *np = c->np;

	if (s->nnat + 2 > PYPERF_MAX_NATIVE)
		return native_stop(s, NSTOP_TRUNCATED);
	__u64 pc = s->pc;

	native_push(s, pc);
	/* A return address is just past its call, which may be the last
	 * instruction of a function: look up the call itself. */
	__u64 lookup = i == 0 ? pc : pc - 1;
	__u32 slot = (__u32)((lookup ^ (lookup >> 17)) * 0x9e3779b1u) & (ROW_CACHE_SLOTS - 1);
	struct row_cache_entry *ce = bpf_map_lookup_elem(&row_cache, &slot);
	const struct unwind_row *row;

	if (ce && ce->pc == lookup && ce->tag == s->cache_tag) {
		row = &ce->row;
	} else {
		int k = find_mapping(s, np, lookup);

		if (k < 0)
			return native_stop(s, NSTOP_NO_MAPPING);
		const struct native_mapping *m = &np->m[k & (PYPERF_NATIVE_MAPPINGS - 1)];

		if (!m->row_count)
			return native_stop(s, NSTOP_NO_TABLE);
		__u64 addr = lookup - m->bias;

		if (addr >> 32)
			return native_stop(s, NSTOP_NO_ROW);
		row = find_row(m->row_first, m->row_count, (__u32)addr);
		if (!row)
			return native_stop(s, NSTOP_NO_ROW);
		if (ce) {
			ce->pc = lookup;
			ce->tag = s->cache_tag;
			ce->row = *row;
		}
	}
	__u64 cfa;

	switch (row->cfa_reg) {
	case UNW_CFA_RSP:
		cfa = s->sp + (__s64)row->cfa_off;
		break;
	case UNW_CFA_RBP:
		cfa = s->bp + (__s64)row->cfa_off;
		break;
	case UNW_CFA_PLT:
		cfa = s->sp + (__s64)row->cfa_off + ((pc & 15) >= 11 ? 8 : 0);
		break;
	case UNW_CFA_END:
		return 1; /* the outermost frame: a whole stack */
	case UNW_CFA_NONE:
		return native_stop(s, NSTOP_NO_ROW);
	default:
		return native_stop(s, NSTOP_UNSUPPORTED);
	}
	if (cfa <= s->sp)
		return native_stop(s, NSTOP_BAD_FRAME);
	__u32 j = s->shim_next;

	if (j < s->nshims && j < SHIMS && s->shims[j] >= s->sp && s->shims[j] < cfa) {
		__u32 idx = s->n + s->nnat - 1; /* this frame, pushed above */

		if (idx < PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE) {
			s->rec.frames[idx] |= PYPERF_NATIVE_EVAL;
			s->hash = (s->hash ^ 0xe7a1ull) * 0x100000001b3ull;
		}
		s->shim_next = j + 1;
	}
	__u64 ra = 0, bp = s->bp;

	if (row->rbp_rule == UNW_RBP_AT_CFA && row->rbp_off == -16) {
		/* push rbp right after the call (most frames that save it):
		 * saved rbp and return address in one read */
		__u64 pair[2];

		if (stack_words(s, cfa - 16, pair, true))
			return native_stop(s, NSTOP_READ_FAULT);
		bp = pair[0];
		ra = pair[1];
	} else {
		if (stack_words(s, cfa - 8, &ra, false))
			return native_stop(s, NSTOP_READ_FAULT);
		if (row->rbp_rule == UNW_RBP_AT_CFA) {
			if (stack_words(s, cfa + (__s64)row->rbp_off, &bp, false))
				return native_stop(s, NSTOP_READ_FAULT);
		} else if (row->rbp_rule == UNW_RBP_UNDEFINED) {
			bp = 0;
		}
	}
	if (!ra)
		return 1; /* _start and thread entry points end so */
	if (ra < 4096 || ra >= PYPERF_USER_ADDR_LIMIT)
		return native_stop(s, NSTOP_BAD_FRAME);
	s->pc = ra;
	s->sp = cfa;
	s->bp = bp;
	return 0;
}

/*
 * Appends the current thread's native stack to s->rec after its s->n
 * Python frames: from the user registers (in s already when the sample
 * interrupted user code, else those saved at the kernel's entry).
 */
static __always_inline void walk_native(struct walk_ctx *c, __u32 tgid, bool user_regs)
{
	struct scratch *s = c->s;
	const struct native_proc *np = bpf_map_lookup_elem(&native_procs, &tgid);

	if (!np)
		return;
	c->np = np;
	s->cache_tag = (c->seed << 20) ^ np->generation ^ 0x5eedull;
	if (!user_regs) {
		struct pt_regs *ur = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

		if (!ur)
			return;
		s->pc = BPF_CORE_READ(ur, ip);
		s->sp = BPF_CORE_READ(ur, sp);
		s->bp = BPF_CORE_READ(ur, bp);
	}
	if (!s->pc || s->pc >= PYPERF_USER_ADDR_LIMIT)
		return;
	s->block_len = 0; /* s->buf now holds the native stack's window */
	bpf_loop(PYPERF_MAX_NATIVE, native_step, c, 0);
}

/* --kernel: the kernel frames of a sample taken in the kernel, leaf
 * first, before the user ones. */
static __always_inline void walk_kernel(struct scratch *s, void *perf_ctx)
{
	__u32 n = s->n;

	if (n > PYPERF_MAX_FRAMES)
		return;
	long got = bpf_get_stack(perf_ctx, &s->rec.frames[n], PYPERF_MAX_KERNEL * sizeof(__u64), 0);

	if (got <= 0)
		return;
	__u32 k = (__u32)got / sizeof(__u64);

	if (k > PYPERF_MAX_KERNEL)
		k = PYPERF_MAX_KERNEL;
	for (__u32 i = 0; i < PYPERF_MAX_KERNEL && i < k; i++) {
		__u32 idx = n + i;

		if (idx < PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE)
			s->hash = (s->hash ^ s->rec.frames[idx]) * 0x100000001b3ull;
	}
	s->nnat = k;
}

static __always_inline void count_stack_flags(__u32 flags)
{
	if (flags & STACK_TRUNCATED)
		count(CNT_TRUNCATED);
	if (flags & STACK_READ_FAULT)
		count(CNT_READ_FAULT);
	if (flags & STACK_BAD_CHAIN)
		count(CNT_BAD_CHAIN);
}

/* The sample event of the stack walked into s: ids, counts, flags. */
static __always_inline void set_event(struct scratch *s, __u32 tgid, __u32 tid)
{
	struct sample_event *e = &s->rec.ev;

	e->pid = tgid;
	e->tid = tid;
	e->stack_id = (s->hash ^ ((__u64)s->flags << 56) ^ s->n ^ ((__u64)s->nnat << 16)) * 0x9e3779b97f4a7c15ull;
	e->flags = s->flags;
	e->nframes = s->n;
	e->nnative = s->nnat;
	e->weight_ns = 0;
	e->reason = WAIT_NONE;
}

/* The walker reading the current thread: timer samples and switches. */
#define WALK(name) name
#define WALK_BLOCK FRAME_BLOCK
#define WALK_READ(c, dst, size, addr) bpf_probe_read_user(dst, size, (const void *)(addr))
#define WALK_LOCAL 1
#include "pyperf_walk.h"
#undef WALK
#undef WALK_READ
#undef WALK_LOCAL
#undef WALK_BLOCK

/* The walker reading another task from pyperf's thread: the remote
 * sampler (a sleepable program: the reads may fault pages in). */
#define WALK(name) remote_##name
#define WALK_BLOCK REMOTE_BLOCK
#define WALK_READ(c, dst, size, addr) bpf_copy_from_user_task(dst, size, (const void *)(addr), (c)->task, 0)
#define WALK_LOCAL 0
#include "pyperf_walk.h"
#undef WALK
#undef WALK_READ
#undef WALK_LOCAL
#undef WALK_BLOCK

/*
 * Sends s->rec.ev as a record of this kind, with the frames if userspace
 * has not had this stack yet. 0 on success, -1 if the ring buffer is full
 * (counted). only_if_new: send nothing for a stack already sent.
 */
static __always_inline int emit(struct scratch *s, __u32 kind, bool only_if_new)
{
	struct sample_event *e = &s->rec.ev;
	__u64 id = e->stack_id;
	__u32 slot = (__u32)id & (SENT_SLOTS - 1);
	__u64 *sent_id = bpf_map_lookup_elem(&sent_stacks, &slot);
	bool sent = sent_id && *sent_id == id && id;
	long err;

	if (sent && only_if_new)
		return 0;
	e->kind = kind;
	e->time_ns = sample_times ? bpf_ktime_get_ns() : 0; /* only --timeline reads it: a clock read saved */
	if (sent) {
		/* Small records: whether to wake userspace (which polls every
		 * 20-100 ms anyway) is asked only every 64th time on this CPU. */
		e->flags &= ~SAMPLE_HAS_FRAMES;
		err = bpf_ringbuf_output(&events, e, sizeof(*e),
					 (++s->small_records & 63) ? BPF_RB_NO_WAKEUP : submit_flags());
	} else {
		__u64 n = (__u64)e->nframes + e->nnative; /* 64-bit: no copy the verifier cannot bound */

		if (n > PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE)
			n = PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE;
		barrier_var(n); /* the bounded value, not a copy from before the check */
		e->flags |= SAMPLE_HAS_FRAMES;
		err = bpf_ringbuf_output(&events, e, sizeof(*e) + n * sizeof(__u64), submit_flags());
		/* Marked once sent: a dropped record never leaves an id
		 * userspace cannot resolve. */
		if (err == 0 && sent_id)
			*sent_id = id;
	}
	if (err) {
		count(CNT_RINGBUF_FULL);
		return -1;
	}
	return 0;
}

SEC("perf_event")
int pyperf_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct py_proc *proc;
	struct scratch *s;

	count(CNT_RUNS);
	proc = bpf_map_lookup_elem(&procs, &tgid);
	if (!proc)
		return 0;
	count(CNT_SAMPLES);
	s = get_scratch();
	if (!s)
		return 0;
	bool user_regs = false;
#if defined(__TARGET_ARCH_x86)
	if (native_stacks) {
		/* User code interrupted: its registers are the perf event's own.
		 * Whole-word loads: the context allows no narrower ones. */
		__u64 cs = *(volatile __u64 *)&ctx->regs.cs;

		if ((cs & 3) == 3) {
			s->pc = *(volatile __u64 *)&ctx->regs.ip;
			s->sp = *(volatile __u64 *)&ctx->regs.sp;
			s->bp = *(volatile __u64 *)&ctx->regs.bp;
			user_regs = true;
		}
	}
#endif
	if (!walk_current(s, proc, bpf_get_current_task_btf(), tgid, tid, true, user_regs, ctx))
		return 0;
	if (emit(s, EVENT_CPU, false) == 0)
		count(CNT_EMITTED);
	return 0;
}

/* ---------------------------------------------------------------- remote
 * The remote sampler (--sampler remote): a thread of pyperf wakes at the
 * rate asked and runs this over each target's threads (an iterator per
 * process), walking those on a CPU with their memory read from here: the
 * target takes no interrupt. Sleepable: reading another task's memory may
 * fault pages in. Its own scratch: a switch program may run on this CPU
 * while it sleeps.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} remote_scratch SEC(".maps");

/* Walks of a stack before it is kept as it is (marked a broken chain). */
#define REMOTE_TRIES 5

/*
 * Whether task is on a CPU: running now, or preempted by this very thread
 * (pyperf's wakeup took its CPU: it was running until then). Preempted
 * so, its last_queued and our last_arrival are the one switch's clock.
 */
static __always_inline bool remote_running(struct task_struct *task)
{
	struct task_struct *me = bpf_get_current_task_btf();
	__u64 queued;

	if (task->on_cpu)
		return true;
	queued = task->sched_info.last_queued;
	if (task->on_rq != 1 || !queued || queued != me->sched_info.last_arrival)
		return false;
	count(CNT_REMOTE_PREEMPTED);
	return true;
}

struct task_struct *bpf_task_from_pid(__s32 pid) __ksym;
void bpf_task_release(struct task_struct *p) __ksym;

/*
 * The threads the remote sampler visits, written by pyperf's sampling
 * thread (which alone runs the program) from /proc/PID/task of each
 * target; remote_threads_changed tells it a target made a thread since.
 */
__u32 remote_tids[PYPERF_REMOTE_THREADS];
__u32 remote_ntids = 0;
__u32 remote_threads_changed = 0;

/*
 * While no target thread is on a CPU the sampling thread sleeps instead of
 * waking at the rate asked for nothing: pyperf_remote sets remote_idle as
 * it starts (a thread switched in while it runs may be missed by it) and
 * clears it if it found one on a CPU; the switch hook clears it when a
 * target thread is switched in and wakes the sampling thread with the
 * time, through remote_wake. A store of pyperf_remote's can pass the
 * hook's load (the hook runs just before the thread is marked on a CPU):
 * the sleep is bounded, so such a miss costs a few milliseconds.
 */
__u32 remote_idle = 0;
/* The one process followed, if just one: the hook's test without a lookup. */
__u32 remote_only_tgid = 0;
/* Threads on a CPU in this run (one sampling thread runs the program). */
__u32 remote_on_cpu = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} remote_wake SEC(".maps");

/*
 * Samples one thread of a target, on a CPU: walks its stack from
 * the innermost frame its thread state names; unless one read shows it
 * whole (one_read_snapshot), reads the innermost frames again
 * (stack_still_live); a stack that changed meanwhile is walked again
 * from the thread's frame as it is then, and the last of REMOTE_TRIES
 * walks is kept, marked broken, if it changed too. The garbage
 * collector's state is read once, for the stack kept.
 */
static __always_inline void remote_sample_task(struct task_struct *task)
{
	__u32 zero = 0;

	__u32 tgid = task->tgid, tid = task->pid;
	struct py_proc *proc = bpf_map_lookup_elem(&procs, &tgid);
	struct scratch *s = bpf_map_lookup_elem(&remote_scratch, &zero);

	if (!proc || !s)
		return;
	count(CNT_SAMPLES);
	struct walk_ctx c = { .s = s, .L = &proc->layout, .seed = proc->stack_seed, .task = task };
	__u64 tstate = 0;
	__u64 frame = remote_find_frame(&c, proc, tid, &tstate);

	if (!tstate) {
		count(CNT_NO_TSTATE);
		return;
	}
	if (gil_only && !remote_holds_gil(&c, proc, tstate)) {
		count(CNT_NOT_GIL_HOLDER);
		return;
	}
	for (int i = 0; i < REMOTE_TRIES; i++) {
		remote_walk_from(&c, frame, tgid);
		if (s->n == 0 && (!(s->flags & STACK_BAD_CHAIN) || i == REMOTE_TRIES - 1)) {
			count(CNT_NO_FRAMES);
			return;
		}
		if (s->start_returned && i < REMOTE_TRIES - 1) {
			count(CNT_CHANGED);
			frame = remote_find_frame(&c, proc, tid, &tstate);
			continue;
		}
		if (!(s->flags & STACK_BAD_CHAIN) && remote_one_read_snapshot(&c)) {
			count(CNT_ONE_READ);
			break;
		}
		/* A chain the walk found broken (a generator frame being
		 * entered or, 3.14+, one that finished) is read again too. */
		if (!(s->flags & STACK_BAD_CHAIN) && remote_stack_still_live(&c))
			break;
		if (i == REMOTE_TRIES - 1) {
			s->flags |= STACK_BAD_CHAIN;
			break;
		}
		count(CNT_CHANGED);
		frame = remote_find_frame(&c, proc, tid, &tstate);
	}
	if (remote_in_gc(&c, proc, tstate))
		s->flags |= STACK_GC;
	count_stack_flags(s->flags);
	set_event(s, tgid, tid);
	if (mark_gil && remote_holds_gil(&c, proc, tstate))
		s->rec.ev.flags |= SAMPLE_GIL;
	if (emit(s, EVENT_CPU, false) == 0)
		count(CNT_EMITTED);
}

static long remote_visit(__u64 i, void *ctx)
{
	__u32 tid = remote_tids[i & (PYPERF_REMOTE_THREADS - 1)];
	struct task_struct *task = tid ? bpf_task_from_pid((__s32)tid) : NULL;

	if (!task)
		return 0; /* ended since the list was made */
	if (remote_running(task)) {
		remote_on_cpu++;
		remote_sample_task(task);
	}
	bpf_task_release(task);
	return 0;
}

/* One run per wakeup (BPF_PROG_TEST_RUN from pyperf's sampling thread):
 * every listed thread, with no file or iterator made per run. Returns how
 * many were on a CPU. */
SEC("syscall")
int pyperf_remote(void *ctx)
{
	__u32 n = remote_ntids;

	if (n > PYPERF_REMOTE_THREADS)
		n = PYPERF_REMOTE_THREADS;
	remote_on_cpu = 0;
	remote_idle = 1;
	bpf_loop(n, remote_visit, NULL, 0);
	if (remote_on_cpu)
		remote_idle = 0;
	return (int)remote_on_cpu;
}

/* A target's thread switched in while the remote sampler sleeps: wake it.
 * Runs at every switch on the host, so the common case is one load. */
SEC("tp_btf/sched_switch")
int BPF_PROG(pyperf_remote_wake, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 tgid;

	if (!remote_idle)
		return 0;
	tgid = next->tgid;
	if (remote_only_tgid ? tgid != remote_only_tgid : !bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	remote_idle = 0;

	__u64 now = bpf_ktime_get_ns();

	bpf_ringbuf_output(&remote_wake, &now, sizeof(now), BPF_RB_FORCE_WAKEUP);
	return 0;
}

/* Why prev waits, from the syscall it is in (its saved user registers). */
static __always_inline __u32 wait_reason_of(struct task_struct *prev, struct py_proc *proc)
{
#if defined(__TARGET_ARCH_x86)
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	long nr;

	if (!regs)
		return WAIT_NONE;
	nr = BPF_CORE_READ(regs, orig_ax);
	switch (nr) {
	case 35:  /* nanosleep */
	case 230: /* clock_nanosleep */
		return WAIT_SLEEP;
	case 202: { /* futex: on the GIL's condition variable or mutex, a GIL wait */
		__u64 uaddr = BPF_CORE_READ(regs, di);

		return uaddr >= proc->gil_lo && uaddr < proc->gil_hi ? WAIT_GIL : WAIT_LOCK;
	}
	case 449: /* futex_waitv */
		return WAIT_LOCK;
	case 0: case 1: case 17: case 18: case 19: case 20: /* read write pread64 pwrite64 readv writev */
	case 42: case 43: case 44: case 45: case 46: case 47: /* connect accept sendto recvfrom sendmsg recvmsg */
	case 288: case 299: case 307: /* accept4 recvmmsg sendmmsg */
		return WAIT_IO;
	case 23: case 270: /* select, pselect6: with no descriptors, a sleep (time.sleep before 3.11) */
		return BPF_CORE_READ(regs, di) == 0 ? WAIT_SLEEP : WAIT_POLL;
	case 7: case 271: /* poll, ppoll: likewise */
		return BPF_CORE_READ(regs, si) == 0 ? WAIT_SLEEP : WAIT_POLL;
	case 232: case 281: case 441: /* epoll_wait epoll_pwait epoll_pwait2 */
		return WAIT_POLL;
	}
#endif
	return WAIT_NONE;
}

/*
 * Off-CPU time: a target thread that blocks has its stack walked as it
 * switches out (it is still current, so its memory is readable) and kept
 * with a timestamp; when it runs again, the time it was off the CPU goes
 * to the ring buffer as that stack's weight. Preempted threads (still
 * runnable) are not waiting and are skipped. Only attached in offcpu and
 * wall modes.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(pyperf_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 ntid = next->pid;
	struct offcpu_start *st = bpf_map_lookup_elem(&offcpu, &ntid);

	if (st) {
		__u64 now = bpf_ktime_get_ns();
		__u64 d = now > st->start_ns ? now - st->start_ns : 0;

		if (d < min_block_ns) {
			count(CNT_OFFCPU_SHORT);
		} else {
			struct sample_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

			if (e) {
				e->pid = st->pid;
				e->tid = ntid;
				e->stack_id = st->stack_id;
				e->time_ns = now;
				e->flags = st->flags;
				e->nframes = st->nframes;
				e->nnative = st->nnative;
				e->weight_ns = d;
				e->kind = EVENT_OFFCPU;
				e->reason = st->reason;
				e->pad = 0;
				__builtin_memcpy(e->gen_runs, st->gen_runs, sizeof(e->gen_runs));
				bpf_ringbuf_submit(e, submit_flags());
				count(CNT_EMITTED);
			} else {
				count(CNT_RINGBUF_FULL);
			}
		}
		bpf_map_delete_elem(&offcpu, &ntid);
	}

	unsigned int state = prev->__state; /* a trusted BTF pointer: a plain load */

	/* TASK_DEAD: never runs again. TASK_RUNNING (or preempted): not
	 * waiting for anything but a CPU, which is wall time, not off-CPU. */
	bool runnable = preempt || state == 0;

	if ((state & 0x80) || (runnable && !track_runnable))
		return 0;
	__u32 tgid = prev->tgid, tid = prev->pid;
	struct py_proc *proc = bpf_map_lookup_elem(&procs, &tgid);

	if (!proc)
		return 0;
	count(CNT_SAMPLES);
	struct scratch *s = get_scratch();

	if (!s || !walk_current(s, proc, bpf_get_current_task_btf(), tgid, tid, false, false, NULL))
		return 0;
	/* The stack's frames go now, while they are in hand; the wait itself
	 * is reported when the thread runs again. */
	if (emit(s, EVENT_STACK, true))
		return 0;

	struct offcpu_start rec = {
		.stack_id = s->rec.ev.stack_id,
		.start_ns = bpf_ktime_get_ns(),
		.pid = tgid,
		.flags = s->rec.ev.flags & ~SAMPLE_HAS_FRAMES,
		.nframes = s->rec.ev.nframes,
		.nnative = s->rec.ev.nnative,
		.reason = !with_wait_reason ? WAIT_NONE : runnable ? WAIT_RUNNABLE : wait_reason_of(prev, proc),
	};

	if (async_tasks)
		__builtin_memcpy(rec.gen_runs, s->rec.ev.gen_runs, sizeof(rec.gen_runs));

	bpf_map_update_elem(&offcpu, &tid, &rec, BPF_ANY);
	return 0;
}

/* A forked child has the parent's memory image, so the parent's entry is
 * right for it from its first instruction. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(pyperf_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;

	if (ptgid == ctgid) {
		/* a new thread: the remote sampler lists it at its next wakeup */
		if (remote_sampler && bpf_map_lookup_elem(&procs, &ptgid))
			remote_threads_changed = 1;
		return 0;
	}
	if (!follow_forks)
		return 0;
	struct py_proc *p = bpf_map_lookup_elem(&procs, &ptgid);

	if (p)
		bpf_map_update_elem(&procs, &ctgid, p, BPF_NOEXIST);
	/* --native: the same mappings too, until userspace reads its own */
	struct native_proc *np = native_stacks ? bpf_map_lookup_elem(&native_procs, &ptgid) : NULL;

	if (np)
		bpf_map_update_elem(&native_procs, &ctgid, np, BPF_NOEXIST);
	return 0;
}

/* exec replaces the image: the offsets and addresses no longer apply.
 * Userspace hears of it (EVENT_EXEC) and looks at the new image. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(pyperf_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;
	bool was_target = bpf_map_delete_elem(&procs, &tgid) == 0;

	/* A target's exec is always reported (its new image may be Python
	 * again); with -a every exec is. */
	if (!was_target && !notify_exec)
		return 0;
	struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ev.pid = tgid;
	e->ev.tid = p->pid;
	e->ev.kind = EVENT_EXEC;
	e->ev.time_ns = bpf_ktime_get_ns();
	/* The interpreter of a script ("#!/usr/bin/python3"), else the file;
	 * the end of the path, where the name is. */
	const char *path = BPF_CORE_READ(bprm, interp);
	char buf[256];
	long n = bpf_probe_read_kernel_str(buf, sizeof(buf), path);

	if (n > 1) {
		long from = n - 1 > PYPERF_EXEC_NAME - 1 ? n - 1 - (PYPERF_EXEC_NAME - 1) : 0;

		bpf_probe_read_kernel_str(e->name, sizeof(e->name), path + from);
	}
	bpf_ringbuf_submit(e, submit_flags());
	return 0;
}

/* ------------------------------------------------------------ task events
 * -p and launch mode sample with events on the target's own threads,
 * inherited by the threads they create. A thread made before its creator's
 * event was opened has none; one made after has an inherited one, which a
 * second event would double. This iterator tells them apart: it writes the
 * TID of each thread of task_events_tgid with no event running the
 * sampler (task_events_prog_id) in its perf context.
 */
__u32 task_events_tgid = 0;
__u32 task_events_prog_id = 0;

/* Before 6.2 a task had one perf context per kind; the software one is [0]... */
struct task_struct___pre62 {
	struct perf_event_context *perf_event_ctxp[2];
} __attribute__((preserve_access_index));

#define TASK_EVENTS_SCAN 64

SEC("iter/task")
int pyperf_task_events(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct perf_event_context *pctx;

	if (!task || task->tgid != task_events_tgid)
		return 0;
	if (bpf_core_field_size(task->perf_event_ctxp) == sizeof(void *))
		pctx = BPF_CORE_READ(task, perf_event_ctxp);
	else /* ... and the hardware one [1] */
		pctx = BPF_CORE_READ((struct task_struct___pre62 *)task, perf_event_ctxp[0]);
	if (pctx) {
		struct list_head *head = &pctx->event_list;
		struct list_head *pos = BPF_CORE_READ(pctx, event_list.next);

		for (int i = 0; i < TASK_EVENTS_SCAN && pos && pos != head; i++) {
			struct perf_event *ev = (void *)pos - bpf_core_field_offset(struct perf_event, event_entry);
			struct bpf_prog *prog = BPF_CORE_READ(ev, prog);

			if (prog && BPF_CORE_READ(prog, aux, id) == task_events_prog_id)
				return 0; /* covered */
			pos = BPF_CORE_READ(pos, next);
		}
	}
	__u32 tid = task->pid;

	bpf_seq_write(ctx->meta->seq, &tid, sizeof(tid));
	return 0;
}
