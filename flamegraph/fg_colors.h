/* Private to flamegraph/: colour schemes (colors.c), used by svg.c and the
 * unit tests. */
#ifndef PYPERF_FG_COLORS_H
#define PYPERF_FG_COLORS_H

#include <stddef.h>
#include <stdint.h>

#include "flamegraph.h"

/* Indices into fg_color_schemes[]. */
enum { FG_SCHEME_PYTHON, FG_SCHEME_HOT, FG_SCHEME_COLD, FG_SCHEME_GRAY };

struct fg_rgb {
	uint8_t r, g, b;
};

/* Index of `scheme` in fg_color_schemes, or -1. */
int fg_color_scheme_lookup(const char *scheme);

/* The fill of a frame called name[0..len) under a scheme (an index above).
 * Deterministic: the same name gets the same colour in every run. */
struct fg_rgb fg_frame_color(int scheme, const char *name, size_t len);

/* The "python" scheme's colour for a kind of frame, keyed by its file;
 * an empty key gives the middle of the kind's range (used by the legend). */
struct fg_rgb fg_kind_color(enum fg_frame_kind kind, const char *key, size_t len);

/* A differential graph's fill for a change in -1..1 (fg_style.change):
 * red for growth, blue for shrinking, deeper with the size; 0 grey. */
struct fg_rgb fg_diff_color(double change);

#endif
