/*
 * Unit tests for user/python/pylocals.c: the repr pieces (float, str, bytes,
 * long ints), then values and whole frames on a fake target memory built
 * with the generated layouts of 3.9, 3.12 and 3.14, fed hostile contents: a
 * list that contains itself, lengths of 2^39, str data that is no valid
 * text, type names that are not UTF-8, dangling pointers, a code object
 * claiming a million slots, a frame that runs another code object.
 * Everything must end, stay bounded and print valid UTF-8. The page cache
 * (target/memcache.h) is checked on its own at the end.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layouts.h"
#include "object_layouts.h"
#include "python/pylocals.h"
#include "util/utf8.h"
#include "fakemem.h"
#include "unit.h"

/* ------------------------------------------------------------ repr pieces */

static const char *fl(double v)
{
	static char buf[64];

	pylocals_repr_float(v, buf, sizeof(buf));
	return buf;
}

static void test_float(void)
{
	CHECK_STR(fl(0.1), "0.1");
	CHECK_STR(fl(1.5), "1.5");
	CHECK_STR(fl(100.0), "100.0");
	CHECK_STR(fl(-0.0), "-0.0");
	CHECK_STR(fl(0.0), "0.0");
	CHECK_STR(fl(2.5e-07), "2.5e-07");
	CHECK_STR(fl(1e-05), "1e-05");
	CHECK_STR(fl(0.0001), "0.0001");
	CHECK_STR(fl(1e16), "1e+16");
	CHECK_STR(fl(1e15), "1000000000000000.0");
	CHECK_STR(fl(123456789.125), "123456789.125");
	CHECK_STR(fl(1.0 / 3), "0.3333333333333333");
	CHECK_STR(fl(1.7976931348623157e308), "1.7976931348623157e+308");
	CHECK_STR(fl(5e-324), "5e-324");
	CHECK_STR(fl(-1e22), "-1e+22");
	CHECK_STR(fl(NAN), "nan");
	CHECK_STR(fl(INFINITY), "inf");
	CHECK_STR(fl(-INFINITY), "-inf");
	char small[4];

	pylocals_repr_float(0.3333, small, sizeof(small));
	CHECK_STR(small, "...");
}

static const char *st(const char *s, int64_t nchars, size_t max)
{
	static char buf[PYLOCALS_VALUE_MAX];

	pylocals_repr_str(s, strlen(s), nchars, max, buf, sizeof(buf));
	return buf;
}

static void test_str(void)
{
	CHECK_STR(st("abc", 3, 200), "'abc'");
	CHECK_STR(st("it's", 4, 200), "\"it's\"");
	CHECK_STR(st("it's \"q\"", 8, 200), "'it\\'s \"q\"'");
	CHECK_STR(st("a\tb\nc\rd\\e\x01\x1b\x7f", 12, 200), "'a\\tb\\nc\\rd\\\\e\\x01\\x1b\\x7f'");
	/* printable non-ASCII passes; separators, format characters, C1 escape */
	CHECK_STR(st("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80", 8, 200), "'caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80'");
	CHECK_STR(st("\xc2\x85\xc2\xa0\xc2\xad\xe2\x80\x8b\xe2\x80\xa8\xef\xbb\xbf\xf3\xa0\x80\x81", 7, 200),
		  "'\\x85\\xa0\\xad\\u200b\\u2028\\ufeff\\U000e0001'");
	/* cut: the first characters, the whole length after */
	CHECK_STR(st("abcdef", 5000, 3), "'abc...' (len=5000)");
	CHECK_STR(st("\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad", 3, 2), "'\xe4\xb8\xad\xe4\xb8\xad...' (len=3)");
	/* ill-formed UTF-8 (never from pyobj_str, but hostile all the same) */
	const char *bad = st("a\xff\xc3(b", 5, 200);

	CHECK_EQ_INT(utf8_sanitized_len(bad, strlen(bad)), strlen(bad));
	CHECK_STR(bad, "'a\xef\xbf\xbd\xef\xbf\xbd(b'");
	/* a tiny buffer: a valid prefix and "..." */
	char small[8];

	pylocals_repr_str("\xe4\xb8\xad\xe4\xb8\xad", 6, 2, 200, small, sizeof(small));
	CHECK_STR(small, "'\xe4\xb8\xad...");
}

static const char *by(const void *b, size_t n, int64_t len, size_t max)
{
	static char buf[PYLOCALS_VALUE_MAX];

	pylocals_repr_bytes(b, n, len, max, buf, sizeof(buf));
	return buf;
}

static void test_bytes(void)
{
	CHECK_STR(by("\x00\x01" "bin\xff'\"\\", 9, 9, 200), "b'\\x00\\x01bin\\xff\\'\"\\\\'");
	CHECK_STR(by("it's", 4, 4, 200), "b\"it's\"");
	CHECK_STR(by("\t\n\r\x80", 4, 4, 200), "b'\\t\\n\\r\\x80'");
	CHECK_STR(by("abcdef", 6, 1000000, 4), "b'abcd...' (len=1000000)");
	CHECK_STR(by("", 0, 0, 200), "b''");
	/* fewer bytes than claimed never reads past n */
	CHECK_STR(by("ab", 2, 2, 200), "b'ab'");
}

static void test_int(void)
{
	char out[128];

	pylocals_short_int("1234567890123456789012345678901234567890", out, sizeof(out));
	CHECK_STR(out, "1234567890123456789012345678901234567890");
	pylocals_short_int("-12345678901234567890123456789012345678901", out, sizeof(out));
	CHECK_STR(out, "-1234567890...2345678901 (41 digits)");
	pylocals_short_int("0", out, sizeof(out));
	CHECK_STR(out, "0");
}

/* ------------------------------------------------------------ fake target */

#define HEAP 0x100000ull
#define HEAP_SIZE (1u << 20)
#define UNMAPPED 0xdead0000ull

struct fake {
	struct fakemem fm;
	struct memsrc m;
	struct py_target t;
	const struct py_obj_layout *O;
	uint8_t *heap;
	size_t used;
	uint64_t t_none, t_int, t_bool, t_str, t_bytes, t_list, t_tuple, t_float, t_cell, t_custom, t_code;
	uint64_t none;
	struct pylocals pl;
};

static uint64_t alloc(struct fake *f, size_t n)
{
	uint64_t a = HEAP + f->used;

	f->used += (n + 15) & ~(size_t)15;
	if (f->used > HEAP_SIZE)
		abort();
	return a;
}

static uint8_t *at(struct fake *f, uint64_t addr)
{
	return f->heap + (addr - HEAP);
}

static void set64(struct fake *f, uint64_t addr, uint64_t v)
{
	put64(at(f, addr), 0, v);
}

static void set32(struct fake *f, uint64_t addr, uint32_t v)
{
	memcpy(at(f, addr), &v, 4);
}

static uint64_t mk_type(struct fake *f, const char *name, uint64_t flags)
{
	uint64_t tp = alloc(f, 1024), nm = alloc(f, strlen(name) + 1);

	memcpy(at(f, nm), name, strlen(name) + 1);
	set64(f, tp + f->O->type_name, nm);
	set64(f, tp + f->O->type_flags, flags);
	return tp;
}

static uint64_t mk_obj(struct fake *f, uint64_t type, size_t size)
{
	uint64_t o = alloc(f, size);

	set64(f, o, 1); /* ob_refcnt */
	set64(f, o + f->O->ob_type, type);
	return o;
}

/* A compact str of nchars characters of `kind` bytes each from data. */
static uint64_t mk_str_kind(struct fake *f, unsigned kind, bool ascii, const void *data, int64_t nchars,
			    size_t data_bytes)
{
	const struct py_layout *L = &f->t.layout;
	size_t off = ascii ? L->unicode_ascii_size : L->unicode_compact_size;
	uint64_t s = mk_obj(f, f->t_str, off + data_bytes + 4);
	uint32_t state = (kind << L->unicode_kind_shift) | (1u << L->unicode_compact_shift) |
			 ((uint32_t)ascii << L->unicode_ascii_shift);

	/* 3.8-3.11 also have a "ready" bit right above ascii */
	if (PY_HEX_MINOR(f->t.version_hex) < 12)
		state |= 1u << (L->unicode_ascii_shift + 1);
	set64(f, s + L->unicode_length, (uint64_t)nchars);
	set32(f, s + L->unicode_state, state);
	memcpy(at(f, s + off), data, data_bytes);
	return s;
}

static uint64_t mk_str(struct fake *f, const char *ascii)
{
	return mk_str_kind(f, 1, true, ascii, (int64_t)strlen(ascii), strlen(ascii));
}

static uint64_t mk_int(struct fake *f, int64_t v)
{
	const struct py_obj_layout *O = f->O;
	uint64_t o = mk_obj(f, f->t_int, 64), mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
	uint64_t nd = 0;

	for (uint64_t m = mag; m; m >>= O->long_shift)
		set32(f, o + O->long_digits + 4 * nd++, (uint32_t)(m & ((1u << O->long_shift) - 1)));
	if (O->long_non_size_bits)
		set64(f, o + O->long_size, (nd << O->long_non_size_bits) | (v < 0 ? 2 : v == 0 ? 1 : 0));
	else
		set64(f, o + O->long_size, v < 0 ? -(int64_t)nd : (int64_t)nd);
	return o;
}

static uint64_t mk_tuple(struct fake *f, const uint64_t *items, int64_t n)
{
	uint64_t t = mk_obj(f, f->t_tuple, f->O->tuple_items + 8 * (size_t)(n > 0 ? n : 0));

	set64(f, t + f->O->ob_size, (uint64_t)n);
	for (int64_t i = 0; i < n; i++)
		set64(f, t + f->O->tuple_items + 8 * i, items[i]);
	return t;
}

/* A list claiming n items (allocated as many) whose item array holds have. */
static uint64_t mk_list(struct fake *f, const uint64_t *items, int64_t n, size_t have)
{
	uint64_t l = mk_obj(f, f->t_list, 64), arr = alloc(f, 8 * (have ? have : 1));

	set64(f, l + f->O->ob_size, (uint64_t)n);
	set64(f, l + f->O->list_allocated, (uint64_t)n);
	set64(f, l + f->O->list_items, arr);
	for (size_t i = 0; i < have; i++)
		set64(f, arr + 8 * i, items[i]);
	return l;
}

static uint64_t mk_bytes(struct fake *f, const void *data, int64_t n, size_t have)
{
	uint64_t b = mk_obj(f, f->t_bytes, f->O->bytes_sval + have + 1);

	set64(f, b + f->O->bytes_size, (uint64_t)n);
	memcpy(at(f, b + f->O->bytes_sval), data, have);
	return b;
}

static uint64_t mk_cell(struct fake *f, uint64_t ref)
{
	uint64_t c = mk_obj(f, f->t_cell, 32);

	set64(f, c + f->O->cell_ref, ref);
	return c;
}

static void fake_init(struct fake *f, uint32_t version)
{
	const struct py_layout *L = py_layout_find(version, NULL);
	char err[256];

	memset(f, 0, sizeof(*f));
	f->O = py_obj_layout_find(version, NULL);
	if (!L || !f->O)
		abort();
	f->m = src_of(&f->fm);
	f->t.version_hex = L->version_hex;
	f->t.layout = *L;
	f->heap = region(&f->fm, HEAP, HEAP_SIZE);
	const struct py_obj_layout *O = f->O;

	f->t_none = mk_type(f, "NoneType", 0);
	f->t_int = mk_type(f, "int", O->tpflags_long);
	f->t_bool = mk_type(f, "bool", O->tpflags_long);
	f->t_str = mk_type(f, "str", O->tpflags_str);
	f->t_bytes = mk_type(f, "bytes", O->tpflags_bytes);
	f->t_list = mk_type(f, "list", O->tpflags_list);
	f->t_tuple = mk_type(f, "tuple", O->tpflags_tuple);
	f->t_float = mk_type(f, "float", 0);
	f->t_cell = mk_type(f, "cell", 0);
	f->t_custom = mk_type(f, "Custom", 0);
	f->t_code = mk_type(f, "code", 0);
	f->none = mk_obj(f, f->t_none, 16);
	CHECK_EQ_INT(pylocals_init(&f->pl, &f->m, &f->t, err, sizeof(err)), 0);
}

static void fake_done(struct fake *f)
{
	pylocals_free(&f->pl);
	fake_free(&f->fm);
}

static const char *val(struct fake *f, uint64_t obj)
{
	static char out[PYLOCALS_VALUE_MAX];
	char type[96];

	pylocals_forget(&f->pl); /* the test wrote memory since the last read */
	pylocals_format_value(&f->pl, obj, out, sizeof(out), type, sizeof(type));
	CHECK_EQ_INT(utf8_sanitized_len(out, strlen(out)), strlen(out));
	return out;
}

static void test_values(uint32_t version)
{
	struct fake f;
	char want[256];

	fake_init(&f, version);
	CHECK_STR(val(&f, f.none), "None");
	CHECK_STR(val(&f, mk_int(&f, -42)), "-42");
	CHECK_STR(val(&f, mk_int(&f, 0)), "0");
	CHECK_STR(val(&f, mk_int(&f, INT64_MAX)), "9223372036854775807");
	uint64_t fo = mk_obj(&f, f.t_float, 32);
	double d = 0.1;

	memcpy(at(&f, fo + f.O->float_fval), &d, 8);
	/* float is checked by name along its bases: "float" is enough */
	CHECK_STR(val(&f, fo), "0.1");
	uint64_t items[3] = { mk_str(&f, "two"), f.none, mk_int(&f, 7) };
	uint64_t tup = mk_tuple(&f, items, 3);

	CHECK_STR(val(&f, tup), "tuple(len=3) ('two', None, 7)");
	CHECK_STR(val(&f, mk_tuple(&f, items, 1)), "tuple(len=1) ('two',)");
	CHECK_STR(val(&f, mk_tuple(&f, items, 0)), "tuple(len=0) ()");

	/* a list that contains itself: depth bounds it */
	uint64_t placeholder = f.none, self = mk_list(&f, &placeholder, 1, 1);

	uint64_t arr;

	memcpy(&arr, at(&f, self + f.O->list_items), 8);
	set64(&f, arr, self);
	CHECK_STR(val(&f, self), "list(len=1) [list(len=1) [list(len=1) [...]]]");

	/* 2^39 items claimed, 2 there: five read at most, the rest unreadable */
	uint64_t two[2] = { mk_int(&f, 1), mk_int(&f, 2) };
	uint64_t huge = mk_list(&f, two, 1ll << 39, 2);
	size_t reads = f.fm.reads;
	const char *h = val(&f, huge);

	CHECK(strncmp(h, "list(len=549755813888) [", 24) == 0);
	CHECK(f.fm.reads - reads < 200);
	/* items past the array are zero words: a NULL item is unreadable, not a crash */
	CHECK(strstr(h, "<unreadable at 0x0>") != NULL);

	/* a list whose length is negative or whose items pointer dangles */
	uint64_t neg = mk_list(&f, two, -5, 2);

	snprintf(want, sizeof(want), "<list at 0x%llx, unreadable>", (unsigned long long)neg);
	CHECK_STR(val(&f, neg), want);
	uint64_t dangling = mk_list(&f, two, 2, 2);

	set64(&f, dangling + f.O->list_items, UNMAPPED);
	snprintf(want, sizeof(want), "<list at 0x%llx, unreadable>", (unsigned long long)dangling);
	CHECK_STR(val(&f, dangling), want);

	/* str: length 2^40 with 3 readable characters */
	uint64_t long_str = mk_str_kind(&f, 1, true, "abc", 1ll << 40, 3);
	const char *ls = val(&f, long_str);

	CHECK(strncmp(ls, "'abc", 4) == 0 && strstr(ls, "(len=1099511627776)") != NULL);
	/* latin-1 bytes, lone surrogates, code points past U+10FFFF: valid UTF-8 out */
	uint8_t latin[4] = { 'a', 0xe9, 0xff, 0x80 };

	CHECK_STR(val(&f, mk_str_kind(&f, 1, false, latin, 4, 4)), "'a\xc3\xa9\xc3\xbf\\x80'");
	uint16_t ucs2[3] = { 0xd800, 'x', 0xdfff };

	CHECK_STR(val(&f, mk_str_kind(&f, 2, false, ucs2, 3, 6)), "'\xef\xbf\xbdx\xef\xbf\xbd'");
	uint32_t ucs4[2] = { 0x110000, 0xffffffff };

	CHECK_STR(val(&f, mk_str_kind(&f, 4, false, ucs4, 2, 8)), "'\xef\xbf\xbd\xef\xbf\xbd'");
	/* a header no str has: kind 3 */
	uint64_t bad_kind = mk_str_kind(&f, 3, false, "abc", 1, 3);

	snprintf(want, sizeof(want), "<str at 0x%llx>", (unsigned long long)bad_kind);
	CHECK_STR(val(&f, bad_kind), want);

	/* bytes claiming 2^39 bytes: the first 200 shown (the heap after it reads as zeros) */
	const char *hb = val(&f, mk_bytes(&f, "\x00\xff", 1ll << 39, 2));

	CHECK(strncmp(hb, "b'\\x00\\xff\\x00", 14) == 0);
	CHECK_EQ_INT(strlen(hb), 2 + 200 * 4 + strlen("...' (len=549755813888)"));

	/* other objects; a type name that is not UTF-8; dangling pointers */
	uint64_t obj = mk_obj(&f, f.t_custom, 16);

	snprintf(want, sizeof(want), "<Custom at 0x%llx>", (unsigned long long)obj);
	CHECK_STR(val(&f, obj), want);
	uint64_t bad_type = mk_type(&f, "caf\xff", 0), bt = mk_obj(&f, bad_type, 16);

	snprintf(want, sizeof(want), "<unreadable at 0x%llx>", (unsigned long long)bt);
	CHECK_STR(val(&f, bt), want);
	CHECK_STR(val(&f, UNMAPPED), "<unreadable at 0xdead0000>");
	uint64_t freed = mk_obj(&f, UNMAPPED, 16);

	snprintf(want, sizeof(want), "<unreadable at 0x%llx>", (unsigned long long)freed);
	CHECK_STR(val(&f, freed), want);

	/* a bool that is neither 0 nor 1 is not trusted */
	uint64_t b = mk_int(&f, 5);

	set64(&f, b + f.O->ob_type, f.t_bool);
	snprintf(want, sizeof(want), "<bool at 0x%llx>", (unsigned long long)b);
	CHECK_STR(val(&f, b), want);
	fake_done(&f);
}

/* ------------------------------------------------------------ frames */

struct var {
	const char *name;
	uint8_t kind11;     /* 3.11+ localsplus kind bits (CO_FAST_*) */
	uint64_t slot;      /* what the frame slot holds */
};

/* A code object and a frame running it with these slots; returns the frame.
 * 3.8-3.10: vars are varnames (nlocals), then cellvars, then freevars. */
static uint64_t mk_frame(struct fake *f, const struct var *v, size_t n, int argc, int nlocals, int ncells,
			 uint64_t *code_out)
{
	const struct py_obj_layout *O = f->O;
	uint64_t code = mk_obj(f, f->t_code, 1024), names[16];

	for (size_t i = 0; i < n; i++)
		names[i] = mk_str(f, v[i].name);
	set32(f, code + O->code_argcount, (uint32_t)argc);
	set32(f, code + O->code_kwonlyargcount, 0);
	set32(f, code + O->code_flags, 0);
	if (O->code_localsplusnames != PY_OFF_NONE) {
		uint8_t kinds[16];

		for (size_t i = 0; i < n; i++)
			kinds[i] = v[i].kind11;
		set64(f, code + O->code_localsplusnames, mk_tuple(f, names, (int64_t)n));
		set64(f, code + O->code_localspluskinds, mk_bytes(f, kinds, (int64_t)n, n));
	} else {
		set32(f, code + O->code_nlocals, (uint32_t)nlocals);
		set64(f, code + O->code_varnames, mk_tuple(f, names, nlocals));
		set64(f, code + O->code_cellvars, mk_tuple(f, names + nlocals, ncells));
		set64(f, code + O->code_freevars, mk_tuple(f, names + nlocals + ncells, (int64_t)n - nlocals - ncells));
	}
	uint64_t frame = alloc(f, O->frame_localsplus + 8 * n);
	uint64_t code_field = code | ((f->t.layout.flags & PYL_CODE_TAGGED) ? 1 : 0);

	set64(f, frame, 1); /* a frame object's refcount (3.8-3.10) */
	set64(f, frame + f->t.layout.frame_code, code_field);
	for (size_t i = 0; i < n; i++)
		set64(f, frame + O->frame_localsplus + 8 * i, v[i].slot);
	*code_out = code;
	return frame;
}

static const struct pylocals_frame *rd(struct fake *f, uint64_t frame, uint64_t code)
{
	pylocals_forget(&f->pl); /* the test wrote memory since the last read */
	return pylocals_read(&f->pl, frame, code);
}

static void check_var(const struct pylocals_frame *lf, size_t i, enum pylocal_kind kind, const char *name,
		      const char *value)
{
	if (i >= lf->n) {
		CHECK(i < lf->n);
		return;
	}
	CHECK_EQ_INT(lf->v[i].kind, kind);
	CHECK_STR(lf->v[i].name, name);
	CHECK_STR(lf->v[i].value, value);
	CHECK_EQ_INT(lf->v[i].unset, !strcmp(value, "<unset>"));
}

static void test_frame(uint32_t version)
{
	struct fake f;
	uint64_t code;
	bool old = PY_HEX_MINOR(version) < 11, tagged = PY_HEX_MINOR(version) >= 14;
	uint8_t LOCAL = 0, CELL = 0, FREE = 0;

	fake_init(&f, version);
	LOCAL = f.O->co_fast_local;
	CELL = f.O->co_fast_cell;
	FREE = f.O->co_fast_free;
	uint64_t three = mk_int(&f, 3), s = mk_str(&f, "x");
	/* arguments a (a plain int) and b (captured: a cell), a local c that is
	 * unset (3.14: PyStackRef_NULL is 1), a cell d, a free variable e */
	uint64_t unset_slot = tagged ? 1 : 0;
	struct var v11[] = {
		{ "a", LOCAL, three | (tagged ? 1 : 0) }, { "b", LOCAL | CELL, mk_cell(&f, s) },
		{ "c", LOCAL, unset_slot }, { "d", CELL, mk_cell(&f, 0) }, { "e", FREE, mk_cell(&f, three) },
	};
	/* 3.8-3.10: b's own slot is cleared, its value in the cell named b */
	struct var v8[] = {
		{ "a", 0, three }, { "b", 0, 0 }, { "c", 0, 0 },
		{ "b", 0, mk_cell(&f, s) }, { "d", 0, mk_cell(&f, 0) }, { "e", 0, mk_cell(&f, three) },
	};
	uint64_t frame = old ? mk_frame(&f, v8, 6, 2, 3, 2, &code) : mk_frame(&f, v11, 5, 2, 0, 0, &code);
	const struct pylocals_frame *lf = rd(&f, frame, code);

	CHECK(lf->error == NULL);
	CHECK_EQ_INT(lf->n, 5);
	check_var(lf, 0, PYLOCAL_ARG, "a", "3");
	check_var(lf, 1, PYLOCAL_ARG, "b", "'x'");
	check_var(lf, 2, PYLOCAL_LOCAL, "c", "<unset>");
	check_var(lf, 3, PYLOCAL_CELL, "d", "<unset>");
	check_var(lf, 4, PYLOCAL_FREE, "e", "3");
	CHECK_STR(lf->v[0].type, "int");
	CHECK(lf->v[2].type == NULL);

	/* 3.14+: a tagged int in a slot (no object) */
	if (tagged) {
		set64(&f, frame + f.O->frame_localsplus, (7ull << 2) | 3);
		lf = rd(&f, frame, code);
		check_var(lf, 0, PYLOCAL_ARG, "a", "7");
	}
	/* the frame runs another code object now */
	lf = rd(&f, frame, code + 64);
	CHECK_STR(lf->error, "frame changed while read");
	CHECK_EQ_INT(lf->n, 0);
	/* unreadable frame */
	lf = rd(&f, UNMAPPED, code);
	CHECK(lf->error != NULL);

	/* a code object claiming a million slots: refused, nothing huge read */
	uint64_t code2;
	struct var one[] = { { "a", LOCAL, three } };
	uint64_t frame2 = mk_frame(&f, one, 1, 1, 1, 0, &code2);
	uint64_t names_field = code2 + (old ? f.O->code_varnames : f.O->code_localsplusnames);
	uint64_t names;

	memcpy(&names, at(&f, names_field), 8);

	set64(&f, names + f.O->ob_size, 1000000);
	if (old)
		set32(&f, code2 + f.O->code_nlocals, 1000000);
	lf = rd(&f, frame2, code2);
	CHECK_STR(lf->error, "code object unreadable");

	/* more arguments than names */
	uint64_t code3;
	uint64_t frame3 = mk_frame(&f, one, 1, 5, 1, 0, &code3);

	lf = rd(&f, frame3, code3);
	CHECK_STR(lf->error, "code object unreadable");
	fake_done(&f);
}

/* The page cache: the same bytes as the source, partial pages, pages that
 * cannot be read, one read of the source per page. */
static void test_memcache(void)
{
	struct fakemem fm = { .n = 0 };
	struct memsrc inner = src_of(&fm);
	uint8_t *a = region(&fm, 0x10000, 2 * MEMCACHE_PAGE + 100); /* ends inside its third page */
	struct memcache *c = memcache_new(&inner, 4);
	struct memsrc m = memcache_src(c);
	uint8_t buf[3 * MEMCACHE_PAGE];

	for (size_t i = 0; i < 2 * MEMCACHE_PAGE + 100; i++)
		a[i] = (uint8_t)(i * 7);
	CHECK(c != NULL);
	/* across the first two pages */
	CHECK_EQ_INT(memsrc_read_partial(&m, 0x10000 + MEMCACHE_PAGE - 8, buf, 16), 16);
	CHECK(memcmp(buf, a + MEMCACHE_PAGE - 8, 16) == 0);
	CHECK_EQ_INT(memcache_inner_reads(c), 2);
	CHECK_EQ_INT(memsrc_read_partial(&m, 0x10010, buf, 8), 8);
	CHECK_EQ_INT(memcache_inner_reads(c), 2);
	/* into the partial third page and past its end: the readable head */
	CHECK_EQ_INT(memsrc_read_partial(&m, 0x10000 + 2 * MEMCACHE_PAGE + 90, buf, 64), 10);
	CHECK(memcmp(buf, a + 2 * MEMCACHE_PAGE + 90, 10) == 0);
	/* an unmapped page: read once, remembered */
	CHECK_EQ_INT(memsrc_read_partial(&m, 0x90000, buf, 8), 0);
	size_t before = memcache_inner_reads(c);

	CHECK_EQ_INT(memsrc_read_partial(&m, 0x90008, buf, 8), 0);
	CHECK_EQ_INT(memcache_inner_reads(c), before);
	/* a long read passes through */
	CHECK_EQ_INT(memsrc_read_partial(&m, 0x10000, buf, 2 * MEMCACHE_PAGE), 2 * MEMCACHE_PAGE);
	/* changes are seen after memcache_clear only */
	a[0] ^= 0xff;
	CHECK_EQ_INT(memsrc_read_partial(&m, 0x10000, buf, 1), 1);
	CHECK_EQ_INT(buf[0], (uint8_t)(a[0] ^ 0xff));
	memcache_clear(c);
	CHECK_EQ_INT(memsrc_read_partial(&m, 0x10000, buf, 1), 1);
	CHECK_EQ_INT(buf[0], a[0]);
	/* the top of the address space does not wrap */
	CHECK_EQ_INT(memsrc_read_partial(&m, UINT64_MAX - 3, buf, 8), 0);
	memcache_free(c);
	fake_free(&fm);
}

int main(void)
{
	test_float();
	test_str();
	test_bytes();
	test_int();
	static const uint32_t versions[] = { 0x030912f0, 0x030c01f0, 0x030e0af0 };

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		test_values(versions[i]);
		test_frame(versions[i]);
	}
	test_memcache();
	UNIT_DONE();
}
