#include <errno.h>

#include "output/protobuf_read.h"

static int bad(struct pb_reader *r)
{
	r->p = r->end;
	return -EBADMSG;
}

int pb_reader_fail(struct pb_reader *r)
{
	return bad(r);
}

int pb_read_varint_long(struct pb_reader *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (r->p >= r->end)
			return bad(r);
		uint8_t b = *r->p++;

		/* the tenth byte holds bit 63 only */
		if (shift == 63 && b > 1)
			return bad(r);
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return bad(r);
}

static int read_fixed(struct pb_reader *r, unsigned n, uint64_t *v)
{
	if ((size_t)(r->end - r->p) < n)
		return bad(r);
	*v = 0;
	for (unsigned i = 0; i < n; i++)
		*v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return 0;
}

int pb_next_fixed_or_bad(struct pb_reader *r, struct pb_field *f)
{
	switch ((int)f->wire) {
	case PB_I64:
		return read_fixed(r, 8, &f->value) ? -EBADMSG : 1;
	case PB_I32:
		return read_fixed(r, 4, &f->value) ? -EBADMSG : 1;
	default:
		return bad(r);
	}
}

void pb_varints_init(struct pb_varints *it, const struct pb_field *f)
{
	it->packed.p = it->packed.end = NULL;
	it->single = f->value;
	it->state = 0;
	if (f->wire == PB_VARINT)
		it->state = 1;
	else if (f->wire == PB_LEN)
		it->packed = pb_reader_sub(f);
	else
		it->state = -1;
}
