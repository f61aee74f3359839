/* nfiles (user/native/nfiles.c) against live Python processes: Debian's
 * python3.11 (libpython linked in, non-PIE) and pyenv's 3.12 (shared
 * libpython). A symbol's runtime pc is found from the file's own symbol
 * table and the mapping, and checked against the process's memory before
 * its label is. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "native/nfiles.h"
#include "output/frametab.h"
#include "target/elfsym.h"
#include "unit.h"

#define PY311 "/usr/bin/python3.11"
#define CHILD_SCRIPT "import zlib, sys, time; print('ready', flush=True); time.sleep(120)"

struct child {
	pid_t pid;
	struct nproc proc;
};

/* Starts python with CHILD_SCRIPT; returns once it printed its ready line
 * (so every library is mapped), or pid -1. */
static pid_t start_python(const char *python)
{
	int fds[2];
	char buf[16] = { 0 };
	size_t got = 0;

	if (access(python, X_OK) != 0 || pipe(fds) != 0)
		return -1;
	pid_t pid = fork();

	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(python, python, "-c", CHILD_SCRIPT, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (pid > 0 && got < 6) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		ssize_t n;

		/* A bound for a broken interpreter, not a wait for readiness. */
		if (poll(&pfd, 1, 30000) != 1 || (n = read(fds[0], buf + got, 6 - got)) <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	if (pid > 0 && strncmp(buf, "ready\n", 6) != 0) {
		fprintf(stderr, "%s did not start\n", python);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

static void stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The mapping of p whose file's basename starts with prefix and that holds
 * link-time address addr (or any, addr 0). */
static const struct nmapping *mapping_of(const struct nproc *p, const char *prefix, uint64_t addr)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct nmapping *m = &p->maps[i];

		if (strncmp(base(m->file->path), prefix, strlen(prefix)) == 0 &&
		    (!addr || (addr + m->bias >= m->start && addr + m->bias < m->end)))
			return m;
	}
	return NULL;
}

/* Link-time address of sym in file at path (its .symtab or .dynsym); 0 if absent. */
static uint64_t file_symbol(const char *path, const char *sym)
{
	struct elf_file ef;
	uint64_t value = 0, size = 0;
	const char *names[] = { sym };

	if (elf_file_open(&ef, path) != 0)
		return 0;
	elf_file_symbols(&ef, names, 1, &value, &size);
	elf_file_close(&ef);
	return value;
}

/* The file offset of link-time address addr in file at path; 0 if none. */
static uint64_t file_offset(const char *path, uint64_t addr)
{
	struct elf_file ef;
	uint64_t off = 0;

	if (elf_file_open(&ef, path) != 0)
		return 0;
	for (size_t i = 0; i < ef.nloads; i++)
		if (addr >= ef.loads[i].vaddr && addr < ef.loads[i].vaddr + ef.loads[i].filesz)
			off = addr - ef.loads[i].vaddr + ef.loads[i].offset;
	elf_file_close(&ef);
	return off;
}

/* Whether the 32 bytes at pc in pid are those at file_off of path: the
 * mapping's bias put the symbol where the process has it. */
static bool same_bytes(pid_t pid, uint64_t pc, const char *path, uint64_t file_off)
{
	char mem[64];
	uint8_t a[32], b[32];
	int fm, ff;
	bool same = false;

	snprintf(mem, sizeof(mem), "/proc/%d/mem", (int)pid);
	fm = open(mem, O_RDONLY);
	ff = open(path, O_RDONLY);
	if (fm >= 0 && ff >= 0 && pread(fm, a, sizeof(a), (off_t)pc) == sizeof(a) &&
	    pread(ff, b, sizeof(b), (off_t)file_off) == sizeof(b))
		same = memcmp(a, b, sizeof(a)) == 0;
	if (fm >= 0)
		close(fm);
	if (ff >= 0)
		close(ff);
	return same;
}

/* The runtime pc of sym in the mapped file of p named prefix*, checked
 * against memory; 0 when not found. */
static uint64_t pc_of(const struct nproc *p, const char *prefix, const char *sym, const char *symfile)
{
	const struct nmapping *any = mapping_of(p, prefix, 0);
	uint64_t addr;

	if (!any)
		return 0;
	/* symfile: a debug file, with the symbols but not the code. */
	addr = file_symbol(symfile ? symfile : any->file->path, sym);
	const struct nmapping *m = addr ? mapping_of(p, prefix, addr) : NULL;

	if (!m)
		return 0;
	uint64_t pc = addr + m->bias, off = file_offset(m->file->path, addr);

	if (!same_bytes(p->pid, pc, m->file->path, off))
		fprintf(stderr, "%s: %s at %#" PRIx64 " differs from its file\n", prefix, sym, pc);
	CHECK(same_bytes(p->pid, pc, m->file->path, off));
	return pc;
}

static const char *label(struct nfiles *c, const struct nproc *p, uint64_t pc, bool exact, struct frametab *ft,
			 bool *eval)
{
	const char *l = nproc_label(c, p, pc, exact, ft, eval);

	return l ? l : "(null)";
}

static char expect_buf[4][512];

static const char *expect(int slot, const char *sym, const struct nproc *p, const char *prefix)
{
	const struct nmapping *m = mapping_of(p, prefix, 0);

	snprintf(expect_buf[slot], sizeof(expect_buf[slot]), "%s (%s)", sym, m ? base(m->file->path) : "?");
	return expect_buf[slot];
}

static void test_python311(struct nfiles *c, struct frametab *ft, const struct nproc *p)
{
	bool eval = true;
	uint64_t pc = pc_of(p, "python3.11", "PyObject_Malloc", NULL);

	CHECK(pc != 0);
	CHECK_STR(label(c, p, pc + 1, true, ft, &eval), "PyObject_Malloc (python3.11)");
	CHECK(!eval);
	/* A return address is looked up at pc - 1: the call before it. */
	CHECK_STR(label(c, p, pc + 1, false, ft, &eval), "PyObject_Malloc (python3.11)");
	CHECK(strcmp(label(c, p, pc, false, ft, &eval), "PyObject_Malloc (python3.11)") != 0);
	CHECK_STR(label(c, p, pc, true, ft, &eval), "PyObject_Malloc (python3.11)");

	uint64_t ev = pc_of(p, "python3.11", "_PyEval_EvalFrameDefault", NULL);

	CHECK(ev != 0);
	eval = false;
	CHECK_STR(label(c, p, ev + 100, false, ft, &eval), "_PyEval_EvalFrameDefault (python3.11)");
	CHECK(eval);
	/* The label's parts, for pprof: native kind, link-time address, build id. */
	const struct frame_meta *fm = frametab_meta(ft, label(c, p, ev + 100, false, ft, NULL));

	CHECK(fm && fm->kind == FRAME_NATIVE);
	CHECK(fm && fm->address == ev - nproc_find(p, ev)->bias);
	CHECK(fm && strlen(fm->build_id) == 40);
	CHECK(fm && strcmp(fm->file, PY311) == 0);

	/* zlib's deflate, in libz (its own file). */
	uint64_t d = pc_of(p, "libz.so", "deflate", NULL);

	CHECK(d != 0);
	CHECK_STR(label(c, p, d + 4, true, ft, &eval), expect(0, "deflate", p, "libz.so"));
	CHECK(!eval);
}

static void test_python312(struct nfiles *c, struct frametab *ft, const struct nproc *p)
{
	bool eval = true;
	uint64_t pc = pc_of(p, "libpython3.12", "PyObject_Malloc", NULL);

	CHECK(pc != 0);
	CHECK_STR(label(c, p, pc + 3, true, ft, &eval), "PyObject_Malloc (libpython3.12.so.1.0)");
	CHECK(!eval);

	uint64_t ev = pc_of(p, "libpython3.12", "_PyEval_EvalFrameDefault", NULL);

	CHECK(ev != 0);
	CHECK_STR(label(c, p, ev, true, ft, &eval), "_PyEval_EvalFrameDefault (libpython3.12.so.1.0)");
	CHECK(eval);
	/* The compiler's cold part of it is the same native frame. */
	uint64_t cold = pc_of(p, "libpython3.12", "_PyEval_EvalFrameDefault.cold", NULL);

	if (cold) {
		eval = false;
		CHECK_STR(label(c, p, cold + 1, false, ft, &eval), "_PyEval_EvalFrameDefault.cold (libpython3.12.so.1.0)");
		CHECK(eval);
	}
	/* Just past its end is some other function. */
	const struct nmapping *m = nproc_find(p, ev);
	const struct nsym *s = m ? nfile_symbol(m->file, ev - m->bias) : NULL;

	CHECK(s != NULL);
	if (s) {
		label(c, p, ev + s->size, true, ft, &eval);
		CHECK(!eval);
		CHECK(nfile_in_eval(m->file, ev - m->bias + s->size - 1));
		CHECK(!nfile_in_eval(m->file, ev - m->bias - 1) || cold == ev - 1);
	}
	uint64_t d = pc_of(p, "libz.so", "deflate", NULL);

	CHECK(d != 0);
	CHECK_STR(label(c, p, d + 4, true, ft, &eval), expect(1, "deflate", p, "libz.so"));

	/* nfile_open gives the very file. */
	int fd = m ? nfile_open(m->file, p->pid) : -1;
	struct stat st;

	CHECK(fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_ino == m->file->ino);
	if (fd >= 0)
		close(fd);
}

/* libc's local functions come from its debug file, when installed. */
static void test_debug_file(struct nfiles *c, struct frametab *ft, const struct nproc *p)
{
	const struct nmapping *m = mapping_of(p, "libc.so", 0);
	char dbg[256];

	CHECK(m != NULL);
	if (!m)
		return;
	snprintf(dbg, sizeof(dbg), "/usr/lib/debug/.build-id/%.2s/%s.debug", m->file->build_id, m->file->build_id + 2);
	if (access(dbg, R_OK) != 0) {
		printf("no %s: libc debug file check skipped\n", dbg);
		return;
	}
	uint64_t pc = pc_of(p, "libc.so", "_int_malloc", dbg);

	CHECK(pc != 0);
	CHECK_STR(label(c, p, pc + 2, true, ft, NULL), expect(2, "_int_malloc", p, "libc.so"));
}

/* A library built here, mapped into this very process: tail-call handler
 * ranges, and a stripped file's local function labelled file+0xADDR. */
#define LIB_SOURCE \
	"__attribute__((noinline)) int _PyEval_EvalFrameDefault(int x) { return x * 3 + 1; }\n" \
	"__attribute__((noinline)) int _TAIL_CALL_LOAD_FAST(int x) { return x + 7; }\n" \
	"__attribute__((noinline)) int _TAIL_CALL_BINARY_OP(int x) { return x ^ 5; }\n" \
	"__attribute__((noinline)) static int hidden(int x) { return x * x - 3; }\n" \
	"int (*hidden_ptr)(int) = hidden;\n"

static void test_own_library(struct nfiles *c, struct frametab *ft)
{
	char dir[] = "/tmp/test_nfiles.XXXXXX", cmd[512], src[64], lib[64];
	struct nproc self = { 0 };
	bool eval = true;

	if (!mkdtemp(dir))
		return;
	snprintf(src, sizeof(src), "%s/lib.c", dir);
	snprintf(lib, sizeof(lib), "%s/libntest.so", dir);
	FILE *fp = fopen(src, "w");

	if (fp) {
		fputs(LIB_SOURCE, fp);
		fclose(fp);
	}
	snprintf(cmd, sizeof(cmd), "cc -O1 -shared -fPIC -s -o %s %s", lib, src);
	if (system(cmd) != 0) {
		printf("no C compiler: own library check skipped\n");
		goto out;
	}
	void *h = dlopen(lib, RTLD_NOW);
	void *ev = h ? dlsym(h, "_PyEval_EvalFrameDefault") : NULL;
	void *tc = h ? dlsym(h, "_TAIL_CALL_BINARY_OP") : NULL;
	void **hp = h ? dlsym(h, "hidden_ptr") : NULL;

	CHECK(ev && tc && hp);
	if (!ev || !tc || !hp)
		goto out;
	CHECK_EQ_INT(nproc_load(c, getpid(), &self), 0);
	uint64_t tpc = (uint64_t)(uintptr_t)tc, epc = (uint64_t)(uintptr_t)ev, hpc = (uint64_t)(uintptr_t)*hp;
	const struct nmapping *m = nproc_find(&self, tpc);

	CHECK(m && strcmp(m->file->path, lib) == 0);
	CHECK_STR(label(c, &self, tpc + 1, true, ft, &eval), "_TAIL_CALL_BINARY_OP (libntest.so)");
	CHECK(!eval);
	CHECK(m && nfile_in_tail_call(m->file, tpc - m->bias));
	CHECK(m && m->file->ntail_calls == 2);
	CHECK_STR(label(c, &self, epc, true, ft, &eval), "_PyEval_EvalFrameDefault (libntest.so)");
	CHECK(eval);
	CHECK(m && !nfile_in_tail_call(m->file, epc - m->bias));
	/* Stripped: its static function is in no symbol table. */
	char want[64];

	snprintf(want, sizeof(want), "libntest.so+0x%" PRIx64, m ? hpc - m->bias : 0);
	CHECK_STR(label(c, &self, hpc, true, ft, &eval), want);
	CHECK(!eval);
	dlclose(h);
out:
	nproc_free(&self);
	unlink(lib);
	unlink(src);
	rmdir(dir);
}

static void test_kernel(struct frametab *ft)
{
	struct ksyms *k = ksyms_load();
	FILE *fp = fopen("/proc/kallsyms", "re");
	char line[512], first[300] = "";
	uint64_t want = 0;

	CHECK(k != NULL);
	/* The first text symbol listed at schedule's address names it. */
	while (fp && fgets(line, sizeof(line), fp)) {
		uint64_t a;
		char t, name[256];

		if (sscanf(line, "%" SCNx64 " %c %255s", &a, &t, name) == 3 && strchr("tT", t) && a &&
		    strcmp(name, "schedule") == 0)
			want = a;
	}
	if (fp)
		rewind(fp);
	while (want && fp && fgets(line, sizeof(line), fp)) {
		uint64_t a;
		char t, name[256];

		if (sscanf(line, "%" SCNx64 " %c %255s", &a, &t, name) == 3 && a == want && strchr("tTwW", t)) {
			snprintf(first, sizeof(first), "%s [kernel]", name);
			break;
		}
	}
	if (fp)
		fclose(fp);
	if (!want || !ksyms_count(k)) {
		printf("kernel addresses hidden: ksyms check skipped\n");
	} else {
		CHECK_STR(ksym_label(k, want + 4, ft), first);
		const struct frame_meta *fm = frametab_meta(ft, ksym_label(k, want + 4, ft));

		CHECK(fm && fm->kind == FRAME_KERNEL && fm->address == want);
	}
	CHECK_STR(ksym_label(k, 0xffff800000000000ull, ft), "[unknown] [kernel]");
	ksyms_free(k);
}

int main(void)
{
	const char *pyenv = getenv("PYENV_ROOT");
	char py312[512];
	struct nfiles *c = nfiles_new();
	struct frametab ft;
	struct child a = { -1, { 0 } }, b = { -1, { 0 } };

	snprintf(py312, sizeof(py312), "%s/versions/3.12.1/bin/python3.12", pyenv ? pyenv : "/root/.pyenv");
	frametab_init(&ft);
	CHECK(c != NULL);
	a.pid = start_python(PY311);
	b.pid = start_python(py312);
	if (a.pid < 0 || b.pid < 0) {
		printf("skipped: needs %s and %s\n", PY311, py312);
		goto out;
	}
	CHECK_EQ_INT(nproc_load(c, a.pid, &a.proc), 0);
	CHECK_EQ_INT(nproc_load(c, b.pid, &b.proc), 0);
	CHECK(a.proc.n >= 4 && b.proc.n >= 4);
	for (size_t i = 1; i < b.proc.n; i++)
		CHECK(b.proc.maps[i - 1].end <= b.proc.maps[i].start);

	test_python311(c, &ft, &a.proc);
	test_python312(c, &ft, &b.proc);
	test_debug_file(c, &ft, &a.proc);

	/* Both map one libc and one libz: one cached file each. */
	const struct nmapping *la = mapping_of(&a.proc, "libc.so", 0), *lb = mapping_of(&b.proc, "libc.so", 0);
	const struct nmapping *za = mapping_of(&a.proc, "libz.so", 0), *zb = mapping_of(&b.proc, "libz.so", 0);

	CHECK(la && lb && la->file == lb->file);
	CHECK(za && zb && za->file == zb->file);

	/* A pc in no mapping: the pseudo-frame. */
	bool eval = true;
	const char *u = label(c, &a.proc, 0x1000, true, &ft, &eval);

	CHECK_STR(u, "[unknown native]");
	CHECK(!eval);
	CHECK(frametab_meta(&ft, u) && frametab_meta(&ft, u)->kind == FRAME_PSEUDO);

	/* Reloading a process adds no file and keeps the same ones. */
	size_t files = nfiles_count(c), n = b.proc.n;
	struct nfile *first = b.proc.maps[0].file;

	CHECK_EQ_INT(nproc_load(c, b.pid, &b.proc), 0);
	CHECK_EQ_INT(nfiles_count(c), files);
	CHECK_EQ_INT(b.proc.n, n);
	CHECK(b.proc.maps[0].file == first);
	CHECK(nfiles_symbol_bytes(c) > 0 && nfiles_symbol_bytes(c) < (256u << 20));

	/* A file whose symbols were not loaded yet, after its process exited:
	 * read where it is here, the same file by identity. */
	const struct nmapping *x = mapping_of(&a.proc, "libexpat", 0);
	uint64_t xpc = pc_of(&a.proc, "libexpat", "XML_ParserCreate", NULL);

	CHECK(x && !x->file->syms_tried && xpc);
	stop(a.pid);
	CHECK_STR(label(c, &a.proc, xpc + 1, true, &ft, NULL), expect(3, "XML_ParserCreate", &a.proc, "libexpat"));
	/* And the process itself is gone: nproc_load says so, keeps the old. */
	CHECK(nproc_load(c, a.pid, &a.proc) < 0);
	CHECK(a.proc.n > 0);
	a.pid = -1;

	test_kernel(&ft);
	test_own_library(c, &ft);
out:
	stop(a.pid);
	stop(b.pid);
	nproc_free(&a.proc);
	nproc_free(&b.proc);
	frametab_free(&ft);
	nfiles_free(c);
	UNIT_DONE();
}
