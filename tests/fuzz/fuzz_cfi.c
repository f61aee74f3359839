/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the .eh_frame call frame information reader and
 * interpreter (user/native/cfi.c, dwexpr.c, dwread.c), which read bytes of
 * whatever files a target process maps.
 *
 * Input: one mode byte, then the bytes.
 *   mode even: the bytes are an .eh_frame section (at link-time address
 *     0x10000). Every FDE is indexed; for up to 16 FDEs the rows at the
 *     FDE's first, middle and last pc are found and one unwind step is taken
 *     from them with a fake register set and fake memory.
 *   mode odd: the bytes are a CFA instruction sequence run under a fixed
 *     CIE (code alignment 1 + mode / 2 % 4, data alignment -8, return
 *     address column 16, pc fields pcrel|sdata4), up to pc 0x10000 + 64 *
 *     (mode / 8), then one step from the row; they are also evaluated as a
 *     DWARF expression.
 * The fake memory answers every address with bytes made from the address,
 * except addresses below 0x1000 or with the top bit set (unreadable).
 *
 * Checks (abort on violation): the index is sorted, every range is
 * non-empty, every FDE offset lies inside the section and cfi_find_fde
 * finds each FDE by its first pc; a row's expressions lie inside the input;
 * a successful step knows the return address. ASan
 * and UBSan catch reads outside the input and undefined arithmetic.
 * Seeds: the .eh_frame sections of the Makefile's seed ELF files and
 * /bin/true, and hand-written CFA programs (tests/fuzz/seeds.py).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native/cfi.h"
#include "native/dwarf.h"
#include "native/dwexpr.h"
#include "target/memsrc.h"

#define die(...) do { fprintf(stderr, "fuzz_cfi: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

#define EH_ADDR 0x10000u
#define MAX_FDES_STEPPED 16

static const uint8_t *in_lo, *in_hi; /* the input, for the pointer checks */

static size_t fake_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	(void)m;
	if (addr < 0x1000 || (addr >> 63))
		return 0;
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)((addr + i) * 0x9e3779b97f4a7c15ull >> 56);
	return len;
}

static const struct memsrc fake_mem = { .read = fake_read };

static void check_span(const uint8_t *p, size_t len, const char *what)
{
	if (len && (p < in_lo || p > in_hi || len > (size_t)(in_hi - p)))
		die("%s outside the input", what);
}

static void check_row(const struct cfi_row *row)
{
	if (row->cfa_expr)
		check_span(row->expr, row->expr_len, "CFA expression");
	for (int r = 0; r < CFI_NREGS; r++) {
		const struct cfi_rule *ru = &row->r[r];

		if (ru->kind == RULE_EXPR || ru->kind == RULE_VAL_EXPR)
			check_span(ru->expr, ru->expr_len, "register rule expression");
		if (ru->kind == RULE_REG && ru->reg >= CFI_NREGS)
			die("register rule names register %u", ru->reg);
	}
}

/* A register set with every register known, values from seed. */
static void fake_regs(struct cfi_regs *rs, uint64_t pc, uint64_t seed)
{
	for (int r = 0; r < CFI_NREGS; r++) {
		rs->v[r] = 0x7ff000000000ull + (seed * 0x1000193u + (uint64_t)r * 0x1010) % 0x100000;
		rs->known[r] = (seed >> r) & 1 || r == CFI_REG_RSP;
	}
	rs->v[CFI_REG_RA] = pc;
	rs->known[CFI_REG_RA] = true;
}

/* One unwind step from row, as unwind.c takes it. */
static void step(const struct cfi_row *row, const struct cfi_cie *ci, uint64_t pc, uint64_t seed)
{
	struct cfi_regs rs, out;
	uint64_t cfa = 0, bad = 0;

	check_row(row);
	fake_regs(&rs, pc, seed);
	if (cfi_frame_address(row, &rs, &fake_mem, &cfa) != CFI_OK)
		return;
	if (cfi_apply_rules(row, ci, cfa, &rs, &fake_mem, &out, &bad) == CFI_OK && !out.known[CFI_REG_RA])
		die("a step succeeded without the return address");
}

static void fuzz_section(const uint8_t *data, size_t size)
{
	struct eh_frame eh = { data, size, EH_ADDR };
	struct cfi_fde *fdes = NULL;
	size_t n = 0;

	cfi_index(&eh, &fdes, &n);
	for (size_t i = 0; i < n; i++) {
		if (fdes[i].lo >= fdes[i].hi || fdes[i].off >= size)
			die("FDE %zu: range %#llx-%#llx, offset %u", i, (unsigned long long)fdes[i].lo,
			    (unsigned long long)fdes[i].hi, fdes[i].off);
		if (i && fdes[i - 1].lo > fdes[i].lo)
			die("index not sorted at %zu", i);
		const struct cfi_fde *f = cfi_find_fde(fdes, n, fdes[i].lo);

		if (!f || f->lo > fdes[i].lo || fdes[i].lo >= f->hi)
			die("FDE %zu not found by its first pc", i);
	}
	for (size_t i = 0; i < n && i < MAX_FDES_STEPPED; i++) {
		const struct cfi_fde *f = &fdes[i];
		uint64_t pcs[3] = { f->lo, f->lo + (f->hi - f->lo) / 2, f->hi - 1 };

		for (int k = 0; k < 3; k++) {
			struct cfi_row row;
			struct cfi_cie ci;

			if (cfi_find_row(&eh, f, pcs[k], &row, &ci) == CFI_OK)
				step(&row, &ci, pcs[k], i * 3 + (uint64_t)k);
		}
	}
	free(fdes);
}

static void fuzz_program(uint8_t mode, const uint8_t *data, size_t size)
{
	struct eh_frame eh = { data, size, EH_ADDR };
	struct cfi_cie ci = {
		.code_align = 1 + (mode / 2) % 4, .data_align = -8, .ra_reg = CFI_REG_RA,
		.fde_enc = DW_EH_PE_pcrel | DW_EH_PE_sdata4, .insns = data, .insns_end = data + size,
	};
	struct cfi_row initial, row;
	uint64_t pc = EH_ADDR + 64u * (mode / 8);

	memset(&initial, 0, sizeof(initial));
	for (int r = 0; r < CFI_NREGS; r++)
		initial.r[r].kind = RULE_SAME;
	initial.cfa_reg = CFI_REG_RSP;
	initial.cfa_off = 8;
	initial.r[CFI_REG_RA] = (struct cfi_rule){ .kind = RULE_OFFSET, .off = -8 };
	row = initial;
	if (cfi_run(&eh, &ci, data, data + size, EH_ADDR, pc, &row, &initial))
		step(&row, &ci, pc, mode);

	struct cfi_regs rs;
	uint64_t first = 0x7ff000001000ull, v;

	fake_regs(&rs, pc, mode);
	dwexpr_eval(&fake_mem, data, size, &rs, mode & 2 ? &first : NULL, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	in_lo = data + 1;
	in_hi = data + size;
	if (data[0] & 1)
		fuzz_program(data[0], data + 1, size - 1);
	else
		fuzz_section(data + 1, size - 1);
	return 0;
}
