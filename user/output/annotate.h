/*
 * pyperf annotate: a profile's samples per Python source line, per
 * function and per file, and the source text to show them against.
 *
 * Shares: a line's own samples are those whose innermost Python frame is
 * on it (the native, kernel and [pseudo] frames below it, the C code it
 * calls, count as its own); its total samples are those with a frame on it
 * anywhere in the stack, each sample once however often the line recurs.
 * A function's and a file's own and total are the same over their frames.
 * Functions are told apart by (name, file, first line); profiles whose
 * labels lack the first line (folded) merge functions of one name in one
 * file.
 */
#ifndef PYPERF_ANNOTATE_H
#define PYPERF_ANNOTATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "output/profile_read.h"
#include "util/u64map.h"

/* Lines at least this share (percent) of all samples are hot ('*', red);
 * from ANN_WARM_PCT on, warm: perf annotate's thresholds. */
#define ANN_HOT_PCT 5.0
#define ANN_WARM_PCT 0.5
/* Source files larger than this are not read (the lines are listed by number). */
#define ANN_SOURCE_MAX (16u << 20)

struct ann_line {
	uint32_t owner;          /* function or file index */
	int line;
	uint64_t own, total;
	size_t stamp;            /* the last stack counted in total */
};

/* One function or one file: its own/total and its lines [first, first + nlines). */
struct ann_unit {
	const char *name;        /* function name; NULL for a file */
	const char *file;        /* interned in the profile's labels */
	int firstline;           /* -1: unknown */
	uint64_t own, total;
	size_t first, nlines;    /* into the lines array, sorted by line */
	size_t stamp;
};

struct ann_table {
	struct ann_unit *units;
	size_t n, cap;
	struct ann_line *lines;
	size_t nlines, caplines;
	struct u64map index;      /* unit key -> index + 1 (probed) */
	struct u64map line_index; /* owner << 32 | line -> lines index + 1 */
};

struct annotation {
	struct ann_table funcs, files;
	uint64_t total;           /* all samples of the profile */
	uint64_t python;          /* samples with a Python frame */
};

/* Tallies rp's samples per function, file and line. 0 or -ENOMEM. */
int annotation_build(struct annotation *a, const struct read_profile *rp);
void annotation_free(struct annotation *a);
/* The lines of a unit, sorted by line number. */
static inline const struct ann_line *ann_unit_lines(const struct ann_table *t, const struct ann_unit *u)
{
	return t->lines + u->first;
}

/* --source-root [OLD=]NEW: see annotate's --help. */
struct ann_remap {
	const char *old;         /* NULL: NEW is put before every path */
	const char *new_root;
};

/* A source file's text split in lines. */
struct ann_source {
	char *data;
	size_t len;
	const char **line;       /* line[i] is line i + 1, line_len[i] its length without the newline */
	size_t *line_len;
	size_t nlines;
	char path[4096];         /* the path read */
};

/* Reads the source of recorded path: the remapped candidates in order,
 * then the path as recorded; only regular files of at most ANN_SOURCE_MAX
 * bytes (a profile is hostile input: it may name a FIFO or a device).
 * Returns 0, or -errno of the last try (src empty). */
int ann_source_load(struct ann_source *src, const char *path, const struct ann_remap *remaps, size_t nremaps);
void ann_source_free(struct ann_source *src);

/* The line the function starts on: firstline when known, else the
 * nearest "def NAME" / "async def NAME" / "class NAME" line at or above
 * its first sampled line (NAME: the qualname's last part), else that line. */
int ann_function_start(const struct ann_unit *fn, const struct ann_line *lines, const struct ann_source *src);

/* Percent of the annotation's samples. */
static inline double ann_pct(const struct annotation *a, uint64_t n)
{
	return a->total ? 100.0 * (double)n / (double)a->total : 0;
}

/* The functions to show: indices into a->funcs, by total then own, at
 * most max (0: all), only those whose name is function (the qualname or
 * its last dotted part) and whose file is file (the path, or a path that
 * ends in "/" file) when those are given. *n the count; NULL on ENOMEM. */
size_t *ann_pick_functions(const struct annotation *a, const char *function, const char *file, size_t max,
			   size_t *n);

/* Text: per picked function, its header and its source lines with own%
 * and total%, hot ones marked. */
void ann_write_text(FILE *f, const struct annotation *a, const size_t *picked, size_t npicked,
		    const struct ann_remap *remaps, size_t nremaps, const char *profile_name);

/* One self-contained HTML page: the files by total share, each a
 * heat-coloured listing; at most max_files files. 0 or -errno. */
int ann_write_html(FILE *f, const struct annotation *a, const struct ann_remap *remaps, size_t nremaps,
		   const char *profile_name, size_t max_files);

#endif
