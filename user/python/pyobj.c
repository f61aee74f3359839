/* SPDX-License-Identifier: MIT */
/* Python objects read from outside (python/pyobj.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "layouts.h"
#include "pyperf_frame.h"
#include "python/pyobj.h"

#define MAX_INTERPRETERS 256    /* the main interpreter is the last one of the list */
#define MAX_BASES 64            /* tp_base chain */

int pyobj_reader_init(struct pyobj_reader *r, const struct memsrc *m, const struct py_target *t, char *err,
		      size_t errlen)
{
	const struct py_layout *L = &t->layout;
	char v[32];

	memset(r, 0, sizeof(*r));
	r->O = py_obj_layout_find(t->version_hex, NULL);
	if (!r->O) {
		snprintf(err, errlen, "no object layout for CPython %s: objects cannot be read",
			 py_version_str(t->version_hex, v, sizeof(v)));
		return -ENOTSUP;
	}
	r->m = m;
	r->version_hex = t->version_hex;
	r->minor = PY_HEX_MINOR(t->version_hex);
	r->runtime_addr = t->runtime_addr;
	r->runtime_interpreters_head = L->runtime_interpreters_head;
	r->interp_next = L->interp_next;
	r->strl = (struct pystr_layout){
		.state_off = L->unicode_state, .length_off = L->unicode_length,
		.ascii_size = L->unicode_ascii_size, .compact_size = L->unicode_compact_size,
		.kind_shift = L->unicode_kind_shift, .compact_shift = L->unicode_compact_shift,
		.ascii_shift = L->unicode_ascii_shift,
	};
	return 0;
}

bool pyobj_plausible(uint64_t p)
{
	return p >= 4096 && p < PYPERF_USER_ADDR_LIMIT && !(p & 7);
}

bool pyobj_read64(const struct pyobj_reader *r, uint64_t addr, uint64_t *out)
{
	return pyobj_plausible(addr & ~7ull) && memsrc_read(r->m, addr, out, 8) == 0;
}

uint64_t pyobj_ptr_at(const struct pyobj_reader *r, uint64_t addr)
{
	uint64_t v;

	return pyobj_read64(r, addr, &v) && pyobj_plausible(v) ? v : 0;
}

uint64_t pyobj_type(const struct pyobj_reader *r, uint64_t obj)
{
	return pyobj_plausible(obj) ? pyobj_ptr_at(r, obj + r->O->ob_type) : 0;
}

static uint64_t type_flags(const struct pyobj_reader *r, uint64_t tp)
{
	uint64_t f;

	return tp && pyobj_read64(r, tp + r->O->type_flags, &f) ? f : 0;
}

/* obj's type has one of the tp_flags bits (a builtin base type's subclass bit). */
static bool has_flag(const struct pyobj_reader *r, uint64_t obj, uint64_t bit)
{
	return bit && (type_flags(r, pyobj_type(r, obj)) & bit);
}

static bool tp_name_is(const struct pyobj_reader *r, uint64_t tp, const char *name)
{
	char buf[128];
	size_t n = strlen(name) + 1;
	uint64_t np;

	if (!tp || n > sizeof(buf) || !pyobj_read64(r, tp + r->O->type_name, &np) || np < 4096)
		return false;
	return memsrc_read(r->m, np, buf, n) == 0 && memcmp(buf, name, n) == 0;
}

bool pyobj_type_name(const struct pyobj_reader *r, uint64_t obj, char *out, size_t cap)
{
	uint64_t tp = pyobj_type(r, obj), np;

	if (!cap || !tp || !pyobj_read64(r, tp + r->O->type_name, &np) || np < 4096)
		return false;
	size_t got = memsrc_read_partial(r->m, np, out, cap - 1);
	char *nul = memchr(out, 0, got);

	if (!got || nul == out)
		return false;
	if (!nul)
		out[got] = 0; /* cut (or unreadable past got): what was read */
	return true;
}

bool pyobj_is_type(const struct pyobj_reader *r, uint64_t obj, const char *tp_name)
{
	return tp_name_is(r, pyobj_type(r, obj), tp_name);
}

bool pyobj_is_instance(const struct pyobj_reader *r, uint64_t obj, const char *tp_name)
{
	uint64_t tp = pyobj_type(r, obj);

	for (int i = 0; tp && i < MAX_BASES; i++, tp = pyobj_ptr_at(r, tp + r->O->type_base))
		if (tp_name_is(r, tp, tp_name))
			return true;
	return false;
}

/* ---- str ---- */

/* The header of a str: false when obj is no compact str. */
static bool str_header(const struct pyobj_reader *r, uint64_t obj, uint8_t *buf, size_t len, size_t *got,
		       struct pystr_header *h)
{
	if (!has_flag(r, obj, r->O->tpflags_str))
		return false;
	*got = memsrc_read_partial(r->m, obj, buf, len);
	return *got >= r->strl.ascii_size && !pystr_parse_header(&r->strl, buf, *got, h) && h->data_offset <= *got;
}

bool pyobj_str(const struct pyobj_reader *r, uint64_t obj, char *out, size_t cap, int64_t *nchars)
{
	uint8_t hdr[128];
	struct pystr_header h;
	size_t got;

	if (!cap || r->strl.compact_size > sizeof(hdr) || !str_header(r, obj, hdr, r->strl.compact_size, &got, &h))
		return false;
	if (nchars)
		*nchars = h.length;
	/* enough characters to fill out (each is at least one UTF-8 byte) */
	uint64_t want = (uint64_t)h.length < cap ? (uint64_t)h.length : cap;

	want *= h.kind;
	if (want > PYOBJ_STR_READ)
		want = PYOBJ_STR_READ - PYOBJ_STR_READ % h.kind;
	uint8_t buf[PYOBJ_STR_READ];
	size_t have = want ? memsrc_read_partial(r->m, obj + h.data_offset, buf, (size_t)want) : 0;

	have -= have % h.kind;
	pystr_to_utf8(h.kind, buf, have, h.length, out, cap);
	return true;
}

bool pyobj_str_equals(const struct pyobj_reader *r, uint64_t obj, const char *s)
{
	uint8_t buf[512];
	struct pystr_header h;
	size_t n = strlen(s), got;

	/* ASCII keys are the common case: header and text in one read */
	if (n >= 256 || r->strl.compact_size + n > sizeof(buf) ||
	    !str_header(r, obj, buf, r->strl.compact_size + n, &got, &h))
		return false;
	if (h.ascii && h.length == (int64_t)n)
		return h.data_offset + n <= got && memcmp(buf + h.data_offset, s, n) == 0;
	if (h.ascii || h.length > (int64_t)n)
		return false; /* a non-ASCII s has fewer characters than bytes */
	char text[1024];
	int64_t nchars;

	return pyobj_str(r, obj, text, sizeof(text), &nchars) && strcmp(text, s) == 0;
}

/* ---- int ---- */

/* Sign (-1, 0, 1) and digit count of an int; false when obj is no int. */
static bool long_header(const struct pyobj_reader *r, uint64_t obj, int *sign, uint64_t *ndigits)
{
	const struct py_obj_layout *O = r->O;
	uint64_t w;

	if (!has_flag(r, obj, O->tpflags_long) || !pyobj_read64(r, obj + O->long_size, &w))
		return false;
	if (O->long_non_size_bits) {
		unsigned s = w & 3;

		if (s == 3)
			return false;
		*sign = s == 0 ? 1 : s == 1 ? 0 : -1;
		*ndigits = w >> O->long_non_size_bits;
		if ((*sign == 0) != (*ndigits == 0))
			return false;
	} else {
		int64_t sz = (int64_t)w;

		*sign = sz < 0 ? -1 : sz > 0;
		*ndigits = sz < 0 ? -(uint64_t)sz : (uint64_t)sz;
	}
	return *ndigits < (1ull << 40);
}

static uint32_t digit_at(const struct pyobj_reader *r, const uint8_t *d, uint64_t i)
{
	uint32_t v = 0;

	memcpy(&v, d + i * r->O->long_digit_size, r->O->long_digit_size);
	return v & ((1u << r->O->long_shift) - 1);
}

bool pyobj_long(const struct pyobj_reader *r, uint64_t obj, int64_t *out)
{
	const struct py_obj_layout *O = r->O;
	uint64_t ndig, v = 0;
	uint8_t d[16];
	int sign;

	if (O->long_digit_size > 4 || !long_header(r, obj, &sign, &ndig) ||
	    ndig * O->long_shift > 64u + O->long_shift || ndig * O->long_digit_size > sizeof(d) ||
	    (ndig && memsrc_read(r->m, obj + O->long_digits, d, ndig * O->long_digit_size)))
		return false;
	for (uint64_t i = ndig; i-- > 0;) {
		if (v >> (63 - O->long_shift))
			return false; /* does not fit in 63 bits */
		v = (v << O->long_shift) | digit_at(r, d, i);
	}
	if (v > (uint64_t)INT64_MAX)
		return false;
	*out = sign < 0 ? -(int64_t)v : (int64_t)v;
	return true;
}

bool pyobj_long_decimal(const struct pyobj_reader *r, uint64_t obj, char *out, size_t cap)
{
	const struct py_obj_layout *O = r->O;
	static const uint32_t BASE = 1000000000; /* 9 decimal digits per limb */
	uint8_t d[PYOBJ_LONG_MAX_DIGITS * 4];
	/* a 30-bit digit is a little more than a limb (2^30 > 1e9): 1/64 spare */
	uint32_t limb[PYOBJ_LONG_MAX_DIGITS + PYOBJ_LONG_MAX_DIGITS / 64 + 4];
	size_t nlimb = 0;
	uint64_t ndig;
	int sign;

	if (!cap || O->long_digit_size > 4 || O->long_shift > 30 || !long_header(r, obj, &sign, &ndig) ||
	    ndig > PYOBJ_LONG_MAX_DIGITS ||
	    (ndig && memsrc_read(r->m, obj + O->long_digits, d, ndig * O->long_digit_size)))
		return false;
	/* Horner's rule in base 1e9, most significant digit first */
	for (uint64_t i = ndig; i-- > 0;) {
		uint64_t carry = digit_at(r, d, i);

		for (size_t k = 0; k < nlimb; k++) {
			uint64_t x = ((uint64_t)limb[k] << O->long_shift) + carry;

			limb[k] = (uint32_t)(x % BASE);
			carry = x / BASE;
		}
		while (carry && nlimb < sizeof(limb) / sizeof(limb[0])) {
			limb[nlimb++] = (uint32_t)(carry % BASE);
			carry /= BASE;
		}
	}
	char text[sizeof(limb) / sizeof(limb[0]) * 9 + 2];
	size_t n = 0;

	if (sign < 0)
		text[n++] = '-';
	if (!nlimb) {
		text[n++] = '0';
	} else {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%u", limb[nlimb - 1]);
		for (size_t k = nlimb - 1; k-- > 0;)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%09u", limb[k]);
	}
	text[n] = 0;
	if (n < cap) {
		memcpy(out, text, n + 1);
	} else {
		size_t keep = cap > 4 ? cap - 4 : 0;

		memcpy(out, text, keep);
		snprintf(out + keep, cap - keep, "...");
	}
	return true;
}

bool pyobj_float(const struct pyobj_reader *r, uint64_t obj, double *out)
{
	return pyobj_is_instance(r, obj, "float") && memsrc_read(r->m, obj + r->O->float_fval, out, 8) == 0;
}

bool pyobj_bytes(const struct pyobj_reader *r, uint64_t obj, uint8_t *out, size_t cap, int64_t *len)
{
	int64_t n;

	if (!has_flag(r, obj, r->O->tpflags_bytes) || !pyobj_read64(r, obj + r->O->bytes_size, (uint64_t *)&n) || n < 0 ||
	    n >= PYOBJ_MAX_SEQ)
		return false;
	size_t take = (uint64_t)n < cap ? (size_t)n : cap;

	if (take && memsrc_read(r->m, obj + r->O->bytes_sval, out, take))
		return false;
	*len = n;
	return true;
}

/* ---- list, tuple ---- */

int64_t pyobj_seq(const struct pyobj_reader *r, uint64_t obj, uint64_t *items, size_t max)
{
	const struct py_obj_layout *O = r->O;
	uint64_t flags = type_flags(r, pyobj_type(r, obj)), base;
	int64_t n, alloc;

	if (!(flags & (O->tpflags_list | O->tpflags_tuple)) || !pyobj_read64(r, obj + O->ob_size, (uint64_t *)&n) || n < 0 ||
	    n >= PYOBJ_MAX_SEQ)
		return -1;
	if (flags & O->tpflags_list) {
		base = pyobj_ptr_at(r, obj + O->list_items);
		if (!pyobj_read64(r, obj + O->list_allocated, (uint64_t *)&alloc) || n > alloc || (n && !base))
			return -1;
	} else {
		base = obj + O->tuple_items;
	}
	size_t take = (uint64_t)n < max ? (size_t)n : max;

	if (take && memsrc_read(r->m, base, items, take * 8))
		return -1;
	return n;
}

/* ---- dict ---- */

/*
 * Calls fn(ctx, key, value) for every live entry of the keys object keys
 * (values: a split table's values, or 0), in entry order, until fn returns
 * false or max calls were made. Returns false when the keys are unreadable.
 */
static bool keys_each(const struct pyobj_reader *r, uint64_t keys, uint64_t values,
		      bool (*fn)(void *ctx, uint64_t key, uint64_t val), void *ctx, size_t max)
{
	const struct py_obj_layout *O = r->O;
	uint8_t hdr[64];
	uint64_t size, index_bytes;
	size_t esz, koff;
	int64_t nentries;

	if (!pyobj_plausible(keys) || O->keys_indices > sizeof(hdr) || memsrc_read(r->m, keys, hdr, O->keys_indices))
		return false;
	memcpy(&nentries, hdr + O->keys_nentries, 8);
	if (O->keys_size != PY_OFF_NONE) { /* 3.8-3.10: dk_size, index width from it */
		int64_t sz;

		memcpy(&sz, hdr + O->keys_size, 8);
		if (sz < 8 || sz > (1ll << 30) || (sz & (sz - 1)))
			return false;
		size = (uint64_t)sz;
		index_bytes = size * (size <= 0xff ? 1 : size <= 0xffff ? 2 : 4);
		esz = O->keys_entry_size;
		koff = 8;
	} else {
		uint8_t log2_size = hdr[O->keys_log2_size], log2_index = hdr[O->keys_log2_index_bytes];

		if (log2_size > 30 || log2_index > 32 || log2_index < log2_size)
			return false;
		size = 1ull << log2_size;
		index_bytes = 1ull << log2_index;
		esz = hdr[O->keys_kind] == 0 ? O->keys_entry_size : O->keys_unicode_entry_size;
		koff = hdr[O->keys_kind] == 0 ? 8 : 0;
	}
	if (nentries < 0 || (uint64_t)nentries > size || esz < 16 || esz > 24)
		return false;
	if (nentries > PYOBJ_MAX_DICT)
		nentries = PYOBJ_MAX_DICT;
	uint64_t entries = keys + O->keys_indices + index_bytes;
	uint64_t chunk[3 * 64], vals[64];
	size_t calls = 0;

	for (int64_t i = 0; i < nentries && calls < max; i += 64) {
		size_t n = (size_t)(nentries - i < 64 ? nentries - i : 64);

		if (memsrc_read(r->m, entries + (uint64_t)i * esz, chunk, n * esz))
			return false;
		if (values && memsrc_read(r->m, values + O->dictvalues_values + (uint64_t)i * 8, vals, n * 8))
			return false;
		for (size_t j = 0; j < n && calls < max; j++) {
			uint64_t key = chunk[(j * esz + koff) / 8];
			uint64_t val = values ? vals[j] : chunk[(j * esz + koff) / 8 + 1];

			/* deleted: key NULL (3.11+) or the dummy key with value NULL */
			if (!key || !val)
				continue;
			calls++;
			if (!fn(ctx, key, val))
				return true;
		}
	}
	return true;
}

/* A dict's keys and (split) values; *used its length. */
static bool dict_parts(const struct pyobj_reader *r, uint64_t dict, uint64_t *keys, uint64_t *values, int64_t *used)
{
	const struct py_obj_layout *O = r->O;

	if (!has_flag(r, dict, O->tpflags_dict) || !pyobj_read64(r, dict + O->dict_keys, keys) ||
	    !pyobj_read64(r, dict + O->dict_values, values) || !pyobj_read64(r, dict + O->dict_used, (uint64_t *)used) ||
	    *used < 0 || *used > PYOBJ_MAX_DICT * 64ll)
		return false;
	return pyobj_plausible(*keys) && (!*values || pyobj_plausible(*values));
}

int64_t pyobj_dict_each(const struct pyobj_reader *r, uint64_t dict, bool (*fn)(void *ctx, uint64_t key, uint64_t val),
			void *ctx, size_t max)
{
	uint64_t keys, values;
	int64_t used;

	if (!dict_parts(r, dict, &keys, &values, &used) || !keys_each(r, keys, values, fn, ctx, max))
		return -1;
	return used;
}

struct find_key {
	const struct pyobj_reader *r;
	const char *s;
	int64_t i;
	uint64_t val;
	bool found;
};

static bool match_str(void *ctx, uint64_t key, uint64_t val)
{
	struct find_key *f = ctx;

	if (!pyobj_str_equals(f->r, key, f->s))
		return true;
	f->val = val;
	f->found = true;
	return false;
}

static bool match_int(void *ctx, uint64_t key, uint64_t val)
{
	struct find_key *f = ctx;
	int64_t k;

	if (!pyobj_long(f->r, key, &k) || k != f->i)
		return true;
	f->val = val;
	f->found = true;
	return false;
}

static bool keys_find(const struct pyobj_reader *r, uint64_t keys, uint64_t values, struct find_key *f,
		      bool (*match)(void *, uint64_t, uint64_t), uint64_t *val)
{
	if (!keys_each(r, keys, values, match, f, PYOBJ_MAX_DICT) || !f->found)
		return false;
	*val = f->val;
	return true;
}

bool pyobj_dict_get_str(const struct pyobj_reader *r, uint64_t dict, const char *key, uint64_t *val)
{
	struct find_key f = { .r = r, .s = key };
	uint64_t keys, values;
	int64_t used;

	return dict_parts(r, dict, &keys, &values, &used) && keys_find(r, keys, values, &f, match_str, val);
}

bool pyobj_dict_get_int(const struct pyobj_reader *r, uint64_t dict, int64_t key, uint64_t *val)
{
	struct find_key f = { .r = r, .i = key };
	uint64_t keys, values;
	int64_t used;

	return dict_parts(r, dict, &keys, &values, &used) && keys_find(r, keys, values, &f, match_int, val);
}

/* ---- set ---- */

int64_t pyobj_set_each(const struct pyobj_reader *r, uint64_t set, bool (*fn)(void *ctx, uint64_t key), void *ctx,
		       size_t max)
{
	const struct py_obj_layout *O = r->O;
	int64_t mask, used;
	uint64_t table;
	size_t calls = 0, esz = O->setentry_size;

	if (!(pyobj_is_instance(r, set, "set") || pyobj_is_instance(r, set, "frozenset")) ||
	    !pyobj_read64(r, set + O->set_mask, (uint64_t *)&mask) || !pyobj_read64(r, set + O->set_used, (uint64_t *)&used) ||
	    !pyobj_read64(r, set + O->set_table, &table) || mask < 0 || mask >= PYOBJ_MAX_SET || ((mask + 1) & mask) ||
	    used < 0 || used > mask + 1 || !pyobj_plausible(table) || esz != 16)
		return -1;
	uint64_t chunk[2 * 256];

	for (int64_t i = 0; i <= mask && calls < max; i += 256) {
		size_t n = (size_t)(mask + 1 - i < 256 ? mask + 1 - i : 256);

		if (memsrc_read(r->m, table + (uint64_t)i * esz, chunk, n * esz))
			return -1;
		for (size_t j = 0; j < n && calls < max; j++) {
			uint64_t key = chunk[2 * j];
			int64_t hash = (int64_t)chunk[2 * j + O->setentry_hash / 8];

			/* a removed key leaves the dummy object with hash -1 */
			if (!pyobj_plausible(key) || hash == -1)
				continue;
			calls++;
			if (!fn(ctx, key))
				return used;
		}
	}
	return used;
}

/* ---- attributes ---- */

bool pyobj_getattr(const struct pyobj_reader *r, uint64_t obj, const char *name, uint64_t *val)
{
	const struct py_obj_layout *O = r->O;
	uint64_t tp = pyobj_type(r, obj), flags, basic;
	int64_t dictoff;
	struct find_key f = { .r = r, .s = name };

	if (!tp || !pyobj_read64(r, tp + O->type_flags, &flags) || !pyobj_read64(r, tp + O->type_dictoffset, (uint64_t *)&dictoff) ||
	    !pyobj_read64(r, tp + O->type_basicsize, &basic) || basic > 65536)
		return false;
	if (flags & O->tpflags_managed_dict) {
		uint64_t w, keys = pyobj_ptr_at(r, tp + O->heaptype_cached_keys), values = 0;

		if (!pyobj_read64(r, obj + O->managed_dict, &w))
			return false;
		if (O->managed_tagged_values && (w & 1))
			values = w + 1;         /* 3.12: the values pointer - 1 */
		else if (pyobj_plausible(w))
			return pyobj_dict_get_str(r, w, name, val);
		else if (O->managed_values)
			values = pyobj_ptr_at(r, obj + O->managed_values);
		else if ((flags & O->tpflags_inline_values) && O->dictvalues_valid != PY_OFF_NONE) {
			uint8_t valid;

			values = obj + basic;
			if (memsrc_read(r->m, values + O->dictvalues_valid, &valid, 1) || !valid)
				return false;
		}
		return pyobj_plausible(values) && keys && keys_find(r, keys, values, &f, match_str, val);
	}
	if (dictoff < 0) { /* variable-size instances: counted from the end */
		int64_t n, item;

		if (!pyobj_read64(r, obj + O->ob_size, (uint64_t *)&n) || !pyobj_read64(r, tp + O->type_itemsize, (uint64_t *)&item) ||
		    item < 0 || item > 64 || n < -(1ll << 40) || n > (1ll << 40))
			return false;
		dictoff += (int64_t)((basic + (uint64_t)(n < 0 ? -n : n) * (uint64_t)item + 7) & ~7ull);
	}
	if (dictoff <= 0 || dictoff > (1ll << 30))
		return false;
	uint64_t d = pyobj_ptr_at(r, obj + (uint64_t)dictoff);

	return d && pyobj_dict_get_str(r, d, name, val);
}

uint64_t pyobj_module(const struct pyobj_reader *r, const char *name)
{
	uint64_t interp = pyobj_ptr_at(r, r->runtime_addr + r->runtime_interpreters_head), mod;

	/* new interpreters are pushed at the head: the main one is last */
	for (int i = 0; interp; i++) {
		uint64_t next = pyobj_ptr_at(r, interp + r->interp_next);

		if (!next)
			break;
		if (i == MAX_INTERPRETERS)
			return 0; /* a list that does not end */
		interp = next;
	}
	uint64_t modules = interp ? pyobj_ptr_at(r, interp + r->O->interp_modules) : 0;

	return modules && pyobj_dict_get_str(r, modules, name, &mod) && pyobj_plausible(mod) ? mod : 0;
}
