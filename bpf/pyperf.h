/* SPDX-License-Identifier: MIT */
/*
 * The one contract between the BPF program (bpf/pyperf.bpf.c) and userspace.
 * Fixed-width types only; included by BPF C (after vmlinux.h) and host C.
 */
#ifndef PYPERF_H
#define PYPERF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Deepest Python stack captured; deeper stacks lose their root side and are
 * flagged STACK_TRUNCATED. */
#define PYPERF_MAX_FRAMES 1024
/* --native: native frames kept per stack (kernel ones included), after
 * the Python ones; see struct unwind_row. */
#define PYPERF_MAX_NATIVE 128          /* native frames kept (kernel ones included) */
#define PYPERF_MAX_KERNEL 32           /* --kernel: kernel frames kept, of those */
#define PYPERF_NATIVE_MAPPINGS 512     /* executable mappings per process */
#define PYPERF_KERNEL_ADDR_MIN 0xffff800000000000ull
/* Bytes of a frame header read in one probe read (covers every field used). */
#define PYPERF_FRAME_BUF 256
/* Bound on thread states examined when looking for the sampled thread. */
#define PYPERF_MAX_THREADS 4096
/* Threads of all targets the remote sampler visits per wakeup (a power of 2). */
#define PYPERF_REMOTE_THREADS 1024
#define PYPERF_MAX_INTERPRETERS 16

/* An absent field in struct py_layout. */
#define PY_OFF_NONE 0xffff

/* struct py_layout.flags */
#define PYL_FRAME_OBJECT   (1u << 0) /* 3.8-3.10: PyFrameObject chain, f_lasti int */
#define PYL_LASTI_BYTES    (1u << 1) /* 3.8-3.9: f_lasti counts bytes, not code units */
#define PYL_INSTR_POINTER  (1u << 2) /* 3.11+: frame_instr is a pointer into co_code_adaptive */
#define PYL_HAS_CFRAME     (1u << 3) /* 3.11-3.12: tstate->cframe->current_frame */
#define PYL_CODE_TAGGED    (1u << 4) /* 3.14+: f_executable is a _PyStackRef, clear low 2 bits */
#define PYL_NATIVE_TID     (1u << 5) /* 3.11+: tstate->native_thread_id is the Linux TID */
#define PYL_HAS_QUALNAME   (1u << 6) /* 3.11+: co_qualname */
#define PYL_FROM_DEBUG_OFFSETS (1u << 7) /* 3.13+: fields taken from the target's _Py_DebugOffsets */
#define PYL_GC_IN_RUNTIME  (1u << 8) /* 3.8: gc_collecting is an offset into _PyRuntime, not the interpreter */

/* Offsets (bytes) into one CPython build's structures. Generated per version
 * by layouts/gen; on 3.13+ refined at attach from _Py_DebugOffsets. */
struct py_layout {
	__u32 version_hex;            /* PY_VERSION_HEX of the headers it came from */
	__u32 flags;                  /* PYL_* */

	/* _PyRuntimeState */
	__u16 runtime_interpreters_head;
	__u16 runtime_gilstate_tstate_current; /* 3.8-3.11: GIL holder */
	/* PyInterpreterState */
	__u16 interp_next;
	__u16 interp_threads_head;    /* tstate_head (3.8-3.10), threads.head (3.11+) */
	__u16 interp_gil;             /* 3.12+: interp->ceval.gil (pointer) */
	/* struct _gil_runtime_state */
	__u16 gil_locked;
	__u16 gil_last_holder;
	/* PyThreadState */
	__u16 tstate_next;
	__u16 tstate_interp;
	__u16 tstate_thread_id;        /* pthread_t (== fsbase on x86_64) */
	__u16 tstate_native_thread_id; /* 3.11+ */
	__u16 tstate_frame;            /* frame (3.8-3.10), cframe (3.11-3.12), current_frame (3.13+) */
	__u16 cframe_current_frame;    /* 3.11-3.12 */
	/* PyFrameObject (3.8-3.10) or _PyInterpreterFrame (3.11+) */
	__u16 frame_previous;          /* f_back / previous */
	__u16 frame_code;              /* f_code / f_executable */
	__u16 frame_instr;             /* f_lasti (int) / prev_instr (3.11-3.12) / instr_ptr (3.13+) */
	__u16 frame_owner;             /* char owner, 3.11+ */
	__u16 frame_size;              /* bytes to read per frame, <= PYPERF_FRAME_BUF */
	__u8 owner_generator;          /* FRAME_OWNED_BY_GENERATOR, 0xff if none */
	__u8 owner_first_skipped;      /* owner >= this is a C-stack/interpreter shim; 0xff none */
	/* PyCodeObject */
	__u16 code_filename;
	__u16 code_name;
	__u16 code_qualname;           /* 3.11+ */
	__u16 code_firstlineno;        /* int */
	__u16 code_linetable;          /* co_lnotab (3.8-3.9) / co_linetable (3.10+) */
	__u16 code_firsttraceable;     /* int, 3.11+ */
	__u16 code_code_adaptive;      /* 3.11+: start of the bytecode inside the code object */
	__u16 code_size;               /* sizeof(PyCodeObject) without the trailing bytecode */
	/* PyUnicodeObject */
	__u16 unicode_length;          /* Py_ssize_t, in characters */
	__u16 unicode_state;           /* the state bit field (a 32-bit word) */
	__u16 unicode_ascii_size;      /* sizeof(PyASCIIObject): data of compact ASCII strings */
	__u16 unicode_compact_size;    /* sizeof(PyCompactUnicodeObject): data of other compact strings */
	__u8 unicode_kind_shift;       /* state: kind is 3 bits at this shift */
	__u8 unicode_compact_shift;    /* state: compact bit */
	__u8 unicode_ascii_shift;      /* state: ascii bit */
	__u8 unicode_pad;
	/* PyBytesObject */
	__u16 bytes_size;              /* ob_size */
	__u16 bytes_sval;              /* ob_sval */
	/* PyObject */
	__u16 object_type;             /* ob_type */
	/* 3.11: _PyInterpreterFrame.is_entry (a bool): the frame a C call
	 * entered the evaluation loop with (3.12+ mark that with a shim frame
	 * whose owner is >= owner_first_skipped). */
	__u16 frame_is_entry;
	/* int gc.collecting: nonzero while the garbage collector runs; an
	 * offset into the main PyInterpreterState (3.9+) or _PyRuntime (3.8,
	 * PYL_GC_IN_RUNTIME). */
	__u16 gc_collecting;
	/* 3.8-3.10: PyFrameObject.f_gen, the generator a frame belongs to
	 * (NULL for others); 3.11+ tell by the frame's owner. */
	__u16 frame_gen;
	/* 3.8-3.10: the frame's state, a char (f_executing on 3.8-3.9,
	 * f_state on 3.10), which is frame_state_live while the frame runs
	 * or waits on its callee, and changes as it returns: a returned frame
	 * object keeps its code and caller (the code's zombie frame), so the
	 * remote sampler's check needs it. PY_OFF_NONE on 3.11+. */
	__u16 frame_state;
	__u8 frame_state_live;
	__u8 pad1;
	/* 3.12-3.13: _PyInterpreterFrame.stacktop (an int), >= 0 while the
	 * frame waits on a Python callee it called, -1 once it runs again: a
	 * frame that returned is left as it was, and its caller may then stay
	 * at one instruction for long (a call into C). PY_OFF_NONE elsewhere
	 * (3.14+ clear a returned frame's code; 3.11 keeps stacktop). */
	__u16 frame_stacktop;
	__u16 pad2;
};

/* Value of the targets map (key: tgid as the host sees it). */
struct py_proc {
	__u64 runtime_addr;            /* address of _PyRuntime in the target */
	__u64 start_time;              /* /proc/PID/stat starttime, guards PID reuse */
	struct py_layout layout;
	/* The main interpreter's struct _gil_runtime_state lies in
	 * [gil_lo, gil_hi): a futex wait there is a GIL wait. 0, 0 if unknown. */
	__u64 gil_lo, gil_hi;
	/* The main interpreter's int gc.collecting (py_layout.gc_collecting
	 * resolved to an address), 0 if unknown: STACK_GC. */
	__u64 gc_collecting_addr;
	/* Mixed into stack ids: unique per process image in a session, so a
	 * reused PID or an exec never inherits ids the kernel already sent. */
	__u64 stack_seed;
};

/*
 * One frame as captured: ((code_addr | owned_by_generator) << 16) | (lasti + 1).
 * code objects are aligned, so bit 0 of the address is free for the flag.
 * lasti is the instruction index in 2-byte code units (-1: not started);
 * PYPERF_LASTI_UNKNOWN when it could not be read or did not fit.
 * pyperf_frame_pack() (pyperf_frame.h) makes it, in the kernel and in
 * userspace alike.
 */
#define PYPERF_LASTI_UNKNOWN 0xffff
#define PYPERF_FRAME_CODE(f)   (((f) >> 16) & ~3ull)
#define PYPERF_FRAME_IS_GEN(f) (((f) >> 16) & 1ull)
/* --native: this Python frame is the one a C call entered the evaluation
 * loop with (bit 1 of the code address, free as code objects are aligned);
 * every 3.8-3.10 frame is one. Set only when native stacks are taken. */
#define PYPERF_FRAME_ENTRY     (2ull << 16)
#define PYPERF_FRAME_IS_ENTRY(f) (((f) >> 17) & 1ull)
/* lasti, -1 for not started, -2 for unknown */
#define PYPERF_FRAME_LASTI(f)  (((f) & 0xffff) == PYPERF_LASTI_UNKNOWN ? -2 : (int)((f) & 0xffff) - 1)

/* sample_event.flags */
#define STACK_TRUNCATED    (1u << 0) /* root side cut at PYPERF_MAX_FRAMES */
#define STACK_READ_FAULT   (1u << 1) /* a frame could not be read; root side missing */
#define STACK_BAD_CHAIN    (1u << 2) /* frame chain loops or is garbage */
#define STACK_GC           (1u << 3) /* the thread ran the garbage collector (it holds the GIL, gc.collecting set) */
#define SAMPLE_HAS_FRAMES  (1u << 8) /* the record carries its stack's frames (see py_stack_record) */
#define SAMPLE_GIL         (1u << 9) /* mark_gil: the sampled thread held the GIL (not part of the stack) */

/* sample_event.kind: userspace ignores kinds it does not know. */
#define EVENT_CPU    0u /* a perf-event sample: one sampling period on a CPU */
#define EVENT_OFFCPU 1u /* a wait: weight_ns off the CPU, stack as it blocked */
#define EVENT_STACK  2u /* no sample: only defines stack_id (frames follow) */
#define EVENT_EXEC   3u /* target pid (with -a: any process) exec'd a program (a struct exec_event) */

/* sample_event.reason / offcpu_start.reason: why an off-CPU thread waited,
 * from the syscall it blocked in (x86_64 only; WAIT_NONE elsewhere). */
#define WAIT_NONE  0u
#define WAIT_SLEEP 1u /* nanosleep, clock_nanosleep */
#define WAIT_LOCK  2u /* futex */
#define WAIT_IO    3u /* read, write, recv*, send*, accept, connect */
#define WAIT_POLL  4u /* poll, ppoll, select, pselect6, epoll_wait, epoll_pwait(2) */
#define WAIT_RUNNABLE 5u /* wall mode: preempted, waiting for a CPU */
#define WAIT_GIL   6u /* futex inside the GIL's state: waiting to take the GIL */

/*
 * --async: per sample, the address of the outermost frame of each run of
 * consecutive generator-owned frames, leaf-most run first. A task's
 * coroutine frames form such a run, its own coroutine's frame outermost
 * (stepped from C, or from Task.__step); other runs are generators or
 * coroutines not stepped by a task (a generator expression inside the
 * task's code, a generator around the event loop). Userspace finds which
 * one, if any, is a task's: several are kept so a generator inside the
 * task's code does not hide the task. Not part of the stack id.
 */
#define PYPERF_ASYNC_RUNS 4

/* One ring-buffer record per sample (EVENT_CPU), per wait (EVENT_OFFCPU),
 * or per stack first seen as a thread blocks (EVENT_STACK). Its size stays
 * a multiple of 8 (frames follow it). */
struct sample_event {
	__u32 pid;
	__u32 tid;
	__u64 stack_id;                /* hash of the frames, seeded per process image */
	__u64 time_ns;                 /* bpf_ktime_get_ns(): EVENT_OFFCPU when the wait ended, EVENT_EXEC,
					* EVENT_CPU with sample_times (--timeline); else 0 */
	__u32 flags;                   /* STACK_* | SAMPLE_HAS_FRAMES */
	__u32 nframes;
	__u64 weight_ns;               /* EVENT_OFFCPU: nanoseconds off the CPU */
	__u32 kind;                    /* EVENT_* */
	__u32 reason;                  /* WAIT_* */
	__u32 nnative;                 /* --native: native frames after the nframes Python ones */
	__u32 pad;
	__u64 gen_runs[PYPERF_ASYNC_RUNS]; /* --async: see PYPERF_ASYNC_RUNS; 0: none (always 0 without --async) */
};

/*
 * A record with SAMPLE_HAS_FRAMES: the event followed by exactly nframes +
 * nnative frames, the record sized to them: the Python frames (leaf
 * first, packed as above), then with --native the native ones (leaf
 * first: the interrupted pc, then return addresses; kernel addresses,
 * >= PYPERF_KERNEL_ADDR_MIN, come first with --kernel). A native stack that
 * could not be followed to its end ends in one PYPERF_NATIVE_STOP value.
 * The kernel sends a stack's frames the first time it sees its id (and
 * again if it forgets it, so userspace may see a definition twice); later
 * records carry only the id.
 */
struct py_stack_record {
	struct sample_event ev;
	__u64 frames[PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE];
};

/* ---------------------------------------------------------------- native
 * --native: the native stack is unwound in the kernel with tables made by
 * userspace from each file's .eh_frame (.debug_frame when present). One
 * table per file, loaded once into the unwind_rows array and shared by
 * every process mapping that file; per process, its executable mappings
 * (native_procs map) say where each file's table is.
 */

/* A user native frame whose stack frame holds one of the 3.12+ entry
 * (shim) frames the Python walk skipped: it is an evaluation-loop frame,
 * the one running the Python frames entered there. Tagged on the pc, so
 * stripped binaries with no symbol for the loop merge too. */
#define PYPERF_NATIVE_EVAL (1ull << 62)
#define PYPERF_NATIVE_PC(v) ((v) & ~PYPERF_NATIVE_EVAL)

/* Why a native stack ended early: the last native value of the record.
 * Real pcs are never this small. */
#define PYPERF_NATIVE_STOP(kind) ((__u64)(kind))
#define PYPERF_NATIVE_IS_STOP(v) ((v) < 16)
enum native_stop {
	NSTOP_NO_MAPPING = 1,          /* pc in no known file mapping (JIT, -X perf trampolines, a new dlopen) */
	NSTOP_NO_TABLE,                /* the file has no unwind table (none in it, or no room for it) */
	NSTOP_NO_ROW,                  /* the table does not cover the pc */
	NSTOP_UNSUPPORTED,             /* a rule the table could not express (a DWARF expression) */
	NSTOP_READ_FAULT,              /* the stack could not be read where the rule pointed */
	NSTOP_BAD_FRAME,               /* the stack pointer did not grow: garbage */
	NSTOP_TRUNCATED,               /* deeper than PYPERF_MAX_NATIVE */
	NSTOP__MAX
};

/*
 * One row of a file's unwind table: from link-time address addr up to the
 * next row's, the caller's frame is found so (x86_64, return address always
 * at CFA - 8): CFA = (cfa_reg == UNW_CFA_RSP ? rsp : rbp) + cfa_off;
 * UNW_CFA_PLT: CFA = rsp + cfa_off + ((rip & 15) >= 11 ? 8 : 0) (the
 * expression every .plt uses); UNW_CFA_NONE: no information here (a gap
 * between functions, or an unsupported rule); UNW_CFA_END: the outermost
 * frame (return address undefined). The caller's rbp: unchanged
 * (UNW_RBP_SAME), or saved at CFA + rbp_off (UNW_RBP_AT_CFA).
 * Rows of a table are sorted by addr; addresses fit 32 bits (files over
 * 4 GiB get no table).
 */
enum unw_cfa { UNW_CFA_NONE = 0, UNW_CFA_RSP, UNW_CFA_RBP, UNW_CFA_PLT, UNW_CFA_END, UNW_CFA_UNSUPPORTED };
enum unw_rbp { UNW_RBP_SAME = 0, UNW_RBP_AT_CFA, UNW_RBP_UNDEFINED };

struct unwind_row {
	__u32 addr;
	__s32 cfa_off;
	__u8 cfa_reg;                  /* enum unw_cfa */
	__u8 rbp_rule;                 /* enum unw_rbp */
	__s16 rbp_off;
};

/* One executable file mapping of a process: pc in [start, end) is at
 * link-time address pc - bias in its file, whose table is rows
 * [row_first, row_first + row_count) of unwind_rows (row_count 0: none). */
struct native_mapping {
	__u64 start, end;
	__u64 bias;
	__u32 row_first, row_count;
};

/* Value of the native_procs map (key: tgid): its mappings sorted by start. */
struct native_proc {
	__u32 n;
	__u32 generation;              /* bumped by userspace at each reload, for its own use */
	struct native_mapping m[PYPERF_NATIVE_MAPPINGS];
};

/* EVENT_EXEC: a target's exec, so its new image is sampled if it is Python
 * again; with -a every exec on the host, so a new Python process is looked
 * at at once rather than at the next /proc scan. */
#define PYPERF_EXEC_NAME 64
struct exec_event {
	struct sample_event ev;
	char name[PYPERF_EXEC_NAME];   /* end of the program's path (the interpreter of a script), NUL-terminated */
};

/* Value of the offcpu map (key: host TID): a target thread that blocked,
 * its stack walked as it switched out. Userspace reads what is left at the
 * end of a recording: threads still blocked count up to then. */
struct offcpu_start {
	__u64 stack_id;
	__u64 start_ns;                /* bpf_ktime_get_ns() at switch-out */
	__u32 pid;                     /* tgid */
	__u32 flags;                   /* STACK_* */
	__u32 nframes;
	__u32 reason;                  /* WAIT_* */
	__u32 nnative;
	__u32 pad;
	__u64 gen_runs[PYPERF_ASYNC_RUNS]; /* --async: as in struct sample_event */
};

/* Index into the per-CPU counters array. */
enum pyperf_counter {
	CNT_SAMPLES = 0,      /* perf events seen in a target process */
	CNT_EMITTED,          /* samples written to the ring buffer */
	CNT_NO_TSTATE,        /* thread has no Python thread state (not a Python thread yet) */
	CNT_NO_FRAMES,        /* thread state has no Python frame (running C only) */
	CNT_READ_FAULT,       /* a read of target memory failed */
	CNT_RINGBUF_FULL,     /* sample dropped: ring buffer full */
	CNT_TRUNCATED,        /* stack deeper than PYPERF_MAX_FRAMES */
	CNT_BAD_CHAIN,        /* frame chain failed validation */
	CNT_OFFCPU_SHORT,     /* wait shorter than --min-block, dropped */
	CNT_NOT_GIL_HOLDER,   /* --gil: CPU sample of a thread not holding the GIL, dropped */
	CNT_NATIVE_STOPPED,   /* --native: a native stack that ended early (kind in the record) */
	CNT_RUNS,             /* runs of the timer sampler, in any process: the interrupts it took */
	CNT_CHANGED,          /* remote sampler: a stack that changed while read, read again */
	CNT_REMOTE_PREEMPTED, /* remote sampler: a target thread its own wakeup had preempted */
	CNT_ONE_READ,         /* remote sampler: a stack whose innermost frames one read holds, taken as read */
	CNT__MAX
};

#endif /* PYPERF_H */
