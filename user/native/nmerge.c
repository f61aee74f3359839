/* The merge of a sample's Python and native frames (see nmerge.h). */
#include "native/nmerge.h"
#include "pyperf.h"

/* Items are produced leaf first and stored from the end of out, so the
 * result reads root first and a short cap keeps the leaf side. */
struct sink {
	struct merge_item *out;
	size_t n;       /* items that will be stored */
	size_t i;       /* items produced so far */
};

static void put(struct sink *s, enum merge_kind kind, size_t index)
{
	if (s->i < s->n)
		s->out[s->n - 1 - s->i] = (struct merge_item){ (uint8_t)kind, (uint32_t)index };
	s->i++;
}

/* Emits the segment starting at py[*pos] (leaf first) and moves past it. */
static void put_segment(struct sink *s, const uint64_t *py, size_t npy, size_t *pos)
{
	for (size_t k = *pos; k < npy; k++) {
		put(s, MERGE_PY, k);
		if (PYPERF_FRAME_IS_ENTRY(py[k]) || k == npy - 1) {
			*pos = k + 1;
			return;
		}
	}
	*pos = npy;
}

size_t native_merge_order(const uint64_t *py, size_t npy, const bool *eval, size_t nnative, bool stopped,
			  struct merge_item *out, size_t cap)
{
	size_t nseg = 0, nevals = 0, total;

	if (!nnative)
		stopped = false;
	for (size_t k = 0; k < npy; k++)
		if (PYPERF_FRAME_IS_ENTRY(py[k]) || k == npy - 1)
			nseg++;
	for (size_t j = 0; j < nnative; j++)
		nevals += eval[j];
	/* Every Python and native frame once, less the eval frames a segment
	 * replaces, plus the stop mark. */
	total = npy + nnative - (nevals < nseg ? nevals : nseg) + stopped;

	struct sink s = { out, total < cap ? total : cap, 0 };
	size_t pos = 0;

	for (size_t j = 0; j < nnative; j++) {
		if (eval[j] && pos < npy)
			put_segment(&s, py, npy, &pos);
		else
			put(&s, MERGE_NATIVE, j);
	}
	if (stopped)
		put(&s, MERGE_STOP, 0);
	while (pos < npy)
		put_segment(&s, py, npy, &pos);
	return s.n;
}
