/*
 * The userspace twin of bpf/pyperf.bpf.c's walker: thread states of every
 * interpreter, and the frames of one thread state packed exactly as the BPF
 * program packs them (PYPERF_FRAME_*), so symbolizer_frame() labels them the
 * same way as record does. Pure functions over a struct memsrc: they read a
 * live process, a core file or a fake memory alike, and never trust what
 * they read (every loop bounded, every chain checked for cycles).
 */
#ifndef PYPERF_PYWALK_H
#define PYPERF_PYWALK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target/memsrc.h"
#include "pyperf.h"

/* pywalk_tstates flags */
#define PYWALK_THREADS_TRUNCATED (1u << 0) /* more than PYPERF_MAX_THREADS thread states */
#define PYWALK_THREADS_FAULT     (1u << 1) /* a thread state or interpreter was unreadable */
#define PYWALK_THREADS_CYCLE     (1u << 2) /* a list looped back on itself */
#define PYWALK_INTERPS_TRUNCATED (1u << 3) /* more than PYPERF_MAX_INTERPRETERS interpreters */

struct pywalk_tstate {
	uint64_t addr;           /* PyThreadState * */
	uint64_t interp;         /* the PyInterpreterState * whose list holds it */
	unsigned interp_index;   /* 0 for the main interpreter (list head), 1, ... */
	uint64_t thread_id;      /* tstate->thread_id: the pthread_t */
	uint64_t native_tid;     /* tstate->native_thread_id (3.11+), else 0 */
};

/*
 * Collects up to cap thread states, interpreter by interpreter, in list
 * order (CPython puts the newest thread first). Returns how many, or -EFAULT
 * when not even the first interpreter could be read; *flags gets
 * PYWALK_THREADS_* bits. Needs at most PYPERF_MAX_THREADS entries.
 */
int pywalk_tstates(const struct memsrc *m, const struct py_layout *L, uint64_t runtime,
		   struct pywalk_tstate *out, size_t cap, uint32_t *flags);

/*
 * The frames of the thread state at tstate, innermost first, into frames[]
 * (at most cap, at most PYPERF_MAX_FRAMES): the same values the BPF walker
 * would store, with the same frames skipped (entry/shim frames by owner).
 * entry, when not NULL, gets entry[i] = 1 when a C-stack-owned entry frame
 * (3.12+) lies between frames[i] and its caller frames[i + 1], i.e. frames[i]
 * is the outermost frame of one C call of the evaluation loop; on 3.8-3.10
 * every frame is its own evaluation call (always 1); on 3.11, the frame's
 * own is_entry flag (layout frame_is_entry).
 * Returns the number of frames; *flags gets STACK_* bits (bpf/pyperf.h):
 * STACK_TRUNCATED, STACK_READ_FAULT, STACK_BAD_CHAIN (bad code pointer, a
 * loop in the chain, or on 3.8-3.10 a frame object with no reference, i.e.
 * freed: a read that raced the thread). 0 frames with no flag: the thread
 * runs no Python code.
 */
size_t pywalk_frames(const struct memsrc *m, const struct py_layout *L, uint64_t tstate,
		     uint64_t *frames, uint8_t *entry, size_t cap, uint32_t *flags);

/* pywalk_frames, and addrs[i] (when not NULL) gets the address of the frame
 * frames[i] was read from: its PyFrameObject (3.8-3.10) or
 * _PyInterpreterFrame (3.11+), where dump --locals finds its variables. */
size_t pywalk_frames_at(const struct memsrc *m, const struct py_layout *L, uint64_t tstate,
			uint64_t *frames, uint8_t *entry, uint64_t *addrs, size_t cap, uint32_t *flags);

/*
 * Who holds the GIL of interpreter interp. 3.8-3.11: _PyRuntime.gilstate.
 * tstate_current (one GIL for the process, NULL while nobody holds it);
 * 3.12+: interp->ceval.gil's last_holder while its locked flag is set.
 * Returns 0 and sets *holder (a PyThreadState *, 0 for nobody), -ENOTSUP
 * when the layout says nothing about it, -EFAULT when unreadable.
 */
int pywalk_gil_holder(const struct memsrc *m, const struct py_layout *L, uint64_t runtime,
		      uint64_t interp, uint64_t *holder);

/*
 * Where the main interpreter's GIL state lies: a futex wait at an address
 * in [lo, hi) is a wait for the GIL. 3.12+: interp->ceval.gil (the main
 * interpreter's own _gil); 3.8-3.11: _PyRuntime.ceval.gil, the last member
 * of ceval, which ends just before gilstate (whose tstate_current follows
 * an int): the 256 bytes before gilstate hold it, and no other futex word.
 * 0, 0 when unknown.
 */
void pywalk_gil_range(const struct memsrc *m, const struct py_layout *L, uint64_t runtime, uint64_t *lo,
		      uint64_t *hi);

/*
 * 3.8-3.10 thread states only know their pthread_t, which on glibc is the
 * address of the thread's descriptor (struct pthread), and glibc keeps the
 * kernel TID in it (`pid_t tid`, at 0x2d0 = 720 on x86_64 glibc 2.36). The
 * offset is private to glibc, so it is found rather than assumed: every
 * 4-byte-aligned int in the first PYWALK_PTHREAD_SCAN bytes of each
 * descriptor is compared with the process's TIDs, and an offset is accepted
 * when it gives a TID for every descriptor and a different one for each.
 * When several offsets pass, PYWALK_GLIBC_TID_OFFSET wins if among them,
 * else the lowest. Returns the offset, or -1 when none passes (musl, or
 * descriptors unreadable). ptids: the thread states' pthread_t values.
 */
#define PYWALK_PTHREAD_SCAN 2048
#define PYWALK_GLIBC_TID_OFFSET 720
int pywalk_pthread_tid_offset(const struct memsrc *m, const uint64_t *ptids, size_t n,
			      const int32_t *tids, size_t ntids);

/* The pseudo-frame that stands for the missing root side of a stack with
 * these STACK_* flags ("[truncated: ...]", "[unreadable frame]",
 * "[broken frame chain]"), or NULL when it is whole. Shared by record and
 * dump so both name the same thing the same way. */
const char *pywalk_stack_flag_label(uint32_t flags);

#endif
