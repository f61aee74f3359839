/* SPDX-License-Identifier: MIT */
/*
 * Local variables of a frame (see pylocals.h). The names and kinds of a code
 * object are read once and kept by address; values are printed fresh for
 * every frame, each bounded in depth, items and bytes read.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python/pylocals.h"
#include "pyperf_frame.h"
#include "util/utf8.h"

#define NAME_MAX_BYTES 128         /* a variable's name is cut there */
#define TYPE_NAME_MAX 96
#define LONG_TEXT_MAX (PYOBJ_LONG_MAX_DIGITS * 10 + 16)
#define MAX_SLOTS 65536            /* a code object claiming more is garbage */

/* ------------------------------------------------------------ output */

/* Text built piece by piece into cap bytes; a piece that does not fit (with
 * room left for "..." and the NUL) ends it, so UTF-8 is never split. */
struct out {
	char *p;
	size_t cap, len;
	bool cut;
};

static struct out out_start(char *p, size_t cap)
{
	struct out o = { p, cap, 0, false };

	if (cap)
		p[0] = 0;
	return o;
}

static void out_add(struct out *o, const char *s, size_t n)
{
	if (o->cut)
		return;
	if (o->cap < 4 || o->len + n + 4 > o->cap) {
		o->cut = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

static void out_puts(struct out *o, const char *s)
{
	out_add(o, s, strlen(s));
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	va_end(ap);
	if (n >= 0)
		out_add(o, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Ends the text: "..." after a cut. */
static void out_end(struct out *o)
{
	if (!o->cap)
		return;
	if (o->cut) {
		size_t room = o->cap - 1 - o->len;

		memcpy(o->p + o->len, "...", room < 3 ? room : 3);
		o->len += room < 3 ? room : 3;
	}
	o->p[o->len] = 0;
}

/* ------------------------------------------------------------ repr pieces */

void pylocals_repr_float(double v, char *out, size_t cap)
{
	char e[40], digits[24], text[64];
	int exp10 = 0;
	size_t nd = 0;

	if (!cap)
		return;
	if (isnan(v) || isinf(v)) {
		snprintf(out, cap, "%s", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
		return;
	}
	/* The fewest significant digits that read back as v (Python's repr):
	 * a double that has a text of up to 15 digits gets it back from the
	 * 15-digit rounding (DBL_DIG), trailing zeros dropped below; else 16
	 * or 17 digits. Subnormals have fewer digits: tried from 1. */
	for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	const char *p = e + (e[0] == '-');

	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && nd < sizeof(digits) - 1)
			digits[nd++] = *p;
	if (*p == 'e')
		exp10 = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = 0;
	/* decpt: where the decimal point goes after digits[0..]; Python
	 * switches to exponent form outside -4 < decpt <= 16. */
	int decpt = exp10 + 1;
	size_t n = 0;

	if (signbit(v))
		text[n++] = '-';
	if (decpt > -4 && decpt <= 16) {
		if (decpt <= 0) {
			n += (size_t)snprintf(text + n, sizeof(text) - n, "0.%.*s%s", -decpt, "0000", digits);
		} else if ((size_t)decpt >= nd) {
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%.*s.0", digits, decpt - (int)nd,
					      "0000000000000000");
		} else {
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%.*s.%s", decpt, digits, digits + decpt);
		}
	} else {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%c%s%s%s%c%02d", digits[0], nd > 1 ? "." : "",
				      digits + 1, "e", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
	}
	struct out o = out_start(out, cap);

	out_add(&o, text, n < sizeof(text) ? n : sizeof(text) - 1);
	out_end(&o);
}

/*
 * Code points Python's str.isprintable() rejects (besides controls, which
 * are handled before): separators other than the space, format characters,
 * surrogates, private use. Unassigned code points are not listed.
 */
static const struct { uint32_t lo, hi; } nonprintable[] = {
	{ 0x80, 0xa0 }, { 0xad, 0xad }, { 0x600, 0x605 }, { 0x61c, 0x61c }, { 0x6dd, 0x6dd },
	{ 0x70f, 0x70f }, { 0x890, 0x891 }, { 0x8e2, 0x8e2 }, { 0x1680, 0x1680 }, { 0x180e, 0x180e },
	{ 0x2000, 0x200f }, { 0x2028, 0x202f }, { 0x205f, 0x2064 }, { 0x2066, 0x206f }, { 0x3000, 0x3000 },
	{ 0xd800, 0xf8ff }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb }, { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },
	{ 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 },
	{ 0xe0020, 0xe007f }, { 0xf0000, 0x10ffff },
};

static bool printable(uint32_t c)
{
	if (c < 0x20 || c == 0x7f)
		return false;
	for (size_t i = 0; i < sizeof(nonprintable) / sizeof(nonprintable[0]); i++)
		if (c >= nonprintable[i].lo && c <= nonprintable[i].hi)
			return false;
	return true;
}

/* Python's choice: double quotes when the text has ' but no ". */
static char pick_quote(const unsigned char *s, size_t n)
{
	bool single = false, dbl = false;

	for (size_t i = 0; i < n; i++) {
		single |= s[i] == '\'';
		dbl |= s[i] == '"';
	}
	return single && !dbl ? '"' : '\'';
}

/* One escape of Python's repr for c, or 0 when c stands for itself. */
static bool escape_char(uint32_t c, char quote, char *buf)
{
	if (c == (uint32_t)quote || c == '\\')
		snprintf(buf, 12, "\\%c", (char)c);
	else if (c == '\t')
		strcpy(buf, "\\t");
	else if (c == '\n')
		strcpy(buf, "\\n");
	else if (c == '\r')
		strcpy(buf, "\\r");
	else if (printable(c))
		return false;
	else if (c < 0x100)
		snprintf(buf, 12, "\\x%02x", c);
	else if (c < 0x10000)
		snprintf(buf, 12, "\\u%04x", c);
	else
		snprintf(buf, 12, "\\U%08x", c);
	return true;
}

/* The end of a str or bytes repr: "..." inside the closing quote when
 * only shown of its len items are, and the whole length after it. */
static void close_repr(struct out *o, const char *q, int64_t len, size_t shown)
{
	bool cut = len > (int64_t)shown;

	if (cut)
		out_puts(o, "...");
	out_puts(o, q);
	if (cut)
		out_printf(o, " (len=%" PRId64 ")", len);
}

/* The repr of a str into o (the quotes, the characters, the cut marker). */
static void repr_str(struct out *o, const char *utf8, size_t len, int64_t nchars, size_t max_chars)
{
	const unsigned char *s = (const unsigned char *)utf8;
	char quote = pick_quote(s, len), esc[12], q[2] = { quote, 0 };
	size_t shown = 0;

	out_puts(o, q);
	for (size_t i = 0; i < len && shown < max_chars && (int64_t)shown < nchars;) {
		uint32_t c;
		size_t k = utf8_next(s + i, len - i, &c);

		if (escape_char(c, quote, esc)) {
			out_puts(o, esc);
		} else {
			char u[4]; /* c, not the bytes: an ill-formed sequence is U+FFFD */

			out_add(o, u, utf8_encode(c, u));
		}
		i += k;
		shown++;
	}
	close_repr(o, q, nchars, shown);
}

void pylocals_repr_str(const char *utf8, size_t len, int64_t nchars, size_t max_chars, char *out, size_t cap)
{
	struct out o = out_start(out, cap);

	repr_str(&o, utf8, len, nchars, max_chars);
	out_end(&o);
}

static void repr_bytes(struct out *o, const uint8_t *b, size_t n, int64_t len, size_t max_bytes)
{
	char quote, esc[8], q[2];
	size_t shown = n < max_bytes ? n : max_bytes;

	if ((int64_t)shown > len)
		shown = len > 0 ? (size_t)len : 0;
	quote = pick_quote(b, shown);
	q[0] = quote;
	q[1] = 0;
	out_puts(o, "b");
	out_puts(o, q);
	for (size_t i = 0; i < shown; i++) {
		uint8_t c = b[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != (uint8_t)quote) {
			out_add(o, (const char *)&b[i], 1);
			continue;
		}
		if (!escape_char(c, quote, esc) || c >= 0x80)
			snprintf(esc, sizeof(esc), "\\x%02x", c); /* bytes: \xNN above 0x7f */
		out_puts(o, esc);
	}
	close_repr(o, q, len, shown);
}

void pylocals_repr_bytes(const uint8_t *b, size_t n, int64_t len, size_t max_bytes, char *out, size_t cap)
{
	struct out o = out_start(out, cap);

	repr_bytes(&o, b, n, len, max_bytes);
	out_end(&o);
}

static void short_int(struct out *o, const char *dec)
{
	bool neg = dec[0] == '-';
	size_t nd = strlen(dec) - neg;

	if (nd <= PYLOCALS_INT_DIGITS) {
		out_puts(o, dec);
		return;
	}
	out_printf(o, "%s%.10s...%s (%zu digits)", neg ? "-" : "", dec + neg, dec + neg + nd - 10, nd);
}

void pylocals_short_int(const char *decimal, char *out, size_t cap)
{
	struct out o = out_start(out, cap);

	short_int(&o, decimal);
	out_end(&o);
}

/* ------------------------------------------------------------ values */

enum vtype { VT_OTHER, VT_NONE, VT_BOOL, VT_INT, VT_FLOAT, VT_STR, VT_BYTES, VT_LIST, VT_TUPLE, VT_DICT,
	     VT_SET, VT_FROZENSET, VT_CELL };

struct type_info {
	enum vtype vt;
	char name[TYPE_NAME_MAX];
};

static const struct { const char *name; enum vtype vt; } builtin_types[] = {
	{ "NoneType", VT_NONE }, { "bool", VT_BOOL }, { "int", VT_INT }, { "float", VT_FLOAT },
	{ "str", VT_STR }, { "bytes", VT_BYTES }, { "list", VT_LIST }, { "tuple", VT_TUPLE },
	{ "dict", VT_DICT }, { "set", VT_SET }, { "frozenset", VT_FROZENSET }, { "cell", VT_CELL },
};

/* The type of obj, read once per type object; NULL when unreadable. A
 * class named like a builtin type (class int: ...) is dispatched as that
 * type, and the reader's own type check (tp_flags) then refuses it: it
 * prints as <int at 0xADDR>. */
static const struct type_info *type_of(struct pylocals *pl, uint64_t obj)
{
	uint64_t tp = pyobj_type(&pl->r, obj);

	if (!tp)
		return NULL;
	struct type_info *ti = u64map_get_ptr(&pl->types, tp);

	if (ti)
		return ti;
	ti = calloc(1, sizeof(*ti));
	if (!ti)
		return NULL;
	if (!pyobj_type_name(&pl->r, obj, ti->name, sizeof(ti->name))) {
		free(ti);
		return NULL;
	}
	/* what reaches the output must be text */
	size_t n = utf8_sanitized_len(ti->name, strlen(ti->name));

	if (n != strlen(ti->name) || n == 0) {
		free(ti);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(builtin_types) / sizeof(builtin_types[0]); i++)
		if (!strcmp(ti->name, builtin_types[i].name))
			ti->vt = builtin_types[i].vt;
	if (u64map_put_ptr(&pl->types, tp, ti)) {
		free(ti);
		return NULL;
	}
	return ti;
}

struct pairs {
	uint64_t k[PYLOCALS_ITEMS], v[PYLOCALS_ITEMS];
	size_t n;
};

static bool take_pair(void *ctx, uint64_t key, uint64_t val)
{
	struct pairs *p = ctx;

	if (p->n >= PYLOCALS_ITEMS)
		return false;
	p->k[p->n] = key;
	p->v[p->n++] = val;
	return true;
}

static bool take_key(void *ctx, uint64_t key)
{
	return take_pair(ctx, key, 0);
}

static void format_value(struct pylocals *pl, struct out *o, uint64_t obj, unsigned depth);

static void format_container(struct pylocals *pl, struct out *o, uint64_t obj, const struct type_info *ti,
			     unsigned depth)
{
	static const char *const open[] = { [VT_LIST] = "[", [VT_TUPLE] = "(", [VT_DICT] = "{", [VT_SET] = "{",
					    [VT_FROZENSET] = "{" };
	static const char *const close[] = { [VT_LIST] = "]", [VT_TUPLE] = ")", [VT_DICT] = "}", [VT_SET] = "}",
					     [VT_FROZENSET] = "}" };
	bool deep = depth >= PYLOCALS_DEPTH;
	struct pairs p = { .n = 0 };
	int64_t len;

	if (ti->vt == VT_LIST || ti->vt == VT_TUPLE) {
		len = pyobj_seq(&pl->r, obj, p.k, deep ? 0 : PYLOCALS_ITEMS);
		p.n = len < 0 ? 0 : (size_t)len < PYLOCALS_ITEMS ? (size_t)len : PYLOCALS_ITEMS;
	} else if (ti->vt == VT_DICT) {
		len = pyobj_dict_each(&pl->r, obj, take_pair, &p, deep ? 0 : PYLOCALS_ITEMS);
	} else {
		len = pyobj_set_each(&pl->r, obj, take_key, &p, deep ? 0 : PYLOCALS_ITEMS);
	}
	if (len < 0) {
		out_printf(o, "<%s at 0x%" PRIx64 ", unreadable>", ti->name, obj);
		return;
	}
	out_printf(o, "%s(len=%" PRId64 ") %s", ti->name, len, open[ti->vt]);
	if (deep && len > 0) {
		out_puts(o, "...");
	} else {
		if (deep)
			p.n = 0;
		for (size_t i = 0; i < p.n && !o->cut; i++) {
			if (i)
				out_puts(o, ", ");
			format_value(pl, o, p.k[i], depth + 1);
			if (ti->vt == VT_DICT) {
				out_puts(o, ": ");
				format_value(pl, o, p.v[i], depth + 1);
			}
		}
		/* a dict or set read short (changing, or entries unreadable) says so too */
		if ((int64_t)p.n < len)
			out_puts(o, p.n ? ", ..." : "...");
		else if (ti->vt == VT_TUPLE && len == 1)
			out_puts(o, ",");
	}
	out_puts(o, close[ti->vt]);
}

static void format_value(struct pylocals *pl, struct out *o, uint64_t obj, unsigned depth)
{
	const struct type_info *ti = type_of(pl, obj);
	size_t max_chars = depth ? PYLOCALS_NESTED_STR_CHARS : PYLOCALS_STR_CHARS;
	int64_t i64, len;
	double d;

	if (!ti) {
		out_printf(o, "<unreadable at 0x%" PRIx64 ">", obj);
		return;
	}
	switch (ti->vt) {
	case VT_NONE:
		out_puts(o, "None");
		return;
	case VT_BOOL:
		if (!pyobj_long(&pl->r, obj, &i64) || (i64 != 0 && i64 != 1))
			break;
		out_puts(o, i64 ? "True" : "False");
		return;
	case VT_INT: {
		char *text = malloc(LONG_TEXT_MAX);

		if (text && pyobj_long_decimal(&pl->r, obj, text, LONG_TEXT_MAX)) {
			short_int(o, text);
			free(text);
			return;
		}
		free(text);
		break;
	}
	case VT_FLOAT: {
		char text[64];

		if (!pyobj_float(&pl->r, obj, &d))
			break;
		pylocals_repr_float(d, text, sizeof(text));
		out_puts(o, text);
		return;
	}
	case VT_STR: {
		char text[PYLOCALS_STR_CHARS * 4 + 8];

		if (!pyobj_str(&pl->r, obj, text, max_chars * 4 + 8, &len))
			break;
		repr_str(o, text, strlen(text), len, max_chars);
		return;
	}
	case VT_BYTES: {
		uint8_t data[PYLOCALS_STR_CHARS];

		if (!pyobj_bytes(&pl->r, obj, data, max_chars, &len))
			break;
		repr_bytes(o, data, max_chars, len, max_chars);
		return;
	}
	case VT_LIST:
	case VT_TUPLE:
	case VT_DICT:
	case VT_SET:
	case VT_FROZENSET:
		format_container(pl, o, obj, ti, depth);
		return;
	default:
		break;
	}
	out_printf(o, "<%s at 0x%" PRIx64 ">", ti->name, obj);
}

void pylocals_format_value(struct pylocals *pl, uint64_t obj, char *out, size_t cap, char *type, size_t tcap)
{
	struct out o = out_start(out, cap);
	const struct type_info *ti = type_of(pl, obj);

	if (tcap)
		snprintf(type, tcap, "%s", ti ? ti->name : "");
	format_value(pl, &o, obj, 0);
	out_end(&o);
}

/* ------------------------------------------------------------ code objects */

/* What a code object says about its frame's slots. */
struct pylocals_code {
	uint32_t nslots;           /* slots read from the frame */
	char **names;              /* per slot; NULL: not shown (hidden) */
	uint8_t *kind;             /* per slot: enum pylocal_kind */
	uint8_t *cell;             /* per slot: holds a cell object (once the frame started) */
	int32_t *arg_cell;         /* 3.8-3.10, per slot: the cell slot holding this argument, or -1 */
};

static void code_free(struct pylocals_code *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; c->names && i < c->nslots; i++)
		free(c->names[i]);
	free(c->names);
	free(c->kind);
	free(c->cell);
	free(c->arg_cell);
	free(c);
}

static int32_t read_i32(const struct pyobj_reader *r, uint64_t addr, bool *ok)
{
	int32_t v = 0;

	if (memsrc_read(r->m, addr, &v, sizeof(v)))
		*ok = false;
	return v;
}

/* The names of tuple tup into names[first...]; n of them expected. */
static bool read_names(const struct pyobj_reader *r, uint64_t tup, char **names, uint32_t first, uint32_t n)
{
	uint64_t *items = n ? malloc(n * sizeof(*items)) : NULL;
	bool ok = !n || items;

	if (ok && n && pyobj_seq(r, tup, items, n) != (int64_t)n)
		ok = false;
	for (uint32_t i = 0; ok && i < n; i++) {
		char buf[NAME_MAX_BYTES];

		if (!pyobj_str(r, items[i], buf, sizeof(buf), NULL))
			snprintf(buf, sizeof(buf), "?");
		names[first + i] = strdup(buf);
		ok = names[first + i] != NULL;
	}
	free(items);
	return ok;
}

static struct pylocals_code *code_read(struct pylocals *pl, uint64_t code)
{
	const struct pyobj_reader *r = &pl->r;
	const struct py_obj_layout *O = r->O;
	struct pylocals_code *c = calloc(1, sizeof(*c));
	bool ok = true;

	if (!c)
		return NULL;
	int32_t argc = read_i32(r, code + O->code_argcount, &ok);
	int32_t kwonly = read_i32(r, code + O->code_kwonlyargcount, &ok);
	uint32_t flags = (uint32_t)read_i32(r, code + O->code_flags, &ok);
	int64_t nargs = (int64_t)argc + kwonly + !!(flags & O->co_varargs) + !!(flags & O->co_varkeywords);

	if (!ok || argc < 0 || kwonly < 0)
		goto bad;
	if (O->code_localsplusnames != PY_OFF_NONE) {
		/* 3.11+: one name and one kind byte per slot */
		uint64_t names = pyobj_ptr_at(r, code + O->code_localsplusnames);
		uint64_t kinds = pyobj_ptr_at(r, code + O->code_localspluskinds);
		int64_t n = pyobj_seq(r, names, NULL, 0);
		uint8_t *kb;
		int64_t nk;

		if (n < 0 || n > MAX_SLOTS || nargs > n)
			goto bad;
		c->nslots = (uint32_t)n;
		c->names = calloc(n ? n : 1, sizeof(*c->names));
		c->kind = calloc(n ? n : 1, 1);
		c->cell = calloc(n ? n : 1, 1);
		kb = malloc(n ? n : 1);
		if (!c->names || !c->kind || !c->cell || !kb || !pyobj_bytes(r, kinds, kb, n, &nk) || nk != n ||
		    !read_names(r, names, c->names, 0, (uint32_t)n)) {
			free(kb);
			goto bad;
		}
		for (int64_t i = 0; i < n; i++) {
			uint8_t k = kb[i];

			c->cell[i] = (k & (O->co_fast_cell | O->co_fast_free)) != 0;
			if (k & O->co_fast_hidden) {
				free(c->names[i]); /* an inlined comprehension's: not the frame's own */
				c->names[i] = NULL;
			} else if (i < nargs) {
				c->kind[i] = PYLOCAL_ARG;
			} else if (k & O->co_fast_free) {
				c->kind[i] = PYLOCAL_FREE;
			} else if ((k & O->co_fast_cell) && !(k & O->co_fast_local)) {
				c->kind[i] = PYLOCAL_CELL;
			} else {
				c->kind[i] = PYLOCAL_LOCAL;
			}
		}
		free(kb);
		return c;
	}
	/* 3.8-3.10: co_nlocals locals (arguments first), then cells, then frees */
	int32_t nlocals = read_i32(r, code + O->code_nlocals, &ok);
	uint64_t varnames = pyobj_ptr_at(r, code + O->code_varnames);
	uint64_t cellvars = pyobj_ptr_at(r, code + O->code_cellvars);
	uint64_t freevars = pyobj_ptr_at(r, code + O->code_freevars);
	int64_t nv = pyobj_seq(r, varnames, NULL, 0), nc = pyobj_seq(r, cellvars, NULL, 0);
	int64_t nf = pyobj_seq(r, freevars, NULL, 0);

	if (!ok || nlocals < 0 || nv != nlocals || nc < 0 || nf < 0 || nargs > nv || nv + nc + nf > MAX_SLOTS)
		goto bad;
	c->nslots = (uint32_t)(nv + nc + nf);
	c->names = calloc(c->nslots ? c->nslots : 1, sizeof(*c->names));
	c->kind = calloc(c->nslots ? c->nslots : 1, 1);
	c->cell = calloc(c->nslots ? c->nslots : 1, 1);
	c->arg_cell = malloc((c->nslots ? c->nslots : 1) * sizeof(*c->arg_cell));
	if (!c->names || !c->kind || !c->cell || !c->arg_cell || !read_names(r, varnames, c->names, 0, (uint32_t)nv) ||
	    !read_names(r, cellvars, c->names, (uint32_t)nv, (uint32_t)nc) ||
	    !read_names(r, freevars, c->names, (uint32_t)(nv + nc), (uint32_t)nf))
		goto bad;
	for (uint32_t i = 0; i < c->nslots; i++) {
		c->arg_cell[i] = -1;
		c->kind[i] = i < nargs ? PYLOCAL_ARG : i < nv ? PYLOCAL_LOCAL : i < nv + nc ? PYLOCAL_CELL : PYLOCAL_FREE;
		c->cell[i] = i >= nv;
	}
	/* An argument a nested function captures lives in a cell of the same
	 * name (its own slot is cleared): shown as the argument. */
	for (uint32_t i = 0; i < nargs; i++)
		for (uint32_t k = (uint32_t)nv; k < nv + nc; k++)
			if (c->names[k] && c->names[i] && !strcmp(c->names[i], c->names[k])) {
				c->arg_cell[i] = (int32_t)k;
				free(c->names[k]);
				c->names[k] = NULL;
				break;
			}
	return c;
bad:
	code_free(c);
	return NULL;
}

static struct pylocals_code *code_get(struct pylocals *pl, uint64_t code, bool *nomem)
{
	struct pylocals_code *c = u64map_get_ptr(&pl->codes, code);

	*nomem = false;
	if (c)
		return c;
	c = code_read(pl, code);
	if (!c)
		return NULL;
	if (u64map_put_ptr(&pl->codes, code, c)) {
		code_free(c);
		*nomem = true;
		return NULL;
	}
	return c;
}

/* ------------------------------------------------------------ frames */

int pylocals_init(struct pylocals *pl, const struct memsrc *m, const struct py_target *t, char *err,
		  size_t errlen)
{
	memset(pl, 0, sizeof(*pl));
	int r = pyobj_reader_init(&pl->r, m, t, err, errlen);

	if (r)
		return r;
	pl->cache = memcache_new(m, PYLOCALS_CACHE_PAGES);
	if (!pl->cache) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pl->src = memcache_src(pl->cache);
	pl->r.m = &pl->src;
	pl->layout_flags = t->layout.flags;
	pl->frame_code = t->layout.frame_code;
	u64map_init(&pl->codes);
	u64map_init(&pl->types);
	pl->cur.v = calloc(PYLOCALS_MAX, sizeof(*pl->cur.v));
	pl->scratch = malloc(PYLOCALS_VALUE_MAX);
	if (!pl->cur.v || !pl->scratch) {
		pylocals_free(pl);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static void free_values(struct u64map *m, void (*fn)(void *))
{
	void *v;

	for (size_t it = 0; u64map_next_ptr(m, &it, NULL, &v);)
		fn(v);
	u64map_free(m);
}

static void code_free_v(void *p)
{
	code_free(p);
}

void pylocals_forget(struct pylocals *pl)
{
	memcache_clear(pl->cache);
	free_values(&pl->codes, code_free_v);
	u64map_init(&pl->codes);
}

void pylocals_free(struct pylocals *pl)
{
	memcache_free(pl->cache);
	free_values(&pl->codes, code_free_v);
	free_values(&pl->types, free);
	free(pl->cur.v);
	free(pl->text);
	free(pl->scratch);
	memset(pl, 0, sizeof(*pl));
}

/* A copy of s in pl->text; offsets, not pointers, until the frame is done
 * (the buffer moves as it grows). SIZE_MAX when out of memory. */
static size_t keep_text(struct pylocals *pl, const char *s)
{
	size_t n = strlen(s) + 1;

	if (pl->text_len + n > pl->text_cap) {
		size_t cap = pl->text_cap ? pl->text_cap : 4096;

		while (cap < pl->text_len + n)
			cap *= 2;
		char *p = realloc(pl->text, cap);

		if (!p)
			return SIZE_MAX;
		pl->text = p;
		pl->text_cap = cap;
	}
	memcpy(pl->text + pl->text_len, s, n);
	pl->text_len += n;
	return pl->text_len - n;
}

/* A slot's object: 3.14+ slots are _PyStackRefs, whose low two bits are
 * tags (a NULL ref is 1 on GIL builds, so it strips to 0). Sets *tagged_int
 * for a tagged integer (both bits set), which is no object. */
static uint64_t slot_object(const struct pylocals *pl, uint64_t v, bool *tagged_int)
{
	*tagged_int = false;
	if (!(pl->layout_flags & PYL_CODE_TAGGED))
		return v;
	if ((v & 3) == 3) {
		*tagged_int = true;
		return v;
	}
	return v & ~3ull;
}

const struct pylocals_frame *pylocals_read(struct pylocals *pl, uint64_t frame_addr, uint64_t code)
{
	struct pylocals_frame *f = &pl->cur;
	const struct py_obj_layout *O = pl->r.O;
	struct pylocals_code *c;
	uint64_t *slots = NULL, head;
	size_t name_off[PYLOCALS_MAX], value_off[PYLOCALS_MAX], type_off[PYLOCALS_MAX];
	bool nomem;

	f->n = 0;
	f->truncated = false;
	f->error = NULL;
	pl->text_len = 0;
	if (!pyobj_plausible(frame_addr) || !pyobj_plausible(code)) {
		f->error = "frame unreadable";
		return f;
	}
	/* The frame must still run the code the walk saw (a live thread may
	 * have returned from it since). */
	if (memsrc_read_u64(pl->r.m, frame_addr + pl->frame_code, &head) ||
	    pyperf_frame_code_of(head, pl->layout_flags) != code) {
		f->error = "frame changed while read";
		return f;
	}
	c = code_get(pl, code, &nomem);
	if (!c) {
		f->error = nomem ? "out of memory" : "code object unreadable";
		return f;
	}
	slots = malloc((c->nslots ? c->nslots : 1) * sizeof(*slots));
	if (!slots) {
		f->error = "out of memory";
		return f;
	}
	if (c->nslots && memsrc_read(pl->r.m, frame_addr + O->frame_localsplus, slots, c->nslots * sizeof(*slots))) {
		free(slots);
		f->error = "frame unreadable";
		return f;
	}
	/* kinds in order: arguments, locals, cells, frees */
	for (int kind = PYLOCAL_ARG; kind <= PYLOCAL_FREE; kind++) {
		for (uint32_t i = 0; i < c->nslots; i++) {
			if (!c->names[i] || c->kind[i] != kind)
				continue;
			if (f->n >= PYLOCALS_MAX) {
				f->truncated = true;
				break;
			}
			bool tagged_int, is_cell_slot = c->cell[i];
			uint64_t obj = slot_object(pl, slots[i], &tagged_int);
			char type[TYPE_NAME_MAX] = "";

			/* 3.8-3.10: a captured argument's value is in its cell */
			if (!obj && c->arg_cell && c->arg_cell[i] >= 0) {
				obj = slot_object(pl, slots[c->arg_cell[i]], &tagged_int);
				is_cell_slot = true;
			}
			/* 3.11+: before the frame's first instruction (MAKE_CELL)
			 * a cell variable's slot holds the value itself */
			if (!tagged_int && obj && is_cell_slot) {
				const struct type_info *ti = type_of(pl, obj);

				if (ti && ti->vt == VT_CELL)
					obj = pyobj_ptr_at(&pl->r, obj + O->cell_ref);
			}
			struct pylocal *v = &f->v[f->n];

			v->kind = (enum pylocal_kind)kind;
			v->unset = !obj;
			v->obj = tagged_int ? 0 : obj;
			if (tagged_int)
				snprintf(pl->scratch, PYLOCALS_VALUE_MAX, "%" PRId64, (int64_t)obj >> 2);
			else if (!obj)
				snprintf(pl->scratch, PYLOCALS_VALUE_MAX, "<unset>");
			else
				pylocals_format_value(pl, obj, pl->scratch, PYLOCALS_VALUE_MAX, type, sizeof(type));
			if (tagged_int)
				snprintf(type, sizeof(type), "int");
			name_off[f->n] = keep_text(pl, c->names[i]);
			value_off[f->n] = keep_text(pl, pl->scratch);
			type_off[f->n] = type[0] ? keep_text(pl, type) : SIZE_MAX - 1;
			if (name_off[f->n] == SIZE_MAX || value_off[f->n] == SIZE_MAX || type_off[f->n] == SIZE_MAX) {
				free(slots);
				f->n = 0;
				f->error = "out of memory";
				return f;
			}
			f->n++;
		}
	}
	free(slots);
	for (size_t k = 0; k < f->n; k++) {
		f->v[k].name = pl->text + name_off[k];
		f->v[k].value = pl->text + value_off[k];
		f->v[k].type = type_off[k] == SIZE_MAX - 1 ? NULL : pl->text + type_off[k];
	}
	return f;
}
