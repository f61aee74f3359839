/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the CPython line-table decoders (user/python/pyline.c).
 *
 * Input: byte 0 picks the format (PYLINE_LNOTAB, PYLINE_310, PYLINE_311),
 * bytes 1-4 are co_firstlineno and bytes 5-8 a byte offset (both int32,
 * little-endian); the rest is the table, passed with its exact length so
 * ASan sees any read past it.
 *
 * Checks, beyond "no crash, no UB":
 *   - a negative offset always gives firstlineno, a NULL table is an empty one;
 *   - every answer equals that of a reference decoder written here a
 *     different way (the whole table decoded first into address ranges, then
 *     searched), for the fuzzed offset and for a sweep of offsets over the
 *     table's whole range (and a little past its end).
 * Seeds: tests/fuzz/seeds.py (real tables from every installed interpreter).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/pyline.h"

/* Offsets compared per input beyond the fuzzed one: each lookup costs up to
 * the table's length, so keep the sweep small enough for fast iterations. */
#define SWEEP_RANGES 64  /* range boundaries, spread over the table */
#define SWEEP_EVEN   128 /* even offsets 0, 2, ... below this */

/* ---- reference decoder ---------------------------------------------------- */

struct range {
	uint64_t start, end; /* byte offsets [start, end) */
	int line;            /* -1: no line */
};

struct ref {
	struct range *r;
	size_t n, cap;
	bool lnotab;         /* lnotab: the last range extends forever */
	uint64_t bad_from;   /* offsets >= this answer -1 (malformed from here on) */
};

static void ref_push(struct ref *f, uint64_t start, uint64_t end, int line)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		f->r = realloc(f->r, f->cap * sizeof(*f->r));
		if (!f->r)
			abort();
	}
	f->r[f->n++] = (struct range){ start, end, line };
}

static bool in_int(int64_t v)
{
	return v >= INT_MIN && v <= INT_MAX;
}

static int sb(uint8_t b)
{
	return (int)(int8_t)b;
}

/* co_lnotab: (address increment, line increment) pairs; the line of an
 * address is the one after the last pair whose cumulative address <= it. */
static void ref_lnotab(struct ref *f, const uint8_t *t, size_t len, int first)
{
	f->lnotab = true;
	if (len % 2) {
		f->bad_from = 0;
		return;
	}
	uint64_t addr = 0;
	int64_t line = first;
	/* Range k: from the cumulative address of pair k-1 to that of pair k. */
	uint64_t start = 0;
	for (size_t i = 0; i < len; i += 2) {
		uint64_t next = addr + t[i];
		if (next > start)
			ref_push(f, start, next, (int)line);
		start = next > start ? next : start;
		addr = next;
		line += sb(t[i + 1]);
		if (!in_int(line)) {
			f->bad_from = addr;
			return;
		}
	}
	ref_push(f, start, UINT64_MAX, (int)line);
}

static void ref_310(struct ref *f, const uint8_t *t, size_t len, int first)
{
	if (len % 2) {
		f->bad_from = 0;
		return;
	}
	uint64_t addr = 0;
	int64_t line = first;
	for (size_t i = 0; i < len; i += 2) {
		int d = sb(t[i + 1]);
		int this_line = -1;
		if (d != -128) {
			line += d;
			if (!in_int(line)) {
				f->bad_from = addr;
				return;
			}
			this_line = (int)line;
		}
		if (t[i])
			ref_push(f, addr, addr + t[i], this_line);
		addr += t[i];
	}
}

/* Location-table varint starting at t[*p]; false when malformed. */
static bool ref_varint(const uint8_t *t, size_t len, size_t *p, uint64_t *out)
{
	uint64_t v = 0;
	int shift = 0;
	for (;;) {
		if (*p >= len || (t[*p] & 0x80) || shift > 30)
			return false;
		uint8_t b = t[(*p)++];
		v |= (uint64_t)(b & 63) << shift;
		shift += 6;
		if (!(b & 64))
			break;
	}
	*out = v;
	return true;
}

static void ref_311(struct ref *f, const uint8_t *t, size_t len, int first)
{
	uint64_t addr = 0;
	int64_t line = first;
	size_t p = 0;
	while (p < len) {
		uint8_t h = t[p++];
		uint64_t start = addr;
		if (!(h & 0x80)) {
			f->bad_from = start;
			return;
		}
		addr += 2 * ((uint64_t)(h & 7) + 1);
		unsigned code = (h >> 3) & 15;
		bool ok = true;
		int64_t delta = 0;
		uint64_t u = 0;
		if (code <= 9) {
			ok = p < len && !(t[p] & 0x80);
			p++;
		} else if (code <= 12) {
			delta = (int64_t)code - 10;
			ok = p + 1 < len && !(t[p] & 0x80) && !(t[p + 1] & 0x80);
			p += 2;
		} else if (code == 13 || code == 14) {
			ok = ref_varint(t, len, &p, &u);
			delta = (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
			for (int k = 0; ok && code == 14 && k < 3; k++)
				ok = ref_varint(t, len, &p, &u);
		}
		if (ok && p < len && !(t[p] & 0x80))
			ok = false;
		int this_line = -1;
		if (ok && code != 15) {
			line += delta;
			if (!in_int(line))
				ok = false;
			this_line = (int)line;
		}
		if (!ok) {
			f->bad_from = start;
			return;
		}
		ref_push(f, start, addr, this_line);
	}
}

static int ref_lookup(const struct ref *f, int first, int off)
{
	if (off < 0)
		return first;
	if ((uint64_t)off >= f->bad_from)
		return -1;
	/* Ranges are sorted and disjoint: binary search. */
	size_t lo = 0, hi = f->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->r[mid].end <= (uint64_t)off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < f->n && f->r[lo].start <= (uint64_t)off)
		return f->r[lo].line;
	/* lnotab before its first non-empty range is impossible (starts at 0);
	 * an empty lnotab table answers firstlineno. */
	if (f->lnotab && f->n == 0)
		return first;
	return -1;
}

/* ---- target ---------------------------------------------------------------- */

static int32_t rd32(const uint8_t *p)
{
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	int32_t s;
	memcpy(&s, &v, sizeof(s));
	return s;
}

static void check(enum pyline_format fmt, const uint8_t *t, size_t len, int first, int off,
		  const struct ref *ref)
{
	int got = pyline_lookup(fmt, t, len, first, off);
	int want = ref_lookup(ref, first, off);
	if (got != want) {
		fprintf(stderr, "pyline_lookup(fmt %d, len %zu, first %d, off %d) = %d, reference says %d\n",
			(int)fmt, len, first, off, got, want);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 9)
		return 0;
	enum pyline_format fmt = (enum pyline_format)(data[0] % 3);
	int first = rd32(data + 1);
	int off = rd32(data + 5);
	const uint8_t *t = data + 9;
	size_t len = size - 9;

	/* Contract checks that need no reference. */
	if (pyline_lookup(fmt, t, len, first, -1) != first || pyline_lookup(fmt, t, len, first, INT_MIN) != first)
		abort();
	int null_answer = pyline_lookup(fmt, NULL, 7, first, 0);
	if (null_answer != (fmt == PYLINE_LNOTAB ? first : -1))
		abort();

	struct ref ref = { .bad_from = UINT64_MAX };
	switch (fmt) {
	case PYLINE_LNOTAB:
		ref_lnotab(&ref, t, len, first);
		break;
	case PYLINE_310:
		ref_310(&ref, t, len, first);
		break;
	case PYLINE_311:
		ref_311(&ref, t, len, first);
		break;
	}
	check(fmt, t, len, first, off, &ref);
	check(fmt, t, len, first, INT_MAX, &ref);
	/* Every range boundary and a step past it; then even offsets from 0. */
	size_t step = ref.n / SWEEP_RANGES + 1;
	for (size_t i = 0; i < ref.n; i += step) {
		if (ref.r[i].start <= INT_MAX)
			check(fmt, t, len, first, (int)ref.r[i].start, &ref);
		if (ref.r[i].end <= INT_MAX)
			check(fmt, t, len, first, (int)ref.r[i].end, &ref);
		if (ref.r[i].end - 1 <= INT_MAX)
			check(fmt, t, len, first, (int)(ref.r[i].end - 1), &ref);
	}
	for (int o = 0; o < SWEEP_EVEN; o += 2)
		check(fmt, t, len, first, o, &ref);
	free(ref.r);
	return 0;
}
