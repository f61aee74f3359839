/*
 * record/top --native: where a sample's Python frames go among its native
 * ones. A pure function of the frames and the eval marks, so it is tested
 * without any process (tests/unit/test_nmerge.c).
 */
#ifndef PYPERF_NMERGE_H
#define PYPERF_NMERGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum merge_kind {
	MERGE_PY,       /* index into py[] */
	MERGE_NATIVE,   /* index into native[] (the eval[] marks) */
	MERGE_STOP,     /* the native stack ended early here: its root side is missing */
};

struct merge_item {
	uint8_t kind;   /* enum merge_kind */
	uint32_t index; /* into py[] or the native frames; 0 for MERGE_STOP */
};

/*
 * The merged stack, ROOT FIRST, into out (at most cap items); returns how
 * many were written.
 *   py[npy]: the Python frames, leaf first, packed (PYPERF_FRAME_IS_ENTRY
 *            marks a frame a C call entered the evaluation loop with).
 *   eval[nnative]: per native frame, leaf first, whether it is a frame of
 *            the evaluation function. nnative does not count the
 *            PYPERF_NATIVE_STOP value; stopped says there was one.
 * Rules:
 *  - The Python frames split into segments, leaf first: each from the
 *    innermost frame not yet taken through the next entry-marked one (the
 *    last segment ends at the root frame, marked or not).
 *  - The k-th eval frame (leaf first) is replaced by the k-th segment, its
 *    frames root first in that place. Other native frames stay.
 *  - Eval frames with no segment left stay as native frames.
 *  - Segments left over (the native stack stopped early, or it had fewer
 *    eval frames than segments) go root-most, root first; when stopped,
 *    a MERGE_STOP follows them and then the native part. Not stopped, the
 *    leftovers are a mismatch: root-most too, with no MERGE_STOP.
 *  - Stopped with no segment left over: MERGE_STOP is the root.
 *  - nnative == 0: the Python frames root first, nothing else.
 * npy + nnative + 1 items always suffice; with a smaller cap the leaf-most
 * cap items are kept (the root side is lost, as the kernel truncates).
 */
size_t native_merge_order(const uint64_t *py, size_t npy, const bool *eval, size_t nnative, bool stopped,
			  struct merge_item *out, size_t cap);

#endif
