/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the folded-stack parser and writer (flamegraph/folded.c)
 * and the flame graph built from what was parsed (flamegraph/tree.c, svg.c).
 *
 * Input: arbitrary bytes, read as a folded file.
 *
 * Checks (abort on violation):
 *   - folded_parse over a FILE and folded_parse_line over the same bytes
 *     split at '\n' (each line in an exact-size heap copy, so ASan sees any
 *     write past it) accept the same stacks, frames and counts; the stats
 *     add up (lines = stacks + blank + malformed, samples = the counts'
 *     saturating sum);
 *   - round trip: every accepted stack, written back with
 *     folded_write_stack (folded_write_frame's escapes) and parsed again,
 *     gives the same frames and count, and is flagged differential exactly
 *     when its last frame ends in a space and digits;
 *   - fg_tree_add of every stack succeeds (or reports -EOVERFLOW exactly
 *     when the counts pass UINT64_MAX) and fg_tree_total is the sum;
 *   - fg_write_svg (options picked from the input: reverse, colour scheme,
 *     widths, a title taken from the input bytes) returns 0 and writes a
 *     document that starts with "<?xml", ends with "</svg>\n", is valid
 *     UTF-8 without control characters other than tab, CR and LF, and holds
 *     exactly one "<script" (names cannot inject markup).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flamegraph.h"
#include "folded.h"

#define die(...) do { fprintf(stderr, "fuzz_folded: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

/* Stacks accepted by one parser, serialized: per stack the count, the
 * number of frames, then each frame's bytes with its NUL. */
struct record {
	char *buf;
	size_t len;
	FILE *f;
	uint64_t n;
};

static void rec_open(struct record *r)
{
	memset(r, 0, sizeof(*r));
	r->f = open_memstream(&r->buf, &r->len);
	if (!r->f)
		abort();
}

static void rec_add(struct record *r, char **frames, size_t n, uint64_t count)
{
	fwrite(&count, sizeof(count), 1, r->f);
	fwrite(&n, sizeof(n), 1, r->f);
	for (size_t i = 0; i < n; i++)
		fwrite(frames[i], 1, strlen(frames[i]) + 1, r->f);
	r->n++;
}

static void rec_close(struct record *r)
{
	if (fclose(r->f) != 0)
		abort();
	r->f = NULL;
}

/* Does the name end in a space and one or more digits? (A tab is written
 * escaped, so only a space can precede the digits in the written line.) */
static bool ends_in_count(const char *s)
{
	size_t n = strlen(s), i = n;
	while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
		i--;
	return i < n && i > 0 && s[i - 1] == ' ';
}

static char **rt_frames;
static size_t rt_cap;

/* Writes the stack back, parses the line again, compares. */
static void round_trip(char **frames, size_t n, uint64_t count)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);
	if (!f)
		abort();
	if (folded_write_stack(f, (const char *const *)frames, n, count) != 0)
		die("folded_write_stack failed");
	if (fclose(f) != 0)
		abort();
	if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
		die("folded_write_stack wrote %zu bytes not forming one line", len);
	/* Exact size (without the '\n'), so writes past the line are caught. */
	char *copy = malloc(len - 1);
	if (!copy)
		abort();
	memcpy(copy, line, len - 1);
	size_t n2 = 0;
	uint64_t c2 = 0;
	int diff = 0;
	int rc = folded_parse_line(copy, len - 1, &rt_frames, &rt_cap, &n2, &c2, &diff);
	if (rc != 1)
		die("round trip: %.*s parsed as %d", (int)(len - 1), line, rc);
	if (diff != ends_in_count(frames[n - 1]))
		die("round trip: %.*s flagged differential %d", (int)(len - 1), line, diff);
	if (n2 != n || c2 != count)
		die("round trip: %.*s gave %zu frames, count %llu (had %zu, %llu)", (int)(len - 1), line,
		    n2, (unsigned long long)c2, n, (unsigned long long)count);
	for (size_t i = 0; i < n; i++)
		if (strcmp(rt_frames[i], frames[i]) != 0)
			die("round trip: frame %zu \"%s\" came back as \"%s\"", i, frames[i], rt_frames[i]);
	free(copy);
	free(line);
}

struct ctx {
	struct record rec;
	struct fg_tree *tree;
	uint64_t sum;
	bool overflow;
};

static int on_stack(void *vctx, char **frames, size_t n, uint64_t count)
{
	struct ctx *c = vctx;
	if (n == 0)
		die("callback with no frames");
	rec_add(&c->rec, frames, n, count);
	int rc = fg_tree_add(c->tree, (const char *const *)frames, n, count);
	if (c->sum > UINT64_MAX - count) {
		if (rc != -EOVERFLOW)
			die("fg_tree_add past UINT64_MAX samples returned %d", rc);
		c->overflow = true;
	} else if (rc != 0) {
		die("fg_tree_add returned %d", rc);
	} else {
		c->sum += count;
	}
	/* After the tree copied them: the callee may modify the strings. */
	round_trip(frames, n, count);
	return 0;
}

/* The same bytes, one line at a time through folded_parse_line. */
static void parse_by_lines(const uint8_t *data, size_t size, struct record *rec, struct folded_stats *st)
{
	char **frames = NULL;
	size_t cap = 0;
	size_t pos = 0;
	memset(st, 0, sizeof(*st));
	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
		char *line = malloc(len ? len : 1);
		if (!line)
			abort();
		memcpy(line, data + pos, len);
		size_t n = 0;
		uint64_t count = 0;
		int diff = 0;
		st->lines++;
		int rc = folded_parse_line(line, len, &frames, &cap, &n, &count, &diff);
		if (rc == 1) {
			st->stacks++;
			st->differential += (uint64_t)diff;
			st->samples = count > UINT64_MAX - st->samples ? UINT64_MAX : st->samples + count;
			rec_add(rec, frames, n, count);
		} else if (rc == 0) {
			st->blank++;
		} else if (rc == -EINVAL || rc == -E2BIG) {
			st->malformed++;
		} else {
			die("folded_parse_line returned %d", rc);
		}
		free(line);
		pos += len + 1;
	}
	free(frames);
}

static bool valid_svg_text(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f)
				return false;
			i++;
			continue;
		}
		size_t k;
		uint32_t v, min;
		if (c >= 0xC2 && c <= 0xDF) {
			k = 2; v = c & 0x1F; min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 3; v = c & 0x0F; min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 4; v = c & 0x07; min = 0x10000;
		} else {
			return false;
		}
		if (n - i < k)
			return false;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
			v = v << 6 | (s[i + j] & 0x3F);
		}
		if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
			return false;
		i += k;
	}
	return true;
}

static void write_svg(const struct fg_tree *tree, const uint8_t *data, size_t size)
{
	struct fg_options o;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	char title[33];
	size_t tl = size < 32 ? size : 32;
	memcpy(title, data, tl);
	title[tl] = '\0';

	fg_options_init(&o);
	o.reverse = h & 1;
	o.colors = fg_color_schemes[(h >> 1) % 4];
	o.minwidth = ((h >> 3) & 3) == 0 ? 0 : ((h >> 3) & 3) == 1 ? 0.1 : 3.5;
	o.width = (h >> 5) & 1 ? 1200 : FG_WIDTH_MIN + (int)((h >> 6) % 500);
	o.title = (h >> 15) & 1 ? title : NULL;
	o.subtitle = (h >> 16) & 1 ? title : NULL;

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort();
	int rc = fg_write_svg(tree, &o, f);
	if (fclose(f) != 0)
		abort();
	if (rc != 0)
		die("fg_write_svg returned %d", rc);
	if (len < 6 || memcmp(buf, "<?xml", 5) != 0 || len < 7 || memcmp(buf + len - 7, "</svg>\n", 7) != 0)
		die("the SVG does not start with <?xml or end with </svg>");
	if (!valid_svg_text((const unsigned char *)buf, len))
		die("the SVG holds invalid UTF-8 or a control character");
	size_t scripts = 0;
	for (const char *p = buf; (p = memmem(p, len - (size_t)(p - buf), "<script", 7)) != NULL; p++)
		scripts++;
	if (scripts != 1)
		die("the SVG holds %zu <script elements", scripts);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx c = { 0 };
	struct folded_stats st, st2;
	struct record by_lines;

	c.tree = fg_tree_new();
	if (!c.tree)
		abort();
	rec_open(&c.rec);
	rec_open(&by_lines);

	/* fmemopen needs a writable buffer and may refuse size 0. */
	int rc = 0;
	memset(&st, 0, sizeof(st));
	if (size) {
		char *copy = malloc(size);
		if (!copy)
			abort();
		memcpy(copy, data, size);
		FILE *in = fmemopen(copy, size, "r");
		if (!in)
			abort();
		rc = folded_parse(in, on_stack, &c, &st);
		fclose(in);
		free(copy);
	}
	if (rc != 0)
		die("folded_parse returned %d", rc);

	parse_by_lines(data, size, &by_lines, &st2);
	rec_close(&c.rec);
	rec_close(&by_lines);

	if (st.lines != st.stacks + st.blank + st.malformed)
		die("stats: %llu lines != %llu stacks + %llu blank + %llu malformed",
		    (unsigned long long)st.lines, (unsigned long long)st.stacks,
		    (unsigned long long)st.blank, (unsigned long long)st.malformed);
	if (st.lines != st2.lines || st.stacks != st2.stacks || st.blank != st2.blank ||
	    st.malformed != st2.malformed || st.samples != st2.samples || st.stacks != c.rec.n ||
	    st.differential != st2.differential)
		die("folded_parse and folded_parse_line disagree on the counts");
	if (c.rec.len != by_lines.len || memcmp(c.rec.buf, by_lines.buf, c.rec.len) != 0)
		die("folded_parse and folded_parse_line disagree on the stacks");
	if (!c.overflow && fg_tree_total(c.tree) != c.sum)
		die("fg_tree_total %llu, added %llu", (unsigned long long)fg_tree_total(c.tree),
		    (unsigned long long)c.sum);

	write_svg(c.tree, data, size);

	free(c.rec.buf);
	free(by_lines.buf);
	fg_tree_free(c.tree);
	return 0;
}

/* Frees the round trip's frame array at exit, so LeakSanitizer stays quiet. */
__attribute__((destructor)) static void fuzz_folded_fini(void)
{
	free(rt_frames);
}
