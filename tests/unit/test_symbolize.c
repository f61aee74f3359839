/*
 * Unit tests for user/python/symbolize.c and memsrc_readv (user/target/memsrc.c) on fake
 * CPython objects built in this process's own memory, read two ways: through
 * memsrc_pid(getpid()) (real process_vm_readv, vectored) and through a
 * region-checking memsrc without readv (as a core file is read). Objects can
 * be placed so they end exactly at an inaccessible page, so every read
 * window past them is cut short by the kernel.
 *
 * Checks: labels and lines on 3.8, 3.11 and 3.12 layouts; the number of
 * requests per code object (one read, one gathered read; the shared
 * filename read once); strings and line tables longer than the read
 * windows; the hostile cases (bad kind/compact/ascii, lengths, unreadable
 * or wrong objects) still refused; one unreadable piece of a gathered read
 * not spoiling the others; the caches flushed together.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "output/frametab.h"
#include "layouts.h"
#include "target/memsrc.h"
#include "pyperf.h"
#include "target/pyproc.h"
#include "python/symbolize.h"
#include "unit.h"

/* ------------------------------------------------------- address space */

#define MAX_MAPS 4096

struct space {
	struct { uint8_t *base; size_t len, readable; } m[MAX_MAPS];
	size_t n;
	bool at_end;            /* place objects right before an inaccessible page */
	/* requests seen by the counting sources */
	size_t reads, readvs, pieces;
	uint64_t bytes;
};

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* len zeroed bytes, readable in this process; when sp->at_end, the next
 * byte after them is on a PROT_NONE page. */
static uint8_t *alloc_obj(struct space *sp, size_t len)
{
	size_t pg = page_size();
	size_t readable = (len + 2048 + pg - 1) / pg * pg;

	if (sp->n >= MAX_MAPS)
		abort();
	uint8_t *base = mmap(NULL, readable + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED || mprotect(base + readable, pg, PROT_NONE))
		abort();
	sp->m[sp->n].base = base;
	sp->m[sp->n].len = readable + pg;
	sp->m[sp->n].readable = readable;
	sp->n++;
	/* 8-aligned, as every PyObject is */
	return sp->at_end ? base + ((readable - len) & ~(size_t)7) : base;
}

static void space_free(struct space *sp)
{
	for (size_t i = 0; i < sp->n; i++)
		munmap(sp->m[i].base, sp->m[i].len);
	memset(sp, 0, sizeof(*sp));
}

/* The first inaccessible byte after the mapping of an object allocated by
 * alloc_obj (the end of its readable part). */
static uint8_t *end_of(struct space *sp, const uint8_t *obj)
{
	for (size_t i = 0; i < sp->n; i++)
		if (obj >= sp->m[i].base && obj < sp->m[i].base + sp->m[i].readable)
			return sp->m[i].base + sp->m[i].readable;
	abort();
}

/* An inaccessible address (inside a PROT_NONE page). */
static uint64_t hole(struct space *sp)
{
	return (uint64_t)(uintptr_t)(end_of(sp, alloc_obj(sp, 16)) + 64);
}

/* A source that only knows the mappings above and has no readv: reads one
 * piece at a time, like a core file. */
static size_t fake_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	struct space *sp = m->ctx;

	sp->reads++;
	sp->bytes += len;
	for (size_t i = 0; i < sp->n; i++) {
		uint64_t a = (uint64_t)(uintptr_t)sp->m[i].base;

		if (addr >= a && addr - a < sp->m[i].readable) {
			size_t avail = sp->m[i].readable - (size_t)(addr - a);
			size_t n = len < avail ? len : avail;

			memcpy(buf, sp->m[i].base + (addr - a), n);
			return n;
		}
	}
	return 0;
}

/* This process through process_vm_readv, counting requests. */
static struct memsrc self_src;

static size_t pid_read_counted(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	struct space *sp = m->ctx;

	sp->reads++;
	sp->bytes += len;
	return self_src.read(&self_src, addr, buf, len);
}

static void pid_readv_counted(const struct memsrc *m, struct memsrc_iov *iov, size_t n)
{
	struct space *sp = m->ctx;

	sp->readvs++;
	sp->pieces += n;
	for (size_t i = 0; i < n; i++)
		sp->bytes += iov[i].len;
	memsrc_readv(&self_src, iov, n);
}

enum src_kind { SRC_PID, SRC_CORE };

static struct memsrc src_for(struct space *sp, enum src_kind k)
{
	if (k == SRC_CORE)
		return (struct memsrc){ .read = fake_read, .pid = 0, .ctx = sp };
	return (struct memsrc){ .read = pid_read_counted, .readv = pid_readv_counted, .pid = getpid(), .ctx = sp };
}

static void reset_counts(struct space *sp)
{
	sp->reads = sp->readvs = sp->pieces = 0;
	sp->bytes = 0;
}

/* ------------------------------------------------------- CPython objects */

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, 8);
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, 4);
}

static uint64_t addr_of(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static uint32_t str_state(const struct py_layout *L, unsigned kind, bool compact, bool ascii)
{
	return (uint32_t)kind << L->unicode_kind_shift | (uint32_t)compact << L->unicode_compact_shift |
	       (uint32_t)ascii << L->unicode_ascii_shift;
}

/* A str with this state word and length; datalen bytes of characters
 * (plus a NUL character) after the header the state implies. */
static uint64_t mk_str_raw(struct space *sp, const struct py_layout *L, uint32_t state, int64_t length,
			   const void *data, size_t datalen, unsigned kind)
{
	bool ascii = (state >> L->unicode_ascii_shift) & 1;
	size_t off = ascii ? L->unicode_ascii_size : L->unicode_compact_size;
	uint8_t *o = alloc_obj(sp, off + datalen + kind);

	put32(o, L->unicode_state, state);
	put64(o, L->unicode_length, (uint64_t)length);
	memcpy(o + off, data, datalen);
	return addr_of(o);
}

static uint64_t mk_str(struct space *sp, const struct py_layout *L, const char *s)
{
	size_t n = strlen(s);

	return mk_str_raw(sp, L, str_state(L, 1, true, true), (int64_t)n, s, n, 1);
}

static uint64_t mk_bytes(struct space *sp, const struct py_layout *L, const uint8_t *data, int64_t size,
			 size_t datalen)
{
	uint8_t *o = alloc_obj(sp, L->bytes_sval + datalen + 1);

	put64(o, L->bytes_size, (uint64_t)size);
	if (datalen)
		memcpy(o + L->bytes_sval, data, datalen);
	return addr_of(o);
}

/* Line table for `units` instructions, instruction k on line first + k. */
static uint64_t mk_lines(struct space *sp, const struct py_layout *L, uint32_t version, unsigned units)
{
	uint8_t *t = malloc(2 * (size_t)units + 1);
	size_t n = 0;

	if (!t)
		abort();
	for (unsigned k = 0; k < units; k++) {
		if (version < 0x030a0000) { /* lnotab: (byte increment, line increment) */
			if (k) {
				t[n++] = 2;
				t[n++] = 1;
			}
		} else { /* 3.11+ location table: no-column entries of one unit */
			t[n++] = 0x80 | (13 << 3);
			t[n++] = k ? 2 : 0; /* svarint +1, or 0 for the first */
		}
	}
	uint64_t a = mk_bytes(sp, L, t, (int64_t)n, n);

	free(t);
	return a;
}

static uint64_t mk_type(struct space *sp, const char *name)
{
	uint8_t *tp = alloc_obj(sp, 64);
	uint8_t *nm = alloc_obj(sp, strlen(name) + 1);

	memcpy(nm, name, strlen(name) + 1);
	put64(tp, 24, addr_of(nm));
	return addr_of(tp);
}

struct code_spec {
	uint64_t type, name, qualname, filename, linetable;
	int firstlineno;
};

static uint64_t mk_code(struct space *sp, const struct py_layout *L, const struct code_spec *c)
{
	uint8_t *o = alloc_obj(sp, L->code_size);

	put64(o, L->object_type, c->type);
	put64(o, L->code_name, c->name);
	if (L->code_qualname != PY_OFF_NONE)
		put64(o, L->code_qualname, c->qualname);
	put64(o, L->code_filename, c->filename);
	put64(o, L->code_linetable, c->linetable);
	put32(o, L->code_firstlineno, (uint32_t)c->firstlineno);
	return addr_of(o);
}

static uint64_t frame_of(uint64_t code, int lasti)
{
	return code << 16 | (uint64_t)((lasti + 1) & 0xffff);
}

struct fixture {
	struct space sp;
	struct py_target t;
	struct frametab tab;
	struct memsrc src;
	struct symbolizer *sym;
	const struct py_layout *L;
	uint64_t code_type;
};

static void fx_init(struct fixture *f, uint32_t version, enum src_kind k, bool at_end)
{
	memset(f, 0, sizeof(*f));
	f->sp.at_end = at_end;
	f->L = py_layout_find(version, NULL);
	if (!f->L)
		abort();
	f->t.pid = getpid();
	f->t.version_hex = f->L->version_hex;
	f->t.layout = *f->L;
	frametab_init(&f->tab);
	f->src = src_for(&f->sp, k);
	f->sym = symbolizer_new_src(&f->t, &f->tab, &f->src);
	if (!f->sym)
		abort();
	f->code_type = mk_type(&f->sp, "code");
}

static void fx_free(struct fixture *f)
{
	symbolizer_free(f->sym);
	frametab_free(&f->tab);
	space_free(&f->sp);
}

/* A code object named name (as both name and qualname on 3.11+). */
static uint64_t fx_code(struct fixture *f, uint64_t name, uint64_t file, uint64_t lines, int first)
{
	struct code_spec c = { .type = f->code_type, .name = name, .qualname = name, .filename = file,
			       .linetable = lines, .firstlineno = first };

	return mk_code(&f->sp, f->L, &c);
}

static const char *label(struct fixture *f, uint64_t code, int lasti)
{
	return symbolizer_frame(f->sym, frame_of(code, lasti));
}

/* ------------------------------------------------------- memsrc_readv */

static void test_readv(enum src_kind k)
{
	struct space sp = { 0 };
	struct memsrc m = src_for(&sp, k);
	uint8_t *a = alloc_obj(&sp, 100), *b = alloc_obj(&sp, 300);
	/* c: 50 bytes before an inaccessible page */
	uint8_t *c = end_of(&sp, alloc_obj(&sp, 16)) - 50;
	uint8_t out[6][400];
	uint64_t bad = hole(&sp);

	memset(a, 'a', 100);
	memset(b, 'b', 300);
	memset(c, 'c', 50);
	memset(out, 0, sizeof(out));
	struct memsrc_iov iov[] = {
		{ .addr = addr_of(a), .buf = out[0], .len = 100 },
		{ .addr = bad, .buf = out[1], .len = 64 },        /* fails: must not stop the rest */
		{ .addr = addr_of(b), .buf = out[2], .len = 300 },
		{ .addr = addr_of(c), .buf = out[3], .len = 200 }, /* cut short after 50 */
		{ .addr = addr_of(b), .buf = out[4], .len = 8 },
		{ .addr = 0, .buf = out[5], .len = 8 },            /* never read */
		{ .addr = addr_of(a), .buf = out[5], .len = 0 },
	};
	memsrc_readv(&m, iov, sizeof(iov) / sizeof(iov[0]));
	CHECK_EQ_INT(iov[0].got, 100);
	CHECK_EQ_INT(iov[1].got, 0);
	CHECK_EQ_INT(iov[2].got, 300);
	CHECK_EQ_INT(iov[3].got, 50);
	CHECK_EQ_INT(iov[4].got, 8);
	CHECK_EQ_INT(iov[5].got, 0);
	CHECK_EQ_INT(iov[6].got, 0);
	CHECK(out[0][0] == 'a' && out[0][99] == 'a');
	CHECK(out[2][0] == 'b' && out[2][299] == 'b');
	CHECK(out[3][0] == 'c' && out[3][49] == 'c' && out[3][50] == 0);
	CHECK(out[4][7] == 'b');

	/* Many pieces (more than one process_vm_readv takes at once here). */
	struct memsrc_iov many[40];

	for (int i = 0; i < 40; i++)
		many[i] = (struct memsrc_iov){ .addr = i % 7 == 3 ? bad : addr_of(b) + (uint64_t)i,
					       .buf = out[i % 2 ? 2 : 4], .len = 10 };
	memsrc_readv(&m, many, 40);
	for (int i = 0; i < 40; i++)
		CHECK_EQ_INT(many[i].got, i % 7 == 3 ? 0 : 10);
	space_free(&sp);
}

/* A process that is gone: every piece fails, none hangs or crashes. */
static void test_readv_gone(void)
{
	pid_t child = fork();

	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	struct memsrc m = memsrc_pid(child);
	uint8_t buf[3][16];
	struct memsrc_iov iov[3];

	for (int i = 0; i < 3; i++)
		iov[i] = (struct memsrc_iov){ .addr = addr_of(buf[(i + 1) % 3]), .buf = buf[i], .len = 16, .got = 99 };
	memsrc_readv(&m, iov, 3);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(iov[i].got, 0);
	/* No source at all. */
	iov[0].got = 5;
	memsrc_readv(NULL, iov, 1);
	CHECK_EQ_INT(iov[0].got, 0);
}

/* ------------------------------------------------------- symbolizer */

static const uint32_t versions[] = { 0x030812f0, 0x030b07f0, 0x030c01f0 };

/* Labels, lines and how many requests a code object costs. */
static void test_basic(uint32_t version, enum src_kind k, bool at_end)
{
	struct fixture f;

	fx_init(&f, version, k, at_end);
	uint64_t file = mk_str(&f.sp, f.L, "/srv/app/mod.py");
	uint64_t c1 = fx_code(&f, mk_str(&f.sp, f.L, "alpha"), file, mk_lines(&f.sp, f.L, version, 20), 10);
	uint64_t c2 = fx_code(&f, mk_str(&f.sp, f.L, "beta"), file, mk_lines(&f.sp, f.L, version, 20), 40);
	uint64_t c3 = fx_code(&f, mk_str(&f.sp, f.L, "gamma"), file, 0, 70);
	struct symbolizer_stats st;

	reset_counts(&f.sp);
	CHECK_STR(label(&f, c1, 3), "alpha (/srv/app/mod.py:13)");
	/* code object, the type's name (once: two reads), then one gathered
	 * read of name, filename and line table */
	if (k == SRC_PID) {
		CHECK_EQ_INT(f.sp.reads, 3);
		CHECK_EQ_INT(f.sp.readvs, 1);
		CHECK_EQ_INT(f.sp.pieces, 3);
	} else {
		CHECK_EQ_INT(f.sp.reads, 6);
	}
	reset_counts(&f.sp);
	CHECK_STR(label(&f, c2, 0), "beta (/srv/app/mod.py:40)");
	/* the filename is cached: the object, then name and line table */
	if (k == SRC_PID) {
		CHECK_EQ_INT(f.sp.reads, 1);
		CHECK_EQ_INT(f.sp.readvs, 1);
		CHECK_EQ_INT(f.sp.pieces, 2);
	} else {
		CHECK_EQ_INT(f.sp.reads, 3);
	}
	/* the same code at other instructions: no read at all */
	reset_counts(&f.sp);
	CHECK_STR(label(&f, c2, 19), "beta (/srv/app/mod.py:59)");
	CHECK_STR(label(&f, c1, 3), "alpha (/srv/app/mod.py:13)");
	CHECK_EQ_INT(f.sp.reads + f.sp.readvs, 0);
	/* no line table: the name stays, the line goes (3.10+: past the table) */
	CHECK_STR(label(&f, c3, 2), version < 0x030a0000 ? "gamma (/srv/app/mod.py:70)" : "gamma (/srv/app/mod.py)");
	/* not started: the first line; 3.11+ hides such a frame (prologue) */
	if (f.L->flags & PYL_INSTR_POINTER)
		CHECK(label(&f, c1, -1) == NULL);
	else
		CHECK_STR(label(&f, c1, -1), "alpha (/srv/app/mod.py:10)");
	symbolizer_stats(f.sym, &st);
	CHECK_EQ_INT(st.code_objects, 3);
	CHECK_EQ_INT(st.unreadable, 0);
	fx_free(&f);
}

/* Strings and line tables longer than the windows read with their headers. */
static void test_long(uint32_t version, enum src_kind k, bool at_end)
{
	struct fixture f;

	fx_init(&f, version, k, at_end);
	char name[700], path[5000];

	for (size_t i = 0; i < sizeof(name) - 1; i++)
		name[i] = (char)('a' + i % 26);
	name[sizeof(name) - 1] = '\0';
	path[0] = '/';
	for (size_t i = 1; i < sizeof(path) - 1; i++)
		path[i] = i % 10 == 0 ? '/' : (char)('A' + i % 26);
	path[sizeof(path) - 1] = '\0';
	uint64_t file = mk_str(&f.sp, f.L, path);
	uint64_t lines = mk_lines(&f.sp, f.L, version, 600); /* ~1200 bytes */
	uint64_t c = fx_code(&f, mk_str(&f.sp, f.L, name), file, lines, 1);
	const char *l = label(&f, c, 550);
	char want[sizeof(name) + 2000];

	/* The path is cut at NAME_MAX_BYTES (1024) with "...". */
	CHECK(l != NULL);
	snprintf(want, sizeof(want), "%s (%.1020s...:551)", name, path);
	CHECK_STR(l, want);

	/* A UCS-2 name longer than the window, and a UCS-4 one. */
	uint16_t u2[300];
	uint32_t u4[100];

	for (int i = 0; i < 300; i++)
		u2[i] = i % 2 ? 0x00e9 : 0x0416; /* é Ж */
	for (int i = 0; i < 100; i++)
		u4[i] = 0x1f600;
	uint64_t s2 = mk_str_raw(&f.sp, f.L, str_state(f.L, 2, true, false), 300, u2, sizeof(u2), 2);
	uint64_t s4 = mk_str_raw(&f.sp, f.L, str_state(f.L, 4, true, false), 100, u4, sizeof(u4), 4);
	uint64_t file2 = mk_str(&f.sp, f.L, "/x.py");
	const char *l2 = label(&f, fx_code(&f, s2, file2, 0, 5), 0);
	const char *l4 = label(&f, fx_code(&f, s4, file2, 0, 5), 0);

	CHECK(l2 && strlen(l2) == 300 * 2 + strlen(" (/x.py:5)") - (version >= 0x030a0000 ? 2 : 0));
	CHECK(l2 && !strncmp(l2, "\xd0\x96\xc3\xa9\xd0\x96", 6));
	CHECK(l4 && !strncmp(l4, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8));
	CHECK(l4 && strlen(l4) >= 400);

	/* A name claiming far more characters than exist: refused, as before. */
	uint64_t liar = mk_str_raw(&f.sp, f.L, str_state(f.L, 1, true, true), 100000, "short", 5, 1);

	reset_counts(&f.sp);
	CHECK(!strncmp(label(&f, fx_code(&f, liar, file2, 0, 5), 0), "[unknown code", 13));
	CHECK(f.sp.bytes <= 512 + 4096 + 1024); /* reads stay bounded by NAME_READ_MAX */
	fx_free(&f);
}

/* A name of exactly n characters, for the window boundary. */
static void test_window_edges(enum src_kind k, bool at_end)
{
	struct fixture f;

	fx_init(&f, 0x030c01f0, k, at_end);
	uint64_t file = mk_str(&f.sp, f.L, "/w.py");

	for (size_t n = 240; n <= 300; n++) {
		char name[301];

		memset(name, 'x', n);
		name[n] = '\0';
		name[n - 1] = 'Z';
		const char *l = label(&f, fx_code(&f, mk_str(&f.sp, f.L, name), file, 0, 1), 0);
		char want[400];

		snprintf(want, sizeof(want), "%s (/w.py)", name);
		CHECK_STR(l, want);
	}
	for (unsigned units = 250; units <= 262; units++) { /* tables of 498..522 bytes */
		uint64_t c = fx_code(&f, mk_str(&f.sp, f.L, "t"), file, mk_lines(&f.sp, f.L, 0x030c01f0, units), 1);
		char want[64];

		snprintf(want, sizeof(want), "t (/w.py:%u)", units);
		CHECK_STR(label(&f, c, (int)units - 1), want);
	}
	fx_free(&f);
}

static bool unknown(const char *l)
{
	return l && !strncmp(l, "[unknown code 0x", 16);
}

/* Hostile or broken objects: refused (or the line dropped), never misread. */
static void test_hostile(uint32_t version, enum src_kind k, bool at_end)
{
	struct fixture f;

	fx_init(&f, version, k, at_end);
	const struct py_layout *L = f.L;
	uint64_t file = mk_str(&f.sp, L, "/h.py");
	uint64_t lines = mk_lines(&f.sp, L, version, 4);
	uint64_t ok = mk_str(&f.sp, L, "fine");
	uint16_t wide[4] = { 'a', 'b', 'c', 'd' };
	struct {
		uint64_t name;
		const char *what;
	} bad[] = {
		{ mk_str_raw(&f.sp, L, str_state(L, 3, true, false), 4, "abcdefgh", 8, 2), "kind 3" },
		{ mk_str_raw(&f.sp, L, str_state(L, 0, true, false), 4, "abcdefgh", 8, 2), "kind 0" },
		{ mk_str_raw(&f.sp, L, str_state(L, 1, false, true), 4, "abcd", 4, 1), "not compact" },
		{ mk_str_raw(&f.sp, L, str_state(L, 2, true, true), 4, wide, 8, 2), "ascii and kind 2" },
		{ mk_str_raw(&f.sp, L, str_state(L, 1, true, true), -1, "abcd", 4, 1), "negative length" },
		{ mk_str_raw(&f.sp, L, str_state(L, 4, true, false), INT64_MAX / 2, "abcdabcd", 8, 4), "length overflow" },
		{ hole(&f.sp), "unreadable" },
		{ 0, "NULL" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *l = label(&f, fx_code(&f, bad[i].name, file, lines, 1), 0);

		if (!unknown(l))
			fprintf(stderr, "name %s: %s\n", bad[i].what, l ? l : "(null)");
		CHECK(unknown(l));
		/* the same as the filename */
		l = label(&f, fx_code(&f, ok, bad[i].name, lines, 1), 0);
		CHECK(unknown(l));
	}

	/* Not a code object; a code object that cannot be read. */
	struct code_spec cs = { .type = mk_type(&f.sp, "cod"), .name = ok, .qualname = ok, .filename = file,
				.linetable = lines, .firstlineno = 1 };
	CHECK(unknown(label(&f, mk_code(&f.sp, L, &cs), 0)));
	CHECK(unknown(label(&f, hole(&f.sp) & ~1ull, 0)));
	/* The real code type still recognised after a wrong one. */
	CHECK_STR(label(&f, fx_code(&f, ok, file, lines, 1), 2), "fine (/h.py:3)");

	/* Line tables that cannot be used: the name stays, the line goes
	 * (lnotab has no end: no table means the first line). */
	const char *noline = version < 0x030a0000 ? "fine (/h.py:7)" : "fine (/h.py)";
	uint8_t junk[8] = { 0 };
	uint64_t lt_bad[] = {
		mk_bytes(&f.sp, L, junk, -5, 8),               /* negative size */
		mk_bytes(&f.sp, L, junk, (1 << 20) + 1, 8),    /* above LINETABLE_MAX */
		mk_bytes(&f.sp, L, junk, 100000, 8),           /* size past the readable memory */
		hole(&f.sp),                                   /* unreadable */
	};
	for (size_t i = 0; i < sizeof(lt_bad) / sizeof(lt_bad[0]); i++) {
		const char *l = label(&f, fx_code(&f, ok, file, lt_bad[i], 7), 2);

		CHECK_STR(l, noline);
	}
	/* An empty name and a name that is the filename object itself. */
	uint64_t empty = mk_str(&f.sp, L, "");

	CHECK_STR(label(&f, fx_code(&f, empty, file, lines, 1), 0), " (/h.py:1)");
	uint64_t same = mk_str(&f.sp, L, "/same.py");

	CHECK_STR(label(&f, fx_code(&f, same, same, lines, 1), 1), "/same.py (/same.py:2)");
	fx_free(&f);
}

/*
 * The name's window runs into an inaccessible page (cut short in the
 * gathered read) and the line table comes after it in the same read: the
 * kernel stops at the short piece, the rest must still be read.
 */
static void test_short_piece(enum src_kind k)
{
	struct fixture f;

	fx_init(&f, 0x030b07f0, k, false);
	f.sp.at_end = true;
	uint64_t name = mk_str(&f.sp, f.L, "edge");
	uint64_t file = mk_str(&f.sp, f.L, "/e.py");
	f.sp.at_end = false;
	uint64_t lines = mk_lines(&f.sp, f.L, 0x030b07f0, 10);
	uint64_t c = fx_code(&f, name, file, lines, 100);

	CHECK_STR(label(&f, c, 5), "edge (/e.py:105)");
	/* an unreadable name first, then a good one sharing the same read */
	uint64_t c2 = fx_code(&f, hole(&f.sp), mk_str(&f.sp, f.L, "/e2.py"), lines, 100);
	uint64_t c3 = fx_code(&f, mk_str(&f.sp, f.L, "after"), mk_str(&f.sp, f.L, "/e2.py"), lines, 100);

	CHECK(unknown(label(&f, c2, 1)));
	CHECK_STR(label(&f, c3, 1), "after (/e2.py:101)");
	fx_free(&f);
}

/* 3.11+: the qualname is used; 3.8: the name. */
static void test_qualname(uint32_t version, enum src_kind k)
{
	struct fixture f;

	fx_init(&f, version, k, false);
	struct code_spec cs = { .type = f.code_type, .name = mk_str(&f.sp, f.L, "method"),
				.qualname = mk_str(&f.sp, f.L, "Klass.method"), .filename = mk_str(&f.sp, f.L, "/q.py"),
				.linetable = mk_lines(&f.sp, f.L, version, 3), .firstlineno = 9 };
	uint64_t c = mk_code(&f.sp, f.L, &cs);

	CHECK_STR(label(&f, c, 1), version >= 0x030b0000 ? "Klass.method (/q.py:10)" : "method (/q.py:10)");
	fx_free(&f);
}

/* --no-lines: the line table is not even read. */
static void test_no_lines(enum src_kind k)
{
	struct fixture f;

	fx_init(&f, 0x030c01f0, k, false);
	symbolizer_set_lines(f.sym, false);
	uint64_t file = mk_str(&f.sp, f.L, "/n.py");
	uint64_t c1 = fx_code(&f, mk_str(&f.sp, f.L, "one"), file, mk_lines(&f.sp, f.L, 0x030c01f0, 5), 1);
	uint64_t c2 = fx_code(&f, mk_str(&f.sp, f.L, "two"), file, mk_lines(&f.sp, f.L, 0x030c01f0, 5), 1);

	CHECK_STR(label(&f, c1, 2), "one (/n.py)");
	reset_counts(&f.sp);
	CHECK_STR(label(&f, c2, 2), "two (/n.py)");
	if (k == SRC_PID) {
		CHECK_EQ_INT(f.sp.reads, 1);
		CHECK_EQ_INT(f.sp.pieces, 1);
	} else {
		CHECK_EQ_INT(f.sp.reads, 2);
	}
	fx_free(&f);
}

/*
 * The str cache is flushed with the code cache: past MAX_CACHED_CODES (64K)
 * code objects a filename changed in place is read again. Objects share a
 * few big mappings here (an mmap each would be too many).
 */
static void test_flush(void)
{
	struct fixture f;

	fx_init(&f, 0x030c01f0, SRC_CORE, false);
	const struct py_layout *L = f.L;
	const size_t ncode = (64u << 10) + 10, per = 256;
	uint8_t *codes = alloc_obj(&f.sp, ncode * per);
	uint8_t *file = alloc_obj(&f.sp, 128);
	uint64_t name = mk_str(&f.sp, L, "f");

	put32(file, L->unicode_state, str_state(L, 1, true, true));
	put64(file, L->unicode_length, 5);
	memcpy(file + L->unicode_ascii_size, "/a.py", 5);
	for (size_t i = 0; i < ncode; i++) {
		uint8_t *o = codes + i * per;

		put64(o, L->object_type, f.code_type);
		put64(o, L->code_name, name);
		put64(o, L->code_qualname, name);
		put64(o, L->code_filename, addr_of(file));
		put32(o, L->code_firstlineno, 1);
	}
	CHECK_STR(label(&f, addr_of(codes), 0), "f (/a.py)");
	memcpy(file + L->unicode_ascii_size, "/b.py", 5);
	/* trusted until the flush */
	CHECK_STR(label(&f, addr_of(codes + per), 0), "f (/a.py)");
	size_t flushed_at = 0;
	struct symbolizer_stats st;

	for (size_t i = 2; i < ncode && !flushed_at; i++) {
		const char *l = label(&f, addr_of(codes + i * per), 0);

		symbolizer_stats(f.sym, &st);
		if (st.cache_flushes) {
			flushed_at = i;
			CHECK_STR(l, "f (/b.py)");
		} else if (strcmp(l, "f (/a.py)")) {
			CHECK_STR(l, "f (/a.py)");
			break;
		}
	}
	CHECK_EQ_INT(flushed_at, 64u << 10);
	fx_free(&f);
}

int main(void)
{
	self_src = memsrc_pid(getpid());
	for (int k = SRC_PID; k <= SRC_CORE; k++) {
		test_readv((enum src_kind)k);
		for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++) {
			for (int at_end = 0; at_end <= 1; at_end++) {
				test_basic(versions[v], (enum src_kind)k, at_end);
				test_long(versions[v], (enum src_kind)k, at_end);
				test_hostile(versions[v], (enum src_kind)k, at_end);
			}
			test_qualname(versions[v], (enum src_kind)k);
		}
		for (int at_end = 0; at_end <= 1; at_end++)
			test_window_edges((enum src_kind)k, at_end);
		test_short_piece((enum src_kind)k);
		test_no_lines((enum src_kind)k);
	}
	test_readv_gone();
	test_flush();
	UNIT_DONE();
}
