/* pyperf diff: two profiles compared, as a table of changed functions or as
 * the AFTER flame graph coloured by change (output/profdiff.h has the
 * normalisation and the test; flamegraph/ draws with fg_options.style). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "flamegraph.h"
#include "output/outfile.h"
#include "output/profdiff.h"
#include "output/profile_read.h"

#define WHO "diff"
#define SEE_HELP "; see 'pyperf diff --help'"
/* Functions gone since BEFORE listed under the SVG. */
#define GONE_LISTED 10

enum { OPT_PER_SECOND = OPT_LONG_ONLY, OPT_CONFIDENCE, OPT_TOP, OPT_LINES, OPT_TITLE, OPT_WIDTH };

static const struct opt_spec diff_options[] = {
	{ "output", 'o', "OUT", "write to OUT: an SVG flame graph when OUT ends in .svg, else the table "
	  "as text (default: the table on standard output)" },
	{ "per-second", OPT_PER_SECOND, NULL, "compare seconds per second of each recording (CPU profiles: "
	  "cores busy) instead of shares of each side's total; needs both durations, which pprof files "
	  "carry and folded files do not" },
	{ "confidence", OPT_CONFIDENCE, "PCT", "confidence of the test: 80, 90, 95, 98, 99, 99.5, 99.8 or "
	  "99.9 (default 99)" },
	{ "top", OPT_TOP, "N", "list the N most changed functions (default 30; 0: all)" },
	{ "lines", OPT_LINES, NULL, "compare frames by line (\"f (app.py:12)\"), not by function "
	  "(\"f (app.py)\")" },
	{ "title", OPT_TITLE, "TEXT", "the SVG's title (default \"pyperf diff\")" },
	{ "width", OPT_WIDTH, "PX", "the SVG's width in pixels, 100..100000 (default 1200)" },
	OPT_HELP_ROW,
	{ NULL },
};

static const struct opt_cmd diff_cmd = {
	.name = WHO,
	.head =
	"usage: pyperf diff [OPTIONS] BEFORE AFTER [-o diff.svg|diff.txt]\n"
	"\n"
	"Compares two profiles: what grew, what shrank, what is new and what is gone.\n"
	"BEFORE and AFTER are folded files (pyperf's or other tools'), pprof files\n"
	"(.pb.gz) or directories of the period files 'record --every' writes (all\n"
	"their files merged; unreadable ones skipped with a warning).\n"
	"\n"
	"Each side is normalised on its own: a function's value is its share of its\n"
	"side's samples (or, with --per-second, seconds per second recorded), so runs\n"
	"of different lengths or sampling rates compare. A change counts only when\n"
	"it is larger than sampling noise: a two-proportion z-test on the sample\n"
	"counts (with --per-second a z-test of two Poisson rates) at 99% confidence,\n"
	"|z| >= 2.576; smaller changes are reported as noise, and drawn grey.\n"
	"Samples are taken as independent; off-CPU and wall profiles (microseconds)\n"
	"are tested as if every 10 ms were one sample.\n"
	"\n"
	"Text: the functions that changed most, significant ones first: self share\n"
	"(samples at the top of the stack) and total share (samples under the\n"
	"function) before and after, the change in percentage points, and the\n"
	"verdict: grew, shrank, new, gone or noise, on self (on total for a\n"
	"function never at the top of a stack).\n"
	"\n"
	"SVG: the AFTER flame graph, each frame red when it grew, blue when it\n"
	"shrank (deeper for larger changes), grey when the change is noise, with a\n"
	"dashed outline when it is new (not on the same path in BEFORE); hovering\n"
	"shows both values, the change and the verdict. Functions gone since BEFORE\n"
	"are listed under the graph. Frames are compared by function, path by path.\n",
	.opts = diff_options,
	.foot =
	"exit status: 0 compared; 1 an input could not be read or compared, or the\n"
	"output not written; 2 bad usage\n"
	"\n"
	"examples:\n"
	"  pyperf diff before.pb.gz after.pb.gz\n"
	"  pyperf diff before.folded after.folded -o diff.svg\n"
	"  pyperf diff --per-second /var/lib/pyperf/monday/ /var/lib/pyperf/tuesday/ -o diff.txt\n",
};

struct diff_args {
	const char *out, *before, *after, *title;
	bool per_second, lines;
	double confidence;
	long top;
	int width;
};

static int diff_opt(int key, const char *arg, void *ctx)
{
	struct diff_args *a = ctx;
	double pct;

	switch (key) {
	case 'o': a->out = arg; break;
	case OPT_PER_SECOND: a->per_second = true; break;
	case OPT_LINES: a->lines = true; break;
	case OPT_TITLE: a->title = arg; break;
	case OPT_CONFIDENCE:
		if (opt_percent(arg, 0, 100, &pct, NULL) || !(diff_z_critical(pct / 100) > 0))
			return opt_usage_error(WHO, "--confidence takes 80, 90, 95, 98, 99, 99.5, 99.8 or 99.9, "
					       "not '%s'" SEE_HELP, arg);
		a->confidence = pct / 100;
		break;
	case OPT_TOP:
		if (opt_long(arg, 0, 1000000, &a->top))
			return opt_usage_error(WHO, "--top takes a number of functions (0: all), not '%s'" SEE_HELP,
					       arg);
		break;
	case OPT_WIDTH:
		if (opt_int(arg, FG_WIDTH_MIN, FG_WIDTH_MAX, &a->width))
			return opt_usage_error(WHO, "--width takes whole pixels from 100 to 100000, not '%s'"
					       SEE_HELP, arg);
		break;
	default:
		return opt_usage_error(WHO, "option %d not handled", key);
	}
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- the SVG ------------------------------------------------------------------ */

/* A tree of frames as they are compared (diff_function_key). */
static int build_tree(struct fg_tree *t, struct profile_diff *d, const struct read_profile *p)
{
	const char **frames = NULL;
	size_t cap = 0;
	int rc = 0;

	for (size_t i = 0; i < p->prof.len && !rc; i++) {
		const struct profile_stack *s = &p->prof.stacks[i];

		if (s->nframes > cap) {
			const char **n = realloc(frames, s->nframes * sizeof(*n));

			if (!n) {
				rc = -ENOMEM;
				break;
			}
			frames = n;
			cap = s->nframes;
		}
		for (size_t j = 0; j < s->nframes && !rc; j++)
			if (!(frames[j] = diff_function_key(&d->keys, &p->labels, s->frames[j], d->setup.by_line)))
				rc = -ENOMEM;
		if (!rc)
			rc = fg_tree_add(t, frames, s->nframes, s->count);
	}
	free(frames);
	return rc;
}

struct style_ctx {
	const struct diff_setup *setup;
	const struct fg_tree *before;
	uint32_t *path;          /* path[depth]: the frame of BEFORE on the path drawn now */
	size_t cap;
	double scale;            /* the change drawn deepest */
	int error;
};

static void put_value(char *buf, size_t len, const struct diff_setup *s, double v)
{
	if (s->norm == DIFF_PER_SECOND)
		snprintf(buf, len, "%.4f s/s", v);
	else
		snprintf(buf, len, "%.2f%%", 100 * v);
}

/* fg_style_fn: the frame's path in BEFORE, both values, the change. */
static void style_frame(void *vctx, const char *name, uint32_t depth, uint64_t total, struct fg_style *st)
{
	struct style_ctx *c = vctx;

	if (depth >= c->cap) {
		size_t ncap = depth + 64;
		uint32_t *n = realloc(c->path, ncap * sizeof(*n));

		if (!n) {
			c->error = -ENOMEM;
			return;
		}
		c->path = n;
		c->cap = ncap;
	}
	uint32_t in_before = depth ? fg_tree_child(c->before, c->path[depth - 1], name) : 0;

	c->path[depth] = in_before;
	uint64_t k_before = fg_tree_frame_total(c->before, in_before);
	struct diff_cmp cmp;
	char b[32], a[32], ch[32];

	diff_compare(c->setup, k_before, total, &cmp);
	put_value(b, sizeof(b), c->setup, cmp.value[0]);
	put_value(a, sizeof(a), c->setup, cmp.value[1]);
	if (c->setup->norm == DIFF_PER_SECOND)
		snprintf(ch, sizeof(ch), "%+.4f s/s", cmp.change);
	else
		snprintf(ch, sizeof(ch), "%+.2f pts", 100 * cmp.change);
	if (cmp.verdict != DIFF_NOISE) {
		double size = fabs(cmp.change) / c->scale;

		st->change = (cmp.change > 0 ? 1 : -1) * (0.3 + 0.7 * (size > 1 ? 1 : size));
	}
	st->added = in_before == FG_NO_FRAME;
	if (!depth)
		snprintf(st->note, sizeof(st->note), "BEFORE %llu, AFTER %llu", (unsigned long long)k_before,
			 (unsigned long long)total);
	else if (st->added)
		snprintf(st->note, sizeof(st->note), "new: not in BEFORE, AFTER %s: %s", a,
			 cmp.verdict == DIFF_NOISE ? "within noise" : "significant");
	else
		snprintf(st->note, sizeof(st->note), "BEFORE %s, AFTER %s, %s: %s", b, a, ch,
			 diff_verdict_name(cmp.verdict));
}

static int cmp_gone(const void *x, const void *y)
{
	const struct diff_func *const *a = x, *const *b = y;

	return (*a)->total[0] < (*b)->total[0] ? 1 : (*a)->total[0] > (*b)->total[0] ? -1 : strcmp((*a)->name, (*b)->name);
}

/* Lines for the functions gone since BEFORE, largest first. */
static char **gone_notes(const struct profile_diff *d, size_t *n)
{
	const struct diff_func **gone = malloc((d->nfuncs ? d->nfuncs : 1) * sizeof(*gone));
	char **notes = calloc(GONE_LISTED + 2, sizeof(*notes));
	size_t ngone = 0;

	*n = 0;
	if (!gone || !notes) {
		free(gone);
		free(notes);
		return NULL;
	}
	for (size_t i = 0; i < d->nfuncs; i++)
		if (d->funcs[i].total[0] && !d->funcs[i].total[1])
			gone[ngone++] = &d->funcs[i];
	if (ngone > 1)
		qsort(gone, ngone, sizeof(*gone), cmp_gone);
	if (ngone && asprintf(&notes[(*n)++], "Gone since BEFORE (%zu %s not in AFTER):", ngone,
				  ngone == 1 ? "function" : "functions") < 0)
		notes[--*n] = NULL;
	for (size_t i = 0; i < ngone && i < GONE_LISTED; i++) {
		char v[32];

		put_value(v, sizeof(v), &d->setup, gone[i]->total_cmp.value[0]);
		if (asprintf(&notes[*n], "  %s: %s in BEFORE (%s)", gone[i]->name, v,
			     gone[i]->total_cmp.verdict == DIFF_NOISE ? "within noise" : "significant") >= 0)
			++*n;
	}
	if (ngone > GONE_LISTED && asprintf(&notes[*n], "  ... and %zu more (the text output lists all)",
					     ngone - GONE_LISTED) >= 0)
		++*n;
	free(gone);
	return notes;
}

static int write_svg(struct profile_diff *d, const struct read_profile *before, const struct read_profile *after,
		     const struct diff_args *a, FILE *out)
{
	struct fg_tree *tb = fg_tree_new(), *ta = fg_tree_new();
	struct style_ctx sc = { .setup = &d->setup, .before = tb, .scale = 0 };
	struct fg_options fo;
	char subtitle[512];
	size_t nnotes = 0;
	char **notes = NULL;
	int rc = tb && ta ? 0 : -ENOMEM;

	if (!rc)
		rc = build_tree(tb, d, before);
	if (!rc)
		rc = build_tree(ta, d, after);
	if (!rc && !(notes = gone_notes(d, &nnotes)))
		rc = -ENOMEM;
	if (!rc) {
		/* the deepest colour for the largest significant change of a function's total */
		for (size_t i = 0; i < d->nfuncs; i++)
			if (d->funcs[i].total_cmp.verdict != DIFF_NOISE && fabs(d->funcs[i].total_cmp.change) > sc.scale)
				sc.scale = fabs(d->funcs[i].total_cmp.change);
		if (!(sc.scale > 0))
			sc.scale = 1;
		fg_options_init(&fo);
		fo.title = a->title ? a->title : "pyperf diff";
		if (a->width)
			fo.width = a->width;
		snprintf(subtitle, sizeof(subtitle),
			 "AFTER %s against BEFORE %s: red grew, blue shrank, grey within noise (%s at %g%% "
			 "confidence, |z| >= %.3f), dashed new", a->after, a->before,
			 d->setup.norm == DIFF_PER_SECOND ? "z-test of Poisson rates per second" :
			 "two-proportion z-test on shares", 100 * d->setup.confidence, d->setup.z_crit);
		fo.subtitle = subtitle;
		fo.count_name = after->value_type ? "µs" : "samples";
		fo.style = style_frame;
		fo.style_ctx = &sc;
		fo.notes = (const char *const *)notes;
		fo.nnotes = nnotes;
		rc = fg_write_svg(ta, &fo, out);
		if (!rc && sc.error)
			rc = sc.error;
	}
	for (size_t i = 0; notes && i < nnotes; i++)
		free(notes[i]);
	free(notes);
	free(sc.path);
	fg_tree_free(tb);
	fg_tree_free(ta);
	return rc;
}

/* ---- the command ------------------------------------------------------------------ */

static int read_side(struct read_profile *rp, const char *path, const char *which)
{
	char err[1024] = "";
	struct read_opts o = { .merge_files = true, .who = "pyperf diff" };
	int rc = profile_read(rp, path, &o, err, sizeof(err));

	if (rc) {
		fprintf(stderr, "pyperf diff: %s: %s\n", which, err);
		return 1;
	}
	if (!rp->prof.total) {
		fprintf(stderr, "pyperf diff: %s (%s) holds no samples: nothing to compare\n", which, path);
		return 1;
	}
	return 0;
}

static int write_output(struct profile_diff *d, const struct read_profile *before,
			const struct read_profile *after, const struct diff_args *a)
{
	bool svg = a->out && ends_with(a->out, ".svg");
	struct outfile out;
	int rc;

	if (!a->out || !strcmp(a->out, "-")) {
		rc = svg ? -EINVAL : profile_diff_write_text(d, stdout, (size_t)a->top, a->before, a->after);
		if (!rc && fflush(stdout))
			rc = -errno;
		if (rc)
			fprintf(stderr, "pyperf diff: failed to write standard output: %s\n", strerror(-rc));
		return rc ? 1 : 0;
	}
	rc = outfile_open(&out, a->out);
	if (rc) {
		fprintf(stderr, "pyperf diff: failed to create %s: %s\n", a->out, outfile_strerror(rc));
		return 1;
	}
	rc = svg ? write_svg(d, before, after, a, out.f) :
		   profile_diff_write_text(d, out.f, (size_t)a->top, a->before, a->after);
	rc = rc ? outfile_fail(&out, rc) : outfile_commit(&out);
	if (rc) {
		fprintf(stderr, "pyperf diff: failed to write %s: %s\n", a->out, strerror(-rc));
		return 1;
	}
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	struct diff_args a = { .confidence = 0.99, .top = 30 };
	struct read_profile before, after;
	struct diff_setup setup;
	struct profile_diff d;
	char err[512];
	int first, rc = opts_parse(&diff_cmd, argc, argv, diff_opt, &a, &first);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (argc - first != 2)
		return opt_usage_error(WHO, "takes two profiles, BEFORE and AFTER (%d given)" SEE_HELP,
				       argc - first);
	a.before = argv[first];
	a.after = argv[first + 1];
	memset(&before, 0, sizeof(before));
	memset(&after, 0, sizeof(after));
	memset(&d, 0, sizeof(d));
	rc = read_side(&before, a.before, "BEFORE");
	if (!rc)
		rc = read_side(&after, a.after, "AFTER");
	if (!rc && diff_setup_init(&setup, a.per_second ? DIFF_PER_SECOND : DIFF_SHARE, a.confidence, &before, &after,
				   err, sizeof(err))) {
		fprintf(stderr, "pyperf diff: %s\n", err);
		rc = 1;
	}
	setup.by_line = a.lines;
	if (!rc && profile_diff_build(&d, &setup, &before, &after)) {
		fprintf(stderr, "pyperf diff: out of memory comparing the profiles\n");
		rc = 1;
	}
	if (!rc)
		rc = write_output(&d, &before, &after, &a);
	profile_diff_free(&d);
	read_profile_free(&before);
	read_profile_free(&after);
	return rc;
}
