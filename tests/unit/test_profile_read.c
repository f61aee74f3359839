/* Profiles read back (output/profile_read.c, pprof_read.c, protobuf_read.c):
 * round trips through the writers (folded, pprof; CPU and off-CPU), labels'
 * parts, origins, directories of period files with bad files among them,
 * time ranges, and corrupt or truncated input at every length. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "output/archive.h"
#include "output/frametab.h"
#include "output/profile.h"
#include "output/profile_read.h"
#include "output/protobuf_read.h"
#include "output/writers.h"
#include "unit.h"

static char dir[64];

static void tmpdir_make(void)
{
	char tmpl[] = "/tmp/pyperf-read-XXXXXX";

	if (!mkdtemp(tmpl))
		abort();
	snprintf(dir, sizeof(dir), "%s/", tmpl);
}

static void tmpdir_clear(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static const char *path_of(const char *name)
{
	static char p[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s%s", dir, name);
	return p[k];
}

/* The profile every round trip starts from: Python frames on two lines of
 * one function, a native one with and one without a symbol, a kernel one,
 * pseudo-frames, record -a's root, a name needing folded escapes; with
 * origins when with_origins. */
struct sample_profile {
	struct frametab ft;
	struct profile p;
	struct sample_origin o1, o2;
};

static void sample_build(struct sample_profile *s, bool with_origins)
{
	frametab_init(&s->ft);
	profile_init(&s->p);
	s->o1 = (struct sample_origin){ .pid = 123, .tid = 124, .comm = "python3", .cmdline = "python3 app.py",
					.thread = "MainThread", .container = "" };
	s->o2 = (struct sample_origin){ .pid = 123, .tid = 130, .comm = "python3", .cmdline = "python3 app.py",
					.thread = "worker-1", .container = "abc123" };
	const char *root = frametab_pseudo(&s->ft, "process 123");
	const char *mod = frametab_python(&s->ft, "<module>", "/app/x.py", 30, 1);
	const char *main20 = frametab_python(&s->ft, "main", "/app/x.py", 20, 18);
	const char *main21 = frametab_python(&s->ft, "main", "/app/x.py", 21, 18);
	const char *work = frametab_python(&s->ft, "Work.run", "/usr/lib/python3.12/json/decoder.py", 353, 340);
	const char *odd = frametab_python(&s->ft, "odd;name\nx", "/app/we ird.py", 7, 1);
	const char *zlib = frametab_native(&s->ft, "deflate", "/usr/lib/x86_64-linux-gnu/libz.so.1", 0x4a10,
					   "0123abcd", false);
	const char *anon = frametab_native(&s->ft, NULL, "/opt/lib/libanon.so", 0x1234, "", false);
	const char *kern = frametab_native(&s->ft, "vfs_read", "", 0xffffffff81000000ull, "", true);
	const char *gc = frametab_pseudo(&s->ft, "[gc]");
	const char *s1[] = { root, mod, main20, work };
	const char *s2[] = { root, mod, main21, zlib, anon, kern };
	const char *s3[] = { root, mod, main20, gc };
	const char *s4[] = { root, odd };

	CHECK_EQ_INT(profile_add_origin(&s->p, s1, 4, 7, with_origins ? &s->o1 : NULL), 0);
	CHECK_EQ_INT(profile_add_origin(&s->p, s2, 6, 3, with_origins ? &s->o1 : NULL), 0);
	CHECK_EQ_INT(profile_add_origin(&s->p, s3, 4, 2, with_origins ? &s->o2 : NULL), 0);
	CHECK_EQ_INT(profile_add_origin(&s->p, s4, 2, 1, with_origins ? &s->o2 : NULL), 0);
	/* the same stack under the other origin stays apart in pprof */
	CHECK_EQ_INT(profile_add_origin(&s->p, s1, 4, 5, with_origins ? &s->o2 : NULL), 0);
}

static void sample_free(struct sample_profile *s)
{
	profile_free(&s->p);
	frametab_free(&s->ft);
}

/* One line per stack, "frame|frame|... =count [origin]", sorted, in one string. */
static char *canonical(const struct profile *p, bool with_origins)
{
	char **lines = calloc(p->len ? p->len : 1, sizeof(*lines));
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);

	for (size_t i = 0; i < p->len; i++) {
		const struct profile_stack *s = &p->stacks[i];
		char *l = NULL;
		size_t ll = 0;
		FILE *lf = open_memstream(&l, &ll);

		for (size_t j = 0; j < s->nframes; j++)
			fprintf(lf, "%s%s", j ? "|" : "", s->frames[j]);
		fprintf(lf, " =%llu", (unsigned long long)s->count);
		if (with_origins && s->origin)
			fprintf(lf, " [%u %u %s %s %s %s]", s->origin->pid, s->origin->tid, s->origin->comm,
				s->origin->cmdline, s->origin->thread, s->origin->container);
		fclose(lf);
		lines[i] = l;
	}
	/* insertion sort: a handful of lines */
	for (size_t i = 1; i < p->len; i++)
		for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			char *t = lines[j];
			lines[j] = lines[j - 1];
			lines[j - 1] = t;
		}
	for (size_t i = 0; i < p->len; i++) {
		fprintf(f, "%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	fclose(f);
	return out;
}

static void write_pprof_file(const char *path, const struct profile *p, const struct frametab *ft,
			     const struct profile_meta *m)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_EQ_INT(profile_write_pprof(p, ft, m, f), 0);
	fclose(f);
}

static void write_folded_file(const char *path, struct profile *p)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_EQ_INT(profile_write_folded(p, f), 0);
	fclose(f);
}

static void check_meta(const struct read_profile *rp, const char *label, enum frame_kind kind, const char *name,
		       const char *file, int line)
{
	/* find the interned label by text among the stacks */
	for (size_t i = 0; i < rp->prof.len; i++)
		for (size_t j = 0; j < rp->prof.stacks[i].nframes; j++) {
			const char *l = rp->prof.stacks[i].frames[j];

			if (strcmp(l, label) != 0)
				continue;
			const struct frame_meta *m = frametab_meta(&rp->labels, l);

			CHECK(m != NULL);
			if (!m)
				return;
			CHECK_EQ_INT(m->kind, kind);
			CHECK_STR(m->name, name);
			CHECK_STR(m->file, file);
			CHECK_EQ_INT(m->line, line);
			return;
		}
	fprintf(stderr, "label %s not found\n", label);
	CHECK(!"label found");
}

static void test_pprof_round_trip(void)
{
	struct sample_profile s;
	struct read_profile rp;
	char err[512] = "";
	struct profile_meta m = { .period_ns = 10101010, .start_unix_ns = 1796180645678000000ull,
				  .duration_ns = 3000000000ull, .name = "checkout" };

	sample_build(&s, true);
	write_pprof_file(path_of("a.pb.gz"), &s.p, &s.ft, &m);
	CHECK_EQ_INT(profile_read(&rp, path_of("a.pb.gz"), NULL, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "%s\n", err);
	char *want = canonical(&s.p, true), *got = canonical(&rp.prof, true);

	CHECK_STR(got, want);
	free(want);
	free(got);
	CHECK_EQ_INT(rp.prof.total, 18);
	CHECK_EQ_INT(rp.nfiles, 1);
	CHECK_EQ_INT(rp.files[0].format, FMT_PPROF);
	CHECK_EQ_INT(rp.files[0].start_unix_ns, 1796180645678000000ull);
	CHECK_EQ_INT(rp.files[0].duration_ns, 3000000000ull);
	CHECK_EQ_INT(rp.files[0].period_ns, 10101010);
	CHECK_EQ_INT(rp.files[0].samples, 18);
	CHECK(rp.files[0].value_type == NULL);
	CHECK_STR(rp.files[0].title, "checkout");
	CHECK_EQ_INT(read_profile_duration_ns(&rp), 3000000000ull);
	CHECK_EQ_INT(read_profile_time_ns(&rp), 18 * 10101010ull);
	CHECK(read_profile_file(&rp, &rp.prof.stacks[0]) == &rp.files[0]);
	check_meta(&rp, "main (/app/x.py:21)", FRAME_PYTHON, "main", "/app/x.py", 21);
	check_meta(&rp, "deflate (libz.so.1)", FRAME_NATIVE, "deflate", "/usr/lib/x86_64-linux-gnu/libz.so.1", -1);
	check_meta(&rp, "libanon.so+0x1234", FRAME_NATIVE, "libanon.so+0x1234", "/opt/lib/libanon.so", -1);
	check_meta(&rp, "vfs_read [kernel]", FRAME_KERNEL, "vfs_read", "", -1);
	check_meta(&rp, "[gc]", FRAME_PSEUDO, "[gc]", "", -1);
	for (size_t i = 0; i < rp.prof.len; i++)
		for (size_t j = 0; j < rp.prof.stacks[i].nframes; j++)
			if (!strcmp(rp.prof.stacks[i].frames[j], "Work.run (/usr/lib/python3.12/json/decoder.py:353)"))
				CHECK_EQ_INT(frametab_meta(&rp.labels, rp.prof.stacks[i].frames[j])->firstline, 340);
	read_profile_free(&rp);

	/* merge_files: origins without a source */
	struct read_opts o = { .merge_files = true };

	CHECK_EQ_INT(profile_read(&rp, path_of("a.pb.gz"), &o, err, sizeof(err)), 0);
	CHECK(rp.prof.len > 0 && rp.prof.stacks[0].origin && rp.prof.stacks[0].origin->source == 0);
	CHECK(read_profile_file(&rp, &rp.prof.stacks[0]) == NULL);
	read_profile_free(&rp);
	sample_free(&s);
}

static void test_folded_round_trip(void)
{
	struct sample_profile s;
	struct read_profile rp;
	char err[512] = "";

	sample_build(&s, false);
	write_folded_file(path_of("a.folded"), &s.p);
	CHECK_EQ_INT(profile_read(&rp, path_of("a.folded"), NULL, err, sizeof(err)), 0);
	char *want = canonical(&s.p, false), *got = canonical(&rp.prof, false);

	CHECK_STR(got, want);
	free(want);
	free(got);
	CHECK_EQ_INT(rp.files[0].format, FMT_FOLDED);
	CHECK_EQ_INT(rp.files[0].duration_ns, 0);
	CHECK_EQ_INT(rp.files[0].period_ns, 0);
	CHECK_EQ_INT(read_profile_duration_ns(&rp), 0);
	check_meta(&rp, "main (/app/x.py:21)", FRAME_PYTHON, "main", "/app/x.py", 21);
	check_meta(&rp, "odd;name\nx (/app/we ird.py:7)", FRAME_PYTHON, "odd;name\nx", "/app/we ird.py", 7);
	check_meta(&rp, "Work.run (/usr/lib/python3.12/json/decoder.py:353)", FRAME_PYTHON, "Work.run",
		   "/usr/lib/python3.12/json/decoder.py", 353);
	check_meta(&rp, "deflate (libz.so.1)", FRAME_NATIVE, "deflate", "libz.so.1", -1);
	check_meta(&rp, "libanon.so+0x1234", FRAME_NATIVE, "libanon.so+0x1234", "libanon.so", -1);
	check_meta(&rp, "vfs_read [kernel]", FRAME_KERNEL, "vfs_read", "", -1);
	check_meta(&rp, "[gc]", FRAME_PSEUDO, "[gc]", "", -1);
	check_meta(&rp, "process 123", FRAME_PSEUDO, "process 123", "", -1);
	/* record -a's root gives the pid */
	CHECK(rp.prof.len && rp.prof.stacks[0].origin->pid == 123);
	for (size_t i = 0; i < rp.prof.len; i++)
		for (size_t j = 0; j < rp.prof.stacks[i].nframes; j++)
			if (!strcmp(rp.prof.stacks[i].frames[j], "libanon.so+0x1234"))
				CHECK_EQ_INT(frametab_meta(&rp.labels, rp.prof.stacks[i].frames[j])->address, 0x1234);
	read_profile_free(&rp);
	sample_free(&s);

	/* Other tools' folded lines; --threads roots; a line of garbage */
	FILE *f = fopen(path_of("other.txt"), "w");

	fputs("thread MainThread (77);main;do_work 5\n"
	      "perf`main;libc.so.6`malloc 3\n"
	      "not a stack line\n"
	      "process 9;thread worker (1) x (12);f (a.py:?) 2\n", f);
	fclose(f);
	CHECK_EQ_INT(profile_read(&rp, path_of("other.txt"), NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(rp.prof.total, 10);
	check_meta(&rp, "perf`main", FRAME_PSEUDO, "perf`main", "", -1);
	check_meta(&rp, "f (a.py:?)", FRAME_PYTHON, "f", "a.py", -1);
	for (size_t i = 0; i < rp.prof.len; i++) {
		const struct profile_stack *st = &rp.prof.stacks[i];

		if (st->count == 5) {
			CHECK_EQ_INT(st->origin->tid, 77);
			CHECK_STR(st->origin->thread, "MainThread");
			CHECK_EQ_INT(st->origin->pid, 0);
		} else if (st->count == 2) {
			CHECK_EQ_INT(st->origin->pid, 9);
			CHECK_EQ_INT(st->origin->tid, 12);
			CHECK_STR(st->origin->thread, "worker (1) x");
		}
	}
	read_profile_free(&rp);
}

/* off-CPU: values are microseconds in folded, ns in pprof (period 1000):
 * both read back to the same counts. */
static void test_offcpu_round_trip(void)
{
	struct sample_profile s;
	struct read_profile a, b;
	char err[512] = "";
	struct profile_meta m = { .period_ns = 1000, .value_type = "off_cpu", .duration_ns = 5000000000ull };

	sample_build(&s, false);
	write_pprof_file(path_of("off.pb.gz"), &s.p, &s.ft, &m);
	write_folded_file(path_of("off.folded"), &s.p);
	CHECK_EQ_INT(profile_read(&a, path_of("off.pb.gz"), NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(profile_read(&b, path_of("off.folded"), NULL, err, sizeof(err)), 0);
	char *ca = canonical(&a.prof, false), *cb = canonical(&b.prof, false);

	CHECK_STR(ca, cb);
	CHECK_STR(a.value_type, "off_cpu");
	CHECK_EQ_INT(a.files[0].period_ns, 1000);
	CHECK_EQ_INT(read_profile_time_ns(&a), 18000);
	free(ca);
	free(cb);
	read_profile_free(&a);
	read_profile_free(&b);
	sample_free(&s);
}

static void put_bytes(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		abort();
	if (n)
		fwrite(data, 1, n, f);
	fclose(f);
}

static uint8_t *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(1 << 20);

	*n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* A directory of period files: pprof and folded, one truncated, one
 * garbage, one of another kind, files that are no period files. */
static void test_directory(void)
{
	struct sample_profile s;
	struct read_profile rp;
	char err[512] = "", name[PATH_MAX], sub[PATH_MAX];
	uint64_t t0 = 1796180645000000000ull; /* 2026-12-02 03:04:05 UTC */

	snprintf(sub, sizeof(sub), "%speriods/", dir);
	CHECK_EQ_INT(mkdir(sub, 0755), 0);
	sample_build(&s, true);
	for (int i = 0; i < 3; i++) {
		struct profile_meta m = { .period_ns = 10000000, .start_unix_ns = t0 + i * 60000000000ull,
					  .duration_ns = 60000000000ull };

		archive_period_path(name, sizeof(name), sub, m.start_unix_ns, ".pb.gz");
		write_pprof_file(name, &s.p, &s.ft, &m);
	}
	archive_period_path(name, sizeof(name), sub, t0 + 3 * 60000000000ull, ".folded");
	write_folded_file(name, &s.p);
	/* truncated (being written when read), and garbage */
	size_t n;
	archive_period_path(name, sizeof(name), sub, t0, ".pb.gz");
	uint8_t *whole = read_all(name, &n);

	archive_period_path(name, sizeof(name), sub, t0 + 4 * 60000000000ull, ".pb.gz");
	put_bytes(name, whole, n / 2);
	archive_period_path(name, sizeof(name), sub, t0 + 5 * 60000000000ull, ".pb.gz");
	put_bytes(name, "\x1f\x8bnot really gzip", 17);
	free(whole);
	snprintf(name, sizeof(name), "%.4000snotes.txt", sub);
	put_bytes(name, "x 1\n", 4);

	CHECK_EQ_INT(profile_read(&rp, sub, &(struct read_opts){ .who = "test" }, err, sizeof(err)), 0);
	CHECK_EQ_INT(rp.nfiles, 4);
	CHECK_EQ_INT(rp.skipped, 2);
	CHECK_EQ_INT(rp.prof.total, 4 * 18);
	CHECK_EQ_INT(rp.files[0].start_unix_ns, t0);
	CHECK_EQ_INT(rp.files[1].start_unix_ns, t0 + 60000000000ull);
	CHECK_EQ_INT(rp.files[3].start_unix_ns, t0 + 3 * 60000000000ull); /* folded: from its name */
	CHECK_EQ_INT(rp.files[3].format, FMT_FOLDED);
	/* each file's stacks apart: its origins say which */
	uint64_t per_file[5] = { 0 };

	for (size_t i = 0; i < rp.prof.len; i++) {
		const struct read_file *f = read_profile_file(&rp, &rp.prof.stacks[i]);

		CHECK(f != NULL);
		if (f)
			per_file[f - rp.files] += rp.prof.stacks[i].count;
	}
	CHECK(per_file[0] == 18 && per_file[1] == 18 && per_file[2] == 18 && per_file[3] == 18);
	read_profile_free(&rp);

	/* time range: the second and third minute only; merged */
	struct read_opts o = { .since_unix_ns = t0 + 60000000000ull, .until_unix_ns = t0 + 3 * 60000000000ull,
			       .merge_files = true, .who = "test" };

	CHECK_EQ_INT(profile_read(&rp, sub, &o, err, sizeof(err)), 0);
	CHECK_EQ_INT(rp.nfiles, 2);
	CHECK_EQ_INT(rp.prof.total, 2 * 18);
	CHECK_EQ_INT(rp.prof.len, s.p.len); /* merged across files */
	CHECK_EQ_INT(read_profile_duration_ns(&rp), 120000000000ull);
	read_profile_free(&rp);

	o.since_unix_ns = t0 + 100 * 60000000000ull;
	o.until_unix_ns = 0;
	CHECK(profile_read(&rp, sub, &o, err, sizeof(err)) < 0);
	CHECK(strstr(err, "time range") != NULL);
	read_profile_free(&rp);

	/* another kind among them: an error, not a mix */
	struct profile_meta off = { .period_ns = 1000, .value_type = "wall", .start_unix_ns = t0 + 9 * 60000000000ull };

	archive_period_path(name, sizeof(name), sub, off.start_unix_ns, ".pb.gz");
	write_pprof_file(name, &s.p, &s.ft, &off);
	CHECK(profile_read(&rp, sub, &(struct read_opts){ .who = "test" }, err, sizeof(err)) < 0);
	CHECK(strstr(err, "do not mix") != NULL);
	read_profile_free(&rp);

	/* empty directory */
	snprintf(name, sizeof(name), "%sempty", dir);
	CHECK_EQ_INT(mkdir(name, 0755), 0);
	CHECK_EQ_INT(profile_read(&rp, name, NULL, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "no period files") != NULL);
	read_profile_free(&rp);
	sample_free(&s);
}

static void test_errors(void)
{
	struct read_profile rp;
	char err[512];

	put_bytes(path_of("x.svg"), "<?xml version=\"1.0\"?>\n<svg></svg>\n", 34);
	CHECK_EQ_INT(profile_read(&rp, path_of("x.svg"), NULL, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "SVG") != NULL);
	read_profile_free(&rp);
	put_bytes(path_of("x.json"), "{\"$schema\": 1}", 14);
	CHECK_EQ_INT(profile_read(&rp, path_of("x.json"), NULL, err, sizeof(err)), -EINVAL);
	read_profile_free(&rp);
	put_bytes(path_of("x.folded"), "no count here\n", 14);
	CHECK_EQ_INT(profile_read(&rp, path_of("x.folded"), NULL, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not folded stacks") != NULL);
	read_profile_free(&rp);
	CHECK_EQ_INT(profile_read(&rp, path_of("missing.pb.gz"), NULL, err, sizeof(err)), -ENOENT);
	read_profile_free(&rp);
	put_bytes(path_of("empty.pb.gz"), "", 0);
	CHECK_EQ_INT(profile_read(&rp, path_of("empty.pb.gz"), NULL, err, sizeof(err)), -EBADMSG);
	read_profile_free(&rp);
	/* counts past 2^62 */
	put_bytes(path_of("big.folded"), "a 4611686018427387904\nb 4611686018427387904\n", 44);
	CHECK_EQ_INT(profile_read(&rp, path_of("big.folded"), NULL, err, sizeof(err)), -EOVERFLOW);
	read_profile_free(&rp);
}

/* Every prefix of a gzip file, and of the protobuf inside it, is refused
 * with an error (or, for protobuf prefixes that end between fields, read);
 * never a crash (ASan). */
static void test_truncated(void)
{
	struct sample_profile s;
	struct profile_meta m = { .period_ns = 10000000, .duration_ns = 1000000000 };
	struct read_profile rp;
	char err[512];
	size_t n;

	sample_build(&s, true);
	write_pprof_file(path_of("t.pb.gz"), &s.p, &s.ft, &m);
	uint8_t *gz = read_all(path_of("t.pb.gz"), &n);

	for (size_t k = 0; k < n; k++) {
		put_bytes(path_of("cut.pb.gz"), gz, k);
		int rc = profile_read(&rp, path_of("cut.pb.gz"), NULL, err, sizeof(err));

		CHECK(rc < 0);
		read_profile_free(&rp);
	}
	/* the protobuf itself */
	uint8_t *pb = malloc(1 << 20);
	z_stream zs = { 0 };

	inflateInit2(&zs, 15 + 16);
	zs.next_in = gz;
	zs.avail_in = (uInt)n;
	zs.next_out = pb;
	zs.avail_out = 1 << 20;
	CHECK_EQ_INT(inflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t pn = zs.total_out;

	inflateEnd(&zs);
	size_t ok = 0;

	for (size_t k = 0; k <= pn; k++) {
		struct read_profile one = { 0 };
		struct read_file f = { 0 };

		profile_init(&one.prof);
		frametab_init(&one.labels);
		uint8_t *copy = malloc(k ? k : 1); /* exact size: ASan sees reads past it */

		memcpy(copy, pb, k);
		if (read_pprof(&one, &f, copy, k, 1, err, sizeof(err)) == 0)
			ok++;
		free(copy);
		read_profile_free(&one);
	}
	CHECK(ok >= 1); /* the whole one */
	/* single bytes changed: errors or other profiles, no crash */
	for (size_t k = 0; k < pn; k++) {
		struct read_profile one = { 0 };
		struct read_file f = { 0 };

		profile_init(&one.prof);
		frametab_init(&one.labels);
		pb[k] ^= 0x5a;
		read_pprof(&one, &f, pb, pn, 1, err, sizeof(err));
		pb[k] ^= 0x5a;
		read_profile_free(&one);
	}
	free(pb);
	free(gz);
	sample_free(&s);
}

static void test_decoder(void)
{
	/* field 1 varint 150, field 2 "hi", field 3 packed [1, 300], field 4 fixed64, field 5 fixed32 */
	static const uint8_t msg[] = { 0x08, 0x96, 0x01, 0x12, 0x02, 'h', 'i', 0x1a, 0x03, 0x01, 0xac, 0x02,
				       0x21, 1, 0, 0, 0, 0, 0, 0, 0x80, 0x2d, 2, 0, 0, 0 };
	struct pb_reader r = pb_reader_of(msg, sizeof(msg));
	struct pb_field f;
	struct pb_varints it;
	uint64_t v;

	CHECK_EQ_INT(pb_next(&r, &f), 1);
	CHECK(f.field == 1 && f.wire == PB_VARINT && f.value == 150);
	pb_varints_init(&it, &f);
	CHECK(pb_varints_next(&it, &v) == 1 && v == 150);
	CHECK_EQ_INT(pb_varints_next(&it, &v), 0);
	CHECK_EQ_INT(pb_next(&r, &f), 1);
	CHECK(f.field == 2 && f.wire == PB_LEN && f.len == 2 && memcmp(f.data, "hi", 2) == 0);
	CHECK_EQ_INT(pb_next(&r, &f), 1);
	pb_varints_init(&it, &f);
	CHECK(pb_varints_next(&it, &v) == 1 && v == 1);
	CHECK(pb_varints_next(&it, &v) == 1 && v == 300);
	CHECK_EQ_INT(pb_varints_next(&it, &v), 0);
	CHECK_EQ_INT(pb_next(&r, &f), 1);
	CHECK(f.wire == PB_I64 && f.value == 0x8000000000000001ull);
	CHECK_EQ_INT(pb_next(&r, &f), 1);
	CHECK(f.wire == PB_I32 && f.value == 2);
	CHECK_EQ_INT(pb_next(&r, &f), 0);

	/* an 11-byte varint, a group, field 0, a length past the end */
	static const uint8_t bad1[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t bad2[] = { 0x0b, 0x0c };
	static const uint8_t bad3[] = { 0x00, 0x01 };
	static const uint8_t bad4[] = { 0x12, 0x05, 'a' };
	static const uint8_t max[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t over[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };

	r = pb_reader_of(bad1, sizeof(bad1));
	CHECK_EQ_INT(pb_next(&r, &f), -EBADMSG);
	CHECK_EQ_INT(pb_next(&r, &f), 0); /* stays at the end */
	r = pb_reader_of(bad2, sizeof(bad2));
	CHECK_EQ_INT(pb_next(&r, &f), -EBADMSG);
	r = pb_reader_of(bad3, sizeof(bad3));
	CHECK_EQ_INT(pb_next(&r, &f), -EBADMSG);
	r = pb_reader_of(bad4, sizeof(bad4));
	CHECK_EQ_INT(pb_next(&r, &f), -EBADMSG);
	r = pb_reader_of(max, sizeof(max));
	CHECK(pb_next(&r, &f) == 1 && f.value == UINT64_MAX);
	r = pb_reader_of(over, sizeof(over));
	CHECK_EQ_INT(pb_next(&r, &f), -EBADMSG);
}

/* Profiles read one by one and merged: files keep their own stacks, or
 * merge; an off-CPU profile does not mix with CPU samples. */
static void test_merge(void)
{
	struct sample_profile s;
	struct read_profile all, one;
	char err[512] = "";
	struct profile_meta m = { .period_ns = 10000000, .start_unix_ns = 1796180645678000000ull,
				  .duration_ns = 1000000000ull };
	struct profile_meta off = { .period_ns = 1000, .value_type = "off_cpu" };

	sample_build(&s, true);
	write_pprof_file(path_of("m1.pb.gz"), &s.p, &s.ft, &m);
	write_folded_file(path_of("m2.folded"), &s.p);
	write_pprof_file(path_of("m3.pb.gz"), &s.p, &s.ft, &off);
	for (int merge = 0; merge < 2; merge++) {
		read_profile_init(&all);
		const char *names[] = { "m1.pb.gz", "m2.folded" };

		for (int i = 0; i < 2; i++) {
			CHECK_EQ_INT(profile_read(&one, path_of(names[i]), NULL, err, sizeof(err)), 0);
			CHECK_EQ_INT(read_profile_merge(&all, &one, merge, err, sizeof(err)), 0);
			read_profile_free(&one);
		}
		CHECK_EQ_INT(all.nfiles, 2);
		CHECK_EQ_INT(all.prof.total, 36);
		CHECK_STR(all.files[1].path, path_of("m2.folded"));
		CHECK_EQ_INT(all.files[0].period_ns, 10000000);
		size_t from[3] = { 0 };

		for (size_t i = 0; i < all.prof.len; i++) {
			uint32_t src = all.prof.stacks[i].origin->source;

			CHECK(src <= 2);
			if (src <= 2)
				from[src] += all.prof.stacks[i].count;
		}
		if (merge)
			CHECK(from[0] == 36);
		else
			CHECK(from[1] == 18 && from[2] == 18);
		check_meta(&all, "main (/app/x.py:21)", FRAME_PYTHON, "main", "/app/x.py", 21);
		CHECK_EQ_INT(profile_read(&one, path_of("m3.pb.gz"), NULL, err, sizeof(err)), 0);
		CHECK_EQ_INT(read_profile_merge(&all, &one, merge, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "do not mix") != NULL);
		read_profile_free(&one);
		read_profile_free(&all);
	}
	sample_free(&s);
}

/* A sample message appended to a protobuf at buf[*n]: location ids (nids
 * bytes of varints), and the values of pyperf's two CPU sample types. */
static void append_sample(uint8_t *buf, size_t *n, const uint8_t *ids, size_t nids, uint8_t count)
{
	/* count below 128: one byte; cpu ns 1 as the second value */
	buf[(*n)++] = 0x12; /* field 2 (sample), length-delimited */
	buf[(*n)++] = (uint8_t)(2 + nids + 4);
	buf[(*n)++] = 0x0a; /* location_id, packed */
	buf[(*n)++] = (uint8_t)nids;
	memcpy(buf + *n, ids, nids);
	*n += nids;
	buf[(*n)++] = 0x12; /* value, packed */
	buf[(*n)++] = 2;
	buf[(*n)++] = count;
	buf[(*n)++] = 1;
}

/* A file of a directory found bad after many of its samples were added
 * (decoded straight into the directory's profile) is taken back whole:
 * counts added to stacks of earlier files and its own new stacks. Also a
 * file found outside the time range only once read. */
static void test_directory_rollback(void)
{
	struct frametab ft;
	struct profile p;
	struct read_profile rp;
	struct sample_origin o = { .pid = 7, .tid = 8, .comm = "app", .cmdline = "app", .thread = "main",
				   .container = "" };
	char err[512] = "", name[PATH_MAX], sub[PATH_MAX];
	uint64_t t0 = 1796180645000000000ull, minute = 60000000000ull;
	const char *fr[3];

	snprintf(sub, sizeof(sub), "%srollback/", dir);
	CHECK_EQ_INT(mkdir(sub, 0755), 0);
	frametab_init(&ft);
	profile_init(&p);
	/* more stacks than the reader adds in one batch */
	fr[0] = frametab_python(&ft, "main", "/app/m.py", 1, 1);
	for (int i = 0; i < 700; i++) {
		char fn[32];

		snprintf(fn, sizeof(fn), "f%d", i);
		fr[1] = frametab_python(&ft, fn, "/app/m.py", 10 + i % 7, 10);
		fr[2] = frametab_python(&ft, "leaf", "/app/l.py", 1 + i % 13, 1);
		CHECK_EQ_INT(profile_add_origin(&p, fr, 3, 1 + (uint64_t)i % 5, &o), 0);
	}
	struct profile_meta m = { .period_ns = 1, .duration_ns = minute };

	for (int i = 0; i < 2; i++) {
		m.start_unix_ns = t0 + (uint64_t)i * minute;
		archive_period_path(name, sizeof(name), sub, m.start_unix_ns, ".pb.gz");
		write_pprof_file(name, &p, &ft, &m);
	}
	/* the third minute: the same, then a stack of its own, then a sample
	 * naming a location that is not in it (uncompressed: read as is) */
	size_t n, pn;
	uint8_t *gz = read_all(name, &n), *pb = malloc(1 << 21);
	z_stream zs = { 0 };

	inflateInit2(&zs, 15 + 16);
	zs.next_in = gz;
	zs.avail_in = (uInt)n;
	zs.next_out = pb;
	zs.avail_out = 1 << 20;
	CHECK_EQ_INT(inflate(&zs, Z_FINISH), Z_STREAM_END);
	pn = zs.total_out;
	inflateEnd(&zs);
	append_sample(pb, &pn, (const uint8_t[]){ 1 }, 1, 9);
	append_sample(pb, &pn, (const uint8_t[]){ 1, 0xff, 0x7f }, 3, 3); /* 1, 16383 */
	archive_period_path(name, sizeof(name), sub, t0 + 2 * minute, ".pb.gz");
	put_bytes(name, pb, pn);
	/* the fourth: good, but its data says it ended before --since */
	m.start_unix_ns = t0 + 3 * minute;
	m.duration_ns = 1000000000ull;
	archive_period_path(name, sizeof(name), sub, m.start_unix_ns, ".pb.gz");
	write_pprof_file(name, &p, &ft, &m);
	/* the fifth: the same as the first two */
	m.start_unix_ns = t0 + 4 * minute;
	m.duration_ns = minute;
	archive_period_path(name, sizeof(name), sub, m.start_unix_ns, ".pb.gz");
	write_pprof_file(name, &p, &ft, &m);

	for (int merge = 0; merge < 2; merge++) {
		struct read_opts ro = { .since_unix_ns = t0 + 3 * minute + 2000000000ull, .merge_files = merge,
					.who = "test" };
		uint64_t want = 0;

		/* the whole directory but the fourth minute's file */
		ro.since_unix_ns = 0;
		CHECK_EQ_INT(profile_read(&rp, sub, &ro, err, sizeof(err)), 0);
		CHECK_EQ_INT(rp.nfiles, 4);
		CHECK_EQ_INT(rp.skipped, 1);
		CHECK_EQ_INT(rp.prof.total, 4 * p.total);
		CHECK_EQ_INT(rp.prof.len, merge ? p.len : 4 * p.len);
		read_profile_free(&rp);
		/* the fourth file is read whole, then found out of the range */
		ro.since_unix_ns = t0 + 3 * minute + 2000000000ull;
		CHECK_EQ_INT(profile_read(&rp, sub, &ro, err, sizeof(err)), 0);
		CHECK_EQ_INT(rp.nfiles, 1);
		CHECK_EQ_INT(rp.prof.total, p.total);
		CHECK_EQ_INT(rp.prof.len, p.len);
		for (size_t i = 0; i < rp.prof.len; i++)
			want += rp.prof.stacks[i].count;
		CHECK_EQ_INT(want, p.total);
		read_profile_free(&rp);
	}
	free(gz);
	free(pb);
	profile_free(&p);
	frametab_free(&ft);
}

int main(void)
{
	tmpdir_make();
	test_decoder();
	test_pprof_round_trip();
	test_folded_round_trip();
	test_offcpu_round_trip();
	test_directory();
	test_directory_rollback();
	test_merge();
	test_errors();
	test_truncated();
	tmpdir_clear();
	UNIT_DONE();
}
