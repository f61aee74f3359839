/* A small protocol-buffers decoder, the reading half of protobuf.h: fields
 * of a message held in memory, one at a time. Bounded: a varint is at most
 * 10 bytes, a length never reaches past the end of the message it is in,
 * groups (wire types 3 and 4, deprecated) are refused. Every error is
 * -EBADMSG and leaves the reader at its end, so a loop over pb_next stops. */
#ifndef PYPERF_PROTOBUF_READ_H
#define PYPERF_PROTOBUF_READ_H
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "output/protobuf.h"

struct pb_reader {
	const uint8_t *p, *end;
};

struct pb_field {
	uint32_t field;
	enum pb_wire wire;
	uint64_t value;          /* PB_VARINT, PB_I64, PB_I32 (little-endian, zero-extended) */
	const uint8_t *data;     /* PB_LEN: the bytes, inside the message */
	size_t len;
};

static inline struct pb_reader pb_reader_of(const void *data, size_t len)
{
	return (struct pb_reader){ (const uint8_t *)data, (const uint8_t *)data + len };
}

/* The reader over a PB_LEN field's bytes (an embedded message, a packed list). */
static inline struct pb_reader pb_reader_sub(const struct pb_field *f)
{
	return pb_reader_of(f->data, f->len);
}

/* Out of line: the rarer cases of the functions below (protobuf_read.c). */
int pb_read_varint_long(struct pb_reader *r, uint64_t *v);
int pb_next_fixed_or_bad(struct pb_reader *r, struct pb_field *f);
int pb_reader_fail(struct pb_reader *r);

/* One varint. 0, or -EBADMSG (truncated, or longer than 10 bytes).
 * Inline for the one- and two-byte varints that most are (ids, tags). */
static inline __attribute__((always_inline)) int pb_read_varint(struct pb_reader *r, uint64_t *v)
{
	if (r->end - r->p >= 2) {
		uint8_t b0 = r->p[0], b1 = r->p[1];

		if (!(b0 & 0x80)) {
			*v = b0;
			r->p += 1;
			return 0;
		}
		if (!(b1 & 0x80)) {
			*v = (uint64_t)(b0 & 0x7f) | (uint64_t)b1 << 7;
			r->p += 2;
			return 0;
		}
	}
	return pb_read_varint_long(r, v);
}

/* The next field: 1, 0 at the end, or -EBADMSG (field number 0, a bad wire
 * type, a length past the end). */
static inline __attribute__((always_inline)) int pb_next(struct pb_reader *r, struct pb_field *f)
{
	uint64_t tag, n;

	if (r->p >= r->end)
		return 0;
	if (pb_read_varint(r, &tag))
		return -EBADMSG;
	if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
		return pb_reader_fail(r);
	f->field = (uint32_t)(tag >> 3);
	f->wire = (enum pb_wire)(tag & 7);
	f->value = 0;
	f->data = NULL;
	f->len = 0;
	switch ((int)f->wire) {
	case PB_VARINT:
		return pb_read_varint(r, &f->value) ? -EBADMSG : 1;
	case PB_LEN:
		if (pb_read_varint(r, &n) || n > (uint64_t)(r->end - r->p))
			return pb_reader_fail(r);
		f->data = r->p;
		f->len = (size_t)n;
		r->p += n;
		return 1;
	default:
		return pb_next_fixed_or_bad(r, f);
	}
}

/* The values of a repeated varint field, packed (PB_LEN) or not (one
 * PB_VARINT field each): init with the field, then next until it returns
 * 0 (no more) or -EBADMSG (a bad varint, or a wire type that is neither). */
struct pb_varints {
	struct pb_reader packed;
	uint64_t single;
	int state;               /* 1: single still to give; -1: bad wire type */
};
void pb_varints_init(struct pb_varints *it, const struct pb_field *f);

static inline int pb_varints_next(struct pb_varints *it, uint64_t *v)
{
	if (it->state == 1) {
		it->state = 0;
		*v = it->single;
		return 1;
	}
	if (it->state < 0)
		return -EBADMSG;
	if (it->packed.p >= it->packed.end)
		return 0;
	return pb_read_varint(&it->packed, v) ? -EBADMSG : 1;
}

#endif
