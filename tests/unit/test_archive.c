/*
 * Unit tests for output/archive.c (period file names and pruning) and
 * output/formats.c (format names and suffixes).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/archive.h"
#include "output/formats.h"
#include "unit.h"

static void test_formats(void)
{
	CHECK_EQ_INT(format_by_name("svg"), FMT_SVG);
	CHECK_EQ_INT(format_by_name("pprof"), FMT_PPROF);
	CHECK_EQ_INT(format_by_name("PPROF"), FMT_AUTO);
	CHECK_EQ_INT(format_by_name(""), FMT_AUTO);
	CHECK_EQ_INT(format_from_path("a/b.pb.gz"), FMT_PPROF);
	CHECK_EQ_INT(format_from_path("x.txt"), FMT_FOLDED);
	CHECK_EQ_INT(format_from_path("x.speedscope.json"), FMT_SPEEDSCOPE);
	CHECK_EQ_INT(format_from_path("x.gz"), FMT_AUTO);
	CHECK_EQ_INT(format_from_path(""), FMT_AUTO);
	CHECK_STR(format_suffix(FMT_FOLDED), ".folded");
	CHECK_STR(format_suffix(FMT_AUTO), ".svg");
}

static void test_period_names(void)
{
	char path[PATH_MAX];

	/* 2026-12-02 03:04:05.678 UTC */
	archive_period_path(path, sizeof(path), "/d/", 1796180645678000000ull, ".pb.gz");
	CHECK_STR(path, "/d/pyperf-20261202T030405.678Z.pb.gz");
	CHECK(archive_is_period_file(path + 3, ".pb.gz"));
	CHECK(!archive_is_period_file(path + 3, ".svg"));
	CHECK(!archive_is_period_file("pyperf-20261202T030405.678Z.pb.gz.tmp", ".pb.gz"));
	CHECK(!archive_is_period_file("other-20261202T030405.678Z.pb.gz", ".pb.gz"));
	CHECK(!archive_is_period_file("pyperf-.pb.gz", ".pb.gz"));
}

static void put(const char *dir, const char *name, size_t size)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	fclose(f);
}

static int exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s", dir, name);
	return access(path, F_OK) == 0;
}

static void remove_file(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s", dir, name);
	unlink(path);
}

static void test_prune(void)
{
	char tmpl[] = "/tmp/pyperf-archive-XXXXXX", dir[64];
	const char *names[] = { "pyperf-20261202T030000.000Z.folded", "pyperf-20261202T030100.000Z.folded",
				"pyperf-20261202T030200.000Z.folded", "pyperf-20261202T030300.000Z.folded" };

	if (!mkdtemp(tmpl)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/", tmpl);
	for (int i = 0; i < 4; i++)
		put(dir, names[i], 100);
	put(dir, "notes.txt", 10);                               /* not a period file */
	put(dir, "pyperf-20261202T025900.000Z.svg", 10);         /* another format's */

	CHECK_EQ_INT(archive_prune(dir, ".folded", 0, 0), 0);    /* no limit */
	CHECK_EQ_INT(archive_prune(dir, ".folded", 3, 0), 1);    /* the oldest goes */
	CHECK(!exists(dir, names[0]));
	CHECK(exists(dir, names[1]) && exists(dir, names[3]));
	CHECK_EQ_INT(archive_prune(dir, ".folded", 0, 250), 1);  /* 300 bytes > 250 */
	CHECK(!exists(dir, names[1]));
	CHECK(exists(dir, names[2]) && exists(dir, names[3]));
	CHECK_EQ_INT(archive_prune(dir, ".folded", 5, 50), 2);   /* newest alone is over: all go */
	CHECK(exists(dir, "notes.txt"));
	CHECK(exists(dir, "pyperf-20261202T025900.000Z.svg"));
	CHECK_EQ_INT(archive_prune("/nonexistent-dir/", ".folded", 1, 0), 0);

	remove_file(dir, "notes.txt");
	remove_file(dir, "pyperf-20261202T025900.000Z.svg");
	CHECK_EQ_INT(rmdir(tmpl), 0);
}

int main(void)
{
	test_formats();
	test_period_names();
	test_prune();
	UNIT_DONE();
}
