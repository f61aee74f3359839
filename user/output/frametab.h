/* Frame labels ("qualname (file:line)") interned once, each with the parts
 * it was made from, for writers that want them apart (pprof, speedscope). */
#ifndef PYPERF_FRAMETAB_H
#define PYPERF_FRAMETAB_H
#include <stdbool.h>
#include <stdint.h>

#include "util/strtab.h"
#include "util/u64map.h"

enum frame_kind {
	FRAME_PYTHON = 0,
	FRAME_PSEUDO,            /* "[truncated: ...]", "[gc]", "[unknown native]", roots */
	FRAME_NATIVE,            /* a C function of a mapped file */
	FRAME_KERNEL,            /* --kernel */
};

struct frame_meta {
	const char *name;        /* qualname (3.11+) or co_name, or the symbol; interned */
	const char *file;        /* co_filename, or the mapped file's path; interned; "" for pseudo-frames */
	int line;                /* line being executed, -1 if unknown */
	int firstline;           /* co_firstlineno, -1 if unknown */
	/* native and kernel frames */
	enum frame_kind kind;
	uint64_t address;        /* link-time address of the symbol (of the pc when none) in file */
	const char *build_id;    /* hex, interned; "" if unknown */
};

struct frametab {
	struct strtab strings;   /* every label and every name/file */
	struct u64map meta;      /* label pointer -> struct frame_meta * */
};

void frametab_init(struct frametab *t);
void frametab_free(struct frametab *t);
/* The interned label for a Python frame; NULL on out-of-memory. */
const char *frametab_python(struct frametab *t, const char *name, const char *file, int line, int firstline);
/* The interned label of a native function, "symbol (basename of file)",
 * or "basename+0xADDR" when symbol is NULL or "" (address: link-time,
 * in file). Kernel frames (kernel set) are "symbol [kernel]". */
const char *frametab_native(struct frametab *t, const char *symbol, const char *file, uint64_t address,
			    const char *build_id, bool kernel);
/* An interned pseudo-frame such as "[truncated: ...]"; its meta has name = label. */
const char *frametab_pseudo(struct frametab *t, const char *label);
/* A label read back from a file, interned as it is written (not rebuilt
 * from its parts, so it compares equal to the text), with the parts in m;
 * m's strings are interned here (m->name NULL: the label itself; file
 * and build_id NULL: ""). A label known already keeps its first parts.
 * NULL on out-of-memory. */
const char *frametab_label(struct frametab *t, const char *label, const struct frame_meta *m);
/* The parts of an interned label; NULL for a string this table did not make. */
const struct frame_meta *frametab_meta(const struct frametab *t, const char *label);

#endif
