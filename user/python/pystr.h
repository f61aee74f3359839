/* SPDX-License-Identifier: MIT */
/*
 * CPython str objects read out of another process, decoded without the
 * interpreter. Only compact strings are accepted: every string the runtime
 * creates for code objects (names, qualnames, filenames) is compact; str
 * subclass instances and 3.8-3.11 legacy (not ready) strings are not, and
 * are refused rather than followed through their data pointer.
 */
#ifndef PYPERF_PYSTR_H
#define PYPERF_PYSTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the header fields are in one CPython build (struct py_layout's
 * unicode_* fields). */
struct pystr_layout {
	uint16_t state_off;     /* the 32-bit state bit field */
	uint16_t length_off;    /* Py_ssize_t length, in characters */
	uint16_t ascii_size;    /* sizeof(PyASCIIObject): data of compact ASCII strings */
	uint16_t compact_size;  /* sizeof(PyCompactUnicodeObject): data of other compact strings */
	uint8_t kind_shift;     /* state: kind is 3 bits at this shift */
	uint8_t compact_shift;  /* state: compact bit */
	uint8_t ascii_shift;    /* state: ascii bit */
};

struct pystr_header {
	int64_t length;      /* characters */
	unsigned kind;       /* bytes per character: 1, 2, 4 */
	bool ascii;
	bool compact;        /* always true on success */
	size_t data_offset;  /* characters start here, from the object address */
};

/*
 * Parse the object header bytes read from the object address: hdrlen must
 * cover ascii_size for an ASCII string and compact_size otherwise (reading
 * compact_size bytes always suffices). State words are in host byte order
 * (the target runs on this machine).
 * Returns 0, or -EINVAL when the layout is unusable or the header is not a
 * plausible compact str: not compact, kind not 1/2/4, ascii with a kind other
 * than 1, negative length or one whose data size would overflow.
 */
int pystr_parse_header(const struct pystr_layout *l, const uint8_t *hdr, size_t hdrlen,
		       struct pystr_header *out);

/*
 * Encode nchars characters of `kind` (1: Latin-1, 2: UCS-2, 4: UCS-4, host
 * byte order) from data (len bytes available) as UTF-8 into out (cap bytes
 * including the NUL).
 *   - Always NUL-terminates when cap > 0 (nothing is written when cap == 0).
 *   - When the data holds fewer than nchars characters (the caller capped
 *     its read) or out is too small, the output is cut on a character
 *     boundary and "..." appended, all within cap - 1 bytes (if cap - 1 < 3,
 *     only dots, as many as fit).
 *   - Surrogates (U+D800-U+DFFF, which in a CPython str are always lone code
 *     points), values above U+10FFFF and embedded NUL characters each become
 *     U+FFFD, so the result is valid UTF-8 without interior NULs.
 *   - An invalid kind or a negative nchars gives "".
 * Returns the number of bytes written, excluding the NUL.
 */
size_t pystr_to_utf8(unsigned kind, const uint8_t *data, size_t len, int64_t nchars, char *out,
		     size_t cap);

#endif /* PYPERF_PYSTR_H */
