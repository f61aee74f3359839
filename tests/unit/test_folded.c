/* Folded-stack format: escaping, line parsing, streaming parse and stats. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "folded.h"
#include "unit.h"

/* A stack parsed by parse_one, kept as copies. */
struct parsed {
	int ret;
	size_t n;
	char *frames[16];
	uint64_t count;
	int differential;
};

static void parsed_free(struct parsed *p)
{
	for (size_t i = 0; i < p->n && i < 16; i++)
		free(p->frames[i]);
	memset(p, 0, sizeof(*p));
}

static struct parsed parse_one(const char *text)
{
	struct parsed p = { 0 };
	char *line = strdup(text);
	char **frames = NULL;
	size_t cap = 0;
	p.ret = folded_parse_line(line, strlen(line), &frames, &cap, &p.n, &p.count, &p.differential);
	if (p.ret == 1)
		for (size_t i = 0; i < p.n && i < 16; i++)
			p.frames[i] = strdup(frames[i]);
	else
		p.n = 0;
	free(frames);
	free(line);
	return p;
}

static char *escape(const char *name)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	CHECK_EQ_INT(folded_write_frame(f, name), 0);
	fclose(f);
	return buf;
}

static void test_escape(void)
{
	char *s;
	s = escape("plain (app.py:3)");
	CHECK_STR(s, "plain (app.py:3)");
	free(s);
	s = escape("a;b\\c\nd\re\tf");
	CHECK_STR(s, "a\\;b\\\\c\\nd\\re\\tf");
	free(s);
	s = escape("\x01\x1f\x7f");
	CHECK_STR(s, "\\x01\\x1f\\x7f");
	free(s);
	s = escape("caf\xc3\xa9 \xff <&>");
	CHECK_STR(s, "caf\xc3\xa9 \xff <&>");
	free(s);
	s = escape("");
	CHECK_STR(s, "");
	free(s);
}

/* Every byte 1..255 survives write_frame -> parse, alone and in a stack. */
static void test_escape_round_trip_all_bytes(void)
{
	char name[256];
	for (int i = 1; i < 256; i++)
		name[i - 1] = (char)i;
	name[255] = '\0';
	const char *frames[] = { name, "x;y", "\\", "\\x41" };
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	CHECK_EQ_INT(folded_write_stack(f, frames, 4, 42), 0);
	fclose(f);
	CHECK(memchr(buf, '\n', size) == buf + size - 1); /* one line */

	buf[size - 1] = '\0';
	struct parsed p = parse_one(buf);
	CHECK_EQ_INT(p.ret, 1);
	CHECK_EQ_INT(p.n, 4);
	CHECK_EQ_INT(p.count, 42);
	if (p.n == 4) {
		CHECK(strcmp(p.frames[0], name) == 0);
		CHECK_STR(p.frames[1], "x;y");
		CHECK_STR(p.frames[2], "\\");
		CHECK_STR(p.frames[3], "\\x41");
	}
	parsed_free(&p);
	free(buf);
}

static void test_parse_line(void)
{
	struct parsed p;

	p = parse_one("main;work;leaf 123");
	CHECK_EQ_INT(p.ret, 1);
	CHECK_EQ_INT(p.n, 3);
	CHECK_STR(p.frames[0], "main");
	CHECK_STR(p.frames[2], "leaf");
	CHECK_EQ_INT(p.count, 123);
	CHECK_EQ_INT(p.differential, 0);
	parsed_free(&p);

	/* pyperf labels, with spaces and parentheses */
	p = parse_one("<module> (app.py:1);f (lib/x.py:20) 7");
	CHECK_EQ_INT(p.n, 2);
	CHECK_STR(p.frames[0], "<module> (app.py:1)");
	CHECK_STR(p.frames[1], "f (lib/x.py:20)");
	CHECK_EQ_INT(p.count, 7);
	parsed_free(&p);

	/* CRLF, tab separator, 64-bit count */
	p = parse_one("a;b\t18446744073709551615\r");
	CHECK_EQ_INT(p.ret, 1);
	CHECK_STR(p.frames[1], "b");
	CHECK(p.count == UINT64_MAX);
	parsed_free(&p);

	/* exactly one separator: the name keeps its trailing space */
	p = parse_one("a;b  5");
	CHECK_STR(p.frames[1], "b ");
	CHECK_EQ_INT(p.count, 5);
	parsed_free(&p);

	/* two numbers (flamegraph.pl's differential form, or a name ending in a
	 * number): the last is the count, the other stays in the name */
	p = parse_one("a;b 10 25");
	CHECK_EQ_INT(p.ret, 1);
	CHECK_EQ_INT(p.n, 2);
	CHECK_STR(p.frames[1], "b 10");
	CHECK_EQ_INT(p.count, 25);
	CHECK_EQ_INT(p.differential, 1);
	parsed_free(&p);
	p = parse_one("worker 99999999999999999999 1");
	CHECK_EQ_INT(p.ret, 1);
	CHECK_STR(p.frames[0], "worker 99999999999999999999");
	CHECK_EQ_INT(p.count, 1);
	parsed_free(&p);

	/* a number inside a name is part of the name */
	p = parse_one("retry 3 times (x.py:1);b 2");
	CHECK_STR(p.frames[0], "retry 3 times (x.py:1)");
	CHECK_EQ_INT(p.count, 2);
	parsed_free(&p);

	/* empty frames are kept, like flamegraph.pl */
	p = parse_one("a;;b 1");
	CHECK_EQ_INT(p.n, 3);
	CHECK_STR(p.frames[1], "");
	parsed_free(&p);

	/* escapes, and backslashes from other tools that are not escapes */
	p = parse_one("a\\;b;c\\\\;C:\\Users\\bob;\\x41\\x4\\xZZ\\x00;tab\\there 1");
	CHECK_EQ_INT(p.n, 5);
	CHECK_STR(p.frames[0], "a;b");
	CHECK_STR(p.frames[1], "c\\");
	CHECK_STR(p.frames[2], "C:\\Users\\bob");
	CHECK_STR(p.frames[3], "A\\x4\\xZZ\\x00");
	CHECK_STR(p.frames[4], "tab\there");
	parsed_free(&p);

	/* a trailing lone backslash stays */
	p = parse_one("a\\ 3");
	CHECK_STR(p.frames[0], "a\\");
	parsed_free(&p);

	/* blank lines */
	p = parse_one("");
	CHECK_EQ_INT(p.ret, 0);
	p = parse_one("  \t \r");
	CHECK_EQ_INT(p.ret, 0);

	/* malformed */
	static const char *const bad[] = {
		"a;b", "a;b x", "a;b 12x", "a;b 1.5", "123", " 5", "\t5",
		"a;b 18446744073709551616", "a;b -3",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = parse_one(bad[i]);
		if (p.ret != -EINVAL)
			fprintf(stderr, "accepted malformed line: '%s'\n", bad[i]);
		CHECK_EQ_INT(p.ret, -EINVAL);
	}
}

static void test_nul_byte_is_malformed(void)
{
	char line[] = "a\0b 3";
	char **frames = NULL;
	size_t cap = 0, n;
	uint64_t count;
	int diff;
	CHECK_EQ_INT(folded_parse_line(line, sizeof(line) - 1, &frames, &cap, &n, &count, &diff),
		     -EINVAL);
	free(frames);
}

struct collect {
	size_t calls;
	uint64_t sum;
	char last_leaf[64];
	size_t stop_after; /* 0: never */
};

static int collect_cb(void *ctx, char **frames, size_t n, uint64_t count)
{
	struct collect *c = ctx;
	c->calls++;
	c->sum += count;
	snprintf(c->last_leaf, sizeof(c->last_leaf), "%s", frames[n - 1]);
	if (c->stop_after && c->calls == c->stop_after)
		return 77;
	return 0;
}

static void test_parse_stream(void)
{
	static const char text[] =
		"a;b 1\n"
		"\n"
		"not a stack\n"
		"a;c 2\r\n"
		"   \n"
		"a;d 3 4\n"
		"# comment 12abc\n"
		"a;e 5";   /* no final newline */
	FILE *in = fmemopen((void *)text, sizeof(text) - 1, "r");
	struct collect c = { 0 };
	struct folded_stats st;
	CHECK_EQ_INT(folded_parse(in, collect_cb, &c, &st), 0);
	fclose(in);
	CHECK_EQ_INT(st.lines, 8);
	CHECK_EQ_INT(st.stacks, 4);
	CHECK_EQ_INT(st.blank, 2);
	CHECK_EQ_INT(st.malformed, 2);
	CHECK_EQ_INT(st.first_malformed, 3);
	CHECK_EQ_INT(st.differential, 1);
	CHECK_EQ_INT(st.samples, 1 + 2 + 4 + 5);
	CHECK_EQ_INT(c.calls, 4);
	CHECK_STR(c.last_leaf, "e");

	/* the callback can stop the parse */
	in = fmemopen((void *)text, sizeof(text) - 1, "r");
	struct collect stop = { .stop_after = 2 };
	CHECK_EQ_INT(folded_parse(in, collect_cb, &stop, NULL), 77);
	CHECK_EQ_INT(stop.calls, 2);
	fclose(in);
}

/* A line longer than FOLDED_MAX_LINE is skipped without being held whole,
 * and the lines around it still parse. */
static void test_too_long_line(void)
{
	FILE *f = tmpfile();
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("first 1\n", f);
	size_t chunk = 1 << 16;
	char *filler = malloc(chunk);
	memset(filler, 'x', chunk);
	for (size_t written = 0; written <= FOLDED_MAX_LINE; written += chunk)
		fwrite(filler, 1, chunk, f);
	fputs(" 9\nlast 2\n", f);
	/* and a stack deeper than FOLDED_MAX_FRAMES (short enough in bytes) */
	for (size_t i = 0; i <= FOLDED_MAX_FRAMES; i++)
		fputs("a;", f);
	fputs("a 1\n", f);
	free(filler);
	rewind(f);

	struct collect c = { 0 };
	struct folded_stats st;
	CHECK_EQ_INT(folded_parse(f, collect_cb, &c, &st), 0);
	fclose(f);
	CHECK_EQ_INT(st.lines, 4);
	CHECK_EQ_INT(st.stacks, 2);
	CHECK_EQ_INT(st.malformed, 2);
	CHECK_EQ_INT(st.too_long, 2);
	CHECK_EQ_INT(st.first_malformed, 2);
	CHECK_EQ_INT(c.sum, 3);
}

static void test_write_stack(void)
{
	const char *frames[] = { "main (a.py:1)", "x;y (b.py:2)" };
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	CHECK_EQ_INT(folded_write_stack(f, frames, 2, 1234567890123ULL), 0);
	fclose(f);
	CHECK_STR(buf, "main (a.py:1);x\\;y (b.py:2) 1234567890123\n");
	free(buf);

	FILE *full = fopen("/dev/full", "w");
	if (full) {
		setvbuf(full, NULL, _IONBF, 0);
		CHECK_EQ_INT(folded_write_stack(full, frames, 2, 1), -EIO);
		fclose(full);
	}
}

int main(void)
{
	test_escape();
	test_escape_round_trip_all_bytes();
	test_parse_line();
	test_nul_byte_is_malformed();
	test_parse_stream();
	test_too_long_line();
	test_write_stack();
	UNIT_DONE();
}
