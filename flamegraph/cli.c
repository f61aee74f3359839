/* pyperf flamegraph: folded stacks in, interactive SVG out. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "flamegraph.h"
#include "folded.h"
#include "output/outfile.h"

#define PROG "pyperf flamegraph"
#define OUT_BUFFER (1u << 20)

static const char usage[] =
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
	"samples they cover.\n"
	"\n"
	"options:\n"
	"  -o, --output OUT      write to OUT: a temporary file in the same directory\n"
	"                        is renamed to OUT once complete, so OUT is never\n"
	"                        half written ('-': standard output)\n"
	"      --title TEXT      title (default \"Flame Graph\"; \"Icicle Graph\" with --icicle)\n"
	"      --subtitle TEXT   a second line under the title (default: none)\n"
	"      --width PX        image width in pixels, 100..100000 (default 1200)\n"
	"      --minwidth PX     leave out frames narrower than PX pixels, or than PX%\n"
	"                        of the width when PX ends in '%' (default 0.1);\n"
	"                        raise it to keep the SVG of a huge profile small\n"
	"      --icicle, --reverse, --inverted\n"
	"                        draw the root at the top with calls hanging down\n"
	"      --colors SCHEME   python (default): colour by file - warm for your\n"
	"                        code, blue for the standard library, green for\n"
	"                        site-packages/dist-packages, grey for pyperf's\n"
	"                        [pseudo-frames]; for frames not labelled\n"
	"                        'name (file:line)' it falls back to hot.\n"
	"                        hot, cold, gray: colour by frame name\n"
	"      --count-name UNIT unit of the counts in tooltips (default \"samples\")\n"
	"  -h, --help            show this help and exit\n"
	"\n"
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
	"  stackcollapse-perf.pl perf.txt | pyperf flamegraph --colors hot > perf.svg\n";

enum {
	OPT_TITLE = 256,
	OPT_SUBTITLE,
	OPT_WIDTH,
	OPT_MINWIDTH,
	OPT_ICICLE,
	OPT_COLORS,
	OPT_COUNT_NAME,
};

static const struct option long_options[] = {
	{ "output",     required_argument, NULL, 'o' },
	{ "title",      required_argument, NULL, OPT_TITLE },
	{ "subtitle",   required_argument, NULL, OPT_SUBTITLE },
	{ "width",      required_argument, NULL, OPT_WIDTH },
	{ "minwidth",   required_argument, NULL, OPT_MINWIDTH },
	{ "icicle",     no_argument,       NULL, OPT_ICICLE },
	{ "reverse",    no_argument,       NULL, OPT_ICICLE },
	{ "inverted",   no_argument,       NULL, OPT_ICICLE },
	{ "colors",     required_argument, NULL, OPT_COLORS },
	{ "count-name", required_argument, NULL, OPT_COUNT_NAME },
	{ "help",       no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
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

static bool parse_width(const char *arg, int *width)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < FG_WIDTH_MIN || v > FG_WIDTH_MAX)
		return false;
	*width = (int)v;
	return true;
}

/* "0.5" (px) or "0.5%" (of the frames' width). */
static bool parse_minwidth(const char *arg, double *value, bool *percent)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || !isfinite(v) || v < 0)
		return false;
	*percent = *end == '%';
	if (*percent)
		end++;
	if (*end || (*percent && v > 100))
		return false;
	*value = v;
	return true;
}

/* Prints "pyperf flamegraph: <message>; see ...--help" and returns exit code 2. */
__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("; see 'pyperf flamegraph --help'\n", stderr);
	va_end(ap);
	return 2;
}

static void list_schemes(char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; fg_color_schemes[i] && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
					 fg_color_schemes[i]);
}

int cmd_flamegraph(int argc, char **argv)
{
	struct fg_options opt;
	const char *out_path = NULL, *in_path = NULL;
	double minwidth = 0;
	bool minwidth_set = false, minwidth_percent = false;
	char schemes[128];

	fg_options_init(&opt);
	list_schemes(schemes, sizeof(schemes));
	opterr = 0;   /* our own messages, with the command's name */
	optind = 0;   /* full re-initialisation (glibc) */
	for (;;) {
		int c = getopt_long(argc, argv, ":o:h", long_options, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'o':
			out_path = optarg;
			break;
		case OPT_TITLE:
			opt.title = optarg;
			break;
		case OPT_SUBTITLE:
			opt.subtitle = optarg;
			break;
		case OPT_WIDTH:
			if (!parse_width(optarg, &opt.width))
				return usage_error("--width takes whole pixels from 100 to 100000, not '%s'",
						   optarg);
			break;
		case OPT_MINWIDTH:
			if (!parse_minwidth(optarg, &minwidth, &minwidth_percent))
				return usage_error("--minwidth takes pixels (e.g. 0.5) or a percentage "
						   "(e.g. 0.1%%), not '%s'", optarg);
			minwidth_set = true;
			break;
		case OPT_ICICLE:
			opt.reverse = true;
			break;
		case OPT_COLORS:
			if (!fg_color_scheme_valid(optarg)) {
				fprintf(stderr, PROG ": unknown colour scheme '%s'; choose one of: %s\n",
					optarg, schemes);
				return 2;
			}
			opt.colors = optarg;
			break;
		case OPT_COUNT_NAME:
			if (strstr(optarg, " (") || !optarg[0])
				return usage_error("--count-name must be non-empty and not contain ' (', "
						   "not '%s'", optarg);
			opt.count_name = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		in_path = argv[optind++];
	if (optind < argc)
		return usage_error("takes at most one input file; '%s' is one too many", argv[optind]);
	if (minwidth_set)
		opt.minwidth = minwidth_percent ? minwidth / 100.0 * (opt.width - 20) : minwidth;

	/* Input. */
	FILE *in = stdin;
	const char *in_name = "standard input";
	if (in_path && strcmp(in_path, "-") != 0) {
		in = fopen(in_path, "r");
		if (!in) {
			fprintf(stderr, PROG ": failed to open %s: %s\n", in_path, strerror(errno));
			return 1;
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
		return 1;
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
		return 1;
	}
	report_skipped(in_name, &st);
	if (fg_tree_total(b.tree) == 0) {
		fprintf(stderr, PROG ": no samples in %s (lines read: %llu, stacks: %llu); nothing written\n",
			in_name, (unsigned long long)st.lines, (unsigned long long)st.stacks);
		fg_tree_free(b.tree);
		return 1;
	}

	/* Output. */
	if (!out_path || strcmp(out_path, "-") == 0) {
		err = fg_write_svg(b.tree, &opt, stdout);
		fg_tree_free(b.tree);
		if (err) {
			fprintf(stderr, PROG ": failed to write standard output: %s\n", strerror(-err));
			return 1;
		}
		return 0;
	}
	output_active = 1; /* before the file exists: no window without cleanup */
	cleanup_on_signals(true);
	err = outfile_open(&output, out_path);
	if (err) {
		fprintf(stderr, PROG ": failed to create %s: %s\n", out_path, strerror(-err));
		output_active = 0;
		cleanup_on_signals(false);
		fg_tree_free(b.tree);
		return 1;
	}
	setvbuf(output.f, NULL, _IOFBF, OUT_BUFFER);
	err = fg_write_svg(b.tree, &opt, output.f);
	fg_tree_free(b.tree);
	if (err)
		outfile_abort(&output);
	else
		err = outfile_commit(&output); /* fsync, rename; removes the temporary on failure */
	output_active = 0;
	cleanup_on_signals(false);
	if (err) {
		fprintf(stderr, PROG ": failed to write %s: %s\n", out_path, strerror(-err));
		return 1;
	}
	return 0;
}
