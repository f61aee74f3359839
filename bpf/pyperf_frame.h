/* SPDX-License-Identifier: MIT */
/*
 * How a frame read from the target becomes the 64-bit value userspace gets
 * (PYPERF_FRAME_* in pyperf.h decode it): the per-version rules for the
 * instruction offset, and the packing. Compiled by the BPF program (clang
 * -target bpf, after vmlinux.h) and by the host (user/python/pywalk.c and
 * its unit test), so both walkers and the tests run this very code. Only
 * fixed-width kernel types and arithmetic the verifier accepts: no calls,
 * no signed division.
 */
#ifndef PYPERF_FRAME_H
#define PYPERF_FRAME_H

#include "pyperf.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * User-space addresses lie below this; anything at or above it read from
 * the target is garbage. x86_64: 47 bits (4-level paging; 5-level paging
 * maps above only on request). arm64: 48 bits (52-bit kernels likewise).
 * The BPF program knows its target from -D__TARGET_ARCH_*, the host from
 * its compiler.
 */
#if defined(__TARGET_ARCH_x86) || (!defined(__bpf__) && defined(__x86_64__))
#define PYPERF_USER_ADDR_LIMIT (1ull << 47)
#elif defined(__TARGET_ARCH_arm64) || (!defined(__bpf__) && defined(__aarch64__))
#define PYPERF_USER_ADDR_LIMIT (1ull << 48)
#else
#error "pyperf: the user address limit of this architecture is not known (only x86_64 and arm64 are)"
#endif

/* The code object of a frame's code field: 3.14+ tags it (a _PyStackRef
 * whose low 2 bits are flags). */
static __always_inline __u64 pyperf_frame_code_of(__u64 field, __u32 layout_flags)
{
	return (layout_flags & PYL_CODE_TAGGED) ? field & ~3ull : field;
}

/*
 * 3.11+ (PYL_INSTR_POINTER): the instruction index (2-byte code units) of
 * an instruction pointer into the code object's bytecode, which starts
 * code_adaptive bytes into the code object. -1 when it points one unit
 * before the start (not started); garbage pointers give values out of
 * range, which pyperf_frame_pack() turns into PYPERF_LASTI_UNKNOWN.
 */
static __always_inline __s64 pyperf_lasti_of_instr(__u64 instr, __u64 code, __u16 code_adaptive)
{
	/* An arithmetic shift: BPF has no signed division. */
	return ((__s64)(instr - code) - (__s64)code_adaptive) >> 1;
}

/* 3.8-3.10: the instruction index of f_lasti (an int; taken as __s64,
 * which lets clang keep the BPF code as short as before), which counts
 * bytes on 3.8-3.9 (PYL_LASTI_BYTES) and code units on 3.10; negative
 * (not started) stays as it is. */
static __always_inline __s64 pyperf_lasti_of_f_lasti(__s64 f_lasti, __u32 layout_flags)
{
	__s64 lasti = f_lasti;

	if ((layout_flags & PYL_LASTI_BYTES) && lasti >= 0)
		lasti >>= 1;
	return lasti;
}

/* ((code | is_gen) << 16) | (lasti + 1), lasti outside [-1, 0xfffd] kept
 * as PYPERF_LASTI_UNKNOWN (see PYPERF_FRAME_* in pyperf.h). is_gen: 0 or 1. */
static __always_inline __u64 pyperf_frame_pack(__u64 code, __u32 is_gen, __s64 lasti)
{
	__u64 packed_lasti = (lasti < -1 || lasti > 0xfffd) ? PYPERF_LASTI_UNKNOWN : (__u64)(lasti + 1);

	return ((code | (__u64)is_gen) << 16) | packed_lasti;
}

#endif /* PYPERF_FRAME_H */
