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
 *   --timeline        first one "evented" profile per thread (by pid, then
 *                     tid: a main thread first), its frames' open ("O") and
 *                     close ("C") events at nanoseconds from the recording's
 *                     start (timeline.h says how samples and waits become
 *                     frames), all with the same startValue 0 and endValue;
 *                     then the sampled profile of all threads
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
#include "output/timeline.h"
#include "util/u64map.h"
#include "output/writers.h"

/* The error of a failed stdio call: its errno (ENOSPC, EFBIG...) when it set
 * one, so the user reads why, else EIO. */
static int io_error(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Writes label's frame unless idx numbered it already (as *n, counting). */
static int put_frame(const char *label, const struct frametab *ft, struct u64map *idx, uint64_t *n, FILE *out)
{
	uint64_t key = u64map_key_of(label);
	int err = 0;

	if (u64map_get(idx, key))
		return 0;
	if (u64map_put(idx, key, *n))
		return -ENOMEM;
	const struct frame_meta *m = frametab_meta(ft, label);
	/* speedscope groups frames by file in its sandwich view:
	 * kernel frames all under one. */
	const char *file = m && m->kind == FRAME_KERNEL ? "[kernel]" : m ? m->file : NULL;

	if (fputs((*n)++ ? ",\n{\"name\":" : "\n{\"name\":", out) == EOF)
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
	return 0;
}

/* Writes the frames of p's stacks, numbering labels in first-seen order
 * into idx (from *n on). */
static int write_frames(const struct profile *p, const struct frametab *ft, struct u64map *idx, uint64_t *n,
			FILE *out)
{
	int err = 0;

	for (size_t i = 0; i < p->len && !err; i++)
		for (size_t j = 0; j < p->stacks[i].nframes && !err; j++)
			err = put_frame(p->stacks[i].frames[j], ft, idx, n, out);
	return err;
}

/* The weights' multiplier (nanoseconds per count, else 1 with unit
 * "none") and their total; 0 or -EOVERFLOW. JSON numbers are read as
 * doubles, so a total past 2^53 ns (about 104 CPU-days: a long fleet
 * profile) would lose precision; such a profile is written in samples
 * instead, shares unchanged. */
static int sampled_weights(const struct profile *p, uint64_t period_ns, uint64_t *mult, const char **unit,
			   uint64_t *total)
{
	*mult = period_ns;
	*unit = "nanoseconds";
	for (int pass = 0; pass < 2; pass++) {
		bool fits = *mult != 0;

		*total = 0;
		for (size_t i = 0; i < p->len && fits; i++) {
			uint64_t w;

			fits = !__builtin_mul_overflow(p->stacks[i].count, *mult, &w) &&
			       !__builtin_add_overflow(*total, w, total) && *total <= (1ull << 53);
		}
		if (fits)
			return 0;
		if (*mult == 1)
			return -EOVERFLOW; /* 2^53 samples: not a real profile */
		*mult = 1;
		*unit = "none";
	}
	return 0;
}

/* One "sampled" profile object: p's stacks as frame indexes (idx). */
static int write_sampled(const struct profile *p, const struct u64map *idx, const char *name, uint64_t mult,
			 const char *unit, uint64_t total, FILE *out)
{
	int err = 0;

	if (fputs("{\"type\":\"sampled\",\"name\":", out) == EOF)
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
			uint64_t *v = u64map_get(idx, u64map_key_of(s->frames[j]));

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
	if (!err && fputs("]}", out) == EOF)
		err = io_error();
	return err;
}

/* The file's end: its name, and the stream's state. */
static int write_end(const char *name, FILE *out)
{
	int err = 0;

	if (fputs("],\n\"name\":", out) == EOF)
		err = io_error();
	if (!err)
		err = json_write_string(out, name);
	if (!err && fputs(",\"activeProfileIndex\":0,\"exporter\":\"pyperf\"}\n", out) == EOF)
		err = io_error();
	if (!err && fflush(out))
		err = io_error();
	if (!err && ferror(out))
		err = -EIO; /* an earlier failure we were not told of */
	return err;
}

static const char file_head[] = "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
				"\"shared\":{\"frames\":[";

int profile_write_speedscope(const struct profile *p, const struct frametab *ft,
			     const struct profile_meta *m, FILE *out)
{
	const char *name = m->name && *m->name ? m->name : "pyperf";
	uint64_t mult, total, n = 0;
	const char *unit;
	struct u64map idx;
	int err = sampled_weights(p, m->period_ns, &mult, &unit, &total);

	if (err)
		return err;
	errno = 0; /* so io_error reads the errno of a failed write, not an old one */
	u64map_init(&idx);
	if (fputs(file_head, out) == EOF)
		err = io_error();
	if (!err)
		err = write_frames(p, ft, &idx, &n, out);
	if (!err && fputs("\n]},\n\"profiles\":[", out) == EOF)
		err = io_error();
	if (!err)
		err = write_sampled(p, &idx, name, mult, unit, total, out);
	if (!err)
		err = write_end(name, out);
	u64map_free(&idx);
	return err;
}

/* --timeline: each thread's time order as an "evented" profile. */
struct evented_out {
	FILE *out;
	const struct u64map *idx;
	uint64_t origin_ns;
	bool first;
};

static int write_frame_event(void *ctx, bool open, const char *label, uint64_t at_ns)
{
	struct evented_out *e = ctx;
	uint64_t *v = u64map_get(e->idx, u64map_key_of(label));

	if (!v)
		return -EINVAL; /* cannot happen: every label was numbered */
	if (fprintf(e->out, "%s{\"type\":\"%c\",\"frame\":%" PRIu64 ",\"at\":%" PRIu64 "}", e->first ? "\n" : ",\n",
		    open ? 'O' : 'C', *v, at_ns - e->origin_ns) < 0)
		return io_error();
	e->first = false;
	return 0;
}

static int no_frame_event(void *ctx, bool open, const char *label, uint64_t at_ns)
{
	(void)ctx, (void)open, (void)label, (void)at_ns;
	return 0;
}

struct thread_order {
	uint32_t pid, tid;
	size_t th;
};

static int by_pid_tid(const void *a, const void *b)
{
	const struct thread_order *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->th < y->th ? -1 : x->th > y->th;
}

/* Named "thread NAME (TID), PID P (COMM)" in speedscope's list of profiles. */
static int write_thread_profile(struct timeline *t, size_t th, const struct u64map *idx, uint64_t origin_ns,
				uint64_t end_ns, FILE *out)
{
	const struct sample_origin *o = t->threads[th];
	struct evented_out eo = { out, idx, origin_ns, true };
	char name[512];
	uint64_t end;
	int err = 0;

	snprintf(name, sizeof(name), "thread %s (%u), PID %u (%s)", o->thread && *o->thread ? o->thread : "?",
		 o->tid, o->pid, o->comm ? o->comm : "?");
	if (fputs("{\"type\":\"evented\",\"name\":", out) == EOF)
		err = io_error();
	if (!err)
		err = json_write_string(out, name);
	if (!err && fprintf(out, ",\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":%" PRIu64 ",\n\"events\":[",
			    end_ns - origin_ns) < 0)
		err = io_error();
	if (!err)
		err = timeline_walk(t, th, t->period_ns, origin_ns, write_frame_event, &eo, &end);
	if (!err && fputs("\n]}", out) == EOF)
		err = io_error();
	return err;
}

int profile_write_speedscope_timeline(const struct profile *p, struct timeline *t, const struct frametab *ft,
				      const struct profile_meta *m, FILE *out)
{
	const char *name = m->name && *m->name ? m->name : "pyperf";
	uint64_t mult, total, n = 0, origin = t->origin_ns, first = timeline_first_ns(t), end_all;
	uint64_t *ends = calloc(t->nthreads + 1, sizeof(*ends));
	struct thread_order *order = calloc(t->nthreads + 1, sizeof(*order));
	const char *unit;
	struct u64map idx;
	char agg_name[512];
	size_t nprof = 0;
	int err = sampled_weights(p, m->period_ns, &mult, &unit, &total);

	if (!ends || !order || err) {
		free(ends);
		free(order);
		return err ? err : -ENOMEM;
	}
	for (size_t th = 0; th < t->nthreads; th++)
		order[th] = (struct thread_order){ t->threads[th]->pid, t->threads[th]->tid, th };
	qsort(order, t->nthreads, sizeof(*order), by_pid_tid);
	/* Time 0 is the recording's start, or a wait that began before it
	 * (a thread blocked when sampling started). */
	if (t->len && first < origin)
		origin = first;
	end_all = origin;
	for (size_t th = 0; th < t->nthreads; th++) {
		timeline_walk(t, th, t->period_ns, origin, no_frame_event, NULL, &ends[th]);
		if (ends[th] > end_all)
			end_all = ends[th];
	}
	errno = 0; /* so io_error reads the errno of a failed write, not an old one */
	u64map_init(&idx);
	if (fputs(file_head, out) == EOF)
		err = io_error();
	for (size_t i = 0; i < t->nstacks && !err; i++)
		for (uint32_t j = 0; j < t->stacks[i].nlabels && !err; j++)
			err = put_frame(t->stacks[i].labels[j], ft, &idx, &n, out);
	if (!err)
		err = write_frames(p, ft, &idx, &n, out);
	if (!err && fputs("\n]},\n\"profiles\":[", out) == EOF)
		err = io_error();
	for (size_t k = 0; k < t->nthreads && !err; k++) {
		size_t th = order[k].th;

		if (!ends[th])
			continue; /* nothing of it on the timeline */
		if (nprof++ && fputs(",\n", out) == EOF)
			err = io_error();
		if (!err)
			err = write_thread_profile(t, th, &idx, origin, end_all, out);
	}
	/* Then all threads aggregated: the whole run even when the timeline
	 * stopped at its cap. */
	snprintf(agg_name, sizeof(agg_name), "%s: all threads, aggregated", name);
	if (!err && nprof && fputs(",\n", out) == EOF)
		err = io_error();
	if (!err)
		err = write_sampled(p, &idx, agg_name, mult, unit, total, out);
	if (!err)
		err = write_end(name, out);
	u64map_free(&idx);
	free(ends);
	free(order);
	return err;
}
