/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Python stack walker, included twice by pyperf.bpf.c: once reading
 * the current thread's memory (the timer and switch programs run in the
 * target's context), once reading another task's (the remote sampler runs
 * in pyperf's own thread). Each copy's functions are named by WALK(name);
 * WALK_READ(c, dst, size, addr) reads the thread c->task's memory, and
 * WALK_LOCAL is 1 in the copy that may unwind native stacks.
 */
/* Reads a pointer-sized value from the target; 0 on failure. */
static __always_inline __u64 WALK(read_ptr)(const struct walk_ctx *c, __u64 addr, __u16 off)
{
	__u64 v = 0;

	if (!addr || off == PY_OFF_NONE)
		return 0;
	if (WALK_READ(c, &v, sizeof(v), (const void *)(addr + off)))
		return 0;
	return v;
}

/*
 * One step of the search for the sampled thread's PyThreadState: visits one
 * thread state, or moves on to the next interpreter when a list ends.
 */
static long WALK(find_tstate_step)(__u64 i, void *ctx)
{
	struct walk_ctx *c = ctx;
	struct scratch *s = c->s;
	const struct py_layout *L = c->L;

	if (!s->tstate) {
		s->interp = WALK(read_ptr)(c, s->interp, L->interp_next);
		if (!s->interp)
			return 1;
		s->tstate = WALK(read_ptr)(c, s->interp, L->interp_threads_head);
		return 0;
	}
	__u64 id = WALK(read_ptr)(c, s->tstate, tstate_id_off(L));

	if (id && id == s->want_id) {
		s->found = s->tstate;
		return 1;
	}
	__u64 next = WALK(read_ptr)(c, s->tstate, L->tstate_next);
	s->tstate = next == s->tstate ? 0 : next; /* a self-loop ends the list */
	return 0;
}

/*
 * The current thread's innermost frame (0 if none), its thread state in
 * *tstate_out (0 if none). A cached thread state is checked (it still
 * names this thread) and its frame pointer taken with one read of the
 * start of PyThreadState, where both fields lie on every supported version.
 */
static __always_inline __u64 WALK(find_frame)(struct walk_ctx *c, const struct py_proc *proc, __u32 tid,
					__u64 *tstate_out)
{
	struct scratch *s = c->s;
	const struct py_layout *L = c->L;
	__u16 id_off = tstate_id_off(L), frame_off = L->tstate_frame;
	struct thread_cache *tc = bpf_task_storage_get(&thread_cache, c->task, NULL,
						       BPF_LOCAL_STORAGE_GET_F_CREATE);
	__u64 tstate = 0, frame = 0;

	*tstate_out = 0;
	s->block_len = 0; /* buf is read into below */
	if (id_off == PY_OFF_NONE || frame_off == PY_OFF_NONE)
		return 0;
	if (tc && tc->tstate && tc->seed == proc->stack_seed) {
		__u32 hdr = (id_off > frame_off ? id_off : frame_off) + 8;

		if (hdr <= PYPERF_FRAME_BUF) {
			if (WALK_READ(c, s->buf, hdr, (const void *)tc->tstate) == 0 &&
			    buf_u64(s->buf, id_off) == tc->want_id) {
				tstate = tc->tstate;
				frame = buf_u64(s->buf, frame_off);
			}
		} else if (WALK(read_ptr)(c, tc->tstate, id_off) == tc->want_id) {
			tstate = tc->tstate;
			frame = WALK(read_ptr)(c, tstate, frame_off);
		}
	}
	if (!tstate) {
		s->want_id = thread_id_key(L, tid, c->task);
		if (!s->want_id)
			return 0;
		s->interp = WALK(read_ptr)(c, proc->runtime_addr, L->runtime_interpreters_head);
		s->tstate = WALK(read_ptr)(c, s->interp, L->interp_threads_head);
		s->found = 0;
		if (!s->interp)
			return 0;
		bpf_loop(PYPERF_MAX_THREADS + PYPERF_MAX_INTERPRETERS, WALK(find_tstate_step), c, 0);
		tstate = s->found;
		if (!tstate)
			return 0;
		if (tc) {
			tc->tstate = tstate;
			tc->want_id = s->want_id;
			tc->seed = proc->stack_seed;
		}
		frame = WALK(read_ptr)(c, tstate, frame_off);
	}
	*tstate_out = tstate;
	if (frame && (L->flags & PYL_HAS_CFRAME))
		frame = WALK(read_ptr)(c, frame, L->cframe_current_frame);
	return frame;
}

/*
 * Makes the header of frame s->frame readable in buf: from the block read
 * last if it holds it, else with a new read. Returns its offset in buf,
 * or -1 if the frame cannot be read.
 */
static __always_inline long WALK(fetch_frame)(const struct walk_ctx *c, __u32 size)
{
	struct scratch *s = c->s;
	const struct py_layout *L = c->L;
	__u64 frame = s->frame;

	if (s->block_len && frame >= s->block_base && frame - s->block_base + size <= s->block_len)
		return (long)(frame - s->block_base);
	if (!(L->flags & PYL_FRAME_OBJECT)) {
		/* 3.11+: this frame and, below it, likely its callers; not below
		 * the frame's page, which may be the first of its mapping (a
		 * faulting read costs more than the reads it saves; the remote
		 * sampler pays per page read). */
		__u64 end = frame + size;
		__u64 base = frame & ~(__u64)(PAGE_BYTES - 1);

		if (end - base > WALK_BLOCK)
			base = end - WALK_BLOCK;
		__u64 len = end - base;

		barrier_var(len); /* the verifier must see the bounds checked below */
		if (len > size && len <= WALK_BLOCK &&
		    WALK_READ(c, s->buf, len, (const void *)base) == 0) {
			s->block_base = base;
			s->block_len = len;
			s->reads++;
			return (long)(frame - base);
		}
	}
	s->block_len = 0;
	if (WALK_READ(c, s->buf, size, (const void *)frame))
		return -1;
	s->block_base = frame;
	s->block_len = size;
	s->reads++;
	return 0;
}

#if !WALK_LOCAL
/*
 * Digest of the caller's frame as it lies in buf at p (offset at): its
 * first len bytes, *len_io; 0 for a len of 0 (the walk's choice: up to
 * its callee just above it in the data stack, PYPERF_FRAME_BUF bytes at
 * most, if the read holds them; else the header), or ~0 if the read does
 * not hold len bytes. A caller does not write its frame while its callee
 * runs; one that ran on and came back to the same instruction (a loop)
 * has other locals. 3.14+ need none of it (a returned frame's code is
 * cleared): 0 there.
 */
static __always_inline __u64 WALK(caller_body)(const struct walk_ctx *c, const __u8 *p, long at, __u32 size,
					       __u64 *len_io)
{
	const struct scratch *s = c->s;
	__u64 callee = s->kept[0].frame, h = 0xcbf29ce484222325ull, len = *len_io;

	if (c->L->flags & PYL_CODE_TAGGED)
		return 0;
	if (!len) {
		len = size;
		if (callee > s->frame && callee - s->frame <= PYPERF_FRAME_BUF &&
		    (__u64)at + (callee - s->frame) <= s->block_len)
			len = callee - s->frame;
		*len_io = len;
	} else if ((__u64)at + len > s->block_len && len > size) {
		return ~0ull;
	}
	for (__u32 j = 0; j < PYPERF_FRAME_BUF / 8; j++) {
		if (j * 8 + 8 > len)
			break;
		h = (h ^ *(const __u64 *)(p + j * 8)) * 0x100000001b3ull;
	}
	return h;
}
#endif

/* Visits one frame: records it unless it is a shim, then moves to its caller. */
static long WALK(walk_frame_step)(__u64 i, void *ctx)
{
	struct walk_ctx *c = ctx;
	struct scratch *s = c->s;
	const struct py_layout *L = c->L;

	if (!s->frame)
		return 1;
	if (s->n >= max_frames || s->n >= PYPERF_MAX_FRAMES) {
		s->flags |= STACK_TRUNCATED;
		return 1;
	}
	__u32 size = frame_read_size(L);
	long at = WALK(fetch_frame)(c, size);

	if (at < 0) {
		s->flags |= STACK_READ_FAULT;
		return 1;
	}
	const __u8 *p = s->buf + (at & (WALK_BLOCK - 1));
	__u64 code = buf_u64(p, L->frame_code);
	__u64 prev = buf_u64(p, L->frame_previous);

	code = pyperf_frame_code_of(code, L->flags);

	int skip = 0, is_gen = 0;

	if (L->frame_owner != PY_OFF_NONE) {
		__u8 owner = buf_u8(p, L->frame_owner);

		skip = owner >= L->owner_first_skipped;
		is_gen = owner == L->owner_generator;
	}
#if !WALK_LOCAL
	/* 3.14+ clear a frame's code as it returns, after unlinking it: the
	 * thread state read just before still named it, and it may have
	 * returned further since. Its caller then is the innermost frame
	 * (for the last try: remote_sample_task reads such a walk again, as
	 * starting at the caller would favour callers over short calls). */
	if (!code && !skip && !is_gen && s->n == 0 && prev && prev != s->frame) {
		s->start_returned = 1;
		s->frame = prev;
		return 0;
	}
#endif
	if (!skip) {
		/* Outside user space or misaligned: garbage. */
		if (!code || code >= PYPERF_USER_ADDR_LIMIT || (code & 7)) {
			s->flags |= STACK_BAD_CHAIN;
			return 1;
		}
		__s64 lasti;

		if (L->flags & PYL_INSTR_POINTER)
			lasti = pyperf_lasti_of_instr(buf_u64(p, L->frame_instr), code, L->code_code_adaptive);
		else
			lasti = pyperf_lasti_of_f_lasti(buf_s32(p, L->frame_instr), L->flags);
		__u64 f = pyperf_frame_pack(code, is_gen, lasti);
		__u32 n = s->n;

		/* --native: which frames C entered the loop with (3.8-3.10:
		 * all; 3.11: is_entry; 3.12+: the shim below, marked there). */
		if (native_stacks && ((L->flags & PYL_FRAME_OBJECT) ||
				      (L->frame_is_entry != PY_OFF_NONE && buf_u8(p, L->frame_is_entry))))
			f |= PYPERF_FRAME_ENTRY;
		if (n < PYPERF_MAX_FRAMES)
			s->rec.frames[n] = f;
#if !WALK_LOCAL
		if (n < KEPT_FRAMES) {
			s->kept[n].frame = s->frame;
			s->kept[n].code = code;
			s->kept[n].prev = prev;
			s->kept[n].instr = buf_instr(p, L);
			s->kept[n].blen = 0;
			s->kept[n].body = n ? WALK(caller_body)(c, p, at, size, &s->kept[n].blen) : 0;
			s->kept[n].read = s->reads;
			if (n == 1)
				s->caller_resumed = L->frame_stacktop != PY_OFF_NONE &&
						    buf_s32(p, L->frame_stacktop) < 0;
		}
#endif
		/* Shims are transparent: a coroutine's awaits chain its frames
		 * directly, and C callers are ordinary frames' callees anyway. */
		if (async_tasks) {
			if (is_gen)
				s->run_top = s->frame;
			else
				end_gen_run(s);
		}
		s->n = n + 1;
		s->hash = (s->hash ^ f) * 0x100000001b3ull;
		s->hash ^= s->hash >> 29;
	}
	else if (native_stacks) {
		__u32 m = s->n - 1, k = s->nshims;

		if (s->n > 0 && m < PYPERF_MAX_FRAMES) {
			s->rec.frames[m] |= PYPERF_FRAME_ENTRY;
			s->hash = (s->hash ^ (0xe7e7ull + m)) * 0x100000001b3ull;
		}
		if (k < SHIMS) {
			s->shims[k] = s->frame;
			s->nshims = k + 1;
		}
	}
	if (prev == s->frame) {
		s->flags |= STACK_BAD_CHAIN;
		return 1;
	}
	/* A generator's frame has a caller while it runs: one without is
	 * being entered or left (3.11-3.12 set tstate->cframe before its
	 * current_frame, which holds a stale pointer meanwhile; a yield
	 * unlinks the frame, perhaps while the remote sampler reads it).
	 * Shown as a root it would be a fake one. */
	if (!prev && (is_gen || ((L->flags & PYL_FRAME_OBJECT) && L->frame_gen && L->frame_gen != PY_OFF_NONE &&
				 buf_u64(p, L->frame_gen)))) {
		s->flags |= STACK_BAD_CHAIN;
		return 1;
	}
	s->frame = prev;
	return 0;
}

#if !WALK_LOCAL
/* One step of stack_still_live down the chain from where the walk
 * started, as it is now: the next kept frame must be there as read. */
static long WALK(verify_step)(__u64 i, void *ctx)
{
	struct walk_ctx *c = ctx;
	struct scratch *s = c->s;
	const struct py_layout *L = c->L;
	__u32 size = frame_read_size(L);
	__u32 k = s->verified;

	if (!s->frame || k >= KEPT_FRAMES)
		return 1;
	long at = WALK(fetch_frame)(c, size);

	if (at < 0)
		return 1;
	const __u8 *p = s->buf + (at & (WALK_BLOCK - 1));
	__u64 code = pyperf_frame_code_of(buf_u64(p, L->frame_code), L->flags);
	__u64 prev = buf_u64(p, L->frame_previous);

	if (s->frame == s->kept[k].frame) {
		/* The innermost runs on: its instruction moves, not its code
		 * or caller; a caller stays at its call while its callee runs. */
		if (code != s->kept[k].code || prev != s->kept[k].prev ||
		    (k && (buf_instr(p, L) != s->kept[k].instr ||
			   WALK(caller_body)(c, p, at, size, &s->kept[k].blen) != s->kept[k].body)))
			return 1;
		/* 3.8-3.10: a frame object that returned keeps its code and
		 * caller (as its code's zombie frame); its state tells. */
		if (L->frame_state != PY_OFF_NONE && buf_u8(p, L->frame_state) != L->frame_state_live)
			return 1;
		s->verified = ++k;
		s->live = k >= s->n || k >= KEPT_FRAMES;
		if (s->live)
			return 1;
	}
	if (prev == s->frame)
		return 1;
	s->frame = prev;
	return 0;
}

/* Frames from where the walk started to the last kept one: shims, and
 * 3.14+ frames that had returned. */
#define VERIFY_STEPS 16

/*
 * Whether the stack just walked (the thread running on meanwhile) is one
 * the thread had: its innermost frame and that frame's caller, read again
 * from where the walk started, are as read, the innermost's instruction
 * aside. The walk started at the thread's current frame; a frame's
 * memory outlives its return, but not unnoticed: 3.11+ store a frame's
 * instruction as each starts, so a caller moves on as soon as its callee
 * returns (3.8-3.10 store f_lasti so too; a call after that gives the
 * callee's slot another frame), and 3.14+ clear a returned frame's code
 * object; 3.8-3.10 frame objects keep theirs, but not their state
 * (f_executing, f_state). A caller that then calls into C stays at one
 * instruction: 3.12-3.13 tell by its stacktop as the walk read it (-1
 * once it runs again); 3.11 cannot tell. A caller in a loop comes back to
 * the instruction read, so on 3.8-3.13 its frame, locals and value stack
 * must be as read too (a caller does not write them while its callee
 * runs). One read of the frames' memory, no read of the thread state. A
 * frame's address alone proves nothing: 3.11+ give a sibling call the
 * slot of the one that returned. Left (bench/RESULTS.md: 0.1-0.6% of
 * samples on loops of calls of ~100 ns): a caller back at the
 * instruction read with its locals as read, and reads torn by the thread
 * writing meanwhile.
 */
static __always_inline bool WALK(stack_still_live)(struct walk_ctx *c)
{
	struct scratch *s = c->s;
	__u32 size = frame_read_size(c->L);
	__u64 lo = s->kept[0].frame, hi = s->first_frame;

	s->block_len = 0; /* what the walk read is of the moment before */
	s->frame = s->first_frame;
	s->verified = 0;
	s->live = 0;
	if (!s->n)
		return false;
	/* 3.12-3.13: the innermost frame's caller, which called it directly
	 * (no C between), ran again: the innermost had returned before the
	 * walk read them (both in one read), though its memory is as it was. */
	if (s->n > 1 && s->caller_resumed && s->kept[0].prev == s->kept[1].frame)
		return false;
	/* Just the frames to check, if they lie together below where the
	 * walk started: the thread writes them as it runs, and each cache
	 * line read from it costs it one more miss. */
	if (s->n > 1 && s->kept[1].frame < lo)
		lo = s->kept[1].frame;
	if (hi < lo)
		hi = lo;
	__u64 len = hi + size - lo;

	barrier_var(len);
	if (lo && len >= size && len <= WALK_BLOCK && WALK_READ(c, s->buf, len, (const void *)lo) == 0) {
		s->block_base = lo;
		s->block_len = len;
	}
	bpf_loop(VERIFY_STEPS, WALK(verify_step), c, 0);
	return s->live;
}
#endif

/*
 * Whether the stack just walked was the thread's at the moment of one
 * read, so it needs no second look: its innermost frame and that frame's
 * direct caller came from one read of the data stack (a copy of a few
 * KiB, which the thread's own writes rarely tear), and that read itself
 * says the innermost had not returned: 3.12-3.13, its caller's stacktop
 * (-1 once the caller runs again); 3.14+, its code (cleared as it
 * returns, before the caller runs on). The thread may have run on since:
 * that is what a sample taken at that moment shows. Taking such a stack
 * as read, not reading it again after stack_still_live saw it change,
 * keeps calls shorter than a read (~2 us) in the profile, and fast
 * recursion whole. 3.8-3.11 have no such mark (3.8-3.10 read frame
 * objects one by one): they keep the second look.
 */
static __always_inline bool WALK(one_read_snapshot)(const struct walk_ctx *c)
{
	const struct scratch *s = c->s;
	const struct py_layout *L = c->L;

	if (s->n < 2 || s->kept[0].prev != s->kept[1].frame || s->kept[0].read != s->kept[1].read)
		return false;
	if (L->flags & PYL_CODE_TAGGED)
		return true;
	return L->frame_stacktop != PY_OFF_NONE && !s->caller_resumed;
}

/*
 * Does tstate hold the GIL? 3.12+: the main interpreter's GIL state (at
 * proc->gil_lo) is locked and names it as last holder; 3.8-3.11:
 * _PyRuntime.gilstate.tstate_current is it. Unknown counts as holding, so
 * a missing offset never empties a profile.
 */
static __always_inline bool WALK(holds_gil)(const struct walk_ctx *c, const struct py_proc *proc, __u64 tstate)
{
	const struct py_layout *L = &proc->layout;

	if (L->interp_gil != PY_OFF_NONE) {
		__u64 gil = proc->gil_lo;
		__s32 locked = 0;

		if (!gil || L->gil_locked == PY_OFF_NONE || L->gil_last_holder == PY_OFF_NONE)
			return true;
		if (WALK_READ(c, &locked, sizeof(locked), (const void *)(gil + L->gil_locked)))
			return true;
		return locked && WALK(read_ptr)(c, gil, L->gil_last_holder) == tstate;
	}
	if (L->runtime_gilstate_tstate_current == PY_OFF_NONE)
		return true;
	return WALK(read_ptr)(c, proc->runtime_addr, L->runtime_gilstate_tstate_current) == tstate;
}

/* Whether the thread runs the garbage collector: a collection is under
 * way in the process and this thread holds the GIL. */
static __always_inline bool WALK(in_gc)(const struct walk_ctx *c, const struct py_proc *proc, __u64 tstate)
{
	__s32 collecting = 0;

	if (!proc->gc_collecting_addr || !tstate)
		return false;
	if (WALK_READ(c, &collecting, sizeof(collecting), (const void *)proc->gc_collecting_addr))
		return false;
	return collecting > 0 && WALK(holds_gil)(c, proc, tstate);
}

/*
 * Walks the Python frames from frame (0: none) into s->rec.frames, with
 * the stack hash and flags; s->frame, n and the rest start afresh. The
 * block of memory read last (s->block_len) is used if it holds frames.
 */
static __always_inline void WALK(walk_from)(struct walk_ctx *c, __u64 frame, __u32 tgid)
{
	struct scratch *s = c->s;

	s->first_frame = frame;
	s->n = 0;
#if !WALK_LOCAL
	s->caller_resumed = 0;
	s->start_returned = 0;
#endif
	s->nnat = 0;
	s->nshims = 0;
	s->shim_next = 0;
	s->flags = 0;
	s->run_top = 0;
	s->nruns = 0;
	if (async_tasks)
		__builtin_memset(s->rec.ev.gen_runs, 0, sizeof(s->rec.ev.gen_runs));
	/* Seeded with the process and its image: the same code addresses in
	 * a forked child, a reused PID or after an exec give other ids. */
	s->hash = (0xcbf29ce484222325ull ^ tgid ^ (c->seed << 32)) * 0x100000001b3ull;
	if (!frame)
		return;
	s->frame = frame;
	/* Shim frames do not count against the limit, so allow a few extra steps. */
	bpf_loop(PYPERF_MAX_FRAMES + 64, WALK(walk_frame_step), c, 0);
	if (s->frame && s->n >= PYPERF_MAX_FRAMES)
		s->flags |= STACK_TRUNCATED;
	if (async_tasks)
		end_gen_run(s);
}

#if WALK_LOCAL
/*
 * Walks the stack of the current thread (tgid/tid of a target process)
 * into s->rec: Python frames, with --native the native ones after them,
 * and in the event its pid, tid, stack id, flags and counts. Returns 0
 * when there is no stack to report (counted). cpu_sample: a perf-event
 * sample (--gil filters those only). user_regs: s->pc, sp and bp hold the
 * user registers a perf event interrupted. perf_ctx: the perf event's
 * context (for the kernel's stack), NULL elsewhere.
 */
static __always_inline int WALK(walk_current)(struct scratch *s, const struct py_proc *proc, struct task_struct *task,
					      __u32 tgid, __u32 tid,
					bool cpu_sample, bool user_regs, void *perf_ctx)
{
	struct walk_ctx c = { .s = s, .L = &proc->layout, .seed = proc->stack_seed, .task = task };
	__u64 tstate = 0;
	__u64 frame = WALK(find_frame)(&c, proc, tid, &tstate);

	if (!tstate) {
		count(CNT_NO_TSTATE);
		if (!native_stacks || gil_only)
			return 0;
	} else if (gil_only && cpu_sample && !WALK(holds_gil)(&c, proc, tstate)) {
		count(CNT_NOT_GIL_HOLDER);
		return 0;
	}
	WALK(walk_from)(&c, frame, tgid); /* find_frame emptied the block */
	count_stack_flags(s->flags);
	if (tstate && s->n == 0)
		count(CNT_NO_FRAMES);
	if (s->n && WALK(in_gc)(&c, proc, tstate))
		s->flags |= STACK_GC;
	if (native_stacks && kernel_stacks && perf_ctx && !user_regs)
		walk_kernel(s, perf_ctx);
	if (native_stacks)
		walk_native(&c, tgid, user_regs);
	if (s->n == 0 && s->nnat == 0)
		return 0;
	set_event(s, tgid, tid);
	if (mark_gil && cpu_sample && tstate && WALK(holds_gil)(&c, proc, tstate))
		s->rec.ev.flags |= SAMPLE_GIL;
	return 1;
}
#endif
