/* UTF-8 decoding, the one copy every writer uses (JSON, pprof strings, the
 * dump text, the SVG flame graph), and the encoding of Python's str. Text read from a target can be any bytes,
 * so the decoder is strict: overlong forms, UTF-16 surrogates, code points
 * above U+10FFFF and truncated sequences are ill-formed. Depends on nothing
 * but libc, so flamegraph/ can use it without BPF. */
#ifndef PYPERF_UTF8_H
#define PYPERF_UTF8_H
#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT 0xFFFDu
/* Stored by utf8_decode for an ill-formed sequence: no code point is this. */
#define UTF8_BAD 0xFFFFFFFFu

/* Decodes the sequence at s (n > 0 bytes available). Returns the bytes it
 * covers (1..4, never 0) and stores its code point in *cp, or UTF8_BAD when
 * the bytes there are ill-formed; then the return value is the length of the
 * maximal subpart (Unicode's recommendation, as Python's "replace" does), so
 * a caller replacing a bad sequence by one U+FFFD skips that many bytes, and
 * a caller escaping bytes one by one skips 1. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* utf8_decode with an ill-formed sequence given as UTF8_REPLACEMENT. */
size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Bytes UTF-8 takes for code point c (at most U+10FFFF; a surrogate is
 * encoded as its 3 bytes: callers that must stay valid replace it first). */
size_t utf8_encoded_len(uint32_t c);

/* Writes c as utf8_encoded_len(c) bytes to o (no NUL); returns that count.
 * The length decides the form, so the two cannot disagree. */
size_t utf8_encode(uint32_t c, char *o);

/* Length of s[0..n) once every ill-formed sequence is replaced by U+FFFD
 * (3 bytes); equals n exactly when s is valid UTF-8. */
size_t utf8_sanitized_len(const char *s, size_t n);

/* Copies s[0..n) to out with ill-formed sequences replaced by U+FFFD; out
 * must hold utf8_sanitized_len(s, n) bytes. Returns the bytes written. */
size_t utf8_sanitize(const char *s, size_t n, char *out);

#endif
