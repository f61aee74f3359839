/*
 * Unit tests of the .eh_frame CFI reader and interpreter (user/native/cfi.c,
 * dwexpr.c, dwread.c) on hand-written CIE/FDE bytes with known rules, and on
 * truncated or malformed ones that must be rejected.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "native/cfi.h"
#include "native/dwarf.h"
#include "native/dwread.h"
#include "target/memsrc.h"
#include "ehbuf.h"
#include "unit.h"

#define EH_ADDR 0x1000u     /* link-time address of the section */
#define FN      0x2000u     /* the function the FDE covers */
#define FN_LEN  0x20u


struct cie_opts {
	uint8_t version;            /* 1 by default */
	const char *aug;            /* "zR" by default */
	uint8_t ra;                 /* 16 by default */
};

/*
 * A CIE ("zR", code alignment 1, data alignment -8, pc fields pcrel|sdata4)
 * with cie instructions, then one FDE for [FN, FN + FN_LEN) with fde
 * instructions, then the zero terminator.
 */
static void build(struct buf *b, const struct cie_opts *o, const uint8_t *cie, size_t ncie, const uint8_t *fde,
		  size_t nfde)
{
	const char *aug = o && o->aug ? o->aug : "zR";
	size_t cie_start = b->n = 0;

	u32(b, 0);
	u32(b, EH_CIE_ID);
	u8(b, o && o->version ? o->version : 1);
	put(b, aug, strlen(aug) + 1);
	u8(b, 1);                   /* code alignment factor */
	u8(b, 0x78);                /* data alignment factor: sleb128 -8 */
	u8(b, o && o->ra ? o->ra : CFI_REG_RA);
	if (aug[0] == 'z') {
		u8(b, 1);           /* augmentation data length */
		u8(b, DW_EH_PE_pcrel | DW_EH_PE_sdata4);
	}
	put(b, cie, ncie);
	close_entry(b, cie_start);

	size_t fde_start = b->n;

	u32(b, 0);
	u32(b, (uint32_t)(b->n - cie_start)); /* back from this field to the CIE */
	u32(b, (uint32_t)(int32_t)(FN - (EH_ADDR + b->n)));
	u32(b, FN_LEN);
	if (aug[0] == 'z')
		u8(b, 0);
	put(b, fde, nfde);
	close_entry(b, fde_start);
	u32(b, 0);
}

static const uint8_t CIE_X86_64[] = {
	DW_CFA_def_cfa, CFI_REG_RSP, 8,          /* CFA = rsp + 8 */
	DW_CFA_offset | CFI_REG_RA, 1,           /* return address at CFA - 8 */
};

/* push rbp (1 byte); mov rbp, rsp (3 bytes); ...; pop rbp at FN + 0x10. */
static const uint8_t FDE_PROLOGUE[] = {
	DW_CFA_advance_loc | 1,
	DW_CFA_def_cfa_offset, 16,               /* CFA = rsp + 16 */
	DW_CFA_offset | CFI_REG_RBP, 2,          /* rbp saved at CFA - 16 */
	DW_CFA_advance_loc | 3,
	DW_CFA_def_cfa_register, CFI_REG_RBP,    /* CFA = rbp + 16 */
	DW_CFA_advance_loc | 13,
	DW_CFA_def_cfa, CFI_REG_RSP, 8,          /* after pop rbp: rsp + 8 */
};

static struct eh_frame eh_of(const struct buf *b)
{
	return (struct eh_frame){ b->b, b->n, EH_ADDR };
}

/* The row at pc of the one FDE of b, or the status that stopped it. */
static enum cfi_status row_at(const struct buf *b, uint64_t pc, struct cfi_row *row, struct cfi_cie *ci)
{
	struct eh_frame eh = eh_of(b);
	struct cfi_fde *fdes = NULL;
	size_t n = 0;
	enum cfi_status st = CFI_MALFORMED;

	if (cfi_index(&eh, &fdes, &n) == 0 && n == 1)
		st = cfi_find_row(&eh, &fdes[0], pc, row, ci);
	free(fdes);
	return st;
}

static void test_index(void)
{
	struct buf b;
	struct cfi_fde *fdes = NULL;
	size_t n = 0;

	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), FDE_PROLOGUE, sizeof(FDE_PROLOGUE));
	struct eh_frame eh = eh_of(&b);

	CHECK_EQ_INT(cfi_index(&eh, &fdes, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (n != 1)
		return;
	CHECK_EQ_INT(fdes[0].lo, FN);
	CHECK_EQ_INT(fdes[0].hi, FN + FN_LEN);
	CHECK(cfi_find_fde(fdes, n, FN) == &fdes[0]);
	CHECK(cfi_find_fde(fdes, n, FN + FN_LEN - 1) == &fdes[0]);
	CHECK(cfi_find_fde(fdes, n, FN + FN_LEN) == NULL);
	CHECK(cfi_find_fde(fdes, n, FN - 1) == NULL);

	struct cfi_cie ci;

	CHECK(cfi_parse_cie(&eh, 0, &ci));
	CHECK_EQ_INT(ci.code_align, 1);
	CHECK_EQ_INT(ci.data_align, -8);
	CHECK_EQ_INT(ci.ra_reg, CFI_REG_RA);
	CHECK_EQ_INT(ci.fde_enc, DW_EH_PE_pcrel | DW_EH_PE_sdata4);
	CHECK(!cfi_parse_cie(&eh, fdes[0].off, &ci)); /* an FDE is no CIE */
	free(fdes);
}

/* The classic prologue: the CFA and the saved rbp move as the code runs. */
static void test_prologue_rows(void)
{
	struct buf b;
	struct cfi_row row;
	struct cfi_cie ci;

	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), FDE_PROLOGUE, sizeof(FDE_PROLOGUE));
	CHECK_EQ_INT(row_at(&b, FN, &row, &ci), CFI_OK);
	CHECK(!row.cfa_expr);
	CHECK_EQ_INT(row.cfa_reg, CFI_REG_RSP);
	CHECK_EQ_INT(row.cfa_off, 8);
	CHECK_EQ_INT(row.r[CFI_REG_RA].kind, RULE_OFFSET);
	CHECK_EQ_INT(row.r[CFI_REG_RA].off, -8);
	CHECK_EQ_INT(row.r[CFI_REG_RBP].kind, RULE_SAME);

	CHECK_EQ_INT(row_at(&b, FN + 1, &row, &ci), CFI_OK);
	CHECK_EQ_INT(row.cfa_reg, CFI_REG_RSP);
	CHECK_EQ_INT(row.cfa_off, 16);
	CHECK_EQ_INT(row.r[CFI_REG_RBP].kind, RULE_OFFSET);
	CHECK_EQ_INT(row.r[CFI_REG_RBP].off, -16);

	CHECK_EQ_INT(row_at(&b, FN + 3, &row, &ci), CFI_OK); /* inside mov rbp, rsp */
	CHECK_EQ_INT(row.cfa_reg, CFI_REG_RSP);

	CHECK_EQ_INT(row_at(&b, FN + 4, &row, &ci), CFI_OK);
	CHECK_EQ_INT(row.cfa_reg, CFI_REG_RBP);
	CHECK_EQ_INT(row.cfa_off, 16);

	CHECK_EQ_INT(row_at(&b, FN + 0x10, &row, &ci), CFI_OK);
	CHECK_EQ_INT(row.cfa_reg, CFI_REG_RBP);
	CHECK_EQ_INT(row_at(&b, FN + 0x11, &row, &ci), CFI_OK);
	CHECK_EQ_INT(row.cfa_reg, CFI_REG_RSP);
	CHECK_EQ_INT(row.cfa_off, 8);
	CHECK_EQ_INT(row.r[CFI_REG_RBP].kind, RULE_OFFSET); /* the FDE never restores it */
}

/* A stack of 64-bit words at STACK. */
#define STACK 0x7000u
#define STACK_WORDS 32

static size_t stack_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	const uint64_t *words = m->ctx;

	if (addr < STACK || addr >= STACK + STACK_WORDS * 8)
		return 0;
	size_t avail = STACK + STACK_WORDS * 8 - addr;

	if (len > avail)
		len = avail;
	memcpy(buf, (const uint8_t *)words + (addr - STACK), len);
	return len;
}

static uint64_t stack_words[STACK_WORDS];

static struct memsrc stack_src(void)
{
	return (struct memsrc){ .read = stack_read, .ctx = stack_words };
}

static void set_reg(struct cfi_regs *rs, int r, uint64_t v)
{
	rs->v[r] = v;
	rs->known[r] = true;
}

/* One step: the caller's registers from rs at pc, or the status. */
static enum cfi_status step(const struct buf *b, uint64_t pc, const struct cfi_regs *rs, struct cfi_regs *out,
			    uint64_t *bad)
{
	struct memsrc mem = stack_src();
	struct cfi_row row;
	struct cfi_cie ci;
	uint64_t cfa = 0;
	enum cfi_status st = row_at(b, pc, &row, &ci);

	if (st == CFI_OK)
		st = cfi_frame_address(&row, rs, &mem, &cfa);
	if (st == CFI_OK)
		st = cfi_apply_rules(&row, &ci, cfa, rs, &mem, out, bad);
	return st;
}

static void test_step(void)
{
	struct buf b;
	struct cfi_regs rs, out;
	uint64_t bad = 0;

	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), FDE_PROLOGUE, sizeof(FDE_PROLOGUE));
	memset(stack_words, 0, sizeof(stack_words));
	stack_words[2] = 0x7100;    /* saved rbp at 0x7010 */
	stack_words[3] = 0x4444;    /* return address at 0x7018 */

	/* At the entry: rsp points at the return address. */
	memset(&rs, 0, sizeof(rs));
	set_reg(&rs, CFI_REG_RA, FN);
	set_reg(&rs, CFI_REG_RSP, STACK + 0x18);
	set_reg(&rs, CFI_REG_RBP, 0x5555);
	CHECK_EQ_INT(step(&b, FN, &rs, &out, &bad), CFI_OK);
	CHECK_EQ_INT(out.v[CFI_REG_RA], 0x4444);
	CHECK_EQ_INT(out.v[CFI_REG_RSP], STACK + 0x20);
	CHECK_EQ_INT(out.v[CFI_REG_RBP], 0x5555);

	/* In the body: rbp is the frame, rsp anywhere below. */
	set_reg(&rs, CFI_REG_RA, FN + 8);
	set_reg(&rs, CFI_REG_RSP, STACK);
	set_reg(&rs, CFI_REG_RBP, STACK + 0x10);
	CHECK_EQ_INT(step(&b, FN + 8, &rs, &out, &bad), CFI_OK);
	CHECK_EQ_INT(out.v[CFI_REG_RA], 0x4444);
	CHECK_EQ_INT(out.v[CFI_REG_RSP], STACK + 0x20);
	CHECK_EQ_INT(out.v[CFI_REG_RBP], 0x7100);
	CHECK(out.known[CFI_REG_RBP]);

	/* The return address outside readable memory. */
	set_reg(&rs, CFI_REG_RSP, 0x9000);
	CHECK_EQ_INT(step(&b, FN, &rs, &out, &bad), CFI_RA_UNREADABLE);
	CHECK_EQ_INT(bad, 0x9000);

	/* The CFA's register not known (a live thread gives rsp and pc only). */
	rs.known[CFI_REG_RBP] = false;
	CHECK_EQ_INT(step(&b, FN + 8, &rs, &out, &bad), CFI_NO_CFA_REG);
}

static void test_expressions_and_outermost(void)
{
	struct buf b;
	struct cfi_regs rs, out;
	uint64_t bad = 0;
	/* CFA = rsp + 8 by expression; rbp at CFA - 16 by expression (the
	 * CFA is pushed first); rbx = CFA - 24 as a value. */
	static const uint8_t expr_fde[] = {
		DW_CFA_def_cfa_expression, 2, DW_OP_breg0 + CFI_REG_RSP, 8,
		DW_CFA_expression, CFI_REG_RBP, 2, DW_OP_lit0 + 16, DW_OP_minus,
		DW_CFA_val_expression, CFI_REG_RBX, 3, DW_OP_const1u, 24, DW_OP_minus,
	};

	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), expr_fde, sizeof(expr_fde));
	memset(stack_words, 0, sizeof(stack_words));
	stack_words[2] = 0x7100;
	stack_words[3] = 0x4444;
	memset(&rs, 0, sizeof(rs));
	set_reg(&rs, CFI_REG_RA, FN + 4);
	set_reg(&rs, CFI_REG_RSP, STACK + 0x18);
	CHECK_EQ_INT(step(&b, FN + 4, &rs, &out, &bad), CFI_OK);
	CHECK_EQ_INT(out.v[CFI_REG_RA], 0x4444);
	CHECK_EQ_INT(out.v[CFI_REG_RSP], STACK + 0x20);
	CHECK_EQ_INT(out.v[CFI_REG_RBP], 0x7100);
	CHECK_EQ_INT(out.v[CFI_REG_RBX], STACK + 0x20 - 24);

	/* _start and clone3 mark the end of the stack: return address undefined. */
	static const uint8_t outermost[] = { DW_CFA_undefined, CFI_REG_RA };

	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), outermost, sizeof(outermost));
	CHECK_EQ_INT(step(&b, FN, &rs, &out, &bad), CFI_OUTERMOST);

	/* remember/restore state around an epilogue. */
	static const uint8_t states[] = {
		DW_CFA_def_cfa_offset, 16, DW_CFA_remember_state, DW_CFA_advance_loc | 4,
		DW_CFA_def_cfa_offset, 8, DW_CFA_advance_loc | 1, DW_CFA_restore_state,
	};
	struct cfi_row row;
	struct cfi_cie ci;

	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), states, sizeof(states));
	CHECK_EQ_INT(row_at(&b, FN + 4, &row, &ci), CFI_OK);
	CHECK_EQ_INT(row.cfa_off, 8);
	CHECK_EQ_INT(row_at(&b, FN + 5, &row, &ci), CFI_OK);
	CHECK_EQ_INT(row.cfa_off, 16);
}

/* Every prefix of a good section: no FDE until the FDE is whole, no crash. */
static void test_truncated(void)
{
	struct buf b;
	int bad = 0;

	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), FDE_PROLOGUE, sizeof(FDE_PROLOGUE));
	size_t full = b.n - 4; /* without the terminator */

	for (size_t len = 0; len < full; len++) {
		struct eh_frame eh = { b.b, len, EH_ADDR };
		struct cfi_fde *fdes = NULL;
		size_t n = 0;

		cfi_index(&eh, &fdes, &n);
		bad += n != 0;
		free(fdes);
	}
	CHECK_EQ_INT(bad, 0);
}

static enum cfi_status status_of(const struct cie_opts *o, const uint8_t *fde, size_t nfde)
{
	struct buf b;
	struct cfi_row row;
	struct cfi_cie ci;

	build(&b, o, CIE_X86_64, sizeof(CIE_X86_64), fde, nfde);
	return row_at(&b, FN + 8, &row, &ci);
}

static void test_rejected(void)
{
	struct buf b;
	struct cfi_fde *fdes = NULL;
	size_t n = 7;

	/* CIEs pyperf cannot read: the FDE is not indexed. */
	CHECK_EQ_INT(status_of(&(struct cie_opts){ .version = 2 }, NULL, 0), CFI_MALFORMED);
	CHECK_EQ_INT(status_of(&(struct cie_opts){ .aug = "xy" }, NULL, 0), CFI_MALFORMED);
	CHECK_EQ_INT(status_of(&(struct cie_opts){ .ra = CFI_NREGS }, NULL, 0), CFI_MALFORMED);

	/* 64-bit DWARF length: the section is not read at all. */
	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), NULL, 0);
	memset(b.b, 0xff, 4);
	struct eh_frame eh = eh_of(&b);

	CHECK_EQ_INT(cfi_index(&eh, &fdes, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(fdes);

	/* Instructions that cannot be followed: unsupported, not guessed. */
	static const uint8_t unknown_op[] = { 0x3f };
	static const uint8_t underflow[] = { DW_CFA_restore_state };
	static const uint8_t overflow[] = {
		DW_CFA_remember_state, DW_CFA_remember_state, DW_CFA_remember_state, DW_CFA_remember_state,
		DW_CFA_remember_state, DW_CFA_remember_state, DW_CFA_remember_state, DW_CFA_remember_state,
		DW_CFA_remember_state,
	};
	static const uint8_t long_expr[] = { DW_CFA_def_cfa_expression, 100, DW_OP_nop };
	static const uint8_t cut_leb[] = { DW_CFA_def_cfa_offset, 0x80, 0x80, 0x80 };

	CHECK_EQ_INT(status_of(NULL, unknown_op, sizeof(unknown_op)), CFI_UNSUPPORTED);
	CHECK_EQ_INT(status_of(NULL, underflow, sizeof(underflow)), CFI_UNSUPPORTED);
	CHECK_EQ_INT(status_of(NULL, overflow, sizeof(overflow)), CFI_UNSUPPORTED);
	CHECK_EQ_INT(status_of(NULL, long_expr, sizeof(long_expr)), CFI_UNSUPPORTED);
	/* 0x80 continues the number into the padding nops (zero bytes), which
	 * end it: a valid, if odd, offset. With no padding after it (the FDE
	 * header is 17 bytes: 7 bytes of instructions fill it to 24) it is cut. */
	static const uint8_t cut_end[] = { DW_CFA_def_cfa_offset, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 };

	CHECK_EQ_INT(status_of(NULL, cut_leb, sizeof(cut_leb)), CFI_OK);
	CHECK_EQ_INT(status_of(NULL, cut_end, sizeof(cut_end)), CFI_UNSUPPORTED);
}

/*
 * Factored offsets from hostile bytes: operand times data alignment past
 * 64 bits was signed overflow (undefined; UBSan aborts this test). It
 * wraps now, like the address arithmetic it feeds.
 */
static void test_factored_overflow(void)
{
	static const uint8_t huge_uleb[] = {
		DW_CFA_offset | CFI_REG_RBP, 0x9c, 0x9c, 0x9c, 0x9c, 0x9c, 0x9c, 0x9c, 0x9c, 0x1c,
	};
	static const uint8_t huge_negative[] = {
		DW_CFA_GNU_negative_offset_extended, CFI_REG_RBP, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		0x80, 0x01,
	};
	static const uint8_t huge_sleb[] = {
		DW_CFA_def_cfa_sf, CFI_REG_RSP, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f,
	};
	struct buf b;
	struct cfi_row row;
	struct cfi_cie ci;

	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), huge_uleb, sizeof(huge_uleb));
	CHECK_EQ_INT(row_at(&b, FN, &row, &ci), CFI_OK);
	CHECK_EQ_INT(row.r[CFI_REG_RBP].kind, RULE_OFFSET);
	CHECK((uint64_t)row.r[CFI_REG_RBP].off == 0x1e3c78f1e3c78f20ull); /* 0x1c3870e1c3870e1c * -8 */
	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), huge_negative, sizeof(huge_negative));
	CHECK_EQ_INT(row_at(&b, FN, &row, &ci), CFI_OK);
	CHECK_EQ_INT((uint64_t)row.r[CFI_REG_RBP].off, 0); /* -(2^63) * -8 wraps to 0 */
	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), huge_sleb, sizeof(huge_sleb));
	CHECK_EQ_INT(row_at(&b, FN, &row, &ci), CFI_OK);
	CHECK_EQ_INT((uint64_t)row.cfa_off, 0);
}

/*
 * An entry whose length (2) does not cover its own id: its body started
 * after its end, and the FDE reader then read past the section (ASan
 * aborts this test on a section allocated to its exact size).
 */
static void test_entry_shorter_than_id(void)
{
	struct buf b;
	struct cfi_fde *fdes = NULL;
	size_t n = 7;

	build(&b, NULL, CIE_X86_64, sizeof(CIE_X86_64), NULL, 0);
	uint32_t cie_len;

	memcpy(&cie_len, b.b, 4);
	b.n = (size_t)cie_len + 4;  /* the CIE alone */
	u32(&b, 2);                 /* an FDE of length 2 ... */
	u32(&b, (uint32_t)b.n);     /* ... with an id pointing back to the CIE */
	uint8_t *exact = malloc(b.n);

	if (!exact)
		return;
	memcpy(exact, b.b, b.n);
	struct eh_frame eh = { exact, b.n, EH_ADDR };

	CHECK_EQ_INT(cfi_index(&eh, &fdes, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(fdes);
	free(exact);
}

static void test_readers(void)
{
	static const uint8_t leb[] = { 0xe5, 0x8e, 0x26, 0x7f, 0x80, 0x7f };
	struct dw_cur c = { leb, leb + sizeof(leb), false };

	CHECK_EQ_INT(dw_read_uleb(&c), 624485);
	CHECK_EQ_INT(dw_read_sleb(&c), -1);
	CHECK_EQ_INT(dw_read_sleb(&c), -128);
	CHECK(!c.err);
	CHECK_EQ_INT(dw_read_n(&c, 1), 0);
	CHECK(c.err);

	static const uint8_t enc[] = { 0xfc, 0xff, 0xff, 0xff };
	struct dw_cur e = { enc, enc + 4, false };

	CHECK_EQ_INT(dw_read_encoded(&e, DW_EH_PE_pcrel | DW_EH_PE_sdata4, 0x1000), 0x1000 - 4);
	CHECK(!e.err);
	e = (struct dw_cur){ enc, enc + 4, false };
	dw_read_encoded(&e, DW_EH_PE_datarel | DW_EH_PE_sdata4, 0);
	CHECK(e.err);
	e = (struct dw_cur){ enc, enc + 4, false };
	dw_read_encoded(&e, DW_EH_PE_udata8, 0);
	CHECK(e.err);
}

int main(void)
{
	test_readers();
	test_index();
	test_prologue_rows();
	test_step();
	test_expressions_and_outermost();
	test_truncated();
	test_rejected();
	test_factored_overflow();
	test_entry_shorter_than_id();
	UNIT_DONE();
}
