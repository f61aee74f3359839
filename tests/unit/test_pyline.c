/*
 * Line-table decoder tests.
 *
 *   test_pyline                 hand-made tables for each format, a round
 *                               trip through small encoders written here from
 *                               the format descriptions, and garbage input
 *   test_pyline --check FILE    compare against ground truth dumped by
 *                               tests/targets/linetable_truth.py ("-" = stdin)
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "python/pyline.h"
#include "unit.h"

/* Exact-size heap copy, so ASan flags any read past the table. */
static int look(enum pyline_format f, const uint8_t *t, size_t len, int first, int off)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	if (len)
		memcpy(copy, t, len);
	int r = pyline_lookup(f, copy, len, first, off);
	free(copy);
	return r;
}

#define LOOK(f, arr, first, off) look((f), (arr), sizeof(arr), (first), (off))

static void test_version(void)
{
	CHECK_EQ_INT(pyline_format_for_version(0x030812f0), PYLINE_LNOTAB);
	CHECK_EQ_INT(pyline_format_for_version(0x030912f0), PYLINE_LNOTAB);
	CHECK_EQ_INT(pyline_format_for_version(0x030A00a1), PYLINE_310);
	CHECK_EQ_INT(pyline_format_for_version(0x030A0df0), PYLINE_310);
	CHECK_EQ_INT(pyline_format_for_version(0x030B0000), PYLINE_311);
	CHECK_EQ_INT(pyline_format_for_version(0x030C01f0), PYLINE_311);
	CHECK_EQ_INT(pyline_format_for_version(0x030F02f0), PYLINE_311);
}

static void test_lnotab(void)
{
	const enum pyline_format F = PYLINE_LNOTAB;
	/* Empty table: every offset is on the first line (no end in lnotab). */
	CHECK_EQ_INT(look(F, NULL, 0, 10, 0), 10);
	CHECK_EQ_INT(look(F, NULL, 0, 10, 1000), 10);
	CHECK_EQ_INT(pyline_lookup(F, NULL, 0, 10, 4), 10);
	CHECK_EQ_INT(pyline_lookup(F, NULL, 99, 10, 4), 10); /* NULL is empty */

	const uint8_t t1[] = {6, 1, 8, 2};
	CHECK_EQ_INT(LOOK(F, t1, 10, 0), 10);
	CHECK_EQ_INT(LOOK(F, t1, 10, 5), 10);
	CHECK_EQ_INT(LOOK(F, t1, 10, 6), 11);
	CHECK_EQ_INT(LOOK(F, t1, 10, 13), 11);
	CHECK_EQ_INT(LOOK(F, t1, 10, 14), 13);
	CHECK_EQ_INT(LOOK(F, t1, 10, 100000), 13); /* past the end: last line */
	CHECK_EQ_INT(LOOK(F, t1, 10, -1), 10);      /* not started */
	CHECK_EQ_INT(LOOK(F, t1, 10, INT_MIN), 10);
	CHECK_EQ_INT(LOOK(F, t1, 10, INT_MAX), 13);

	/* Signed line increments, -128 is an ordinary decrement here. */
	const uint8_t t2[] = {4, 0xff, 2, 0x80, 2, 0x7f};
	CHECK_EQ_INT(LOOK(F, t2, 500, 3), 500);
	CHECK_EQ_INT(LOOK(F, t2, 500, 4), 499);
	CHECK_EQ_INT(LOOK(F, t2, 500, 6), 371);
	CHECK_EQ_INT(LOOK(F, t2, 500, 8), 498);

	/* A big jump split over zero-address pairs applies all of them. */
	const uint8_t t3[] = {0, 127, 0, 127, 10, 6};
	CHECK_EQ_INT(LOOK(F, t3, 1, 0), 255);
	CHECK_EQ_INT(LOOK(F, t3, 1, 9), 255);
	CHECK_EQ_INT(LOOK(F, t3, 1, 10), 261);
	/* Big address jumps: 255-byte increments with no line change. */
	const uint8_t t4[] = {255, 0, 255, 0, 4, 3};
	CHECK_EQ_INT(LOOK(F, t4, 7, 513), 7);
	CHECK_EQ_INT(LOOK(F, t4, 7, 514), 10);

	/* Malformed: odd size, line leaving int range. */
	const uint8_t odd[] = {2, 1, 2};
	CHECK_EQ_INT(LOOK(F, odd, 1, 0), -1);
	const uint8_t up[] = {0, 127};
	CHECK_EQ_INT(LOOK(F, up, INT_MAX - 100, 0), -1);
	CHECK_EQ_INT(LOOK(F, up, INT_MAX - 127, 0), INT_MAX);
	const uint8_t down[] = {0, 0x80};
	CHECK_EQ_INT(LOOK(F, down, INT_MIN + 5, 0), -1);
}

static void test_310(void)
{
	const enum pyline_format F = PYLINE_310;
	CHECK_EQ_INT(look(F, NULL, 0, 10, 0), -1); /* empty: no ranges at all */
	CHECK_EQ_INT(look(F, NULL, 0, 10, -1), 10);

	const uint8_t t1[] = {6, 1, 8, 0x80, 4, 2};
	CHECK_EQ_INT(LOOK(F, t1, 10, 0), 11);
	CHECK_EQ_INT(LOOK(F, t1, 10, 5), 11);
	CHECK_EQ_INT(LOOK(F, t1, 10, 6), -1);  /* -128: no line */
	CHECK_EQ_INT(LOOK(F, t1, 10, 13), -1);
	CHECK_EQ_INT(LOOK(F, t1, 10, 14), 13); /* -128 did not move the line */
	CHECK_EQ_INT(LOOK(F, t1, 10, 17), 13);
	CHECK_EQ_INT(LOOK(F, t1, 10, 18), -1); /* past the end */
	CHECK_EQ_INT(LOOK(F, t1, 10, INT_MAX), -1);
	CHECK_EQ_INT(LOOK(F, t1, 10, -5), 10);

	/* Zero-length ranges carry a split line jump. */
	const uint8_t t2[] = {0, 127, 0, 127, 4, 1, 2, 0x81};
	CHECK_EQ_INT(LOOK(F, t2, 1, 0), 256);
	CHECK_EQ_INT(LOOK(F, t2, 1, 3), 256);
	CHECK_EQ_INT(LOOK(F, t2, 1, 4), 129);
	/* Negative first delta. */
	const uint8_t t3[] = {2, 0xfe};
	CHECK_EQ_INT(LOOK(F, t3, 5, 0), 3);
	CHECK_EQ_INT(LOOK(F, t3, 5, 1), 3);
	CHECK_EQ_INT(LOOK(F, t3, 5, 2), -1);

	const uint8_t odd[] = {2, 1, 2};
	CHECK_EQ_INT(LOOK(F, odd, 1, 0), -1);
	const uint8_t over[] = {0, 100, 2, 100};
	CHECK_EQ_INT(LOOK(F, over, INT_MAX - 150, 0), -1);
}

/* --- 3.11+ location table helpers --- */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct buf *b, uint8_t v)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	b->p[b->n++] = v;
}

static void put_varint(struct buf *b, uint64_t v)
{
	while (v >= 64) {
		put(b, 64 | (v & 63));
		v >>= 6;
	}
	put(b, (uint8_t)v);
}

static void put_svarint(struct buf *b, int64_t v)
{
	put_varint(b, v < 0 ? ((uint64_t)(-v) << 1) | 1 : (uint64_t)v << 1);
}

static uint8_t hdr311(unsigned code, unsigned units)
{
	return (uint8_t)(0x80 | (code << 3) | (units - 1));
}

/* One entry of `units` code units (1-8) moving the line by delta. form:
 * 0 short, 1 one-line, 2 no-columns, 3 long; 4 no location (delta ignored). */
static void put_entry(struct buf *b, int form, unsigned units, int64_t delta)
{
	switch (form) {
	case 0:
		put(b, hdr311(3, units)); /* start column 24..31 */
		put(b, 0x25);
		break;
	case 1:
		put(b, hdr311(10 + (unsigned)delta, units));
		put(b, 4);
		put(b, 17);
		break;
	case 2:
		put(b, hdr311(13, units));
		put_svarint(b, delta);
		break;
	case 3:
		put(b, hdr311(14, units));
		put_svarint(b, delta);
		put_varint(b, 2);   /* end line delta */
		put_varint(b, 130); /* start column + 1, two chunks */
		put_varint(b, 7);
		break;
	default:
		put(b, hdr311(15, units));
	}
}

static int look_buf(enum pyline_format f, struct buf *b, int first, int off)
{
	return look(f, b->p, b->n, first, off);
}

static void test_311(void)
{
	const enum pyline_format F = PYLINE_311;
	struct buf b = {0};

	CHECK_EQ_INT(look(F, NULL, 0, 10, 0), -1);
	CHECK_EQ_INT(look(F, NULL, 0, 10, -2), 10);

	/* One entry per form, then the lines of every byte offset. */
	put_entry(&b, 0, 1, 0);   /* [0,2)   line 100 */
	put_entry(&b, 1, 3, 2);   /* [2,8)   102 */
	put_entry(&b, 2, 2, -5);  /* [8,12)  97 */
	put_entry(&b, 3, 8, 300); /* [12,28) 397 */
	put_entry(&b, 4, 2, 0);   /* [28,32) none */
	put_entry(&b, 1, 1, 0);   /* [32,34) 397: no-location did not move it */
	put_entry(&b, 3, 1, -396);/* [34,36) 1 */
	put_entry(&b, 2, 1, -2);  /* [36,38) -1 (a real line, same value) */
	put_entry(&b, 2, 1, 500); /* [38,40) 499 */
	static const int want[] = {100, 102, 102, 102, 97, 97, 397, 397, 397, 397, 397, 397, 397, 397,
				   -1, -1, 397, 1, -1, 499};
	for (int off = 0; off < 40; off++)
		CHECK_EQ_INT(look_buf(F, &b, 100, off), want[off / 2]);
	CHECK_EQ_INT(look_buf(F, &b, 100, 40), -1); /* past the end */
	CHECK_EQ_INT(look_buf(F, &b, 100, INT_MAX), -1);
	CHECK_EQ_INT(look_buf(F, &b, 100, -1), 100);

	/* Truncations anywhere make offsets from the cut entry on -1, while
	 * entries before the cut still answer. */
	for (size_t cut = 1; cut < b.n; cut++) {
		int r = look(F, b.p, cut, 100, 38);
		CHECK(r == -1);
	}
	CHECK_EQ_INT(look(F, b.p, 3, 100, 0), 100); /* first entry whole, second cut */
	CHECK_EQ_INT(look(F, b.p, 3, 100, 2), -1);

	/* Varint shapes. */
	const uint8_t trunc[] = {hdr311(13, 1), 0x41};               /* continuation, then end */
	CHECK_EQ_INT(LOOK(F, trunc, 1, 0), -1);
	const uint8_t endless[] = {hdr311(13, 1), 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,
				   0x7f, 0x7f, 0x01};
	CHECK_EQ_INT(LOOK(F, endless, 1, 0), -1);
	const uint8_t into_next[] = {hdr311(13, 1), 0x41, hdr311(0, 1), 0};
	CHECK_EQ_INT(LOOK(F, into_next, 1, 0), -1);
	/* Six chunks is the longest accepted: zig-zag of 2^29 needs them. */
	struct buf v6 = {0};
	put(&v6, hdr311(13, 1));
	put_svarint(&v6, 1 << 29);
	CHECK_EQ_INT(v6.n, 7);
	CHECK_EQ_INT(look_buf(F, &v6, 1, 0), (1 << 29) + 1);
	/* Line leaving int range. */
	struct buf big = {0};
	put(&big, hdr311(13, 1));
	put_svarint(&big, INT_MAX);
	CHECK_EQ_INT(look_buf(F, &big, 1, 0), -1);
	CHECK_EQ_INT(look_buf(F, &big, 0, 0), INT_MAX);
	/* A 7-chunk varint (even of a small value) is not something CPython writes. */
	const uint8_t seven[] = {hdr311(13, 1), 0x42, 0x40, 0x40, 0x40, 0x40, 0x40, 0x00};
	CHECK_EQ_INT(LOOK(F, seven, 1, 0), -1);

	/* Entry structure. */
	const uint8_t no_hdr[] = {0x05, hdr311(0, 1), 0};
	CHECK_EQ_INT(LOOK(F, no_hdr, 1, 0), -1);
	const uint8_t no_hdr2[] = {0x00, 0x00}; /* a short form but for bit 7 */
	CHECK_EQ_INT(LOOK(F, no_hdr2, 1, 0), -1);
	const uint8_t short_missing[] = {hdr311(0, 1), hdr311(0, 1), 0};
	CHECK_EQ_INT(LOOK(F, short_missing, 1, 0), -1);
	const uint8_t short_extra[] = {hdr311(0, 1), 0, 0, hdr311(0, 1), 0};
	CHECK_EQ_INT(LOOK(F, short_extra, 1, 0), -1);
	const uint8_t oneline_short[] = {hdr311(11, 1), 3};
	CHECK_EQ_INT(LOOK(F, oneline_short, 1, 0), -1);
	const uint8_t none_extra[] = {hdr311(15, 1), 3};
	CHECK_EQ_INT(LOOK(F, none_extra, 1, 0), -1);
	const uint8_t long_short[] = {hdr311(14, 1), 2, 0, 1};
	CHECK_EQ_INT(LOOK(F, long_short, 1, 0), -1);
	const uint8_t ok_last[] = {hdr311(12, 8), 1, 2};
	CHECK_EQ_INT(LOOK(F, ok_last, 1, 15), 3);
	CHECK_EQ_INT(LOOK(F, ok_last, 1, 16), -1);

	free(b.p);
	free(v6.p);
	free(big.p);
}

/* --- round trip through encoders written from the format descriptions --- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* A random program: ranges of code units, each with a line or -1. */
struct prog {
	int n;
	int units[4000];
	int line[4000];
};

static void random_prog(struct prog *p, int first, bool allow_none)
{
	int line = first;
	p->n = 1 + (int)(rnd() % 4000);
	for (int i = 0; i < p->n; i++) {
		p->units[i] = 1 + (int)(rnd() % (rnd() % 4 ? 8 : 300));
		int kind = (int)(rnd() % 10);
		if (allow_none && kind == 0) {
			p->line[i] = -1;
			continue;
		}
		int d = kind < 5 ? (int)(rnd() % 5) - 2 : kind < 9 ? (int)(rnd() % 601) - 300 :
			(int)(rnd() % 200001) - 100000;
		if (line + d < 1)
			d = 1 - line;
		line += d;
		p->line[i] = line;
	}
}

static int prog_line(const struct prog *p, int first_unused, int off)
{
	(void)first_unused;
	int start = 0;
	for (int i = 0; i < p->n; i++) {
		int end = start + 2 * p->units[i];
		if (off < end)
			return p->line[i];
		start = end;
	}
	return -1;
}

/* lnotab: a pair per line change at the range start; big jumps split as
 * CPython's compiler does (address first, then the line in +-127 steps). */
static void enc_lnotab(struct buf *b, const struct prog *p, int first)
{
	int addr = 0, last_addr = 0, line = first;
	for (int i = 0; i < p->n; i++) {
		if (p->line[i] != line) {
			int da = addr - last_addr, dl = p->line[i] - line;
			while (da > 255) {
				put(b, 255);
				put(b, 0);
				da -= 255;
			}
			while (dl > 127 || dl < -128) {
				int step = dl > 0 ? 127 : -128;
				put(b, (uint8_t)da);
				put(b, (uint8_t)step);
				da = 0;
				dl -= step;
			}
			put(b, (uint8_t)da);
			put(b, (uint8_t)dl);
			last_addr = addr;
			line = p->line[i];
		}
		addr += 2 * p->units[i];
	}
}

static void enc_310(struct buf *b, const struct prog *p, int first)
{
	int line = first;
	for (int i = 0; i < p->n; i++) {
		int bytes = 2 * p->units[i];
		int dl = 0;
		if (p->line[i] >= 0) {
			dl = p->line[i] - line;
			line = p->line[i];
			while (dl > 127 || dl < -127) {
				int step = dl > 0 ? 127 : -127;
				put(b, 0);
				put(b, (uint8_t)step);
				dl -= step;
			}
		}
		while (bytes > 0) {
			int chunk = bytes > 254 ? 254 : bytes;
			put(b, (uint8_t)chunk);
			put(b, p->line[i] < 0 ? 0x80 : (uint8_t)dl);
			dl = 0; /* later chunks of the range stay on the line */
			bytes -= chunk;
		}
	}
}

static void enc_311(struct buf *b, const struct prog *p, int first)
{
	int line = first;
	for (int i = 0; i < p->n; i++) {
		int units = p->units[i];
		int64_t dl = p->line[i] >= 0 ? p->line[i] - line : 0;
		if (p->line[i] >= 0)
			line = p->line[i];
		while (units > 0) {
			int u = units > 8 ? 8 : units;
			int form;
			if (p->line[i] < 0)
				form = 4;
			else if (dl == 0)
				form = (int)(rnd() % 4);
			else if (dl > 0 && dl <= 2)
				form = 1 + (int)(rnd() % 3);
			else
				form = 2 + (int)(rnd() % 2);
			put_entry(b, form, (unsigned)u, dl);
			dl = 0;
			units -= u;
		}
	}
}

static void test_roundtrip(void)
{
	static struct prog p;
	for (int iter = 0; iter < 24; iter++) {
		int first = 1 + (int)(rnd() % 100000);
		for (int f = 0; f < 3; f++) {
			struct buf b = {0};
			random_prog(&p, first, f != PYLINE_LNOTAB);
			if (f == PYLINE_LNOTAB)
				enc_lnotab(&b, &p, first);
			else if (f == PYLINE_310)
				enc_310(&b, &p, first);
			else
				enc_311(&b, &p, first);
			int total = 0;
			for (int i = 0; i < p.n; i++)
				total += 2 * p.units[i];
			int bad = 0;
			/* Probe a hundred offsets, including the ends. */
			for (int k = 0; k < 100 && !bad; k++) {
				int off = k == 0 ? 0 : k == 1 ? total - 1 : k == 2 ? total : (int)(rnd() % (unsigned)total);
				int want = prog_line(&p, first, off);
				if (f == PYLINE_LNOTAB && off >= total)
					want = p.line[p.n - 1]; /* lnotab has no end */
				int got = look_buf((enum pyline_format)f, &b, first, off);
				if (got != want) {
					fprintf(stderr, "roundtrip fmt %d iter %d off %d: got %d want %d\n", f,
						iter, off, got, want);
					bad = 1;
				}
			}
			CHECK(!bad);
			free(b.p);
		}
	}
}

/* Garbage never crashes, never reads past len (ASan), and returns either
 * -1 or a line within what the deltas could reach. */
static void test_garbage(void)
{
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = rnd() % 64;
		uint8_t t[64];
		for (size_t i = 0; i < len; i++)
			t[i] = (uint8_t)rnd();
		/* Bias toward plausible 3.11 headers now and then. */
		if (iter % 3 == 0)
			for (size_t i = 0; i < len; i += 1 + rnd() % 4)
				t[i] |= 0x80;
		int off = (int)(rnd() % 1024) - 8;
		for (int f = 0; f < 3; f++) {
			int r = look((enum pyline_format)f, t, len, 1000, off);
			CHECK(r == -1 || (r > -1000000000 && r < 1000000000));
		}
	}
}

/* ---------------- --check mode ---------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "-" is an empty table. Returns a malloc'd exact-size buffer or NULL. */
static uint8_t *parse_hex(const char *s, size_t *len)
{
	size_t n = strlen(s);
	if (strcmp(s, "-") == 0)
		n = 0;
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

/* What the checked tables contain, so the e2e test can assert it exercised
 * each encoding feature (counted here independently of the decoder). */
enum { F_NEG, F_ZERO_LEN, F_SPLIT_JUMP, F_NOLINE310, F_SHORT, F_ONELINE, F_NOCOL, F_LONG,
       F_NONE, F_VARINT2, F_VARINT5, F__N };
static long feat[F__N];
static const char *const feat_names[F__N] = {
	"negative-delta", "zero-length", "split-jump", "no-line-128", "short-form",
	"one-line-form", "no-column-form", "long-form", "no-location", "varint-2-chunks",
	"varint-5-chunks"};

static void table_features(enum pyline_format fmt, const uint8_t *t, size_t len)
{
	if (fmt != PYLINE_311) {
		for (size_t i = 0; i + 1 < len; i += 2) {
			int d = t[i + 1] < 128 ? t[i + 1] : t[i + 1] - 256;
			if (t[i] == 0)
				feat[F_ZERO_LEN]++;
			/* A line jump too big for one pair continues in zero-length pairs. */
			if (t[i] == 0 && (d == 127 || d == -127 || d == -128))
				feat[F_SPLIT_JUMP]++;
			if (fmt == PYLINE_310 && d == -128)
				feat[F_NOLINE310]++;
			else if (d < 0)
				feat[F_NEG]++;
		}
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (!(t[i] & 0x80))
			continue;
		unsigned code = (t[i] >> 3) & 15;
		feat[code <= 9 ? F_SHORT : code <= 12 ? F_ONELINE : code == 13 ? F_NOCOL :
		     code == 14 ? F_LONG : F_NONE]++;
		if ((code == 13 || code == 14) && i + 1 < len) {
			size_t chunks = 1;
			while (i + chunks < len && (t[i + chunks] & 64) && !(t[i + chunks] & 0x80))
				chunks++;
			if (chunks >= 2)
				feat[F_VARINT2]++;
			if (chunks >= 5)
				feat[F_VARINT5]++;
			if (t[i + 1] & 1) /* svarint sign bit */
				feat[F_NEG]++;
		}
	}
}

/*
 * Input, one record per line:
 *   V <PY_VERSION_HEX in hex>
 *   C|F <firstlineno> <table hex or -> <name> <offset>:<line> ...
 * C records come from code objects (every instruction), F records from live
 * frames (f_lasti with f_lineno). Each pair is checked with pyline_lookup.
 */
/* Table bytes walked per code object in --check before sampling offsets. */
#define CHECK_BUDGET 4e7

static int check_file(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 2;
	}
	char *line = NULL;
	size_t linecap = 0;
	long lineno = 0, codes = 0, frames = 0, checked = 0, noline = 0, mismatches = 0;
	long max_table = 0, sampled = 0, skipped = 0;
	int *offs = NULL, *wants = NULL;
	size_t npairs = 0, pairs_cap = 0;
	int maxline = 0;
	bool have_version = false;
	enum pyline_format fmt = PYLINE_311;
	int rc = 0;
	while (getline(&line, &linecap, f) > 0) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		char *save = NULL;
		char *tag = strtok_r(line, " ", &save);
		if (!tag)
			continue;
		if (strcmp(tag, "V") == 0) {
			char *v = strtok_r(NULL, " ", &save);
			if (!v) {
				rc = 2;
				break;
			}
			fmt = pyline_format_for_version((uint32_t)strtoul(v, NULL, 16));
			have_version = true;
			printf("version %s format %s\n", v,
			       fmt == PYLINE_LNOTAB ? "lnotab" : fmt == PYLINE_310 ? "3.10" : "3.11+");
			continue;
		}
		if ((strcmp(tag, "C") && strcmp(tag, "F")) || !have_version) {
			fprintf(stderr, "%s:%ld: unexpected record %s\n", path, lineno, tag);
			rc = 2;
			break;
		}
		char *first_s = strtok_r(NULL, " ", &save);
		char *hex = strtok_r(NULL, " ", &save);
		char *name = strtok_r(NULL, " ", &save);
		size_t tlen = 0;
		uint8_t *table = hex ? parse_hex(hex, &tlen) : NULL;
		if (!first_s || !name || !table) {
			fprintf(stderr, "%s:%ld: malformed record\n", path, lineno);
			free(table);
			rc = 2;
			break;
		}
		if (tag[0] == 'C')
			codes++;
		else
			frames++;
		if ((long)tlen > max_table)
			max_table = (long)tlen;
		if (tag[0] == 'C')
			table_features(fmt, table, tlen);
		int first = atoi(first_s);
		npairs = 0;
		char *pair;
		while ((pair = strtok_r(NULL, " ", &save))) {
			if (npairs == pairs_cap) {
				pairs_cap = pairs_cap ? 2 * pairs_cap : 1024;
				offs = realloc(offs, pairs_cap * sizeof(*offs));
				wants = realloc(wants, pairs_cap * sizeof(*wants));
				if (!offs || !wants)
					abort();
			}
			if (sscanf(pair, "%d:%d", &offs[npairs], &wants[npairs]) != 2) {
				fprintf(stderr, "%s:%ld: bad pair %s\n", path, lineno, pair);
				rc = 2;
				break;
			}
			npairs++;
		}
		/*
		 * Each lookup walks the table from its start, so checking all n
		 * offsets of a huge code object costs n * len: the 3.11+ long
		 * function alone would take minutes under ASan. Above a budget
		 * (and 4096 offsets, so the wandering-line functions with huge
		 * tables but few instructions are checked whole),
		 * check evenly spaced line changes (both sides), evenly spaced
		 * offsets, and the first and last 16 (deepest and past-the-end).
		 */
		size_t per = tlen / 2 + 1;
		size_t stride = 1, bstride = 1, nb = 0;
		if (npairs > 4096 && (double)npairs * (double)per > CHECK_BUDGET) {
			size_t half = (size_t)(CHECK_BUDGET / per / 2) + 1;
			for (size_t i = 1; i < npairs; i++)
				nb += wants[i] != wants[i - 1];
			stride = npairs / half + 1;
			bstride = nb / half + 1;
			sampled++;
		}
		for (size_t i = 0, b = 0; i < npairs && !rc; i++) {
			bool pick = stride == 1 || i % stride == 0 || i < 16 || i + 16 >= npairs;
			if (i > 0 && wants[i] != wants[i - 1] && b++ % bstride == 0)
				pick = true;
			if (!pick && i + 1 < npairs && wants[i + 1] != wants[i] && b % bstride == 0)
				pick = true; /* the last offset before a sampled change */
			if (!pick) {
				skipped++;
				continue;
			}
			int off = offs[i], want = wants[i];
			int got = pyline_lookup(fmt, table, tlen, first, off);
			checked++;
			if (want == -1)
				noline++;
			if (want > maxline)
				maxline = want;
			if (got != want) {
				if (mismatches < 50)
					printf("MISMATCH %s %s firstlineno %d offset %d: decoded %d, "
					       "interpreter %d\n",
					       tag, name, first, off, got, want);
				mismatches++;
			}
		}
		free(table);
		if (rc)
			break;
	}
	free(line);
	free(offs);
	free(wants);
	if (f != stdin)
		fclose(f);
	printf("features");
	for (int i = 0; i < F__N; i++)
		printf(" %s=%ld", feat_names[i], feat[i]);
	printf("\n");
	printf("codes %ld frames %ld offsets %ld no-line %ld max-line %d max-table %ld sampled-codes %ld "
	       "skipped-offsets %ld mismatches %ld\n",
	       codes, frames, checked, noline, maxline, max_table, sampled, skipped, mismatches);
	if (rc)
		return rc;
	if (!have_version || codes == 0) {
		fprintf(stderr, "%s: no data\n", path);
		return 2;
	}
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
	test_version();
	test_lnotab();
	test_310();
	test_311();
	test_roundtrip();
	test_garbage();
	UNIT_DONE();
}
