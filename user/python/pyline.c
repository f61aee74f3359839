/* SPDX-License-Identifier: MIT */
/*
 * CPython line-table decoders (see pyline.h). The semantics follow each
 * version's PyCode_Addr2Line(); tests/e2e/test_pyline.py checks every
 * instruction of a varied module against the real interpreters.
 *
 * Lines are accumulated in 64 bits and the table is rejected as soon as the
 * running line leaves the range of an int, so hostile deltas cannot overflow.
 * Offsets are accumulated in 64 bits: at most 16 bytes per table byte, so
 * they cannot overflow either.
 */
#include <limits.h>
#include <stdbool.h>

#include "python/pyline.h"

enum pyline_format pyline_format_for_version(uint32_t version_hex)
{
	if (version_hex < 0x030A0000u)
		return PYLINE_LNOTAB;
	if (version_hex < 0x030B0000u)
		return PYLINE_310;
	return PYLINE_311;
}

/* A table byte as a signed char, without implementation-defined conversion. */
static int sbyte(uint8_t b)
{
	return b < 128 ? b : (int)b - 256;
}

static bool line_ok(int64_t line)
{
	return line >= INT_MIN && line <= INT_MAX;
}

/*
 * 3.8/3.9 co_lnotab. PyCode_Addr2Line there: starting at co_firstlineno and
 * address 0, for each pair add the address increment; stop once the address
 * passes the queried offset, otherwise apply the (signed) line increment.
 * Increments of 0 are legal (a large jump is split over several pairs), and
 * there is no "no line" value and no end: past the last pair the last line
 * holds.
 */
static int lookup_lnotab(const uint8_t *t, size_t len, int firstlineno, int off)
{
	/* CPython only ever writes whole pairs; an odd size is not a real table. */
	if (len % 2)
		return -1;
	int64_t line = firstlineno;
	uint64_t addr = 0;
	for (size_t i = 0; i < len; i += 2) {
		addr += t[i];
		if (addr > (uint64_t)off)
			break;
		line += sbyte(t[i + 1]);
		if (!line_ok(line))
			return -1;
	}
	return (int)line;
}

/*
 * The step both 3.10+ tables take at the end of each range (ranges follow
 * each other from offset 0, so off is at or past this one's start): the
 * running line moves by delta unless the range has no line. Returns true
 * when that decides the lookup, with the answer in *ans: the range's line
 * when off lies in it (-1 for none), or -1 for a running line outside an
 * int; false when off lies past the range.
 */
static bool range_line(int64_t *computed, bool has_line, int64_t delta, uint64_t end, int off, int *ans)
{
	int64_t line = -1;

	if (has_line) {
		*computed += delta;
		if (!line_ok(*computed)) {
			*ans = -1;
			return true;
		}
		line = *computed;
	}
	*ans = (int)line;
	return (uint64_t)off < end;
}

/*
 * 3.10 co_linetable. Each pair is a range of t[i] bytes that follows the
 * previous one; its line is the running line plus the signed delta t[i+1],
 * except that -128 means "no line" and leaves the running line alone.
 * Zero-length ranges only move the running line (big jumps are split).
 * An offset past the last range has no line (PyCode_Addr2Line gives -1).
 */
static int lookup_310(const uint8_t *t, size_t len, int firstlineno, int off)
{
	if (len % 2)
		return -1;
	int64_t computed = firstlineno;
	uint64_t end = 0;
	for (size_t i = 0; i < len; i += 2) {
		int delta = sbyte(t[i + 1]);
		end += t[i];
		int ans;
		if (range_line(&computed, delta != -128, delta, end, off, &ans))
			return ans;
	}
	return -1;
}

/*
 * 3.11+ varints: 6-bit chunks, least significant first, bit 6 = more
 * follow. Bytes with bit 7 set begin the next entry, so they may not appear
 * inside a varint. Six chunks (36 bits) hold any value CPython writes (an
 * int line delta, zig-zagged); longer is garbage.
 */
#define VARINT_MAX_CHUNKS 6

static bool read_varint(const uint8_t *t, size_t len, size_t *pos, uint64_t *val)
{
	uint64_t v = 0;
	for (unsigned chunk = 0; chunk < VARINT_MAX_CHUNKS; chunk++) {
		if (*pos >= len)
			return false; /* truncated */
		uint8_t b = t[(*pos)++];
		if (b & 0x80)
			return false; /* ran into the next entry */
		v |= (uint64_t)(b & 63) << (6 * chunk);
		if (!(b & 64)) {
			*val = v;
			return true;
		}
	}
	return false; /* never ends */
}

static bool read_svarint(const uint8_t *t, size_t len, size_t *pos, int64_t *val)
{
	uint64_t u;
	if (!read_varint(t, len, pos, &u))
		return false;
	/* Sign in the lowest bit, magnitude above it. */
	*val = (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
	return true;
}

enum {
	LOC_ONE_LINE0 = 10, /* 10-12: one-line forms, line delta = code - 10 */
	LOC_NO_COLUMNS = 13,
	LOC_LONG = 14,
	LOC_NONE = 15,
};

/*
 * 3.11+ location table. Each entry covers (header & 7) + 1 code units
 * (2 bytes each) following the previous entry, and moves the running line
 * by a delta that depends on its code; code 15 has no line (and does not
 * move the running line). PyCode_Addr2Line finds the entry containing the
 * offset; past the last entry there is no line.
 *
 * CPython itself skips to the next byte with bit 7 set; this decoder also
 * checks each entry has exactly the bytes its form is written with (short
 * forms 1, one-line forms 2, no-column form an svarint, long form an svarint
 * and three varints, no-location none), which every table CPython writes
 * satisfies and random memory mostly does not.
 */
static int lookup_311(const uint8_t *t, size_t len, int firstlineno, int off)
{
	int64_t computed = firstlineno;
	uint64_t end = 0;
	size_t pos = 0;
	/* Each iteration consumes at least the header byte: at most len rounds. */
	while (pos < len) {
		uint8_t hdr = t[pos++];
		if (!(hdr & 0x80))
			return -1; /* not at an entry start */
		unsigned code = (hdr >> 3) & 15;
		int64_t delta = 0;
		uint64_t skip;
		end += ((uint64_t)(hdr & 7) + 1) * 2;
		switch (code) {
		case LOC_NONE:
			break;
		case LOC_LONG:
			if (!read_svarint(t, len, &pos, &delta))
				return -1;
			/* end line delta, start column + 1, end column + 1 */
			for (int k = 0; k < 3; k++)
				if (!read_varint(t, len, &pos, &skip))
					return -1;
			break;
		case LOC_NO_COLUMNS:
			if (!read_svarint(t, len, &pos, &delta))
				return -1;
			break;
		default: {
			/* 0-9 short form: one column byte; 10-12: start and end column. */
			size_t extra = code >= LOC_ONE_LINE0 ? 2 : 1;
			if (code >= LOC_ONE_LINE0)
				delta = code - LOC_ONE_LINE0;
			for (size_t k = 0; k < extra; k++, pos++)
				if (pos >= len || (t[pos] & 0x80))
					return -1;
			break;
		}
		}
		/* The entry must end exactly where the next begins. */
		if (pos < len && !(t[pos] & 0x80))
			return -1;
		int ans;
		if (range_line(&computed, code != LOC_NONE, delta, end, off, &ans))
			return ans;
	}
	return -1;
}

int pyline_lookup(enum pyline_format fmt, const uint8_t *table, size_t len, int firstlineno,
		  int byte_offset)
{
	/* Every version's PyCode_Addr2Line answers co_firstlineno for a frame
	 * that has not started (f_lasti -1). */
	if (byte_offset < 0)
		return firstlineno;
	if (!table)
		len = 0;
	switch (fmt) {
	case PYLINE_LNOTAB:
		return lookup_lnotab(table, len, firstlineno, byte_offset);
	case PYLINE_310:
		return lookup_310(table, len, firstlineno, byte_offset);
	case PYLINE_311:
		return lookup_311(table, len, firstlineno, byte_offset);
	}
	return -1;
}
