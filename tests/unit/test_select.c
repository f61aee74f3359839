/* report's selection rules (output/select.h) and annotate's tallies and
 * sources (output/annotate.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output/annotate.h"
#include "output/select.h"
#include "unit.h"

#define S 1000000000ull

static void test_times(void)
{
	const uint64_t now = 1796180645ull * S; /* 2026-12-02T02:44:05Z */
	uint64_t t = 0;

	CHECK_EQ_INT(select_parse_time("2026-12-02T02:00:00Z", now, &t), 0);
	CHECK_EQ_INT(t, 1796176800ull * S);
	CHECK_EQ_INT(select_parse_time("2026-12-02 02:00:00.250Z", now, &t), 0);
	CHECK_EQ_INT(t, 1796176800ull * S + 250000000ull);
	CHECK_EQ_INT(select_parse_time("2026-12-02T03:00:00+01:00", now, &t), 0);
	CHECK_EQ_INT(t, 1796176800ull * S);
	CHECK_EQ_INT(select_parse_time("2026-12-02T00:30:00-0130", now, &t), 0);
	CHECK_EQ_INT(t, 1796176800ull * S);
	CHECK_EQ_INT(select_parse_time("2026-12-02T02:00Z", now, &t), 0);
	CHECK_EQ_INT(t, 1796176800ull * S);
	CHECK_EQ_INT(select_parse_time("-15m", now, &t), 0);
	CHECK_EQ_INT(t, now - 900 * S);
	CHECK_EQ_INT(select_parse_time("-2h", now, &t), 0);
	CHECK_EQ_INT(t, now - 7200 * S);
	CHECK_EQ_INT(select_parse_time("-1d", now, &t), 0);
	CHECK_EQ_INT(t, now - 86400 * S);
	CHECK_EQ_INT(select_parse_time("now", now, &t), 0);
	CHECK_EQ_INT(t, now);
	/* local time: the zone's rules */
	setenv("TZ", "Europe/Paris", 1);
	tzset();
	CHECK_EQ_INT(select_parse_time("2026-12-02T03:00:00", now, &t), 0);
	CHECK_EQ_INT(t, 1796176800ull * S);
	CHECK_EQ_INT(select_parse_time("2026-07-02T04:00", now, &t), 0); /* summer: +02:00 */
	CHECK_EQ_INT(t, 1782957600ull * S);
	CHECK_EQ_INT(select_parse_time("2026-12-02", now, &t), 0);
	CHECK_EQ_INT(t, (1796169600ull - 3600) * S);
	setenv("TZ", "UTC", 1);
	tzset();
	static const char *const bad[] = { "", "2026", "2026-13-01", "2026-02-30", "2026-12-02T24:00", "2026-12-02T02:60",
					   "2026-12-02T02:00:00X", "2026-12-02T02:00:00+25:00", "-", "-5x", "yesterday",
					   "1969-12-31", "2026-12-02T02:00:00.", "2026-12-02T02:00:00Z1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = select_parse_time(bad[i], now, &t);

		if (rc != -EINVAL)
			fprintf(stderr, "accepted '%s'\n", bad[i]);
		CHECK_EQ_INT(rc, -EINVAL);
	}
	char buf[40];

	select_format_time(1796176800ull * S + 5000000, buf, sizeof(buf));
	CHECK_STR(buf, "2026-12-02T02:00:00.005Z");
}

static void test_filters(void)
{
	struct select_filter f[4];
	char err[256];
	struct sample_origin web = { .pid = 10, .tid = 11, .comm = "gunicorn", .cmdline = "gunicorn app:wsgi",
				     .thread = "MainThread", .container = "abc123" };
	struct sample_origin bare = { .pid = 20, .tid = 20, .comm = "python3", .cmdline = "", .thread = "", .container = "" };

	CHECK_EQ_INT(select_filter_parse("process=gunicorn", &f[0], err, sizeof(err)), 0);
	CHECK(select_match(f, 1, &web) && !select_match(f, 1, &bare) && !select_match(f, 1, NULL));
	CHECK_EQ_INT(select_filter_parse("container=abc*", &f[1], err, sizeof(err)), 0);
	CHECK(select_match(f, 2, &web));
	CHECK_EQ_INT(select_filter_parse("container=*", &f[1], err, sizeof(err)), 0);
	CHECK(!select_match(f + 1, 1, &bare)); /* a missing label never matches */
	CHECK_EQ_INT(select_filter_parse("pid=20", &f[2], err, sizeof(err)), 0);
	CHECK(select_match(f + 2, 1, &bare) && !select_match(f + 2, 1, &web));
	CHECK(!select_match(f, 3, &web)); /* all must match */
	CHECK_EQ_INT(select_filter_parse("thread=Main*", &f[3], err, sizeof(err)), 0);
	CHECK(select_match(f + 3, 1, &web) && !select_match(f + 3, 1, &bare));
	CHECK(select_match(f, 0, NULL)); /* no filter: everything */
	CHECK_EQ_INT(select_filter_parse("pid=x", &f[0], err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "number") != NULL);
	CHECK_EQ_INT(select_filter_parse("colour=red", &f[0], err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "unknown label") != NULL);
	CHECK_EQ_INT(select_filter_parse("process", &f[0], err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(select_filter_parse("process=", &f[0], err, sizeof(err)), -EINVAL);

	struct frametab ft;

	frametab_init(&ft);
	CHECK_STR(select_group_root(&ft, SEL_PID, &web), "process 10");
	CHECK_STR(select_group_root(&ft, SEL_PROCESS, &web), "process gunicorn");
	CHECK_STR(select_group_root(&ft, SEL_CONTAINER, &bare), "[no container]");
	CHECK_STR(select_group_root(&ft, SEL_THREAD, NULL), "[no thread]");
	CHECK(select_group_root(&ft, SEL_PID, &web) == select_group_root(&ft, SEL_PID, &web));
	frametab_free(&ft);
}

/* Tallies: own on the innermost Python frame (native below it counts),
 * total once per sample however often a line recurs. */
static void test_tally(void)
{
	struct read_profile rp;

	read_profile_init(&rp);
	struct frametab *ft = &rp.labels;
	const char *mod = frametab_python(ft, "<module>", "/a/x.py", 30, 1);
	const char *f10 = frametab_python(ft, "f", "/a/x.py", 10, 9);
	const char *f11 = frametab_python(ft, "f", "/a/x.py", 11, 9);
	const char *g = frametab_python(ft, "C.g", "/a/y.py", 5, 4);
	const char *zlib = frametab_native(ft, "deflate", "/lib/libz.so.1", 0x10, "", false);
	const char *s1[] = { mod, f10, f10, f11 };  /* recursion through line 10 */
	const char *s2[] = { mod, f10, g, zlib };
	const char *s3[] = { zlib };

	CHECK_EQ_INT(profile_add(&rp.prof, s1, 4, 6), 0);
	CHECK_EQ_INT(profile_add(&rp.prof, s2, 4, 3), 0);
	CHECK_EQ_INT(profile_add(&rp.prof, s3, 1, 1), 0);
	rp.prof.total = 10;

	struct annotation a;

	CHECK_EQ_INT(annotation_build(&a, &rp), 0);
	CHECK_EQ_INT(a.total, 10);
	CHECK_EQ_INT(a.python, 9);
	size_t n, *pick = ann_pick_functions(&a, NULL, NULL, 0, &n);

	CHECK_EQ_INT(n, 3);
	/* equal totals: more own first */
	const struct ann_unit *f = &a.funcs.units[pick[0]], *top = &a.funcs.units[pick[1]];

	CHECK_STR(top->name, "<module>");
	CHECK_EQ_INT(top->total, 9);
	CHECK_STR(f->name, "f");
	CHECK_EQ_INT(f->total, 9);
	CHECK_EQ_INT(f->own, 6);
	CHECK_EQ_INT(f->nlines, 2);
	const struct ann_line *l = ann_unit_lines(&a.funcs, f);

	CHECK_EQ_INT(l[0].line, 10);
	CHECK_EQ_INT(l[0].total, 9); /* once per sample, recursion or not */
	CHECK_EQ_INT(l[0].own, 0);
	CHECK_EQ_INT(l[1].line, 11);
	CHECK_EQ_INT(l[1].own, 6);
	free(pick);
	pick = ann_pick_functions(&a, "g", NULL, 0, &n);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(a.funcs.units[pick[0]].own, 3); /* the C code below it */
	free(pick);
	pick = ann_pick_functions(&a, NULL, "x.py", 0, &n);
	CHECK_EQ_INT(n, 2);
	free(pick);
	pick = ann_pick_functions(&a, NULL, "a/x.py", 1, &n);
	CHECK_EQ_INT(n, 1);
	free(pick);
	pick = ann_pick_functions(&a, NULL, "/x.py", 0, &n);
	CHECK_EQ_INT(n, 0);
	free(pick);
	annotation_free(&a);
	read_profile_free(&rp);
}

static void test_sources(void)
{
	char dir[] = "/tmp/pyperf-ann-XXXXXX", p[64], q[512];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(p, sizeof(p), "%s/srv/app", dir);
	snprintf(q, sizeof(q), "mkdir -p %s && printf 'a\\r\\ndef run(x):\\n    y\\n' > %s/m.py && mkfifo %s/fifo", p, p, p);
	CHECK_EQ_INT(system(q), 0);

	struct ann_source src;
	struct ann_remap oldnew = { .old = "/srv/app", .new_root = p };
	struct ann_remap root = { .new_root = dir };
	struct ann_remap other = { .old = "/srv/ap", .new_root = p };

	CHECK_EQ_INT(ann_source_load(&src, "/srv/app/m.py", &oldnew, 1), 0);
	CHECK_EQ_INT(src.nlines, 3);
	CHECK_EQ_INT(src.line_len[0], 1); /* \r\n */
	CHECK(!strncmp(src.line[1], "def run(x):", 11));
	ann_source_free(&src);
	CHECK_EQ_INT(ann_source_load(&src, "/srv/app/m.py", &root, 1), 0);
	ann_source_free(&src);
	CHECK(ann_source_load(&src, "/srv/app/m.py", &other, 1) != 0); /* not at a '/' */
	snprintf(q, sizeof(q), "%s/fifo", p);
	CHECK_EQ_INT(ann_source_load(&src, q, NULL, 0), -EINVAL); /* opened without waiting, refused */
	CHECK(ann_source_load(&src, "<frozen os>", &root, 1) != 0);

	/* the def line found when the first line is unknown (folded) */
	CHECK_EQ_INT(ann_source_load(&src, "/srv/app/m.py", &oldnew, 1), 0);
	struct ann_line l = { .line = 3, .own = 1, .total = 1 };
	struct ann_unit u = { .name = "Job.run", .file = "/srv/app/m.py", .firstline = -1, .nlines = 1 };

	CHECK_EQ_INT(ann_function_start(&u, &l, &src), 2);
	u.name = "walk";
	CHECK_EQ_INT(ann_function_start(&u, &l, &src), 3);
	u.firstline = 1;
	CHECK_EQ_INT(ann_function_start(&u, &l, &src), 1);
	ann_source_free(&src);
	snprintf(q, sizeof(q), "rm -rf %s", dir);
	CHECK_EQ_INT(system(q), 0);
}

int main(void)
{
	test_times();
	test_filters();
	test_tally();
	test_sources();
	UNIT_DONE();
}
