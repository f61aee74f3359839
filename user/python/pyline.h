/* SPDX-License-Identifier: MIT */
/*
 * Line numbers from a CPython code object's line table, decoded without the
 * interpreter. The table bytes come out of another process and may be
 * garbage: every decoder reads at most `len` bytes and does at most `len`
 * steps of work.
 *
 * Formats (CPython's Objects/lnotab_notes.txt and Objects/locations.md):
 *   PYLINE_LNOTAB  3.8, 3.9 co_lnotab: pairs (unsigned byte-offset increment,
 *                  signed line increment).
 *   PYLINE_310     3.10 co_linetable: pairs (unsigned byte length of a range,
 *                  signed line delta; -128 = the range has no line).
 *   PYLINE_311     3.11+ co_linetable (location table): entries of a header
 *                  byte 1CCCCLLL (code C, L+1 code units) and 0-4 more bytes.
 */
#ifndef PYPERF_PYLINE_H
#define PYPERF_PYLINE_H

#include <stddef.h>
#include <stdint.h>

enum pyline_format {
	PYLINE_LNOTAB, /* 3.8, 3.9 co_lnotab */
	PYLINE_310,    /* 3.10 co_linetable */
	PYLINE_311,    /* 3.11+ location table */
};

/* Table format of the interpreter whose PY_VERSION_HEX is version_hex
 * (anything before 3.10 gets the lnotab format). */
enum pyline_format pyline_format_for_version(uint32_t version_hex);

/*
 * Line of the instruction at byte offset `byte_offset` (code-unit index * 2),
 * as CPython's own PyCode_Addr2Line() of that version returns it (which is
 * also what frame.f_lineno and tracebacks show):
 *   - byte_offset < 0 ("frame not started") gives firstlineno, on every version;
 *   - -1 when the table says "no line" (3.10+), when the offset is past the
 *     ranges the table covers (3.10+), or when the table is malformed;
 *   - lnotab (3.8/3.9) has no end: an offset past the last increment gets the
 *     last line, exactly as PyCode_Addr2Line does there.
 * Never reads past len; at most len steps. A NULL table is an empty table.
 */
int pyline_lookup(enum pyline_format fmt, const uint8_t *table, size_t len, int firstlineno,
		  int byte_offset);

#endif /* PYPERF_PYLINE_H */
