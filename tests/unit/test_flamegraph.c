/* Flame graph trie, colour classification and SVG writer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fg_colors.h"
#include "flamegraph.h"
#include "output/frametab.h"
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
		/* Python without a line: a .py file, a "<...>" one, or a path */
		{ "f (/app/x.py)", FG_FRAME_USER, "/app/x.py" },
		{ "<module> (<string>)", FG_FRAME_USER, "<string>" },
		{ "<module> (/usr/local/bin/pip)", FG_FRAME_USER, "/usr/local/bin/pip" },
		{ "f (/usr/lib/python3.12/os.py)", FG_FRAME_STDLIB, "/usr/lib/python3.12/os.py" },
		/* native: "symbol (basename)" and "basename+0xADDR" */
		{ "compress2 (libz.so.1.3)", FG_FRAME_NATIVE, "libz.so.1.3" },
		{ "PyObject_Call (python3.12)", FG_FRAME_NATIVE, "python3.12" },
		{ "std::vector<int> (a, b) (libx.so)", FG_FRAME_NATIVE, "libx.so" },
		{ "libz.so.1.3+0x7ff0", FG_FRAME_NATIVE, "libz.so.1.3" },
		{ "?+0xDEAD", FG_FRAME_NATIVE, "?" },
		{ "f (no line)", FG_FRAME_NATIVE, "no line" },
		{ "f (x.py:)", FG_FRAME_NATIVE, "x.py:" },
		/* kernel */
		{ "do_syscall_64 [kernel]", FG_FRAME_KERNEL, NULL },
		{ "[unknown] [kernel]", FG_FRAME_KERNEL, NULL },
		/* pseudo-frames, including the native ones */
		{ "[gc]", FG_FRAME_PYPERF, NULL },
		{ "[unknown native]", FG_FRAME_PYPERF, NULL },
		{ "[kernel]", FG_FRAME_PYPERF, NULL },
		/* none of these */
		{ "+0x12", FG_FRAME_OTHER, NULL },
		{ "lib+0x", FG_FRAME_OTHER, NULL },
		{ "lib+0xzz", FG_FRAME_OTHER, NULL },
		{ "f ()", FG_FRAME_OTHER, NULL },
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

/* The colour families of the python scheme, as ranges wide enough for the
 * per-function nudge (+-8). Each colour of a kind must fall in its own
 * family and in no other. */
enum { FAM_USER, FAM_STDLIB, FAM_LIBRARY, FAM_NATIVE, FAM_KERNEL, FAM_GREY, NFAM };

static bool in_family(int fam, struct fg_rgb c)
{
	switch (fam) {
	case FAM_USER: return c.r >= 217 && c.g >= 87 && c.g <= 213 && c.b <= 73;
	case FAM_STDLIB: return c.b >= 207 && c.r <= 153;
	case FAM_LIBRARY: return c.g >= 182 && c.r <= 168 && c.b <= 168;
	case FAM_NATIVE: return c.r >= 187 && c.g <= 83 && c.b >= 62 && c.b <= 118;
	case FAM_KERNEL: return c.r >= 165 && c.r <= 195 && c.g >= 95 && c.g <= 130 && c.b >= 25 && c.b <= 50;
	case FAM_GREY: return c.r == 200 && c.g == 200 && c.b == 205;
	}
	return false;
}

/* The one family c belongs to, or -1 (none, or more than one). */
static int family_of(struct fg_rgb c)
{
	int found = -1;
	for (int f = 0; f < NFAM; f++) {
		if (!in_family(f, c))
			continue;
		if (found >= 0)
			return -1;
		found = f;
	}
	return found;
}

/* Many names of each kind: every colour lands in its family alone. */
static void test_color_families(void)
{
	static const struct { const char *fmt; int fam; } kinds[] = {
		{ "f%d (/app/m%d.py:3)", FAM_USER },
		{ "f%d (/usr/lib/python3.12/m%d.py:3)", FAM_STDLIB },
		{ "f%d (/venv/lib/python3.12/site-packages/m%d.py:3)", FAM_LIBRARY },
		{ "f%d (lib%d.so.1)", FAM_NATIVE },
		{ "lib%d.so+0x%d", FAM_NATIVE },
		{ "sym_%d_%d [kernel]", FAM_KERNEL },
		{ "[unknown native %d %d]", FAM_GREY },
	};
	int bad = 0;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (int i = 0; i < 3000; i++) {
			char name[128];
			snprintf(name, sizeof(name), kinds[k].fmt, i, i * 7919 % 1000);
			struct fg_rgb c = fg_frame_color(FG_SCHEME_PYTHON, name, strlen(name));
			if (family_of(c) != kinds[k].fam && bad++ < 5)
				fprintf(stderr, "'%s' -> rgb(%d,%d,%d): family %d, expected %d\n", name, c.r, c.g,
					c.b, family_of(c), kinds[k].fam);
		}
	}
	CHECK_EQ_INT(bad, 0);
	/* The legend swatches too. */
	CHECK_EQ_INT(family_of(fg_kind_color(FG_FRAME_NATIVE, "", 0)), FAM_NATIVE);
	CHECK_EQ_INT(family_of(fg_kind_color(FG_FRAME_KERNEL, "", 0)), FAM_KERNEL);
	CHECK_EQ_INT(family_of(fg_kind_color(FG_FRAME_PYPERF, "", 0)), FAM_GREY);
}

/* The fill of the frame titled name in an SVG, from its <g>; false if absent. */
static bool svg_fill(const char *svg, const char *name, struct fg_rgb *c)
{
	char title[512];
	snprintf(title, sizeof(title), "<title>%s (", name);
	const char *g = strstr(svg, title);
	if (!g)
		return false;
	const char *f = strstr(g, "fill=\"rgb(");
	const char *end = strstr(g, "</g>");
	int r, gr, b;
	if (!f || !end || f > end || sscanf(f, "fill=\"rgb(%d,%d,%d)\"", &r, &gr, &b) != 3)
		return false;
	*c = (struct fg_rgb){ (uint8_t)r, (uint8_t)gr, (uint8_t)b };
	return true;
}

/* Python calling C calling Python calling C into the kernel, labelled by
 * frametab as record writes them: each frame's colour in the SVG is of its
 * kind, and the legend lists native and kernel. */
static void test_svg_native_colors(void)
{
	struct frametab ft;
	frametab_init(&ft);
	const char *mod = frametab_python(&ft, "main", "/app/main.py", 3, 1); /* no &lt; in the title */
	const char *call = frametab_native(&ft, "PyObject_Call", "/usr/bin/python3.12", 0x1000, "", false);
	const char *key = frametab_python(&ft, "key", "/usr/lib/python3.12/functools.py", 7, 1);
	const char *sortc = frametab_native(&ft, "list_sort_impl", "/usr/bin/python3.12", 0x2000, "", false);
	const char *lib = frametab_python(&ft, "get", "/venv/lib/python3.12/site-packages/r/api.py", 9, 1);
	const char *zc = frametab_native(&ft, "compress2", "/usr/lib/libz.so.1", 0x4a10, "", false);
	const char *zanon = frametab_native(&ft, NULL, "/usr/lib/libz.so.1", 0x7ff0, "", false);
	const char *kern = frametab_native(&ft, "do_syscall_64", "", 0xffffffff81000000ull, "", true);
	const char *gc = frametab_pseudo(&ft, "[gc]");
	const char *unk = frametab_pseudo(&ft, "[unknown native]");
	const char *s1[] = { mod, call, key, sortc, lib, zc, kern };
	const char *s2[] = { mod, call, key, sortc, lib, zc, zanon };
	const char *s3[] = { mod, gc };
	const char *s4[] = { mod, call, unk };
	struct fg_tree *t = fg_tree_new();
	CHECK_EQ_INT(fg_tree_add(t, s1, 7, 40), 0);
	CHECK_EQ_INT(fg_tree_add(t, s2, 7, 30), 0);
	CHECK_EQ_INT(fg_tree_add(t, s3, 2, 20), 0);
	CHECK_EQ_INT(fg_tree_add(t, s4, 3, 10), 0);
	struct fg_options o;
	fg_options_init(&o);
	int ret;
	char *svg = render(t, &o, &ret);
	CHECK_EQ_INT(ret, 0);
	const struct { const char *label; int fam; } want[] = {
		{ mod, FAM_USER }, { call, FAM_NATIVE }, { key, FAM_STDLIB }, { sortc, FAM_NATIVE },
		{ lib, FAM_LIBRARY }, { zc, FAM_NATIVE }, { zanon, FAM_NATIVE }, { kern, FAM_KERNEL },
		{ gc, FAM_GREY }, { unk, FAM_GREY },
	};
	for (size_t i = 0; svg && i < sizeof(want) / sizeof(want[0]); i++) {
		struct fg_rgb c;
		bool found = svg_fill(svg, want[i].label, &c);
		CHECK(found);
		if (found && family_of(c) != want[i].fam)
			fprintf(stderr, "'%s' rgb(%d,%d,%d): family %d, expected %d\n", want[i].label, c.r, c.g,
				c.b, family_of(c), want[i].fam);
		CHECK(found && family_of(c) == want[i].fam);
	}
	const char *legend = svg ? strstr(svg, "<g id=\"legend\">") : NULL;
	CHECK(legend != NULL);
	CHECK(legend && strstr(legend, ">native</text>") && strstr(legend, ">kernel</text>"));
	/* Search and zoom read these; they must stay as they were. */
	CHECK(svg && strstr(svg, "<title>compress2 (libz.so.1) (70 samples, 70.00%)</title><rect ") != NULL);
	CHECK(svg && strstr(svg, "<title>do_syscall_64 [kernel] (40 samples, 40.00%)</title>") != NULL);
	free(svg);

	/* Without native frames, the legend keeps its Python-only key. */
	struct fg_tree *py = fg_tree_new();
	const char *s5[] = { mod, key };
	CHECK_EQ_INT(fg_tree_add(py, s5, 2, 1), 0);
	svg = render(py, &o, &ret);
	CHECK_EQ_INT(ret, 0);
	CHECK(svg && strstr(svg, "id=\"legend\"") != NULL);
	CHECK(svg && strstr(svg, ">native</text>") == NULL && strstr(svg, ">kernel</text>") == NULL);
	free(svg);
	fg_tree_free(py);
	fg_tree_free(t);
	frametab_free(&ft);
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
	test_color_families();
	test_svg_basic();
	test_svg_native_colors();
	test_svg_labels();
	test_svg_minwidth();
	test_svg_errors();
	test_svg_empty();
	UNIT_DONE();
}
