/* pyperf flamegraph: folded stacks in, interactive SVG out. */
#include <errno.h>
#include <float.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "cmd/options.h"
#include "flamegraph.h"
#include "folded.h"
#include "output/outfile.h"

#define PROG_NAME "flamegraph"
#define PROG "pyperf " PROG_NAME
#define OUT_BUFFER (1u << 20)

#define SEE_HELP "; see 'pyperf flamegraph --help'"

enum {
	OPT_TITLE = OPT_LONG_ONLY,
	OPT_SUBTITLE,
	OPT_WIDTH,
	OPT_MINWIDTH,
	OPT_ICICLE,
	OPT_COLORS,
	OPT_COUNT_NAME,
};

static const struct opt_spec fg_cli_options[] = {
	{ "output", 'o', "OUT", "write to OUT: a temporary file in the same directory is renamed to "
	  "OUT once complete, so OUT is never half written (a symlink's target is replaced, a device or FIFO "
	  "written in place; '-': standard output)" },
	{ "title", OPT_TITLE, "TEXT", "title (default \"Flame Graph\"; \"Icicle Graph\" with --icicle)" },
	{ "subtitle", OPT_SUBTITLE, "TEXT", "a second line under the title (default: none)" },
	{ "width", OPT_WIDTH, "PX", "image width in pixels, 100..100000 (default 1200)" },
	{ "minwidth", OPT_MINWIDTH, "PX", "leave out frames narrower than PX pixels, or than PX% of "
	  "the width when PX ends in '%' (default 0.1); raise it to keep the SVG of a huge profile "
	  "small" },
	{ "icicle", OPT_ICICLE, NULL, "draw the root at the top with calls hanging down" },
	{ "reverse", OPT_ICICLE, NULL, NULL },
	{ "inverted", OPT_ICICLE, NULL, NULL },
	{ "colors", OPT_COLORS, "SCHEME", "python (default): colour by file - warm for your code, "
	  "blue for the standard library, green for site-packages/dist-packages; crimson for native "
	  "code ('symbol (libname)', 'libname+0xADDR'), brown for the kernel ('symbol [kernel]'), "
	  "grey for pyperf's [pseudo-frames] such as [gc]; other names fall back to hot.\n"
	  "hot, cold, gray: colour by frame name" },
	{ "count-name", OPT_COUNT_NAME, "UNIT", "unit of the counts in tooltips (default \"samples\")" },
	{ "help", 'h', NULL, "show this help and exit" },
	{ NULL },
};

static const struct opt_cmd fg_cli = {
	.name = "flamegraph",
	.head =
	"usage: pyperf flamegraph [OPTIONS] [IN.folded]\n"
	"\n"
	"Draws folded stacks as an interactive SVG flame graph. Input is one line\n"
	"per stack, 'frame;frame;...;frame COUNT', root first: what 'pyperf record'\n"
	"writes, and what flamegraph.pl reads (stackcollapse-*.pl, py-spy, austin\n"
	"and others write it too). Reads IN.folded, or standard input when it is\n"
	"missing or '-'; writes standard output, or the file given with -o.\n"
	"\n"
	"The SVG opens in any browser, offline: hover a frame for its name and\n"
	"samples, click to zoom in, 'Reset Zoom' to go back, 'Search' (or Ctrl-F)\n"
	"to highlight frames matching a regular expression with the share of\n"
	"samples they cover.\n",
	.opts = fg_cli_options,
	.foot =
	"Lines that are not folded stacks are skipped and counted (a summary goes\n"
	"to standard error). The count is the last number on a line; a number\n"
	"before it belongs to the last frame's name, so names ending in numbers\n"
	"read back exactly, and flamegraph.pl's two-count (differential) lines\n"
	"are sized by their last count. In names, \\\\ \\; \\n \\r \\t and \\xNN\n"
	"are read as the escapes pyperf writes.\n"
	"\n"
	"exit status: 0 success; 1 nothing written (unreadable input, no stacks,\n"
	"output not writable); 2 bad usage\n"
	"\n"
	"examples:\n"
	"  pyperf flamegraph profile.folded > profile.svg\n"
	"  pyperf flamegraph --title 'checkout, 30 s' --minwidth 0.5 -o hot.svg hot.folded\n"
	"  stackcollapse-perf.pl perf.txt | pyperf flamegraph --colors hot > perf.svg\n",
};

/* ---- output through a temporary file ------------------------------------ */

/* The output being written (user/outfile.c: a temporary file renamed into
 * place). Static so that a signal handler can remove the temporary: a
 * Ctrl-C leaves neither a half-written OUT nor a stray temporary. */
static struct outfile output;
static volatile sig_atomic_t output_active;

static const int cleanup_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
static struct sigaction saved_actions[sizeof(cleanup_signals) / sizeof(cleanup_signals[0])];

static void remove_temp_and_die(int sig)
{
	if (output_active)
		unlink(output.tmp); /* async-signal-safe; tmp is a fixed array */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cleanup_on_signals(bool on)
{
	for (size_t i = 0; i < sizeof(cleanup_signals) / sizeof(cleanup_signals[0]); i++) {
		if (on) {
			struct sigaction sa = { .sa_handler = remove_temp_and_die };
			sigemptyset(&sa.sa_mask);
			sigaction(cleanup_signals[i], &sa, &saved_actions[i]);
		} else {
			sigaction(cleanup_signals[i], &saved_actions[i], NULL);
		}
	}
}

/* ---- input -------------------------------------------------------------- */

struct build {
	struct fg_tree *tree;
	int error; /* first fg_tree_add error */
};

static int add_stack(void *ctx, char **frames, size_t nframes, uint64_t count)
{
	struct build *b = ctx;
	int err = fg_tree_add(b->tree, (const char *const *)frames, nframes, count);
	if (err)
		b->error = err;
	return err;
}

static void report_skipped(const char *in_name, const struct folded_stats *st)
{
	if (st->malformed) {
		fprintf(stderr, PROG ": skipped %llu of %llu lines in %s that are not folded stacks "
			"(first: line %llu)", (unsigned long long)st->malformed,
			(unsigned long long)st->lines, in_name,
			(unsigned long long)st->first_malformed);
		if (st->too_long)
			fprintf(stderr, "; %llu of them longer than %u bytes or deeper than %u frames",
				(unsigned long long)st->too_long, FOLDED_MAX_LINE, FOLDED_MAX_FRAMES);
		fputc('\n', stderr);
	}
	if (st->differential)
		fprintf(stderr, PROG ": %llu lines in %s end in two numbers (flamegraph.pl's "
			"differential form?): frames are sized by the last, the other is read as "
			"the end of the last frame's name\n",
			(unsigned long long)st->differential, in_name);
}

/* ---- options ------------------------------------------------------------ */

struct cli_args {
	struct fg_options opt;
	const char *out_path, *in_path;
	double minwidth;
	bool minwidth_set, minwidth_percent;
};

static void list_schemes(char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; fg_color_schemes[i] && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
					 fg_color_schemes[i]);
}

/* One option: converts and range-checks it. */
static int cli_opt(int key, const char *arg, void *ctx)
{
	struct cli_args *a = ctx;
	char schemes[128];

	switch (key) {
	case 'o': a->out_path = arg; break;
	case OPT_TITLE: a->opt.title = arg; break;
	case OPT_SUBTITLE: a->opt.subtitle = arg; break;
	case OPT_ICICLE: a->opt.reverse = true; break;
	case OPT_WIDTH:
		if (opt_int(arg, FG_WIDTH_MIN, FG_WIDTH_MAX, &a->opt.width))
			return opt_usage_error(PROG_NAME, "--width takes whole pixels from 100 to 100000, "
					       "not '%s'" SEE_HELP, arg);
		break;
	case OPT_MINWIDTH:
		/* "0.5" (px) or "0.5%" (of the frames' width) */
		if (opt_percent(arg, 0, DBL_MAX, &a->minwidth, &a->minwidth_percent) ||
		    (a->minwidth_percent && a->minwidth > 100))
			return opt_usage_error(PROG_NAME, "--minwidth takes pixels (e.g. 0.5) or a percentage "
					       "(e.g. 0.1%%), not '%s'" SEE_HELP, arg);
		a->minwidth_set = true;
		break;
	case OPT_COLORS:
		if (!fg_color_scheme_valid(arg)) {
			list_schemes(schemes, sizeof(schemes));
			return opt_usage_error(PROG_NAME, "unknown colour scheme '%s'; choose one of: %s",
					       arg, schemes);
		}
		a->opt.colors = arg;
		break;
	case OPT_COUNT_NAME:
		if (strstr(arg, " (") || !arg[0])
			return opt_usage_error(PROG_NAME, "--count-name must be non-empty and not contain "
					       "' (', not '%s'" SEE_HELP, arg);
		a->opt.count_name = arg;
		break;
	default:
		return opt_usage_error(PROG_NAME, "option %d not handled", key);
	}
	return 0;
}

/* 0 to draw, -1 after --help, or the exit code of bad usage. */
static int parse_args(int argc, char **argv, struct cli_args *a)
{
	int first;

	memset(a, 0, sizeof(*a));
	fg_options_init(&a->opt);
	int rc = opts_parse(&fg_cli, argc, argv, cli_opt, a, &first);

	if (rc)
		return rc;
	if (first < argc)
		a->in_path = argv[first++];
	if (first < argc)
		return opt_usage_error(PROG_NAME, "takes at most one input file; '%s' is one too many"
				       SEE_HELP, argv[first]);
	if (a->minwidth_set) /* a percentage needs the width, which may come after it */
		a->opt.minwidth = a->minwidth_percent ? a->minwidth / 100.0 * (a->opt.width - 20) : a->minwidth;
	return 0;
}

/* ---- the command ---------------------------------------------------------- */

/* Reads folded stacks from in_path (NULL or "-": standard input) into a new
 * tree; NULL after saying why. */
static struct fg_tree *read_stacks(const char *in_path)
{
	FILE *in = stdin;
	const char *in_name = "standard input";

	if (in_path && strcmp(in_path, "-") != 0) {
		in = fopen(in_path, "r");
		if (!in) {
			fprintf(stderr, PROG ": failed to open %s: %s\n", in_path, strerror(errno));
			return NULL;
		}
		in_name = in_path;
	} else if (isatty(STDIN_FILENO)) {
		fprintf(stderr, PROG ": reading folded stacks from the terminal (end with Ctrl-D); "
			"see --help\n");
	}

	struct build b = { .tree = fg_tree_new() };
	if (!b.tree) {
		fprintf(stderr, PROG ": failed to allocate the stack tree: %s\n", strerror(ENOMEM));
		if (in != stdin)
			fclose(in);
		return NULL;
	}
	struct folded_stats st;
	int err = folded_parse(in, add_stack, &b, &st);
	if (in != stdin)
		fclose(in);
	if (err) {
		if (b.error)
			fprintf(stderr, PROG ": failed to build the graph from %s (line %llu): %s\n",
				in_name, (unsigned long long)st.lines, strerror(-b.error));
		else
			fprintf(stderr, PROG ": failed to read %s: %s\n", in_name, strerror(-err));
		fg_tree_free(b.tree);
		return NULL;
	}
	report_skipped(in_name, &st);
	if (fg_tree_total(b.tree) == 0) {
		fprintf(stderr, PROG ": no samples in %s (lines read: %llu, stacks: %llu); nothing written\n",
			in_name, (unsigned long long)st.lines, (unsigned long long)st.stacks);
		fg_tree_free(b.tree);
		return NULL;
	}
	return b.tree;
}

/* Writes the graph to out_path ("-": standard output) through output/outfile.c;
 * 0 or -errno after saying why. */
static int write_file(const struct fg_tree *tree, const struct fg_options *opt, const char *out_path)
{
	output_active = 1; /* before the file exists: no window without cleanup */
	cleanup_on_signals(true);
	int err = outfile_open(&output, out_path);
	if (err) {
		fprintf(stderr, PROG ": failed to create %s: %s\n", out_path, outfile_strerror(err));
		output_active = 0;
		cleanup_on_signals(false);
		return err;
	}
	setvbuf(output.f, NULL, _IOFBF, OUT_BUFFER);
	err = fg_write_svg(tree, opt, output.f);
	if (err)
		err = outfile_fail(&output, err); /* the failed write's own errno */
	else
		err = outfile_commit(&output); /* fsync, rename; removes the temporary on failure */
	output_active = 0;
	cleanup_on_signals(false);
	if (err)
		fprintf(stderr, PROG ": failed to write %s: %s\n", outfile_name(out_path), strerror(-err));
	return err;
}

int cmd_flamegraph(int argc, char **argv)
{
	struct cli_args a;
	int err = parse_args(argc, argv, &a);

	if (err)
		return err < 0 ? 0 : err;
	struct fg_tree *tree = read_stacks(a.in_path);

	if (!tree)
		return 1;
	err = write_file(tree, &a.opt, a.out_path ? a.out_path : "-");
	fg_tree_free(tree);
	return err ? 1 : 0;
}
