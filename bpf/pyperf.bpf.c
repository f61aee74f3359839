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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);               /* tgid */
	__type(value, struct py_proc);
} procs SEC(".maps");

/* tid -> PyThreadState address; validated on every use. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} tstates SEC(".maps");

/* stack id -> frames. Userspace deletes entries once copied. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct stack_frames);
} stacks SEC(".maps");

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

/* Per-CPU working memory: too large for the 512-byte BPF stack. */
struct scratch {
	struct py_layout L;
	__u64 runtime;
	__u64 frame;          /* next frame to visit */
	__u64 hash;
	__u32 n;              /* frames captured so far */
	__u32 flags;          /* STACK_* */
	/* thread-state search */
	__u64 interp;
	__u64 tstate;
	__u64 want_id;        /* TID, or fsbase when matching pthread_t */
	__u64 found;
	__u8 buf[PYPERF_FRAME_BUF];
	struct stack_frames st;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Waking userspace for every record costs an interrupt per sample (most of
 * the per-sample cost measured in bench/); userspace polls every 100 ms
 * anyway, so wake it only when a good part of the buffer is waiting. */
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

/* Reads a pointer-sized value from the target; 0 on failure. */
static __always_inline __u64 read_ptr(__u64 addr, __u16 off)
{
	__u64 v = 0;

	if (!addr || off == PY_OFF_NONE)
		return 0;
	if (bpf_probe_read_user(&v, sizeof(v), (const void *)(addr + off)))
		return 0;
	return v;
}

static __always_inline __u64 buf_u64(const __u8 *buf, __u16 off)
{
	if (off > PYPERF_FRAME_BUF - 8)
		return 0;
	return *(const __u64 *)(buf + off);
}

static __always_inline __s32 buf_s32(const __u8 *buf, __u16 off)
{
	if (off > PYPERF_FRAME_BUF - 4)
		return -1;
	return *(const __s32 *)(buf + off);
}

static __always_inline __u8 buf_u8(const __u8 *buf, __u16 off)
{
	if (off > PYPERF_FRAME_BUF - 1)
		return 0;
	return buf[off];
}

/*
 * One step of the search for the sampled thread's PyThreadState: visits one
 * thread state, or moves on to the next interpreter when a list ends.
 */
static long find_tstate_step(__u64 i, void *unused)
{
	struct scratch *s = get_scratch();

	if (!s)
		return 1;
	if (!s->tstate) {
		s->interp = read_ptr(s->interp, s->L.interp_next);
		if (!s->interp)
			return 1;
		s->tstate = read_ptr(s->interp, s->L.interp_threads_head);
		return 0;
	}
	__u64 id = (s->L.flags & PYL_NATIVE_TID) ?
		read_ptr(s->tstate, s->L.tstate_native_thread_id) :
		read_ptr(s->tstate, s->L.tstate_thread_id);
	if (id && id == s->want_id) {
		s->found = s->tstate;
		return 1;
	}
	__u64 next = read_ptr(s->tstate, s->L.tstate_next);
	s->tstate = next == s->tstate ? 0 : next; /* a self-loop ends the list */
	return 0;
}

static __always_inline __u64 thread_id_key(struct scratch *s, __u32 tid)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (s->L.flags & PYL_NATIVE_TID) {
		/* native_thread_id is what gettid() said inside the process's
		 * own PID namespace (a container), not the host's TID. */
		struct pid *tp = BPF_CORE_READ(task, thread_pid);
		unsigned int level = BPF_CORE_READ(tp, level);
		struct upid up = {};

		if (level == 0)
			return tid;
		if (bpf_core_read(&up, sizeof(up), &tp->numbers[level & 31]))
			return 0;
		return (__u32)up.nr;
	}
	/* Before 3.11 a thread state only knows its pthread_t, which on
	 * x86_64 is the thread pointer: the task's fsbase. */
	return BPF_CORE_READ(task, thread.fsbase);
}

static __always_inline __u64 find_tstate(struct scratch *s, __u32 tid)
{
	__u64 *cached = bpf_map_lookup_elem(&tstates, &tid);
	__u16 id_off = (s->L.flags & PYL_NATIVE_TID) ? s->L.tstate_native_thread_id :
						       s->L.tstate_thread_id;

	s->want_id = thread_id_key(s, tid);
	if (!s->want_id)
		return 0;
	if (cached && read_ptr(*cached, id_off) == s->want_id)
		return *cached;

	s->interp = read_ptr(s->runtime, s->L.runtime_interpreters_head);
	s->tstate = read_ptr(s->interp, s->L.interp_threads_head);
	s->found = 0;
	if (!s->interp)
		return 0;
	bpf_loop(PYPERF_MAX_THREADS + PYPERF_MAX_INTERPRETERS, find_tstate_step, NULL, 0);
	if (s->found)
		bpf_map_update_elem(&tstates, &tid, &s->found, BPF_ANY);
	return s->found;
}

/* Visits one frame: records it unless it is a shim, then moves to its caller. */
static long walk_frame_step(__u64 i, void *unused)
{
	struct scratch *s = get_scratch();

	if (!s || !s->frame)
		return 1;
	if (s->n >= max_frames || s->n >= PYPERF_MAX_FRAMES) {
		s->flags |= STACK_TRUNCATED;
		return 1;
	}
	__u32 size = s->L.frame_size;

	if (size == 0 || size > PYPERF_FRAME_BUF)
		size = PYPERF_FRAME_BUF;
	if (bpf_probe_read_user(s->buf, size, (const void *)s->frame)) {
		s->flags |= STACK_READ_FAULT;
		return 1;
	}
	__u64 code = buf_u64(s->buf, s->L.frame_code);
	__u64 prev = buf_u64(s->buf, s->L.frame_previous);

	if (s->L.flags & PYL_CODE_TAGGED)
		code &= ~3ull;

	int skip = 0, is_gen = 0;

	if (s->L.frame_owner != PY_OFF_NONE) {
		__u8 owner = buf_u8(s->buf, s->L.frame_owner);

		skip = owner >= s->L.owner_first_skipped;
		is_gen = owner == s->L.owner_generator;
	}
	if (!skip) {
		/* User space addresses fit in 47 bits; anything else is garbage. */
		if (!code || code >= (1ull << 47) || (code & 7)) {
			s->flags |= STACK_BAD_CHAIN;
			return 1;
		}
		__s64 lasti;

		if (s->L.flags & PYL_INSTR_POINTER) {
			__u64 instr = buf_u64(s->buf, s->L.frame_instr);

			/* arithmetic shift: BPF has no signed division */
			lasti = ((__s64)(instr - code) - (__s64)s->L.code_code_adaptive) >> 1;
		} else {
			lasti = buf_s32(s->buf, s->L.frame_instr);
			if ((s->L.flags & PYL_LASTI_BYTES) && lasti >= 0)
				lasti >>= 1;
		}
		__u64 packed_lasti = (lasti < -1 || lasti > 0xfffd) ? PYPERF_LASTI_UNKNOWN : (__u64)(lasti + 1);
		__u64 f = ((code | (__u64)is_gen) << 16) | packed_lasti;
		__u32 n = s->n;

		if (n < PYPERF_MAX_FRAMES)
			s->st.frames[n] = f;
		s->n = n + 1;
		s->hash = (s->hash ^ f) * 0x100000001b3ull;
		s->hash ^= s->hash >> 29;
	}
	if (prev == s->frame) {
		s->flags |= STACK_BAD_CHAIN;
		return 1;
	}
	s->frame = prev;
	return 0;
}

/*
 * Walks the Python stack of the current thread (tgid/tid of a target
 * process) and makes sure its frames are in the stacks map. Returns the
 * 1 with the stack id in *id, or 0 when there is no Python stack (counted); *flags gets the
 * STACK_* flags plus SAMPLE_NEW_STACK when this call inserted the stack.
 * With reserve set, a ring-buffer record is reserved before the insert (a
 * stack inserted for a dropped sample would never be announced) and
 * returned in *ev; the caller fills and submits it.
 */
/*
 * Does tstate hold the GIL? 3.12+: the main interpreter's GIL state (at
 * proc->gil_lo) is locked and names it as last holder; 3.8-3.11:
 * _PyRuntime.gilstate.tstate_current is it. Unknown counts as holding, so
 * a missing offset never empties a profile.
 */
static __always_inline bool holds_gil(struct py_proc *proc, struct scratch *s, __u64 tstate)
{
	if (s->L.interp_gil != PY_OFF_NONE) {
		__u64 gil = proc->gil_lo;
		__s32 locked = 0;

		if (!gil || s->L.gil_locked == PY_OFF_NONE || s->L.gil_last_holder == PY_OFF_NONE)
			return true;
		if (bpf_probe_read_user(&locked, sizeof(locked), (const void *)(gil + s->L.gil_locked)))
			return true;
		return locked && read_ptr(gil, s->L.gil_last_holder) == tstate;
	}
	if (s->L.runtime_gilstate_tstate_current == PY_OFF_NONE)
		return true;
	return read_ptr(s->runtime, s->L.runtime_gilstate_tstate_current) == tstate;
}

static __always_inline int walk_current(struct py_proc *proc, __u32 tgid, __u32 tid, bool reserve,
					struct sample_event **ev, __u64 *id, __u32 *flags, __u32 *nframes)
{
	struct scratch *s = get_scratch();

	if (!s)
		return 0;
	__builtin_memcpy(&s->L, &proc->layout, sizeof(s->L));
	s->runtime = proc->runtime_addr;

	__u64 tstate = find_tstate(s, tid);

	if (!tstate) {
		count(CNT_NO_TSTATE);
		return 0;
	}
	/* reserve is set only for CPU samples: off-CPU walks never filter. */
	if (gil_only && reserve && !holds_gil(proc, s, tstate)) {
		count(CNT_NOT_GIL_HOLDER);
		return 0;
	}
	__u64 frame = read_ptr(tstate, s->L.tstate_frame);

	if (s->L.flags & PYL_HAS_CFRAME)
		frame = read_ptr(frame, s->L.cframe_current_frame);
	if (!frame) {
		count(CNT_NO_FRAMES);
		return 0;
	}

	s->frame = frame;
	s->n = 0;
	s->flags = 0;
	/* Seeded with the process: the same code addresses in a forked child
	 * must not share a stack id with the parent's. */
	s->hash = (0xcbf29ce484222325ull ^ tgid) * 0x100000001b3ull;
	/* Shim frames do not count against the limit, so allow a few extra steps. */
	bpf_loop(PYPERF_MAX_FRAMES + 64, walk_frame_step, NULL, 0);
	if (s->frame && s->n >= PYPERF_MAX_FRAMES)
		s->flags |= STACK_TRUNCATED;
	if (s->flags & STACK_TRUNCATED)
		count(CNT_TRUNCATED);
	if (s->flags & STACK_READ_FAULT)
		count(CNT_READ_FAULT);
	if (s->flags & STACK_BAD_CHAIN)
		count(CNT_BAD_CHAIN);
	if (s->n == 0) {
		count(CNT_NO_FRAMES);
		return 0;
	}

	__u64 stack_id = (s->hash ^ ((__u64)s->flags << 56) ^ s->n) * 0x9e3779b97f4a7c15ull;
	struct sample_event *e = NULL;

	if (reserve) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			count(CNT_RINGBUF_FULL);
			return 0;
		}
	}
	__u32 sample_flags = s->flags;

	if (!bpf_map_lookup_elem(&stacks, &stack_id)) {
		s->st.nframes = s->n;
		s->st.flags = s->flags;
		long err = bpf_map_update_elem(&stacks, &stack_id, &s->st, BPF_NOEXIST);

		if (err == 0) {
			sample_flags |= SAMPLE_NEW_STACK;
		} else if (err != -17 /* EEXIST: another CPU won the race */) {
			if (e)
				bpf_ringbuf_discard(e, 0);
			count(CNT_STACKMAP_FULL);
			return 0;
		}
	}
	*ev = e;
	*flags = sample_flags;
	*nframes = s->n;
	*id = stack_id;
	return 1;
}

SEC("perf_event")
int pyperf_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct py_proc *proc = bpf_map_lookup_elem(&procs, &tgid);

	if (!proc)
		return 0;
	count(CNT_SAMPLES);

	struct sample_event *e = NULL;
	__u32 flags = 0, nframes = 0;
	__u64 stack_id = 0;

	if (!walk_current(proc, tgid, tid, true, &e, &stack_id, &flags, &nframes) || !e)
		return 0;
	e->pid = tgid;
	e->tid = tid;
	e->stack_id = stack_id;
	e->time_ns = bpf_ktime_get_ns();
	e->flags = flags;
	e->nframes = nframes;
	e->weight_ns = 0;
	e->kind = EVENT_CPU;
	e->reason = WAIT_NONE;
	bpf_ringbuf_submit(e, submit_flags());
	count(CNT_EMITTED);
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

		if (d < min_block_ns && !(st->flags & SAMPLE_NEW_STACK)) {
			/* Too short to show; a stack it inserted must still be
			 * announced, or userspace could not delete it. */
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
				e->weight_ns = d < min_block_ns ? 0 : d;
				e->kind = EVENT_OFFCPU;
				e->reason = st->reason;
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
	struct sample_event *unused = NULL;
	struct offcpu_start rec = {};

	if (!walk_current(proc, tgid, tid, false, &unused, &rec.stack_id, &rec.flags, &rec.nframes))
		return 0;
	rec.pid = tgid;
	rec.reason = !with_wait_reason ? WAIT_NONE : runnable ? WAIT_RUNNABLE : wait_reason_of(prev, proc);
	rec.start_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&offcpu, &tid, &rec, BPF_ANY);
	return 0;
}

/* A forked child has the parent's memory image, so the parent's entry is
 * right for it from its first instruction. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(pyperf_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;

	if (!follow_forks || ptgid == ctgid)
		return 0;
	struct py_proc *p = bpf_map_lookup_elem(&procs, &ptgid);

	if (p)
		bpf_map_update_elem(&procs, &ctgid, p, BPF_NOEXIST);
	return 0;
}

/* exec replaces the image: the offsets and addresses no longer apply.
 * Userspace notices the missing entry and looks at the new image. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(pyperf_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;

	bpf_map_delete_elem(&procs, &tgid);
	return 0;
}
