/*
 * DWARF call frame information from .eh_frame, for x86_64 (internal to
 * user/native/; tests/unit/test_cfi.c and tests/fuzz/fuzz_cfi.c use it too).
 *
 * Every byte of .eh_frame is untrusted: a file may be corrupt, truncated or
 * hostile. Parsers stay inside the section, every loop is bounded, and
 * anything not understood is rejected rather than guessed.
 *
 * One unwind step with CFI is three steps here: cfi_find_row (the rules that
 * hold at a pc, from the CIE's and FDE's instructions), cfi_frame_address
 * (the CFA from the registers) and cfi_apply_rules (the caller's registers).
 */
#ifndef PYPERF_NATIVE_CFI_H
#define PYPERF_NATIVE_CFI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "native/regs.h"
#include "target/memsrc.h"

/* The bytes of an .eh_frame section and its link-time address. */
struct eh_frame {
	const uint8_t *data;
	size_t len;
	uint64_t addr;
};

/* One FDE: the link-time pc range it covers. */
struct cfi_fde {
	uint64_t lo, hi;
	uint32_t off;               /* offset of the FDE in .eh_frame */
};

struct cfi_cie {
	uint64_t code_align;
	int64_t data_align;
	uint8_t ra_reg;             /* the return address column, < CFI_NREGS */
	uint8_t fde_enc;            /* DW_EH_PE_* of the FDEs' pc fields */
	bool has_aug_data;
	bool signal_frame;
	const uint8_t *insns, *insns_end;
};

enum cfi_rule_kind { RULE_SAME, RULE_UNDEF, RULE_OFFSET, RULE_VAL_OFFSET, RULE_REG, RULE_EXPR, RULE_VAL_EXPR };

/* How to recover one register of the caller. */
struct cfi_rule {
	uint8_t kind;               /* enum cfi_rule_kind */
	uint8_t reg;                /* RULE_REG */
	int64_t off;                /* RULE_OFFSET, RULE_VAL_OFFSET: from the CFA */
	const uint8_t *expr;        /* RULE_EXPR, RULE_VAL_EXPR */
	size_t expr_len;
};

/* The rules at one pc: how to find the CFA, how to recover each register. */
struct cfi_row {
	bool cfa_expr;              /* the CFA is the value of expr */
	uint8_t cfa_reg;            /* else register cfa_reg + cfa_off */
	int64_t cfa_off;
	const uint8_t *expr;
	size_t expr_len;
	struct cfi_rule r[CFI_NREGS];
};

/* Parses the CIE at offset off; false when it is malformed or of a kind
 * not supported (version other than 1 and 3, unknown augmentation). */
bool cfi_parse_cie(const struct eh_frame *eh, uint64_t off, struct cfi_cie *out);

/* Every FDE of eh whose CIE parses, sorted by pc (*fdes malloc'd, NULL when
 * none). Stops at the first entry whose length is bad (nothing after it
 * can be found) or after 4M FDEs, keeping what came before. Returns 0, or
 * -ENOMEM with the FDEs indexed until memory ran short. */
int cfi_index(const struct eh_frame *eh, struct cfi_fde **fdes, size_t *nfdes);

/* The FDE of fdes (sorted, not nested) covering pc, or NULL. */
const struct cfi_fde *cfi_find_fde(const struct cfi_fde *fdes, size_t nfdes, uint64_t pc);

/* The CFA instructions [p, end) applied to row, starting at location loc,
 * until the location passes pc. initial: the row after the CIE's
 * instructions (for DW_CFA_restore), NULL while running those. */
bool cfi_run(const struct eh_frame *eh, const struct cfi_cie *ci, const uint8_t *p, const uint8_t *end,
	     uint64_t loc, uint64_t pc, struct cfi_row *row, const struct cfi_row *initial);

/* Told by cfi_run_spans that row holds on [from, to); false stops the run. */
typedef bool (*cfi_span_fn)(void *ctx, uint64_t from, uint64_t to, const struct cfi_row *row);

/* Runs all of [p, end) like cfi_run, calling each at every change of
 * location with the row that held since the previous one (unwtab.c builds
 * tables so, in one pass). When true, row holds from the last location
 * reported (loc if none) to the end of the FDE; when false (an instruction
 * not understood, each said stop, out of steps), nothing is known from
 * there. */
bool cfi_run_spans(const struct eh_frame *eh, const struct cfi_cie *ci, const uint8_t *p, const uint8_t *end,
		   uint64_t loc, struct cfi_row *row, const struct cfi_row *initial, cfi_span_fn each, void *ctx);

enum cfi_status {
	CFI_OK = 0,
	CFI_MALFORMED,              /* the FDE or its CIE does not parse */
	CFI_UNSUPPORTED,            /* an instruction not known, a bad state stack */
	CFI_EXPR_FAILED,            /* the CFA expression could not be evaluated */
	CFI_NO_CFA_REG,             /* the CFA's register is not known */
	CFI_OUTERMOST,              /* return address undefined: the outermost frame */
	CFI_RA_UNREADABLE,          /* the saved return address is unreadable */
	CFI_RA_UNKNOWN,             /* the return address was not recovered */
};

/* FDE f's CIE, its instructions [*p, *end) and the first pc it covers:
 * CFI_OK, CFI_MALFORMED or CFI_UNSUPPORTED. */
enum cfi_status cfi_fde_program(const struct eh_frame *eh, const struct cfi_fde *f, struct cfi_cie *ci,
				const uint8_t **p, const uint8_t **end, uint64_t *loc);

/* The row after ci's initial instructions, for an FDE starting at loc
 * (every rule "same value" before them); false when they do not run. */
bool cfi_initial_row(const struct eh_frame *eh, const struct cfi_cie *ci, uint64_t loc, struct cfi_row *row);

/* The row that holds at link-time address pc of FDE f, and its CIE. */
enum cfi_status cfi_find_row(const struct eh_frame *eh, const struct cfi_fde *f, uint64_t pc, struct cfi_row *row,
			     struct cfi_cie *cie);

/* The CFA of row for the registers rs: CFI_OK, CFI_EXPR_FAILED or
 * CFI_NO_CFA_REG. */
enum cfi_status cfi_frame_address(const struct cfi_row *row, const struct cfi_regs *rs, const struct memsrc *mem,
				  uint64_t *cfa);

/*
 * The caller's registers from rs by the rules of row, with the CFA cfa:
 * CFI_OK (*out set; its CFI_REG_RA is the return address), CFI_OUTERMOST,
 * CFI_RA_UNREADABLE (*bad_addr: where it should have been) or
 * CFI_RA_UNKNOWN.
 */
enum cfi_status cfi_apply_rules(const struct cfi_row *row, const struct cfi_cie *cie, uint64_t cfa,
				const struct cfi_regs *rs, const struct memsrc *mem, struct cfi_regs *out,
				uint64_t *bad_addr);

#endif
