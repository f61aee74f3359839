/*
 * CPython str decoding tests.
 *
 *   test_pystr                 hand-made headers and strings, garbage
 *   test_pystr --check FILE    strings read out of a real interpreter's memory
 *                              by tests/targets/pystr_dump.py ("-" = stdin)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "layouts.h"
#include "python/pystr.h"
#include "unit.h"

/* 3.12+ and 3.8-3.11 on x86_64 (PyASCIIObject without / with wstr). */
static const struct pystr_layout L312 = {.state_off = 32, .length_off = 16, .ascii_size = 40,
					 .compact_size = 56, .kind_shift = 2, .compact_shift = 5,
					 .ascii_shift = 6};
static const struct pystr_layout L38 = {.state_off = 32, .length_off = 16, .ascii_size = 48,
					.compact_size = 72, .kind_shift = 2, .compact_shift = 5,
					.ascii_shift = 6};

static void make_hdr(uint8_t *h, const struct pystr_layout *l, int64_t length, unsigned kind,
		     bool compact, bool ascii, uint32_t extra_state)
{
	memset(h, 0xAB, l->compact_size); /* garbage in every other field */
	memcpy(h + l->length_off, &length, 8);
	uint32_t st = extra_state | (kind << l->kind_shift) | ((uint32_t)compact << l->compact_shift) |
		      ((uint32_t)ascii << l->ascii_shift);
	memcpy(h + l->state_off, &st, 4);
}

/* Parse from an exact-size heap copy of hdrlen bytes (ASan guards reads). */
static int parse(const struct pystr_layout *l, const uint8_t *h, size_t hdrlen, struct pystr_header *o)
{
	uint8_t *c = malloc(hdrlen ? hdrlen : 1);
	if (!c)
		abort();
	memcpy(c, h, hdrlen);
	int r = pystr_parse_header(l, c, hdrlen, o);
	free(c);
	return r;
}

static void test_header(void)
{
	uint8_t h[128];
	struct pystr_header o;
	const struct pystr_layout *layouts[] = {&L312, &L38};
	for (int i = 0; i < 2; i++) {
		const struct pystr_layout *l = layouts[i];
		/* Compact ASCII; interned/ready/static bits set around it are ignored. */
		make_hdr(h, l, 5, 1, true, true, 3u | 1u << 7);
		memset(&o, 0, sizeof(o));
		CHECK_EQ_INT(parse(l, h, l->ascii_size, &o), 0); /* ASCII needs only PyASCIIObject */
		CHECK_EQ_INT(o.length, 5);
		CHECK_EQ_INT(o.kind, 1);
		CHECK(o.ascii && o.compact);
		CHECK_EQ_INT(o.data_offset, l->ascii_size);
		CHECK_EQ_INT(parse(l, h, l->ascii_size - 1, &o), -EINVAL);

		unsigned kinds[] = {1, 2, 4};
		for (int k = 0; k < 3; k++) {
			make_hdr(h, l, 1000, kinds[k], true, false, 0);
			CHECK_EQ_INT(parse(l, h, l->compact_size, &o), 0);
			CHECK_EQ_INT(o.kind, kinds[k]);
			CHECK_EQ_INT(o.length, 1000);
			CHECK(!o.ascii && o.compact);
			CHECK_EQ_INT(o.data_offset, l->compact_size);
			/* Non-ASCII data sits after PyCompactUnicodeObject: a header
			 * cut between the two sizes is not enough. */
			CHECK_EQ_INT(parse(l, h, l->compact_size - 1, &o), -EINVAL);
			CHECK_EQ_INT(parse(l, h, l->ascii_size, &o), -EINVAL);
			/* ASCII with a wide kind is impossible. */
			make_hdr(h, l, 3, kinds[k], true, true, 0);
			CHECK_EQ_INT(parse(l, h, l->compact_size, &o), kinds[k] == 1 ? 0 : -EINVAL);
		}
		/* Not compact: a str subclass or a 3.8-3.11 legacy string. */
		make_hdr(h, l, 3, 1, false, true, 0);
		CHECK_EQ_INT(parse(l, h, l->compact_size, &o), -EINVAL);
		make_hdr(h, l, 3, 2, false, false, 1u << 7);
		CHECK_EQ_INT(parse(l, h, l->compact_size, &o), -EINVAL);
		/* Kinds that are not 1/2/4 (0 = 3.8-3.11 wchar_t, not ready). */
		unsigned badk[] = {0, 3, 5, 6, 7};
		for (int k = 0; k < 5; k++) {
			make_hdr(h, l, 3, badk[k], true, false, 0);
			CHECK_EQ_INT(parse(l, h, l->compact_size, &o), -EINVAL);
		}
		/* Lengths: zero fine, negative not, the largest PyUnicode_New allows. */
		make_hdr(h, l, 0, 1, true, true, 0);
		CHECK_EQ_INT(parse(l, h, l->compact_size, &o), 0);
		CHECK_EQ_INT(o.length, 0);
		make_hdr(h, l, -1, 1, true, true, 0);
		CHECK_EQ_INT(parse(l, h, l->compact_size, &o), -EINVAL);
		make_hdr(h, l, INT64_MIN, 1, true, true, 0);
		CHECK_EQ_INT(parse(l, h, l->compact_size, &o), -EINVAL);
		int64_t max4 = (INT64_MAX - l->compact_size) / 4 - 1;
		make_hdr(h, l, max4, 4, true, false, 0);
		CHECK_EQ_INT(parse(l, h, l->compact_size, &o), 0);
		make_hdr(h, l, max4 + 1, 4, true, false, 0);
		CHECK_EQ_INT(parse(l, h, l->compact_size, &o), -EINVAL);
		make_hdr(h, l, INT64_MAX, 1, true, true, 0);
		CHECK_EQ_INT(parse(l, h, l->compact_size, &o), -EINVAL);
	}
	/* Unusable layouts and arguments. */
	make_hdr(h, &L312, 3, 1, true, true, 0);
	struct pystr_layout bad = L312;
	bad.state_off = 38; /* word would straddle the end of PyASCIIObject */
	CHECK_EQ_INT(parse(&bad, h, 56, &o), -EINVAL);
	bad = L312;
	bad.length_off = 36;
	CHECK_EQ_INT(parse(&bad, h, 56, &o), -EINVAL);
	bad = L312;
	bad.kind_shift = 30;
	CHECK_EQ_INT(parse(&bad, h, 56, &o), -EINVAL);
	bad = L312;
	bad.compact_shift = 32;
	CHECK_EQ_INT(parse(&bad, h, 56, &o), -EINVAL);
	bad = L312;
	bad.compact_size = 32;
	CHECK_EQ_INT(parse(&bad, h, 56, &o), -EINVAL);
	CHECK_EQ_INT(pystr_parse_header(NULL, h, 56, &o), -EINVAL);
	CHECK_EQ_INT(pystr_parse_header(&L312, NULL, 56, &o), -EINVAL);
	CHECK_EQ_INT(pystr_parse_header(&L312, h, 56, NULL), -EINVAL);
	CHECK_EQ_INT(pystr_parse_header(&L312, h, 0, &o), -EINVAL);
}

/* Encode code points as `kind`-byte characters. */
static size_t chars(unsigned kind, const uint32_t *cp, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		if (kind == 1)
			out[i] = (uint8_t)cp[i];
		else if (kind == 2) {
			uint16_t v = (uint16_t)cp[i];
			memcpy(out + 2 * i, &v, 2);
		} else
			memcpy(out + 4 * i, &cp[i], 4);
	}
	return n * kind;
}

/* pystr_to_utf8 on an exact-size heap copy of the character data. */
static size_t enc(unsigned kind, const uint8_t *data, size_t len, int64_t nchars, char *out, size_t cap)
{
	uint8_t *c = malloc(len ? len : 1);
	char *o = malloc(cap ? cap : 1);
	if (!c || !o)
		abort();
	memcpy(c, data, len);
	size_t r = pystr_to_utf8(kind, len ? c : NULL, len, nchars, cap ? o : NULL, cap);
	if (cap)
		memcpy(out, o, cap);
	free(c);
	free(o);
	return r;
}

static bool valid_utf8(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	for (size_t i = 0; i < n;) {
		uint32_t c = p[i];
		size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
		if (k == 9 || (k && i + k >= n))
			return false;
		if (c == 0)
			return false; /* no interior NUL */
		c &= k == 0 ? 0x7F : k == 1 ? 0x1F : k == 2 ? 0x0F : 0x07;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xC0) != 0x80)
				return false;
			c = c << 6 | (p[i + j] & 0x3F);
		}
		static const uint32_t minv[] = {0, 0x80, 0x800, 0x10000};
		if (c < minv[k] || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
			return false;
		i += k + 1;
	}
	return s[n] == '\0';
}

#define ENC_CP(kind, cps, out, cap) \
	do { \
		uint8_t d_[4 * sizeof(cps) / sizeof(cps[0])]; \
		size_t l_ = chars((kind), (cps), sizeof(cps) / sizeof(cps[0]), d_); \
		enc((kind), d_, l_, (int64_t)(sizeof(cps) / sizeof(cps[0])), (out), (cap)); \
	} while (0)

static void test_utf8(void)
{
	char out[256];

	/* Each kind, code points at every UTF-8 length boundary. */
	const uint32_t ascii[] = {'h', 'i', 0x7F};
	ENC_CP(1, ascii, out, sizeof(out));
	CHECK_STR(out, "hi\x7f");
	const uint32_t latin[] = {'c', 'a', 'f', 0xE9, 0x80, 0xFF};
	ENC_CP(1, latin, out, sizeof(out));
	CHECK_STR(out, "caf\xc3\xa9\xc2\x80\xc3\xbf");
	const uint32_t ucs2[] = {0x6F22, 0x5B57, 0x7FF, 0x800, 0xFFFF, 'x'};
	ENC_CP(2, ucs2, out, sizeof(out));
	CHECK_STR(out, "\xe6\xbc\xa2\xe5\xad\x97\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf" "x");
	const uint32_t ucs4[] = {0x1F600, 0x10000, 0x10FFFF, 0xE9, 'a'};
	ENC_CP(4, ucs4, out, sizeof(out));
	CHECK_STR(out, "\xf0\x9f\x98\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\xc3\xa9" "a");

	/* Lone surrogates (a pair is two lone ones in a str), values above
	 * U+10FFFF and NUL become U+FFFD. */
	const uint32_t sur2[] = {'a', 0xD800, 0xDFFF, 'b', 0xD83D, 0xDE00};
	ENC_CP(2, sur2, out, sizeof(out));
	CHECK_STR(out, "a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd");
	const uint32_t sur4[] = {0xDBFF, 0x110000, 0xFFFFFFFF, 0x1F600};
	ENC_CP(4, sur4, out, sizeof(out));
	CHECK_STR(out, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xf0\x9f\x98\x80");
	const uint32_t nul[] = {'a', 0, 'b'};
	ENC_CP(1, nul, out, sizeof(out));
	CHECK_STR(out, "a\xef\xbf\xbd" "b");
	ENC_CP(2, nul, out, sizeof(out));
	CHECK_STR(out, "a\xef\xbf\xbd" "b");
	ENC_CP(4, nul, out, sizeof(out));
	CHECK_STR(out, "a\xef\xbf\xbd" "b");

	/* Zero length, invalid arguments. */
	CHECK_EQ_INT(enc(1, (const uint8_t *)"", 0, 0, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abc", 3, -1, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(enc(3, (const uint8_t *)"abc", 3, 1, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(enc(0, (const uint8_t *)"abc", 3, 1, out, sizeof(out)), 0);
	strcpy(out, "x");
	CHECK_EQ_INT(pystr_to_utf8(1, NULL, 5, 5, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	char canary[4] = "zzz";
	CHECK_EQ_INT(pystr_to_utf8(1, (const uint8_t *)"abc", 3, 3, canary, 0), 0);
	CHECK_STR(canary, "zzz"); /* cap 0: nothing written */
	CHECK_EQ_INT(pystr_to_utf8(1, (const uint8_t *)"abc", 3, 3, NULL, 10), 0);

	/* Exact fit, then one byte short. */
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abcdef", 6, 6, out, 7), 6);
	CHECK_STR(out, "abcdef");
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abcdef", 6, 6, out, 6), 5);
	CHECK_STR(out, "ab...");
	/* Cut on a character boundary: 漢 is 3 bytes, never split. */
	const uint32_t kanji[] = {0x6F22, 0x6F22, 0x6F22, 0x6F22};
	ENC_CP(2, kanji, out, 12);
	CHECK_STR(out, "\xe6\xbc\xa2\xe6\xbc\xa2...");
	ENC_CP(2, kanji, out, 13);
	CHECK_STR(out, "\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2");
	ENC_CP(2, kanji, out, 11);
	CHECK_STR(out, "\xe6\xbc\xa2\xe6\xbc\xa2...");
	ENC_CP(2, kanji, out, 9);
	CHECK_STR(out, "\xe6\xbc\xa2...");
	ENC_CP(2, kanji, out, 6);
	CHECK_STR(out, "...");
	/* Tiny buffers: only dots, as many as fit. */
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abcdef", 6, 6, out, 1), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abcdef", 6, 6, out, 2), 1);
	CHECK_STR(out, ".");
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abcdef", 6, 6, out, 4), 3);
	CHECK_STR(out, "...");
	CHECK_EQ_INT(enc(1, (const uint8_t *)"a", 1, 1, out, 2), 1);
	CHECK_STR(out, "a");

	/* The caller read fewer characters than the string has. */
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abcdef", 3, 6, out, sizeof(out)), 6);
	CHECK_STR(out, "abc...");
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abcdef", 3, 6, out, 6), 5);
	CHECK_STR(out, "ab...");
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abcdef", 0, 6, out, sizeof(out)), 3);
	CHECK_STR(out, "...");
	/* A partial character at the end of the data is not used. */
	const uint32_t two[] = {0x6F22, 'b'};
	uint8_t d2[8];
	chars(2, two, 2, d2);
	CHECK_EQ_INT(enc(2, d2, 3, 2, out, sizeof(out)), 6);
	CHECK_STR(out, "\xe6\xbc\xa2...");
	/* More data than characters: only nchars used. */
	CHECK_EQ_INT(enc(1, (const uint8_t *)"abcdef", 6, 2, out, sizeof(out)), 2);
	CHECK_STR(out, "ab");

	/* A huge length with little data and a small buffer is cheap and safe. */
	static uint8_t big[1 << 16];
	memset(big, 'q', sizeof(big));
	CHECK_EQ_INT(enc(4, big, sizeof(big), INT64_MAX, out, 10), 9);
	CHECK(valid_utf8(out, 9));
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* Random data of every kind and random caps: always valid UTF-8, within cap,
 * and a truncated result is a prefix of the full one plus dots. */
static void test_random(void)
{
	static uint8_t data[4096];
	static char full[4 * 4096 + 1], cut[512];
	int bad = 0;
	for (int iter = 0; iter < 3000 && !bad; iter++) {
		unsigned kind = (unsigned[]){1, 2, 4}[rnd() % 3];
		size_t n = rnd() % (sizeof(data) / kind);
		for (size_t i = 0; i < n * kind; i++)
			data[i] = (uint8_t)rnd();
		if (iter % 2 && kind == 4) /* mostly valid code points */
			for (size_t i = 0; i < n; i++) {
				uint32_t c = rnd() % 0x110000;
				memcpy(data + 4 * i, &c, 4);
			}
		size_t fl = enc(kind, data, n * kind, (int64_t)n, full, sizeof(full));
		size_t cap = 1 + rnd() % sizeof(cut);
		size_t cl = enc(kind, data, n * kind, (int64_t)n, cut, cap);
		if (!valid_utf8(full, fl) || strlen(full) != fl || cl > cap - 1 || strlen(cut) != cl)
			bad = 1;
		else if (fl <= cap - 1)
			bad = cl != fl || strcmp(cut, full) != 0;
		else if (cap - 1 >= 3) {
			/* Kept prefix p: the longest whole-character prefix of the
			 * full output within cap - 1 - 3 bytes. */
			size_t p = cl - 3;
			uint8_t lead = (uint8_t)full[p];
			size_t w = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
			bad = cl < 3 || memcmp(cut + p, "...", 3) != 0 || memcmp(cut, full, p) != 0 ||
			      !valid_utf8(cut, cl) || (full[p] & 0xC0) == 0x80 || p + w <= cap - 1 - 3;
		}
		if (bad)
			fprintf(stderr, "random iter %d kind %u n %zu cap %zu: full %zu cut %zu\n", iter, kind,
				n, cap, fl, cl);
	}
	CHECK(!bad);
}

/* ---------------- --check mode ---------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static uint8_t *parse_hex(const char *s, size_t *len)
{
	size_t n = strcmp(s, "-") == 0 ? 0 : strlen(s);
	if (n % 2)
		return NULL;
	uint8_t *p = malloc(n / 2 ? n / 2 : 1);
	if (!p)
		abort();
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(p);
			return NULL;
		}
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return p;
}

/*
 * Input, one record per line:
 *   V <PY_VERSION_HEX in hex>
 *   L <state_off> <length_off> <ascii_size> <compact_size> <kind_shift> <compact_shift> <ascii_shift>
 *   S <label> ok <kind> <length> <ascii 0|1> <memory hex> <cap>,<chars read>,<utf8 hex|-> ...
 *   S <label> bad <memory hex>
 * The memory is what the interpreter holds at id(s): the header, then for
 * "ok" strings the characters and their NUL. Each case encodes the first
 * <chars read> characters' bytes into a <cap>-byte buffer.
 * The measured layout (L) is also compared with the generated layouts table
 * entry for that version (py_layout_find), which is what the profiler uses.
 */
static int check_file(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 2;
	}
	struct pystr_layout l;
	bool have_layout = false;
	char *line = NULL;
	size_t linecap = 0;
	long lineno = 0, strings = 0, refused = 0, cases = 0, mismatches = 0;
	long kinds[5] = {0};
	uint32_t version = 0;
	int rc = 0;
	while (!rc && getline(&line, &linecap, f) > 0) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		char *save = NULL, *tag = strtok_r(line, " ", &save);
		if (!tag)
			continue;
		if (strcmp(tag, "V") == 0) {
			char *v = strtok_r(NULL, " ", &save);
			version = v ? (uint32_t)strtoul(v, NULL, 16) : 0;
			continue;
		}
		if (strcmp(tag, "L") == 0) {
			unsigned v[7];
			for (int i = 0; i < 7; i++) {
				char *t = strtok_r(NULL, " ", &save);
				if (!t) {
					rc = 2;
					break;
				}
				v[i] = (unsigned)strtoul(t, NULL, 10);
			}
			if (rc)
				break;
			l = (struct pystr_layout){.state_off = (uint16_t)v[0], .length_off = (uint16_t)v[1],
						  .ascii_size = (uint16_t)v[2], .compact_size = (uint16_t)v[3],
						  .kind_shift = (uint8_t)v[4], .compact_shift = (uint8_t)v[5],
						  .ascii_shift = (uint8_t)v[6]};
			have_layout = true;
			continue;
		}
		char *label = strtok_r(NULL, " ", &save), *status = strtok_r(NULL, " ", &save);
		if (strcmp(tag, "S") || !have_layout || !label || !status) {
			fprintf(stderr, "%s:%ld: unexpected record\n", path, lineno);
			rc = 2;
			break;
		}
		bool ok = strcmp(status, "ok") == 0;
		unsigned kind = 0, ascii = 0;
		long long length = 0;
		if (ok) {
			char *k = strtok_r(NULL, " ", &save), *n = strtok_r(NULL, " ", &save),
			     *a = strtok_r(NULL, " ", &save);
			if (!k || !n || !a) {
				rc = 2;
				break;
			}
			kind = (unsigned)atoi(k);
			length = atoll(n);
			ascii = (unsigned)atoi(a);
		}
		char *hex = strtok_r(NULL, " ", &save);
		size_t memlen = 0;
		uint8_t *mem = hex ? parse_hex(hex, &memlen) : NULL;
		if (!mem) {
			fprintf(stderr, "%s:%ld: bad memory hex\n", path, lineno);
			rc = 2;
			break;
		}
		strings++;
		struct pystr_header h;
		memset(&h, 0, sizeof(h));
		int r = pystr_parse_header(&l, mem, memlen, &h);
		if (!ok) {
			refused++;
			if (r != -EINVAL) {
				printf("MISMATCH %s: accepted a string the interpreter keeps non-compact "
				       "(kind %u length %lld)\n", label, h.kind, (long long)h.length);
				mismatches++;
			}
			free(mem);
			continue;
		}
		if (r != 0 || h.kind != kind || h.length != length || h.ascii != (ascii != 0) ||
		    h.data_offset + (size_t)length * kind > memlen) {
			printf("MISMATCH %s: parse %d kind %u/%u length %lld/%lld ascii %d/%u offset %zu\n",
			       label, r, h.kind, kind, (long long)h.length, length, h.ascii, ascii,
			       h.data_offset);
			mismatches++;
			free(mem);
			continue;
		}
		kinds[kind]++;
		/* One byte short of the data offset must be refused, not overread. */
		struct pystr_header h2;
		if (pystr_parse_header(&l, mem, h.data_offset - 1, &h2) != -EINVAL) {
			printf("MISMATCH %s: accepted a header cut at %zu bytes\n", label, h.data_offset - 1);
			mismatches++;
		}
		char *c;
		while ((c = strtok_r(NULL, " ", &save))) {
			char *c1 = strchr(c, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
			if (!c2) {
				rc = 2;
				break;
			}
			*c1 = *c2 = '\0';
			size_t cap = strtoul(c, NULL, 10), nread = strtoul(c1 + 1, NULL, 10), wlen = 0;
			uint8_t *want = parse_hex(c2 + 1, &wlen);
			if (!want || nread > (size_t)length || cap == 0) {
				free(want);
				rc = 2;
				break;
			}
			/* Exact-size copies of the data read and of the buffer. */
			size_t dlen = nread * kind;
			uint8_t *data = malloc(dlen ? dlen : 1);
			char *out = malloc(cap);
			if (!data || !out)
				abort();
			memcpy(data, mem + h.data_offset, dlen);
			size_t got = pystr_to_utf8(h.kind, data, dlen, h.length, out, cap);
			cases++;
			if (got != wlen || memcmp(out, want, wlen) != 0 || out[got] != '\0') {
				if (mismatches < 50) {
					printf("MISMATCH %s cap %zu read %zu: got %zu bytes \"", label, cap,
					       nread, got);
					for (size_t i = 0; i < got && i < 64; i++)
						printf("%02x", (uint8_t)out[i]);
					printf("\", want %zu bytes \"%s\"\n", wlen, c2 + 1);
				}
				mismatches++;
			}
			free(data);
			free(out);
			free(want);
		}
		free(mem);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	/* The generated table's unicode fields for this version. */
	bool exact = false;
	const struct py_layout *t = version ? py_layout_find(version, &exact) : NULL;
	if (!have_layout || !t) {
		printf("table-layout none\n");
	} else {
		bool same = t->unicode_state == l.state_off && t->unicode_length == l.length_off &&
			    t->unicode_ascii_size == l.ascii_size &&
			    t->unicode_compact_size == l.compact_size &&
			    t->unicode_kind_shift == l.kind_shift &&
			    t->unicode_compact_shift == l.compact_shift &&
			    t->unicode_ascii_shift == l.ascii_shift;
		printf("table-layout %s %s (table %x: state %u length %u ascii %u compact %u shifts %u %u %u)\n",
		       same ? "match" : "differs", exact ? "exact" : "nearest", t->version_hex,
		       t->unicode_state, t->unicode_length, t->unicode_ascii_size,
		       t->unicode_compact_size, t->unicode_kind_shift, t->unicode_compact_shift,
		       t->unicode_ascii_shift);
	}
	printf("strings %ld refused %ld kind1 %ld kind2 %ld kind4 %ld cases %ld mismatches %ld\n",
	       strings, refused, kinds[1], kinds[2], kinds[4], cases, mismatches);
	if (rc) {
		fprintf(stderr, "%s:%ld: malformed input\n", path, lineno);
		return rc;
	}
	if (!have_layout || strings == 0)
		return 2;
	return mismatches ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		return check_file(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--check FILE|-]\n", argv[0]);
		return 2;
	}
	test_header();
	test_utf8();
	test_random();
	UNIT_DONE();
}
