/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: CPython str decoding (user/python/pystr.c).
 *
 * Input: byte 0 picks the mode.
 *   mode 0: pystr_parse_header with a layout taken from the input (11 bytes:
 *           state_off, length_off, ascii_size, compact_size as u16 LE, then
 *           kind, compact and ascii shifts), the rest as the header;
 *   mode 1: the same with the unicode layout of a real py_layouts[] entry
 *           (byte 1 picks it), so the state bits and lengths get exercised;
 *   mode 2: pystr_to_utf8 alone: kind (byte 1), nchars (bytes 2-9, int64 LE,
 *           usually reduced to a small count), cap (bytes 10-11), the rest
 *           as the data.
 * In modes 0 and 1 an accepted header is then decoded like the symbolizer
 * does: the characters after data_offset, with a cap from the input.
 *
 * Checks (abort on violation): an accepted header has kind 1/2/4, ascii only
 * with kind 1, a non-negative length, data_offset <= hdrlen and no overflow
 * in data_offset + (length + 1) * kind. pystr_to_utf8 writes only inside
 * out[0..cap) (an exact-size heap buffer), returns strlen(out) <= cap - 1,
 * produces valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) without interior NULs, and its output is exactly what pystr.h
 * promises: the whole sanitized string when it fits and none is missing,
 * else its longest prefix (on a character boundary) that leaves room for
 * "...", then "..." (only dots when cap - 1 < 3).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layouts.h"
#include "python/pystr.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	int64_t s;
	memcpy(&s, &v, sizeof(s));
	return s;
}

/* ---- what the output must be ------------------------------------------------ */

static uint32_t char_at(unsigned kind, const uint8_t *d, size_t i)
{
	uint32_t c = 0;
	if (kind == 1)
		return d[i];
	if (kind == 2) {
		uint16_t v;
		memcpy(&v, d + 2 * i, 2);
		return v;
	}
	memcpy(&c, d + 4 * i, 4);
	return c;
}

/* UTF-8 of one character, after the substitutions pystr.h documents. */
static size_t enc(uint32_t c, uint8_t o[4])
{
	if (c == 0 || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
		c = 0xFFFD;
	if (c < 0x80) {
		o[0] = (uint8_t)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (uint8_t)(0xC0 | c >> 6);
		o[1] = (uint8_t)(0x80 | (c & 63));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (uint8_t)(0xE0 | c >> 12);
		o[1] = (uint8_t)(0x80 | (c >> 6 & 63));
		o[2] = (uint8_t)(0x80 | (c & 63));
		return 3;
	}
	o[0] = (uint8_t)(0xF0 | c >> 18);
	o[1] = (uint8_t)(0x80 | (c >> 12 & 63));
	o[2] = (uint8_t)(0x80 | (c >> 6 & 63));
	o[3] = (uint8_t)(0x80 | (c & 63));
	return 4;
}

/* Strict UTF-8 validation, NUL not allowed. */
static bool valid_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t v, min;
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 2; v = c & 0x1F; min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 3; v = c & 0x0F; min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 4; v = c & 0x07; min = 0x10000;
		} else {
			return false;
		}
		if (n - i < k)
			return false;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
			v = v << 6 | (s[i + j] & 0x3F);
		}
		if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
			return false;
		i += k;
	}
	return true;
}

static void fail(const char *what, unsigned kind, size_t len, int64_t nchars, size_t cap)
{
	fprintf(stderr, "pystr_to_utf8(kind %u, len %zu, nchars %lld, cap %zu): %s\n", kind, len,
		(long long)nchars, cap, what);
	abort();
}

/* Runs pystr_to_utf8 on an exact-size output buffer and checks the result. */
static void check_utf8(unsigned kind, const uint8_t *data, size_t len, int64_t nchars, size_t cap)
{
	char *out = malloc(cap ? cap : 1);
	if (!out)
		abort();
	if (!cap)
		out[0] = 'Z'; /* must stay untouched */
	size_t ret = pystr_to_utf8(kind, data, len, nchars, out, cap);
	if (!cap) {
		if (ret != 0 || out[0] != 'Z')
			fail("wrote with cap 0", kind, len, nchars, cap);
		free(out);
		return;
	}
	size_t room = cap - 1;
	if (ret > room)
		fail("returned more than cap - 1", kind, len, nchars, cap);
	if (out[ret] != '\0' || strlen(out) != ret)
		fail("not NUL-terminated at the returned length", kind, len, nchars, cap);
	if (!valid_utf8((const uint8_t *)out, ret))
		fail("output is not valid UTF-8", kind, len, nchars, cap);

	/* The expected output. */
	bool bad = (kind != 1 && kind != 2 && kind != 4) || nchars < 0 || (!data && len);
	if (bad) {
		if (ret != 0)
			fail("invalid arguments did not give \"\"", kind, len, nchars, cap);
		free(out);
		return;
	}
	size_t avail = len / kind;
	size_t n = (uint64_t)nchars < avail ? (size_t)nchars : avail;
	bool cut = (uint64_t)nchars > avail;
	/* Encode only as much as can matter: room + 4 bytes decide the answer. */
	uint8_t *full = malloc(room + 8);
	size_t flen = 0, i = 0;
	bool whole = true;
	if (!full)
		abort();
	for (i = 0; i < n; i++) {
		uint8_t b[4];
		size_t w = enc(char_at(kind, data, i), b);
		if (flen + w > room) {
			whole = false;
			break;
		}
		memcpy(full + flen, b, w);
		flen += w;
	}
	char *want = malloc(room + 1);
	size_t wlen = 0;
	if (!want)
		abort();
	if (whole && !cut) {
		memcpy(want, full, flen);
		wlen = flen;
	} else if (room < 3) {
		memset(want, '.', room);
		wlen = room;
	} else {
		/* Longest prefix on a character boundary within room - 3. */
		size_t keep = 0, pos = 0;
		for (size_t j = 0; j < n && pos < flen; j++) {
			uint8_t b[4];
			size_t w = enc(char_at(kind, data, j), b);
			if (pos + w > room - 3)
				break;
			pos += w;
			keep = pos;
		}
		memcpy(want, full, keep);
		memcpy(want + keep, "...", 3);
		wlen = keep + 3;
	}
	if (wlen != ret || memcmp(want, out, ret) != 0)
		fail("output differs from the documented result", kind, len, nchars, cap);
	free(want);
	free(full);
	free(out);
}

static void check_header(const struct pystr_layout *l, const uint8_t *hdr, size_t hdrlen, size_t cap)
{
	/* Exact-size copy: reads past hdrlen are ASan errors. */
	uint8_t *h = malloc(hdrlen ? hdrlen : 1);
	struct pystr_header ph;
	if (!h)
		abort();
	memcpy(h, hdr, hdrlen);
	if (pystr_parse_header(l, h, hdrlen, &ph) == 0) {
		if ((ph.kind != 1 && ph.kind != 2 && ph.kind != 4) || (ph.ascii && ph.kind != 1) ||
		    !ph.compact || ph.length < 0 || ph.data_offset > hdrlen ||
		    ph.data_offset != (ph.ascii ? l->ascii_size : l->compact_size)) {
			fprintf(stderr, "pystr_parse_header accepted an implausible header\n");
			abort();
		}
		/* data_offset + (length + 1) * kind must fit in int64. */
		if ((uint64_t)ph.length + 1 > ((uint64_t)INT64_MAX - ph.data_offset) / ph.kind) {
			fprintf(stderr, "pystr_parse_header: length %lld overflows\n", (long long)ph.length);
			abort();
		}
		check_utf8(ph.kind, h + ph.data_offset, hdrlen - ph.data_offset, ph.length, cap);
	}
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0] % 3;
	data++;
	size--;
	if (mode == 0) {
		if (size < 12)
			return 0;
		struct pystr_layout l = {
			.state_off = rd16(data), .length_off = rd16(data + 2),
			.ascii_size = rd16(data + 4), .compact_size = rd16(data + 6),
			.kind_shift = data[8], .compact_shift = data[9], .ascii_shift = data[10],
		};
		size_t cap = data[11];
		check_header(&l, data + 12, size - 12, cap);
		pystr_parse_header(&l, NULL, 0, NULL); /* must refuse, not crash */
	} else if (mode == 1) {
		if (size < 2)
			return 0;
		const struct py_layout *L = &py_layouts[data[0] % py_layouts_count];
		struct pystr_layout l = {
			.state_off = L->unicode_state, .length_off = L->unicode_length,
			.ascii_size = L->unicode_ascii_size, .compact_size = L->unicode_compact_size,
			.kind_shift = L->unicode_kind_shift, .compact_shift = L->unicode_compact_shift,
			.ascii_shift = L->unicode_ascii_shift,
		};
		check_header(&l, data + 2, size - 2, data[1]);
	} else {
		if (size < 11)
			return 0;
		unsigned kind = data[0] & 7;
		int64_t nchars = rd64(data + 1);
		/* Mostly a small count near the data size; sometimes the raw value. */
		if (!(data[0] & 0x80))
			nchars = (int64_t)((uint64_t)nchars % 300);
		size_t cap = rd16(data + 9) % 1024;
		const uint8_t *d = size > 11 ? data + 11 : NULL;
		check_utf8(kind, d, size - 11, nchars, cap);
		if (!d)
			check_utf8(kind, NULL, 5, nchars, cap);
	}
	return 0;
}
