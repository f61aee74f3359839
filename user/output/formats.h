/* The profile formats pyperf writes, their names and file-name suffixes. */
#ifndef PYPERF_FORMATS_H
#define PYPERF_FORMATS_H

enum out_format { FMT_AUTO, FMT_SVG, FMT_FOLDED, FMT_PPROF, FMT_SPEEDSCOPE };

/* "svg", "folded", "pprof", "speedscope" -> the format; FMT_AUTO if none. */
enum out_format format_by_name(const char *name);
/* The format a path's suffix names (.svg, .folded/.txt, .pb.gz/.pprof,
 * .speedscope.json/.json), or FMT_AUTO. */
enum out_format format_from_path(const char *path);
/* The suffix files of format f get (".svg" for FMT_AUTO). */
const char *format_suffix(enum out_format f);

#endif
