/* SPDX-License-Identifier: MIT */
/* Version -> layout selection and the _Py_DebugOffsets parser (layouts.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "layouts.h"

const void *py_version_nearest(const void *table, unsigned count, size_t stride, uint32_t version_hex,
			       bool *exact)
{
	const void *best = NULL;
	uint32_t best_dist = 0;

	if (exact)
		*exact = false;
	for (unsigned i = 0; i < count; i++) {
		const void *e = (const char *)table + (size_t)i * stride;
		uint32_t v;

		memcpy(&v, e, sizeof(v));
		if ((v >> 16) != (version_hex >> 16))
			continue;
		if (v == version_hex) {
			if (exact)
				*exact = true;
			return e;
		}
		uint32_t d = v > version_hex ? v - version_hex : version_hex - v;
		/* Tables are sorted: on a tie the later release wins. */
		if (!best || d <= best_dist) {
			best = e;
			best_dist = d;
		}
	}
	return best;
}

const struct py_layout *py_layout_find(uint32_t version_hex, bool *exact)
{
	return py_version_nearest(py_layouts, py_layouts_count, sizeof(py_layouts[0]), version_hex, exact);
}

/*
 * _Py_DebugOffsets as each minor version defines it (every member a uint64_t;
 * the first member of each group is the size of the structure it describes).
 * 3.13: Include/internal/pycore_runtime.h; 3.14 and 3.15:
 * Include/internal/pycore_debug_offsets.h. The layout is stable within a minor
 * version and changes between minor versions.
 */
#define U64(...) uint64_t __VA_ARGS__

struct dbg_head {
	char cookie[8];
	U64(version, free_threaded);
};

struct dbg313 {
	struct dbg_head h;
	struct { U64(size, finalizing, interpreters_head); } runtime_state;
	struct { U64(size, id, next, threads_head, gc, imports_modules, sysdict, builtins,
		     ceval_gil, gil_runtime_state, gil_runtime_state_enabled,
		     gil_runtime_state_locked, gil_runtime_state_holder); } interpreter_state;
	struct { U64(size, prev, next, interp, current_frame, thread_id, native_thread_id,
		     datastack_chunk, status); } thread_state;
	struct { U64(size, previous, executable, instr_ptr, localsplus, owner); } interpreter_frame;
	struct { U64(size, filename, name, qualname, linetable, firstlineno, argcount,
		     localsplusnames, localspluskinds, co_code_adaptive); } code_object;
	struct { U64(size, ob_type); } pyobject;
	struct { U64(size, tp_name, tp_repr, tp_flags); } type_object;
	struct { U64(size, ob_item, ob_size); } tuple_object;
	struct { U64(size, ob_item, ob_size); } list_object;
	struct { U64(size, ma_keys, ma_values); } dict_object;
	struct { U64(size, ob_fval); } float_object;
	struct { U64(size, lv_tag, ob_digit); } long_object;
	struct { U64(size, ob_size, ob_sval); } bytes_object;
	struct { U64(size, state, length, asciiobject_size); } unicode_object;
	struct { U64(size, collecting); } gc;
};

struct dbg314 {
	struct dbg_head h;
	struct { U64(size, finalizing, interpreters_head); } runtime_state;
	struct { U64(size, id, next, threads_head, threads_main, gc, imports_modules, sysdict,
		     builtins, ceval_gil, gil_runtime_state, gil_runtime_state_enabled,
		     gil_runtime_state_locked, gil_runtime_state_holder,
		     code_object_generation, tlbc_generation); } interpreter_state;
	struct { U64(size, prev, next, interp, current_frame, thread_id, native_thread_id,
		     datastack_chunk, status); } thread_state;
	struct { U64(size, previous, executable, instr_ptr, localsplus, owner, stackpointer,
		     tlbc_index); } interpreter_frame;
	struct { U64(size, filename, name, qualname, linetable, firstlineno, argcount,
		     localsplusnames, localspluskinds, co_code_adaptive, co_tlbc); } code_object;
	struct { U64(size, ob_type); } pyobject;
	struct { U64(size, tp_name, tp_repr, tp_flags); } type_object;
	struct { U64(size, ob_item, ob_size); } tuple_object;
	struct { U64(size, ob_item, ob_size); } list_object;
	struct { U64(size, used, table, mask); } set_object;
	struct { U64(size, ma_keys, ma_values); } dict_object;
	struct { U64(size, ob_fval); } float_object;
	struct { U64(size, lv_tag, ob_digit); } long_object;
	struct { U64(size, ob_size, ob_sval); } bytes_object;
	struct { U64(size, state, length, asciiobject_size); } unicode_object;
	struct { U64(size, collecting); } gc;
	struct { U64(size, gi_name, gi_iframe, gi_frame_state); } gen_object;
	struct { U64(next, prev); } llist_node;
	struct { U64(eval_breaker, remote_debugger_support, remote_debugging_enabled,
		     debugger_pending_call, debugger_script_path,
		     debugger_script_path_size); } debugger_support;
};

struct dbg315 {
	struct dbg_head h;
	struct { U64(size, finalizing, interpreters_head); } runtime_state;
	struct { U64(size, id, next, threads_head, threads_main, gc, imports_modules, sysdict,
		     builtins, ceval_gil, gil_runtime_state, gil_runtime_state_enabled,
		     gil_runtime_state_locked, gil_runtime_state_holder,
		     code_object_generation, tlbc_generation); } interpreter_state;
	struct { U64(size, prev, next, interp, current_frame, base_frame, last_profiled_frame,
		     last_profiled_frame_seq, thread_id, native_thread_id, datastack_chunk,
		     status, holds_gil, gil_requested, current_exception,
		     exc_state); } thread_state;
	struct { U64(exc_value); } err_stackitem;
	struct { U64(size, previous, executable, instr_ptr, localsplus, owner, stackpointer,
		     tlbc_index); } interpreter_frame;
	struct { U64(size, filename, name, qualname, linetable, firstlineno, argcount,
		     localsplusnames, localspluskinds, co_code_adaptive, co_tlbc); } code_object;
	struct { U64(size, ob_type); } pyobject;
	struct { U64(size, tp_name, tp_repr, tp_flags, tp_basicsize, tp_dictoffset); } type_object;
	struct { U64(size, ht_cached_keys); } heap_type_object;
	struct { U64(size, ob_item, ob_size); } tuple_object;
	struct { U64(size, ob_item, ob_size); } list_object;
	struct { U64(size, used, table, mask); } set_object;
	struct { U64(size, ma_keys, ma_values); } dict_object;
	struct { U64(size, ob_fval); } float_object;
	struct { U64(size, lv_tag, ob_digit); } long_object;
	struct { U64(size, ob_size, ob_sval); } bytes_object;
	struct { U64(size, state, length, asciiobject_size, compactunicodeobject_size); } unicode_object;
	struct { U64(size, collecting, frame, generation_stats_size, generation_stats); } gc;
	struct { U64(size, gi_name, gi_iframe, gi_frame_state); } gen_object;
	struct { U64(next, prev); } llist_node;
	struct { U64(eval_breaker, remote_debugger_support, remote_debugging_enabled,
		     debugger_pending_call, debugger_script_path,
		     debugger_script_path_size); } debugger_support;
};

#define NOFIELD ((size_t)-1)

/* Where, inside one version's _Py_DebugOffsets, each value we use is. */
struct dbg_desc {
	unsigned minor;
	size_t total;
	size_t rt_size, rt_interpreters_head;
	size_t is_size, is_next, is_threads_head, is_ceval_gil, is_gil, is_gil_locked, is_gil_holder;
	size_t ts_size, ts_next, ts_interp, ts_current_frame, ts_thread_id, ts_native_thread_id;
	size_t fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_owner;
	size_t co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno,
	       co_code_adaptive;
	size_t ob_size, ob_type;
	size_t by_size, by_ob_size, by_ob_sval;
	size_t un_size, un_state, un_length, un_ascii_size, un_compact_size;
	size_t is_gc, gc_size, gc_collecting;
};

#define DESC(T, MINOR, COMPACT) {                                                       \
	.minor = MINOR, .total = sizeof(T),                                             \
	.rt_size = offsetof(T, runtime_state.size),                                     \
	.rt_interpreters_head = offsetof(T, runtime_state.interpreters_head),           \
	.is_size = offsetof(T, interpreter_state.size),                                 \
	.is_next = offsetof(T, interpreter_state.next),                                 \
	.is_threads_head = offsetof(T, interpreter_state.threads_head),                 \
	.is_ceval_gil = offsetof(T, interpreter_state.ceval_gil),                       \
	.is_gil = offsetof(T, interpreter_state.gil_runtime_state),                     \
	.is_gil_locked = offsetof(T, interpreter_state.gil_runtime_state_locked),       \
	.is_gil_holder = offsetof(T, interpreter_state.gil_runtime_state_holder),       \
	.ts_size = offsetof(T, thread_state.size),                                      \
	.ts_next = offsetof(T, thread_state.next),                                      \
	.ts_interp = offsetof(T, thread_state.interp),                                  \
	.ts_current_frame = offsetof(T, thread_state.current_frame),                    \
	.ts_thread_id = offsetof(T, thread_state.thread_id),                            \
	.ts_native_thread_id = offsetof(T, thread_state.native_thread_id),              \
	.fr_size = offsetof(T, interpreter_frame.size),                                 \
	.fr_previous = offsetof(T, interpreter_frame.previous),                         \
	.fr_executable = offsetof(T, interpreter_frame.executable),                     \
	.fr_instr_ptr = offsetof(T, interpreter_frame.instr_ptr),                       \
	.fr_owner = offsetof(T, interpreter_frame.owner),                               \
	.co_size = offsetof(T, code_object.size),                                       \
	.co_filename = offsetof(T, code_object.filename),                               \
	.co_name = offsetof(T, code_object.name),                                       \
	.co_qualname = offsetof(T, code_object.qualname),                               \
	.co_linetable = offsetof(T, code_object.linetable),                             \
	.co_firstlineno = offsetof(T, code_object.firstlineno),                         \
	.co_code_adaptive = offsetof(T, code_object.co_code_adaptive),                  \
	.ob_size = offsetof(T, pyobject.size),                                          \
	.ob_type = offsetof(T, pyobject.ob_type),                                       \
	.by_size = offsetof(T, bytes_object.size),                                      \
	.by_ob_size = offsetof(T, bytes_object.ob_size),                                \
	.by_ob_sval = offsetof(T, bytes_object.ob_sval),                                \
	.un_size = offsetof(T, unicode_object.size),                                    \
	.un_state = offsetof(T, unicode_object.state),                                  \
	.un_length = offsetof(T, unicode_object.length),                                \
	.un_ascii_size = offsetof(T, unicode_object.asciiobject_size),                  \
	.un_compact_size = COMPACT,                                                     \
	.is_gc = offsetof(T, interpreter_state.gc),                                     \
	.gc_size = offsetof(T, gc.size),                                                \
	.gc_collecting = offsetof(T, gc.collecting),                                    \
}

static const struct dbg_desc dbg_descs[] = {
	DESC(struct dbg313, 13, NOFIELD),
	DESC(struct dbg314, 14, NOFIELD),
	DESC(struct dbg315, 15, offsetof(struct dbg315, unicode_object.compactunicodeobject_size)),
};

_Static_assert(sizeof(struct dbg315) <= PY_DEBUG_OFFSETS_MAX, "PY_DEBUG_OFFSETS_MAX too small");

static const struct dbg_desc *dbg_desc_for(uint32_t version_hex)
{
	if (PY_HEX_MAJOR(version_hex) != 3)
		return NULL;
	for (size_t i = 0; i < sizeof(dbg_descs) / sizeof(dbg_descs[0]); i++)
		if (dbg_descs[i].minor == PY_HEX_MINOR(version_hex))
			return &dbg_descs[i];
	return NULL;
}

size_t py_debug_offsets_size(uint32_t version_hex)
{
	const struct dbg_desc *d = dbg_desc_for(version_hex);
	return d ? d->total : 0;
}

struct dbg_reader {
	const unsigned char *buf;
	size_t len;
	char *err;
	size_t errlen;
	int failed;
};

static void fail(struct dbg_reader *r, const char *fmt, ...)
{
	if (r->failed)
		return;
	r->failed = 1;
	if (r->err && r->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->err, r->errlen, fmt, ap);
		va_end(ap);
	}
}

/* The uint64_t at byte offset off of the buffer; 0 and a failure if short. */
static uint64_t rd(struct dbg_reader *r, size_t off, const char *what)
{
	uint64_t v;
	if (r->failed)
		return 0;
	if (off > r->len || r->len - off < sizeof v) {
		fail(r, "_Py_DebugOffsets: buffer of %zu bytes ends before %s (+%zu)", r->len, what, off);
		return 0;
	}
	memcpy(&v, r->buf + off, sizeof v);
	return v;
}

/* The size of a described structure: non-zero and not absurd. */
static uint64_t rd_size(struct dbg_reader *r, size_t off, const char *what)
{
	uint64_t v = rd(r, off, what);
	if (!r->failed && (v == 0 || v > (1u << 20)))
		fail(r, "_Py_DebugOffsets: implausible %s %llu", what, (unsigned long long)v);
	return v;
}

/* An offset inside a structure of struct_size bytes that holds a field of
 * width bytes, as a py_layout __u16 (PY_OFF_NONE is not a valid offset). */
static __u16 rd_off(struct dbg_reader *r, size_t off, uint64_t struct_size, unsigned width,
		    const char *what)
{
	uint64_t v = rd(r, off, what);
	if (r->failed)
		return PY_OFF_NONE;
	if (v >= PY_OFF_NONE || v + width > struct_size) {
		fail(r, "_Py_DebugOffsets: %s = %llu outside its structure (%llu bytes)", what,
		     (unsigned long long)v, (unsigned long long)struct_size);
		return PY_OFF_NONE;
	}
	return (__u16)v;
}

static unsigned frame_size_of(const struct py_layout *l)
{
	unsigned m = 0;
	const unsigned ends[] = {
		l->frame_previous + 8u, l->frame_code + 8u, l->frame_instr + 8u,
		l->frame_owner == PY_OFF_NONE ? 0u : l->frame_owner + 1u,
	};
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		if (ends[i] > m)
			m = ends[i];
	return (m + 7u) & ~7u;
}

int py_layout_apply_debug_offsets(struct py_layout *layout, const void *buf, size_t len,
				  char *err, size_t errlen)
{
	struct dbg_reader r = { .buf = buf, .len = len, .err = err, .errlen = errlen };
	const struct dbg_desc *d;
	struct py_layout l;

	if (err && errlen)
		err[0] = '\0';
	if (!layout || !buf) {
		fail(&r, "_Py_DebugOffsets: no layout or no buffer");
		return -EINVAL;
	}
	d = dbg_desc_for(layout->version_hex);
	if (!d) {
		fail(&r, "_Py_DebugOffsets: no known structure for Python %u.%u (3.13+ only)",
		     PY_HEX_MAJOR(layout->version_hex), PY_HEX_MINOR(layout->version_hex));
		return -EINVAL;
	}
	if (len < sizeof(struct dbg_head)) {
		fail(&r, "_Py_DebugOffsets: buffer of %zu bytes is shorter than its header", len);
		return -EINVAL;
	}
	if (memcmp(r.buf, "xdebugpy", 8) != 0) {
		fail(&r, "_Py_DebugOffsets: no \"xdebugpy\" cookie at the start of _PyRuntime");
		return -EINVAL;
	}
	uint64_t version = rd(&r, offsetof(struct dbg_head, version), "version");
	if (version > 0xffffffffu || (version >> 16) != (layout->version_hex >> 16)) {
		fail(&r, "_Py_DebugOffsets: version 0x%llx is not Python %u.%u",
		     (unsigned long long)version, PY_HEX_MAJOR(layout->version_hex),
		     PY_HEX_MINOR(layout->version_hex));
		return -EINVAL;
	}
	if (rd(&r, offsetof(struct dbg_head, free_threaded), "free_threaded") != 0) {
		fail(&r, "_Py_DebugOffsets: free-threaded build (not supported)");
		return -EINVAL;
	}
	if (len < d->total) {
		fail(&r, "_Py_DebugOffsets: buffer of %zu bytes, Python %u.%u's structure has %zu",
		     len, PY_HEX_MAJOR(layout->version_hex), d->minor, d->total);
		return -EINVAL;
	}

	l = *layout;

	uint64_t rt = rd_size(&r, d->rt_size, "runtime_state.size");
	l.runtime_interpreters_head = rd_off(&r, d->rt_interpreters_head, rt, 8,
					     "runtime_state.interpreters_head");

	uint64_t is = rd_size(&r, d->is_size, "interpreter_state.size");
	l.interp_next = rd_off(&r, d->is_next, is, 8, "interpreter_state.next");
	l.interp_threads_head = rd_off(&r, d->is_threads_head, is, 8, "interpreter_state.threads_head");
	l.interp_gil = rd_off(&r, d->is_ceval_gil, is, 8, "interpreter_state.ceval_gil");
	/* The GIL fields are published as offsets in PyInterpreterState of its
	 * own _gil; py_layout wants them inside struct _gil_runtime_state. */
	__u16 gil = rd_off(&r, d->is_gil, is, 1, "interpreter_state.gil_runtime_state");
	__u16 locked = rd_off(&r, d->is_gil_locked, is, 4, "interpreter_state.gil_runtime_state_locked");
	__u16 holder = rd_off(&r, d->is_gil_holder, is, 8, "interpreter_state.gil_runtime_state_holder");
	if (!r.failed && (locked < gil || holder < gil || locked - gil > 1024 || holder - gil > 1024))
		fail(&r, "_Py_DebugOffsets: GIL fields (+%u, +%u) not inside the GIL state at +%u",
		     locked, holder, gil);
	l.gil_locked = (__u16)(locked - gil);
	l.gil_last_holder = (__u16)(holder - gil);

	uint64_t ts = rd_size(&r, d->ts_size, "thread_state.size");
	l.tstate_next = rd_off(&r, d->ts_next, ts, 8, "thread_state.next");
	l.tstate_interp = rd_off(&r, d->ts_interp, ts, 8, "thread_state.interp");
	l.tstate_frame = rd_off(&r, d->ts_current_frame, ts, 8, "thread_state.current_frame");
	l.tstate_thread_id = rd_off(&r, d->ts_thread_id, ts, 8, "thread_state.thread_id");
	l.tstate_native_thread_id = rd_off(&r, d->ts_native_thread_id, ts, 8,
					   "thread_state.native_thread_id");

	uint64_t fr = rd_size(&r, d->fr_size, "interpreter_frame.size");
	l.frame_previous = rd_off(&r, d->fr_previous, fr, 8, "interpreter_frame.previous");
	l.frame_code = rd_off(&r, d->fr_executable, fr, 8, "interpreter_frame.executable");
	l.frame_instr = rd_off(&r, d->fr_instr_ptr, fr, 8, "interpreter_frame.instr_ptr");
	l.frame_owner = rd_off(&r, d->fr_owner, fr, 1, "interpreter_frame.owner");

	uint64_t co = rd_size(&r, d->co_size, "code_object.size");
	l.code_filename = rd_off(&r, d->co_filename, co, 8, "code_object.filename");
	l.code_name = rd_off(&r, d->co_name, co, 8, "code_object.name");
	l.code_qualname = rd_off(&r, d->co_qualname, co, 8, "code_object.qualname");
	l.code_linetable = rd_off(&r, d->co_linetable, co, 8, "code_object.linetable");
	l.code_firstlineno = rd_off(&r, d->co_firstlineno, co, 4, "code_object.firstlineno");
	/* co_code_adaptive is the trailing flexible array: at most at the end. */
	l.code_code_adaptive = rd_off(&r, d->co_code_adaptive, co, 0, "code_object.co_code_adaptive");
	if (!r.failed && co >= PY_OFF_NONE)
		fail(&r, "_Py_DebugOffsets: code_object.size %llu too large", (unsigned long long)co);
	l.code_size = (__u16)co;

	uint64_t ob = rd_size(&r, d->ob_size, "pyobject.size");
	l.object_type = rd_off(&r, d->ob_type, ob, 8, "pyobject.ob_type");

	uint64_t by = rd_size(&r, d->by_size, "bytes_object.size");
	l.bytes_size = rd_off(&r, d->by_ob_size, by, 8, "bytes_object.ob_size");
	l.bytes_sval = rd_off(&r, d->by_ob_sval, by, 1, "bytes_object.ob_sval");

	uint64_t un = rd_size(&r, d->un_size, "unicode_object.size");
	l.unicode_state = rd_off(&r, d->un_state, un, 4, "unicode_object.state");
	l.unicode_length = rd_off(&r, d->un_length, un, 8, "unicode_object.length");
	uint64_t ascii = rd_size(&r, d->un_ascii_size, "unicode_object.asciiobject_size");
	if (!r.failed && (ascii > un || ascii < l.unicode_state + 4u || ascii >= PY_OFF_NONE))
		fail(&r, "_Py_DebugOffsets: implausible unicode_object.asciiobject_size %llu",
		     (unsigned long long)ascii);
	l.unicode_ascii_size = (__u16)ascii;
	if (d->un_compact_size != NOFIELD) {
		uint64_t compact = rd_size(&r, d->un_compact_size,
					   "unicode_object.compactunicodeobject_size");
		if (!r.failed && (compact > un || compact < ascii || compact >= PY_OFF_NONE))
			fail(&r, "_Py_DebugOffsets: implausible compactunicodeobject_size %llu",
			     (unsigned long long)compact);
		l.unicode_compact_size = (__u16)compact;
	}

	/* interp->gc.collecting: the GC state's place in the interpreter plus
	 * collecting's place in it (an int), the GC state inside the interpreter. */
	uint64_t gcs = rd_size(&r, d->gc_size, "gc.size");
	__u16 gc_at = rd_off(&r, d->is_gc, is, 0, "interpreter_state.gc");
	__u16 collecting = rd_off(&r, d->gc_collecting, gcs, 4, "gc.collecting");
	if (!r.failed && ((uint64_t)gc_at + gcs > is || (uint64_t)gc_at + collecting + 4u > is ||
			  (uint64_t)gc_at + collecting >= PY_OFF_NONE))
		fail(&r, "_Py_DebugOffsets: gc.collecting (+%u in the GC state at +%u, %llu bytes) "
		     "outside the interpreter (%llu bytes)", collecting, gc_at,
		     (unsigned long long)gcs, (unsigned long long)is);
	l.gc_collecting = (__u16)(gc_at + collecting);
	l.flags &= ~PYL_GC_IN_RUNTIME;

	if (r.failed)
		return -EINVAL;
	/* Checked before narrowing: fields near 64 KiB must not wrap to a small size. */
	unsigned frame_size = frame_size_of(&l);
	if (frame_size > PYPERF_FRAME_BUF) {
		fail(&r, "_Py_DebugOffsets: frame fields need %u bytes, more than %u", frame_size,
		     PYPERF_FRAME_BUF);
		return -EINVAL;
	}
	l.frame_size = (__u16)frame_size;
	l.flags |= PYL_FROM_DEBUG_OFFSETS;
	*layout = l;
	return 0;
}
