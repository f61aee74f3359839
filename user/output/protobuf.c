#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "output/protobuf.h"
#include "util/utf8.h"

void pb_buf_init(struct pb_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void pb_buf_free(struct pb_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void pb_buf_reset(struct pb_buf *b)
{
	b->len = 0;
}

/* Makes room for n more bytes; false (and the sticky error) if it cannot. */
static bool reserve(struct pb_buf *b, size_t n)
{
	if (b->err)
		return false;
	if (n <= b->cap - b->len)
		return true;
	if (n > SIZE_MAX / 2 - b->len) {
		b->err = -ENOMEM;
		return false;
	}
	size_t ncap = b->cap ? b->cap : 256;

	while (ncap - b->len < n)
		ncap *= 2;
	uint8_t *d = realloc(b->data, ncap);

	if (!d) {
		b->err = -ENOMEM;
		return false;
	}
	b->data = d;
	b->cap = ncap;
	return true;
}

size_t pb_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

void pb_put_raw(struct pb_buf *b, const void *p, size_t n)
{
	if (!n || !reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void pb_put_varint(struct pb_buf *b, uint64_t v)
{
	if (!reserve(b, 10))
		return;
	while (v >= 0x80) {
		b->data[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->data[b->len++] = (uint8_t)v;
}

void pb_put_tag(struct pb_buf *b, uint32_t field, enum pb_wire wire)
{
	pb_put_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

void pb_put_uint64(struct pb_buf *b, uint32_t field, uint64_t v)
{
	pb_put_tag(b, field, PB_VARINT);
	pb_put_varint(b, v);
}

void pb_put_int64(struct pb_buf *b, uint32_t field, int64_t v)
{
	pb_put_uint64(b, field, (uint64_t)v);
}

void pb_put_bytes(struct pb_buf *b, uint32_t field, const void *p, size_t n)
{
	pb_put_tag(b, field, PB_LEN);
	pb_put_varint(b, n);
	pb_put_raw(b, p, n);
}

void pb_put_string(struct pb_buf *b, uint32_t field, const char *s, size_t n)
{
	size_t len = utf8_sanitized_len(s, n);

	if (len == n) {
		pb_put_bytes(b, field, s, n);
		return;
	}
	/* Sanitized straight into the buffer: no temporary copy. */
	pb_put_tag(b, field, PB_LEN);
	pb_put_varint(b, len);
	if (!reserve(b, len))
		return;
	b->len += utf8_sanitize(s, n, (char *)b->data + b->len);
}

void pb_put_message(struct pb_buf *b, uint32_t field, const struct pb_buf *sub)
{
	if (sub->err) {
		if (!b->err)
			b->err = sub->err;
		return;
	}
	pb_put_bytes(b, field, sub->data, sub->len);
}

void pb_put_packed_uint64(struct pb_buf *b, uint32_t field, const uint64_t *v, size_t n)
{
	size_t len = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		len += pb_varint_len(v[i]);
	pb_put_tag(b, field, PB_LEN);
	pb_put_varint(b, len);
	if (!reserve(b, len))
		return;
	for (size_t i = 0; i < n; i++)
		pb_put_varint(b, v[i]);
}

void pb_put_packed_int64(struct pb_buf *b, uint32_t field, const int64_t *v, size_t n)
{
	size_t len = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		len += pb_varint_len((uint64_t)v[i]);
	pb_put_tag(b, field, PB_LEN);
	pb_put_varint(b, len);
	if (!reserve(b, len))
		return;
	for (size_t i = 0; i < n; i++)
		pb_put_varint(b, (uint64_t)v[i]);
}
