/* JSON string output. Names written by pyperf come from the target process,
 * so every byte sequence must come out as a valid JSON string: quotes, backslashes and control characters are
 * escaped, invalid UTF-8 becomes U+FFFD. */
#ifndef PYPERF_JSON_H
#define PYPERF_JSON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/utf8.h" /* utf8_next and friends, once declared here */

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
