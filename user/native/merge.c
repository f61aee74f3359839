/* Python frames attached to the native frames that run them (see native.h). */
#include "native/native.h"

void native_merge(struct native_ctx *c, struct native_stack *ns, const uint64_t *frames,
		  const uint8_t *entry, size_t n, uint32_t layout_flags)
{
	(void)c;
	(void)frames;
	size_t nevals = 0, nseg = 0;

	ns->merged = false;
	if (!ns->n || !n || !entry)
		return;
	for (size_t k = 0; k < ns->n; k++)
		nevals += ns->frames[k].eval;
	/* Entry marks come from the walker (3.11: is_entry, 3.12+: shim
	 * frames, 3.8-3.10: every frame); a layout without them gives none,
	 * and then there is nothing to match by. */
	(void)layout_flags;
	bool any_entry = false;

	for (size_t i = 0; i < n; i++)
		any_entry |= entry[i] != 0;
	if (!any_entry)
		return;
	for (size_t i = 0; i < n; i++)
		if (entry[i] || i == n - 1)
			nseg++;
	if (nevals != nseg)
		return;
	/* The k-th evaluation-loop frame (innermost first) runs segment k. */
	size_t i = 0;

	for (size_t k = 0; k < ns->n; k++) {
		struct native_frame *nf = &ns->frames[k];

		if (!nf->eval)
			continue;
		nf->py_first = i;
		while (i < n && !entry[i])
			i++;
		if (i < n)
			i++;
		nf->py_count = i - nf->py_first;
	}
	ns->merged = true;
}
