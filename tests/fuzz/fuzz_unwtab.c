/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the unwind table builder (user/native/unwtab.c, over
 * cfi.c, dwread.c), which reads every file a --native target maps.
 *
 * Input: one mode byte, then the bytes.
 *   mode % 4 == 0: an .eh_frame section at link-time address 0x10000 (the
 *     input format of fuzz_cfi's even modes, so its seeds serve here).
 *   mode % 4 == 1: a .debug_frame section.
 *   mode % 4 == 2: the .eh_frame, then after the first mode / 4 * 16 bytes
 *     a .debug_frame: both at once.
 *   mode % 4 == 3: a whole ELF file, read through a descriptor (a memfd)
 *     by unwtab_build_fd, and through the cache twice.
 *
 * Checks (abort on violation): rows strictly sorted and merged (no two
 * adjacent rows alike), every kind and rbp rule a known value, the last
 * row UNW_CFA_NONE; for an .eh_frame, each of the first 64 FDEs' first,
 * middle and last pc has a row other than UNW_CFA_NONE, which says what
 * cfi_find_row says when that is a plain rsp-based rule (or declines:
 * UNW_CFA_UNSUPPORTED); the cache gives
 * the same table for the same file; no descriptor leaks. ASan and UBSan
 * catch reads outside the input and undefined arithmetic.
 * Seeds: tests/fuzz/seeds.py (the seed ELF files, their .eh_frame
 * sections, a hand-made .debug_frame).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_unwtab"
#include "fuzz_file.h"
#include "native/cfi.h"
#include "native/unwtab.h"

#define EH_ADDR 0x10000u
#define MAX_FDES_CHECKED 64

static void check_table(const struct unwtab *t)
{
	if (t->n && !t->rows)
		die("%zu rows, no array", t->n);
	if (t->n > UNWTAB_MAX_ROWS)
		die("%zu rows", t->n);
	for (size_t i = 0; i < t->n; i++) {
		const struct unwind_row *r = &t->rows[i];

		if (r->cfa_reg > UNW_CFA_UNSUPPORTED || r->rbp_rule > UNW_RBP_UNDEFINED)
			die("row %zu: kind %u, rbp rule %u", i, r->cfa_reg, r->rbp_rule);
		if ((r->cfa_reg != UNW_CFA_RSP && r->cfa_reg != UNW_CFA_RBP && r->cfa_reg != UNW_CFA_PLT) &&
		    (r->cfa_off || r->rbp_rule || r->rbp_off))
			die("row %zu: kind %u with offsets", i, r->cfa_reg);
		if (!i)
			continue;
		const struct unwind_row *p = &t->rows[i - 1];

		if (p->addr >= r->addr)
			die("rows %zu, %zu not sorted: %#x, %#x", i - 1, i, p->addr, r->addr);
		if (p->cfa_reg == r->cfa_reg && p->cfa_off == r->cfa_off && p->rbp_rule == r->rbp_rule &&
		    p->rbp_off == r->rbp_off)
			die("rows %zu, %zu alike", i - 1, i);
	}
	if (t->n && t->rows[t->n - 1].cfa_reg != UNW_CFA_NONE)
		die("the last row is not UNW_CFA_NONE");
	if (t->n && t->fdes == 0)
		die("rows without FDEs");
}

/* The table against cfi.c's own answers for the FDEs of eh. */
static void check_against_cfi(const struct eh_frame *eh, const struct unwtab *t)
{
	struct cfi_fde *fdes = NULL;
	size_t n = 0;

	cfi_index(eh, &fdes, &n);
	for (size_t i = 0; i < n && i < MAX_FDES_CHECKED; i++) {
		const struct cfi_fde *f = &fdes[i];
		uint64_t pcs[3] = { f->lo, f->lo + (f->hi - f->lo) / 2, f->hi - 1 };

		if (f->hi > UINT32_MAX)
			continue;
		for (int k = 0; k < 3; k++) {
			if (cfi_find_fde(fdes, n, pcs[k]) != f)
				continue;
			const struct unwind_row *r = unwtab_lookup(t->rows, t->n, (uint32_t)pcs[k]);
			struct cfi_row row;
			struct cfi_cie ci;

			if (!r || r->cfa_reg == UNW_CFA_NONE)
				die("FDE %zu (%#llx-%#llx): no row at %#llx", i, (unsigned long long)f->lo,
				    (unsigned long long)f->hi, (unsigned long long)pcs[k]);
			if (cfi_find_row(eh, f, pcs[k], &row, &ci) != CFI_OK || row.cfa_expr ||
			    row.cfa_reg != CFI_REG_RSP || row.cfa_off != (int32_t)row.cfa_off ||
			    row.r[ci.ra_reg].kind != RULE_OFFSET || row.r[ci.ra_reg].off != -8 ||
			    row.r[CFI_REG_RSP].kind != RULE_SAME || row.r[CFI_REG_RBP].kind != RULE_SAME)
				continue;
			/* The table may decline (a malformed FDE's later rows, such
			 * as after a set_loc backwards), never say otherwise. */
			if (r->cfa_reg == UNW_CFA_UNSUPPORTED)
				continue;
			if (r->cfa_reg != UNW_CFA_RSP || r->cfa_off != row.cfa_off || r->rbp_rule != UNW_RBP_SAME)
				die("FDE %zu at %#llx: row kind %u off %d, cfi_find_row rsp + %lld", i,
				    (unsigned long long)pcs[k], r->cfa_reg, r->cfa_off, (long long)row.cfa_off);
		}
	}
	free(fdes);
}

static void fuzz_file(const uint8_t *data, size_t size)
{
	struct unwtab t;
	struct unwtab_cache c;
	char err[256];
	int before, e1 = 0, e2 = 0;

	fuzz_file_put(data, size);
	before = open_fds();
	err[0] = '\0';
	if (unwtab_build_fd(memfd, &t, err, sizeof(err)) == 0)
		check_table(&t);
	else if (t.rows || t.n || !err[0] || strchr(err, '\n'))
		die("a failed build left rows, or its message is not one line: \"%s\"", err);
	unwtab_free(&t);

	unwtab_cache_init(&c, 64 << 10);
	const struct unwtab *a = unwtab_cache_get_fd(&c, memfd, &e1);
	const struct unwtab *b = unwtab_cache_get_fd(&c, memfd, &e2);

	if (a != b || e1 != e2)
		die("the cache answered twice differently");
	if (a)
		check_table(a);
	if (c.bytes > c.max_bytes)
		die("cache holds %zu bytes over its bound", c.bytes);
	unwtab_cache_free(&c);
	if (open_fds() != before)
		die("a descriptor leaked");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unwtab t;
	char err[256];

	if (size < 1)
		return 0;
	uint8_t mode = data[0];

	data++;
	size--;
	if (mode % 4 == 3) {
		fuzz_file(data, size);
		return 0;
	}
	size_t split = mode % 4 == 2 ? (size_t)(mode / 4) * 16 : mode % 4 == 0 ? size : 0;

	if (split > size)
		split = size;
	struct eh_frame eh = { data, split, EH_ADDR }, df = { data + split, size - split, 0 };

	if (unwtab_build_frames(&eh, &df, &t, err, sizeof(err)) == 0) {
		check_table(&t);
		if (mode % 4 == 0)
			check_against_cfi(&eh, &t);
	}
	unwtab_free(&t);
	return 0;
}
