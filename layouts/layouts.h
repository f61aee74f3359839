/* SPDX-License-Identifier: MIT */
/*
 * Per-CPython-version offset tables (struct py_layout, bpf/pyperf.h):
 * the generated table (layouts_table.c, by layouts/gen/generate.sh), the
 * version -> table selection, and the _Py_DebugOffsets parser (3.13+).
 * Pure functions: no I/O, no allocation.
 */
#ifndef PYPERF_LAYOUTS_H
#define PYPERF_LAYOUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyperf.h"

/* Generated (layouts_table.c): sorted by version_hex, one entry per version. */
extern const struct py_layout py_layouts[];
extern const unsigned py_layouts_count;

/* Generated alongside: the sizes of the structures a version's offsets point
 * into (sizeof on the same headers), one per py_layouts[] entry, same order.
 * Not used at run time: tests bound every offset with them. */
struct py_layout_extent {
	uint32_t version_hex;
	uint32_t runtime_size;        /* sizeof(_PyRuntimeState) */
	uint32_t interp_size;         /* sizeof(PyInterpreterState) */
	uint32_t frame_struct_size;   /* sizeof(PyFrameObject) (3.8-3.10) / _PyInterpreterFrame */
};
extern const struct py_layout_extent py_layout_extents[];
extern const unsigned py_layout_extents_count;

/* PY_VERSION_HEX helpers: 0xMMmmppLS (major, minor, micro, level, serial). */
#define PY_HEX_MAJOR(v) (((v) >> 24) & 0xffu)
#define PY_HEX_MINOR(v) (((v) >> 16) & 0xffu)
#define PY_HEX_MICRO(v) (((v) >> 8) & 0xffu)

/*
 * The table for the interpreter whose PY_VERSION_HEX is version_hex: the entry
 * with exactly that version (*exact = true), else the nearest release of the
 * same major.minor (*exact = false; ties go to the later release). NULL when
 * no entry has that major.minor (2.7, 3.7, 3.16, ...). exact may be NULL.
 * Free-threaded builds have different layouts: the caller must refuse them.
 */
const struct py_layout *py_layout_find(uint32_t version_hex, bool *exact);

/* The same choice in any table sorted by version whose entries start with
 * their uint32_t version_hex (stride bytes apart). */
const void *py_version_nearest(const void *table, unsigned count, size_t stride, uint32_t version_hex,
			       bool *exact);

/* Bytes at the start of _PyRuntime to read for py_layout_apply_debug_offsets:
 * the size of _Py_DebugOffsets for that major.minor, 0 if the version has none
 * (< 3.13) or its structure is not known here. */
size_t py_debug_offsets_size(uint32_t version_hex);

/* Enough for every _Py_DebugOffsets known here (and then some). */
#define PY_DEBUG_OFFSETS_MAX 2048

/*
 * Refines *layout (3.13+) from _Py_DebugOffsets: buf holds the first len bytes
 * of the target's _PyRuntime. Checks the cookie "xdebugpy", that the version
 * field has layout->version_hex's major.minor, that free_threaded is 0, and
 * that every offset lies inside the structure size published with it; then
 * overwrites every field the debug offsets provide (runtime interpreters_head;
 * interpreter next, threads_head, ceval.gil and the GIL's locked/last_holder;
 * thread state next, interp, current_frame, thread_id, native_thread_id; frame
 * previous, executable, instr_ptr, owner (and frame_size); code filename, name,
 * qualname, linetable, firstlineno, co_code_adaptive, size; unicode state,
 * length, PyASCIIObject size (and PyCompactUnicodeObject size on 3.15+);
 * bytes ob_size, ob_sval; object ob_type; gc_collecting, as interpreter gc
 * plus gc.collecting) and sets PYL_FROM_DEBUG_OFFSETS.
 * version_hex is left as it was (the table's); fields the debug offsets lack
 * (owner values, _co_firsttraceable, unicode state bits, frame_is_entry,
 * other flags) stay.
 * Returns 0, or -EINVAL with a one-line reason in err (layout unchanged).
 */
int py_layout_apply_debug_offsets(struct py_layout *layout, const void *buf, size_t len,
				  char *err, size_t errlen);

#endif /* PYPERF_LAYOUTS_H */
