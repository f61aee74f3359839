/*
 * DWARF expressions as call frame information uses them (DW_CFA_*_expression):
 * a stack machine over the registers of a frame and the target's memory.
 */
#ifndef PYPERF_NATIVE_DWEXPR_H
#define PYPERF_NATIVE_DWEXPR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "native/regs.h"
#include "target/memsrc.h"

/*
 * Evaluates the len bytes at p with the registers rs, reading memory through
 * mem; push, when not NULL, is pushed first (the CFA, for register rules).
 * Sets *out to the top of the stack. False for an operation outside the
 * subset CFI uses, an unknown register, unreadable memory, a stack that
 * under- or overflows, or truncated operands.
 */
bool dwexpr_eval(const struct memsrc *mem, const uint8_t *p, size_t len, const struct cfi_regs *rs,
		 const uint64_t *push, uint64_t *out);

#endif
