/* Code object address + instruction index -> "qualname (file:line)". */
#ifndef PYPERF_SYMBOLIZE_H
#define PYPERF_SYMBOLIZE_H
#include <stdbool.h>
#include <stdint.h>

#include "target/memsrc.h"
#include "target/pyproc.h"
#include "output/frametab.h"

struct symbolizer;

struct symbolizer_stats {
	uint64_t code_objects;      /* distinct code objects read */
	uint64_t unreadable;        /* code objects that could not be read or were not code */
	uint64_t cache_flushes;     /* times the per-process caches hit their cap and restarted */
};

/* Symbolizes frames of target t; labels are interned in tab (not owned). */
struct symbolizer *symbolizer_new(const struct py_target *t, struct frametab *tab);
/* The same, reading target memory through src (copied) instead of t->pid. */
struct symbolizer *symbolizer_new_src(const struct py_target *t, struct frametab *tab,
				      const struct memsrc *src);
void symbolizer_free(struct symbolizer *s);

/*
 * Label of a captured frame (PYPERF_FRAME_* packing), interned; NULL when the
 * frame must be hidden (3.11+ frames still in their prologue, as CPython
 * hides them) or on out-of-memory. Unreadable code objects get a
 * "[unknown code 0x...]" label rather than a guess.
 */
const char *symbolizer_frame(struct symbolizer *s, uint64_t frame);

/* Whether labels carry the line (default) or only name and file (--no-lines).
 * Set before the first symbolizer_frame call. */
void symbolizer_set_lines(struct symbolizer *s, bool lines);

/*
 * Checks again up to max_codes cached code objects (round robin over calls)
 * that they still hold what they held when read: the fields a live code
 * object never changes, and the characters of its name and filename. One
 * that changed or became unreadable was freed, its address maybe reused by
 * another: it is forgotten with its labels, and read afresh when next seen.
 * Labels handed out before stay as they were. Returns how many were dropped.
 */
int symbolizer_revalidate(struct symbolizer *s, size_t max_codes);

void symbolizer_stats(const struct symbolizer *s, struct symbolizer_stats *out);

#endif
