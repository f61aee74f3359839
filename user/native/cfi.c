/*
 * .eh_frame call frame information (see cfi.h): CIE and FDE parsing, the
 * FDE index, the interpreter of CFA instructions, and one unwind step's
 * three parts (find the row, compute the CFA, apply the register rules).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "native/cfi.h"
#include "native/dwarf.h"
#include "native/dwexpr.h"
#include "native/dwread.h"
#include "native/vec.h"
#include "util/ranges.h"
#include "util/u64map.h"

#define MAX_FDES (4u << 20)
#define CFI_STACK 8           /* DW_CFA_remember_state depth */
#define CFI_MAX_STEPS 100000  /* CFA instructions run per frame */

/* ------------------------------------------------------------ CIE/FDE */

static uint64_t eh_addr_of(const struct eh_frame *eh, const uint8_t *p)
{
	return eh->addr + (uint64_t)(p - eh->data);
}

/* Parses the entry at off: its body [*body, *end), its id and where the
 * id sits (an FDE's id is the distance back to its CIE from there). */
static bool entry_at(const struct eh_frame *eh, uint64_t off, const uint8_t **body, const uint8_t **end,
		     uint32_t *id, const uint8_t **id_pos)
{
	if (off > eh->len || eh->len - off < 4)
		return false;
	struct dw_cur c = { eh->data + off, eh->data + eh->len, false };
	uint64_t len = dw_read_n(&c, 4);

	if (len == EH_LEN_DWARF64 || len == 0) /* 64-bit DWARF is not emitted for .eh_frame */
		return false;
	/* The length covers the id: shorter, the body would start past the end. */
	if (len < 4 || len > (uint64_t)(c.end - c.p))
		return false;
	*end = c.p + len;
	*id_pos = c.p;
	*id = (uint32_t)dw_read_n(&c, 4);
	*body = c.p;
	return !c.err;
}

/* The augmentation data of a "z" CIE, as the letters after 'z' say. */
static bool parse_augmentation(const struct eh_frame *eh, const char *aug, struct dw_cur *a, struct cfi_cie *out)
{
	for (const char *q = aug + 1; *q && !a->err; q++) {
		switch (*q) {
		case 'L': dw_read_n(a, 1); break;
		case 'R': out->fde_enc = (uint8_t)dw_read_n(a, 1); break;
		case 'P': {
			uint8_t penc = (uint8_t)dw_read_n(a, 1);

			/* The personality pointer: read (without following
			 * an indirect one) and dropped. */
			dw_read_encoded(a, penc & (uint8_t)~DW_EH_PE_indirect, eh_addr_of(eh, a->p));
			break;
		}
		case 'S': out->signal_frame = true; break;
		case 'B': break;
		default: a->err = true; break;
		}
	}
	return !a->err;
}

bool cfi_parse_cie(const struct eh_frame *eh, uint64_t off, struct cfi_cie *out)
{
	const uint8_t *body, *end, *id_pos;
	uint32_t id;

	memset(out, 0, sizeof(*out));
	if (!entry_at(eh, off, &body, &end, &id, &id_pos) || id != EH_CIE_ID)
		return false;
	struct dw_cur c = { body, end, false };
	uint8_t version = (uint8_t)dw_read_n(&c, 1);
	const char *aug = (const char *)c.p;
	const uint8_t *nul = c.err ? NULL : memchr(c.p, '\0', (size_t)(c.end - c.p));

	if (!nul || (version != 1 && version != 3))
		return false;
	c.p = nul + 1;
	if (strstr(aug, "eh"))
		dw_read_n(&c, 8);
	out->code_align = dw_read_uleb(&c);
	out->data_align = dw_read_sleb(&c);
	out->ra_reg = version == 1 ? (uint8_t)dw_read_n(&c, 1) : (uint8_t)dw_read_uleb(&c);
	if (aug[0] == 'z') {
		uint64_t alen = dw_read_uleb(&c);

		if (c.err || alen > (uint64_t)(c.end - c.p))
			return false;
		struct dw_cur a = { c.p, c.p + alen, false };

		/* A letter not known ends the reading of the data, not the
		 * CIE: the length above still finds the instructions. */
		parse_augmentation(eh, aug, &a, out);
		out->has_aug_data = true;
		c.p += alen;
	} else if (aug[0] != '\0') {
		return false; /* unknown augmentation: cannot find the instructions */
	}
	if (c.err || out->ra_reg >= CFI_NREGS)
		return false;
	out->insns = c.p;
	out->insns_end = end;
	return true;
}

static int cmp_fde(const void *a, const void *b)
{
	const struct cfi_fde *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* The FDE encoding of the CIE at cie_off + 1, 0 when it does not parse;
 * remembered in cies, as many FDEs share one CIE. -ENOMEM, or 0. */
static int cie_encoding(const struct eh_frame *eh, struct u64map *cies, uint64_t cie_off, uint64_t *enc1)
{
	const uint64_t *slot = u64map_get(cies, cie_off);
	struct cfi_cie ci;

	if (slot) {
		*enc1 = *slot;
		return 0;
	}
	*enc1 = cfi_parse_cie(eh, cie_off, &ci) ? (uint64_t)ci.fde_enc + 1 : 0;
	return u64map_put(cies, cie_off, *enc1);
}

/* The pc range of the FDE body [body, end); false when it has none. */
static bool fde_range(const struct eh_frame *eh, const uint8_t *body, const uint8_t *end, uint8_t enc,
		      uint64_t *lo, uint64_t *hi)
{
	struct dw_cur c = { body, end, false };
	uint64_t start = dw_read_encoded(&c, enc, eh_addr_of(eh, c.p));
	uint64_t range = dw_read_encoded(&c, enc & DW_EH_PE_FORMAT_MASK, 0);

	if (c.err || !range || start + range < start)
		return false;
	*lo = start;
	*hi = start + range;
	return true;
}

int cfi_index(const struct eh_frame *eh, struct cfi_fde **fdes_out, size_t *nfdes_out)
{
	struct u64map cies; /* CIE offset -> fde_enc + 1 (0 = bad) */
	struct cfi_fde *fdes = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	u64map_init(&cies);
	for (uint64_t off = 0; off + 8 <= eh->len;) {
		const uint8_t *body, *end, *id_pos;
		uint32_t id;
		uint64_t enc1, lo, hi;

		if (!entry_at(eh, off, &body, &end, &id, &id_pos))
			break;
		uint64_t next = (uint64_t)(end - eh->data), id_off = (uint64_t)(id_pos - eh->data);

		if (id != EH_CIE_ID && id <= id_off) {
			err = cie_encoding(eh, &cies, id_off - id, &enc1);
			if (err)
				break;
			if (enc1 && fde_range(eh, body, end, (uint8_t)(enc1 - 1), &lo, &hi)) {
				if (n == cap) {
					struct cfi_fde *g = vec_grow(fdes, &cap, sizeof(*fdes), MAX_FDES);

					if (!g) {
						err = cap < MAX_FDES ? -ENOMEM : 0;
						break;
					}
					fdes = g;
				}
				fdes[n++] = (struct cfi_fde){ lo, hi, (uint32_t)off };
			}
		}
		off = next;
	}
	u64map_free(&cies);
	if (n)
		qsort(fdes, n, sizeof(*fdes), cmp_fde);
	*fdes_out = fdes;
	*nfdes_out = n;
	return err;
}

const struct cfi_fde *cfi_find_fde(const struct cfi_fde *fdes, size_t nfdes, uint64_t pc)
{
	size_t lo = ranges_upper(fdes, nfdes, sizeof(*fdes), offsetof(struct cfi_fde, lo), pc);

	/* Ranges do not nest; the closest start below pc is the candidate. */
	return lo && pc < fdes[lo - 1].hi ? &fdes[lo - 1] : NULL;
}

/* ------------------------------------------------------ CFA instructions */

/* The interpreter's state while it runs one instruction sequence. */
struct cfi_state {
	const struct eh_frame *eh;
	const struct cfi_cie *ci;
	struct dw_cur c;
	uint64_t loc, pc;
	struct cfi_row *row;
	const struct cfi_row *initial;
	struct cfi_row saved[CFI_STACK];
	int depth;
	cfi_span_fn each;           /* cfi_run_spans: told of each span of one row */
	void *each_ctx;
};

/* What one instruction did: it was not of the family asked, it is done,
 * the rows cannot be known (stop: unsupported), the location passed pc. */
enum op_result { OP_NOT_MINE, OP_DONE, OP_FAIL, OP_PAST_PC };

/* DW_CFA_advance_loc*, DW_CFA_set_loc. */
static enum op_result location_op(struct cfi_state *s, uint8_t op)
{
	uint64_t from = s->loc;

	if ((op & DW_CFA_HIGH_MASK) == DW_CFA_advance_loc) {
		s->loc += (uint64_t)(op & DW_CFA_LOW_MASK) * s->ci->code_align;
	} else if (op == DW_CFA_set_loc) {
		s->loc = dw_read_encoded(&s->c, s->ci->fde_enc, eh_addr_of(s->eh, s->c.p));
	} else if (op == DW_CFA_advance_loc1 || op == DW_CFA_advance_loc2 || op == DW_CFA_advance_loc4) {
		size_t n = op == DW_CFA_advance_loc1 ? 1 : op == DW_CFA_advance_loc2 ? 2 : 4;

		s->loc += dw_read_n(&s->c, n) * s->ci->code_align;
	} else {
		return OP_NOT_MINE;
	}
	/* A location that could not be read is not past pc: nothing after
	 * the current location is known. */
	if (s->c.err)
		return OP_FAIL;
	if (s->each && s->loc != from && !s->each(s->each_ctx, from, s->loc, s->row))
		return OP_FAIL;
	return s->loc > s->pc ? OP_PAST_PC : OP_DONE;
}

/* Factored offsets: operand times the CIE's data alignment, wrapping at
 * 64 bits like the address arithmetic the result feeds (hostile operands
 * would overflow a signed product). */
static int64_t factored(const struct cfi_state *s, uint64_t v)
{
	return (int64_t)(v * (uint64_t)s->ci->data_align);
}

/* The rule a register had after the CIE's instructions (DW_CFA_restore). */
static struct cfi_rule initial_rule(const struct cfi_state *s, uint64_t reg)
{
	if (s->initial && reg < CFI_NREGS)
		return s->initial->r[reg];
	return (struct cfi_rule){ .kind = RULE_SAME };
}

/* A rule whose operand is a DWARF expression (length, bytes). */
static enum op_result expr_rule(struct cfi_state *s, uint8_t kind, struct cfi_rule *rule)
{
	uint64_t len = dw_read_uleb(&s->c);

	if (s->c.err || len > (uint64_t)(s->c.end - s->c.p))
		return OP_FAIL;
	*rule = (struct cfi_rule){ .kind = kind, .expr = s->c.p, .expr_len = (size_t)len };
	s->c.p += len;
	return OP_DONE;
}

/* Instructions that set one register's rule. */
static enum op_result register_op(struct cfi_state *s, uint8_t op)
{
	struct dw_cur *c = &s->c;
	struct cfi_rule rule = { .kind = RULE_SAME };
	uint64_t reg, r2;
	enum op_result res = OP_DONE;

	if ((op & DW_CFA_HIGH_MASK) == DW_CFA_offset || (op & DW_CFA_HIGH_MASK) == DW_CFA_restore) {
		reg = op & DW_CFA_LOW_MASK;
		op &= DW_CFA_HIGH_MASK;
	} else {
		switch (op) {
		case DW_CFA_offset_extended: case DW_CFA_restore_extended: case DW_CFA_undefined:
		case DW_CFA_same_value: case DW_CFA_register: case DW_CFA_expression:
		case DW_CFA_val_expression: case DW_CFA_offset_extended_sf: case DW_CFA_val_offset:
		case DW_CFA_val_offset_sf: case DW_CFA_GNU_negative_offset_extended:
			reg = dw_read_uleb(c);
			break;
		default:
			return OP_NOT_MINE;
		}
	}
	switch (op) {
	case DW_CFA_offset: case DW_CFA_offset_extended:
		rule = (struct cfi_rule){ .kind = RULE_OFFSET, .off = factored(s, dw_read_uleb(c)) };
		break;
	case DW_CFA_offset_extended_sf:
		rule = (struct cfi_rule){ .kind = RULE_OFFSET, .off = factored(s, (uint64_t)dw_read_sleb(c)) };
		break;
	case DW_CFA_GNU_negative_offset_extended:
		rule = (struct cfi_rule){ .kind = RULE_OFFSET, .off = factored(s, 0 - dw_read_uleb(c)) };
		break;
	case DW_CFA_val_offset:
		rule = (struct cfi_rule){ .kind = RULE_VAL_OFFSET, .off = factored(s, dw_read_uleb(c)) };
		break;
	case DW_CFA_val_offset_sf:
		rule = (struct cfi_rule){ .kind = RULE_VAL_OFFSET, .off = factored(s, (uint64_t)dw_read_sleb(c)) };
		break;
	case DW_CFA_restore: case DW_CFA_restore_extended:
		rule = initial_rule(s, reg);
		break;
	case DW_CFA_undefined:
		rule.kind = RULE_UNDEF;
		break;
	case DW_CFA_same_value:
		break;
	case DW_CFA_register:
		r2 = dw_read_uleb(c);
		rule = (struct cfi_rule){ .kind = r2 < CFI_NREGS ? RULE_REG : RULE_UNDEF, .reg = (uint8_t)r2 };
		break;
	default: /* DW_CFA_expression, DW_CFA_val_expression */
		res = expr_rule(s, op == DW_CFA_expression ? RULE_EXPR : RULE_VAL_EXPR, &rule);
		break;
	}
	if (res == OP_DONE && reg < CFI_NREGS)
		s->row->r[reg] = rule;
	return res;
}

/* Instructions that define the CFA. */
static enum op_result cfa_op(struct cfi_state *s, uint8_t op)
{
	struct dw_cur *c = &s->c;
	struct cfi_row *row = s->row;
	uint64_t len;

	switch (op) {
	case DW_CFA_def_cfa:
		row->cfa_reg = (uint8_t)dw_read_uleb(c);
		row->cfa_off = (int64_t)dw_read_uleb(c);
		row->cfa_expr = false;
		break;
	case DW_CFA_def_cfa_sf:
		row->cfa_reg = (uint8_t)dw_read_uleb(c);
		row->cfa_off = factored(s, (uint64_t)dw_read_sleb(c));
		row->cfa_expr = false;
		break;
	case DW_CFA_def_cfa_register:
		row->cfa_reg = (uint8_t)dw_read_uleb(c);
		row->cfa_expr = false;
		break;
	case DW_CFA_def_cfa_offset:
		row->cfa_off = (int64_t)dw_read_uleb(c);
		break;
	case DW_CFA_def_cfa_offset_sf:
		row->cfa_off = factored(s, (uint64_t)dw_read_sleb(c));
		break;
	case DW_CFA_def_cfa_expression:
		len = dw_read_uleb(c);
		if (c->err || len > (uint64_t)(c->end - c->p))
			return OP_FAIL;
		row->cfa_expr = true;
		row->expr = c->p;
		row->expr_len = (size_t)len;
		c->p += len;
		break;
	default:
		return OP_NOT_MINE;
	}
	return OP_DONE;
}

/* DW_CFA_remember_state, DW_CFA_restore_state and the instructions that
 * change no rule. */
static enum op_result other_op(struct cfi_state *s, uint8_t op)
{
	switch (op) {
	case DW_CFA_nop:
		return OP_DONE;
	case DW_CFA_remember_state:
		if (s->depth >= CFI_STACK)
			return OP_FAIL;
		s->saved[s->depth++] = *s->row;
		return OP_DONE;
	case DW_CFA_restore_state:
		if (s->depth <= 0)
			return OP_FAIL;
		*s->row = s->saved[--s->depth];
		return OP_DONE;
	case DW_CFA_GNU_args_size:
		dw_read_uleb(&s->c);
		return OP_DONE;
	default:
		return OP_FAIL; /* an instruction we do not know: do not guess */
	}
}

static bool run(struct cfi_state *s)
{
	int steps = 0;

	for (; s->c.p < s->c.end && !s->c.err && steps < CFI_MAX_STEPS; steps++) {
		uint8_t op = (uint8_t)dw_read_n(&s->c, 1);
		enum op_result r = location_op(s, op);

		if (r == OP_NOT_MINE)
			r = register_op(s, op);
		if (r == OP_NOT_MINE)
			r = cfa_op(s, op);
		if (r == OP_NOT_MINE)
			r = other_op(s, op);
		if (r == OP_PAST_PC)
			return true;
		if (r == OP_FAIL)
			return false;
	}
	/* Out of steps with instructions left: the rows after are unknown. */
	return !s->c.err && s->c.p >= s->c.end;
}

bool cfi_run(const struct eh_frame *eh, const struct cfi_cie *ci, const uint8_t *p, const uint8_t *end,
	     uint64_t loc, uint64_t pc, struct cfi_row *row, const struct cfi_row *initial)
{
	struct cfi_state s = { .eh = eh, .ci = ci, .c = { p, end, false }, .loc = loc, .pc = pc,
			       .row = row, .initial = initial, .depth = 0 };

	return run(&s);
}

bool cfi_run_spans(const struct eh_frame *eh, const struct cfi_cie *ci, const uint8_t *p, const uint8_t *end,
		   uint64_t loc, struct cfi_row *row, const struct cfi_row *initial, cfi_span_fn each, void *ctx)
{
	struct cfi_state s = { .eh = eh, .ci = ci, .c = { p, end, false }, .loc = loc, .pc = UINT64_MAX,
			       .row = row, .initial = initial, .depth = 0, .each = each, .each_ctx = ctx };

	return run(&s);
}

/* ------------------------------------------------------ one unwind step */

enum cfi_status cfi_fde_program(const struct eh_frame *eh, const struct cfi_fde *f, struct cfi_cie *ci,
				const uint8_t **p, const uint8_t **end, uint64_t *loc)
{
	const uint8_t *body, *id_pos;
	uint32_t id;

	if (!entry_at(eh, f->off, &body, end, &id, &id_pos) || id == EH_CIE_ID ||
	    id > (uint64_t)(id_pos - eh->data) || !cfi_parse_cie(eh, (uint64_t)(id_pos - eh->data) - id, ci))
		return CFI_MALFORMED;
	struct dw_cur c = { body, *end, false };

	*loc = dw_read_encoded(&c, ci->fde_enc, eh_addr_of(eh, c.p));
	dw_read_encoded(&c, ci->fde_enc & DW_EH_PE_FORMAT_MASK, 0);
	if (ci->has_aug_data) {
		uint64_t alen = dw_read_uleb(&c);

		if (c.err || alen > (uint64_t)(c.end - c.p))
			return CFI_MALFORMED;
		c.p += alen;
	}
	*p = c.p;
	return c.err ? CFI_UNSUPPORTED : CFI_OK;
}

bool cfi_initial_row(const struct eh_frame *eh, const struct cfi_cie *ci, uint64_t loc, struct cfi_row *row)
{
	memset(row, 0, sizeof(*row));
	for (int i = 0; i < CFI_NREGS; i++)
		row->r[i].kind = RULE_SAME;
	/* The CIE's instructions apply from the start of the function. */
	return cfi_run(eh, ci, ci->insns, ci->insns_end, loc, UINT64_MAX, row, NULL);
}

enum cfi_status cfi_find_row(const struct eh_frame *eh, const struct cfi_fde *f, uint64_t pc, struct cfi_row *row,
			     struct cfi_cie *ci)
{
	const uint8_t *p, *end;
	uint64_t loc;
	enum cfi_status st = cfi_fde_program(eh, f, ci, &p, &end, &loc);
	struct cfi_row initial;

	if (st != CFI_OK)
		return st;
	if (!cfi_initial_row(eh, ci, loc, &initial))
		return CFI_UNSUPPORTED;
	*row = initial;
	if (!cfi_run(eh, ci, p, end, loc, pc, row, &initial))
		return CFI_UNSUPPORTED;
	return CFI_OK;
}

enum cfi_status cfi_frame_address(const struct cfi_row *row, const struct cfi_regs *rs, const struct memsrc *mem,
				  uint64_t *cfa)
{
	if (row->cfa_expr)
		return dwexpr_eval(mem, row->expr, row->expr_len, rs, NULL, cfa) ? CFI_OK : CFI_EXPR_FAILED;
	if (row->cfa_reg >= CFI_NREGS || !rs->known[row->cfa_reg])
		return CFI_NO_CFA_REG;
	*cfa = rs->v[row->cfa_reg] + (uint64_t)row->cfa_off;
	return CFI_OK;
}

/* Register r of the caller by rule ru into out; false only when the value
 * should be in memory at *addr and cannot be read there. */
static bool recover(const struct cfi_rule *ru, int r, uint64_t cfa, const struct cfi_regs *rs,
		    const struct memsrc *mem, struct cfi_regs *out, uint64_t *addr)
{
	uint64_t v;

	switch (ru->kind) {
	case RULE_SAME:
		return true;
	case RULE_UNDEF:
		out->known[r] = false;
		return true;
	case RULE_OFFSET:
		*addr = cfa + (uint64_t)ru->off;
		out->known[r] = memsrc_read_u64(mem, *addr, &v) == 0;
		if (out->known[r])
			out->v[r] = v;
		return out->known[r];
	case RULE_VAL_OFFSET:
		out->v[r] = cfa + (uint64_t)ru->off;
		out->known[r] = true;
		return true;
	case RULE_REG:
		out->v[r] = rs->v[ru->reg];
		out->known[r] = rs->known[ru->reg];
		return true;
	default: /* RULE_EXPR, RULE_VAL_EXPR */
		if (!dwexpr_eval(mem, ru->expr, ru->expr_len, rs, &cfa, addr)) {
			out->known[r] = false;
		} else if (ru->kind == RULE_VAL_EXPR) {
			out->v[r] = *addr;
			out->known[r] = true;
		} else {
			out->known[r] = memsrc_read_u64(mem, *addr, &v) == 0;
			if (out->known[r])
				out->v[r] = v;
		}
		return true;
	}
}

enum cfi_status cfi_apply_rules(const struct cfi_row *row, const struct cfi_cie *ci, uint64_t cfa,
				const struct cfi_regs *rs, const struct memsrc *mem, struct cfi_regs *out,
				uint64_t *bad_addr)
{
	if (row->r[ci->ra_reg].kind == RULE_UNDEF)
		return CFI_OUTERMOST; /* the outermost frame (_start, clone3) */
	*out = *rs;
	for (int r = 0; r < CFI_NREGS; r++) {
		uint64_t addr = 0;

		if (!recover(&row->r[r], r, cfa, rs, mem, out, &addr) && r == ci->ra_reg) {
			*bad_addr = addr;
			return CFI_RA_UNREADABLE;
		}
	}
	if (!out->known[ci->ra_reg])
		return CFI_RA_UNKNOWN;
	out->v[CFI_REG_RA] = out->v[ci->ra_reg];
	out->known[CFI_REG_RA] = true;
	/* The caller's stack pointer is the frame address, unless a rule says
	 * otherwise (signal frames restore it from the saved context). */
	if (row->r[CFI_REG_RSP].kind == RULE_SAME) {
		out->v[CFI_REG_RSP] = cfa;
		out->known[CFI_REG_RSP] = true;
	}
	return CFI_OK;
}
