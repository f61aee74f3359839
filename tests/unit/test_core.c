/* Unit tests of user/ building blocks: u64map, strtab, profile, outfile, elfsym,
 * the interpreter lookup (pylocate), ELF build ids (elfid). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <elf.h>

#include "layouts.h"
#include "target/elfid.h"
#include "target/elfsym.h"
#include "target/memsrc.h"
#include "target/pylocate.h"
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

/* A FIFO or a device a core names is not opened: opening a FIFO blocks
 * until a writer comes, opening a device runs its driver. */
static void test_elfsym_not_regular(void)
{
	char dir[] = "/tmp/pyperf-unit-XXXXXX", fifo[64];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	CHECK_EQ_INT(mkfifo(fifo, 0600), 0);
	pid_t child = fork();

	if (child == 0) {
		struct elf_file ef;

		alarm(5); /* the old open() blocked here */
		_exit(elf_file_open(&ef, fifo) == -EINVAL ? 0 : 1);
	}
	int status = -1;

	CHECK(child > 0 && waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ_INT(open_regular_file(fifo), -EINVAL);
	CHECK_EQ_INT(open_regular_file("/dev/null"), -EINVAL);
	CHECK_EQ_INT(open_regular_file("/nonexistent"), -ENOENT);
	int fd = open_regular_file("/proc/self/exe");

	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	unlink(fifo);
	rmdir(dir);
}

/* An interpreter of our own for the lookup to find: the symbols pylocate
 * looks for, in this test binary. */
uint64_t Py_Version;
unsigned char _PyRuntime[8192];

/* Where this executable is mapped (its lowest file offset). */
static void self_mapping(uint64_t *start, uint64_t *offset, char *exe, size_t len)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[4096];
	ssize_t n = readlink("/proc/self/exe", exe, len - 1);

	exe[n > 0 ? n : 0] = '\0';
	*offset = UINT64_MAX;
	while (maps && fgets(line, sizeof(line), maps)) {
		uint64_t s, e, o;

		if (strstr(line, exe) && sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64, &s, &e, &o) == 3 &&
		    o < *offset) {
			*start = s;
			*offset = o;
		}
	}
	if (maps)
		fclose(maps);
}

static enum pyloc_status locate_self(const char *path, bool executable, struct py_target *t,
				     struct pyloc_result *res)
{
	struct pyloc_files files = { 0 };
	struct memsrc m = memsrc_pid(getpid());
	uint64_t start = 0, offset = 0;
	char exe[4096];

	self_mapping(&start, &offset, exe, sizeof(exe));
	/* Never opened: ranked last and tried after; a system library never. */
	CHECK_EQ_INT(pyloc_files_add(&files, "/usr/lib/libc.so.6", "/proc/self/exe", start, offset, true), 0);
	CHECK_EQ_INT(pyloc_files_add(&files, "/opt/app/libplugin.so", "/nonexistent", 0x1000, 0, false), 0);
	CHECK_EQ_INT(pyloc_files_add(&files, path, "/proc/self/exe", start + 0x10000, offset + 0x10000, false), 0);
	CHECK_EQ_INT(pyloc_files_add(&files, path, "/proc/self/exe", start, offset, executable), 0);
	CHECK_EQ_INT(files.n, 3);
	memset(t, 0, sizeof(*t));
	enum pyloc_status st = pylocate(&m, &files, t, res);

	if (st != PYLOC_NOT_FOUND) {
		CHECK(res->file != NULL && strcmp(res->file->path, path) == 0);
		CHECK(res->file != NULL && res->file->start == start && res->file->offset == offset);
	}
	pyloc_files_free(&files);
	return st;
}

static void test_pylocate(void)
{
	struct py_target t;
	struct pyloc_result res;
	bool exact;
	const struct py_layout *l312 = py_layout_find(0x030c01f0, &exact);

	CHECK(l312 != NULL);
	if (!l312)
		return;
	Py_Version = 0x030c01f0;
	memset(_PyRuntime, 0, sizeof(_PyRuntime));
	CHECK_EQ_INT(locate_self("/usr/lib/libpython3.12.so.1.0", false, &t, &res), PYLOC_NOT_INITIALIZED);
	CHECK_STR(res.version, "3.12.1");
	CHECK(t.runtime_addr == (uint64_t)(uintptr_t)_PyRuntime);
	CHECK(t.shared_lib);
	_PyRuntime[l312->runtime_interpreters_head] = 1;
	CHECK_EQ_INT(locate_self("/usr/lib/libpython3.12.so.1.0", false, &t, &res), PYLOC_OK);
	CHECK_STR(t.elf_path, "/usr/lib/libpython3.12.so.1.0");
	CHECK_EQ_INT(t.version_hex, 0x030c01f0);
	CHECK(t.warning[0] == '\0');
	/* A name that says nothing: tried only when executable. */
	CHECK_EQ_INT(locate_self("/opt/app/bin/server", false, &t, &res), PYLOC_NOT_FOUND);
	CHECK_EQ_INT(locate_self("/opt/app/bin/server", true, &t, &res), PYLOC_OK);
	CHECK(!t.shared_lib);
	CHECK_EQ_INT(locate_self("/usr/lib/libpython3.12t.so.1.0", false, &t, &res), PYLOC_FREE_THREADED);
	/* Py_Version not 3.x: the version comes from the file (name and
	 * version string); a minor beyond 99 is no minor. */
	Py_Version = 0;
	CHECK_EQ_INT(locate_self("/usr/lib/libpython3.12.so.1.0", false, &t, &res), PYLOC_OK);
	CHECK_EQ_INT(PY_HEX_MINOR(t.version_hex), 12);
	locate_self("/usr/lib/libpython3.100.so", false, &t, &res);
	CHECK(strncmp(res.version, "3.100", 5) != 0); /* found by scanning the file instead */
	Py_Version = 0x03070af0;
	CHECK_EQ_INT(locate_self("/usr/bin/python3.7", false, &t, &res), PYLOC_NO_LAYOUT);
	CHECK_STR(res.version, "3.7.10");
	CHECK_EQ_INT(pyloc_error(PYLOC_NO_LAYOUT), PYPROC_EUNSUPPORTED);
	CHECK_EQ_INT(pyloc_error(PYLOC_NOT_FOUND), PYPROC_ENOTPY);
}

/* An ELF image in memory for elfid: its readable part is img[0..len). */
struct image {
	const uint8_t *img;
	size_t len;
};

static size_t image_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	const struct image *im = ctx;

	if (off >= im->len)
		return 0;
	if (len > im->len - off)
		len = (size_t)(im->len - off);
	memcpy(buf, im->img + off, len);
	return len;
}

static void test_elfid(void)
{
	static uint8_t img[512], hdrs[ELFID_HEADERS_MAX];
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
	uint8_t *note = img + 256, id[ELFID_MAX];
	uint32_t hdr[3] = { 4, 20, NT_GNU_BUILD_ID };
	char hex[2 * ELFID_MAX + 1];

	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 2;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_filesz = sizeof(img) };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 256, .p_filesz = 12 + 4 + 20, .p_align = 4 };
	memcpy(note, hdr, sizeof(hdr));
	memcpy(note + 12, "GNU", 4);
	for (int i = 0; i < 20; i++)
		note[16 + i] = (uint8_t)(0xa0 + i);
	struct image im = { img, sizeof(img) };

	CHECK_EQ_INT(elfid_build_id(image_read, &im, id), 20);
	elfid_hex(id, 20, hex, sizeof(hex));
	CHECK_STR(hex, "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3");
	CHECK_EQ_INT(elfid_headers(image_read, &im, hdrs), sizeof(*eh) + 2 * sizeof(*ph));
	/* A core that holds only the headers (the note's page not dumped). */
	im.len = 200;
	CHECK_EQ_INT(elfid_build_id(image_read, &im, id), 0);
	CHECK(elfid_headers(image_read, &im, hdrs) > 0);
	/* Sizes from the image are checked, not trusted. */
	im.len = sizeof(img);
	hdr[1] = 0xfffffff0u;
	memcpy(note, hdr, sizeof(hdr));
	CHECK_EQ_INT(elfid_build_id(image_read, &im, id), 0);
	eh->e_phnum = 0xffff;
	CHECK_EQ_INT(elfid_headers(image_read, &im, hdrs), 0);
	img[0] = 0;
	CHECK_EQ_INT(elfid_build_id(image_read, &im, id), 0);
}

void test_elfsym_self_marker(void);
void test_elfsym_self_marker(void) {}

int main(void)
{
	test_u64map();
	test_strtab();
	test_profile_and_outfile();
	test_elfsym_self();
	test_elfsym_not_regular();
	test_pylocate();
	test_elfid();
	UNIT_DONE();
}
