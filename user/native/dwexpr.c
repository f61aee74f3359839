/* The subset of DWARF expressions that call frame information uses (see dwexpr.h). */
#include "native/dwarf.h"
#include "native/dwexpr.h"
#include "native/dwread.h"

#define EXPR_STACK 32

struct expr_stack {
	uint64_t v[EXPR_STACK];
	int sp;
};

static bool push(struct expr_stack *s, uint64_t v)
{
	if (s->sp >= EXPR_STACK)
		return false;
	s->v[s->sp++] = v;
	return true;
}

/* A register's value plus an offset (DW_OP_breg*, DW_OP_bregx). */
static bool push_reg(struct expr_stack *s, const struct cfi_regs *rs, uint64_t reg, int64_t off)
{
	if (reg >= CFI_NREGS || !rs->known[reg])
		return false;
	return push(s, rs->v[reg] + (uint64_t)off);
}

/* The operation op on the two top values, replacing them by the result;
 * false when op is not a binary operation or the stack is too short. */
static bool binary_op(struct expr_stack *s, uint8_t op)
{
	uint64_t a, b;

	switch (op) {
	case DW_OP_and: case DW_OP_minus: case DW_OP_or: case DW_OP_plus: case DW_OP_shl:
	case DW_OP_shr: case DW_OP_xor: case DW_OP_eq: case DW_OP_ge: case DW_OP_gt:
	case DW_OP_le: case DW_OP_lt: case DW_OP_ne:
		break;
	default:
		return false;
	}
	if (s->sp < 2)
		return false;
	b = s->v[--s->sp];
	a = s->v[s->sp - 1];
	switch (op) {
	case DW_OP_and: a &= b; break;
	case DW_OP_minus: a -= b; break;
	case DW_OP_or: a |= b; break;
	case DW_OP_plus: a += b; break;
	case DW_OP_shl: a = b < 64 ? a << b : 0; break;
	case DW_OP_shr: a = b < 64 ? a >> b : 0; break;
	case DW_OP_xor: a ^= b; break;
	case DW_OP_eq: a = (int64_t)a == (int64_t)b; break;
	case DW_OP_ge: a = (int64_t)a >= (int64_t)b; break;
	case DW_OP_gt: a = (int64_t)a > (int64_t)b; break;
	case DW_OP_le: a = (int64_t)a <= (int64_t)b; break;
	case DW_OP_lt: a = (int64_t)a < (int64_t)b; break;
	default: a = (int64_t)a != (int64_t)b; break; /* DW_OP_ne */
	}
	s->v[s->sp - 1] = a;
	return true;
}

/* Operations that push a constant from their operand. */
static bool const_op(struct expr_stack *s, struct dw_cur *c, uint8_t op)
{
	switch (op) {
	case DW_OP_addr: return push(s, dw_read_n(c, 8));
	case DW_OP_const1u: return push(s, dw_read_n(c, 1));
	case DW_OP_const1s: return push(s, (uint64_t)(int64_t)(int8_t)dw_read_n(c, 1));
	case DW_OP_const2u: return push(s, dw_read_n(c, 2));
	case DW_OP_const2s: return push(s, (uint64_t)(int64_t)(int16_t)dw_read_n(c, 2));
	case DW_OP_const4u: return push(s, dw_read_n(c, 4));
	case DW_OP_const4s: return push(s, (uint64_t)(int64_t)(int32_t)dw_read_n(c, 4));
	case DW_OP_const8u: case DW_OP_const8s: return push(s, dw_read_n(c, 8));
	case DW_OP_constu: return push(s, dw_read_uleb(c));
	case DW_OP_consts: return push(s, (uint64_t)dw_read_sleb(c));
	default: return false;
	}
}

/* Operations on the stack itself, and memory. */
static bool stack_op(struct expr_stack *s, struct dw_cur *c, const struct memsrc *mem, uint8_t op)
{
	uint64_t t;

	switch (op) {
	case DW_OP_deref:
		return s->sp >= 1 && memsrc_read_u64(mem, s->v[s->sp - 1], &s->v[s->sp - 1]) == 0;
	case DW_OP_dup:
		return s->sp >= 1 && push(s, s->v[s->sp - 1]);
	case DW_OP_drop:
		if (s->sp < 1)
			return false;
		s->sp--;
		return true;
	case DW_OP_over:
		return s->sp >= 2 && push(s, s->v[s->sp - 2]);
	case DW_OP_swap:
		if (s->sp < 2)
			return false;
		t = s->v[s->sp - 1];
		s->v[s->sp - 1] = s->v[s->sp - 2];
		s->v[s->sp - 2] = t;
		return true;
	case DW_OP_plus_uconst:
		if (s->sp < 1)
			return false;
		s->v[s->sp - 1] += dw_read_uleb(c);
		return true;
	case DW_OP_nop:
		return true;
	default:
		return false;
	}
}

bool dwexpr_eval(const struct memsrc *mem, const uint8_t *p, size_t len, const struct cfi_regs *rs,
		 const uint64_t *first, uint64_t *out)
{
	struct expr_stack s = { .sp = 0 };
	struct dw_cur c = { p, p + len, false };

	if (first)
		s.v[s.sp++] = *first;
	/* Every operation takes a byte: len + 1 steps are more than enough. */
	for (size_t steps = 0; c.p < c.end && !c.err && steps < len + 1; steps++) {
		uint8_t op = (uint8_t)dw_read_n(&c, 1);
		bool ok;

		if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
			ok = push(&s, (uint64_t)(op - DW_OP_lit0));
		} else if (op >= DW_OP_breg0 && op <= DW_OP_breg31) {
			int64_t off = dw_read_sleb(&c);

			ok = push_reg(&s, rs, op - DW_OP_breg0, off);
		} else if (op == DW_OP_bregx) {
			uint64_t reg = dw_read_uleb(&c);
			int64_t off = dw_read_sleb(&c);

			ok = push_reg(&s, rs, reg, off);
		} else {
			ok = const_op(&s, &c, op) || stack_op(&s, &c, mem, op) || binary_op(&s, op);
		}
		if (!ok)
			return false;
	}
	if (c.err || s.sp < 1)
		return false;
	*out = s.v[s.sp - 1];
	return true;
}
