/* SPDX-License-Identifier: MIT */
/*
 * layouts/gen/object_probe.c: compiled against ONE CPython's headers (like
 * probe.c), prints that version's struct py_obj_layout initializer
 * (layouts/object_layouts.h): the objects an outside reader of Python
 * values walks (types, dicts and their keys, instance attributes, str is
 * in py_layout, int, float, bytes, tuple, list, set, cell, function, bound
 * method, weak reference, module, sys.modules) and what reading a frame's
 * local variables needs (code object counts and names, the frame's
 * localsplus). See layouts/gen/object_gen.sh.
 */
#include <Python.h>
#include <frameobject.h>

#if PY_VERSION_HEX < 0x03080000
#error "CPython older than 3.8 is not supported"
#endif
#ifdef Py_GIL_DISABLED
#error "free-threaded builds are not supported"
#endif

#if PY_VERSION_HEX < 0x03090000
#include "pycore_pystate.h"
#else
#include "pycore_runtime.h"
#include "pycore_interp.h"
#endif
#if PY_VERSION_HEX < 0x030B0000
#include "longintrepr.h"
#else
#include "pycore_frame.h"
#include "pycore_code.h"
#include "pycore_dict.h"
#include "pycore_object.h"
#endif
#if PY_VERSION_HEX >= 0x030E0000
#include "pycore_interpframe_structs.h"
#endif
#include <stddef.h>
#include <stdio.h>

#define OFF(type, member) ((unsigned)offsetof(type, member))
#define NONE "PY_OFF_NONE"

#if PY_VERSION_HEX < 0x030B0000
/* 3.8-3.10 keep the dict keys object private to Objects/dict-common.h (not
 * installed); this is its layout there, the same in the three versions.
 * Checked against live interpreters by tests/e2e/test_pyobj.py. */
typedef struct {
	Py_hash_t me_hash;
	PyObject *me_key;
	PyObject *me_value;
} probe_entry;
typedef struct {
	Py_ssize_t dk_refcnt;
	Py_ssize_t dk_size;
	void *dk_lookup;
	Py_ssize_t dk_usable;
	Py_ssize_t dk_nentries;
	char dk_indices[];
} probe_keys;
#endif

static void u(const char *name, unsigned v)
{
	printf(" .%s = %u,", name, v);
}

static void none(const char *name)
{
	printf(" .%s = " NONE ",", name);
}

static void line(const char *what)
{
	printf("\n\t  /* %s */\n\t ", what);
}

int main(void)
{
	printf("\t{ .version_hex = 0x%08x,", (unsigned)PY_VERSION_HEX);

	line("PyObject, PyVarObject, PyTypeObject");
	u("ob_type", OFF(PyObject, ob_type));
	u("ob_size", OFF(PyVarObject, ob_size));
	u("type_name", OFF(PyTypeObject, tp_name));
	u("type_basicsize", OFF(PyTypeObject, tp_basicsize));
	u("type_itemsize", OFF(PyTypeObject, tp_itemsize));
	printf("\n\t ");
	u("type_base", OFF(PyTypeObject, tp_base));
	u("type_dictoffset", OFF(PyTypeObject, tp_dictoffset));
	u("type_flags", OFF(PyTypeObject, tp_flags));
	u("heaptype_cached_keys", OFF(PyHeapTypeObject, ht_cached_keys));

	line("tp_flags bits");
	printf(" .tpflags_long = 0x%lx, .tpflags_list = 0x%lx, .tpflags_tuple = 0x%lx,", Py_TPFLAGS_LONG_SUBCLASS,
	       Py_TPFLAGS_LIST_SUBCLASS, Py_TPFLAGS_TUPLE_SUBCLASS);
	printf("\n\t  .tpflags_bytes = 0x%lx, .tpflags_str = 0x%lx, .tpflags_dict = 0x%lx,", Py_TPFLAGS_BYTES_SUBCLASS,
	       Py_TPFLAGS_UNICODE_SUBCLASS, Py_TPFLAGS_DICT_SUBCLASS);
#if PY_VERSION_HEX >= 0x030B0000
	printf("\n\t  .tpflags_managed_dict = 0x%lx,", Py_TPFLAGS_MANAGED_DICT);
#else
	printf("\n\t  .tpflags_managed_dict = 0,");
#endif
#if PY_VERSION_HEX >= 0x030D0000
	printf(" .tpflags_inline_values = 0x%lx,", Py_TPFLAGS_INLINE_VALUES);
#else
	printf(" .tpflags_inline_values = 0,");
#endif

	line("instance attributes without __dict__ at tp_dictoffset (3.11+)");
#if PY_VERSION_HEX >= 0x030D0000
	printf(" .managed_dict = %d, .managed_values = 0, .managed_tagged_values = 0,", (int)MANAGED_DICT_OFFSET);
	u("dictvalues_valid", OFF(PyDictValues, valid));
#elif PY_VERSION_HEX >= 0x030C0000
	/* _PyObject_DictOrValuesPointer: ((PyDictOrValues *)obj) - 3, a dict,
	 * or (odd) the values pointer - 1 */
	printf(" .managed_dict = %d, .managed_values = 0, .managed_tagged_values = 1,",
	       -3 * (int)sizeof(PyObject *));
	none("dictvalues_valid");
#elif PY_VERSION_HEX >= 0x030B0000
	/* _PyObject_ManagedDictPointer: obj - 3 words; _PyObject_ValuesPointer: obj - 4 */
	printf(" .managed_dict = %d, .managed_values = %d, .managed_tagged_values = 0,", (int)MANAGED_DICT_OFFSET,
	       -4 * (int)sizeof(PyObject *));
	none("dictvalues_valid");
#else
	printf(" .managed_dict = 0, .managed_values = 0, .managed_tagged_values = 0,");
	none("dictvalues_valid");
#endif

	line("sys.modules, modules");
#if PY_VERSION_HEX >= 0x030C0000
	u("interp_modules", OFF(PyInterpreterState, imports.modules));
#else
	u("interp_modules", OFF(PyInterpreterState, modules));
#endif
	/* PyModuleObject is private to moduleobject.c before 3.12's
	 * pycore_moduleobject.h; md_dict follows the object header in all. */
	u("module_dict", (unsigned)sizeof(PyObject));

	line("dict, its keys object and values");
	u("dict_used", OFF(PyDictObject, ma_used));
	u("dict_keys", OFF(PyDictObject, ma_keys));
	u("dict_values", OFF(PyDictObject, ma_values));
#if PY_VERSION_HEX >= 0x030B0000
	u("dictvalues_values", OFF(PyDictValues, values));
	printf("\n\t ");
	none("keys_size");
	u("keys_log2_size", OFF(PyDictKeysObject, dk_log2_size));
	u("keys_log2_index_bytes", OFF(PyDictKeysObject, dk_log2_index_bytes));
	u("keys_kind", OFF(PyDictKeysObject, dk_kind));
	printf("\n\t ");
	u("keys_nentries", OFF(PyDictKeysObject, dk_nentries));
	u("keys_indices", OFF(PyDictKeysObject, dk_indices));
	u("keys_entry_size", (unsigned)sizeof(PyDictKeyEntry));
	u("keys_unicode_entry_size", (unsigned)sizeof(PyDictUnicodeEntry));
#else
	u("dictvalues_values", 0); /* ma_values is the PyObject *[] itself */
	printf("\n\t ");
	u("keys_size", OFF(probe_keys, dk_size));
	none("keys_log2_size");
	none("keys_log2_index_bytes");
	none("keys_kind");
	printf("\n\t ");
	u("keys_nentries", OFF(probe_keys, dk_nentries));
	u("keys_indices", OFF(probe_keys, dk_indices));
	u("keys_entry_size", (unsigned)sizeof(probe_entry));
	u("keys_unicode_entry_size", 0);
#endif

	line("set, frozenset");
	u("set_used", OFF(PySetObject, used));
	u("set_mask", OFF(PySetObject, mask));
	u("set_table", OFF(PySetObject, table));
	u("setentry_size", (unsigned)sizeof(setentry));
	u("setentry_hash", OFF(setentry, hash));

	line("list, tuple");
	u("list_items", OFF(PyListObject, ob_item));
	u("list_allocated", OFF(PyListObject, allocated));
	u("tuple_items", OFF(PyTupleObject, ob_item));

	line("int (3.12+: lv_tag, sign in the low bits, digit count above them)");
#if PY_VERSION_HEX >= 0x030C0000
	u("long_size", OFF(PyLongObject, long_value.lv_tag));
	u("long_digits", OFF(PyLongObject, long_value.ob_digit));
	u("long_non_size_bits", _PyLong_NON_SIZE_BITS);
#else
	u("long_size", OFF(PyVarObject, ob_size));
	u("long_digits", OFF(PyLongObject, ob_digit));
	u("long_non_size_bits", 0);
#endif
	u("long_shift", PyLong_SHIFT);
	u("long_digit_size", (unsigned)sizeof(digit));

	line("float, bytes, cell, function, bound method, weak reference");
	u("float_fval", OFF(PyFloatObject, ob_fval));
	u("bytes_size", OFF(PyVarObject, ob_size));
	u("bytes_sval", OFF(PyBytesObject, ob_sval));
	u("cell_ref", OFF(PyCellObject, ob_ref));
	printf("\n\t ");
	u("func_code", OFF(PyFunctionObject, func_code));
	u("func_closure", OFF(PyFunctionObject, func_closure));
	u("method_func", OFF(PyMethodObject, im_func));
	u("method_self", OFF(PyMethodObject, im_self));
	u("weakref_object", OFF(PyWeakReference, wr_object));

	line("code object: arguments, flags, local variable names");
	u("code_argcount", OFF(PyCodeObject, co_argcount));
	u("code_posonlyargcount", OFF(PyCodeObject, co_posonlyargcount));
	u("code_kwonlyargcount", OFF(PyCodeObject, co_kwonlyargcount));
	u("code_flags", OFF(PyCodeObject, co_flags));
	printf("\n\t ");
	printf(" .co_varargs = 0x%x, .co_varkeywords = 0x%x,", CO_VARARGS, CO_VARKEYWORDS);
#if PY_VERSION_HEX >= 0x030B0000
	u("code_nlocals", OFF(PyCodeObject, co_nlocals));
	none("code_varnames");
	none("code_cellvars");
	none("code_freevars");
	printf("\n\t ");
	u("code_localsplusnames", OFF(PyCodeObject, co_localsplusnames));
	u("code_localspluskinds", OFF(PyCodeObject, co_localspluskinds));
	u("code_nlocalsplus", OFF(PyCodeObject, co_nlocalsplus));
	printf("\n\t ");
#ifdef CO_FAST_HIDDEN
	printf(" .co_fast_hidden = 0x%x,", CO_FAST_HIDDEN);
#else
	printf(" .co_fast_hidden = 0,");
#endif
	printf(" .co_fast_local = 0x%x, .co_fast_cell = 0x%x, .co_fast_free = 0x%x,", CO_FAST_LOCAL, CO_FAST_CELL,
	       CO_FAST_FREE);
#else
	u("code_nlocals", OFF(PyCodeObject, co_nlocals));
	u("code_varnames", OFF(PyCodeObject, co_varnames));
	u("code_cellvars", OFF(PyCodeObject, co_cellvars));
	u("code_freevars", OFF(PyCodeObject, co_freevars));
	printf("\n\t ");
	none("code_localsplusnames");
	none("code_localspluskinds");
	none("code_nlocalsplus");
	printf("\n\t  .co_fast_hidden = 0, .co_fast_local = 0, .co_fast_cell = 0, .co_fast_free = 0,");
#endif

	line("frame: local variables, cells and free variables, then the value stack");
#if PY_VERSION_HEX >= 0x030B0000
	u("frame_localsplus", OFF(_PyInterpreterFrame, localsplus));
#else
	u("frame_localsplus", OFF(PyFrameObject, f_localsplus));
#endif
	printf("\n\t},\n");
	return 0;
}
