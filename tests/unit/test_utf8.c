/* util/utf8.c: the one UTF-8 decoder, at the edges of every rule. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "util/utf8.h"

struct dcase {
	const char *in;
	size_t n;      /* bytes available */
	size_t want_k; /* bytes covered */
	uint32_t want_cp;
};

static void test_decode(void)
{
	static const struct dcase cases[] = {
		/* Shortest and longest of each length. */
		{ "\x00", 1, 1, 0x00 },
		{ "\x7f", 1, 1, 0x7f },
		{ "\xc2\x80", 2, 2, 0x80 },
		{ "\xdf\xbf", 2, 2, 0x7ff },
		{ "\xe0\xa0\x80", 3, 3, 0x800 },
		{ "\xef\xbf\xbf", 3, 3, 0xffff },
		{ "\xf0\x90\x80\x80", 4, 4, 0x10000 },
		{ "\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff },
		/* Around the surrogates. */
		{ "\xed\x9f\xbf", 3, 3, 0xd7ff },
		{ "\xee\x80\x80", 3, 3, 0xe000 },
		{ "\xed\xa0\x80", 3, 1, UTF8_BAD },  /* U+D800 */
		{ "\xed\xbf\xbf", 3, 1, UTF8_BAD },  /* U+DFFF */
		/* A real U+FFFD is a code point, not an error. */
		{ "\xef\xbf\xbd", 3, 3, 0xfffd },
		/* Overlong forms. */
		{ "\xc0\x80", 2, 1, UTF8_BAD },
		{ "\xc1\xbf", 2, 1, UTF8_BAD },
		{ "\xe0\x80\x80", 3, 1, UTF8_BAD },
		{ "\xe0\x9f\xbf", 3, 1, UTF8_BAD },
		{ "\xf0\x80\x80\x80", 4, 1, UTF8_BAD },
		{ "\xf0\x8f\xbf\xbf", 4, 1, UTF8_BAD },
		/* Above U+10FFFF. */
		{ "\xf4\x90\x80\x80", 4, 1, UTF8_BAD },
		{ "\xf5\x80\x80\x80", 4, 1, UTF8_BAD },
		{ "\xff", 1, 1, UTF8_BAD },
		/* Stray continuation bytes. */
		{ "\x80", 1, 1, UTF8_BAD },
		{ "\xbf\x80", 2, 1, UTF8_BAD },
		/* Truncated: the maximal subpart is covered. */
		{ "\xe2\x82", 2, 2, UTF8_BAD },
		{ "\xf0\x9f\x90", 3, 3, UTF8_BAD },
		{ "\xc3", 1, 1, UTF8_BAD },
		/* Cut by a non-continuation byte. */
		{ "\xe2\x82" "A", 3, 2, UTF8_BAD },
		{ "\xf0\x9f" "\xc3\xa9", 4, 2, UTF8_BAD },
		/* Bytes available limit the sequence even when more follow. */
		{ "\xc3\xa9", 1, 1, UTF8_BAD },
		{ "\xf0\x9f\x90\x8d", 2, 2, UTF8_BAD },
		{ "\xf0\x9f\x90\x8d", 4, 4, 0x1f40d },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0x12345;
		size_t k = utf8_decode((const unsigned char *)cases[i].in, cases[i].n, &cp);

		if (k != cases[i].want_k || cp != cases[i].want_cp)
			fprintf(stderr, "case %zu\n", i);
		CHECK_EQ_INT(k, cases[i].want_k);
		CHECK_EQ_INT(cp, cases[i].want_cp);
	}
}

/* Every 1-, 2- and 3-byte input against the definition by code point: a
 * sequence is valid exactly when it is the shortest encoding of a scalar. */
static void test_decode_exhaustive(void)
{
	unsigned char s[3];
	long bad_valid = 0, bad_never_zero = 0;

	for (uint32_t v = 0; v < (1u << 24); v++) {
		s[0] = (unsigned char)(v >> 16);
		s[1] = (unsigned char)(v >> 8);
		s[2] = (unsigned char)v;
		uint32_t cp;
		size_t k = utf8_decode(s, 3, &cp);
		bool valid;

		if (k == 0 || k > 3) {
			bad_never_zero++;
			continue;
		}
		if (s[0] < 0x80)
			valid = k == 1 && cp == s[0];
		else if (cp == UTF8_BAD)
			valid = true; /* checked below: no shorter valid reading */
		else if (k == 2)
			valid = cp >= 0x80 && cp <= 0x7ff &&
				s[0] == (0xc0 | cp >> 6) && s[1] == (0x80 | (cp & 0x3f));
		else
			valid = cp >= 0x800 && cp <= 0xffff && !(cp >= 0xd800 && cp <= 0xdfff) &&
				s[0] == (0xe0 | cp >> 12) && s[1] == (0x80 | ((cp >> 6) & 0x3f)) &&
				s[2] == (0x80 | (cp & 0x3f));
		if (cp == UTF8_BAD) {
			/* Rejected: the lead byte must not start a well-formed
			 * 2- or 3-byte encoding of these bytes. */
			bool two = s[0] >= 0xc2 && s[0] <= 0xdf && (s[1] & 0xc0) == 0x80;
			uint32_t c3 = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
			bool three = s[0] >= 0xe0 && s[0] <= 0xef && (s[1] & 0xc0) == 0x80 &&
				     (s[2] & 0xc0) == 0x80 && c3 >= 0x800 && !(c3 >= 0xd800 && c3 <= 0xdfff);
			valid = !two && !three;
		}
		if (!valid)
			bad_valid++;
	}
	CHECK_EQ_INT(bad_valid, 0);
	CHECK_EQ_INT(bad_never_zero, 0);
}

static void test_next_and_sanitize(void)
{
	uint32_t cp;
	char out[64];

	CHECK_EQ_INT(utf8_next((const unsigned char *)"\xed\xa0\x80", 3, &cp), 1);
	CHECK_EQ_INT(cp, UTF8_REPLACEMENT);
	CHECK_EQ_INT(utf8_next((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
	CHECK_EQ_INT(cp, 0xe9);

	/* One U+FFFD per maximal subpart: E2 82 is one, ED A0 80 three. */
	static const char in[] = "a\xe2\x82" "b\xed\xa0\x80" "c\xef\xbf\xbd";
	static const char want[] = "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd";
	size_t n = strlen(in);

	CHECK_EQ_INT(utf8_sanitized_len(in, n), strlen(want));
	CHECK_EQ_INT(utf8_sanitize(in, n, out), strlen(want));
	CHECK(memcmp(out, want, strlen(want)) == 0);
	CHECK_EQ_INT(utf8_sanitized_len("h\xc3\xa9llo", 6), 6);
	CHECK_EQ_INT(utf8_sanitized_len("", 0), 0);
}

/* Every scalar value encodes to bytes that decode back to it, in
 * utf8_encoded_len bytes; surrogates are never produced by the decoder. */
static void test_encode_round_trip(void)
{
	long bad = 0;

	for (uint32_t c = 0; c <= 0x10ffff; c++) {
		char buf[4];
		uint32_t cp;
		size_t n = utf8_encode(c, buf);
		size_t k = utf8_decode((const unsigned char *)buf, n, &cp);
		bool surrogate = c >= 0xd800 && c <= 0xdfff;

		if (n != utf8_encoded_len(c) || (surrogate ? cp != UTF8_BAD : (k != n || cp != c)))
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(utf8_encoded_len(0x7f), 1);
	CHECK_EQ_INT(utf8_encoded_len(0x80), 2);
	CHECK_EQ_INT(utf8_encoded_len(0x7ff), 2);
	CHECK_EQ_INT(utf8_encoded_len(0x800), 3);
	CHECK_EQ_INT(utf8_encoded_len(0xffff), 3);
	CHECK_EQ_INT(utf8_encoded_len(0x10000), 4);
}

int main(void)
{
	test_decode();
	test_decode_exhaustive();
	test_next_and_sanitize();
	test_encode_round_trip();
	UNIT_DONE();
}
