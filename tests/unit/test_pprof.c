/* pprof writer and protobuf encoder: the output is gunzipped and decoded
 * back here with a tiny protobuf reader, then checked field by field. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "flamegraph.h"
#include "folded.h"
#include "output/frametab.h"
#include "output/json.h"
#include "output/profile.h"
#include "output/protobuf.h"
#include "unit.h"
#include "output/writers.h"

/* ---- a tiny protobuf reader ---- */

struct field {
	uint32_t num;
	int wire;
	uint64_t v;              /* varint value */
	const uint8_t *p;        /* length-delimited bytes */
	size_t n;
};

struct reader {
	const uint8_t *p, *end;
	int bad;
};

static uint64_t rd_varint(struct reader *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = 1;
			return 0;
		}
		uint8_t b = *r->p++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

/* Next field, or 0 at the end (or on malformed input, with r->bad set). */
static int rd_field(struct reader *r, struct field *f)
{
	if (r->p >= r->end || r->bad)
		return 0;
	uint64_t tag = rd_varint(r);

	memset(f, 0, sizeof(*f));
	f->num = (uint32_t)(tag >> 3);
	f->wire = (int)(tag & 7);
	if (f->wire == PB_VARINT) {
		f->v = rd_varint(r);
	} else if (f->wire == PB_LEN) {
		uint64_t n = rd_varint(r);

		if (n > (uint64_t)(r->end - r->p)) {
			r->bad = 1;
			return 0;
		}
		f->p = r->p;
		f->n = (size_t)n;
		r->p += n;
	} else {
		r->bad = 1; /* the writer uses no fixed-width fields */
		return 0;
	}
	return !r->bad;
}

static struct reader sub_reader(const struct field *f)
{
	return (struct reader){ f->p, f->p + f->n, 0 };
}

/* Packed varints of a field into out (up to max); returns how many. */
static size_t rd_packed(const struct field *f, uint64_t *out, size_t max)
{
	struct reader r = sub_reader(f);
	size_t n = 0;

	while (r.p < r.end && !r.bad) {
		uint64_t v = rd_varint(&r);

		if (n < max)
			out[n] = v;
		n++;
	}
	return r.bad ? (size_t)-1 : n;
}

/* ---- decoded profile ---- */

#define MAXN 4096

struct dsample { uint64_t locs[1100]; size_t nlocs; int64_t values[4]; size_t nvalues; };
struct dloc { uint64_t id, func_id, mapping_id, address; int64_t line; int nlines; };
struct dmap { uint64_t id, start, limit, offset, file, build_id; int has_functions, has_filenames, has_lines; };
struct dfunc { uint64_t id, name, system_name, file; int64_t start_line; };

struct decoded {
	int ok;
	uint64_t sample_type[4][2];
	size_t nsample_types;
	struct dsample *samples;
	size_t nsamples;
	struct dloc locs[MAXN];
	size_t nlocs;
	struct dfunc funcs[MAXN];
	size_t nfuncs;
	struct dmap maps[64];
	size_t nmaps;
	char **strings;
	size_t *string_lens;
	size_t nstrings;
	int64_t time_nanos, duration_nanos, period, default_sample_type;
	uint64_t period_type[2];
	uint64_t comments[4];
	size_t ncomments;
};

static void decoded_free(struct decoded *d)
{
	for (size_t i = 0; i < d->nstrings; i++)
		free(d->strings[i]);
	free(d->strings);
	free(d->string_lens);
	free(d->samples);
	free(d);
}

static void value_type(const struct field *f, uint64_t out[2])
{
	struct reader r = sub_reader(f);
	struct field g;

	while (rd_field(&r, &g))
		if (g.num == 1 || g.num == 2)
			out[g.num - 1] = g.v;
}

static struct decoded *decode(const uint8_t *p, size_t n)
{
	struct decoded *d = calloc(1, sizeof(*d));
	struct reader r = { p, p + n, 0 };
	struct field f;

	d->samples = calloc(MAXN, sizeof(*d->samples));
	d->strings = calloc(1u << 20, sizeof(char *));
	d->string_lens = calloc(1u << 20, sizeof(size_t));
	while (rd_field(&r, &f)) {
		struct reader s = sub_reader(&f);
		struct field g;

		switch (f.num) {
		case 1:
			if (d->nsample_types < 4)
				value_type(&f, d->sample_type[d->nsample_types]);
			d->nsample_types++;
			break;
		case 2: {
			struct dsample *ds = &d->samples[d->nsamples < MAXN ? d->nsamples : MAXN - 1];

			memset(ds, 0, sizeof(*ds));
			while (rd_field(&s, &g)) {
				uint64_t v[4];

				if (g.num == 1)
					ds->nlocs = rd_packed(&g, ds->locs, 1100);
				if (g.num == 2) {
					ds->nvalues = rd_packed(&g, v, 4);
					for (size_t i = 0; i < 4; i++)
						ds->values[i] = (int64_t)v[i];
				}
			}
			d->nsamples++;
			break;
		}
		case 3: {
			struct dmap *m = &d->maps[d->nmaps < 64 ? d->nmaps : 63];

			memset(m, 0, sizeof(*m));
			while (rd_field(&s, &g)) {
				switch (g.num) {
				case 1: m->id = g.v; break;
				case 2: m->start = g.v; break;
				case 3: m->limit = g.v; break;
				case 4: m->offset = g.v; break;
				case 5: m->file = g.v; break;
				case 6: m->build_id = g.v; break;
				case 7: m->has_functions = (int)g.v; break;
				case 8: m->has_filenames = (int)g.v; break;
				case 9: m->has_lines = (int)g.v; break;
				}
			}
			d->nmaps++;
			break;
		}
		case 4: {
			struct dloc *l = &d->locs[d->nlocs < MAXN ? d->nlocs : MAXN - 1];

			memset(l, 0, sizeof(*l));
			while (rd_field(&s, &g)) {
				if (g.num == 1)
					l->id = g.v;
				if (g.num == 2)
					l->mapping_id = g.v;
				if (g.num == 3)
					l->address = g.v;
				if (g.num == 4) {
					struct reader t = sub_reader(&g);
					struct field h;

					l->nlines++;
					while (rd_field(&t, &h)) {
						if (h.num == 1)
							l->func_id = h.v;
						if (h.num == 2)
							l->line = (int64_t)h.v;
					}
				}
			}
			d->nlocs++;
			break;
		}
		case 5: {
			struct dfunc *fn = &d->funcs[d->nfuncs < MAXN ? d->nfuncs : MAXN - 1];

			memset(fn, 0, sizeof(*fn));
			while (rd_field(&s, &g)) {
				if (g.num == 1)
					fn->id = g.v;
				if (g.num == 2)
					fn->name = g.v;
				if (g.num == 3)
					fn->system_name = g.v;
				if (g.num == 4)
					fn->file = g.v;
				if (g.num == 5)
					fn->start_line = (int64_t)g.v;
			}
			d->nfuncs++;
			break;
		}
		case 6:
			if (d->nstrings < (1u << 20)) {
				d->strings[d->nstrings] = malloc(f.n + 1);
				memcpy(d->strings[d->nstrings], f.p, f.n);
				d->strings[d->nstrings][f.n] = '\0';
				d->string_lens[d->nstrings] = f.n;
				d->nstrings++;
			}
			break;
		case 9: d->time_nanos = (int64_t)f.v; break;
		case 10: d->duration_nanos = (int64_t)f.v; break;
		case 11: value_type(&f, d->period_type); break;
		case 12: d->period = (int64_t)f.v; break;
		case 13:
			if (f.wire == PB_LEN)
				d->ncomments = rd_packed(&f, d->comments, 4);
			else if (d->ncomments < 4)
				d->comments[d->ncomments++] = f.v;
			break;
		case 14: d->default_sample_type = (int64_t)f.v; break;
		}
	}
	d->ok = !r.bad && r.p == r.end;
	return d;
}

static uint8_t *gunzip(const uint8_t *p, size_t n, size_t *out_n)
{
	z_stream zs = { 0 };
	size_t cap = 1 << 16, len = 0;
	uint8_t *out = malloc(cap);
	int rc;

	/* 15 + 16: gzip only, so a zlib or raw stream is an error here. */
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return NULL;
	zs.next_in = (Bytef *)(uintptr_t)p;
	zs.avail_in = (uInt)n;
	do {
		if (len == cap)
			out = realloc(out, cap *= 2);
		zs.next_out = out + len;
		zs.avail_out = (uInt)(cap - len);
		rc = inflate(&zs, Z_NO_FLUSH);
		len = cap - zs.avail_out;
	} while (rc == Z_OK);
	inflateEnd(&zs);
	if (rc != Z_STREAM_END || zs.avail_in) {
		free(out);
		return NULL;
	}
	*out_n = len;
	return out;
}

/* Writes p with ft and m through profile_write_pprof and decodes it. */
static struct decoded *roundtrip(const struct profile *p, const struct frametab *ft, const struct profile_meta *m)
{
	char *buf = NULL;
	size_t size = 0, rawn = 0;
	FILE *f = open_memstream(&buf, &size);
	int err = profile_write_pprof(p, ft, m, f);

	fclose(f);
	CHECK_EQ_INT(err, 0);
	CHECK(size > 18 && (uint8_t)buf[0] == 0x1f && (uint8_t)buf[1] == 0x8b); /* gzip magic */
	uint8_t *raw = gunzip((const uint8_t *)buf, size, &rawn);

	CHECK(raw != NULL);
	free(buf);
	if (!raw)
		return NULL;
	struct decoded *d = decode(raw, rawn);

	free(raw);
	CHECK(d->ok);
	return d;
}

static const char *str(const struct decoded *d, uint64_t i)
{
	return i < d->nstrings ? d->strings[i] : "(out of range)";
}

static const struct dloc *find_loc(const struct decoded *d, uint64_t id)
{
	for (size_t i = 0; i < d->nlocs && i < MAXN; i++)
		if (d->locs[i].id == id)
			return &d->locs[i];
	return NULL;
}

static const struct dfunc *find_func(const struct decoded *d, uint64_t id)
{
	for (size_t i = 0; i < d->nfuncs && i < MAXN; i++)
		if (d->funcs[i].id == id)
			return &d->funcs[i];
	return NULL;
}

/* ---- tests ---- */

static void test_encoder_bytes(void)
{
	struct pb_buf b, sub;

	pb_buf_init(&b);
	pb_buf_init(&sub);
	pb_put_uint64(&b, 1, 150);          /* the protobuf docs' example: 08 96 01 */
	pb_put_int64(&b, 2, -1);            /* int64 -1: ten bytes */
	pb_put_bytes(&b, 3, "hi", 2);
	pb_put_packed_uint64(&b, 4, (const uint64_t[]){ 3, 270, 86942 }, 3);
	pb_put_packed_uint64(&b, 5, NULL, 0); /* empty packed: nothing */
	pb_put_uint64(&sub, 1, 1);
	pb_put_message(&b, 6, &sub);
	pb_put_uint64(&b, 300, 0);          /* field number past 15: two-byte tag */
	pb_put_string(&b, 7, "a\xff" "b", 3);
	static const uint8_t want[] = {
		0x08, 0x96, 0x01,
		0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
		0x1a, 0x02, 'h', 'i',
		0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05,
		0x32, 0x02, 0x08, 0x01,
		0xe0, 0x12, 0x00,
		0x3a, 0x05, 'a', 0xef, 0xbf, 0xbd, 'b',
	};
	CHECK_EQ_INT(b.err, 0);
	CHECK_EQ_INT(b.len, sizeof(want));
	CHECK(b.len == sizeof(want) && memcmp(b.data, want, sizeof(want)) == 0);
	CHECK_EQ_INT(pb_varint_len(0), 1);
	CHECK_EQ_INT(pb_varint_len(127), 1);
	CHECK_EQ_INT(pb_varint_len(128), 2);
	CHECK_EQ_INT(pb_varint_len(UINT64_MAX), 10);
	pb_buf_free(&b);
	pb_buf_free(&sub);
}

/* Sanitizing, with Python's bytes.decode("utf-8", "replace") as the truth. */
static void test_utf8(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain", "plain" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d" },
		{ "\xff", "\xef\xbf\xbd" },
		{ "a\x80" "b", "a\xef\xbf\xbd" "b" },
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },                 /* overlong: 2 bad bytes */
		{ "\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },  /* overlong 3-byte */
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },  /* surrogate */
		{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* > U+10FFFF */
		{ "\xe2\x82", "\xef\xbf\xbd" },                             /* truncated: one subpart */
		{ "\xe2\x82x", "\xef\xbf\xbdx" },
		{ "\xf0\x9f\x90", "\xef\xbf\xbd" },
		{ "\xef\xbf\xbd", "\xef\xbf\xbd" },                         /* a real U+FFFD stays */
		{ "\xf5\xf8\xfe", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in), len = utf8_sanitized_len(cases[i].in, n);
		char out[64] = { 0 };

		CHECK_EQ_INT(len, strlen(cases[i].out));
		CHECK_EQ_INT(utf8_sanitize(cases[i].in, n, out), len);
		CHECK_STR(out, cases[i].out);
	}
	uint32_t cp;

	CHECK_EQ_INT(utf8_next((const unsigned char *)"\xf0\x9f\x90\x8d", 4, &cp), 4);
	CHECK_EQ_INT(cp, 0x1F40D);
	/* n bounds the read: a valid sequence cut by n is truncated. */
	CHECK_EQ_INT(utf8_next((const unsigned char *)"\xf0\x9f\x90\x8d", 2, &cp), 2);
	CHECK_EQ_INT(cp, UTF8_REPLACEMENT);
}

static void test_small_profile(void)
{
	struct frametab ft;
	struct profile p;

	frametab_init(&ft);
	profile_init(&p);
	const char *mod = frametab_python(&ft, "<module>", "/app/x.py", 30, 1);
	const char *mainf = frametab_python(&ft, "main", "/app/x.py", 20, 18);
	const char *mainf2 = frametab_python(&ft, "main", "/app/x.py", 21, 18);
	const char *work = frametab_python(&ft, "work", "/app/y.py", 5, 3);
	const char *trunc = frametab_pseudo(&ft, "[truncated: 1024+ frames]");

	const char *s1[] = { mod, mainf, work };
	const char *s2[] = { mod, mainf2, work };
	const char *s3[] = { trunc, work };
	CHECK_EQ_INT(profile_add(&p, s1, 3, 7), 0);
	CHECK_EQ_INT(profile_add(&p, s2, 3, 2), 0);
	CHECK_EQ_INT(profile_add(&p, s3, 2, 1), 0);
	struct profile_meta m = { .period_ns = 10000000, .start_unix_ns = 1700000000123456789ull,
				  .duration_ns = 3000000000ull, .name = "pyperf: PID 42 (python3)" };
	struct decoded *d = roundtrip(&p, &ft, &m);

	if (!d)
		goto out;
	CHECK_STR(str(d, 0), "");
	CHECK_EQ_INT(d->string_lens[0], 0);
	CHECK_EQ_INT(d->nsample_types, 2);
	CHECK_STR(str(d, d->sample_type[0][0]), "samples");
	CHECK_STR(str(d, d->sample_type[0][1]), "count");
	CHECK_STR(str(d, d->sample_type[1][0]), "cpu");
	CHECK_STR(str(d, d->sample_type[1][1]), "nanoseconds");
	CHECK_STR(str(d, d->period_type[0]), "cpu");
	CHECK_STR(str(d, d->period_type[1]), "nanoseconds");
	CHECK_EQ_INT(d->period, 10000000);
	CHECK_EQ_INT(d->time_nanos, 1700000000123456789ll);
	CHECK_EQ_INT(d->duration_nanos, 3000000000ll);
	CHECK_STR(str(d, (uint64_t)d->default_sample_type), "cpu");
	CHECK_EQ_INT(d->ncomments, 1);
	CHECK_STR(str(d, d->comments[0]), "pyperf: PID 42 (python3)");

	/* Functions: <module>, main, work, the pseudo-frame; main once though
	 * two lines of it were sampled. Locations: one per (function, line). */
	CHECK_EQ_INT(d->nfuncs, 4);
	CHECK_EQ_INT(d->nlocs, 5);
	CHECK_EQ_INT(d->nsamples, 3);
	/* Python only: the one "[python]" mapping, every location in it. */
	CHECK_EQ_INT(d->nmaps, 1);
	CHECK_STR(str(d, d->maps[0].file), "[python]");
	for (size_t i = 0; i < d->nlocs; i++) {
		CHECK_EQ_INT(d->locs[i].mapping_id, 1);
		CHECK_EQ_INT(d->locs[i].address, 0);
	}
	int64_t total_count = 0, total_ns = 0;

	for (size_t i = 0; i < d->nsamples && i < 3; i++) {
		const struct dsample *s = &d->samples[i];

		CHECK_EQ_INT(s->nvalues, 2);
		CHECK_EQ_INT(s->values[1], s->values[0] * 10000000);
		total_count += s->values[0];
		total_ns += s->values[1];
		/* Leaf first: the first location is always work (y.py:5). */
		const struct dloc *leaf = find_loc(d, s->locs[0]);

		CHECK(leaf != NULL);
		if (!leaf)
			continue;
		const struct dfunc *fn = find_func(d, leaf->func_id);

		CHECK(fn != NULL);
		if (!fn)
			continue;
		CHECK_STR(str(d, fn->name), "work");
		CHECK_EQ_INT(fn->system_name, 0); /* unset: see pprof.c */
		CHECK_STR(str(d, fn->file), "/app/y.py");
		CHECK_EQ_INT(fn->start_line, 3);
		CHECK_EQ_INT(leaf->line, 5);
		CHECK_EQ_INT(leaf->nlines, 1);

		const struct dloc *root = find_loc(d, s->locs[s->nlocs - 1]);
		const struct dfunc *rf = root ? find_func(d, root->func_id) : NULL;

		CHECK(rf != NULL);
		if (!rf)
			continue;
		if (s->values[0] == 1) {
			CHECK_EQ_INT(s->nlocs, 2);
			CHECK_STR(str(d, rf->name), "[truncated: 1024+ frames]");
			CHECK_EQ_INT(rf->file, 0);       /* "" */
			CHECK_EQ_INT(rf->start_line, 0); /* unknown */
			CHECK_EQ_INT(root->line, 0);
		} else {
			CHECK_EQ_INT(s->nlocs, 3);
			CHECK_STR(str(d, rf->name), "<module>");
			CHECK_EQ_INT(root->line, 30);
			const struct dloc *mid = find_loc(d, s->locs[1]);
			const struct dfunc *mf = mid ? find_func(d, mid->func_id) : NULL;

			CHECK(mf != NULL);
			if (mf) {
				CHECK_STR(str(d, mf->name), "main");
				CHECK_EQ_INT(mf->start_line, 18);
				CHECK_EQ_INT(mid->line, s->values[0] == 7 ? 20 : 21);
			}
		}
	}
	CHECK_EQ_INT(total_count, 10);
	CHECK_EQ_INT(total_ns, 100000000);
	/* Ids are 1..n and unique. */
	for (size_t i = 0; i < d->nlocs; i++)
		CHECK_EQ_INT(d->locs[i].id, i + 1);
	for (size_t i = 0; i < d->nfuncs; i++)
		CHECK_EQ_INT(d->funcs[i].id, i + 1);
	decoded_free(d);
out:
	profile_free(&p);
	frametab_free(&ft);
}

/* Names are whatever the target holds: every byte 1..255, separators,
 * markup, quotes, invalid UTF-8, 10 KB. All come back (invalid UTF-8 as
 * U+FFFD), each as its own function. */
static void test_hostile_names(void)
{
	struct frametab ft;
	struct profile p;
	char all[256], big[10 * 1024 + 1];

	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "\xc3\xa9", 2);
	big[sizeof(big) - 1] = '\0';
	const char *names[] = {
		"a;b c;d 12", "line\nbreak\r\n", "<script>alert(1)</script>", "\"quoted\" 'single' \\back",
		"bad \xff\xfe utf8 \xc3", all, big, "",
	};
	const size_t nn = sizeof(names) / sizeof(names[0]);
	const char *labels[8];

	frametab_init(&ft);
	profile_init(&p);
	for (size_t i = 0; i < nn; i++) {
		labels[i] = frametab_python(&ft, names[i], i == 3 ? big : "/x;y\n.py", (int)i + 1, 1);
		CHECK(labels[i] != NULL);
		CHECK_EQ_INT(profile_add(&p, &labels[i], 1, i + 1), 0);
	}
	/* A label that frametab did not make (no meta): a pseudo-frame. */
	const char *stray = "stray label (no meta)";

	CHECK_EQ_INT(profile_add(&p, &stray, 1, 100), 0);
	struct profile_meta m = { .period_ns = 1000000, .name = "t\xff" };
	struct decoded *d = roundtrip(&p, &ft, &m);

	if (!d)
		goto out;
	CHECK_EQ_INT(d->nsamples, nn + 1);
	for (size_t i = 0; i < d->nsamples && i < nn + 1; i++) {
		const struct dsample *s = &d->samples[i];
		const struct dloc *l = find_loc(d, s->locs[0]);
		const struct dfunc *fn = l ? find_func(d, l->func_id) : NULL;

		CHECK_EQ_INT(s->nlocs, 1);
		CHECK(fn != NULL);
		if (!fn)
			continue;
		size_t k = (size_t)s->values[0] - 1; /* count i + 1 identifies the name */

		if (s->values[0] == 100) {
			CHECK_STR(str(d, fn->name), stray);
			CHECK_EQ_INT(fn->file, 0);
			CHECK_EQ_INT(l->line, 0);
			continue;
		}
		CHECK(k < nn);
		if (k >= nn)
			continue;
		size_t want_len = utf8_sanitized_len(names[k], strlen(names[k]));
		char *want = malloc(want_len + 1);

		utf8_sanitize(names[k], strlen(names[k]), want);
		want[want_len] = '\0';
		CHECK_STR(str(d, fn->name), want);
		CHECK_EQ_INT(l->line, (int64_t)k + 1);
		CHECK_STR(str(d, fn->file), k == 3 ? big : "/x;y\n.py");
		free(want);
	}
	/* Every string is valid UTF-8, and the bad ones say so. */
	for (size_t i = 0; i < d->nstrings; i++)
		CHECK_EQ_INT(utf8_sanitized_len(d->strings[i], d->string_lens[i]), d->string_lens[i]);
	CHECK_STR(str(d, d->comments[0]), "t\xef\xbf\xbd");
	decoded_free(d);
out:
	profile_free(&p);
	frametab_free(&ft);
}

static const struct dmap *find_map(const struct decoded *d, uint64_t id)
{
	for (size_t i = 0; i < d->nmaps && i < 64; i++)
		if (d->maps[i].id == id)
			return &d->maps[i];
	return NULL;
}

/* Python calling into C calling into the kernel: native and kernel frames
 * carry a Mapping (one per file, and "[kernel.kallsyms]") and their
 * address; Python and pseudo frames stay in mapping 1, "[python]". */
static void test_native_frames(void)
{
	struct frametab ft;
	struct profile p;
	static const char libz[] = "/usr/lib/x86_64-linux-gnu/libz.so.1.3";
	static const char exe[] = "/usr/bin/python3.12";

	frametab_init(&ft);
	profile_init(&p);
	const char *mod = frametab_python(&ft, "<module>", "/app/x.py", 3, 1);
	const char *eval = frametab_native(&ft, "PyObject_Call", exe, 0x1f2e30, "", false);
	const char *comp = frametab_python(&ft, "pack", "/app/x.py", 10, 9);
	const char *zc = frametab_native(&ft, "compress2", libz, 0x4a10, "0123abcd", false);
	const char *zd = frametab_native(&ft, "deflate_slow", libz, 0x6b20, "0123abcd", false);
	const char *zanon = frametab_native(&ft, NULL, libz, 0x7ff0, "0123abcd", false);
	const char *kern = frametab_native(&ft, "do_syscall_64", "", 0xffffffff81e01234ull, "", true);
	const char *gc = frametab_pseudo(&ft, "[gc]");

	CHECK_STR(zc, "compress2 (libz.so.1.3)");
	CHECK_STR(zanon, "libz.so.1.3+0x7ff0");
	CHECK_STR(kern, "do_syscall_64 [kernel]");
	const char *s1[] = { mod, eval, comp, zc, zd, kern };
	const char *s2[] = { mod, eval, comp, zc, zanon };
	const char *s3[] = { mod, gc };
	CHECK_EQ_INT(profile_add(&p, s1, 6, 5), 0);
	CHECK_EQ_INT(profile_add(&p, s2, 5, 3), 0);
	CHECK_EQ_INT(profile_add(&p, s3, 2, 2), 0);
	struct profile_meta m = { .period_ns = 1000000 };
	struct decoded *d = roundtrip(&p, &ft, &m);

	if (!d)
		goto out;
	/* [python], python3.12, libz, [kernel.kallsyms]: ids 1..4 in order. */
	CHECK_EQ_INT(d->nmaps, 4);
	for (size_t i = 0; i < d->nmaps && i < 64; i++) {
		const struct dmap *mp = &d->maps[i];

		CHECK_EQ_INT(mp->id, i + 1);
		CHECK_EQ_INT(mp->has_functions, 1);
		CHECK_EQ_INT(mp->start, 0);
		CHECK_EQ_INT(mp->limit, 0);
		CHECK_EQ_INT(mp->offset, 0);
		CHECK_EQ_INT(mp->has_filenames, i == 0);
		CHECK_EQ_INT(mp->has_lines, i == 0);
	}
	CHECK_STR(str(d, d->maps[0].file), "[python]");
	CHECK_EQ_INT(d->maps[0].build_id, 0);
	CHECK_EQ_INT(d->nsamples, 3);
	static const struct {
		const char *func, *file, *map_file, *build_id;
		uint64_t address;
		int64_t line, start_line;
	} want1[] = { /* s1, leaf first */
		{ "do_syscall_64", "", "[kernel.kallsyms]", "", 0xffffffff81e01234ull, 0, 0 },
		{ "deflate_slow", libz, libz, "0123abcd", 0x6b20, 0, 0 },
		{ "compress2", libz, libz, "0123abcd", 0x4a10, 0, 0 },
		{ "pack", "/app/x.py", "[python]", "", 0, 10, 9 },
		{ "PyObject_Call", exe, exe, "", 0x1f2e30, 0, 0 },
		{ "<module>", "/app/x.py", "[python]", "", 0, 3, 1 },
	}, want2[] = {
		{ "libz.so.1.3+0x7ff0", libz, libz, "0123abcd", 0x7ff0, 0, 0 },
		{ "compress2", libz, libz, "0123abcd", 0x4a10, 0, 0 },
	}, want3[] = {
		{ "[gc]", "", "[python]", "", 0, 0, 0 },
		{ "<module>", "/app/x.py", "[python]", "", 0, 3, 1 },
	};
	for (size_t i = 0; i < d->nsamples && i < 3; i++) {
		const struct dsample *s = &d->samples[i];
		size_t nwant = s->values[0] == 5 ? 6 : 2;
		const __typeof__(want1[0]) *want = s->values[0] == 5 ? want1 : s->values[0] == 3 ? want2 : want3;

		CHECK_EQ_INT(s->nlocs, s->values[0] == 5 ? 6 : s->values[0] == 3 ? 5 : 2);
		for (size_t j = 0; j < nwant && j < s->nlocs; j++) {
			const struct dloc *l = find_loc(d, s->locs[j]);
			const struct dfunc *fn = l ? find_func(d, l->func_id) : NULL;
			const struct dmap *mp = l ? find_map(d, l->mapping_id) : NULL;

			CHECK(fn != NULL && mp != NULL);
			if (!fn || !mp)
				continue;
			CHECK_STR(str(d, fn->name), want[j].func);
			CHECK_STR(str(d, fn->file), want[j].file);
			CHECK_EQ_INT(fn->start_line, want[j].start_line);
			CHECK_EQ_INT(l->line, want[j].line);
			CHECK_EQ_INT(l->nlines, 1);
			CHECK_EQ_INT(l->address, want[j].address);
			CHECK_STR(str(d, mp->file), want[j].map_file);
			CHECK_STR(str(d, mp->build_id), want[j].build_id);
		}
	}
	/* One Location per (function, address): compress2 is shared by s1 and
	 * s2; 8 labels, 8 locations, 8 functions. */
	CHECK_EQ_INT(d->nlocs, 8);
	CHECK_EQ_INT(d->nfuncs, 8);
	decoded_free(d);
out:
	profile_free(&p);
	frametab_free(&ft);
}

static size_t count_script(const char *s)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, "<script")); p++)
		n++;
	return n;
}

/* ---- a small JSON reader: validates a document and collects its strings ---- */

struct jstrings {
	char **v;
	size_t n;
	int bad;
};

static void j_ws(const char **p)
{
	while (**p == ' ' || **p == '\n' || **p == '\r' || **p == '\t')
		(*p)++;
}

static int j_hex4(const char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return 0;
		*v = *v << 4 | (uint32_t)d;
	}
	return 1;
}

/* A string at *p (after its '"'): decoded, appended to js. */
static int j_string(const char **p, struct jstrings *js)
{
	size_t cap = 64, n = 0;
	char *out = malloc(cap);

	for (;;) {
		unsigned char c = (unsigned char)*(*p)++;
		uint32_t cp;

		if (n + 8 > cap)
			out = realloc(out, cap *= 2);
		if (c == '"')
			break;
		if (c < 0x20) /* raw control byte or the end of the text */
			goto bad;
		if (c != '\\') {
			out[n++] = (char)c;
			continue;
		}
		c = (unsigned char)*(*p)++;
		switch (c) {
		case '"': case '\\': case '/': out[n++] = (char)c; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u':
			if (!j_hex4(*p, &cp))
				goto bad;
			*p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				uint32_t lo;

				if ((*p)[0] != '\\' || (*p)[1] != 'u' || !j_hex4(*p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				*p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				goto bad;
			}
			n += utf8_encode(cp, out + n);
			break;
		default:
			goto bad;
		}
	}
	out[n] = '\0';
	js->v = realloc(js->v, (js->n + 1) * sizeof(*js->v));
	js->v[js->n++] = out;
	return 1;
bad:
	free(out);
	return 0;
}

static int j_value(const char **p, struct jstrings *js, int depth)
{
	if (depth > 64)
		return 0;
	j_ws(p);
	char c = **p;

	if (c == '"') {
		(*p)++;
		return j_string(p, js);
	}
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';

		(*p)++;
		j_ws(p);
		if (**p == close) {
			(*p)++;
			return 1;
		}
		for (;;) {
			if (c == '{') {
				j_ws(p);
				if (*(*p)++ != '"' || !j_string(p, js))
					return 0;
				j_ws(p);
				if (*(*p)++ != ':')
					return 0;
			}
			if (!j_value(p, js, depth + 1))
				return 0;
			j_ws(p);
			if (**p == ',') {
				(*p)++;
				continue;
			}
			return *(*p)++ == close;
		}
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		char *end;

		strtod(*p, &end);
		*p = end;
		return 1;
	}
	for (const char *const *lit = (const char *const[]){ "true", "false", "null", NULL }; *lit; lit++)
		if (strncmp(*p, *lit, strlen(*lit)) == 0) {
			*p += strlen(*lit);
			return 1;
		}
	return 0;
}

/* Whether text is one JSON document; its strings go to js. */
static int json_parse(const char *text, struct jstrings *js)
{
	const char *p = text;
	int ok = j_value(&p, js, 0);

	j_ws(&p);
	return ok && *p == '\0';
}

static bool jstrings_has(const struct jstrings *js, const char *s)
{
	for (size_t i = 0; i < js->n; i++)
		if (strcmp(js->v[i], s) == 0)
			return true;
	return false;
}

static void jstrings_free(struct jstrings *js)
{
	for (size_t i = 0; i < js->n; i++)
		free(js->v[i]);
	free(js->v);
}

static bool valid_utf8(const char *s, size_t n)
{
	return utf8_sanitized_len(s, n) == n;
}

/* Native symbols and paths are hostile too: separators, newlines, spaces,
 * markup, invalid UTF-8, 2,000 characters. frametab_native makes them what
 * Python names are (valid UTF-8, cut at 1023 bytes with "..."), and every
 * writer's output parses back with each name intact. */
static void test_hostile_native_all_writers(void)
{
	static char longsym[2001];
	memset(longsym, 's', 2000);
	memcpy(longsym + 1019, "\xc3\xa9", 2); /* a 2-byte character across the cut */
	const char *symbols[] = {
		"a;b c;d 12", "line\nbreak\r\n", "  spaced  out  ", "bad \xff\xfe utf8 \xc3", "<script>&\"'</script>",
		"back\\slash\\x41", "tab\there\x01\x7f", longsym, NULL,
	};
	const size_t ns = sizeof(symbols) / sizeof(symbols[0]);
	const char *file = "/tmp/d;x/li b\n\xff.so";
	const char *labels[16];
	struct frametab ft;
	struct profile p;

	frametab_init(&ft);
	profile_init(&p);
	const char *py = frametab_python(&ft, "caller", "/app/x.py", 4, 1);

	for (size_t i = 0; i < ns; i++) {
		labels[i] = frametab_native(&ft, symbols[i], file, 0x1000 + i, "", i == 2);
		CHECK(labels[i] != NULL);
		if (!labels[i])
			goto out;
		const struct frame_meta *m = frametab_meta(&ft, labels[i]);

		CHECK(m && valid_utf8(m->name, strlen(m->name)) && valid_utf8(m->file, strlen(m->file)));
		CHECK(valid_utf8(labels[i], strlen(labels[i])));
		CHECK(m && strlen(m->name) <= 1023);
		const char *st[] = { py, labels[i] };

		CHECK_EQ_INT(profile_add(&p, st, 2, i + 1), 0);
	}
	/* Ill-formed bytes become U+FFFD; the long name is cut on a character
	 * boundary (the 2-byte character at 1019 does not fit before "..."). */
	CHECK_STR(frametab_meta(&ft, labels[3])->name, "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd");
	CHECK_STR(frametab_meta(&ft, labels[0])->file, "/tmp/d;x/li b\n\xef\xbf\xbd.so");
	CHECK_STR(labels[0], "a;b c;d 12 (li b\n\xef\xbf\xbd.so)");
	CHECK_STR(labels[2], "  spaced  out   [kernel]");
	CHECK_STR(labels[8], "li b\n\xef\xbf\xbd.so+0x1008");
	const char *lm = frametab_meta(&ft, labels[7])->name;

	CHECK_EQ_INT(strlen(lm), 1019 + 3);
	CHECK(strncmp(lm, longsym, 1019) == 0 && strcmp(lm + 1019, "...") == 0);

	/* folded: every line parses back to exactly [caller, label]. */
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	CHECK_EQ_INT(profile_write_folded(&p, f), 0);
	fclose(f);
	char **frames = NULL;
	size_t frames_cap = 0, nlines = 0;
	bool seen[16] = { false };

	for (char *line = buf, *nl; line && *line; line = nl + 1) {
		size_t nframes;
		uint64_t count;
		int diff;

		nl = strchr(line, '\n');
		CHECK(nl != NULL);
		if (!nl)
			break;
		nlines++;
		CHECK_EQ_INT(folded_parse_line(line, (size_t)(nl - line), &frames, &frames_cap, &nframes, &count, &diff), 1);
		CHECK_EQ_INT(nframes, 2);
		if (nframes != 2 || count < 1 || count > ns)
			continue;
		CHECK_STR(frames[0], py);
		CHECK_STR(frames[1], labels[count - 1]);
		seen[count - 1] = true;
	}
	CHECK_EQ_INT(nlines, ns);
	for (size_t i = 0; i < ns; i++)
		CHECK(seen[i]);
	free(frames);
	free(buf);

	/* SVG: valid UTF-8, no raw control byte, no markup from a name, one
	 * frame per label plus the root and the caller. */
	struct fg_options o;

	fg_options_init(&o);
	buf = NULL;
	f = open_memstream(&buf, &size);
	CHECK_EQ_INT(profile_write_svg(&p, &o, f), 0);
	fclose(f);
	CHECK(valid_utf8(buf, size));
	for (size_t i = 0; i < size; i++)
		if ((unsigned char)buf[i] < 0x20 && buf[i] != '\n')
			CHECK(!"raw control byte in the SVG");
	size_t ng = 0;

	for (const char *g = buf; (g = strstr(g, "<g data-s=")); g++) {
		const char *t = strstr(g, "<title>"), *te = t ? strstr(t, "</title>") : NULL;

		ng++;
		CHECK(t && te && !memchr(t + 7, '<', (size_t)(te - t - 7)) && !memchr(t + 7, '>', (size_t)(te - t - 7)));
	}
	CHECK_EQ_INT(ng, ns + 2);
	CHECK(strstr(buf, "<title>a;b c;d 12 (li b\\n\xef\xbf\xbd.so) (1 samples") != NULL);
	CHECK(strstr(buf, "<title>&lt;script&gt;&amp;&quot;&apos;&lt;/script&gt; (li b") != NULL);
	CHECK_EQ_INT(count_script(buf), 1);
	free(buf);

	/* speedscope: one JSON document holding every symbol as a name. */
	struct profile_meta m = { .period_ns = 1000 };
	struct jstrings js = { 0 };

	buf = NULL;
	f = open_memstream(&buf, &size);
	CHECK_EQ_INT(profile_write_speedscope(&p, &ft, &m, f), 0);
	fclose(f);
	CHECK(json_parse(buf, &js));
	for (size_t i = 0; i < ns; i++)
		CHECK(jstrings_has(&js, frametab_meta(&ft, labels[i])->name));
	CHECK(jstrings_has(&js, "/tmp/d;x/li b\n\xef\xbf\xbd.so"));
	CHECK(jstrings_has(&js, "[kernel]"));
	jstrings_free(&js);
	free(buf);

	/* pprof: decodes, every symbol a Function name, the path a Mapping. */
	struct decoded *d = roundtrip(&p, &ft, &m);

	if (d) {
		for (size_t i = 0; i < ns; i++) {
			bool found = false;

			for (size_t k = 0; k < d->nfuncs; k++)
				found |= strcmp(str(d, d->funcs[k].name), frametab_meta(&ft, labels[i])->name) == 0;
			CHECK(found);
		}
		bool mapped = false;

		for (size_t k = 0; k < d->nmaps; k++)
			mapped |= strcmp(str(d, d->maps[k].file), "/tmp/d;x/li b\n\xef\xbf\xbd.so") == 0;
		CHECK(mapped);
		for (size_t i = 0; i < d->nstrings; i++)
			CHECK(valid_utf8(d->strings[i], d->string_lens[i]));
		decoded_free(d);
	}
out:
	profile_free(&p);
	frametab_free(&ft);
}

static void test_empty_profile(void)
{
	struct frametab ft;
	struct profile p;
	struct profile_meta m = { .period_ns = 1000000 };

	frametab_init(&ft);
	profile_init(&p);
	struct decoded *d = roundtrip(&p, &ft, &m);

	if (d) {
		CHECK_EQ_INT(d->nsamples, 0);
		CHECK_EQ_INT(d->nsample_types, 2);
		CHECK_STR(str(d, 0), "");
		CHECK_EQ_INT(d->ncomments, 0);
		decoded_free(d);
	}
	profile_free(&p);
	frametab_free(&ft);
}

/* A failing stream is reported, not ignored: /dev/full fails every write. */
static void test_write_error(void)
{
	struct frametab ft;
	struct profile p;
	struct profile_meta m = { .period_ns = 1000000 };
	FILE *f = fopen("/dev/full", "w");

	frametab_init(&ft);
	profile_init(&p);
	const char *l = frametab_python(&ft, "f", "f.py", 1, 1);

	CHECK_EQ_INT(profile_add(&p, &l, 1, 1), 0);
	CHECK(f != NULL);
	if (f) {
		/* Buffered: the failure shows at the final flush. */
		CHECK_EQ_INT(profile_write_pprof(&p, &ft, &m, f), -ENOSPC);
		fclose(f);
	}
	f = fopen("/dev/full", "w");
	if (f) {
		/* Unbuffered: the first write of compressed bytes fails. */
		setvbuf(f, NULL, _IONBF, 0);
		CHECK_EQ_INT(profile_write_pprof(&p, &ft, &m, f), -ENOSPC);
		fclose(f);
	}
	/* count * period past int64 (3 * 2^62): refused, not wrapped. */
	CHECK_EQ_INT(profile_add(&p, &l, 1, 2), 0);
	m.period_ns = 1ull << 62;
	f = fopen("/dev/null", "w");
	if (f) {
		CHECK_EQ_INT(profile_write_pprof(&p, &ft, &m, f), -EOVERFLOW);
		fclose(f);
	}
	profile_free(&p);
	frametab_free(&ft);
}

/* Many distinct stacks over many labels: linear time (a quadratic
 * dedupe would take minutes here), and the decode agrees. */
static void test_large_profile(void)
{
	enum { NLABELS = 3000, NSTACKS = 200000, DEPTH = 12 };
	struct frametab ft;
	struct profile p;
	const char **labels = malloc(NLABELS * sizeof(*labels));
	char name[64];

	frametab_init(&ft);
	profile_init(&p);
	for (int i = 0; i < NLABELS; i++) {
		/* 1000 functions, 3 lines each. */
		snprintf(name, sizeof(name), "fn_%d", i / 3);
		labels[i] = frametab_python(&ft, name, "/big.py", 100 + i % 3, 99);
	}
	uint64_t x = 88172645463325252ull;

	for (int i = 0; i < NSTACKS; i++) {
		const char *st[DEPTH];

		for (int j = 0; j < DEPTH; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			st[j] = labels[x % NLABELS];
		}
		CHECK_EQ_INT(profile_add(&p, st, DEPTH, 1 + i % 5), 0);
	}
	struct profile_meta m = { .period_ns = 1000000 };
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	struct timespec t0, t1;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	CHECK_EQ_INT(profile_write_pprof(&p, &ft, &m, f), 0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	fclose(f);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	/* CPU time, not wall time, so a loaded machine does not fail it: under
	 * ASan this takes well under a second; 20 s is a generous bound. */
	CHECK(secs < 20);
	size_t rawn = 0;
	uint8_t *raw = gunzip((const uint8_t *)buf, size, &rawn);

	CHECK(raw != NULL);
	if (raw) {
		/* Count the top-level records without keeping them all. */
		struct reader r = { raw, raw + rawn, 0 };
		struct field fl;
		size_t counts[16] = { 0 };

		while (rd_field(&r, &fl))
			if (fl.num < 16)
				counts[fl.num]++;
		CHECK(!r.bad);
		CHECK_EQ_INT(counts[2], p.len);
		CHECK_EQ_INT(counts[4], NLABELS);
		CHECK_EQ_INT(counts[5], NLABELS / 3);
		free(raw);
	}
	free(buf);
	free(labels);
	profile_free(&p);
	frametab_free(&ft);
}

int main(void)
{
	test_encoder_bytes();
	test_utf8();
	test_small_profile();
	test_hostile_names();
	test_native_frames();
	test_hostile_native_all_writers();
	test_empty_profile();
	test_write_error();
	test_large_profile();
	UNIT_DONE();
}
