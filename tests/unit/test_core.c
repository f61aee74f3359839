/* Unit tests of user/ building blocks: u64map, strtab, profile, outfile, elfsym. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/elfsym.h"
#include "output/outfile.h"
#include "output/profile.h"
#include "util/strtab.h"
#include "util/u64map.h"
#include "unit.h"

static void test_u64map(void)
{
	struct u64map m;

	u64map_init(&m);
	CHECK(u64map_get(&m, 1) == NULL);
	int bad = 0;

	for (uint64_t k = 0; k < 20000; k++)
		bad += u64map_put(&m, k * 7919, k) != 0;
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(m.len, 20000);

	for (uint64_t k = 0; k < 20000; k++) {
		uint64_t *v = u64map_get(&m, k * 7919);

		bad += !v || *v != k;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(u64map_get(&m, 3) == NULL);
	/* Delete every third key; the rest must stay reachable. */
	bad = 0;
	for (uint64_t k = 0; k < 20000; k += 3)
		bad += !u64map_del(&m, k * 7919);
	for (uint64_t k = 0; k < 20000; k++) {
		uint64_t *v = u64map_get(&m, k * 7919);

		bad += (k % 3 == 0) ? v != NULL : (!v || *v != k);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(!u64map_del(&m, 0));
	CHECK_EQ_INT(m.len, 20000 - 6667);
	for (uint64_t k = 0; k < 20000; k += 3)
		u64map_put(&m, k * 7919, k);
	u64map_put(&m, 0, 42); /* key 0 is an ordinary key */
	CHECK_EQ_INT(*u64map_get(&m, 0), 42);
	CHECK_EQ_INT(m.len, 20000);
	u64map_free(&m);
}

static void test_strtab(void)
{
	struct strtab t;
	char buf[32];

	strtab_init(&t);
	const char *a = strtab_intern(&t, "alpha");

	snprintf(buf, sizeof(buf), "al%s", "pha");
	CHECK(a != NULL);
	CHECK(strtab_intern(&t, buf) == a);
	CHECK(strtab_intern(&t, "beta") != a);
	CHECK_STR(strtab_intern(&t, ""), "");
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "s%d", i);
		strtab_intern(&t, buf);
	}
	CHECK_EQ_INT(t.count, 5003);
	CHECK(strtab_intern(&t, "alpha") == a);
	strtab_free(&t);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_profile_and_outfile(void)
{
	struct strtab t;
	struct profile p;
	struct outfile o;
	char dir[] = "/tmp/pyperf-unit-XXXXXX", path[128];

	strtab_init(&t);
	profile_init(&p);
	const char *mod = strtab_intern(&t, "<module> (app.py:3)");
	const char *f = strtab_intern(&t, "f (app.py:1)");
	const char *evil = strtab_intern(&t, "a;b\nc\\d (x.py:2)");
	const char *s1[] = { mod, f }, *s2[] = { mod, evil }, *s3[] = { mod };

	CHECK_EQ_INT(profile_add(&p, s1, 2, 5), 0);
	CHECK_EQ_INT(profile_add(&p, s2, 2, 1), 0);
	CHECK_EQ_INT(profile_add(&p, s1, 2, 2), 0);
	CHECK_EQ_INT(profile_add(&p, s3, 1, 1), 0);
	CHECK_EQ_INT(p.len, 3);
	CHECK_EQ_INT(p.total, 9);

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/out.folded", dir);
	CHECK_EQ_INT(outfile_check_writable(path), 0);
	CHECK_EQ_INT(outfile_open(&o, path), 0);
	CHECK(access(path, F_OK) != 0); /* nothing under the final name yet */
	CHECK_EQ_INT(profile_write_folded(&p, o.f), 0);
	CHECK_EQ_INT(outfile_commit(&o), 0);
	CHECK_STR(slurp(path),
		  "<module> (app.py:3) 1\n"
		  "<module> (app.py:3);a\\;b\\nc\\\\d (x.py:2) 1\n"
		  "<module> (app.py:3);f (app.py:1) 7\n");
	/* After sorting, merging still finds existing stacks. */
	CHECK_EQ_INT(profile_add(&p, s1, 2, 1), 0);
	CHECK_EQ_INT(p.len, 3);

	/* An aborted write leaves the old file and no temporary. */
	CHECK_EQ_INT(outfile_open(&o, path), 0);
	fputs("partial", o.f);
	outfile_abort(&o);
	CHECK(strstr(slurp(path), "partial") == NULL);
	unlink(path);
	CHECK_EQ_INT(rmdir(dir), 0); /* fails if a temporary was left */
	CHECK(outfile_check_writable("/nonexistent-dir/x.svg") == -ENOENT);
	profile_free(&p);
	strtab_free(&t);
}

static void test_elfsym_self(void)
{
	struct elf_file ef;
	static const char *const names[] = { "test_elfsym_self_marker", "no_such_symbol_xyz" };
	uint64_t vals[2];

	CHECK_EQ_INT(elf_file_open(&ef, "/proc/self/exe"), 0);
	CHECK_EQ_INT(elf_file_symbols(&ef, names, 2, vals, NULL), 1);
	CHECK(vals[0] != 0);
	CHECK(vals[1] == 0);
	/* The bias from our own mapping must turn the symbol into its address. */
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[4096], exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	uint64_t start = 0, off = UINT64_MAX, bias = 0;

	CHECK(maps != NULL && n > 0);
	exe[n > 0 ? n : 0] = '\0';
	while (maps && fgets(line, sizeof(line), maps)) {
		uint64_t s, e, o;

		if (strstr(line, exe) && sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64, &s, &e, &o) == 3 &&
		    o < off) {
			start = s;
			off = o;
		}
	}
	if (maps)
		fclose(maps);
	CHECK_EQ_INT(elf_file_bias(&ef, start, off, &bias), 0);
	extern void test_elfsym_self_marker(void);
	CHECK(vals[0] + bias == (uint64_t)(uintptr_t)&test_elfsym_self_marker);
	elf_file_close(&ef);
	CHECK_EQ_INT(elf_file_open(&ef, "/proc/self/maps"), -ENOEXEC);
	CHECK_EQ_INT(elf_file_open(&ef, "/nonexistent"), -ENOENT);
}

void test_elfsym_self_marker(void);
void test_elfsym_self_marker(void) {}

int main(void)
{
	test_u64map();
	test_strtab();
	test_profile_and_outfile();
	test_elfsym_self();
	UNIT_DONE();
}
