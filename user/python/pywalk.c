/*
 * Thread states and frames read from target memory (see pywalk.h). The walk
 * mirrors walk_frame_step() in bpf/pyperf.bpf.c; the per-version frame rules
 * and the packing are the very functions it calls (bpf/pyperf_frame.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "python/pywalk.h"
#include "pyperf_frame.h"
#include "util/u64map.h"

/* Shim frames do not count against the frame limit: allow a few extra steps. */
#define EXTRA_STEPS 64

static uint64_t rd_ptr(const struct memsrc *m, uint64_t addr, uint16_t off, bool *fault)
{
	uint64_t v = 0;

	if (!addr || off == PY_OFF_NONE)
		return 0;
	if (memsrc_read_u64(m, addr + off, &v)) {
		if (fault)
			*fault = true;
		return 0;
	}
	return v;
}

/* Not NULL, in user space (PYPERF_USER_ADDR_LIMIT), 8-aligned. */
static bool plausible_ptr(uint64_t p)
{
	return p && p < PYPERF_USER_ADDR_LIMIT && !(p & 7);
}

/*
 * Marks a node of the interpreter or thread-state lists visited. Returns 0
 * for a new node, 1 when its list ends there (why added to *flags:
 * PYWALK_THREADS_FAULT, not a pointer; PYWALK_THREADS_CYCLE, seen before:
 * interpreters and thread states share one set, so neither is ever visited
 * twice), or -ENOMEM.
 */
static int visit_node(struct u64map *seen, uint64_t node, uint32_t *flags)
{
	if (!plausible_ptr(node)) {
		*flags |= PYWALK_THREADS_FAULT;
		return 1;
	}
	if (u64map_get(seen, node)) {
		*flags |= PYWALK_THREADS_CYCLE;
		return 1;
	}
	return u64map_put(seen, node, 1) ? -ENOMEM : 0;
}

int pywalk_tstates(const struct memsrc *m, const struct py_layout *L, uint64_t runtime,
		   struct pywalk_tstate *out, size_t cap, uint32_t *flags)
{
	struct u64map seen;
	bool fault = false;
	size_t n = 0;
	int ret;

	*flags = 0;
	if (cap > PYPERF_MAX_THREADS)
		cap = PYPERF_MAX_THREADS;
	uint64_t interp = rd_ptr(m, runtime, L->runtime_interpreters_head, &fault);

	if (fault || !plausible_ptr(interp))
		return -EFAULT;
	u64map_init(&seen);
	for (unsigned ii = 0; interp; ii++) {
		if (ii >= PYPERF_MAX_INTERPRETERS) {
			*flags |= PYWALK_INTERPS_TRUNCATED;
			break;
		}
		ret = visit_node(&seen, interp, flags);
		if (ret < 0)
			goto out;
		if (ret)
			break;
		fault = false;
		uint64_t ts = rd_ptr(m, interp, L->interp_threads_head, &fault);

		for (size_t steps = 0; ts && !fault; steps++) {
			if (n >= cap || steps >= PYPERF_MAX_THREADS) {
				*flags |= PYWALK_THREADS_TRUNCATED;
				break;
			}
			ret = visit_node(&seen, ts, flags);
			if (ret < 0)
				goto out;
			if (ret)
				break;
			struct pywalk_tstate *t = &out[n];

			memset(t, 0, sizeof(*t));
			t->addr = ts;
			t->interp = interp;
			t->interp_index = ii;
			t->thread_id = rd_ptr(m, ts, L->tstate_thread_id, &fault);
			if (L->flags & PYL_NATIVE_TID)
				t->native_tid = rd_ptr(m, ts, L->tstate_native_thread_id, &fault);
			uint64_t next = rd_ptr(m, ts, L->tstate_next, &fault);

			if (fault)
				break;
			n++;
			ts = next;
		}
		if (fault)
			*flags |= PYWALK_THREADS_FAULT;
		if (n >= cap)
			break;
		fault = false;
		interp = rd_ptr(m, interp, L->interp_next, &fault);
		if (fault) {
			*flags |= PYWALK_THREADS_FAULT;
			break;
		}
	}
	ret = (int)n;
out:
	u64map_free(&seen);
	return ret;
}

static uint64_t buf_u64(const uint8_t *buf, size_t len, uint16_t off, bool *ok)
{
	uint64_t v = 0;

	if (off == PY_OFF_NONE || (size_t)off + 8 > len) {
		*ok = false;
		return 0;
	}
	memcpy(&v, buf + off, 8);
	return v;
}

size_t pywalk_frames(const struct memsrc *m, const struct py_layout *L, uint64_t tstate,
		     uint64_t *frames, uint8_t *entry, size_t cap, uint32_t *flags)
{
	return pywalk_frames_at(m, L, tstate, frames, entry, NULL, cap, flags);
}

size_t pywalk_frames_at(const struct memsrc *m, const struct py_layout *L, uint64_t tstate,
			uint64_t *frames, uint8_t *entry, uint64_t *addrs, size_t cap, uint32_t *flags)
{
	uint8_t buf[PYPERF_FRAME_BUF];
	struct u64map seen;
	bool fault = false;
	size_t n = 0;

	*flags = 0;
	if (cap > PYPERF_MAX_FRAMES)
		cap = PYPERF_MAX_FRAMES;
	uint64_t frame = rd_ptr(m, tstate, L->tstate_frame, &fault);

	if (L->flags & PYL_HAS_CFRAME)
		frame = rd_ptr(m, frame, L->cframe_current_frame, &fault);
	if (fault) {
		*flags |= STACK_READ_FAULT;
		return 0;
	}
	size_t size = L->frame_size;

	if (size == 0 || size > PYPERF_FRAME_BUF)
		size = PYPERF_FRAME_BUF;
	u64map_init(&seen);
	for (size_t step = 0; frame && step < PYPERF_MAX_FRAMES + EXTRA_STEPS; step++) {
		if (n >= cap) {
			*flags |= STACK_TRUNCATED;
			break;
		}
		/* The BPF walker compares each frame with its caller only; a
		 * set catches longer loops, which a live target in the middle
		 * of changing its stack can show. */
		if (u64map_get(&seen, frame)) {
			*flags |= STACK_BAD_CHAIN;
			break;
		}
		if (u64map_put(&seen, frame, 1)) {
			*flags |= STACK_READ_FAULT; /* out of memory: stop here, say so */
			break;
		}
		size_t got = memsrc_read_partial(m, frame, buf, size);
		bool ok = true;
		uint64_t code = buf_u64(buf, got, L->frame_code, &ok);
		uint64_t prev = buf_u64(buf, got, L->frame_previous, &ok);

		if (!ok) {
			*flags |= STACK_READ_FAULT;
			break;
		}
		/* Userspace only (the BPF walker reads a stopped-for-the-sample
		 * thread; we race a running one): a 3.8-3.10 frame object with
		 * no reference is not executing but sits on a free list or as a
		 * code object's zombie frame, where f_back links the free list.
		 * Following it would print a plausible but false stack. */
		if (L->flags & PYL_FRAME_OBJECT) {
			int64_t refcnt = (int64_t)buf_u64(buf, got, 0, &ok);

			if (!ok || refcnt <= 0) {
				*flags |= ok ? STACK_BAD_CHAIN : STACK_READ_FAULT;
				break;
			}
		}
		code = pyperf_frame_code_of(code, L->flags);
		bool skip = false, is_gen = false;

		if (L->frame_owner != PY_OFF_NONE) {
			if ((size_t)L->frame_owner >= got) {
				*flags |= STACK_READ_FAULT;
				break;
			}
			uint8_t owner = buf[L->frame_owner];

			skip = owner >= L->owner_first_skipped;
			is_gen = owner == L->owner_generator;
		}
		if (skip) {
			if (entry && n > 0 && L->frame_owner != PY_OFF_NONE)
				entry[n - 1] = 1;
		} else {
			if (!plausible_ptr(code)) {
				*flags |= STACK_BAD_CHAIN;
				break;
			}
			/* -2: unreadable, packed as PYPERF_LASTI_UNKNOWN. */
			int64_t lasti = -2;

			if (L->flags & PYL_INSTR_POINTER) {
				uint64_t instr = buf_u64(buf, got, L->frame_instr, &ok);

				if (ok)
					lasti = pyperf_lasti_of_instr(instr, code, L->code_code_adaptive);
			} else if (L->frame_instr != PY_OFF_NONE && (size_t)L->frame_instr + 4 <= got) {
				int32_t f_lasti;

				memcpy(&f_lasti, buf + L->frame_instr, 4);
				lasti = pyperf_lasti_of_f_lasti(f_lasti, L->flags);
			}
			frames[n] = pyperf_frame_pack(code, is_gen, lasti);
			if (addrs)
				addrs[n] = frame;
			if (entry) {
				/* 3.8-3.10: every frame is its own evaluation call;
				 * 3.11: the frame a C call entered the loop with has
				 * is_entry set; 3.12+: marked by the shim frame above. */
				if (L->flags & PYL_FRAME_OBJECT)
					entry[n] = 1;
				else if (L->frame_is_entry != PY_OFF_NONE && (size_t)L->frame_is_entry < got)
					entry[n] = buf[L->frame_is_entry] != 0;
				else
					entry[n] = 0;
			}
			n++;
		}
		if (prev == frame) {
			*flags |= STACK_BAD_CHAIN;
			break;
		}
		frame = prev;
	}
	if (frame && !*flags)
		*flags |= STACK_TRUNCATED; /* steps exhausted (shim frames only) */
	u64map_free(&seen);
	return n;
}

int pywalk_gil_holder(const struct memsrc *m, const struct py_layout *L, uint64_t runtime,
		      uint64_t interp, uint64_t *holder)
{
	bool fault = false;

	*holder = 0;
	if (L->runtime_gilstate_tstate_current != PY_OFF_NONE) {
		/* 3.8-3.11: the thread state that holds the (one) GIL; the
		 * interpreter sets it to NULL when it releases the GIL. */
		*holder = rd_ptr(m, runtime, L->runtime_gilstate_tstate_current, &fault);
		return fault ? -EFAULT : 0;
	}
	if (L->interp_gil == PY_OFF_NONE || L->gil_locked == PY_OFF_NONE || L->gil_last_holder == PY_OFF_NONE)
		return -ENOTSUP;
	uint64_t gil = rd_ptr(m, interp, L->interp_gil, &fault);
	int32_t locked = 0;

	if (fault || !plausible_ptr(gil) || memsrc_read(m, gil + L->gil_locked, &locked, sizeof(locked)))
		return -EFAULT;
	if (locked != 0 && locked != 1)
		return -EFAULT; /* not a GIL */
	uint64_t last = rd_ptr(m, gil, L->gil_last_holder, &fault);

	if (fault)
		return -EFAULT;
	*holder = locked ? last : 0;
	return 0;
}

void pywalk_gil_range(const struct memsrc *m, const struct py_layout *L, uint64_t runtime, uint64_t *lo,
		      uint64_t *hi)
{
	uint64_t interp = 0, gil = 0;

	*lo = *hi = 0;
	if (L->interp_gil != PY_OFF_NONE) {
		if (L->runtime_interpreters_head != PY_OFF_NONE &&
		    memsrc_read_u64(m, runtime + L->runtime_interpreters_head, &interp) == 0 && interp &&
		    memsrc_read_u64(m, interp + L->interp_gil, &gil) == 0 && gil) {
			*lo = gil;
			*hi = gil + 256;
		}
	} else if (L->runtime_gilstate_tstate_current != PY_OFF_NONE && L->runtime_gilstate_tstate_current >= 264) {
		*hi = runtime + L->runtime_gilstate_tstate_current - 8;
		*lo = *hi - 256;
	}
}

int pywalk_pthread_tid_offset(const struct memsrc *m, const uint64_t *ptids, size_t n,
			      const int32_t *tids, size_t ntids)
{
	enum { SLOTS = PYWALK_PTHREAD_SCAN / 4 };
	/* good[k]: offset 4k so far gives a TID for every descriptor. */
	uint8_t good[SLOTS];
	int32_t *found = NULL;      /* [SLOTS][n]: the TID each descriptor gave */
	int32_t *desc = NULL;
	size_t ndesc = 0;
	int best = -1;

	if (!n || !ntids)
		return -1;
	found = calloc((size_t)SLOTS * n, sizeof(*found));
	desc = malloc(PYWALK_PTHREAD_SCAN);
	if (!found || !desc)
		goto out;
	memset(good, 1, sizeof(good));
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		for (size_t j = 0; j < i && !dup; j++)
			dup = ptids[j] == ptids[i];
		if (dup)
			continue;
		size_t words = plausible_ptr(ptids[i]) ?
			       memsrc_read_partial(m, ptids[i], desc, PYWALK_PTHREAD_SCAN) / 4 : 0;

		if (!words)
			goto out;

		for (size_t k = 0; k < SLOTS; k++) {
			bool hit = false;

			if (!good[k] || k >= words) {
				good[k] = 0;
				continue;
			}
			for (size_t t = 0; t < ntids && !hit; t++)
				hit = tids[t] > 0 && desc[k] == tids[t];
			if (!hit) {
				good[k] = 0;
				continue;
			}
			/* Different descriptors must give different TIDs. */
			for (size_t j = 0; j < ndesc; j++)
				if (found[k * n + j] == desc[k])
					good[k] = 0;
			found[k * n + ndesc] = desc[k];
		}
		ndesc++;
	}
	for (size_t k = 0; k < SLOTS; k++) {
		if (!good[k])
			continue;
		if (k * 4 == PYWALK_GLIBC_TID_OFFSET) {
			best = (int)(k * 4);
			break;
		}
		if (best < 0)
			best = (int)(k * 4);
	}
out:
	free(found);
	free(desc);
	return best;
}

#define STR_(x) #x
#define PYPERF_STR(x) STR_(x)

const char *pywalk_stack_flag_label(uint32_t flags)
{
	if (flags & STACK_TRUNCATED)
		return "[truncated: deeper than " PYPERF_STR(PYPERF_MAX_FRAMES) " frames]";
	if (flags & STACK_READ_FAULT)
		return "[unreadable frame]";
	if (flags & STACK_BAD_CHAIN)
		return "[broken frame chain]";
	return NULL;
}
