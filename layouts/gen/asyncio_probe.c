/* SPDX-License-Identifier: MIT */
/*
 * layouts/gen/asyncio_probe.c: compiled against ONE CPython's headers (like
 * probe.c), prints the header part of that version's struct py_async_layout
 * initializer (layouts/asyncio_layouts.h): the objects an outside reader of
 * asyncio tasks walks (coroutines and their frames, dicts, sets, weak
 * references, modules, types, lists, bound methods, functions' closures
 * and their cells). The task object itself
 * is private to Modules/_asynciomodule.c: asyncio_gen.sh adds it from the
 * DWARF of the _asyncio extension (3.11-3.13); 3.14+ publish it at run time.
 */
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000
#error "asyncio tasks are read on 3.11+ only"
#endif
#include "pycore_runtime.h"
#include "pycore_interp.h"
#include "pycore_frame.h"
#include "pycore_dict.h"
#if PY_VERSION_HEX < 0x030D0000
#include "pycore_opcode.h"
#else
#include "opcode_ids.h"
#endif
#if PY_VERSION_HEX >= 0x030E0000
#include "pycore_interpframe_structs.h"
#endif
#include <stddef.h>
#include <stdio.h>

#define OFF(type, member) ((unsigned)offsetof(type, member))

int main(void)
{
	printf("\t{ .version_hex = 0x%08x,\n", (unsigned)PY_VERSION_HEX);
	printf("\t  .gen_frame_state = %u, .gen_iframe = %u,\n", OFF(PyGenObject, gi_frame_state),
	       OFF(PyGenObject, gi_iframe));
#if PY_VERSION_HEX >= 0x030D0000
	printf("\t  .frame_created = %d, .frame_suspended = %d, .frame_suspended_yield_from = %d,\n",
	       FRAME_CREATED, FRAME_SUSPENDED, FRAME_SUSPENDED_YIELD_FROM);
#else
	printf("\t  .frame_created = %d, .frame_suspended = %d, .frame_suspended_yield_from = %d,\n",
	       FRAME_CREATED, FRAME_SUSPENDED, -128);
#endif
	printf("\t  .frame_cleared = %d,\n", FRAME_CLEARED);
#if PY_VERSION_HEX >= 0x030E0000
	printf("\t  .frame_stacktop = PY_OFF_NONE, .frame_stackpointer = %u,\n",
	       OFF(_PyInterpreterFrame, stackpointer));
#else
	printf("\t  .frame_stacktop = %u, .frame_stackpointer = PY_OFF_NONE,\n", OFF(_PyInterpreterFrame, stacktop));
#endif
	printf("\t  .frame_localsplus = %u, .resume_opcode = %d,\n", OFF(_PyInterpreterFrame, localsplus), RESUME);
#if PY_VERSION_HEX >= 0x030C0000
	printf("\t  .interp_modules = %u,\n", OFF(PyInterpreterState, imports.modules));
#else
	printf("\t  .interp_modules = %u,\n", OFF(PyInterpreterState, modules));
#endif
	/* PyModuleObject is private to moduleobject.c before 3.12's
	 * pycore_moduleobject.h; md_dict follows the object header in all. */
	printf("\t  .module_dict = %u,\n", (unsigned)sizeof(PyObject));
	printf("\t  .dict_keys = %u, .dict_values = %u, .dictvalues_values = %u,\n", OFF(PyDictObject, ma_keys),
	       OFF(PyDictObject, ma_values), OFF(PyDictValues, values));
	printf("\t  .keys_log2_size = %u, .keys_log2_index_bytes = %u, .keys_kind = %u, .keys_nentries = %u, "
	       ".keys_indices = %u,\n", OFF(PyDictKeysObject, dk_log2_size), OFF(PyDictKeysObject, dk_log2_index_bytes),
	       OFF(PyDictKeysObject, dk_kind), OFF(PyDictKeysObject, dk_nentries), OFF(PyDictKeysObject, dk_indices));
	printf("\t  .set_mask = %u, .set_table = %u,\n", OFF(PySetObject, mask), OFF(PySetObject, table));
	printf("\t  .weakref_object = %u,\n", OFF(PyWeakReference, wr_object));
	printf("\t  .type_name = %u, .type_basicsize = %u, .type_dictoffset = %u, .type_flags = %u, "
	       ".heaptype_cached_keys = %u,\n", OFF(PyTypeObject, tp_name), OFF(PyTypeObject, tp_basicsize),
	       OFF(PyTypeObject, tp_dictoffset), OFF(PyTypeObject, tp_flags), OFF(PyHeapTypeObject, ht_cached_keys));
	printf("\t  .list_size = %u, .list_items = %u, .tuple_items = %u, .method_self = %u,\n",
	       OFF(PyVarObject, ob_size), OFF(PyListObject, ob_item), OFF(PyTupleObject, ob_item),
	       OFF(PyMethodObject, im_self));
	printf("\t  .func_closure = %u, .func_qualname = %u, .cell_ref = %u,\n", OFF(PyFunctionObject, func_closure),
	       OFF(PyFunctionObject, func_qualname), OFF(PyCellObject, ob_ref));
	return 0;
}
