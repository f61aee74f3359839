/* SPDX-License-Identifier: MIT */
/*
 * A frame's local variables read out of another process (live or core) for
 * pyperf dump --locals, CPython 3.8-3.15: names from the code object, values
 * from the frame's slots (f_localsplus / _PyInterpreterFrame.localsplus),
 * each printed as a short Python-like text. Pure functions over a struct
 * memsrc (through python/pyobj.h), so unit tests run them on fake memory.
 *
 * Values, as pylocals_format_value prints them:
 *   None, True, False; int in decimal, past PYLOCALS_INT_DIGITS digits as
 *   its first and last 10 digits, "1234567890...1234567890 (95 digits)";
 *   float as Python's repr (shortest text that reads back the same);
 *   str and bytes as Python's repr, cut after PYLOCALS_STR_CHARS characters
 *   (PYLOCALS_NESTED_STR_CHARS inside a container) as "'abc...' (len=5000)";
 *   list, tuple, dict, set, frozenset as "list(len=N) [a, b, ...]" with
 *   their first PYLOCALS_ITEMS items, nested containers down to
 *   PYLOCALS_DEPTH levels, deeper ones as "list(len=N) [...]";
 *   anything else (and subclasses of the above) as "<TypeName at 0xADDR>";
 *   an object whose type cannot be read as "<unreadable at 0xADDR>".
 * str differs from Python's repr in two places: NUL characters and lone
 * surrogates show as U+FFFD (python/pystr.h decodes them so), and unassigned
 * code points are not escaped.
 */
#ifndef PYPERF_PYLOCALS_H
#define PYPERF_PYLOCALS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "python/pyobj.h"
#include "target/memcache.h"
#include "target/memsrc.h"
#include "target/pyproc.h"
#include "util/u64map.h"

#define PYLOCALS_MAX 256               /* variables shown per frame */
#define PYLOCALS_INT_DIGITS 40
#define PYLOCALS_STR_CHARS 200
#define PYLOCALS_NESTED_STR_CHARS 60
#define PYLOCALS_ITEMS 5
#define PYLOCALS_DEPTH 2
#define PYLOCALS_VALUE_MAX 4096        /* bytes of one printed value, NUL included */
#define PYLOCALS_CACHE_PAGES 4096      /* target memory kept (16 MiB at most) */

enum pylocal_kind { PYLOCAL_ARG, PYLOCAL_LOCAL, PYLOCAL_CELL, PYLOCAL_FREE };

struct pylocal {
	enum pylocal_kind kind;
	bool unset;          /* no value (never assigned, deleted, an empty cell) */
	const char *name;    /* UTF-8 */
	const char *value;   /* the printed value; "<unset>" when unset */
	const char *type;    /* the value's tp_name, NULL when unset or unreadable */
	uint64_t obj;        /* the value's object address; 0 when unset or a tagged int */
};

/* One frame's variables: arguments first, then other locals, then cell and
 * free variables. Valid until the next pylocals_read. */
struct pylocals_frame {
	struct pylocal *v;
	size_t n;
	bool truncated;      /* more than PYLOCALS_MAX variables */
	const char *error;   /* NULL, or why none could be read */
};

struct pylocals {
	struct pyobj_reader r;     /* reads through cache */
	struct memcache *cache;
	struct memsrc src;         /* the cache's */
	uint32_t layout_flags;     /* struct py_layout flags: PYL_FRAME_OBJECT, PYL_CODE_TAGGED */
	uint16_t frame_code;       /* struct py_layout frame_code */
	struct u64map codes;       /* code address -> struct pylocals_code * (names, kinds) */
	struct u64map types;       /* type address -> interned tp_name (char *) */
	struct pylocals_frame cur;
	char *text;                /* names and values of cur */
	size_t text_len, text_cap;
	char *scratch;             /* one value being printed */
};

/* 0, or -ENOTSUP (no object layout for t's version) / -ENOMEM with a
 * one-line reason in err. m must outlive pl, and pl must not move (its
 * reader points into it). Target memory is read through a page cache
 * (target/memcache.h): what a dump prints is the memory as first read. */
int pylocals_init(struct pylocals *pl, const struct memsrc *m, const struct py_target *t, char *err,
		  size_t errlen);
void pylocals_free(struct pylocals *pl);
/* Forgets the target memory read so far (and the code objects' names). */
void pylocals_forget(struct pylocals *pl);

/*
 * The variables of the frame at frame_addr (a PyFrameObject on 3.8-3.10,
 * a _PyInterpreterFrame on 3.11+) that runs code object code (as the stack
 * walk read it: a frame whose code changed since is refused). Returns
 * pl->cur; its error says why when nothing could be read.
 */
const struct pylocals_frame *pylocals_read(struct pylocals *pl, uint64_t frame_addr, uint64_t code);

/* One value printed as described above into out (cap bytes, NUL included,
 * cut with "..." when it does not fit); its tp_name (or "") into type. */
void pylocals_format_value(struct pylocals *pl, uint64_t obj, char *out, size_t cap, char *type, size_t tcap);

/* The pieces, for unit tests: Python's repr of a float; of a str given as
 * UTF-8 of its first characters (nchars: the str's whole length); of the
 * first n bytes of a bytes object of length len; an int's decimal text
 * shortened past PYLOCALS_INT_DIGITS digits. Each writes at most cap bytes
 * with the NUL, cutting with "..." when it does not fit. */
void pylocals_repr_float(double v, char *out, size_t cap);
void pylocals_repr_str(const char *utf8, size_t len, int64_t nchars, size_t max_chars, char *out, size_t cap);
void pylocals_repr_bytes(const uint8_t *b, size_t n, int64_t len, size_t max_bytes, char *out, size_t cap);
void pylocals_short_int(const char *decimal, char *out, size_t cap);

#endif
