/*
 * pyperf report: profiles read back (period files of record -a --every, or
 * any pprof and folded files), selected by time and by label, optionally
 * one root per label value, merged and written in any format record
 * writes. Reading is output/profile_read.c (each input merged as it is
 * read, so memory follows the distinct stacks, not the files); selection
 * rules are output/select.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "flamegraph.h"
#include "output/formats.h"
#include "output/outfile.h"
#include "output/profile_read.h"
#include "output/select.h"
#include "output/writers.h"

#define WHO "report"
#define MAX_FILTERS 32

enum { OPT_SINCE = OPT_LONG_ONLY, OPT_UNTIL, OPT_LABEL, OPT_GROUP_BY, OPT_TITLE };

static const struct opt_spec report_options[] = {
	{ "since", OPT_SINCE, "T", "only periods that end after T (see TIMES below)" },
	{ "until", OPT_UNTIL, "T", "only periods that start before T" },
	{ "label", OPT_LABEL, "KEY=VALUE", "only samples whose label KEY matches VALUE; KEY is pid, tid, "
	  "process (the program's name), cmdline, thread (the Python thread name) or container; VALUE a "
	  "number for pid and tid, else a shell pattern ('gunicorn*'). Give it several times: a sample "
	  "must match all. A sample without that label never matches" },
	{ "group-by", OPT_GROUP_BY, "KEY", "one root frame per value of the label KEY (as --label): "
	  "'process NAME', 'process PID' (pid), 'thread NAME', 'thread TID' (tid), 'container ID', "
	  "'cmdline TEXT'; '[no KEY]' over samples without it" },
	{ "output", 'o', "OUT", "where to write; the format follows the extension (.svg, .folded, .txt, "
	  ".pb.gz, .pprof, .speedscope.json); written whole or not at all; '-': standard output (folded "
	  "unless -f says otherwise)" },
	{ "format", 'f', "FMT", "svg, folded, pprof or speedscope, whatever the extension" },
	{ "title", OPT_TITLE, "TEXT", "the SVG's title, or the pprof comment" },
	OPT_HELP_ROW,
	{ NULL },
};

static const struct opt_cmd report_cmd = {
	.name = WHO,
	.head =
	"usage: pyperf report DIR|FILE... [--since T] [--until T] [--label KEY=VALUE ...]\n"
	"                     [--group-by KEY] -o OUT [-f FORMAT]\n"
	"\n"
	"Merges profiles written by pyperf into one: directories of the period files\n"
	"'record -a --every' writes (DIR/pyperf-YYYYmmddTHHMMSS.mmmZ.pb.gz, named by\n"
	"the period's start in UTC), and pprof or folded files, selected by time and\n"
	"by the labels record -a gives each sample. The result is written in any\n"
	"format record writes: a flame graph of what the fleet did between 02:00 and\n"
	"02:15, of one process, or one root per process.\n",
	.opts = report_options,
	.foot =
	"TIMES (--since, --until):\n"
	"  2026-12-02T02:00:00Z         RFC 3339 / ISO 8601 with a zone: Z, +01:00,\n"
	"  2026-12-02 02:00:00.5+0100   +0100; seconds and their fraction optional\n"
	"  2026-12-02T02:00             without a zone: local time (the TZ variable)\n"
	"  2026-12-02                   a date alone: local midnight\n"
	"  -15m, -2h, -90s, -7d, now    relative to now\n"
	"A period file is kept when its period [start, start + duration) meets\n"
	"[since, until): the start from its name, the duration from the profile\n"
	"(pprof) or up to the next file's start (folded). A file given by name is\n"
	"kept by the times inside it (pprof's time and duration, else a period\n"
	"file's name); with --since/--until, a file that says nothing of its time\n"
	"is left out with a warning. Whole periods are kept: samples carry no time\n"
	"of their own.\n"
	"\n"
	"Labels are pprof's sample labels (record -a writes pid, tid, process,\n"
	"cmdline, thread and container); in folded files, the 'process PID' and\n"
	"'thread NAME (TID)' roots of record -a and --threads give pid, tid and\n"
	"thread.\n"
	"\n"
	"A file that cannot be read whole (corrupted, cut short while being\n"
	"written) is skipped with a warning. Profiles of different kinds (CPU\n"
	"samples, off-CPU or wall time) do not mix.\n"
	"\n"
	"exit status: 0 written; 1 nothing written (no sample selected, unreadable\n"
	"input, output not writable); 2 bad usage\n"
	"\n"
	"examples:\n"
	"  pyperf report /var/lib/pyperf --since 2026-12-02T02:00:00Z --until 2026-12-02T02:15:00Z -o fleet.svg\n"
	"  pyperf report /var/lib/pyperf --since -1h --label process=gunicorn -o web.pb.gz\n"
	"  pyperf report /var/lib/pyperf --since -15m --group-by process -o by-process.svg\n"
	"  pyperf report a.pb.gz b.folded --label pid=1234 -o - | less\n",
};

struct report_opts {
	const char **inputs;
	int ninputs;
	uint64_t since, until;      /* ns since the epoch; 0: open */
	struct select_filter filters[MAX_FILTERS];
	size_t nfilters;
	int group_by;               /* enum select_key, or -1 */
	const char *output;
	enum out_format format;
	const char *title;
};

static uint64_t now_unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int report_opt(int key, const char *arg, void *ctx)
{
	struct report_opts *o = ctx;
	char err[256];

	switch (key) {
	case OPT_SINCE:
	case OPT_UNTIL:
		if (select_parse_time(arg, now_unix_ns(), key == OPT_SINCE ? &o->since : &o->until))
			return opt_usage_error(WHO, "invalid time '%s' for --%s: give 2026-12-02T02:00:00Z, a local "
					       "2026-12-02T02:00, or -15m (see TIMES in --help)", arg,
					       key == OPT_SINCE ? "since" : "until");
		/* the epoch itself means "open" below; nobody asks for 1970 */
		if (key == OPT_SINCE && !o->since)
			o->since = 1;
		break;
	case OPT_LABEL:
		if (o->nfilters == MAX_FILTERS)
			return opt_usage_error(WHO, "at most %d --label options", MAX_FILTERS);
		if (select_filter_parse(arg, &o->filters[o->nfilters], err, sizeof(err)))
			return opt_usage_error(WHO, "%s", err);
		o->nfilters++;
		break;
	case OPT_GROUP_BY:
		if ((o->group_by = select_key_by_name(arg)) < 0)
			return opt_usage_error(WHO, "unknown label '%s' for --group-by: use one of %s", arg,
					       select_key_names());
		break;
	case 'o': o->output = arg; break;
	case 'f':
		if ((o->format = format_by_name(arg)) == FMT_AUTO)
			return opt_usage_error(WHO, "unknown format '%s': use svg, folded, pprof or speedscope", arg);
		break;
	case OPT_TITLE: o->title = arg; break;
	default:
		return opt_usage_error(WHO, "option %d not handled", key);
	}
	return 0;
}

/* 0 to run, -1 after --help, or the exit code of bad usage. */
static int parse_args(int argc, char **argv, struct report_opts *o)
{
	int first;

	memset(o, 0, sizeof(*o));
	o->group_by = -1;
	int rc = opts_parse(&report_cmd, argc, argv, report_opt, o, &first);

	if (rc)
		return rc;
	if (first >= argc)
		return opt_usage_error(WHO, "which profiles? give directories of period files or profile files "
				       "(see 'pyperf report --help')");
	o->inputs = (const char **)argv + first;
	o->ninputs = argc - first;
	if (!o->output)
		return opt_usage_error(WHO, "where to? give -o OUT (.svg, .folded, .pb.gz, .speedscope.json; '-' "
				       "for standard output)");
	if (o->since && o->until && o->since >= o->until)
		return opt_usage_error(WHO, "--since must come before --until");
	if (o->format == FMT_AUTO)
		o->format = strcmp(o->output, "-") ? format_from_path(o->output) : FMT_FOLDED;
	if (o->format == FMT_AUTO)
		return opt_usage_error(WHO, "cannot tell the format of '%s' from its extension: use .svg, .folded, "
				       ".txt, .pb.gz, .pprof or .speedscope.json, or give --format", o->output);
	return 0;
}

/* A file given by name: kept when its time meets [since, until). */
static bool file_in_range(const struct report_opts *o, const struct read_profile *one, const char *path)
{
	if (!o->since && !o->until)
		return true;
	const struct read_file *f = &one->files[0];

	if (!f->start_unix_ns) {
		fprintf(stderr, "pyperf report: leaving out %s: it says nothing of its time (not a period file, "
			"no time in the profile), and --since/--until ask for one\n", path);
		return false;
	}
	uint64_t end = f->start_unix_ns + f->duration_ns;

	if (o->until && f->start_unix_ns >= o->until)
		return false;
	/* an unknown duration: the file is the instant it starts */
	return !o->since || (f->duration_ns ? end > o->since : f->start_unix_ns >= o->since);
}

/* Reads every input into all (merged). Returns 0, or 1 after saying why. */
static int read_inputs(const struct report_opts *o, struct read_profile *all, size_t *skipped, size_t *outside)
{
	struct read_opts ro = { .since_unix_ns = o->since, .until_unix_ns = o->until, .merge_files = true,
				.who = "pyperf report" };
	char err[PATH_MAX + 512];

	read_profile_init(all);
	for (int i = 0; i < o->ninputs; i++) {
		const char *path = o->inputs[i];
		struct read_profile one;
		struct stat st;

		if (stat(path, &st) != 0) {
			fprintf(stderr, "pyperf report: cannot open %s: %s\n", path, strerror(errno));
			return 1;
		}
		int rc = profile_read(&one, path, &ro, err, sizeof(err));

		if (rc == -ENOMEM || rc == -EIO || (rc && S_ISDIR(st.st_mode) && rc != -ENOENT)) {
			fprintf(stderr, "pyperf report: %s\n", err);
			read_profile_free(&one);
			return 1;
		}
		if (rc) {
			/* a bad file among many, or a directory with nothing in the range */
			if (S_ISDIR(st.st_mode))
				fprintf(stderr, "pyperf report: %s\n", err);
			else
				fprintf(stderr, "pyperf report: skipping %s\n", err);
			(*skipped) += one.skipped + !S_ISDIR(st.st_mode);
			read_profile_free(&one);
			continue;
		}
		*skipped += one.skipped;
		if (!S_ISDIR(st.st_mode) && !file_in_range(o, &one, path)) {
			(*outside)++;
			read_profile_free(&one);
			continue;
		}
		rc = read_profile_merge(all, &one, true, err, sizeof(err));
		read_profile_free(&one);
		if (rc) {
			fprintf(stderr, "pyperf report: %s\n", err);
			return 1;
		}
	}
	return 0;
}

/* The selected stacks of all into out, under a group root when asked;
 * origins kept only for pprof, whose sample labels carry them. */
static int select_stacks(const struct report_opts *o, struct read_profile *all, struct profile *out)
{
	const char **frames = NULL;
	size_t cap = 0;
	int rc = 0;

	for (size_t i = 0; i < all->prof.len && !rc; i++) {
		const struct profile_stack *s = &all->prof.stacks[i];

		if (!select_match(o->filters, o->nfilters, s->origin))
			continue;
		size_t n = s->nframes + (o->group_by >= 0);

		if (n > cap) {
			const char **nf = realloc(frames, n * sizeof(*nf));

			if (!nf) {
				rc = -ENOMEM;
				break;
			}
			frames = nf;
			cap = n;
		}
		size_t k = 0;

		if (o->group_by >= 0 &&
		    !(frames[k++] = select_group_root(&all->labels, (enum select_key)o->group_by, s->origin))) {
			rc = -ENOMEM;
			break;
		}
		if (s->nframes)
			memcpy(frames + k, s->frames, s->nframes * sizeof(*frames));
		rc = profile_add_origin(out, frames, n, s->count, o->format == FMT_PPROF ? s->origin : NULL);
	}
	free(frames);
	return rc;
}

/* When the files start, and how long from there to the last one's end (0: unknown). */
static void time_span(const struct read_profile *all, uint64_t *start, uint64_t *duration)
{
	uint64_t first = UINT64_MAX, last = 0;

	for (size_t i = 0; i < all->nfiles; i++) {
		const struct read_file *f = &all->files[i];

		if (!f->start_unix_ns)
			continue;
		if (f->start_unix_ns < first)
			first = f->start_unix_ns;
		if (f->start_unix_ns + f->duration_ns > last)
			last = f->start_unix_ns + f->duration_ns;
	}
	*start = first == UINT64_MAX ? 0 : first;
	*duration = first == UINT64_MAX || last <= first ? 0 : last - first;
}

/* What the selection is, for the SVG's subtitle. */
static void describe(const struct report_opts *o, const struct read_profile *all, char *buf, size_t len)
{
	uint64_t start, duration;
	size_t n = 0;

	time_span(all, &start, &duration);
	n += (size_t)snprintf(buf, len, "%zu file%s", all->nfiles, all->nfiles == 1 ? "" : "s");
	if (start && n < len) {
		char a[40], b[40];

		select_format_time(start, a, sizeof(a));
		select_format_time(start + duration, b, sizeof(b));
		n += (size_t)snprintf(buf + n, len - n, ", %s to %s", a, b);
	}
	for (size_t i = 0; i < o->nfilters && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s=%s", i ? " " : ", ",
				      select_key_name(o->filters[i].key),
				      o->filters[i].value);
	if (o->group_by >= 0 && n < len)
		snprintf(buf + n, len - n, ", by %s", select_key_name((enum select_key)o->group_by));
}

static int write_report(const struct report_opts *o, const struct read_profile *all, struct profile *out)
{
	struct outfile f;
	uint64_t start, duration, time_ns = read_profile_time_ns(all);
	char subtitle[512];
	int err = outfile_open(&f, o->output);

	if (err) {
		fprintf(stderr, "pyperf report: failed to create %s: %s\n", o->output, outfile_strerror(err));
		return 1;
	}
	time_span(all, &start, &duration);
	struct profile_meta meta = {
		/* files sampled at different rates: the mean, so that the
		 * total time stays what the files say */
		.period_ns = time_ns && all->prof.total ? (uint64_t)((double)time_ns / (double)all->prof.total + 0.5) : 0,
		.start_unix_ns = start,
		.duration_ns = duration,
		.name = o->title,
		.value_type = all->value_type,
	};

	if (o->format == FMT_FOLDED) {
		err = profile_write_folded(out, f.f);
	} else if (o->format == FMT_PPROF) {
		err = profile_write_pprof(out, &all->labels, &meta, f.f);
	} else if (o->format == FMT_SPEEDSCOPE) {
		err = profile_write_speedscope(out, &all->labels, &meta, f.f);
	} else {
		struct fg_options fo;

		fg_options_init(&fo);
		describe(o, all, subtitle, sizeof(subtitle));
		fo.title = o->title ? o->title : "pyperf report";
		fo.subtitle = subtitle;
		if (all->value_type && !strcmp(all->value_type, "off_cpu"))
			fo.count_name = "µs of off-CPU time";
		else if (all->value_type && !strcmp(all->value_type, "wall"))
			fo.count_name = "µs of wall time";
		err = profile_write_svg(out, &fo, f.f);
	}
	if (err) {
		err = outfile_fail(&f, err);
		fprintf(stderr, "pyperf report: failed to write %s: %s\n", outfile_name(o->output), strerror(-err));
		return 1;
	}
	if ((err = outfile_commit(&f))) {
		fprintf(stderr, "pyperf report: failed to write %s: %s\n", outfile_name(o->output), strerror(-err));
		return 1;
	}
	return 0;
}

int cmd_report(int argc, char **argv)
{
	struct report_opts o;
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc < 0 ? 0 : rc;
	int w = outfile_check_writable(o.output);

	if (w) {
		fprintf(stderr, "pyperf report: cannot write %s: %s\n", o.output, outfile_strerror(w));
		return 1;
	}
	struct read_profile all;
	struct profile out;
	size_t skipped = 0, outside = 0;

	profile_init(&out);
	rc = read_inputs(&o, &all, &skipped, &outside);
	if (!rc && select_stacks(&o, &all, &out)) {
		fprintf(stderr, "pyperf report: out of memory selecting samples\n");
		rc = 1;
	}
	if (!rc && !out.total) {
		if (!all.prof.total)
			fprintf(stderr, "pyperf report: nothing to report: no samples in %s%s%s\n",
				all.nfiles ? "the files read" : "any readable file",
				o.since || o.until ? " in the time range asked for" : "",
				skipped ? " (some files were skipped: see above)" : "");
		else
			fprintf(stderr, "pyperf report: nothing to report: none of the %llu samples of %zu files "
				"matches the --label filters; nothing written\n",
				(unsigned long long)all.prof.total, all.nfiles);
		rc = 1;
	}
	if (!rc && (rc = write_report(&o, &all, &out)) == 0) {
		fprintf(stderr, "pyperf report: %llu of %llu samples from %zu file%s", (unsigned long long)out.total,
			(unsigned long long)all.prof.total, all.nfiles, all.nfiles == 1 ? "" : "s");
		if (skipped)
			fprintf(stderr, " (%zu unreadable skipped)", skipped);
		if (outside)
			fprintf(stderr, " (%zu outside the time range)", outside);
		fprintf(stderr, "; wrote %s\n", outfile_name(o.output));
	}
	profile_free(&out);
	read_profile_free(&all);
	return rc;
}
