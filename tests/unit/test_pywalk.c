/*
 * Unit tests for user/python/pywalk.c on a fake target memory: thread lists
 * (order, cycles, bounds), frame packing and skipping per version, broken
 * chains, the GIL holder, and the glibc TID offset search; and the frame
 * rules of bpf/pyperf_frame.h, the functions the BPF program runs too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layouts.h"
#include "target/memsrc.h"
#include "python/pywalk.h"
#include "pyperf_frame.h"
#include "fakemem.h"
#include "unit.h"

static struct py_layout layout_for(uint32_t version_hex)
{
	const struct py_layout *l = py_layout_find(version_hex, NULL);

	if (!l)
		abort();
	return *l;
}

#define RUNTIME 0x10000ull
#define INTERP  0x20000ull
#define INTERP2 0x28000ull
#define TS(i)   (0x30000ull + 0x1000ull * (i))
#define FRAME(i) (0x100000ull + 0x400ull * (i))
#define CODE(i) (0x200000ull + 0x1000ull * (i))

/* runtime -> INTERP -> TS(0) -> TS(1) -> ... -> TS(n-1) */
static void build_threads(struct fakemem *fm, const struct py_layout *L, int n)
{
	uint8_t *rt = region(fm, RUNTIME, 4096);
	uint8_t *ip = region(fm, INTERP, 16384);

	put64(rt, L->runtime_interpreters_head, INTERP);
	put64(ip, L->interp_threads_head, n ? TS(0) : 0);
	put64(ip, L->interp_next, 0);
	for (int i = 0; i < n; i++) {
		uint8_t *ts = region(fm, TS(i), 1024);

		put64(ts, L->tstate_next, i + 1 < n ? TS(i + 1) : 0);
		put64(ts, L->tstate_thread_id, 0x7f0000001000ull + (uint64_t)i * 0x1000);
		if (L->tstate_native_thread_id != PY_OFF_NONE)
			put64(ts, L->tstate_native_thread_id, 100 + (uint64_t)i);
	}
}

static uint8_t *region_at(struct fakemem *fm, uint64_t addr)
{
	for (size_t i = 0; i < fm->n; i++)
		if (fm->r[i].addr == addr)
			return fm->r[i].data;
	abort();
}

static void test_threads(void)
{
	struct py_layout L = layout_for(0x030c01f0);
	struct fakemem fm = { 0 };
	struct memsrc m = src_of(&fm);
	struct pywalk_tstate out[8];
	uint32_t flags;

	build_threads(&fm, &L, 3);
	int n = pywalk_tstates(&m, &L, RUNTIME, out, 8, &flags);

	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(flags, 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(out[i].addr, TS(i));
		CHECK_EQ_INT(out[i].interp, INTERP);
		CHECK_EQ_INT(out[i].interp_index, 0);
		CHECK_EQ_INT(out[i].native_tid, 100 + i);
		CHECK_EQ_INT(out[i].thread_id, 0x7f0000001000ull + (uint64_t)i * 0x1000);
	}
	/* Capacity bounds the list and says so. */
	n = pywalk_tstates(&m, &L, RUNTIME, out, 2, &flags);
	CHECK_EQ_INT(n, 2);
	CHECK(flags & PYWALK_THREADS_TRUNCATED);

	/* A loop back to the first thread: each thread once, flagged. */
	put64(region_at(&fm, TS(2)), L.tstate_next, TS(0));
	n = pywalk_tstates(&m, &L, RUNTIME, out, 8, &flags);
	CHECK_EQ_INT(n, 3);
	CHECK(flags & PYWALK_THREADS_CYCLE);

	/* A self-loop. */
	put64(region_at(&fm, TS(2)), L.tstate_next, TS(2));
	n = pywalk_tstates(&m, &L, RUNTIME, out, 8, &flags);
	CHECK_EQ_INT(n, 3);
	CHECK(flags & PYWALK_THREADS_CYCLE);

	/* next points at unmapped memory: what was read stays, flagged. */
	put64(region_at(&fm, TS(2)), L.tstate_next, 0x7777000);
	n = pywalk_tstates(&m, &L, RUNTIME, out, 8, &flags);
	CHECK_EQ_INT(n, 3);
	CHECK(flags & PYWALK_THREADS_FAULT);

	/* A misaligned pointer is garbage, not followed. */
	put64(region_at(&fm, TS(1)), L.tstate_next, TS(2) + 3);
	n = pywalk_tstates(&m, &L, RUNTIME, out, 8, &flags);
	CHECK_EQ_INT(n, 2);
	CHECK(flags & PYWALK_THREADS_FAULT);
	put64(region_at(&fm, TS(1)), L.tstate_next, TS(2));
	put64(region_at(&fm, TS(2)), L.tstate_next, 0);

	/* A second interpreter with one thread. */
	uint8_t *ip2 = region(&fm, INTERP2, 16384);
	uint8_t *ts9 = region(&fm, TS(9), 1024);

	put64(region_at(&fm, INTERP), L.interp_next, INTERP2);
	put64(ip2, L.interp_threads_head, TS(9));
	put64(ts9, L.tstate_native_thread_id, 999);
	n = pywalk_tstates(&m, &L, RUNTIME, out, 8, &flags);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(flags, 0);
	CHECK_EQ_INT(out[3].addr, TS(9));
	CHECK_EQ_INT(out[3].interp, INTERP2);
	CHECK_EQ_INT(out[3].interp_index, 1);
	CHECK_EQ_INT(out[3].native_tid, 999);

	/* Interpreters looping back. */
	put64(ip2, L.interp_next, INTERP);
	n = pywalk_tstates(&m, &L, RUNTIME, out, 8, &flags);
	CHECK_EQ_INT(n, 4);
	CHECK(flags & PYWALK_THREADS_CYCLE);

	/* No interpreter at all, or an unreadable runtime. */
	put64(region_at(&fm, RUNTIME), L.runtime_interpreters_head, 0);
	CHECK_EQ_INT(pywalk_tstates(&m, &L, RUNTIME, out, 8, &flags), -EFAULT);
	CHECK_EQ_INT(pywalk_tstates(&m, &L, 0x5000000, out, 8, &flags), -EFAULT);
	fake_free(&fm);
}

/* 3.12: _PyInterpreterFrame chain through tstate->cframe->current_frame. */
static void test_frames_312(void)
{
	struct py_layout L = layout_for(0x030c01f0);
	struct fakemem fm = { 0 };
	struct memsrc m = src_of(&fm);
	uint64_t frames[16];
	uint8_t entry[16];
	uint32_t flags;
	const uint64_t cframe = 0x50000;

	build_threads(&fm, &L, 1);
	put64(region_at(&fm, TS(0)), L.tstate_frame, cframe);
	put64(region(&fm, cframe, 64), L.cframe_current_frame, FRAME(0));
	/* FRAME(0) leaf at index 5, FRAME(1) a C-stack entry shim (owner 3),
	 * FRAME(2) generator-owned at index 0, FRAME(3) not started (prev_instr
	 * one unit before the code), FRAME(4) root. */
	uint64_t instr[5] = { CODE(0) + L.code_code_adaptive + 5 * 2, 0, CODE(2) + L.code_code_adaptive,
			      CODE(3) + L.code_code_adaptive - 2, CODE(4) + L.code_code_adaptive + 40 };
	uint8_t owner[5] = { 0, 3, 1, 0, 0 };

	for (int i = 0; i < 5; i++) {
		uint8_t *f = region(&fm, FRAME(i), 0x400);

		put64(f, L.frame_code, CODE(i));
		put64(f, L.frame_previous, i < 4 ? FRAME(i + 1) : 0);
		put64(f, L.frame_instr, instr[i]);
		f[L.frame_owner] = owner[i];
	}
	memset(entry, 0xee, sizeof(entry));
	size_t n = pywalk_frames(&m, &L, TS(0), frames, entry, 16, &flags);

	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(flags, 0);
	CHECK_EQ_INT(frames[0], (CODE(0) << 16) | 6);
	CHECK_EQ_INT(PYPERF_FRAME_LASTI(frames[0]), 5);
	CHECK_EQ_INT(frames[1], ((CODE(2) | 1) << 16) | 1);
	CHECK(PYPERF_FRAME_IS_GEN(frames[1]));
	CHECK_EQ_INT(PYPERF_FRAME_CODE(frames[1]), CODE(2));
	CHECK_EQ_INT(PYPERF_FRAME_LASTI(frames[2]), -1);
	CHECK_EQ_INT(PYPERF_FRAME_LASTI(frames[3]), 20);
	/* The shim lies between frames[0] and frames[1]. */
	CHECK_EQ_INT(entry[0], 1);
	CHECK_EQ_INT(entry[1], 0);
	CHECK_EQ_INT(entry[2], 0);
	CHECK_EQ_INT(entry[3], 0);

	/* An instruction pointer far outside the code: lasti unknown, frame kept. */
	put64(region_at(&fm, FRAME(4)), L.frame_instr, CODE(4) + 0x100000);
	n = pywalk_frames(&m, &L, TS(0), frames, NULL, 16, &flags);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(frames[3] & 0xffff, PYPERF_LASTI_UNKNOWN);

	/* Capacity: truncated. */
	n = pywalk_frames(&m, &L, TS(0), frames, NULL, 2, &flags);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(flags, STACK_TRUNCATED);

	/* A garbage code pointer breaks the chain where it is. */
	put64(region_at(&fm, FRAME(3)), L.frame_code, 0x123);
	n = pywalk_frames(&m, &L, TS(0), frames, NULL, 16, &flags);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(flags, STACK_BAD_CHAIN);
	put64(region_at(&fm, FRAME(3)), L.frame_code, CODE(3));

	/* A loop longer than one frame. */
	put64(region_at(&fm, FRAME(4)), L.frame_previous, FRAME(2));
	n = pywalk_frames(&m, &L, TS(0), frames, NULL, 16, &flags);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(flags, STACK_BAD_CHAIN);

	/* An unreadable caller. */
	put64(region_at(&fm, FRAME(4)), L.frame_previous, 0x9990000);
	n = pywalk_frames(&m, &L, TS(0), frames, NULL, 16, &flags);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_INT(flags, STACK_READ_FAULT);

	/* No frame at all: a thread running no Python code. */
	put64(region_at(&fm, cframe), L.cframe_current_frame, 0);
	n = pywalk_frames(&m, &L, TS(0), frames, NULL, 16, &flags);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(flags, 0);
	/* An unreadable thread state. */
	n = pywalk_frames(&m, &L, 0x8880000, frames, NULL, 16, &flags);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(flags, STACK_READ_FAULT);
	fake_free(&fm);
}

/* 3.9: PyFrameObject chain, f_lasti in bytes. 3.10: in code units. */
static void test_frames_frame_object(uint32_t version_hex, bool bytes)
{
	struct py_layout L = layout_for(version_hex);
	struct fakemem fm = { 0 };
	struct memsrc m = src_of(&fm);
	uint64_t frames[8];
	uint8_t entry[8];
	uint32_t flags;
	int32_t lasti[3] = { bytes ? 10 : 5, -1, bytes ? 70000 * 2 : 70000 };

	build_threads(&fm, &L, 1);
	put64(region_at(&fm, TS(0)), L.tstate_frame, FRAME(0));
	for (int i = 0; i < 3; i++) {
		uint8_t *f = region(&fm, FRAME(i), 0x400);

		put64(f, 0, 1); /* ob_refcnt: alive */
		put64(f, L.frame_code, CODE(i));
		put64(f, L.frame_previous, i < 2 ? FRAME(i + 1) : 0);
		put32(f, L.frame_instr, lasti[i]);
	}
	size_t n = pywalk_frames(&m, &L, TS(0), frames, entry, 8, &flags);

	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(flags, 0);
	CHECK_EQ_INT(frames[0], (CODE(0) << 16) | 6);
	CHECK_EQ_INT(frames[1], (CODE(1) << 16) | 0);
	CHECK_EQ_INT(frames[2] & 0xffff, PYPERF_LASTI_UNKNOWN); /* does not fit 16 bits */
	/* Every frame object is its own evaluation call. */
	CHECK(entry[0] == 1 && entry[1] == 1 && entry[2] == 1);
	/* A freed frame object (on a free list, f_back linking the list): the
	 * walk stops there rather than follow it. */
	put64(region_at(&fm, FRAME(2)), 0, 0);
	n = pywalk_frames(&m, &L, TS(0), frames, NULL, 8, &flags);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(flags, STACK_BAD_CHAIN);
	put64(region_at(&fm, FRAME(2)), 0, 1);
	/* A frame that is its own caller. */
	put64(region_at(&fm, FRAME(1)), L.frame_previous, FRAME(1));
	n = pywalk_frames(&m, &L, TS(0), frames, NULL, 8, &flags);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(flags, STACK_BAD_CHAIN);
	fake_free(&fm);
}

/* 3.14: f_executable is a tagged _PyStackRef; owners 3 and 4 are skipped. */
static void test_frames_tagged(void)
{
	const struct py_layout *found = py_layout_find(0x030e0af0, NULL);

	if (!found || !(found->flags & PYL_CODE_TAGGED))
		return; /* no 3.14 table here */
	struct py_layout L = *found;
	struct fakemem fm = { 0 };
	struct memsrc m = src_of(&fm);
	uint64_t frames[8];
	uint32_t flags;

	build_threads(&fm, &L, 1);
	put64(region_at(&fm, TS(0)), L.tstate_frame, FRAME(0));
	uint8_t owner[3] = { 0, 4, 0 };

	for (int i = 0; i < 3; i++) {
		uint8_t *f = region(&fm, FRAME(i), 0x400);

		put64(f, L.frame_code, CODE(i) | 1);
		put64(f, L.frame_previous, i < 2 ? FRAME(i + 1) : 0);
		put64(f, L.frame_instr, CODE(i) + L.code_code_adaptive);
		f[L.frame_owner] = owner[i];
	}
	size_t n = pywalk_frames(&m, &L, TS(0), frames, NULL, 8, &flags);

	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(flags, 0);
	CHECK_EQ_INT(PYPERF_FRAME_CODE(frames[0]), CODE(0));
	CHECK_EQ_INT(PYPERF_FRAME_CODE(frames[1]), CODE(2));
	CHECK_EQ_INT(PYPERF_FRAME_LASTI(frames[1]), 0);
	fake_free(&fm);
}

static void test_gil(void)
{
	struct fakemem fm = { 0 };
	struct memsrc m = src_of(&fm);
	uint64_t holder = 77;

	/* 3.9: gilstate.tstate_current. */
	struct py_layout L = layout_for(0x030912f0);

	build_threads(&fm, &L, 2);
	put64(region_at(&fm, RUNTIME), L.runtime_gilstate_tstate_current, TS(1));
	CHECK_EQ_INT(pywalk_gil_holder(&m, &L, RUNTIME, INTERP, &holder), 0);
	CHECK_EQ_INT(holder, TS(1));
	put64(region_at(&fm, RUNTIME), L.runtime_gilstate_tstate_current, 0);
	CHECK_EQ_INT(pywalk_gil_holder(&m, &L, RUNTIME, INTERP, &holder), 0);
	CHECK_EQ_INT(holder, 0);
	CHECK_EQ_INT(pywalk_gil_holder(&m, &L, 0x4440000, INTERP, &holder), -EFAULT);
	fake_free(&fm);

	/* 3.12: interp->ceval.gil, locked and last_holder. */
	L = layout_for(0x030c01f0);
	const uint64_t gil = 0x60000;
	uint8_t *g;

	build_threads(&fm, &L, 2);
	put64(region_at(&fm, INTERP), L.interp_gil, gil);
	g = region(&fm, gil, 256);
	put32(g, L.gil_locked, 1);
	put64(g, L.gil_last_holder, TS(0));
	CHECK_EQ_INT(pywalk_gil_holder(&m, &L, RUNTIME, INTERP, &holder), 0);
	CHECK_EQ_INT(holder, TS(0));
	/* Released: last_holder stays, but nobody holds it. */
	put32(g, L.gil_locked, 0);
	CHECK_EQ_INT(pywalk_gil_holder(&m, &L, RUNTIME, INTERP, &holder), 0);
	CHECK_EQ_INT(holder, 0);
	/* Not a GIL. */
	put32(g, L.gil_locked, 12345);
	CHECK_EQ_INT(pywalk_gil_holder(&m, &L, RUNTIME, INTERP, &holder), -EFAULT);
	put64(region_at(&fm, INTERP), L.interp_gil, 0);
	CHECK_EQ_INT(pywalk_gil_holder(&m, &L, RUNTIME, INTERP, &holder), -EFAULT);
	/* A layout that says nothing. */
	L.interp_gil = PY_OFF_NONE;
	CHECK_EQ_INT(pywalk_gil_holder(&m, &L, RUNTIME, INTERP, &holder), -ENOTSUP);
	fake_free(&fm);
}

#define DESC(i) (0x7f0000100000ull + 0x10000ull * (i))

static void test_pthread_tid_offset(void)
{
	struct fakemem fm = { 0 };
	struct memsrc m = src_of(&fm);
	uint64_t ptids[3] = { DESC(0), DESC(1), DESC(2) };
	int32_t tids[4] = { 500, 501, 502, 900 };
	uint8_t *d[3];

	for (int i = 0; i < 3; i++) {
		d[i] = region(&fm, DESC(i), 0x1000);
		put32(d[i], PYWALK_GLIBC_TID_OFFSET, 500 + i);
	}
	/* Decoys: one descriptor holds a TID at another offset. */
	put32(d[0], 16, 501);
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, ptids, 3, tids, 4), PYWALK_GLIBC_TID_OFFSET);

	/* Another libc: the TID at 208 only. */
	for (int i = 0; i < 3; i++) {
		put32(d[i], PYWALK_GLIBC_TID_OFFSET, 0);
		put32(d[i], 208, 500 + i);
	}
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, ptids, 3, tids, 4), 208);

	/* Two offsets pass: the glibc one wins; without it, the lowest. */
	for (int i = 0; i < 3; i++) {
		put32(d[i], 1000, 500 + i);
		put32(d[i], PYWALK_GLIBC_TID_OFFSET, 500 + i);
	}
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, ptids, 3, tids, 4), PYWALK_GLIBC_TID_OFFSET);
	for (int i = 0; i < 3; i++)
		put32(d[i], PYWALK_GLIBC_TID_OFFSET, 0);
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, ptids, 3, tids, 4), 208);

	/* An offset giving the same TID for two threads is not a TID field. */
	for (int i = 0; i < 3; i++) {
		put32(d[i], 208, 900);
		put32(d[i], 1000, 900);
	}
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, ptids, 3, tids, 4), -1);

	/* The same pthread_t twice counts once. */
	uint64_t same[2] = { DESC(1), DESC(1) };

	put32(d[1], 208, 501);
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, same, 2, tids, 4), 208);

	/* Unreadable descriptors, bad pointers, nothing to match. */
	uint64_t bad[1] = { 0x6660000 };
	uint64_t odd[1] = { DESC(0) + 2 };

	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, bad, 1, tids, 4), -1);
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, odd, 1, tids, 4), -1);
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, ptids, 0, tids, 4), -1);
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m, ptids, 3, tids, 0), -1);
	/* A descriptor near the end of its mapping is scanned as far as readable. */
	struct fakemem fm2 = { 0 };
	struct memsrc m2 = src_of(&fm2);
	uint8_t *shortd = region(&fm2, DESC(5), 64);
	uint64_t one[1] = { DESC(5) };

	put32(shortd, 40, 502);
	CHECK_EQ_INT(pywalk_pthread_tid_offset(&m2, one, 1, tids, 4), 40);
	fake_free(&fm2);
	fake_free(&fm);
}

/* ------------------------------------------ bpf/pyperf_frame.h rules */

#define CODE_AT 0x7f12345678a0ull

static void test_frame_pack(void)
{
	/* lasti -1 (not started) .. 0xfffd fit; the rest is unknown. */
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 0, -1), (CODE_AT << 16) | 0);
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 0, 0), (CODE_AT << 16) | 1);
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 0, 0xfffd), (CODE_AT << 16) | 0xfffe);
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 0, 0xfffe), (CODE_AT << 16) | PYPERF_LASTI_UNKNOWN);
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 0, -2), (CODE_AT << 16) | PYPERF_LASTI_UNKNOWN);
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 0, INT64_MIN), (CODE_AT << 16) | PYPERF_LASTI_UNKNOWN);
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 0, INT64_MAX), (CODE_AT << 16) | PYPERF_LASTI_UNKNOWN);

	/* The decoders of pyperf.h give back what was packed. */
	uint64_t f = pyperf_frame_pack(CODE_AT, 1, 0xfffd);

	CHECK_EQ_INT(PYPERF_FRAME_CODE(f), CODE_AT);
	CHECK_EQ_INT(PYPERF_FRAME_IS_GEN(f), 1);
	CHECK_EQ_INT(PYPERF_FRAME_LASTI(f), 0xfffd);
	f = pyperf_frame_pack(CODE_AT, 0, -1);
	CHECK_EQ_INT(PYPERF_FRAME_CODE(f), CODE_AT);
	CHECK_EQ_INT(PYPERF_FRAME_IS_GEN(f), 0);
	CHECK_EQ_INT(PYPERF_FRAME_LASTI(f), -1);
	f = pyperf_frame_pack(CODE_AT, 1, 0xfffe);
	CHECK_EQ_INT(PYPERF_FRAME_CODE(f), CODE_AT);
	CHECK_EQ_INT(PYPERF_FRAME_IS_GEN(f), 1);
	CHECK_EQ_INT(f & 0xffff, PYPERF_LASTI_UNKNOWN);
	/* Unknown decodes to -2 (no line), not to 0xfffe (a line far past the end). */
	CHECK_EQ_INT(PYPERF_FRAME_LASTI(f), -2);
	/* The generator bit is bit 16 of the value, bit 0 of the code field. */
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 1, 4) ^ pyperf_frame_pack(CODE_AT, 0, 4), 1ull << 16);
}

static void test_frame_lasti(void)
{
	const uint16_t adaptive = 0xc8;
	const uint64_t start = CODE_AT + adaptive;

	/* 3.11+: code units from the start of the bytecode. */
	CHECK_EQ_INT(pyperf_lasti_of_instr(start, CODE_AT, adaptive), 0);
	CHECK_EQ_INT(pyperf_lasti_of_instr(start + 10, CODE_AT, adaptive), 5);
	CHECK_EQ_INT(pyperf_lasti_of_instr(start + 11, CODE_AT, adaptive), 5);
	/* Before the start: negative, rounded down (arithmetic shift). */
	CHECK_EQ_INT(pyperf_lasti_of_instr(start - 2, CODE_AT, adaptive), -1);
	CHECK_EQ_INT(pyperf_lasti_of_instr(start - 1, CODE_AT, adaptive), -1);
	CHECK_EQ_INT(pyperf_lasti_of_instr(start - 3, CODE_AT, adaptive), -2);
	CHECK_EQ_INT(pyperf_lasti_of_instr(CODE_AT, CODE_AT, adaptive), -(adaptive / 2));
	/* A pointer below the code object (instr - code wraps as unsigned). */
	CHECK_EQ_INT(pyperf_lasti_of_instr(0x1000, CODE_AT, adaptive),
		     ((int64_t)(0x1000 - CODE_AT) - adaptive) / 2);
	CHECK_EQ_INT(pyperf_lasti_of_instr(0, CODE_AT, adaptive) < -1, 1);
	/* Far past the code: too large to pack. */
	CHECK_EQ_INT(pyperf_lasti_of_instr(start + 2 * 0xfffe, CODE_AT, adaptive), 0xfffe);
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 0, pyperf_lasti_of_instr(start + 2 * 0xfffe, CODE_AT, adaptive)) & 0xffff,
		     PYPERF_LASTI_UNKNOWN);
	CHECK_EQ_INT(pyperf_frame_pack(CODE_AT, 0, pyperf_lasti_of_instr(start - 2, CODE_AT, adaptive)) & 0xffff, 0);

	/* 3.8-3.9: f_lasti in bytes; 3.10: in code units; -1 stays -1. */
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(10, PYL_FRAME_OBJECT | PYL_LASTI_BYTES), 5);
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(11, PYL_FRAME_OBJECT | PYL_LASTI_BYTES), 5);
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(0, PYL_FRAME_OBJECT | PYL_LASTI_BYTES), 0);
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(-1, PYL_FRAME_OBJECT | PYL_LASTI_BYTES), -1);
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(-3, PYL_FRAME_OBJECT | PYL_LASTI_BYTES), -3);
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(INT32_MAX, PYL_LASTI_BYTES), INT32_MAX / 2);
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(10, PYL_FRAME_OBJECT), 10);
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(-1, PYL_FRAME_OBJECT), -1);
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(INT32_MIN, PYL_FRAME_OBJECT), INT32_MIN);
	/* 0xfffd code units is the last that fits, in bytes or not. */
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(2 * 0xfffd, PYL_LASTI_BYTES), 0xfffd);
	CHECK_EQ_INT(pyperf_lasti_of_f_lasti(2 * 0xfffe, PYL_LASTI_BYTES), 0xfffe);

	/* 3.14+ tags the code reference in its low 2 bits. */
	CHECK_EQ_INT(pyperf_frame_code_of(CODE_AT | 3, PYL_CODE_TAGGED), CODE_AT);
	CHECK_EQ_INT(pyperf_frame_code_of(CODE_AT | 1, PYL_CODE_TAGGED | PYL_INSTR_POINTER), CODE_AT);
	CHECK_EQ_INT(pyperf_frame_code_of(CODE_AT | 1, PYL_INSTR_POINTER), CODE_AT | 1);
}

int main(void)
{
	test_threads();
	test_frames_312();
	test_frames_frame_object(0x030912f0, true);
	test_frames_frame_object(0x030a0df0, false);
	test_frames_tagged();
	test_gil();
	test_pthread_tid_offset();
	test_frame_pack();
	test_frame_lasti();
	UNIT_DONE();
}
