#include <string.h>

#include "util/utf8.h"

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char b = s[0];
	/* Allowed range of the second byte; narrower than 80..BF for the four
	 * lead bytes where it decides overlong, surrogate or too large. */
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;
	uint32_t c;

	*cp = UTF8_BAD;
	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b < 0xC2 || b > 0xF4)
		return 1; /* stray continuation byte, C0/C1 (always overlong), F5..FF */
	need = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
	c = b & (0x7Fu >> need); /* the lead byte's payload: 5, 4 or 3 bits */
	switch (b) {
	case 0xE0: lo = 0xA0; break; /* below U+0800: overlong */
	case 0xED: hi = 0x9F; break; /* U+D800..U+DFFF: surrogates */
	case 0xF0: lo = 0x90; break; /* below U+10000: overlong */
	case 0xF4: hi = 0x8F; break; /* above U+10FFFF */
	}
	for (size_t i = 1; i < need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi)
			return i; /* the maximal subpart so far */
		c = c << 6 | (s[i] & 0x3Fu);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp = c;
	return need;
}

size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t k = utf8_decode(s, n, cp);

	if (*cp == UTF8_BAD)
		*cp = UTF8_REPLACEMENT;
	return k;
}

size_t utf8_encoded_len(uint32_t c)
{
	return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

size_t utf8_encode(uint32_t c, char *o)
{
	size_t n = utf8_encoded_len(c);

	switch (n) {
	case 1:
		o[0] = (char)c;
		break;
	case 2:
		o[0] = (char)(0xC0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3F));
		break;
	case 3:
		o[0] = (char)(0xE0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		break;
	default:
		o[0] = (char)(0xF0 | (c >> 18));
		o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
		o[3] = (char)(0x80 | (c & 0x3F));
	}
	return n;
}

size_t utf8_sanitized_len(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = 0;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_decode(u + i, n - i, &cp);

		len += cp == UTF8_BAD ? 3 : k;
		i += k;
	}
	return len;
}

size_t utf8_sanitize(const char *s, size_t n, char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = 0;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_decode(u + i, n - i, &cp);

		if (cp == UTF8_BAD) {
			memcpy(out + len, "\xEF\xBF\xBD", 3);
			len += 3;
		} else {
			memcpy(out + len, s + i, k);
			len += k;
		}
		i += k;
	}
	return len;
}
