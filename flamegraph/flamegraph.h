/*
 * Flame graphs: a trie of stacks (fg_tree) built from folded lines or from
 * pyperf's own samples, and an interactive SVG writer (fg_write_svg).
 *
 * The SVG needs no network and no other file: hover shows
 * "name (N samples, P%)", click zooms into a frame, "Reset Zoom" and
 * clicking the root undo it, "Search" (or Ctrl-F) highlights frames whose
 * name matches a regular expression and shows "Matched: P%" of all samples;
 * zoom and search are kept in the URL fragment. Every name is XML-escaped;
 * the script reads names from the DOM (textContent), never from its source.
 */
#ifndef PYPERF_FLAMEGRAPH_H
#define PYPERF_FLAMEGRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct fg_tree;

struct fg_tree *fg_tree_new(void);
void fg_tree_free(struct fg_tree *t);

/*
 * Adds `count` samples of one stack; frames[0] is the root (outermost call),
 * names are NUL-terminated and copied. Common prefixes are merged. A count of
 * 0 adds nothing. Returns 0, -ENOMEM, or -EOVERFLOW when the total would pass
 * UINT64_MAX samples or the tree would pass 2^32 - 2 frames.
 */
int fg_tree_add(struct fg_tree *t, const char *const *frames, size_t nframes, uint64_t count);

/* Samples added so far (the width of the root frame). */
uint64_t fg_tree_total(const struct fg_tree *t);
/* Distinct frames in the tree, the root not included. */
size_t fg_tree_frames(const struct fg_tree *t);

/* A tree's frames by path, for a caller comparing two trees (pyperf diff):
 * frame 0 is the root; fg_tree_child gives the child of parent called name,
 * or FG_NO_FRAME (also when parent is FG_NO_FRAME). */
#define FG_NO_FRAME UINT32_MAX
uint32_t fg_tree_child(const struct fg_tree *t, uint32_t parent, const char *name);
/* Samples in a frame and everything it called; 0 for FG_NO_FRAME. */
uint64_t fg_tree_frame_total(const struct fg_tree *t, uint32_t frame);

/* Colour schemes accepted by fg_options.colors, NULL-terminated. */
extern const char *const fg_color_schemes[];
bool fg_color_scheme_valid(const char *scheme);

/* How the caller of a differential graph wants one frame drawn. */
struct fg_style {
	double change;          /* -1..1: > 0 grew (red), < 0 shrank (blue), the
	                           size is the intensity; 0: neutral (grey) */
	bool added;             /* a dashed outline: not in the baseline */
	char note[256];         /* tooltip text after the share ("NAME (N
	                           samples, P%; NOTE)"); " (" in it is written
	                           " [" so the name still ends at the last " (" */
};
/* name: the frame's; depth: root 0; total: its samples. */
typedef void (*fg_style_fn)(void *ctx, const char *name, uint32_t depth, uint64_t total, struct fg_style *style);

#define FG_WIDTH_MIN 100
#define FG_WIDTH_MAX 100000

struct fg_options {
	const char *title;      /* NULL: "Flame Graph" ("Icicle Graph" when reverse) */
	const char *subtitle;   /* NULL or "": none */
	int width;              /* image width in px, FG_WIDTH_MIN..FG_WIDTH_MAX; 1200 */
	double minwidth;        /* frames narrower than this many px are not drawn
	                           (nor their children), which bounds the SVG's
	                           size: at most width/minwidth frames per level; 0.1 */
	bool reverse;           /* icicle: root at the top, calls hang down */
	const char *colors;     /* one of fg_color_schemes; "python" */
	const char *count_name; /* unit in tooltips, "samples"; must not contain " (" */
	int frame_height;       /* px per stack level, 16 */
	int font_size;          /* px, 12 */
	/* Differential colouring (pyperf diff): when set, style is called for
	 * every drawn frame, parents before their children (so a caller can
	 * follow the path, depth by depth), and the frame is filled by
	 * fg_style.change instead of the colour scheme, with the diff legend. */
	fg_style_fn style;
	void *style_ctx;
	/* Lines of text under the graph (e.g. frames gone since a baseline);
	 * escaped when written. */
	const char *const *notes;
	size_t nnotes;
};

void fg_options_init(struct fg_options *o);

/*
 * Writes the tree as one standalone SVG document. Memory used beyond the tree
 * is proportional to its frames; output is streamed. Returns 0, -EINVAL for a
 * bad option (unknown colour scheme, width out of range, minwidth < 0 or not
 * finite, frame_height/font_size out of 4..200), -ENOMEM, or -EIO if `out`
 * reports an error (ferror) -- the caller still owns and closes `out`.
 */
int fg_write_svg(const struct fg_tree *t, const struct fg_options *o, FILE *out);

/*
 * How the Python-aware colour scheme sees a frame label. pyperf labels frames
 * "qualname (path/to/file.py:LINE)" (py-spy writes the same shape), native
 * ones "symbol (libname)" or "libname+0xADDR", kernel ones "symbol [kernel]"
 * and its own marks "[...]"; the rule is in colors.c. The file part decides
 * the kind of a Python frame; frames of one file share one colour.
 */
enum fg_frame_kind {
	FG_FRAME_USER,        /* any other file: the code being profiled */
	FG_FRAME_STDLIB,      /* .../lib/python3.X/..., <frozen ...> */
	FG_FRAME_LIBRARY,     /* .../site-packages/..., .../dist-packages/... */
	FG_FRAME_PYPERF,      /* pyperf's pseudo-frames, "[...]" (also the root) */
	FG_FRAME_NATIVE,      /* C code: "symbol (libname)", "libname+0xADDR" */
	FG_FRAME_KERNEL,      /* "symbol [kernel]" */
	FG_FRAME_OTHER,       /* not in the label form (other tools' names) */
};

/*
 * Classifies a label. For USER, STDLIB, LIBRARY and NATIVE, *file and
 * *file_len (if not NULL) give the path (the library's name) inside the
 * label; otherwise the whole name.
 */
enum fg_frame_kind fg_frame_classify(const char *name, size_t len,
				     const char **file, size_t *file_len);

#endif
