/* Options: the shared parsers (valid forms, bounds, garbage, overflow), the
 * getopt tables and help made from one table, and the parsing loop. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/options.h"
#include "unit.h"

static void test_integers(void)
{
	long l = -1;
	int i = -1;
	pid_t pid = 0;

	CHECK_EQ_INT(opt_long("42", 1, 100, &l), 0);
	CHECK_EQ_INT(l, 42);
	CHECK_EQ_INT(opt_long("1", 1, 100, &l), 0);
	CHECK_EQ_INT(opt_long("100", 1, 100, &l), 0);
	CHECK_EQ_INT(l, 100);
	l = 7;
	CHECK_EQ_INT(opt_long("0", 1, 100, &l), -EINVAL);
	CHECK_EQ_INT(opt_long("101", 1, 100, &l), -EINVAL);
	CHECK_EQ_INT(opt_long("", 1, 100, &l), -EINVAL);
	CHECK_EQ_INT(opt_long("12x", 1, 100, &l), -EINVAL);
	CHECK_EQ_INT(opt_long("1.5", 1, 100, &l), -EINVAL);
	CHECK_EQ_INT(opt_long("abc", 1, 100, &l), -EINVAL);
	CHECK_EQ_INT(opt_long("99999999999999999999999", 1, LONG_MAX, &l), -EINVAL);
	CHECK_EQ_INT(l, 7); /* untouched on failure */

	CHECK_EQ_INT(opt_int("2147483647", 1, INT_MAX, &i), 0);
	CHECK_EQ_INT(i, INT_MAX);
	CHECK_EQ_INT(opt_int("2147483648", 1, INT_MAX, &i), -EINVAL);

	CHECK_EQ_INT(opt_pid("1234", &pid), 0);
	CHECK_EQ_INT(pid, 1234);
	CHECK_EQ_INT(opt_pid("0", &pid), -EINVAL);
	CHECK_EQ_INT(opt_pid("-5", &pid), -EINVAL);
	CHECK_EQ_INT(opt_pid("12x", &pid), -EINVAL);
	CHECK_EQ_INT(opt_pid("4294967297", &pid), -EINVAL); /* would wrap to 1 in an int */

	CHECK_EQ_INT(opt_hz("99", &i), 0);
	CHECK_EQ_INT(i, 99);
	CHECK_EQ_INT(opt_hz("100000", &i), 0);
	CHECK_EQ_INT(opt_hz("100001", &i), -EINVAL);
	CHECK_EQ_INT(opt_hz("0", &i), -EINVAL);
	CHECK_EQ_INT(opt_hz("abc", &i), -EINVAL);
}

static void test_durations(void)
{
	double d = -1;

	CHECK_EQ_INT(opt_duration("30", 0, OPT_DURATION_MAX, &d), 0);
	CHECK(d == 30);
	CHECK_EQ_INT(opt_duration("0.5", 0, OPT_DURATION_MAX, &d), 0);
	CHECK(d == 0.5);
	CHECK_EQ_INT(opt_duration("30s", 0, OPT_DURATION_MAX, &d), 0);
	CHECK(d == 30);
	CHECK_EQ_INT(opt_duration("2m", 0, OPT_DURATION_MAX, &d), 0);
	CHECK(d == 120);
	CHECK_EQ_INT(opt_duration("1h", 0, OPT_DURATION_MAX, &d), 0);
	CHECK(d == 3600);
	CHECK_EQ_INT(opt_duration("500ms", 0, OPT_DURATION_MAX, &d), 0);
	CHECK(d == 0.5);
	CHECK_EQ_INT(opt_duration("100us", 0, OPT_DURATION_MAX, &d), 0);
	CHECK((uint64_t)(d * 1e9 + 0.5) == 100000); /* --min-block's rounding to ns */
	CHECK_EQ_INT(opt_duration("250ns", 0, OPT_DURATION_MAX, &d), 0);
	CHECK((uint64_t)(d * 1e9 + 0.5) == 250);
	CHECK_EQ_INT(opt_duration("0", 0, OPT_DURATION_MAX, &d), 0);
	CHECK(d == 0);

	/* bounds: above zero, at least 1 s, at most the maximum */
	CHECK_EQ_INT(opt_duration("0", OPT_ABOVE_ZERO, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("0.001", OPT_ABOVE_ZERO, OPT_DURATION_MAX, &d), 0);
	CHECK_EQ_INT(opt_duration("0.1s", 1, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("1s", 1, OPT_DURATION_MAX, &d), 0);
	CHECK_EQ_INT(opt_duration("10000000", 0, OPT_DURATION_MAX, &d), 0);
	CHECK_EQ_INT(opt_duration("10000001", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("166667m", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("-3", OPT_ABOVE_ZERO, OPT_DURATION_MAX, &d), -EINVAL);

	/* garbage and overflow */
	d = 7;
	CHECK_EQ_INT(opt_duration("", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("s", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("fast", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("10x", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("10 s", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("10sec", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("nan", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("inf", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK_EQ_INT(opt_duration("1e400", 0, OPT_DURATION_MAX, &d), -EINVAL);
	CHECK(d == 7);
}

static void test_sizes(void)
{
	uint64_t v = 0;

	CHECK_EQ_INT(opt_size("100", 1, UINT64_MAX, &v), 0);
	CHECK_EQ_INT(v, 100);
	CHECK_EQ_INT(opt_size("100K", 1, UINT64_MAX, &v), 0);
	CHECK_EQ_INT(v, 100 << 10);
	CHECK_EQ_INT(opt_size("500M", 1, UINT64_MAX, &v), 0);
	CHECK_EQ_INT(v, 500ull << 20);
	CHECK_EQ_INT(opt_size("2G", 1, UINT64_MAX, &v), 0);
	CHECK_EQ_INT(v, 2ull << 30);
	CHECK_EQ_INT(opt_size("2g", 1, UINT64_MAX, &v), 0);
	CHECK_EQ_INT(opt_size("2GB", 1, UINT64_MAX, &v), 0);
	CHECK_EQ_INT(opt_size("2GiB", 1, UINT64_MAX, &v), 0);
	CHECK_EQ_INT(v, 2ull << 30);

	v = 7;
	CHECK_EQ_INT(opt_size("0", 1, UINT64_MAX, &v), -EINVAL);
	CHECK_EQ_INT(opt_size("lots", 1, UINT64_MAX, &v), -EINVAL);
	CHECK_EQ_INT(opt_size("", 1, UINT64_MAX, &v), -EINVAL);
	CHECK_EQ_INT(opt_size("2T", 1, UINT64_MAX, &v), -EINVAL);
	CHECK_EQ_INT(opt_size("2Gx", 1, UINT64_MAX, &v), -EINVAL);
	CHECK_EQ_INT(opt_size("-1", 1, UINT64_MAX, &v), -EINVAL);
	CHECK_EQ_INT(opt_size(" -1", 1, UINT64_MAX, &v), -EINVAL); /* strtoull would wrap it */
	CHECK_EQ_INT(opt_size("1.5G", 1, UINT64_MAX, &v), -EINVAL);
	CHECK_EQ_INT(opt_size("18446744073709551616", 1, UINT64_MAX, &v), -EINVAL);
	CHECK_EQ_INT(opt_size("17179869184G", 1, UINT64_MAX, &v), -EINVAL); /* 2^64 bytes */
	CHECK_EQ_INT(opt_size("2K", 1, 1000, &v), -EINVAL);
	CHECK_EQ_INT(v, 7);
}

static void test_percents(void)
{
	double v = -1;
	bool sign = true;

	CHECK_EQ_INT(opt_percent("1", OPT_ABOVE_ZERO, 100, &v, &sign), 0);
	CHECK(v == 1 && !sign);
	CHECK_EQ_INT(opt_percent("0.5%", OPT_ABOVE_ZERO, 100, &v, &sign), 0);
	CHECK(v == 0.5 && sign);
	CHECK_EQ_INT(opt_percent("100", OPT_ABOVE_ZERO, 100, &v, NULL), 0);
	CHECK_EQ_INT(opt_percent("100.1", OPT_ABOVE_ZERO, 100, &v, NULL), -EINVAL);
	CHECK_EQ_INT(opt_percent("0", OPT_ABOVE_ZERO, 100, &v, NULL), -EINVAL);
	CHECK_EQ_INT(opt_percent("0", 0, 100, &v, NULL), 0);
	CHECK_EQ_INT(opt_percent("-1", 0, 100, &v, NULL), -EINVAL);
	CHECK_EQ_INT(opt_percent("1%%", 0, 100, &v, NULL), -EINVAL);
	CHECK_EQ_INT(opt_percent("%", 0, 100, &v, NULL), -EINVAL);
	CHECK_EQ_INT(opt_percent("pct", 0, 100, &v, NULL), -EINVAL);
	CHECK_EQ_INT(opt_percent("nan", 0, DBL_MAX, &v, NULL), -EINVAL);
	CHECK_EQ_INT(opt_percent("inf", 0, DBL_MAX, &v, NULL), -EINVAL);
	CHECK_EQ_INT(opt_percent("1e999", 0, DBL_MAX, &v, NULL), -EINVAL);
}

/* ---- the table ---------------------------------------------------------- */

enum { OPT_EVERY = OPT_LONG_ONLY, OPT_ICICLE, OPT_SECRET };

static const struct opt_spec test_opts[] = {
	{ "pid", 'p', "PID", "process to profile" },
	{ "every", OPT_EVERY, "DURATION", "one profile per period, written into DIR named by time, "
	  "with words enough to need a second line" },
	{ "icicle", OPT_ICICLE, NULL, "root at the top" },
	{ "reverse", OPT_ICICLE, NULL, NULL },
	{ "secret", OPT_SECRET, NULL, NULL },
	{ "a-rather-long-option", 'L', "VALUE", "first line\nsecond line" },
	{ "verbose", 'v', NULL, "more messages" },
	{ "help", 'h', NULL, "show this help" },
	{ NULL },
};

static const struct opt_cmd test_cmd = {
	.name = "test",
	.head = "usage: pyperf test [options]\n",
	.opts = test_opts,
	.foot = "the end\n",
	.stop_at_operand = true,
};

static void test_getopt_tables(void)
{
	struct opts_getopt g;

	CHECK_EQ_INT(opts_build(&test_cmd, &g), 0);
	CHECK_STR(g.shortopts, "+:p:L:vh");
	CHECK_STR(g.longopts[0].name, "pid");
	CHECK_EQ_INT(g.longopts[0].has_arg, required_argument);
	CHECK_EQ_INT(g.longopts[0].val, 'p');
	CHECK_STR(g.longopts[3].name, "reverse");
	CHECK_EQ_INT(g.longopts[3].val, OPT_ICICLE);
	CHECK_EQ_INT(g.longopts[3].has_arg, no_argument);
	CHECK_STR(g.longopts[4].name, "secret");
	CHECK(g.longopts[8].name == NULL);

	static struct opt_spec many[OPTS_MAX + 2];

	for (int i = 0; i < OPTS_MAX + 1; i++)
		many[i] = (struct opt_spec){ "x", OPT_LONG_ONLY + i, NULL, "x" };
	struct opt_cmd big = { .name = "big", .head = "", .opts = many };

	CHECK_EQ_INT(opts_build(&big, &g), -E2BIG);
}

static void test_help(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f != NULL);
	if (!f)
		return;
	opts_print_help(&test_cmd, f);
	fclose(f);
	CHECK_STR(text,
		  "usage: pyperf test [options]\n"
		  "\n"
		  "options:\n"
		  "  -p, --pid PID         process to profile\n"
		  "      --every DURATION  one profile per period, written into DIR named by time,\n"
		  "                        with words enough to need a second line\n"
		  "      --icicle, --reverse\n"
		  "                        root at the top\n"
		  "  -L, --a-rather-long-option VALUE\n"
		  "                        first line\n"
		  "                        second line\n"
		  "  -v, --verbose         more messages\n"
		  "  -h, --help            show this help\n"
		  "\n"
		  "the end\n");
	/* No line is 80 columns or more. */
	for (const char *p = text; p && *p;) {
		size_t n = strcspn(p, "\n");

		CHECK(n < 80);
		p += n + (p[n] != 0);
	}
	free(text);
}

/* ---- the loop ------------------------------------------------------------- */

struct seen {
	pid_t pid;
	int verbose, icicle;
	double every;
};

static int take(int key, const char *arg, void *ctx)
{
	struct seen *s = ctx;

	switch (key) {
	case 'p':
		return opt_pid(arg, &s->pid) ? opt_usage_error("test", "invalid PID '%s'", arg) : 0;
	case OPT_EVERY:
		return opt_duration(arg, 1, OPT_DURATION_MAX, &s->every) ? 2 : 0;
	case OPT_ICICLE:
		s->icicle++;
		return 0;
	case 'v':
		s->verbose++;
		return 0;
	default:
		return 2;
	}
}

/* Runs opts_parse on a NULL-terminated argv, with stderr captured into err. */
static int parse(struct seen *s, int *first, char *err, size_t errlen, const char **args)
{
	char *argv[16];
	int argc = 0;

	for (; args[argc] && argc < 15; argc++)
		argv[argc] = (char *)args[argc];
	argv[argc] = NULL;
	memset(s, 0, sizeof(*s));
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	FILE *tmp = tmpfile();

	dup2(fileno(tmp), STDERR_FILENO);
	int rc = opts_parse(&test_cmd, argc, argv, take, s, first);

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	size_t n = fread(err, 1, errlen - 1, tmp);

	err[n] = 0;
	fclose(tmp);
	return rc;
}

static void test_parse_loop(void)
{
	struct seen s;
	char err[512];
	int first = -1;

	const char *ok[] = { "test", "-p", "12", "--every=2m", "-vv", "--reverse", "--icicle", "cmd", "-v", NULL };

	CHECK_EQ_INT(parse(&s, &first, err, sizeof(err), ok), 0);
	CHECK_EQ_INT(s.pid, 12);
	CHECK(s.every == 120);
	CHECK_EQ_INT(s.verbose, 2);
	CHECK_EQ_INT(s.icicle, 2);
	CHECK_EQ_INT(first, 7); /* stops at the operand: "-v" after it is the command's */
	CHECK_STR(err, "");

	const char *badpid[] = { "test", "-p", "x", NULL };

	CHECK_EQ_INT(parse(&s, &first, err, sizeof(err), badpid), 2);
	CHECK_STR(err, "pyperf test: invalid PID 'x'\n");

	const char *unknown[] = { "test", "--bogus", NULL };

	CHECK_EQ_INT(parse(&s, &first, err, sizeof(err), unknown), 2);
	CHECK_STR(err, "pyperf test: unknown option '--bogus'; see 'pyperf test --help'\n");

	const char *unknown_short[] = { "test", "-vx", NULL };

	CHECK_EQ_INT(parse(&s, &first, err, sizeof(err), unknown_short), 2);
	CHECK_STR(err, "pyperf test: unknown option '-x'; see 'pyperf test --help'\n");

	const char *missing[] = { "test", "--every", NULL };

	CHECK_EQ_INT(parse(&s, &first, err, sizeof(err), missing), 2);
	CHECK_STR(err, "pyperf test: option '--every' needs a value; see 'pyperf test --help'\n");

	const char *hidden[] = { "test", "--secret", NULL };

	CHECK_EQ_INT(parse(&s, &first, err, sizeof(err), hidden), 2); /* reaches the callback */

	/* --help prints on stdout and ends parsing; here into /dev/null. */
	const char *help[] = { "test", "-p", "1", "--help", "--bogus", NULL };

	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	FILE *null = fopen("/dev/null", "w");

	dup2(fileno(null), STDOUT_FILENO);
	int rc = parse(&s, &first, err, sizeof(err), help);

	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	fclose(null);
	CHECK_EQ_INT(rc, -1);
	CHECK_STR(err, "");
}

int main(void)
{
	test_integers();
	test_durations();
	test_sizes();
	test_percents();
	test_getopt_tables();
	test_help();
	test_parse_loop();
	UNIT_DONE();
}
