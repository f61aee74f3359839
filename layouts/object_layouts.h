/* SPDX-License-Identifier: MIT */
/*
 * Per-CPython-version offsets for reading Python objects from outside
 * (user/python/pyobj.c) and a frame's local variables, 3.8-3.15: generated
 * into object_table.c by layouts/gen/object_gen.sh from the interpreters'
 * headers (object_probe.c). str objects are in struct py_layout (unicode_*).
 * PY_OFF_NONE marks a field the version does not have.
 */
#ifndef PYPERF_OBJECT_LAYOUTS_H
#define PYPERF_OBJECT_LAYOUTS_H
#include <stdbool.h>
#include <stdint.h>

#include "pyperf.h"

struct py_obj_layout {
	uint32_t version_hex;
	/* PyObject, PyVarObject, PyTypeObject */
	uint16_t ob_type, ob_size;
	uint16_t type_name, type_basicsize, type_itemsize, type_base, type_dictoffset, type_flags;
	uint16_t heaptype_cached_keys;          /* the shared keys of instances' dicts */
	/* tp_flags bits: builtin base types, managed dict (3.11+), inline values (3.13+) */
	uint32_t tpflags_long, tpflags_list, tpflags_tuple, tpflags_bytes, tpflags_str, tpflags_dict;
	uint32_t tpflags_managed_dict, tpflags_inline_values;
	/* Instances of a type with tpflags_managed_dict: their dict pointer at
	 * obj + managed_dict (negative: before the object header); 3.11 their
	 * shared-key values pointer at obj + managed_values; 3.12 (managed_tagged_values)
	 * one word for both, odd = values pointer - 1; 3.13+ with
	 * tpflags_inline_values the values follow the object (obj + tp_basicsize),
	 * valid while the byte at dictvalues_valid is set. */
	int16_t managed_dict, managed_values;
	uint8_t managed_tagged_values;
	uint16_t dictvalues_valid;
	/* PyInterpreterState.modules (3.12+ imports.modules): sys.modules; PyModuleObject.md_dict */
	uint16_t interp_modules, module_dict;
	/* PyDictObject; PyDictValues' array (0 on 3.8-3.10: ma_values is the array) */
	uint16_t dict_used, dict_keys, dict_values, dictvalues_values;
	/* PyDictKeysObject: 3.8-3.10 dk_size (Py_ssize_t; index width from it),
	 * 3.11+ dk_log2_size, dk_log2_index_bytes, dk_kind (0 general: entries of
	 * keys_entry_size with the hash; else keys_unicode_entry_size, key and value) */
	uint16_t keys_size, keys_log2_size, keys_log2_index_bytes, keys_kind;
	uint16_t keys_nentries, keys_indices;
	uint8_t keys_entry_size, keys_unicode_entry_size;
	/* PySetObject (set, frozenset): table of setentry {key, hash} */
	uint16_t set_used, set_mask, set_table;
	uint8_t setentry_size, setentry_hash;
	/* PyListObject (ob_item is a pointer), PyTupleObject (inline items) */
	uint16_t list_items, list_allocated, tuple_items;
	/* PyLongObject: long_size is ob_size (sign = sign of the size) before
	 * 3.12, lv_tag from 3.12 (digit count = lv_tag >> long_non_size_bits;
	 * low 2 bits: 0 positive, 1 zero, 2 negative) */
	uint16_t long_size, long_digits;
	uint8_t long_non_size_bits, long_shift, long_digit_size;
	uint16_t float_fval, bytes_size, bytes_sval, cell_ref;
	uint16_t func_code, func_closure, method_func, method_self, weakref_object;
	/* PyCodeObject: argument counts and flags (co_varargs, co_varkeywords bits) */
	uint16_t code_argcount, code_posonlyargcount, code_kwonlyargcount, code_flags;
	uint32_t co_varargs, co_varkeywords;
	/* 3.8-3.10: names in co_varnames (co_nlocals of them: arguments first),
	 * co_cellvars, co_freevars; 3.11+: co_localsplusnames with one kind byte
	 * each in co_localspluskinds (bytes), co_nlocalsplus of them */
	uint16_t code_nlocals, code_varnames, code_cellvars, code_freevars;
	uint16_t code_localsplusnames, code_localspluskinds, code_nlocalsplus;
	uint8_t co_fast_hidden, co_fast_local, co_fast_cell, co_fast_free;
	/* PyFrameObject.f_localsplus (3.8-3.10) / _PyInterpreterFrame.localsplus:
	 * locals, then cells, then free variables, one PyObject * each */
	uint16_t frame_localsplus;
};

extern const struct py_obj_layout py_obj_layouts[];
extern const unsigned py_obj_layouts_count;

/* The entry of version_hex's major.minor: the same release if present
 * (*exact = true), else the nearest one (ties: the later). NULL for none.
 * exact may be NULL. */
const struct py_obj_layout *py_obj_layout_find(uint32_t version_hex, bool *exact);

#endif
