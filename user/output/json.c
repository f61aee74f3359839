#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output/json.h"

/* The error of a failed stdio call: its errno (ENOSPC, EFBIG...) when it set
 * one, so the user reads why, else EIO. */
static int io_error(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Escapes into out, which holds at least 6 * n + 2 bytes: every input byte
 * becomes at most 6 output bytes (\u00XX, or \ufffd for a bad byte; a 3-byte
 * U+2028 becomes 6). Returns the length written. */
static size_t escape_into(const char *s, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; i < n;) {
		unsigned char b = u[i];

		if (b >= 0x20 && b < 0x7F && b != '"' && b != '\\') {
			out[o++] = (char)b;
			i++;
			continue;
		}
		if (b < 0x80) {
			const char *e = NULL;

			switch (b) {
			case '"': e = "\\\""; break;
			case '\\': e = "\\\\"; break;
			case '\n': e = "\\n"; break;
			case '\r': e = "\\r"; break;
			case '\t': e = "\\t"; break;
			case '\b': e = "\\b"; break;
			case '\f': e = "\\f"; break;
			}
			if (e) {
				out[o++] = e[0];
				out[o++] = e[1];
			} else {
				memcpy(out + o, "\\u00", 4);
				out[o + 4] = hex[b >> 4];
				out[o + 5] = hex[b & 15];
				o += 6;
			}
			i++;
			continue;
		}
		uint32_t cp;
		size_t k = utf8_decode(u + i, n - i, &cp);

		if (cp == UTF8_BAD) {
			memcpy(out + o, "\\ufffd", 6);
			o += 6;
		} else if (cp == 0x2028 || cp == 0x2029) {
			/* Valid JSON either way, but raw they end a JavaScript line. */
			memcpy(out + o, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
			o += 6;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
		}
		i += k;
	}
	out[o++] = '"';
	return o;
}

int json_write_stringn(FILE *f, const char *s, size_t n)
{
	/* Escaped in bounded chunks so a huge name needs no huge buffer. A
	 * chunk ends only where a UTF-8 sequence ends: utf8_decode covers at
	 * most 4 bytes, so cutting at a sequence start keeps the output the
	 * same as escaping the whole string at once. */
	enum { CHUNK = 1024 };
	char buf[6 * CHUNK + 2 + 4 * 6];
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t i = 0;

	if (!s)
		n = 0;
	errno = 0; /* so io_error reads the errno of a failed write, not an old one */
	if (fputc('"', f) == EOF)
		return io_error();
	while (i < n) {
		size_t end = i;
		uint32_t cp;

		/* Advance by whole sequences up to CHUNK bytes (maybe 3 more). */
		while (end < n && end - i < CHUNK)
			end += utf8_decode(u + end, n - end, &cp);
		size_t len = escape_into(s + i, end - i, buf);

		/* escape_into adds quotes; write only what is between them. */
		if (fwrite(buf + 1, 1, len - 2, f) != len - 2)
			return io_error();
		i = end;
	}
	if (fputc('"', f) == EOF)
		return io_error();
	return ferror(f) ? -EIO : 0;
}

int json_write_string(FILE *f, const char *s)
{
	return json_write_stringn(f, s, s ? strlen(s) : 0);
}

char *json_escape(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *out;

	if (n > (SIZE_MAX - 3) / 6)
		return NULL;
	out = malloc(6 * n + 3);
	if (!out)
		return NULL;
	out[escape_into(s ? s : "", n, out)] = '\0';
	return out;
}
