/* SPDX-License-Identifier: MIT */
/* Picks the asyncio table of a version (layouts/asyncio_layouts.h). */
#include "asyncio_layouts.h"
#include "layouts.h"

const struct py_async_layout *py_async_layout_find(uint32_t version_hex, bool *exact)
{
	return py_version_nearest(py_async_layouts, py_async_layouts_count, sizeof(py_async_layouts[0]),
				  version_hex, exact);
}
