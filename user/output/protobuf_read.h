/* A small protocol-buffers decoder, the reading half of protobuf.h: fields
 * of a message held in memory, one at a time. Bounded: a varint is at most
 * 10 bytes, a length never reaches past the end of the message it is in,
 * groups (wire types 3 and 4, deprecated) are refused. Every error is
 * -EBADMSG and leaves the reader at its end, so a loop over pb_next stops. */
#ifndef PYPERF_PROTOBUF_READ_H
#define PYPERF_PROTOBUF_READ_H
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

/* One varint. 0, or -EBADMSG (truncated, or longer than 10 bytes). */
int pb_read_varint(struct pb_reader *r, uint64_t *v);
/* The next field: 1, 0 at the end, or -EBADMSG (field number 0, a bad wire
 * type, a length past the end). */
int pb_next(struct pb_reader *r, struct pb_field *f);
/* The values of a repeated varint field, packed (PB_LEN) or not (one
 * PB_VARINT field each): init with the field, then next until it returns
 * 0 (no more) or -EBADMSG (a bad varint, or a wire type that is neither). */
struct pb_varints {
	struct pb_reader packed;
	uint64_t single;
	int state;               /* 1: single still to give; -1: bad wire type */
};
void pb_varints_init(struct pb_varints *it, const struct pb_field *f);
int pb_varints_next(struct pb_varints *it, uint64_t *v);

#endif
