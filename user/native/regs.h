/*
 * The registers an unwind step knows, numbered as DWARF numbers them for
 * x86_64: 0-15 the general registers, 16 the return address (rip).
 */
#ifndef PYPERF_NATIVE_REGS_H
#define PYPERF_NATIVE_REGS_H
#include <stdbool.h>
#include <stdint.h>

#define CFI_NREGS   17
#define CFI_REG_RBX 3
#define CFI_REG_RBP 6
#define CFI_REG_RSP 7
#define CFI_REG_R12 12
#define CFI_REG_R13 13
#define CFI_REG_R14 14
#define CFI_REG_R15 15
#define CFI_REG_RA  16

struct cfi_regs {
	uint64_t v[CFI_NREGS];
	bool known[CFI_NREGS];      /* v[i] is meaningful */
};

#endif
