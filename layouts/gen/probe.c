/* SPDX-License-Identifier: MIT */
/*
 * layouts/gen/probe.c: compiled against ONE CPython's headers, prints the
 * struct py_layout initializer for that version (see layouts/gen/generate.sh).
 *
 *   cc -DPy_BUILD_CORE -I<inc>/python3.X -I<inc>/python3.X/internal \
 *      -I<repo>/bpf probe.c -o probe && ./probe
 *
 * Every number comes from offsetof/sizeof on the real structures, and the
 * bit positions of the unicode state word are found at run time by setting
 * each bit field in a zeroed object. Nothing is linked from libpython.
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
/* 3.8: _PyRuntimeState, PyInterpreterState and the GIL state all live in
 * pycore_pystate.h, which pulls in pycore_gil.h and pycore_pymem.h itself. */
#include "pycore_pystate.h"
#else
#include "pycore_runtime.h"
#include "pycore_interp.h"
#include "pycore_pystate.h"
#endif
#if PY_VERSION_HEX < 0x030C0000
#include "pycore_gil.h"
#endif
#if PY_VERSION_HEX >= 0x030B0000
#include "pycore_frame.h"
#include "pycore_code.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pyperf.h"

#define OFF(type, member) ((unsigned)offsetof(type, member))
#define FSIZE(type, member) ((unsigned)sizeof(((type *)0)->member))
#define END(type, member) (OFF(type, member) + FSIZE(type, member))
#define NONE PY_OFF_NONE

static unsigned max4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	unsigned m = a > b ? a : b;
	if (c != NONE && c > m)
		m = c;
	if (d != NONE && d > m)
		m = d;
	return m;
}

static unsigned max2(unsigned a, unsigned b)
{
	return b != NONE && b > a ? b : a;
}

/* Bit position of the lowest set bit of the 32-bit word at *p, or -1. */
static int lowest_bit(const void *p)
{
	uint32_t w;
	memcpy(&w, p, sizeof w);
	for (int i = 0; i < 32; i++)
		if (w & (1u << i))
			return i;
	return -1;
}

/* The state bit-field word of a zeroed PyASCIIObject with one field set. */
#define STATE_BIT(field, out) do {                                      \
	PyASCIIObject o_;                                               \
	memset(&o_, 0, sizeof o_);                                      \
	o_.state.field = 1;                                             \
	(out) = lowest_bit((const char *)&o_ + offsetof(PyASCIIObject, state)); \
} while (0)

/* "probe extents": the sizes of the structures the offsets point into, one
 * line of py_layout_extents[] (layouts.h), so tests can bound every offset. */
static int print_extents(void)
{
#if PY_VERSION_HEX < 0x030B0000
	unsigned frame = sizeof(PyFrameObject);
#else
	unsigned frame = sizeof(_PyInterpreterFrame);
#endif
	printf("\t{ .version_hex = 0x%08x, .runtime_size = %u, .interp_size = %u, .frame_struct_size = %u },\n",
	       (unsigned)PY_VERSION_HEX, (unsigned)sizeof(_PyRuntimeState),
	       (unsigned)sizeof(PyInterpreterState), frame);
	return 0;
}

int main(int argc, char **argv)
{
	struct py_layout l;

	if (argc == 2 && !strcmp(argv[1], "extents"))
		return print_extents();
	unsigned runtime_ceval_gil = NONE;

	memset(&l, 0xff, sizeof l);
	l.version_hex = PY_VERSION_HEX;
	l.flags = 0;

	/* _PyRuntimeState */
	l.runtime_interpreters_head = OFF(_PyRuntimeState, interpreters.head);
#if PY_VERSION_HEX < 0x030C0000
	l.runtime_gilstate_tstate_current = OFF(_PyRuntimeState, gilstate.tstate_current);
	runtime_ceval_gil = OFF(_PyRuntimeState, ceval.gil);
#else
	l.runtime_gilstate_tstate_current = NONE;
#endif

	/* PyInterpreterState */
	l.interp_next = OFF(PyInterpreterState, next);
#if PY_VERSION_HEX < 0x030B0000
	l.interp_threads_head = OFF(PyInterpreterState, tstate_head);
#else
	l.interp_threads_head = OFF(PyInterpreterState, threads.head); /* 3.11+ */
#endif
#if PY_VERSION_HEX < 0x030C0000
	l.interp_gil = NONE;
#else
	l.interp_gil = OFF(PyInterpreterState, ceval.gil);
#endif
	l.gil_locked = OFF(struct _gil_runtime_state, locked);
	l.gil_last_holder = OFF(struct _gil_runtime_state, last_holder);

	/* PyThreadState */
	l.tstate_next = OFF(PyThreadState, next);
	l.tstate_interp = OFF(PyThreadState, interp);
	l.tstate_thread_id = OFF(PyThreadState, thread_id);
#if PY_VERSION_HEX >= 0x030B0000
	l.tstate_native_thread_id = OFF(PyThreadState, native_thread_id);
	l.flags |= PYL_NATIVE_TID;
#else
	l.tstate_native_thread_id = NONE;
#endif
#if PY_VERSION_HEX < 0x030B0000
	l.tstate_frame = OFF(PyThreadState, frame);
	l.cframe_current_frame = NONE;
#elif PY_VERSION_HEX < 0x030D0000
	l.tstate_frame = OFF(PyThreadState, cframe);
	l.cframe_current_frame = OFF(struct _PyCFrame, current_frame);
	l.flags |= PYL_HAS_CFRAME;
#else
	l.tstate_frame = OFF(PyThreadState, current_frame);
	l.cframe_current_frame = NONE;
#endif

	/* Frames */
#if PY_VERSION_HEX < 0x030B0000
	l.flags |= PYL_FRAME_OBJECT;
#if PY_VERSION_HEX < 0x030A0000
	l.flags |= PYL_LASTI_BYTES;
#endif
	l.frame_previous = OFF(PyFrameObject, f_back);
	l.frame_code = OFF(PyFrameObject, f_code);
	l.frame_instr = OFF(PyFrameObject, f_lasti);
	l.frame_owner = NONE;
	l.frame_gen = OFF(PyFrameObject, f_gen);
	l.frame_size = max4(END(PyFrameObject, f_back), END(PyFrameObject, f_code),
			    END(PyFrameObject, f_lasti), END(PyFrameObject, f_gen));
#if PY_VERSION_HEX < 0x030A0000
	l.frame_state = OFF(PyFrameObject, f_executing);
	l.frame_state_live = 1;
	l.frame_size = max2(l.frame_size, END(PyFrameObject, f_executing));
#else
	_Static_assert(sizeof(((PyFrameObject *)0)->f_state) == 1, "f_state is a char");
	l.frame_state = OFF(PyFrameObject, f_state);
	l.frame_state_live = (uint8_t)FRAME_EXECUTING;
	l.frame_size = max2(l.frame_size, END(PyFrameObject, f_state));
#endif
	l.owner_generator = 0xff;
	l.owner_first_skipped = 0xff;
#else
	l.flags |= PYL_INSTR_POINTER;
	l.frame_previous = OFF(_PyInterpreterFrame, previous);
	l.frame_gen = NONE;
	l.frame_state = NONE;
	l.frame_state_live = 0;
#if PY_VERSION_HEX < 0x030D0000
	l.frame_code = OFF(_PyInterpreterFrame, f_code);
	l.frame_instr = OFF(_PyInterpreterFrame, prev_instr);
	l.frame_size = max4(END(_PyInterpreterFrame, previous), END(_PyInterpreterFrame, f_code),
			    END(_PyInterpreterFrame, prev_instr), END(_PyInterpreterFrame, owner));
#else
	l.frame_code = OFF(_PyInterpreterFrame, f_executable);
	l.frame_instr = OFF(_PyInterpreterFrame, instr_ptr);
	l.frame_size = max4(END(_PyInterpreterFrame, previous), END(_PyInterpreterFrame, f_executable),
			    END(_PyInterpreterFrame, instr_ptr), END(_PyInterpreterFrame, owner));
#endif
	l.frame_owner = OFF(_PyInterpreterFrame, owner);
	l.owner_generator = FRAME_OWNED_BY_GENERATOR;
#if PY_VERSION_HEX >= 0x030E0000
	/* 3.14: INTERPRETER = 3, CSTACK = 4; 3.15 dropped CSTACK. */
	l.owner_first_skipped = FRAME_OWNED_BY_INTERPRETER;
	l.flags |= PYL_CODE_TAGGED;
#elif PY_VERSION_HEX >= 0x030C0000
	l.owner_first_skipped = FRAME_OWNED_BY_CSTACK;
#else
	l.owner_first_skipped = 0xff; /* 3.11: no shim frames */
#endif
#endif
	/* 3.11 marks the frame a C call entered the evaluation loop with in
	 * _PyInterpreterFrame.is_entry (a bool); 3.12 replaced it with a shim
	 * frame owned by the C stack, 3.8-3.10 run each frame in its own call. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
	l.frame_is_entry = OFF(_PyInterpreterFrame, is_entry);
	l.frame_size = max2(l.frame_size, END(_PyInterpreterFrame, is_entry));
#else
	l.frame_is_entry = NONE;
#endif
	l.frame_size = (uint16_t)((l.frame_size + 7u) & ~7u);

	/* int collecting of struct _gc_runtime_state: in _PyRuntime on 3.8,
	 * per interpreter (interp->gc) from 3.9 on. Every version up to 3.15
	 * has it (3.12-3.15 moved and grew the structure around it). */
#if PY_VERSION_HEX < 0x03090000
	l.gc_collecting = OFF(_PyRuntimeState, gc.collecting);
	l.flags |= PYL_GC_IN_RUNTIME;
	_Static_assert(sizeof(((_PyRuntimeState *)0)->gc.collecting) == 4, "gc.collecting is an int");
#else
	l.gc_collecting = OFF(PyInterpreterState, gc.collecting);
	_Static_assert(sizeof(((PyInterpreterState *)0)->gc.collecting) == 4, "gc.collecting is an int");
#endif
	l.pad1 = 0;
	l.pad2 = 0;
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030E0000
	_Static_assert(sizeof(((_PyInterpreterFrame *)0)->stacktop) == 4, "stacktop is an int");
	l.frame_stacktop = OFF(_PyInterpreterFrame, stacktop);
	l.frame_size = max2(l.frame_size, END(_PyInterpreterFrame, stacktop));
#else
	l.frame_stacktop = NONE;
#endif

	/* PyCodeObject */
	l.code_filename = OFF(PyCodeObject, co_filename);
	l.code_name = OFF(PyCodeObject, co_name);
	l.code_firstlineno = OFF(PyCodeObject, co_firstlineno);
#if PY_VERSION_HEX < 0x030A0000
	l.code_linetable = OFF(PyCodeObject, co_lnotab);
#else
	l.code_linetable = OFF(PyCodeObject, co_linetable);
#endif
#if PY_VERSION_HEX >= 0x030B0000
	l.code_qualname = OFF(PyCodeObject, co_qualname);
	l.code_firsttraceable = OFF(PyCodeObject, _co_firsttraceable);
	l.code_code_adaptive = OFF(PyCodeObject, co_code_adaptive);
	l.flags |= PYL_HAS_QUALNAME;
#else
	l.code_qualname = NONE;
	l.code_firsttraceable = NONE;
	l.code_code_adaptive = NONE;
#endif
	l.code_size = sizeof(PyCodeObject);

	/* Strings, bytes, objects */
	l.unicode_length = OFF(PyASCIIObject, length);
	l.unicode_state = OFF(PyASCIIObject, state);
	l.unicode_ascii_size = sizeof(PyASCIIObject);
	l.unicode_compact_size = sizeof(PyCompactUnicodeObject);
	int kind, compact, ascii;
	STATE_BIT(kind, kind);
	STATE_BIT(compact, compact);
	STATE_BIT(ascii, ascii);
	if (kind < 0 || compact < 0 || ascii < 0) {
		fprintf(stderr, "probe: could not locate the unicode state bits\n");
		return 1;
	}
	l.unicode_kind_shift = (uint8_t)kind;
	l.unicode_compact_shift = (uint8_t)compact;
	l.unicode_ascii_shift = (uint8_t)ascii;
	l.unicode_pad = 0;
	l.bytes_size = OFF(PyVarObject, ob_size) + OFF(PyBytesObject, ob_base);
	l.bytes_sval = OFF(PyBytesObject, ob_sval);
	l.object_type = OFF(PyObject, ob_type);

	if (l.frame_size > PYPERF_FRAME_BUF) {
		fprintf(stderr, "probe: frame_size %u > PYPERF_FRAME_BUF\n", l.frame_size);
		return 1;
	}

	printf("\t/* CPython %s headers (PY_VERSION_HEX 0x%08x)", PY_VERSION, (unsigned)PY_VERSION_HEX);
	if (runtime_ceval_gil != NONE)
		printf("; _PyRuntime.ceval.gil at +%u", runtime_ceval_gil);
	printf(" */\n");
	printf("\t{ .version_hex = 0x%08x, .flags = 0x%02x,\n", l.version_hex, l.flags);
#define P(f) do {                                                      \
	if (sizeof(l.f) == 2 && l.f == PY_OFF_NONE)                     \
		printf("\t  ." #f " = PY_OFF_NONE,\n");                 \
	else if (sizeof(l.f) == 1 && l.f == 0xff)                       \
		printf("\t  ." #f " = 0xff,\n");                        \
	else                                                            \
		printf("\t  ." #f " = %u,\n", (unsigned)l.f);           \
} while (0)
	P(runtime_interpreters_head); P(runtime_gilstate_tstate_current);
	P(interp_next); P(interp_threads_head); P(interp_gil);
	P(gil_locked); P(gil_last_holder);
	P(tstate_next); P(tstate_interp); P(tstate_thread_id); P(tstate_native_thread_id);
	P(tstate_frame); P(cframe_current_frame);
	P(frame_previous); P(frame_code); P(frame_instr); P(frame_owner); P(frame_size);
	P(owner_generator); P(owner_first_skipped);
	P(code_filename); P(code_name); P(code_qualname); P(code_firstlineno);
	P(code_linetable); P(code_firsttraceable); P(code_code_adaptive); P(code_size);
	P(unicode_length); P(unicode_state); P(unicode_ascii_size); P(unicode_compact_size);
	P(unicode_kind_shift); P(unicode_compact_shift); P(unicode_ascii_shift);
	P(bytes_size); P(bytes_sval); P(object_type);
	P(frame_is_entry); P(gc_collecting); P(frame_gen); P(frame_state); P(frame_state_live);
	P(frame_stacktop);
#undef P
	printf("\t},\n");
	return 0;
}
