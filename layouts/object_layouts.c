/* SPDX-License-Identifier: MIT */
/* Picks the object table of a version (layouts/object_layouts.h). */
#include "object_layouts.h"
#include "layouts.h"

const struct py_obj_layout *py_obj_layout_find(uint32_t version_hex, bool *exact)
{
	return py_version_nearest(py_obj_layouts, py_obj_layouts_count, sizeof(py_obj_layouts[0]), version_hex,
				  exact);
}
