/* A small protocol-buffers encoder: varints, length-delimited fields and
 * packed repeated fields appended to a growable byte buffer. Enough to write
 * profile.proto by hand without a protobuf library.
 *
 * Errors are sticky: the first allocation failure sets b->err = -ENOMEM and
 * later calls do nothing, so a writer checks once after a batch of fields. */
#ifndef PYPERF_PROTOBUF_H
#define PYPERF_PROTOBUF_H
#include <stddef.h>
#include <stdint.h>

enum pb_wire {
	PB_VARINT = 0,
	PB_I64 = 1,
	PB_LEN = 2,
	PB_I32 = 5,
};

struct pb_buf {
	uint8_t *data;
	size_t len, cap;
	int err;              /* 0 or -ENOMEM, sticky */
};

void pb_buf_init(struct pb_buf *b);
void pb_buf_free(struct pb_buf *b);
/* Empties the buffer, keeping its memory (and its error). */
void pb_buf_reset(struct pb_buf *b);

/* Bytes a varint of v takes (1..10). */
size_t pb_varint_len(uint64_t v);

void pb_put_raw(struct pb_buf *b, const void *p, size_t n);
void pb_put_varint(struct pb_buf *b, uint64_t v);
void pb_put_tag(struct pb_buf *b, uint32_t field, enum pb_wire wire);
/* A varint field (uint64, or int64 as its two's complement: negatives take
 * 10 bytes, as protobuf does for int64). Always written, even when zero. */
void pb_put_uint64(struct pb_buf *b, uint32_t field, uint64_t v);
void pb_put_int64(struct pb_buf *b, uint32_t field, int64_t v);
/* Length-delimited bytes. */
void pb_put_bytes(struct pb_buf *b, uint32_t field, const void *p, size_t n);
/* A string field holding valid UTF-8 (as proto3 requires of strings): any
 * ill-formed sequence in s[0..n) is written as U+FFFD. */
void pb_put_string(struct pb_buf *b, uint32_t field, const char *s, size_t n);
/* An embedded message already encoded in sub. */
void pb_put_message(struct pb_buf *b, uint32_t field, const struct pb_buf *sub);
/* A packed repeated varint field (nothing written when n == 0, which a
 * decoder reads as the empty list). */
void pb_put_packed_uint64(struct pb_buf *b, uint32_t field, const uint64_t *v, size_t n);
void pb_put_packed_int64(struct pb_buf *b, uint32_t field, const int64_t *v, size_t n);

#endif
