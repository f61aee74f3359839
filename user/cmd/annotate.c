/*
 * pyperf annotate: the hot functions' source lines with each line's own
 * and total share, like perf annotate for Python. The profile is read by
 * output/profile_read.c, tallied and printed by output/annotate.c (text)
 * and output/annotate_html.c (--html).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "output/annotate.h"
#include "output/outfile.h"
#include "output/profile_read.h"

#define WHO "annotate"
#define MAX_REMAPS 16

enum { OPT_FUNCTION = OPT_LONG_ONLY, OPT_FILE, OPT_SOURCE_ROOT, OPT_HTML, OPT_MAX_FILES };

static const struct opt_spec annotate_options[] = {
	{ "function", OPT_FUNCTION, "NAME", "only this function: its qualified name (Class.method) or "
	  "the name's last part (method); every function of that name" },
	{ "file", OPT_FILE, "PATH", "only functions of this file: its path as recorded, or its end after a "
	  "'/' (app/views.py)" },
	{ "source-root", OPT_SOURCE_ROOT, "[OLD=]NEW", "where to read sources: a recorded path that starts "
	  "with the directory OLD is read with OLD replaced by NEW; without OLD=, NEW is put before every "
	  "path (/srv/app/x.py is read as NEW/srv/app/x.py: a container's root, a copy of a host). "
	  "Several are tried in order, then the path as recorded" },
	{ "functions", 'n', "N", "how many functions, hottest by total share first (default 10; 0: all)" },
	{ "html", OPT_HTML, "OUT.html", "also write one self-contained HTML page: the files by share, each "
	  "a heat-coloured listing (written whole or not at all)" },
	{ "max-files", OPT_MAX_FILES, "N", "the HTML page lists at most N files, hottest first (default 200)" },
	OPT_HELP_ROW,
	{ NULL },
};

static const struct opt_cmd annotate_cmd = {
	.name = WHO,
	.head =
	"usage: pyperf annotate PROFILE [--function NAME] [--file PATH] [--source-root [OLD=]NEW]\n"
	"                       [-n N] [--html OUT.html]\n"
	"\n"
	"Shows where in the source the time goes: for the hottest Python functions of a\n"
	"profile (pyperf's folded or pprof file, or a directory of period files), their\n"
	"source lines, each with its own and total share of all samples, like perf\n"
	"annotate. The source is read from the path recorded in the profile.\n",
	.opts = annotate_options,
	.foot =
	"own%: samples whose innermost Python frame is on the line (what it runs\n"
	"itself, C code it calls included); total%: samples with the line anywhere\n"
	"in the stack (it or what it calls). '*' marks lines of 5% own or more.\n"
	"Lines far from any sample are shown as '...'. A source file that cannot be\n"
	"read (missing, moved, <frozen ...>) is said so, and the lines that have\n"
	"samples are listed by number. Relative paths (a script run as 'python3\n"
	"app.py') are read from the current directory. Line numbers are those of the\n"
	"code that ran: a file edited since shows other lines.\n"
	"\n"
	"exit status: 0 done; 1 unreadable profile, no such function, HTML not\n"
	"written; 2 bad usage\n"
	"\n"
	"examples:\n"
	"  pyperf record -o run.pb.gz -- python3 app.py && pyperf annotate run.pb.gz\n"
	"  pyperf annotate run.pb.gz --function Parser.feed\n"
	"  pyperf annotate prod.pb.gz --source-root /srv/app=$HOME/src/app --html hot.html\n",
};

struct annotate_opts {
	const char *profile;
	const char *function, *file, *html;
	struct ann_remap remaps[MAX_REMAPS];
	size_t nremaps;
	long max_functions, max_files;
};

static int annotate_opt(int key, const char *arg, void *ctx)
{
	struct annotate_opts *o = ctx;

	switch (key) {
	case OPT_FUNCTION: o->function = arg; break;
	case OPT_FILE: o->file = arg; break;
	case OPT_HTML: o->html = arg; break;
	case 'n':
		if (opt_long(arg, 0, 1000000, &o->max_functions))
			return opt_usage_error(WHO, "invalid -n '%s': give a number of functions, 0 for all", arg);
		break;
	case OPT_MAX_FILES:
		if (opt_long(arg, 1, 1000000, &o->max_files))
			return opt_usage_error(WHO, "invalid --max-files '%s': give a number from 1", arg);
		break;
	case OPT_SOURCE_ROOT: {
		if (o->nremaps == MAX_REMAPS)
			return opt_usage_error(WHO, "at most %d --source-root options", MAX_REMAPS);
		struct ann_remap *r = &o->remaps[o->nremaps];
		const char *eq = strchr(arg, '=');

		if (eq) {
			/* OLD without its trailing '/', so the boundary rule holds */
			size_t n = (size_t)(eq - arg);

			while (n > 1 && arg[n - 1] == '/')
				n--;
			if (!n || !eq[1])
				return opt_usage_error(WHO, "--source-root takes [OLD=]NEW with both sides given, not '%s'",
						       arg);
			char *old = strndup(arg, n);

			if (!old)
				return opt_usage_error(WHO, "out of memory");
			r->old = old;
			r->new_root = eq + 1;
		} else {
			if (!arg[0])
				return opt_usage_error(WHO, "--source-root needs a directory");
			r->new_root = arg;
		}
		o->nremaps++;
		break;
	}
	default:
		return opt_usage_error(WHO, "option %d not handled", key);
	}
	return 0;
}

static void free_opts(struct annotate_opts *o)
{
	for (size_t i = 0; i < o->nremaps; i++)
		free((char *)o->remaps[i].old);
}

/* 0 to run, -1 after --help, or the exit code of bad usage. */
static int parse_args(int argc, char **argv, struct annotate_opts *o)
{
	int first;

	memset(o, 0, sizeof(*o));
	o->max_functions = 10;
	o->max_files = 200;
	int rc = opts_parse(&annotate_cmd, argc, argv, annotate_opt, o, &first);

	if (rc)
		return rc;
	if (first >= argc)
		return opt_usage_error(WHO, "which profile? give a folded or pprof file (see 'pyperf annotate --help')");
	if (first + 1 < argc)
		return opt_usage_error(WHO, "one profile at a time ('%s' is one too many); merge several with "
				       "'pyperf report'", argv[first + 1]);
	o->profile = argv[first];
	return 0;
}

static int write_html(const struct annotate_opts *o, const struct annotation *a)
{
	struct outfile f;
	int err = outfile_open(&f, o->html);

	if (err) {
		fprintf(stderr, "pyperf annotate: failed to create %s: %s\n", o->html, outfile_strerror(err));
		return 1;
	}
	err = ann_write_html(f.f, a, o->remaps, o->nremaps, o->profile, (size_t)o->max_files);
	if (err) {
		err = outfile_fail(&f, err);
		fprintf(stderr, "pyperf annotate: failed to write %s: %s\n", outfile_name(o->html), strerror(-err));
		return 1;
	}
	if ((err = outfile_commit(&f))) {
		fprintf(stderr, "pyperf annotate: failed to write %s: %s\n", outfile_name(o->html), strerror(-err));
		return 1;
	}
	fprintf(stderr, "pyperf annotate: wrote %s\n", outfile_name(o->html));
	return 0;
}

int cmd_annotate(int argc, char **argv)
{
	struct annotate_opts o;
	int rc = parse_args(argc, argv, &o);

	if (rc) {
		free_opts(&o);
		return rc < 0 ? 0 : rc;
	}
	if (o.html && (rc = outfile_check_writable(o.html))) {
		fprintf(stderr, "pyperf annotate: cannot write %s: %s\n", o.html, outfile_strerror(rc));
		free_opts(&o);
		return 1;
	}
	struct read_profile rp;
	struct annotation a = { 0 };
	struct read_opts ro = { .merge_files = true, .who = "pyperf annotate" };
	char err[4096 + 512];
	size_t *picked = NULL, npicked = 0;

	rc = 0;
	if (profile_read(&rp, o.profile, &ro, err, sizeof(err))) {
		fprintf(stderr, "pyperf annotate: %s\n", err);
		rc = 1;
	} else if (annotation_build(&a, &rp) ||
		   !(picked = ann_pick_functions(&a, o.function, o.file, (size_t)o.max_functions, &npicked))) {
		fprintf(stderr, "pyperf annotate: out of memory\n");
		rc = 1;
	} else if (!a.python) {
		fprintf(stderr, "pyperf annotate: %s has no Python frames with a file and line to annotate\n",
			o.profile);
		rc = 1;
	} else if (!npicked) {
		fprintf(stderr, "pyperf annotate: no function%s%s%s%s%s in %s\n", o.function ? " named '" : "",
			o.function ? o.function : "", o.function ? "'" : "", o.file ? " in a file " : "",
			o.file ? o.file : "", o.profile);
		rc = 1;
	} else {
		ann_write_text(stdout, &a, picked, npicked, o.remaps, o.nremaps, o.profile);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "pyperf annotate: failed to write the listing: %s\n", strerror(errno));
			rc = 1;
		}
		if (!rc && o.html)
			rc = write_html(&o, &a);
	}
	free(picked);
	annotation_free(&a);
	read_profile_free(&rp);
	free_opts(&o);
	return rc;
}
