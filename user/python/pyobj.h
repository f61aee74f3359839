/* SPDX-License-Identifier: MIT */
/*
 * Python objects read out of another process (live or core), CPython
 * 3.8-3.15: types, str, int, float, bytes, list/tuple, dict, set, instance
 * attributes, sys.modules. Offsets come from layouts/object_layouts.h (and
 * struct py_layout for str). Every read can fail or return garbage: each
 * function checks the object's type first, bounds every length and loop,
 * and returns false / 0 / -1 rather than guess.
 */
#ifndef PYPERF_PYOBJ_H
#define PYPERF_PYOBJ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "object_layouts.h"
#include "python/pystr.h"
#include "target/memsrc.h"
#include "target/pyproc.h"

#define PYOBJ_MAX_DICT 1048576       /* entries of one dict's table walked at most */
#define PYOBJ_MAX_SET 1048576        /* slots of one set's table walked at most */
#define PYOBJ_MAX_SEQ (1ll << 40)    /* a longer list/tuple is garbage */
#define PYOBJ_LONG_MAX_DIGITS 1024   /* pyobj_long_decimal: 30-bit digits converted at most */
#define PYOBJ_STR_READ 65536         /* bytes of one str's characters read at most */

/* memsrc + the version's layouts; cheap to copy/keep (the memsrc must live
 * as long as it is used). */
struct pyobj_reader {
	const struct memsrc *m;
	const struct py_obj_layout *O;
	struct pystr_layout strl;
	uint64_t runtime_addr;
	uint16_t runtime_interpreters_head, interp_next;
	uint32_t version_hex;
	unsigned minor;
};

/* Returns 0, or -ENOTSUP with a one-line reason in err when pyperf has no
 * object layout for t's version. */
int pyobj_reader_init(struct pyobj_reader *r, const struct memsrc *m, const struct py_target *t, char *err,
		      size_t errlen);

/* An aligned user-space address (what any object or pointer to one must be). */
bool pyobj_plausible(uint64_t addr);
/* 8 bytes at addr (8-aligned, plausible). */
bool pyobj_read64(const struct pyobj_reader *r, uint64_t addr, uint64_t *out);
/* The pointer stored at addr, 0 when unreadable or implausible. */
uint64_t pyobj_ptr_at(const struct pyobj_reader *r, uint64_t addr);

uint64_t pyobj_type(const struct pyobj_reader *r, uint64_t obj);              /* 0 when unreadable */
bool pyobj_type_name(const struct pyobj_reader *r, uint64_t obj, char *out, size_t cap); /* tp_name */
/* The type of obj has exactly this tp_name ("int", "_asyncio.Task"). */
bool pyobj_is_type(const struct pyobj_reader *r, uint64_t obj, const char *tp_name);
/* The type of obj or one of its bases (tp_base chain) has this tp_name. */
bool pyobj_is_instance(const struct pyobj_reader *r, uint64_t obj, const char *tp_name);

/* A str (or subclass) as UTF-8 in out, cut on a character boundary with
 * "..." when it does not fit (or is longer than PYOBJ_STR_READ bytes);
 * *nchars (may be NULL) = its length in characters. */
bool pyobj_str(const struct pyobj_reader *r, uint64_t obj, char *out, size_t cap, int64_t *nchars);
/* obj is a str equal to s (s shorter than 256 bytes). */
bool pyobj_str_equals(const struct pyobj_reader *r, uint64_t obj, const char *s);

/* An int (or bool, or subclass) that fits in int64_t. */
bool pyobj_long(const struct pyobj_reader *r, uint64_t obj, int64_t *out);
/* An int of any size up to PYOBJ_LONG_MAX_DIGITS internal digits (about
 * 9,000 decimal digits) in decimal, with '-' when negative; cut with "..."
 * when it does not fit cap. */
bool pyobj_long_decimal(const struct pyobj_reader *r, uint64_t obj, char *out, size_t cap);
bool pyobj_float(const struct pyobj_reader *r, uint64_t obj, double *out);
/* A bytes object: its first min(len, cap) bytes into out, *len its length. */
bool pyobj_bytes(const struct pyobj_reader *r, uint64_t obj, uint8_t *out, size_t cap, int64_t *len);

/* A list or tuple (or subclass): returns its length (-1: not one, or
 * unreadable) and copies its first min(length, max) items. */
int64_t pyobj_seq(const struct pyobj_reader *r, uint64_t obj, uint64_t *items, size_t max);

/* Dict lookups by walking the entries (no hashing: keys are compared by
 * value). False when absent or unreadable. */
bool pyobj_dict_get_str(const struct pyobj_reader *r, uint64_t dict, const char *key, uint64_t *val);
bool pyobj_dict_get_int(const struct pyobj_reader *r, uint64_t dict, int64_t key, uint64_t *val);
/* Calls fn(ctx, key, value) for the dict's items in order, at most max
 * times, until fn returns false. Returns the dict's length (ma_used), -1
 * when obj is no readable dict. */
int64_t pyobj_dict_each(const struct pyobj_reader *r, uint64_t dict, bool (*fn)(void *ctx, uint64_t key, uint64_t val),
			void *ctx, size_t max);
/* The same for a set or frozenset's keys (table order). */
int64_t pyobj_set_each(const struct pyobj_reader *r, uint64_t set, bool (*fn)(void *ctx, uint64_t key), void *ctx,
		       size_t max);

/* An attribute in the instance's own __dict__ (tp_dictoffset, 3.8-3.10 and
 * types that have one), managed dict or shared-key values (3.11+), inline
 * values (3.13+). Class attributes, slots and properties are not found.
 * Works on modules (their md_dict). */
bool pyobj_getattr(const struct pyobj_reader *r, uint64_t obj, const char *name, uint64_t *val);

/* sys.modules[name] of the main interpreter, 0 if absent. */
uint64_t pyobj_module(const struct pyobj_reader *r, const char *name);

#endif
