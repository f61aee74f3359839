/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the _Py_DebugOffsets parser (layouts/layouts.c,
 * py_layout_apply_debug_offsets), starting from every entry of py_layouts[].
 *
 * Input: byte 0 is a mode, the rest the bytes read from the start of the
 * target's _PyRuntime. Mode bit 0 set: for each table entry the buffer's
 * first 24 bytes are replaced by a valid head (the "xdebugpy" cookie, that
 * entry's version, free_threaded 0) so the input gets past the first checks;
 * clear: the bytes are used as they are. Bits 1-3 pick the error buffer size
 * (0, 1, small, normal) so truncated messages are exercised. The buffer is an
 * exact-size heap copy, so any read past len is an ASan error.
 *
 * Checks (abort on violation): the result is 0 or -EINVAL; on -EINVAL the
 * layout is unchanged and, when there is room, err holds a non-empty
 * NUL-terminated message within errlen; on 0 the layout keeps its version
 * and gains PYL_FROM_DEBUG_OFFSETS, frame_size covers every frame field and
 * is at most PYPERF_FRAME_BUF, every offset the debug offsets set is below
 * PY_OFF_NONE, the GIL fields are within 1024 bytes, and the unicode sizes
 * are ordered (state + 4 <= ascii size <= compact size when it was set).
 * And no value is narrowed silently: for an accepted buffer, each 64-bit
 * slot after the head whose value v matters (v + 1 changes the layout or is
 * refused) must not be accepted as v + 65536 with the same layout, which is
 * what a field truncated to 16 bits would give.
 * Seeds: real _PyRuntime heads from installed 3.13+ interpreters
 * (tests/fuzz/seeds.py).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layouts.h"

#define die(...) do { fprintf(stderr, "fuzz_layouts: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static void check_ok(const struct py_layout *before, const struct py_layout *l)
{
	if (l->version_hex != before->version_hex)
		die("version_hex changed");
	if (!(l->flags & PYL_FROM_DEBUG_OFFSETS))
		die("PYL_FROM_DEBUG_OFFSETS not set");
	if ((l->flags & ~(uint32_t)PYL_FROM_DEBUG_OFFSETS) != (before->flags & ~(uint32_t)PYL_FROM_DEBUG_OFFSETS))
		die("other flags changed");
	const uint16_t offs[] = {
		l->runtime_interpreters_head, l->interp_next, l->interp_threads_head, l->interp_gil,
		l->tstate_next, l->tstate_interp, l->tstate_frame, l->tstate_thread_id,
		l->tstate_native_thread_id, l->frame_previous, l->frame_code, l->frame_instr,
		l->frame_owner, l->code_filename, l->code_name, l->code_qualname, l->code_linetable,
		l->code_firstlineno, l->code_code_adaptive, l->code_size, l->object_type,
		l->bytes_size, l->bytes_sval, l->unicode_state, l->unicode_length,
	};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		if (offs[i] >= PY_OFF_NONE)
			die("offset %zu is %u", i, offs[i]);
	if (l->frame_size > PYPERF_FRAME_BUF)
		die("frame_size %u > %u", l->frame_size, PYPERF_FRAME_BUF);
	if (l->frame_previous + 8u > l->frame_size || l->frame_code + 8u > l->frame_size ||
	    l->frame_instr + 8u > l->frame_size || l->frame_owner + 1u > l->frame_size)
		die("frame_size %u does not cover the frame fields", l->frame_size);
	if (l->gil_locked > 1024 || l->gil_last_holder > 1024)
		die("GIL fields at +%u, +%u", l->gil_locked, l->gil_last_holder);
	if (l->unicode_ascii_size < l->unicode_state + 4u)
		die("unicode ascii size %u < state + 4", l->unicode_ascii_size);
	if (l->unicode_compact_size != before->unicode_compact_size &&
	    l->unicode_compact_size < l->unicode_ascii_size)
		die("unicode compact size %u < ascii size %u", l->unicode_compact_size, l->unicode_ascii_size);
	if (l->code_code_adaptive > l->code_size)
		die("co_code_adaptive %u past the code object (%u)", l->code_code_adaptive, l->code_size);
}

/* Result of applying buf to a copy of *start: 0 and *out, or -EINVAL. */
static int apply(const struct py_layout *start, const uint8_t *buf, size_t len, struct py_layout *out)
{
	*out = *start;
	return py_layout_apply_debug_offsets(out, buf, len, NULL, 0);
}

static void check_no_wrap(const struct py_layout *start, uint8_t *buf, size_t len,
			  const struct py_layout *accepted)
{
	size_t end = py_debug_offsets_size(start->version_hex);
	if (end > len)
		end = len;
	for (size_t off = 24; off + 8 <= end; off += 8) {
		uint64_t v, w;
		struct py_layout plus1, wrapped;
		memcpy(&v, buf + off, 8);
		if (v >= 65536)
			continue;
		w = v + 1;
		memcpy(buf + off, &w, 8);
		int rc1 = apply(start, buf, len, &plus1);
		w = v + 65536;
		memcpy(buf + off, &w, 8);
		int rcw = apply(start, buf, len, &wrapped);
		memcpy(buf + off, &v, 8);
		bool used = rc1 != 0 || memcmp(&plus1, accepted, sizeof(plus1)) != 0;
		if (used && rcw == 0 && memcmp(&wrapped, accepted, sizeof(wrapped)) == 0)
			die("the u64 at +%zu (%llu) was accepted as %llu with the same layout: narrowed to 16 bits",
			    off, (unsigned long long)v, (unsigned long long)(v + 65536));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0];
	const uint8_t *payload = data + 1;
	size_t len = size - 1;
	static const size_t errlens[] = { 0, 1, 12, 256 };
	size_t errlen = errlens[(mode >> 1) & 3];
	uint8_t *buf = malloc(len ? len : 1);
	char *err = malloc(errlen ? errlen : 1);
	if (!buf || !err)
		abort();

	for (unsigned i = 0; i < py_layouts_count; i++) {
		struct py_layout before = py_layouts[i], l = py_layouts[i];
		memcpy(buf, payload, len);
		if ((mode & 1) && len >= 24) {
			uint64_t version = l.version_hex, ft = 0;
			memcpy(buf, "xdebugpy", 8);
			memcpy(buf + 8, &version, 8);
			memcpy(buf + 16, &ft, 8);
		}
		memset(err, 'Z', errlen ? errlen : 1);
		int rc = py_layout_apply_debug_offsets(&l, buf, len, err, errlen);
		if (rc == 0) {
			check_ok(&before, &l);
			check_no_wrap(&before, buf, len, &l);
			if (len < py_debug_offsets_size(l.version_hex))
				die("accepted %zu bytes, less than the structure's %zu", len,
				    py_debug_offsets_size(l.version_hex));
		} else if (rc == -EINVAL) {
			if (memcmp(&l, &before, sizeof(l)) != 0)
				die("failed but changed the layout");
			if (errlen && (!memchr(err, '\0', errlen) || (errlen > 1 && err[0] == '\0')))
				die("failed without a message (errlen %zu)", errlen);
		} else {
			die("returned %d", rc);
		}
	}
	/* No buffer, no layout: refused, not a crash. */
	struct py_layout l = py_layouts[py_layouts_count - 1];
	if (py_layout_apply_debug_offsets(&l, NULL, len, err, errlen) != -EINVAL ||
	    py_layout_apply_debug_offsets(NULL, payload, len, err, errlen) != -EINVAL)
		die("NULL arguments not refused");
	free(buf);
	free(err);
	return 0;
}
