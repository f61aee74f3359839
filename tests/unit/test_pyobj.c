/*
 * Unit tests for user/python/pyobj.c on a fake target memory: objects built
 * by hand with each version's layout (3.8 dicts with dk_size, 3.11+ dk_kind
 * and split values, managed dicts of 3.11 and 3.12, inline values of
 * 3.13+), then hostile ones: lengths past the memory, tables that claim
 * more than they hold, a type whose base is itself, a dict holding itself.
 * Every read must end, and fail rather than guess.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layouts.h"
#include "object_layouts.h"
#include "python/pyobj.h"
#include "fakemem.h"
#include "unit.h"

#define HEAP 0x100000ull
#define HEAP_SIZE (1u << 20)
#define RUNTIME 0x80000ull

struct heap {
	struct fakemem fm;
	struct memsrc m;
	struct py_target t;
	const struct py_obj_layout *O;
	const struct py_layout *L;
	struct pyobj_reader r;
	uint8_t *mem;
	uint64_t top;
	/* types */
	uint64_t str_t, int_t, bool_t, dict_t, list_t, tuple_t, set_t, float_t, bytes_t, none_t, module_t;
};

static uint8_t *at(struct heap *h, uint64_t addr)
{
	return h->mem + (addr - HEAP);
}

static uint64_t alloc(struct heap *h, size_t n)
{
	uint64_t a = h->top;

	h->top += (n + 15) & ~(size_t)15;
	if (h->top > HEAP + HEAP_SIZE)
		abort();
	return a;
}

static uint64_t mktype(struct heap *h, const char *name, uint64_t flags, uint64_t basic, int64_t dictoff,
		       uint64_t base)
{
	uint64_t tp = alloc(h, 1024), np = alloc(h, strlen(name) + 1);

	memcpy(at(h, np), name, strlen(name) + 1);
	put64(at(h, tp), h->O->type_name, np);
	put64(at(h, tp), h->O->type_flags, flags);
	put64(at(h, tp), h->O->type_basicsize, basic);
	put64(at(h, tp), h->O->type_dictoffset, (uint64_t)dictoff);
	put64(at(h, tp), h->O->type_base, base);
	return tp;
}

static uint64_t mkobj(struct heap *h, uint64_t type, size_t size)
{
	uint64_t o = alloc(h, size);

	put64(at(h, o), h->O->ob_type, type);
	return o;
}

/* An ASCII str claiming len characters. */
static uint64_t mkstr_len(struct heap *h, const char *s, int64_t len)
{
	const struct py_layout *L = h->L;
	uint64_t o = mkobj(h, h->str_t, L->unicode_ascii_size + strlen(s) + 1);
	uint32_t state = (1u << L->unicode_kind_shift) | (1u << L->unicode_compact_shift) |
			 (1u << L->unicode_ascii_shift);

	memcpy(at(h, o) + L->unicode_state, &state, 4);
	memcpy(at(h, o) + L->unicode_length, &len, 8);
	memcpy(at(h, o) + L->unicode_ascii_size, s, strlen(s) + 1);
	return o;
}

static uint64_t mkstr(struct heap *h, const char *s)
{
	return mkstr_len(h, s, (int64_t)strlen(s));
}

/* An int of ndig digits (least significant first), sign -1/0/1. */
static uint64_t mkint_digits(struct heap *h, int sign, const uint32_t *d, uint64_t ndig, uint64_t type)
{
	const struct py_obj_layout *O = h->O;
	uint64_t o = mkobj(h, type, O->long_digits + 4 * (ndig ? ndig : 1));
	uint64_t w;

	if (O->long_non_size_bits)
		w = (ndig << O->long_non_size_bits) | (uint64_t)(sign > 0 ? 0 : sign == 0 ? 1 : 2);
	else
		w = (uint64_t)(sign < 0 ? -(int64_t)ndig : (int64_t)ndig);
	put64(at(h, o), O->long_size, w);
	memcpy(at(h, o) + O->long_digits, d, 4 * ndig);
	return o;
}

static uint64_t mkint(struct heap *h, int64_t v)
{
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	uint32_t d[3];
	uint64_t n = 0;

	for (; u; u >>= 30)
		d[n++] = (uint32_t)(u & 0x3fffffff);
	return mkint_digits(h, v < 0 ? -1 : v > 0, d, n, h->int_t);
}

/*
 * A keys object of 8 slots holding n entries (a NULL key: deleted), as a
 * combined (values == NULL) or split table; kind 0 general, 1 unicode
 * (3.11+). Returns the keys; *values_out the split values array.
 */
static uint64_t mkkeys(struct heap *h, const uint64_t *keys, const uint64_t *vals, size_t n, int kind, bool split,
		       uint64_t *values_out)
{
	const struct py_obj_layout *O = h->O;
	size_t esz = O->keys_size != PY_OFF_NONE || kind == 0 ? O->keys_entry_size : O->keys_unicode_entry_size;
	size_t koff = O->keys_size != PY_OFF_NONE || kind == 0 ? 8 : 0;
	uint64_t k = alloc(h, O->keys_indices + 8 + 8 * esz);
	uint8_t *p = at(h, k);

	if (O->keys_size != PY_OFF_NONE) {
		put64(p, O->keys_size, 8);
	} else {
		p[O->keys_log2_size] = 3;
		p[O->keys_log2_index_bytes] = 3;
		p[O->keys_kind] = (uint8_t)kind;
	}
	put64(p, O->keys_nentries, n);
	uint8_t *e = p + O->keys_indices + 8;
	uint64_t values = split ? alloc(h, O->dictvalues_values + 8 * 8) : 0;

	for (size_t i = 0; i < n; i++) {
		put64(e, i * esz + koff, keys[i]);
		if (split)
			put64(at(h, values), O->dictvalues_values + 8 * i, vals[i]);
		else
			put64(e, i * esz + koff + 8, vals[i]);
	}
	if (values_out)
		*values_out = values;
	return k;
}

static uint64_t mkdict(struct heap *h, const uint64_t *keys, const uint64_t *vals, size_t n, int kind, bool split)
{
	uint64_t values, k = mkkeys(h, keys, vals, n, kind, split, &values), d = mkobj(h, h->dict_t, 64);
	size_t used = 0;

	for (size_t i = 0; i < n; i++)
		used += keys[i] && vals[i];
	put64(at(h, d), h->O->dict_used, used);
	put64(at(h, d), h->O->dict_keys, k);
	put64(at(h, d), h->O->dict_values, values);
	return d;
}

static void heap_init(struct heap *h, uint32_t version)
{
	char err[256];

	memset(h, 0, sizeof(*h));
	h->L = py_layout_find(version, NULL);
	h->O = py_obj_layout_find(version, NULL);
	if (!h->L || !h->O)
		abort();
	h->m = src_of(&h->fm);
	h->t.version_hex = version;
	h->t.layout = *h->L;
	h->t.runtime_addr = RUNTIME;
	h->mem = region(&h->fm, HEAP, HEAP_SIZE);
	h->top = HEAP + 4096;
	const struct py_obj_layout *O = h->O;

	h->str_t = mktype(h, "str", O->tpflags_str, 0, 0, 0);
	h->int_t = mktype(h, "int", O->tpflags_long, 0, 0, 0);
	h->bool_t = mktype(h, "bool", O->tpflags_long, 0, 0, h->int_t);
	h->dict_t = mktype(h, "dict", O->tpflags_dict, 0, 0, 0);
	h->list_t = mktype(h, "list", O->tpflags_list, 0, 0, 0);
	h->tuple_t = mktype(h, "tuple", O->tpflags_tuple, 0, 0, 0);
	h->set_t = mktype(h, "set", 0, 0, 0, 0);
	h->float_t = mktype(h, "float", 0, 0, 0, 0);
	h->bytes_t = mktype(h, "bytes", O->tpflags_bytes, 0, 0, 0);
	h->none_t = mktype(h, "NoneType", 0, 0, 0, 0);
	h->module_t = mktype(h, "module", 0, 64, (int64_t)O->module_dict, 0);
	if (pyobj_reader_init(&h->r, &h->m, &h->t, err, sizeof(err)))
		abort();
}

static void heap_free(struct heap *h)
{
	fake_free(&h->fm);
}

/* ---- scalars ---- */

static void test_scalars(uint32_t version)
{
	struct heap h;
	char buf[256];
	int64_t v, n;
	double d;
	uint8_t b[8];

	heap_init(&h, version);
	const struct pyobj_reader *r = &h.r;
	uint64_t s = mkstr(&h, "request-worker");

	CHECK(pyobj_str(r, s, buf, sizeof(buf), &n) && !strcmp(buf, "request-worker") && n == 14);
	CHECK(pyobj_str_equals(r, s, "request-worker"));
	CHECK(!pyobj_str_equals(r, s, "request-worke"));
	CHECK(pyobj_str(r, s, buf, 8, NULL) && !strcmp(buf, "requ..."));
	CHECK(pyobj_type_name(r, s, buf, sizeof(buf)) && !strcmp(buf, "str"));
	CHECK(pyobj_is_type(r, s, "str") && !pyobj_is_type(r, s, "int"));
	/* a length far past the object: cut, never read past the memory */
	uint64_t liar = mkstr_len(&h, "liar", (int64_t)1 << 40);

	CHECK(pyobj_str(r, liar, buf, sizeof(buf), &n) && !strncmp(buf, "liar", 4) && n == (int64_t)1 << 40);
	CHECK(!pyobj_str_equals(r, liar, "liar"));

	int64_t ints[] = { 0, 1, -1, 1 << 30, -123456789, INT64_MAX, INT64_MIN + 1 };

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		uint64_t o = mkint(&h, ints[i]);
		char want[32];

		CHECK(pyobj_long(r, o, &v) && v == ints[i]);
		snprintf(want, sizeof(want), "%lld", (long long)ints[i]);
		CHECK(pyobj_long_decimal(r, o, buf, sizeof(buf)) && !strcmp(buf, want));
	}
	/* 2**100 and -(2**100): too big for int64, exact in decimal */
	uint32_t d100[4] = { 0, 0, 0, 1u << 10 };
	uint64_t big = mkint_digits(&h, 1, d100, 4, h.int_t), nbig = mkint_digits(&h, -1, d100, 4, h.int_t);

	CHECK(!pyobj_long(r, big, &v));
	CHECK(pyobj_long_decimal(r, big, buf, sizeof(buf)) && !strcmp(buf, "1267650600228229401496703205376"));
	CHECK(pyobj_long_decimal(r, nbig, buf, sizeof(buf)) && !strcmp(buf, "-1267650600228229401496703205376"));
	CHECK(pyobj_long_decimal(r, big, buf, 12) && !strcmp(buf, "12676506...")); /* cut to cap */
	/* a digit count past the memory, or past the bound */
	uint64_t huge = mkint_digits(&h, 1, d100, 4, h.int_t);

	put64(at(&h, huge), h.O->long_size,
	      h.O->long_non_size_bits ? (uint64_t)1 << 40 : (uint64_t)1 << 39);
	CHECK(!pyobj_long(r, huge, &v));
	CHECK(!pyobj_long_decimal(r, huge, buf, sizeof(buf)));
	/* bool is an int subclass */
	uint32_t one = 1;
	uint64_t t = mkint_digits(&h, 1, &one, 1, h.bool_t);

	CHECK(pyobj_long(r, t, &v) && v == 1 && pyobj_is_instance(r, t, "int") && pyobj_is_type(r, t, "bool"));
	/* a str is no int */
	CHECK(!pyobj_long(r, s, &v) && !pyobj_long_decimal(r, s, buf, sizeof(buf)));

	uint64_t f = mkobj(&h, h.float_t, 32);
	double x = 3.25;

	memcpy(at(&h, f) + h.O->float_fval, &x, 8);
	CHECK(pyobj_float(r, f, &d) && d == 3.25);
	CHECK(!pyobj_float(r, s, &d));

	uint64_t by = mkobj(&h, h.bytes_t, 64);

	put64(at(&h, by), h.O->bytes_size, 4);
	memcpy(at(&h, by) + h.O->bytes_sval, "\x00\xff" "ab", 4);
	CHECK(pyobj_bytes(r, by, b, sizeof(b), &n) && n == 4 && !memcmp(b, "\x00\xff" "ab", 4));
	CHECK(pyobj_bytes(r, by, b, 2, &n) && n == 4);
	put64(at(&h, by), h.O->bytes_size, (uint64_t)-5);
	CHECK(!pyobj_bytes(r, by, b, sizeof(b), &n));

	/* unreadable and misaligned objects */
	CHECK(!pyobj_type(r, 0xdead0000ull) && !pyobj_type(r, s + 3) && !pyobj_type(r, 0));
	CHECK(!pyobj_str(r, 0xdead0000ull, buf, sizeof(buf), NULL));
	/* a type whose base is itself: the walk ends */
	uint64_t loop_t = mktype(&h, "Loop", 0, 0, 0, 0);

	put64(at(&h, loop_t), h.O->type_base, loop_t);
	CHECK(!pyobj_is_instance(r, mkobj(&h, loop_t, 32), "object"));
	heap_free(&h);
}

/* ---- containers ---- */

struct seen {
	uint64_t keys[16], vals[16];
	size_t n;
	size_t stop_after;
};

static bool seen_kv(void *ctx, uint64_t k, uint64_t v)
{
	struct seen *s = ctx;

	if (s->n < 16) {
		s->keys[s->n] = k;
		s->vals[s->n] = v;
	}
	s->n++;
	return s->n != s->stop_after;
}

static bool seen_k(void *ctx, uint64_t k)
{
	return seen_kv(ctx, k, 0);
}

static void test_containers(uint32_t version)
{
	struct heap h;
	uint64_t v, items[4];

	heap_init(&h, version);
	const struct pyobj_reader *r = &h.r;
	uint64_t a = mkstr(&h, "alpha"), b = mkstr(&h, "beta"), c = mkstr(&h, "gamma");
	uint64_t one = mkint(&h, 1), two = mkint(&h, 2), three = mkint(&h, 3);

	/* combined unicode-keyed dict with a deleted entry in the middle */
	uint64_t ks[] = { a, 0, c }, vs[] = { one, 0, three };

	for (int kind = 0; kind < 2; kind++) {
		uint64_t d = mkdict(&h, ks, vs, 3, kind, false);
		struct seen s = { 0 };

		CHECK(pyobj_dict_get_str(r, d, "gamma", &v) && v == three);
		CHECK(!pyobj_dict_get_str(r, d, "beta", &v));
		CHECK_EQ_INT(pyobj_dict_each(r, d, seen_kv, &s, 16), 2);
		CHECK(s.n == 2 && s.keys[0] == a && s.vals[1] == three);
	}
	/* int keys (threading._active) */
	uint64_t iks[] = { one, two }, ivs[] = { a, b };
	uint64_t di = mkdict(&h, iks, ivs, 2, 0, false);

	CHECK(pyobj_dict_get_int(r, di, 2, &v) && v == b);
	CHECK(!pyobj_dict_get_int(r, di, 3, &v));
	/* split table */
	uint64_t sks[] = { a, b }, svs[] = { two, three };
	uint64_t ds = mkdict(&h, sks, svs, 2, 1, true);

	CHECK(pyobj_dict_get_str(r, ds, "beta", &v) && v == three);
	/* max and an early stop bound the walk */
	struct seen s1 = { 0 }, s2 = { .stop_after = 1 };

	CHECK_EQ_INT(pyobj_dict_each(r, ds, seen_kv, &s1, 1), 2);
	CHECK_EQ_INT(s1.n, 1);
	CHECK_EQ_INT(pyobj_dict_each(r, ds, seen_kv, &s2, 16), 2);
	CHECK_EQ_INT(s2.n, 1);
	/* a dict holding itself is just a value */
	uint64_t self_k[] = { a }, self_v[] = { 0 };
	uint64_t dself = mkdict(&h, self_k, self_v, 1, 1, false);

	put64(at(&h, pyobj_ptr_at(r, dself + h.O->dict_keys)), h.O->keys_indices + 8 +
	      (h.O->keys_size != PY_OFF_NONE ? 16 : 8), dself);
	CHECK(pyobj_dict_get_str(r, dself, "alpha", &v) && v == dself);
	/* garbage: more entries than slots, a huge table, not a dict */
	uint64_t bad = mkdict(&h, ks, vs, 3, 1, false), bkeys = pyobj_ptr_at(r, bad + h.O->dict_keys);

	put64(at(&h, bkeys), h.O->keys_nentries, 9);
	CHECK_EQ_INT(pyobj_dict_each(r, bad, seen_kv, &(struct seen){ 0 }, 16), -1);
	if (h.O->keys_size != PY_OFF_NONE)
		put64(at(&h, bkeys), h.O->keys_size, (uint64_t)1 << 29);
	else
		at(&h, bkeys)[h.O->keys_log2_size] = at(&h, bkeys)[h.O->keys_log2_index_bytes] = 29;
	put64(at(&h, bkeys), h.O->keys_nentries, (uint64_t)1 << 28);
	CHECK_EQ_INT(pyobj_dict_each(r, bad, seen_kv, &(struct seen){ 0 }, 16), -1); /* entries unreadable */
	CHECK(!pyobj_dict_get_str(r, a, "alpha", &v));

	/* list and tuple */
	uint64_t arr = alloc(&h, 32), lst = mkobj(&h, h.list_t, 64), tup = mkobj(&h, h.tuple_t, 64);

	put64(at(&h, arr), 0, one);
	put64(at(&h, arr), 8, two);
	put64(at(&h, lst), h.O->ob_size, 2);
	put64(at(&h, lst), h.O->list_allocated, 4);
	put64(at(&h, lst), h.O->list_items, arr);
	CHECK_EQ_INT(pyobj_seq(r, lst, items, 4), 2);
	CHECK(items[0] == one && items[1] == two);
	put64(at(&h, lst), h.O->ob_size, 5); /* more than allocated */
	CHECK_EQ_INT(pyobj_seq(r, lst, items, 4), -1);
	put64(at(&h, tup), h.O->ob_size, 3);
	put64(at(&h, tup), h.O->tuple_items, a);
	put64(at(&h, tup), h.O->tuple_items + 8, b);
	CHECK_EQ_INT(pyobj_seq(r, tup, items, 2), 3); /* the first max items */
	CHECK(items[0] == a && items[1] == b);
	put64(at(&h, tup), h.O->ob_size, (uint64_t)1 << 50);
	CHECK_EQ_INT(pyobj_seq(r, tup, items, 2), -1);
	CHECK_EQ_INT(pyobj_seq(r, a, items, 2), -1);

	/* set: live keys, the dummy (hash -1) and empty slots skipped */
	uint64_t table = alloc(&h, 8 * 16), set = mkobj(&h, h.set_t, 256);

	put64(at(&h, table), 16 * 1, a);
	put64(at(&h, table), 16 * 1 + 8, 1234);
	put64(at(&h, table), 16 * 5, b);
	put64(at(&h, table), 16 * 5 + 8, (uint64_t)-1);
	put64(at(&h, set), h.O->set_mask, 7);
	put64(at(&h, set), h.O->set_used, 1);
	put64(at(&h, set), h.O->set_table, table);
	struct seen ss = { 0 };

	CHECK_EQ_INT(pyobj_set_each(r, set, seen_k, &ss, 16), 1);
	CHECK(ss.n == 1 && ss.keys[0] == a);
	put64(at(&h, set), h.O->set_mask, ((uint64_t)1 << 40) - 1);
	CHECK_EQ_INT(pyobj_set_each(r, set, seen_k, &ss, 16), -1);
	put64(at(&h, set), h.O->set_mask, 6); /* not a power of two minus one */
	CHECK_EQ_INT(pyobj_set_each(r, set, seen_k, &ss, 16), -1);
	heap_free(&h);
}

/* ---- instance attributes and sys.modules ---- */

static void test_attributes(uint32_t version)
{
	struct heap h;
	uint64_t v;

	heap_init(&h, version);
	const struct pyobj_reader *r = &h.r;
	const struct py_obj_layout *O = h.O;
	uint64_t name = mkstr(&h, "db-pool-1"), k_name = mkstr(&h, "_name"), k_id = mkstr(&h, "_ident");
	uint64_t id = mkint(&h, 77);
	uint64_t ks[] = { k_name, k_id }, vs[] = { name, id };
	uint64_t basic = 32;
	uint64_t obj;

	if (!O->tpflags_managed_dict) { /* 3.8-3.10: __dict__ at tp_dictoffset */
		uint64_t tp = mktype(&h, "Thread", 0, basic, 16, 0);

		obj = mkobj(&h, tp, basic);
		put64(at(&h, obj), 16, mkdict(&h, ks, vs, 2, 1, false));
	} else {
		uint64_t values, keys = mkkeys(&h, ks, vs, 2, 2, true, &values);
		uint64_t flags = O->tpflags_managed_dict | O->tpflags_inline_values;
		uint64_t tp = mktype(&h, "Thread", flags, basic, -1, 0);

		put64(at(&h, tp), O->heaptype_cached_keys, keys);
		/* room for the pre-header before the object */
		obj = alloc(&h, 64 + basic + O->dictvalues_values + 16) + 64;
		put64(at(&h, obj), O->ob_type, tp);
		if (O->managed_values) {                         /* 3.11 */
			put64(at(&h, obj), (uint64_t)(int64_t)O->managed_values, values);
		} else if (O->managed_tagged_values) {           /* 3.12 */
			put64(at(&h, obj), (uint64_t)(int64_t)O->managed_dict, values - 1);
		} else {                                         /* 3.13+: inline */
			memcpy(at(&h, obj + basic), at(&h, values), O->dictvalues_values + 16);
			at(&h, obj + basic)[O->dictvalues_valid] = 1;
		}
	}
	CHECK(pyobj_getattr(r, obj, "_name", &v) && v == name);
	CHECK(pyobj_getattr(r, obj, "_ident", &v) && v == id);
	CHECK(!pyobj_getattr(r, obj, "_other", &v));
	if (O->tpflags_inline_values) {
		/* values no longer valid: the materialized dict is used */
		at(&h, obj + basic)[O->dictvalues_valid] = 0;
		CHECK(!pyobj_getattr(r, obj, "_name", &v));
		uint64_t k2[] = { k_name }, v2[] = { id };

		put64(at(&h, obj), (uint64_t)(int64_t)O->managed_dict, mkdict(&h, k2, v2, 1, 1, false));
		CHECK(pyobj_getattr(r, obj, "_name", &v) && v == id);
	}
	/* sys.modules of the main interpreter: the last of the list */
	uint64_t interp_sub = alloc(&h, 16384), interp_main = alloc(&h, 16384);
	uint64_t mod = mkobj(&h, h.module_t, 64), mk[] = { mkstr(&h, "threading") }, mv[] = { mod };
	uint64_t mdk[] = { mkstr(&h, "_active") }, mdv[] = { id };
	uint8_t *rt = region(&h.fm, RUNTIME, 4096);

	put64(rt, h.L->runtime_interpreters_head, interp_sub);
	put64(at(&h, interp_sub), h.L->interp_next, interp_main);
	put64(at(&h, interp_main), O->interp_modules, mkdict(&h, mk, mv, 1, 1, false));
	put64(at(&h, mod), O->module_dict, mkdict(&h, mdk, mdv, 1, 1, false));
	CHECK_EQ_INT(pyobj_module(r, "threading"), mod);
	CHECK_EQ_INT(pyobj_module(r, "asyncio"), 0);
	CHECK(pyobj_getattr(r, mod, "_active", &v) && v == id);
	/* an interpreter list that loops onto itself ends */
	put64(at(&h, interp_main), h.L->interp_next, interp_sub);
	CHECK_EQ_INT(pyobj_module(r, "threading"), 0);
	heap_free(&h);
}

int main(void)
{
	static const uint32_t versions[] = { 0x030812f0, 0x030a0df0, 0x030b07f0, 0x030c01f0, 0x030d00f0, 0x030e0af0,
					     0x030f02f0 };

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		int before = unit_failed;

		test_scalars(versions[i]);
		test_containers(versions[i]);
		test_attributes(versions[i]);
		if (unit_failed != before)
			fprintf(stderr, "(failures above: CPython 0x%08x)\n", versions[i]);
	}
	UNIT_DONE();
}
