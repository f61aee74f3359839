/* speedscope writer: one "sampled" profile in speedscope's JSON file format
 * (https://www.speedscope.app/file-format-schema.json; the types are in
 * speedscope's src/lib/file-format-spec.ts).
 *
 *   shared.frames     one per distinct label, in first-seen order:
 *                     {"name", "file", "line"}; pseudo-frames (file "") and
 *                     labels without meta are {"name": label} alone;
 *                     native frames {"name": symbol (or "file+0xADDR"),
 *                     "file": path of the mapped file}, kernel frames
 *                     {"name": symbol, "file": "[kernel]"}, no line: the
 *                     address is not a source line
 *   profiles[0]       samples = each profile stack as frame indexes, root
 *                     first (speedscope's order); weights = count * period
 *                     in nanoseconds, or the count with unit "none" when the
 *                     period is unknown (0) or the total too big for a
 *                     double; endValue = their sum
 *
 * One frame per label (function and line, as in the folded output and as
 * py-spy writes it), so the flame chart, the folded stacks and the SVG agree
 * line for line. Written straight to the stream; memory is one map entry
 * per distinct label. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "output/json.h"
#include "util/u64map.h"
#include "output/writers.h"

/* The error of a failed stdio call: its errno (ENOSPC, EFBIG...) when it set
 * one, so the user reads why, else EIO. */
static int io_error(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Writes the frames array, numbering labels in first-seen order into idx. */
static int write_frames(const struct profile *p, const struct frametab *ft, struct u64map *idx, FILE *out)
{
	uint64_t n = 0;
	int err = 0;

	for (size_t i = 0; i < p->len; i++) {
		const struct profile_stack *s = &p->stacks[i];

		for (size_t j = 0; j < s->nframes; j++) {
			const char *label = s->frames[j];
			uint64_t key = u64map_key_of(label);

			if (u64map_get(idx, key))
				continue;
			if (u64map_put(idx, key, n))
				return -ENOMEM;
			const struct frame_meta *m = frametab_meta(ft, label);
			/* speedscope groups frames by file in its sandwich view:
			 * kernel frames all under one. */
			const char *file = m && m->kind == FRAME_KERNEL ? "[kernel]" : m ? m->file : NULL;

			if (fputs(n++ ? ",\n{\"name\":" : "\n{\"name\":", out) == EOF)
				return io_error();
			if (!m || !m->name || !file || !*file) {
				/* Pseudo-frame (or, unexpectedly, no meta): the whole
				 * label is the name; no file, no line. */
				err = json_write_string(out, m && m->name ? m->name : label);
			} else {
				err = json_write_string(out, m->name);
				if (!err && fputs(",\"file\":", out) == EOF)
					err = io_error();
				if (!err)
					err = json_write_string(out, file);
				if (!err && m->line >= 0 && fprintf(out, ",\"line\":%d", m->line) < 0)
					err = io_error();
			}
			if (err || fputc('}', out) == EOF)
				return err ? err : io_error();
		}
	}
	return 0;
}

int profile_write_speedscope(const struct profile *p, const struct frametab *ft,
			     const struct profile_meta *m, FILE *out)
{
	const char *name = m->name && *m->name ? m->name : "pyperf";
	/* Weights in nanoseconds when each sample's length is known. JSON
	 * numbers are read as doubles, so a total past 2^53 ns (about 104
	 * CPU-days: a long fleet profile) would lose precision; such a profile
	 * is written in samples (unit "none") instead, shares unchanged. */
	uint64_t mult = m->period_ns;
	const char *unit = "nanoseconds";
	uint64_t total = 0;
	struct u64map idx;
	int err = 0;

	for (int pass = 0; pass < 2; pass++) {
		bool fits = mult != 0;

		total = 0;
		for (size_t i = 0; i < p->len && fits; i++) {
			uint64_t w;

			fits = !__builtin_mul_overflow(p->stacks[i].count, mult, &w) &&
			       !__builtin_add_overflow(total, w, &total) && total <= (1ull << 53);
		}
		if (fits)
			break;
		if (mult == 1)
			return -EOVERFLOW; /* 2^53 samples: not a real profile */
		mult = 1;
		unit = "none";
	}

	errno = 0; /* so io_error reads the errno of a failed write, not an old one */
	u64map_init(&idx);
	if (fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
		  "\"shared\":{\"frames\":[", out) == EOF)
		err = io_error();
	if (!err)
		err = write_frames(p, ft, &idx, out);
	if (!err && fputs("\n]},\n\"profiles\":[{\"type\":\"sampled\",\"name\":", out) == EOF)
		err = io_error();
	if (!err)
		err = json_write_string(out, name);
	if (!err && fprintf(out, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":%" PRIu64 ",\n\"samples\":[",
			    unit, total) < 0)
		err = io_error();
	for (size_t i = 0; i < p->len && !err; i++) {
		const struct profile_stack *s = &p->stacks[i];

		if (fputs(i ? ",\n[" : "\n[", out) == EOF)
			err = io_error();
		for (size_t j = 0; j < s->nframes && !err; j++) {
			uint64_t *v = u64map_get(&idx, u64map_key_of(s->frames[j]));

			if (!v)
				err = -EINVAL; /* cannot happen: every label was numbered */
			else if (fprintf(out, j ? ",%" PRIu64 : "%" PRIu64, *v) < 0)
				err = io_error();
		}
		if (!err && fputc(']', out) == EOF)
			err = io_error();
	}
	if (!err && fputs("\n],\n\"weights\":[", out) == EOF)
		err = io_error();
	for (size_t i = 0; i < p->len && !err; i++)
		if (fprintf(out, i ? ",%" PRIu64 : "%" PRIu64, p->stacks[i].count * mult) < 0)
			err = io_error();
	if (!err && fputs("]}],\n\"name\":", out) == EOF)
		err = io_error();
	if (!err)
		err = json_write_string(out, name);
	if (!err && fputs(",\"activeProfileIndex\":0,\"exporter\":\"pyperf\"}\n", out) == EOF)
		err = io_error();
	if (!err && fflush(out))
		err = io_error();
	if (!err && ferror(out))
		err = -EIO; /* an earlier failure we were not told of */
	u64map_free(&idx);
	return err;
}
