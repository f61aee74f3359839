/*
 * Native (C) frames of a thread, for dump --native: unwound from the
 * thread's registers with the call frame information of .eh_frame (cfi.c),
 * else by following frame pointers (unwind.c), symbolized from the ELF
 * symbol tables (libelf) of the mapped files (modules.c, symbols.c), and
 * matched with the Python frames where the evaluation loop's own frames can
 * be found (merge.c).
 */
#ifndef PYPERF_NATIVE_H
#define PYPERF_NATIVE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "target/memsrc.h"

#define NATIVE_MAX_FRAMES 256

struct coredump;

struct native_frame {
	uint64_t pc;
	uint64_t offset;            /* pc - symbol start */
	char symbol[128];           /* "" when unknown */
	char file[256];             /* mapped file holding pc, "" when unknown */
	bool eval;                  /* a frame of the Python evaluation loop */
	size_t py_first, py_count;  /* merged: Python frames this one runs */
};

struct native_stack {
	struct native_frame *frames; /* innermost first */
	size_t n;
	bool merged;                /* Python frames attached to eval frames */
	char why[160];              /* why unwinding stopped or failed; "" */
};

struct native_ctx;

/* Live process pid (core == NULL) or a core file. */
struct native_ctx *native_ctx_new(const struct memsrc *m, pid_t pid, struct coredump *core);
void native_ctx_free(struct native_ctx *c);

/* Unwinds thread tid; out->why says what went wrong. Returns 0 or -errno:
 * -EBUSY when the thread runs on a CPU (its registers are not readable). */
int native_unwind(struct native_ctx *c, int32_t tid, struct native_stack *out);

/*
 * Attaches the Python frames (innermost first, with pywalk_frames' entry
 * marks) to the evaluation-loop frames of ns when their numbers match:
 * sets ns->merged and each eval frame's py_first/py_count.
 */
void native_merge(struct native_ctx *c, struct native_stack *ns, const uint64_t *frames,
		  const uint8_t *entry, size_t n, uint32_t layout_flags);

void native_stack_free(struct native_stack *ns);

#endif
