/* JSON string output and the UTF-8 checking it needs. Names written by
 * pyperf come from the target process, so every byte sequence must come out
 * as a valid JSON string: quotes, backslashes and control characters are
 * escaped, invalid UTF-8 becomes U+FFFD. */
#ifndef PYPERF_JSON_H
#define PYPERF_JSON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define UTF8_REPLACEMENT 0xFFFDu

/* Decodes the UTF-8 sequence at s (n > 0 bytes available). Returns the number
 * of bytes it covers (1..4) and stores the code point in *cp; an ill-formed
 * sequence (overlong, surrogate, above U+10FFFF, truncated, stray
 * continuation byte) stores UTF8_REPLACEMENT and covers its maximal subpart,
 * as Unicode recommends and Python's "replace" error handler does, so one
 * bad sequence is one U+FFFD. Never returns 0 for n > 0. */
size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* Length of s[0..n) once every ill-formed sequence is replaced by U+FFFD
 * (3 bytes); equals n exactly when s is valid UTF-8. */
size_t utf8_sanitized_len(const char *s, size_t n);

/* Copies s[0..n) to out with ill-formed sequences replaced by U+FFFD; out
 * must hold utf8_sanitized_len(s, n) bytes. Returns the bytes written. */
size_t utf8_sanitize(const char *s, size_t n, char *out);

/* Writes s as a JSON string literal, quotes included: " and \ and control
 * characters escaped (\n \r \t \b \f or \u00XX, DEL too), U+2028/U+2029
 * escaped so the text is also safe inside JavaScript, invalid UTF-8 as
 * \ufffd; valid non-ASCII passes through as UTF-8. NULL writes "".
 * Returns 0 or -errno (-EIO when the stream gives no errno) on a write error. */
int json_write_string(FILE *f, const char *s);
int json_write_stringn(FILE *f, const char *s, size_t n);

/* The same literal in a malloc'd NUL-terminated string; NULL on ENOMEM. */
char *json_escape(const char *s);

#endif
