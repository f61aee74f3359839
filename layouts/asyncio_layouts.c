/* SPDX-License-Identifier: MIT */
/* Picks the asyncio table of a version (layouts/asyncio_layouts.h). */
#include "asyncio_layouts.h"
#include "layouts.h"

const struct py_async_layout *py_async_layout_find(uint32_t version_hex, bool *exact)
{
	const struct py_async_layout *best = NULL;
	uint32_t want = version_hex >> 16, best_d = UINT32_MAX;

	for (unsigned i = 0; i < py_async_layouts_count; i++) {
		const struct py_async_layout *a = &py_async_layouts[i];

		if (a->version_hex >> 16 != want)
			continue;
		uint32_t d = a->version_hex > version_hex ? a->version_hex - version_hex : version_hex - a->version_hex;

		/* ties go to the later release, as py_layout_find does */
		if (d < best_d || (d == best_d && best && a->version_hex > best->version_hex)) {
			best = a;
			best_d = d;
		}
	}
	if (exact)
		*exact = best && best->version_hex == version_hex;
	return best;
}
