/* SPDX-License-Identifier: MIT */
/*
 * CPython str decoding (see pystr.h). tests/e2e/test_pystr.py checks it on
 * strings read out of the real interpreters' memory.
 */
#include <errno.h>
#include <string.h>

#include "python/pystr.h"
#include "util/utf8.h"

int pystr_parse_header(const struct pystr_layout *l, const uint8_t *hdr, size_t hdrlen,
		       struct pystr_header *out)
{
	if (!l || !hdr || !out)
		return -EINVAL;
	/* The layout must describe fields inside PyASCIIObject, itself a
	 * prefix of PyCompactUnicodeObject, and bits inside the state word. */
	if ((size_t)l->state_off + 4 > l->ascii_size || (size_t)l->length_off + 8 > l->ascii_size ||
	    l->ascii_size > l->compact_size || l->kind_shift > 29 || l->compact_shift > 31 ||
	    l->ascii_shift > 31)
		return -EINVAL;
	if (hdrlen < l->ascii_size)
		return -EINVAL;

	uint32_t state;
	int64_t length;
	memcpy(&state, hdr + l->state_off, sizeof(state));
	memcpy(&length, hdr + l->length_off, sizeof(length));
	unsigned kind = (state >> l->kind_shift) & 7;
	bool compact = (state >> l->compact_shift) & 1;
	bool ascii = (state >> l->ascii_shift) & 1;

	/* Non-compact strings keep their characters behind a pointer that we
	 * do not chase; kind 0 is 3.8-3.11's not-ready wchar_t string. */
	if (!compact)
		return -EINVAL;
	if (kind != 1 && kind != 2 && kind != 4)
		return -EINVAL;
	if (ascii && kind != 1)
		return -EINVAL;
	size_t data_offset = ascii ? l->ascii_size : l->compact_size;
	if (hdrlen < data_offset)
		return -EINVAL;
	/* PyUnicode_New's own limit: header + (length + 1) characters must fit
	 * in a Py_ssize_t. Keeps length * kind + data_offset from overflowing. */
	if (length < 0 || length > (INT64_MAX - (int64_t)data_offset) / kind - 1)
		return -EINVAL;

	out->length = length;
	out->kind = kind;
	out->ascii = ascii;
	out->compact = compact;
	out->data_offset = data_offset;
	return 0;
}


static uint32_t char_at(unsigned kind, const uint8_t *data, size_t i)
{
	if (kind == 1)
		return data[i];
	if (kind == 2) {
		uint16_t c;
		memcpy(&c, data + 2 * i, 2);
		return c;
	}
	uint32_t c;
	memcpy(&c, data + 4 * i, 4);
	return c;
}

/* The code point we actually emit for a character of the string. */
static uint32_t sanitize(uint32_t c)
{
	if (c == 0 || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
		return UTF8_REPLACEMENT;
	return c;
}

size_t pystr_to_utf8(unsigned kind, const uint8_t *data, size_t len, int64_t nchars, char *out,
		     size_t cap)
{
	if (!out || cap == 0)
		return 0;
	out[0] = '\0';
	if ((kind != 1 && kind != 2 && kind != 4) || nchars < 0 || (!data && len))
		return 0;

	/* Characters actually present; fewer than asked means the caller cut
	 * its read short, which the output shows with "...". */
	size_t avail = len / kind;
	size_t n = (uint64_t)nchars < avail ? (size_t)nchars : avail;
	bool cut = (uint64_t)nchars > n;
	size_t room = cap - 1;

	/* First pass: does everything fit? Stops as soon as it does not, so
	 * the work stays bounded by what can be written. */
	size_t need = 0;
	bool fits = true;
	for (size_t i = 0; i < n; i++) {
		need += utf8_encoded_len(sanitize(char_at(kind, data, i)));
		if (need > room) {
			fits = false;
			break;
		}
	}
	if (fits && cut && need + 3 > room)
		fits = false;

	/* Second pass: write; when out is too small keep 3 bytes for "...". */
	size_t limit = fits ? room : (room >= 3 ? room - 3 : 0);
	cut = cut || !fits;
	size_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = sanitize(char_at(kind, data, i));
		size_t w = utf8_encoded_len(c);
		if (pos + w > limit)
			break;
		pos += utf8_encode(c, out + pos);
	}
	if (cut)
		for (int d = 0; d < 3 && pos < room; d++)
			out[pos++] = '.';
	out[pos] = '\0';
	return pos;
}
