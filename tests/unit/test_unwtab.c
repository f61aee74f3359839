/*
 * Unit tests of the BPF unwind table builder (user/native/unwtab.c):
 * hand-written .eh_frame/.debug_frame bytes with known rows (the .plt
 * expression, unsupported expressions and instructions, the outermost
 * frame, FDE gaps and overlaps), and real files (libc, pyenv's
 * libpython3.12, Debian's static python3.11, sid's libpython3.14 when
 * present) where the table must agree with cfi_find_row at every 7th byte
 * of every FDE and say UNW_CFA_NONE between FDEs. Also the cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <glob.h>
#include <libelf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "native/cfi.h"
#include "native/dwarf.h"
#include "native/unwtab.h"
#include "ehbuf.h"
#include "unit.h"

#define EH_ADDR 0x1000u

static uint64_t eh_addr = EH_ADDR; /* of the .eh_frame being written */


static const uint8_t CIE_X86_64[] = {
	DW_CFA_def_cfa, CFI_REG_RSP, 8,          /* CFA = rsp + 8 */
	DW_CFA_offset | CFI_REG_RA, 1,           /* return address at CFA - 8 */
};

/* An .eh_frame CIE ("zR", code alignment 1, data alignment -8, pcrel|sdata4)
 * at b's start; the FDEs follow it (eh_fde), then eh_end. */
static void eh_cie(struct buf *b)
{
	b->n = 0;
	u32(b, 0);
	u32(b, EH_CIE_ID);
	u8(b, 1);
	put(b, "zR", 3);
	u8(b, 1);
	u8(b, 0x78);
	u8(b, CFI_REG_RA);
	u8(b, 1);
	u8(b, DW_EH_PE_pcrel | DW_EH_PE_sdata4);
	put(b, CIE_X86_64, sizeof(CIE_X86_64));
	close_entry(b, 0);
}

static void eh_fde(struct buf *b, uint64_t lo, uint32_t len, const uint8_t *insns, size_t n)
{
	size_t start = b->n;

	u32(b, 0);
	u32(b, (uint32_t)b->n); /* back to the CIE at offset 0 */
	u32(b, (uint32_t)(lo - (eh_addr + b->n)));
	u32(b, len);
	u8(b, 0);
	put(b, insns, n);
	close_entry(b, start);
}

static void eh_end(struct buf *b) { u32(b, 0); }

/* The row the table gives at addr matches (kind, off, rbp rule, rbp off). */
static void check_row(const struct unwtab *t, uint32_t addr, int kind, int32_t off, int rbp, int16_t rbp_off)
{
	const struct unwind_row *r = unwtab_lookup(t->rows, t->n, addr);

	if (!r) {
		CHECK(r != NULL);
		fprintf(stderr, "  no row at %#x\n", addr);
		return;
	}
	if (r->cfa_reg != kind || r->cfa_off != off || r->rbp_rule != rbp || r->rbp_off != rbp_off) {
		fprintf(stderr, "  at %#x: row %#x kind %u off %d rbp %u/%d, expected kind %d off %d rbp %d/%d\n", addr,
			r->addr, r->cfa_reg, r->cfa_off, r->rbp_rule, r->rbp_off, kind, off, rbp, rbp_off);
		CHECK(!"row as expected");
		return;
	}
	CHECK(1);
}

static void check_sorted_merged(const struct unwtab *t)
{
	size_t bad = 0;

	for (size_t i = 1; i < t->n; i++) {
		const struct unwind_row *a = &t->rows[i - 1], *b = &t->rows[i];

		if (a->addr >= b->addr || (a->cfa_reg == b->cfa_reg && a->cfa_off == b->cfa_off &&
					   a->rbp_rule == b->rbp_rule && a->rbp_off == b->rbp_off))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

/* push rbp; mov rbp, rsp; ...; pop rbp at +0x11. */
static const uint8_t FDE_PROLOGUE[] = {
	DW_CFA_advance_loc | 1,
	DW_CFA_def_cfa_offset, 16,
	DW_CFA_offset | CFI_REG_RBP, 2,          /* rbp at CFA - 16 */
	DW_CFA_advance_loc | 3,
	DW_CFA_def_cfa_register, CFI_REG_RBP,
	DW_CFA_advance_loc | 13,
	DW_CFA_def_cfa, CFI_REG_RSP, 8,
	DW_CFA_restore | CFI_REG_RBP,
};

/* What binutils writes for .plt: PLT0's push and jmp, then the entries. */
#define PLT_EXPR(ge) DW_CFA_def_cfa_expression, 11, DW_OP_breg0 + CFI_REG_RSP, 8, DW_OP_breg0 + CFI_REG_RA, 0, \
	DW_OP_lit0 + 15, DW_OP_and, DW_OP_lit0 + (ge), DW_OP_ge, DW_OP_lit0 + 3, DW_OP_shl, DW_OP_plus
static const uint8_t FDE_PLT[] = {
	DW_CFA_def_cfa_offset, 16,
	DW_CFA_advance_loc | 6,
	DW_CFA_def_cfa_offset, 24,
	DW_CFA_advance_loc | 10,
	PLT_EXPR(11),
};
static const uint8_t FDE_PLT10[] = { PLT_EXPR(10) };
/* CFA = *(rsp + 8): an expression the table cannot hold. */
static const uint8_t FDE_DEREF[] = { DW_CFA_def_cfa_expression, 3, DW_OP_breg0 + CFI_REG_RSP, 8, DW_OP_deref };
/* Four bytes of a known rule, then an instruction nobody knows. */
static const uint8_t FDE_UNKNOWN_OP[] = { DW_CFA_advance_loc | 4, DW_CFA_def_cfa_offset, 16, 0x3e };
static const uint8_t FDE_OUTERMOST[] = { DW_CFA_undefined, CFI_REG_RA };
/* rbp saved at CFA - 8 * 5000: does not fit the row's s16. */
static const uint8_t FDE_FAR_RBP[] = { DW_CFA_offset | CFI_REG_RBP, 0x88, 0x27 };
/* The return address elsewhere than CFA - 8. */
static const uint8_t FDE_RA_ELSEWHERE[] = { DW_CFA_offset | CFI_REG_RA, 2 };
/* Adjacent to the previous FDE, same rule at its start: merged. */
static const uint8_t FDE_PLAIN[] = { DW_CFA_nop };
/* CFA = rbx + 8: a register the BPF side does not follow. */
static const uint8_t FDE_RBX[] = { DW_CFA_def_cfa_register, CFI_REG_RBX };

static void test_hand_made(void)
{
	struct buf b;
	struct unwtab t;
	char err[128] = "";

	eh_cie(&b);
	eh_fde(&b, 0x2000, 0x20, FDE_PROLOGUE, sizeof(FDE_PROLOGUE));
	eh_fde(&b, 0x3000, 0x40, FDE_PLT, sizeof(FDE_PLT));
	eh_fde(&b, 0x3040, 0x10, FDE_PLT10, sizeof(FDE_PLT10));
	eh_fde(&b, 0x3050, 0x10, FDE_UNKNOWN_OP, sizeof(FDE_UNKNOWN_OP));
	eh_fde(&b, 0x4000, 0x08, FDE_OUTERMOST, sizeof(FDE_OUTERMOST));
	eh_fde(&b, 0x4010, 0x08, FDE_FAR_RBP, sizeof(FDE_FAR_RBP));
	eh_fde(&b, 0x4020, 0x08, FDE_RA_ELSEWHERE, sizeof(FDE_RA_ELSEWHERE));
	eh_fde(&b, 0x4030, 0x08, FDE_DEREF, sizeof(FDE_DEREF));
	eh_fde(&b, 0x4038, 0x08, FDE_PLAIN, sizeof(FDE_PLAIN));
	eh_fde(&b, 0x4040, 0x08, FDE_PLAIN, sizeof(FDE_PLAIN));
	eh_fde(&b, 0x4048, 0x08, FDE_RBX, sizeof(FDE_RBX));
	eh_end(&b);

	struct eh_frame eh = { b.b, b.n, EH_ADDR };

	CHECK_EQ_INT(unwtab_build_frames(&eh, NULL, &t, err, sizeof(err)), 0);
	CHECK_EQ_INT(t.fdes, 11);
	CHECK_EQ_INT(t.fdes_skipped, 1); /* the unknown instruction */
	check_sorted_merged(&t);
	CHECK(unwtab_lookup(t.rows, t.n, 0x1fff) == NULL);
	/* The prologue, a row per change. */
	check_row(&t, 0x2000, UNW_CFA_RSP, 8, UNW_RBP_SAME, 0);
	check_row(&t, 0x2001, UNW_CFA_RSP, 16, UNW_RBP_AT_CFA, -16);
	check_row(&t, 0x2003, UNW_CFA_RSP, 16, UNW_RBP_AT_CFA, -16);
	check_row(&t, 0x2004, UNW_CFA_RBP, 16, UNW_RBP_AT_CFA, -16);
	check_row(&t, 0x2010, UNW_CFA_RBP, 16, UNW_RBP_AT_CFA, -16);
	check_row(&t, 0x2011, UNW_CFA_RSP, 8, UNW_RBP_SAME, 0);
	check_row(&t, 0x201f, UNW_CFA_RSP, 8, UNW_RBP_SAME, 0);
	check_row(&t, 0x2020, UNW_CFA_NONE, 0, 0, 0);
	check_row(&t, 0x2fff, UNW_CFA_NONE, 0, 0, 0);
	/* The .plt: PLT0, then the expression. */
	check_row(&t, 0x3000, UNW_CFA_RSP, 16, UNW_RBP_SAME, 0);
	check_row(&t, 0x3006, UNW_CFA_RSP, 24, UNW_RBP_SAME, 0);
	check_row(&t, 0x3010, UNW_CFA_PLT, 8, UNW_RBP_SAME, 0);
	check_row(&t, 0x303f, UNW_CFA_PLT, 8, UNW_RBP_SAME, 0);
	/* The next FDE starts where the .plt ends: no gap row, its own. */
	CHECK(unwtab_lookup(t.rows, t.n, 0x3040)->addr == 0x3040);
	check_row(&t, 0x3040, UNW_CFA_UNSUPPORTED, 0, 0, 0); /* lit10: not UNW_CFA_PLT */
	check_row(&t, 0x3050, UNW_CFA_RSP, 8, UNW_RBP_SAME, 0);
	check_row(&t, 0x3053, UNW_CFA_RSP, 8, UNW_RBP_SAME, 0);
	check_row(&t, 0x3054, UNW_CFA_UNSUPPORTED, 0, 0, 0);
	check_row(&t, 0x305f, UNW_CFA_UNSUPPORTED, 0, 0, 0);
	check_row(&t, 0x3060, UNW_CFA_NONE, 0, 0, 0);
	check_row(&t, 0x4000, UNW_CFA_END, 0, 0, 0);
	check_row(&t, 0x4008, UNW_CFA_NONE, 0, 0, 0);
	check_row(&t, 0x4010, UNW_CFA_UNSUPPORTED, 0, 0, 0);
	check_row(&t, 0x4020, UNW_CFA_UNSUPPORTED, 0, 0, 0);
	check_row(&t, 0x4030, UNW_CFA_UNSUPPORTED, 0, 0, 0);
	check_row(&t, 0x4038, UNW_CFA_RSP, 8, UNW_RBP_SAME, 0);
	/* Two adjacent FDEs with one rule: one row. */
	CHECK(unwtab_lookup(t.rows, t.n, 0x4040)->addr == 0x4038);
	check_row(&t, 0x4048, UNW_CFA_UNSUPPORTED, 0, 0, 0);
	check_row(&t, 0x4050, UNW_CFA_NONE, 0, 0, 0);
	CHECK(t.n && t.rows[t.n - 1].addr == 0x4050 && t.rows[t.n - 1].cfa_reg == UNW_CFA_NONE);
	unwtab_free(&t);

	/* Near 4 GiB: an FDE ending at 2^32 - 1 is kept, one past it is not. */
	eh_addr = 0xfffff000u;
	eh_cie(&b);
	eh_fde(&b, 0xffffff00u, 0xff, FDE_PLAIN, sizeof(FDE_PLAIN));
	eh_fde(&b, 0x100000010ull, 0x10, FDE_PLAIN, sizeof(FDE_PLAIN));
	eh_fde(&b, 0xfffffff8u, 0x10, FDE_PLAIN, sizeof(FDE_PLAIN));
	eh_end(&b);
	eh = (struct eh_frame){ b.b, b.n, eh_addr };
	eh_addr = EH_ADDR;
	CHECK_EQ_INT(unwtab_build_frames(&eh, NULL, &t, err, sizeof(err)), 0);
	CHECK_EQ_INT(t.fdes, 3);
	CHECK_EQ_INT(t.fdes_skipped, 2);
	CHECK_EQ_INT(t.n, 2);
	check_row(&t, 0xffffff00u, UNW_CFA_RSP, 8, UNW_RBP_SAME, 0);
	check_row(&t, 0xfffffffeu, UNW_CFA_RSP, 8, UNW_RBP_SAME, 0);
	check_row(&t, 0xffffffffu, UNW_CFA_NONE, 0, 0, 0);
	unwtab_free(&t);
}

/* A CIE (version 4, address size 8) and FDEs in .debug_frame form. */
static void df_cie(struct buf *b)
{
	b->n = 0;
	u32(b, 0);
	u32(b, 0xffffffffu);
	u8(b, 4);
	u8(b, 0);                   /* no augmentation */
	u8(b, 8);                   /* address size */
	u8(b, 0);                   /* segment selector size */
	u8(b, 1);
	u8(b, 0x78);
	u8(b, CFI_REG_RA);
	put(b, CIE_X86_64, sizeof(CIE_X86_64));
	close_entry(b, 0);
}

static void df_fde(struct buf *b, uint64_t lo, uint64_t len, const uint8_t *insns, size_t n)
{
	size_t start = b->n;

	u32(b, 0);
	u32(b, 0);                  /* the CIE at offset 0 */
	u64(b, lo);
	u64(b, len);
	put(b, insns, n);
	close_entry(b, start);
}

static void test_debug_frame(void)
{
	static const uint8_t CFA_RSP32[] = { DW_CFA_def_cfa_offset, 32 };
	struct buf eb, db;
	struct unwtab t;
	char err[128] = "";

	eh_cie(&eb);
	eh_fde(&eb, 0x2000, 0x20, FDE_PROLOGUE, sizeof(FDE_PROLOGUE));
	eh_end(&eb);
	df_cie(&db);
	df_fde(&db, 0x2000, 0x20, CFA_RSP32, sizeof(CFA_RSP32)); /* .eh_frame has it: ignored */
	df_fde(&db, 0x5000, 0x10, FDE_PROLOGUE, sizeof(FDE_PROLOGUE));
	df_fde(&db, 0x5010, 0x10, CFA_RSP32, sizeof(CFA_RSP32));

	struct eh_frame eh = { eb.b, eb.n, EH_ADDR }, df = { db.b, db.n, 0 };

	CHECK_EQ_INT(unwtab_build_frames(&eh, &df, &t, err, sizeof(err)), 0);
	CHECK_EQ_INT(t.fdes, 3);
	CHECK_EQ_INT(t.fdes_skipped, 0);
	check_sorted_merged(&t);
	check_row(&t, 0x2001, UNW_CFA_RSP, 16, UNW_RBP_AT_CFA, -16);
	check_row(&t, 0x2020, UNW_CFA_NONE, 0, 0, 0);
	check_row(&t, 0x5000, UNW_CFA_RSP, 8, UNW_RBP_SAME, 0);
	check_row(&t, 0x5004, UNW_CFA_RBP, 16, UNW_RBP_AT_CFA, -16);
	check_row(&t, 0x5010, UNW_CFA_RSP, 32, UNW_RBP_SAME, 0);
	check_row(&t, 0x5020, UNW_CFA_NONE, 0, 0, 0);
	unwtab_free(&t);

	/* Only .debug_frame, one FDE truncated: the others stand. */
	db.n -= 4;
	df = (struct eh_frame){ db.b, db.n, 0 };
	CHECK_EQ_INT(unwtab_build_frames(NULL, &df, &t, err, sizeof(err)), 0);
	check_row(&t, 0x5004, UNW_CFA_RBP, 16, UNW_RBP_AT_CFA, -16);
	check_row(&t, 0x5010, UNW_CFA_NONE, 0, 0, 0);
	unwtab_free(&t);
}

/* ------------------------------------------------------------ real files */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The row the table must hold at pc by cfi_find_row's answer there;
 * false when cfi_find_row gives nothing the comparison can use. */
static bool expected_row(const struct eh_frame *eh, const struct cfi_fde *f, uint64_t pc, struct unwind_row *u,
			 bool *expr)
{
	struct cfi_row row;
	struct cfi_cie ci;

	memset(u, 0, sizeof(*u));
	*expr = false;
	if (cfi_find_row(eh, f, pc, &row, &ci) != CFI_OK) {
		u->cfa_reg = UNW_CFA_UNSUPPORTED;
		return true;
	}
	const struct cfi_rule *ra = &row.r[ci.ra_reg], *rbp = &row.r[CFI_REG_RBP];

	if (ra->kind == RULE_UNDEF) {
		u->cfa_reg = UNW_CFA_END;
		return true;
	}
	if (row.cfa_expr) {
		*expr = true; /* PLT or unsupported: checked by kind only */
		return true;
	}
	if (row.cfa_reg != CFI_REG_RSP && row.cfa_reg != CFI_REG_RBP)
		return false;
	if (ra->kind != RULE_OFFSET || ra->off != -8 || row.r[CFI_REG_RSP].kind != RULE_SAME ||
	    (rbp->kind == RULE_OFFSET && (rbp->off < -32768 || rbp->off > 32767))) {
		u->cfa_reg = UNW_CFA_UNSUPPORTED;
		return true;
	}
	u->cfa_reg = row.cfa_reg == CFI_REG_RSP ? UNW_CFA_RSP : UNW_CFA_RBP;
	u->cfa_off = (int32_t)row.cfa_off;
	u->rbp_rule = rbp->kind == RULE_SAME ? UNW_RBP_SAME : rbp->kind == RULE_OFFSET ? UNW_RBP_AT_CFA
										     : UNW_RBP_UNDEFINED;
	u->rbp_off = rbp->kind == RULE_OFFSET ? (int16_t)rbp->off : 0;
	return true;
}

/* The .eh_frame of the file at fd, read here without unwtab.c. */
static Elf *open_eh_frame(int fd, struct eh_frame *eh)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (!e || elf_getshdrstrndx(e, &shstrndx) != 0)
		return e;
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		const char *n = gelf_getshdr(scn, &sh) ? elf_strptr(e, shstrndx, sh.sh_name) : NULL;
		Elf_Data *d = n && strcmp(n, ".eh_frame") == 0 ? elf_getdata(scn, NULL) : NULL;

		if (d && d->d_buf)
			*eh = (struct eh_frame){ d->d_buf, d->d_size, sh.sh_addr };
	}
	return e;
}

#define CHECKS_PER_FDE 512
#define CHECKS_PER_FILE 600000

static void check_file(const char *label, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct unwtab t;
	char err[256] = "";
	struct eh_frame eh = { 0 };
	struct cfi_fde *fdes = NULL;
	size_t nfdes = 0, checked = 0, mismatched = 0, plt = 0, gaps = 0, unsupported = 0;

	if (fd < 0) {
		printf("skip %s: %s: %s\n", label, path, strerror(errno));
		return;
	}
	double t0 = now_ms();
	int r = unwtab_build_fd(fd, &t, err, sizeof(err));
	double ms = now_ms() - t0;

	CHECK_EQ_INT(r, 0);
	if (r) {
		fprintf(stderr, "  %s: %s\n", path, err);
		close(fd);
		return;
	}
	printf("%s (%s): %zu FDEs (%zu skipped), %zu rows, %zu bytes, built in %.1f ms (ASan build)\n", label, path,
	       t.fdes, t.fdes_skipped, t.n, t.n * sizeof(*t.rows), ms);
	check_sorted_merged(&t);
	CHECK(t.n > 1000);
	CHECK_EQ_INT(t.fdes_skipped, 0);

	Elf *e = open_eh_frame(fd, &eh);

	CHECK(eh.len > 0);
	CHECK_EQ_INT(cfi_index(&eh, &fdes, &nfdes), 0);
	CHECK_EQ_INT(nfdes, t.fdes);
	for (size_t i = 0; i < nfdes && checked < CHECKS_PER_FILE; i++) {
		const struct cfi_fde *f = &fdes[i];
		size_t k = 0;

		for (uint64_t pc = f->lo; pc < f->hi && k < CHECKS_PER_FDE; pc += 7, k++) {
			struct unwind_row want;
			bool expr;

			if (cfi_find_fde(fdes, nfdes, pc) != f || !expected_row(&eh, f, pc, &want, &expr))
				continue;
			const struct unwind_row *got = unwtab_lookup(t.rows, t.n, (uint32_t)pc);
			bool same = got && (expr ? got->cfa_reg == UNW_CFA_PLT || got->cfa_reg == UNW_CFA_UNSUPPORTED
						 : got->cfa_reg == want.cfa_reg && got->cfa_off == want.cfa_off &&
							   got->rbp_rule == want.rbp_rule &&
							   got->rbp_off == want.rbp_off);

			checked++;
			plt += got && got->cfa_reg == UNW_CFA_PLT;
			unsupported += got && got->cfa_reg == UNW_CFA_UNSUPPORTED;
			if (!same && mismatched++ < 5)
				fprintf(stderr, "  %s pc %#llx (FDE %#llx-%#llx): table kind %d off %d rbp %d/%d, "
					"cfi kind %d off %d rbp %d/%d\n", label, (unsigned long long)pc,
					(unsigned long long)f->lo, (unsigned long long)f->hi, got ? got->cfa_reg : -1,
					got ? got->cfa_off : 0, got ? got->rbp_rule : -1, got ? got->rbp_off : 0,
					want.cfa_reg, want.cfa_off, want.rbp_rule, want.rbp_off);
		}
		/* Between this FDE and the next: no rule. */
		uint64_t gap[2] = { f->hi, i + 1 < nfdes ? fdes[i + 1].lo - 1 : f->hi + 100 };

		for (int g = 0; g < 2; g++) {
			if (gap[g] < f->hi || cfi_find_fde(fdes, nfdes, gap[g]) || gap[g] > UINT32_MAX)
				continue;
			const struct unwind_row *got = unwtab_lookup(t.rows, t.n, (uint32_t)gap[g]);

			gaps++;
			if (!got || got->cfa_reg != UNW_CFA_NONE) {
				if (mismatched++ < 5)
					fprintf(stderr, "  %s pc %#llx between FDEs: kind %d\n", label,
						(unsigned long long)gap[g], got ? got->cfa_reg : -1);
			}
		}
	}
	if (nfdes)
		CHECK(unwtab_lookup(t.rows, t.n, (uint32_t)fdes[0].lo - 1) == NULL ||
		      unwtab_lookup(t.rows, t.n, (uint32_t)fdes[0].lo - 1)->cfa_reg == UNW_CFA_NONE);
	printf("  %zu pcs compared with cfi_find_row (%zu in .plt, %zu unsupported), %zu gap pcs: %zu mismatched\n",
	       checked, plt, unsupported, gaps, mismatched);
	CHECK(checked > 10000);
	CHECK(gaps > 100);
	CHECK_EQ_INT(mismatched, 0);
	if (strstr(label, "libc") || strstr(label, "libpython"))
		CHECK(plt > 0);
	free(fdes);
	elf_end(e);
	unwtab_free(&t);
	close(fd);
}

/* The newest file matching pattern, or "" (static buffer). */
static const char *glob_one(const char *pattern)
{
	static char out[4096];
	glob_t g;

	out[0] = '\0';
	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc)
		snprintf(out, sizeof(out), "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	return out;
}

static const char *pyenv_root(void)
{
	static char root[4096];
	FILE *p = popen("pyenv root 2>/dev/null", "r");

	root[0] = '\0';
	if (p) {
		if (fgets(root, sizeof(root), p))
			root[strcspn(root, "\n")] = '\0';
		pclose(p);
	}
	if (!root[0])
		snprintf(root, sizeof(root), "/root/.pyenv");
	return root;
}

static void test_real_files(void)
{
	char pattern[4200];
	const char *sid = getenv("SID_DIR") ? getenv("SID_DIR") : "/work/main/build/sid";

	elf_version(EV_CURRENT);
	check_file("libc", "/lib/x86_64-linux-gnu/libc.so.6");
	snprintf(pattern, sizeof(pattern), "%s/versions/3.12*/lib/libpython3.12.so.1.0", pyenv_root());
	const char *lp = glob_one(pattern);

	if (lp[0])
		check_file("libpython3.12", lp);
	else
		printf("skip libpython3.12: nothing matches %s\n", pattern);
	check_file("python3.11 (static)", "/usr/bin/python3.11");
	snprintf(pattern, sizeof(pattern), "%s/root/usr/lib/x86_64-linux-gnu/libpython3.14.so.1.0", sid);
	lp = glob_one(pattern);
	if (lp[0])
		check_file("libpython3.14", lp);
	else
		printf("skip libpython3.14: no %s\n", pattern);
}

/* ------------------------------------------------------------ cache, errors */

static void test_cache(void)
{
	struct unwtab_cache c;
	int err = 0, fd = open("/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY | O_CLOEXEC);
	int fd2 = open("/usr/bin/python3.11", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fd2 < 0) {
		printf("skip cache test: libc or python3.11 absent\n");
		goto out;
	}
	unwtab_cache_init(&c, 1 << 20);
	const struct unwtab *a = unwtab_cache_get_fd(&c, fd, &err);

	CHECK(a != NULL);
	CHECK_EQ_INT(err, 0);
	CHECK(a && c.bytes == a->n * sizeof(struct unwind_row));
	size_t bytes = c.bytes;

	/* The same file again (another descriptor): the same table, not rebuilt. */
	int fd3 = open("/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY | O_CLOEXEC);

	CHECK(unwtab_cache_get_fd(&c, fd3, &err) == a);
	close(fd3);
	CHECK_EQ_INT(c.bytes, bytes);
	/* python3.11's table is bigger than what is left of 1 MiB: none, and
	 * remembered as such. */
	CHECK(unwtab_cache_get_fd(&c, fd2, &err) == NULL);
	CHECK_EQ_INT(err, -ENOSPC);
	CHECK(unwtab_cache_get_fd(&c, fd2, &err) == NULL);
	CHECK_EQ_INT(err, -ENOSPC);
	CHECK_EQ_INT(c.bytes, bytes);

	/* Keys: build id when there is one, else the file's identity. */
	struct unwtab_key k1, k2;

	CHECK_EQ_INT(unwtab_key_of_fd(fd, &k1), 0);
	CHECK(k1.build_id_len == 20);
	int pipefd[2];

	CHECK(pipe(pipefd) == 0);
	CHECK_EQ_INT(unwtab_key_of_fd(pipefd[0], &k2), 0);
	CHECK(k2.build_id_len == 0 && k2.ino != 0);
	/* A failed build is remembered too. */
	CHECK(unwtab_cache_get_fd(&c, pipefd[0], &err) == NULL);
	CHECK(err == -ENOEXEC || err == -ENOSPC);
	const struct unwtab *t = NULL;
	int e2 = 0;

	CHECK_EQ_INT(unwtab_cache_find(&c, &k2, &t, &e2), 1);
	CHECK(t == NULL && e2 == err);
	close(pipefd[0]);
	close(pipefd[1]);
	unwtab_cache_free(&c);
out:
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
}

static void test_not_elf(void)
{
	struct unwtab t;
	char err[128] = "";
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	CHECK_EQ_INT(unwtab_build_fd(fd, &t, err, sizeof(err)), -ENOEXEC);
	CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
	CHECK(t.rows == NULL && t.n == 0);
	close(fd);
	/* Empty sections: an empty table. */
	CHECK_EQ_INT(unwtab_build_frames(NULL, NULL, &t, err, sizeof(err)), 0);
	CHECK(t.n == 0 && unwtab_lookup(t.rows, t.n, 0x1234) == NULL);
	unwtab_free(&t);
}

int main(void)
{
	test_hand_made();
	test_debug_frame();
	test_not_elf();
	test_cache();
	test_real_files();
	UNIT_DONE();
}
