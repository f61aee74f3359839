/* Flame graph trie, colour classification and SVG writer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fg_colors.h"
#include "flamegraph.h"
#include "unit.h"

static char *render(const struct fg_tree *t, const struct fg_options *o, int *ret)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	*ret = fg_write_svg(t, o, f);
	fclose(f);
	return buf;
}

static size_t count_substr(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_tree_merges_prefixes(void)
{
	struct fg_tree *t = fg_tree_new();
	const char *s1[] = { "main", "a", "x" };
	const char *s2[] = { "main", "a", "y" };
	const char *s3[] = { "main", "b" };
	const char *s4[] = { "other" };
	CHECK_EQ_INT(fg_tree_add(t, s1, 3, 5), 0);
	CHECK_EQ_INT(fg_tree_add(t, s2, 3, 7), 0);
	CHECK_EQ_INT(fg_tree_add(t, s3, 2, 1), 0);
	CHECK_EQ_INT(fg_tree_add(t, s1, 3, 2), 0);   /* unsorted input: a repeat */
	CHECK_EQ_INT(fg_tree_add(t, s4, 1, 0), 0);   /* zero adds nothing */
	CHECK_EQ_INT(fg_tree_add(t, s1, 0, 3), 0);   /* empty stack: samples of the root */
	CHECK_EQ_INT(fg_tree_total(t), 18);
	/* main, a, x, y, b */
	CHECK_EQ_INT(fg_tree_frames(t), 5);

	const char *big[] = { "x" };
	CHECK_EQ_INT(fg_tree_add(t, big, 1, UINT64_MAX), -EOVERFLOW);
	CHECK_EQ_INT(fg_tree_total(t), 18);
	fg_tree_free(t);
	fg_tree_free(NULL);
}

/* Enough distinct frames to grow every table several times; counts stay
 * exact and the same frame reached through another path is another node. */
static void test_tree_many_frames(void)
{
	struct fg_tree *t = fg_tree_new();
	char a[32], b[32];
	const char *stack[3] = { "root", a, b };
	int err = 0;
	for (int i = 0; i < 300; i++) {
		for (int j = 0; j < 300; j++) {
			snprintf(a, sizeof(a), "f%d", (i * 7919) % 300);
			snprintf(b, sizeof(b), "g%d", j);
			err |= fg_tree_add(t, stack, 3, 1);
		}
	}
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_INT(fg_tree_total(t), 90000);
	CHECK_EQ_INT(fg_tree_frames(t), 1 + 300 + 300 * 300);
	fg_tree_free(t);
}

static void test_classify(void)
{
	const char *file;
	size_t len;
	struct {
		const char *name;
		enum fg_frame_kind kind;
		const char *file;
	} cases[] = {
		{ "main (app.py:10)", FG_FRAME_USER, "app.py" },
		{ "Handler.run (/srv/app/handlers.py:?)", FG_FRAME_USER, "/srv/app/handlers.py" },
		{ "<module> (<string>:1)", FG_FRAME_USER, "<string>" },
		{ "loads (/usr/lib/python3.11/json/__init__.py:346)", FG_FRAME_STDLIB,
		  "/usr/lib/python3.11/json/__init__.py" },
		{ "run (/root/.pyenv/versions/3.12.1/lib/python3.12/threading.py:1010)", FG_FRAME_STDLIB,
		  "/root/.pyenv/versions/3.12.1/lib/python3.12/threading.py" },
		{ "_find_and_load (<frozen importlib._bootstrap>:1360)", FG_FRAME_STDLIB,
		  "<frozen importlib._bootstrap>" },
		{ "get (/venv/lib/python3.12/site-packages/requests/api.py:73)", FG_FRAME_LIBRARY,
		  "/venv/lib/python3.12/site-packages/requests/api.py" },
		{ "f (/usr/lib/python3/dist-packages/yaml/x.py:2)", FG_FRAME_LIBRARY,
		  "/usr/lib/python3/dist-packages/yaml/x.py" },
		/* "python" not followed by a version: a user's directory */
		{ "f (/home/me/lib/pythonic/x.py:2)", FG_FRAME_USER, "/home/me/lib/pythonic/x.py" },
		/* a qualname with " (" in it: the last one opens the location */
		{ "weird (name) (w.py:3)", FG_FRAME_USER, "w.py" },
		{ "[truncated: 1200 frames]", FG_FRAME_PYPERF, NULL },
		{ "[unknown code 0x7f00deadbeef]", FG_FRAME_PYPERF, NULL },
		{ "do_syscall_64_[k]", FG_FRAME_OTHER, NULL },
		{ "java/lang/Thread.run", FG_FRAME_OTHER, NULL },
		{ "f (no line)", FG_FRAME_OTHER, NULL },
		{ "f (x.py:)", FG_FRAME_OTHER, NULL },
		{ "f (:3)", FG_FRAME_OTHER, NULL },
		{ "(x.py:3)", FG_FRAME_OTHER, NULL },
		{ "", FG_FRAME_OTHER, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum fg_frame_kind k = fg_frame_classify(cases[i].name, strlen(cases[i].name), &file, &len);
		if (k != cases[i].kind)
			fprintf(stderr, "classify '%s': %d, expected %d\n", cases[i].name, k, cases[i].kind);
		CHECK_EQ_INT(k, cases[i].kind);
		if (cases[i].file) {
			char got[256];
			snprintf(got, sizeof(got), "%.*s", (int)len, file);
			CHECK_STR(got, cases[i].file);
		}
	}
}

static void test_colors(void)
{
	CHECK(fg_color_scheme_valid("python"));
	CHECK(fg_color_scheme_valid("hot"));
	CHECK(!fg_color_scheme_valid("rainbow"));
	CHECK(!fg_color_scheme_valid(NULL));

	/* deterministic, and user code is warm while the stdlib is blue */
	const char *user = "main (app.py:1)", *std = "loads (/usr/lib/python3.11/json/__init__.py:3)";
	struct fg_rgb u1 = fg_frame_color(FG_SCHEME_PYTHON, user, strlen(user));
	struct fg_rgb u2 = fg_frame_color(FG_SCHEME_PYTHON, user, strlen(user));
	struct fg_rgb s = fg_frame_color(FG_SCHEME_PYTHON, std, strlen(std));
	CHECK(u1.r == u2.r && u1.g == u2.g && u1.b == u2.b);
	CHECK(u1.r > u1.b + 100);
	CHECK(s.b > s.r + 50);
	/* frames of one file stay close in colour */
	const char *user2 = "other (app.py:99)";
	struct fg_rgb u3 = fg_frame_color(FG_SCHEME_PYTHON, user2, strlen(user2));
	CHECK(abs(u1.r - u3.r) <= 16 && abs(u1.g - u3.g) <= 16 && abs(u1.b - u3.b) <= 16);
	struct fg_rgb g = fg_frame_color(FG_SCHEME_GRAY, user, strlen(user));
	CHECK(g.r == g.g && g.g == g.b);
}

static struct fg_tree *sample_tree(void)
{
	struct fg_tree *t = fg_tree_new();
	const char *s1[] = { "main (app.py:1)", "work (app.py:5)" };
	const char *s2[] = { "main (app.py:1)", "<script>alert('x')</script> & \"q\"" };
	const char *s3[] = { "main (app.py:1)", "ctl\x01\xff\xc3(bad utf8)", "caf\xc3\xa9 \xe2\x82\xac" };
	fg_tree_add(t, s1, 2, 600);
	fg_tree_add(t, s2, 2, 300);
	fg_tree_add(t, s3, 3, 100);
	return t;
}

static void test_svg_basic(void)
{
	struct fg_tree *t = sample_tree();
	struct fg_options o;
	fg_options_init(&o);
	o.title = "T <&> \"'";
	o.subtitle = "sub";
	int ret;
	char *svg = render(t, &o, &ret);
	CHECK_EQ_INT(ret, 0);
	CHECK(strncmp(svg, "<?xml ", 6) == 0);
	CHECK(strstr(svg, "</svg>\n") != NULL);
	CHECK(strstr(svg, ">T &lt;&amp;&gt; &quot;&apos;</text>") != NULL);
	CHECK(strstr(svg, "<title>all (1,000 samples, 100.00%)</title>") != NULL);
	CHECK(strstr(svg, "<title>work (app.py:5) (600 samples, 60.00%)</title>") != NULL);
	CHECK(strstr(svg, "<title>&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; "
			  "&quot;q&quot; (300 samples, 30.00%)</title>") != NULL);
	/* XML cannot hold \x01 nor invalid UTF-8: shown as escapes */
	CHECK(strstr(svg, "<title>ctl\\x01\\xff\\xc3(bad utf8) (100 samples") != NULL);
	CHECK(strstr(svg, "<title>caf\xc3\xa9 \xe2\x82\xac (100 samples") != NULL);
	/* nothing from names reaches markup: one <script>, ours */
	CHECK_EQ_INT(count_substr(svg, "<script"), 1);
	CHECK_EQ_INT(count_substr(svg, "<g data-s="), 6);
	CHECK(strstr(svg, "id=\"subtitle\"") != NULL);
	CHECK(strstr(svg, "id=\"legend\"") != NULL);
	CHECK(strstr(svg, "1,000 samples</text>") != NULL);
	free(svg);

	/* other options: units, icicle, no legend for non-python schemes */
	o.count_name = "ms";
	o.reverse = true;
	o.colors = "hot";
	o.title = NULL;
	svg = render(t, &o, &ret);
	CHECK_EQ_INT(ret, 0);
	CHECK(strstr(svg, "<title>work (app.py:5) (600 ms, 60.00%)</title>") != NULL);
	CHECK(strstr(svg, ">Icicle Graph</text>") != NULL);
	CHECK(strstr(svg, "data-icicle=\"1\"") != NULL);
	CHECK(strstr(svg, "id=\"legend\"") == NULL);
	free(svg);
	fg_tree_free(t);
}

/* Labels are trimmed to the frame's width with "..", never inside an escape
 * or a UTF-8 sequence. */
static void test_svg_labels(void)
{
	struct fg_tree *t = fg_tree_new();
	const char *wide[] = { "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" };
	const char *narrow[] = { "&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&" };
	fg_tree_add(t, wide, 1, 1);
	fg_tree_add(t, narrow, 1, 1);
	struct fg_options o;
	fg_options_init(&o);
	o.width = 200; /* 90 px per frame: 12 characters at 7.08 px */
	int ret;
	char *svg = render(t, &o, &ret);
	CHECK_EQ_INT(ret, 0);
	CHECK(strstr(svg, ">&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;..</text>") != NULL);
	CHECK(strstr(svg, ">\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			  "\xc3\xa9..</text>") != NULL);
	free(svg);
	fg_tree_free(t);
}

static void test_svg_minwidth(void)
{
	struct fg_tree *t = fg_tree_new();
	char name[32];
	const char *stack[] = { "main", name };
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "tiny%d", i);
		fg_tree_add(t, stack, 2, 1);
	}
	snprintf(name, sizeof(name), "big");
	fg_tree_add(t, stack, 2, 9000);
	struct fg_options o;
	fg_options_init(&o);
	o.minwidth = 0.5; /* each tiny frame is 1180/10000 = 0.118 px */
	int ret;
	char *svg = render(t, &o, &ret);
	CHECK_EQ_INT(ret, 0);
	CHECK_EQ_INT(count_substr(svg, "<g data-s="), 3); /* all, main, big */
	CHECK(strstr(svg, "1,000 frames narrower than 0.5 px not drawn") != NULL);
	free(svg);

	o.minwidth = 0;
	svg = render(t, &o, &ret);
	CHECK_EQ_INT(count_substr(svg, "<g data-s="), 1003);
	free(svg);
	fg_tree_free(t);
}

static void test_svg_errors(void)
{
	struct fg_tree *t = sample_tree();
	struct fg_options o;
	int ret;
	char *svg;

	fg_options_init(&o);
	o.colors = "nope";
	svg = render(t, &o, &ret);
	CHECK_EQ_INT(ret, -EINVAL);
	free(svg);
	fg_options_init(&o);
	o.width = 99;
	svg = render(t, &o, &ret);
	CHECK_EQ_INT(ret, -EINVAL);
	free(svg);
	fg_options_init(&o);
	o.minwidth = -1;
	svg = render(t, &o, &ret);
	CHECK_EQ_INT(ret, -EINVAL);
	free(svg);

	fg_options_init(&o);
	FILE *full = fopen("/dev/full", "w");
	if (full) {
		ret = fg_write_svg(t, &o, full);
		CHECK(ret == -ENOSPC || ret == -EIO);
		fclose(full);
	}
	fg_tree_free(t);
}

static void test_svg_empty(void)
{
	struct fg_tree *t = fg_tree_new();
	struct fg_options o;
	fg_options_init(&o);
	int ret;
	char *svg = render(t, &o, &ret);
	CHECK_EQ_INT(ret, 0);
	CHECK(strstr(svg, ">No samples</text>") != NULL);
	CHECK_EQ_INT(count_substr(svg, "<g data-s="), 0);
	free(svg);
	fg_tree_free(t);
}

int main(void)
{
	test_tree_merges_prefixes();
	test_tree_many_frames();
	test_classify();
	test_colors();
	test_svg_basic();
	test_svg_labels();
	test_svg_minwidth();
	test_svg_errors();
	test_svg_empty();
	UNIT_DONE();
}
