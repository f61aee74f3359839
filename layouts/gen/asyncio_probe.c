/* SPDX-License-Identifier: MIT */
/*
 * layouts/gen/asyncio_probe.c: compiled against ONE CPython's headers (like
 * probe.c), prints the header part of that version's struct py_async_layout
 * initializer (layouts/asyncio_layouts.h): the coroutines and their frames
 * an outside reader of asyncio tasks walks (the plain objects it reads are
 * in layouts/object_layouts.h, object_probe.c). The task object itself
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
	return 0;
}
