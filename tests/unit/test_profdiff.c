/* pyperf diff's statistics and normalisation (output/profdiff.c), its
 * function table, and the flame graph's differential mode (fg_options.style,
 * fg_tree_child, fg_diff_color). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_colors.h"
#include "flamegraph.h"
#include "output/profdiff.h"
#include "output/profile_read.h"
#include "unit.h"

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

static void test_z(void)
{
	/* 20% of 1000 against 40% of 2000: pooled 1/3, se = sqrt(1/3 * 2/3 * 1.5e-3) */
	double z = diff_z_proportions(200, 1000, 800, 2000);

	CHECK(NEAR(z, 0.2 / sqrt(1.0 / 3 * 2.0 / 3 * 0.0015), 1e-9));
	CHECK(NEAR(z, 10.954, 1e-3));
	CHECK(NEAR(diff_z_proportions(800, 2000, 200, 1000), -z, 1e-12));
	/* same shares, unequal counts: no difference */
	CHECK_EQ_INT(diff_z_proportions(100, 1000, 200, 2000), 0);
	/* nothing, or everything, on both sides: nothing to test */
	CHECK_EQ_INT(diff_z_proportions(0, 1000, 0, 2000), 0);
	CHECK_EQ_INT(diff_z_proportions(1000, 1000, 2000, 2000), 0);
	CHECK_EQ_INT(diff_z_proportions(5, 0, 5, 10), 0);
	/* 5% -> 5.2% of 1000/2000 samples: well within noise */
	CHECK(fabs(diff_z_proportions(50, 1000, 104, 2000)) < 1);
	/* Poisson rates: 100 in 1000 against 200 in 1000 */
	double zr = diff_z_rates(100, 1000, 200, 1000);

	CHECK(NEAR(zr, 0.1 / sqrt(0.15 * 0.002), 1e-9));
	CHECK_EQ_INT(diff_z_rates(100, 1000, 200, 2000), 0);
	CHECK_EQ_INT(diff_z_rates(1, 0, 1, 1), 0);
	CHECK(NEAR(diff_z_critical(0.99), 2.5758293, 1e-6));
	CHECK(NEAR(diff_z_critical(0.95), 1.959964, 1e-6));
	CHECK_EQ_INT(diff_z_critical(0.5), 0);
	CHECK_STR(diff_verdict_name(DIFF_GONE), "gone");
}

/* A read_profile of the given stacks ("a;b;c" root first), in one file. */
static void fake(struct read_profile *rp, const char *const *stacks, const uint64_t *counts, size_t n,
		 uint64_t period_ns, uint64_t duration_ns, const char *value_type)
{
	memset(rp, 0, sizeof(*rp));
	profile_init(&rp->prof);
	frametab_init(&rp->labels);
	rp->files = calloc(1, sizeof(*rp->files));
	rp->nfiles = rp->capfiles = 1;
	rp->files[0].period_ns = period_ns;
	rp->files[0].duration_ns = duration_ns;
	rp->files[0].value_type = value_type;
	rp->value_type = value_type;
	for (size_t i = 0; i < n; i++) {
		const char *frames[16];
		size_t nf = 0;
		char *copy = strdup(stacks[i]), *save = NULL;

		for (char *t = strtok_r(copy, ";", &save); t && nf < 16; t = strtok_r(NULL, ";", &save)) {
			char name[64];
			int line = 0;

			/* "f:12" is a Python frame of app.py at line 12; other names pseudo-frames */
			if (sscanf(t, "%63[^:]:%d", name, &line) == 2)
				frames[nf++] = frametab_python(&rp->labels, name, "app.py", line, 1);
			else
				frames[nf++] = frametab_pseudo(&rp->labels, t);
		}
		free(copy);
		CHECK_EQ_INT(profile_add(&rp->prof, frames, nf, counts[i]), 0);
		rp->files[0].samples += counts[i];
	}
}

static void test_normalisation(void)
{
	struct read_profile a, b, c;
	struct diff_setup s;
	struct diff_cmp cmp;
	char err[512];
	const char *st[] = { "main:1;work:5", "main:1;idle:9" };
	const uint64_t ca[] = { 500, 500 }, cb[] = { 1000, 1000 };

	/* 10 s at 100 Hz, 1000 samples: 1 core busy; 2000 samples in 10 s: 2 cores */
	fake(&a, st, ca, 2, 10000000, 10000000000ull, NULL);
	fake(&b, st, cb, 2, 10000000, 10000000000ull, NULL);
	fake(&c, st, ca, 2, 0, 0, NULL); /* folded: no period, no duration */

	CHECK_EQ_INT(diff_setup_init(&s, DIFF_SHARE, 0.99, &a, &b, err, sizeof(err)), 0);
	diff_compare(&s, 500, 1000, &cmp); /* 50% -> 50% */
	CHECK(NEAR(cmp.value[0], 0.5, 1e-12) && NEAR(cmp.value[1], 0.5, 1e-12));
	CHECK_EQ_INT(cmp.verdict, DIFF_NOISE);
	diff_compare(&s, 200, 800, &cmp); /* 20% -> 40% */
	CHECK_EQ_INT(cmp.verdict, DIFF_GREW);
	CHECK(NEAR(cmp.change, 0.2, 1e-12));
	diff_compare(&s, 0, 100, &cmp);
	CHECK_EQ_INT(cmp.verdict, DIFF_NEW);
	diff_compare(&s, 100, 0, &cmp);
	CHECK_EQ_INT(cmp.verdict, DIFF_GONE);
	diff_compare(&s, 0, 1, &cmp); /* one sample is no evidence */
	CHECK_EQ_INT(cmp.verdict, DIFF_NOISE);

	/* per second: the same 500 samples -> 1000 samples is 0.5 -> 1.0 cores */
	CHECK_EQ_INT(diff_setup_init(&s, DIFF_PER_SECOND, 0.99, &a, &b, err, sizeof(err)), 0);
	diff_compare(&s, 500, 1000, &cmp);
	CHECK(NEAR(cmp.value[0], 0.5, 1e-12) && NEAR(cmp.value[1], 1.0, 1e-12));
	CHECK_EQ_INT(cmp.verdict, DIFF_GREW);
	diff_compare(&s, 500, 510, &cmp);
	CHECK_EQ_INT(cmp.verdict, DIFF_NOISE);
	/* per second without durations: said so */
	CHECK_EQ_INT(diff_setup_init(&s, DIFF_PER_SECOND, 0.99, &c, &b, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "--per-second needs") && strstr(err, "BEFORE"));
	CHECK_EQ_INT(diff_setup_init(&s, DIFF_SHARE, 0.42, &a, &b, err, sizeof(err)), -EINVAL);
	read_profile_free(&c);

	/* time-valued: µs counts tested in 10 ms units, so 1000 µs is 0.1 unit */
	fake(&c, st, ca, 2, 1000, 10000000000ull, "off_cpu");
	CHECK_EQ_INT(diff_setup_init(&s, DIFF_SHARE, 0.99, &a, &c, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "one kind") != NULL);
	CHECK_EQ_INT(diff_setup_init(&s, DIFF_SHARE, 0.99, &c, &c, err, sizeof(err)), 0);
	CHECK(NEAR(s.side[0].test_scale, 1e-4, 1e-12));
	/* 20% -> 40% of 1000 µs each is 0.02 -> 0.04 units: noise */
	diff_compare(&s, 200, 400, &cmp);
	CHECK_EQ_INT(cmp.verdict, DIFF_NOISE);
	read_profile_free(&a);
	read_profile_free(&b);
	read_profile_free(&c);
}

static const struct diff_func *find(const struct profile_diff *d, const char *name)
{
	for (size_t i = 0; i < d->nfuncs; i++)
		if (!strcmp(d->funcs[i].name, name))
			return &d->funcs[i];
	return NULL;
}

static void test_function_table(void)
{
	struct read_profile a, b;
	struct diff_setup s;
	struct profile_diff d;
	char err[256];
	/* rec calls itself: counted once in its total; work moved a line */
	const char *sa[] = { "main:1;rec:3;rec:4;work:5", "main:1;idle:9", "main:1;old:20" };
	const uint64_t ca[] = { 200, 650, 150 };
	const char *sb[] = { "main:1;rec:3;rec:4;work:6", "main:1;idle:9", "main:1;fresh:30" };
	const uint64_t cb[] = { 800, 600, 600 };

	fake(&a, sa, ca, 3, 0, 0, NULL);
	fake(&b, sb, cb, 3, 0, 0, NULL);
	CHECK_EQ_INT(diff_setup_init(&s, DIFF_SHARE, 0.99, &a, &b, err, sizeof(err)), 0);
	CHECK_EQ_INT(profile_diff_build(&d, &s, &a, &b), 0);
	const struct diff_func *work = find(&d, "work (app.py)"), *rec = find(&d, "rec (app.py)");
	const struct diff_func *old = find(&d, "old (app.py)"), *fresh = find(&d, "fresh (app.py)");
	const struct diff_func *mainf = find(&d, "main (app.py)");

	CHECK(work && rec && old && fresh && mainf);
	if (!work || !rec || !old || !fresh || !mainf)
		goto out;
	CHECK(work->self[0] == 200 && work->self[1] == 800 && work->total[0] == 200);
	CHECK(rec->self[0] == 0 && rec->total[0] == 200 && rec->total[1] == 800);
	CHECK(rec->by_total && !work->by_total);
	CHECK_EQ_INT(diff_judged(rec)->verdict, DIFF_GREW);
	CHECK_EQ_INT(diff_judged(work)->verdict, DIFF_GREW);
	CHECK_EQ_INT(diff_judged(old)->verdict, DIFF_GONE);
	CHECK_EQ_INT(diff_judged(fresh)->verdict, DIFF_NEW);
	CHECK_EQ_INT(diff_judged(mainf)->verdict, DIFF_NOISE);
	CHECK(mainf == &d.funcs[d.nfuncs - 1]); /* noise last */
	/* the table */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK_EQ_INT(profile_diff_write_text(&d, f, 2, "a", "b"), 0);
	fclose(f);
	CHECK(strstr(text, "BEFORE a: 1000 samples") != NULL);
	CHECK(strstr(text, "two-proportion z-test per function at 99% confidence (|z| >= 2.576)") != NULL);
	/* the largest significant changes first */
	CHECK(strstr(text, "\n  65.00%   30.00%   -35.00     65.00%   30.00%   -35.00  shrank   idle (app.py)\n"
			 "   0.00%   30.00%   +30.00      0.00%   30.00%   +30.00  new      fresh (app.py)\n") != NULL);
	CHECK(strstr(text, "... 4 more functions") != NULL);
	CHECK(strstr(text, "6 functions: 2 grew, 1 shrank, 1 new, 1 gone, 1 within noise") != NULL);
	free(text);
	profile_diff_free(&d);

	/* by line: work at line 5 is gone, at line 6 new */
	s.by_line = true;
	CHECK_EQ_INT(profile_diff_build(&d, &s, &a, &b), 0);
	CHECK(find(&d, "work (app.py:5)") && diff_judged(find(&d, "work (app.py:5)"))->verdict == DIFF_GONE);
	CHECK(find(&d, "work (app.py:6)") && diff_judged(find(&d, "work (app.py:6)"))->verdict == DIFF_NEW);
out:
	profile_diff_free(&d);
	read_profile_free(&a);
	read_profile_free(&b);
}

struct calls {
	char seen[8][32];
	uint32_t depth[8];
	size_t n;
};

static void style(void *ctx, const char *name, uint32_t depth, uint64_t total, struct fg_style *st)
{
	struct calls *c = ctx;

	if (c->n < 8) {
		snprintf(c->seen[c->n], 32, "%s", name);
		c->depth[c->n++] = depth;
	}
	st->change = !strcmp(name, "b") ? 1 : !strcmp(name, "c") ? -0.5 : 0;
	st->added = !strcmp(name, "c");
	snprintf(st->note, sizeof(st->note), "n=%llu (x) <y>", (unsigned long long)total);
}

static void test_flamegraph_diff(void)
{
	struct fg_tree *t = fg_tree_new();
	const char *s1[] = { "a", "b" }, *s2[] = { "a", "c" };
	struct calls calls = { 0 };
	struct fg_options o;
	char *svg = NULL;
	size_t len = 0;

	CHECK_EQ_INT(fg_tree_add(t, s1, 2, 3), 0);
	CHECK_EQ_INT(fg_tree_add(t, s2, 2, 1), 0);
	uint32_t a = fg_tree_child(t, 0, "a");

	CHECK(a != FG_NO_FRAME && fg_tree_frame_total(t, a) == 4);
	CHECK_EQ_INT(fg_tree_frame_total(t, fg_tree_child(t, a, "b")), 3);
	CHECK(fg_tree_child(t, a, "x") == FG_NO_FRAME);
	CHECK(fg_tree_child(t, 0, "b") == FG_NO_FRAME);
	CHECK(fg_tree_child(t, FG_NO_FRAME, "a") == FG_NO_FRAME);
	CHECK_EQ_INT(fg_tree_frame_total(t, FG_NO_FRAME), 0);

	fg_options_init(&o);
	o.style = style;
	o.style_ctx = &calls;
	const char *notes[] = { "gone: <old> & co" };

	o.notes = notes;
	o.nnotes = 1;
	FILE *f = open_memstream(&svg, &len);

	CHECK_EQ_INT(fg_write_svg(t, &o, f), 0);
	fclose(f);
	/* parents before children */
	CHECK_EQ_INT(calls.n, 4);
	CHECK(!strcmp(calls.seen[0], "all") && calls.depth[0] == 0 && !strcmp(calls.seen[1], "a") && calls.depth[1] == 1);
	CHECK(calls.depth[2] == 2 && calls.depth[3] == 2);
	/* the note in the title, " (" written " [" and escaped */
	CHECK(strstr(svg, "<title>b (3 samples, 75.00%; n=3 [x) &lt;y&gt;)</title>") != NULL);
	struct fg_rgb red = fg_diff_color(1), blue = fg_diff_color(-0.5), grey = fg_diff_color(0);
	char want[64];

	snprintf(want, sizeof(want), "fill=\"rgb(%d,%d,%d)\"", red.r, red.g, red.b);
	CHECK(strstr(svg, want) != NULL);
	CHECK(red.r == 255 && red.g == red.b && red.g < 100);
	CHECK(blue.b == 255 && blue.r == blue.g && blue.r > red.g && blue.r < 222);
	CHECK(grey.r == grey.g && grey.r > 200);
	CHECK(fg_diff_color(NAN).r == grey.r);
	CHECK(strstr(svg, "data-n=\"1\" class=\"added\"") != NULL);
	CHECK(strstr(svg, "<text class=\"note\" x=\"10\"") && strstr(svg, "gone: &lt;old&gt; &amp; co"));
	CHECK(strstr(svg, ">grew</text>") && strstr(svg, ">shrank</text>"));
	free(svg);
	fg_tree_free(t);
}

int main(void)
{
	test_z();
	test_normalisation();
	test_function_table();
	test_flamegraph_diff();
	UNIT_DONE();
}
