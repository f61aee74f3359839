/* Private to flamegraph/: the static CSS and script embedded in the SVG
 * (svg_script.c). */
#ifndef PYPERF_FG_SVG_H
#define PYPERF_FG_SVG_H

/* Static CSS; the font size is set by a rule written before it. */
extern const char fg_svg_style[];
/* Static JavaScript; contains no "]]>" so it can sit in a CDATA section. */
extern const char fg_svg_script[];

#endif
