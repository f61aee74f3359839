/* Option tables, the help made from them, and the checked argument parsers. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/options.h"

#define HELP_COL 24     /* help text starts in this column */
#define HELP_WIDTH 80   /* lines stay shorter than this */

int opt_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "pyperf %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

/* ---- getopt's tables ---------------------------------------------------- */

static bool has_short(int key)
{
	return key > 0 && key < 128 && isalnum(key);
}

int opts_build(const struct opt_cmd *cmd, struct opts_getopt *g)
{
	size_t n = 0, len = 0;

	memset(g, 0, sizeof(*g));
	if (cmd->stop_at_operand)
		g->shortopts[len++] = '+';
	g->shortopts[len++] = ':'; /* our own messages for a missing value */
	for (const struct opt_spec *o = cmd->opts; o->name; o++) {
		if (n == OPTS_MAX)
			return -E2BIG;
		g->longopts[n++] = (struct option){ o->name, o->arg ? required_argument : no_argument, NULL, o->key };
		/* An alias of the row before shares its letter, listed once. */
		if (!has_short(o->key) || (o > cmd->opts && o[-1].key == o->key))
			continue;
		g->shortopts[len++] = (char)o->key;
		if (o->arg)
			g->shortopts[len++] = ':';
	}
	return 0;
}

/* ---- help ----------------------------------------------------------------- */

/* Writes help from column col on, wrapped at HELP_WIDTH, continuation lines
 * (and the lines after each '\n') indented to HELP_COL. */
static void print_wrapped(FILE *f, const char *help, size_t col)
{
	const char *p = help;

	while (*p) {
		if (*p == '\n') {
			fprintf(f, "\n%*s", HELP_COL, "");
			col = HELP_COL;
			p++;
			continue;
		}
		if (*p == ' ') {
			p++;
			continue;
		}
		size_t w = strcspn(p, " \n");

		if (col > HELP_COL && col + 1 + w >= HELP_WIDTH) {
			fprintf(f, "\n%*s", HELP_COL, "");
			col = HELP_COL;
		} else if (col > HELP_COL) {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, w, f);
		col += w;
		p += w;
	}
	fputc('\n', f);
}

/* One entry: "  -p, --pid PID" (with the aliases that follow it), then its help. */
static void print_entry(FILE *f, const struct opt_spec *o)
{
	char left[128];
	int n = snprintf(left, sizeof(left), "  %c%c%c --%s", has_short(o->key) ? '-' : ' ',
			 has_short(o->key) ? o->key : ' ', has_short(o->key) ? ',' : ' ', o->name);

	for (const struct opt_spec *a = o + 1; a->name && !a->help && a->key == o->key; a++)
		n += snprintf(left + n, sizeof(left) - (size_t)n, ", --%s", a->name);
	if (o->arg && (size_t)n < sizeof(left))
		n += snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->arg);
	if (n + 2 > HELP_COL) {
		fprintf(f, "%s\n%*s", left, HELP_COL, "");
	} else {
		fprintf(f, "%-*s", HELP_COL, left);
	}
	print_wrapped(f, o->help, HELP_COL);
}

void opts_print_help(const struct opt_cmd *cmd, FILE *f)
{
	fputs(cmd->head, f);
	fputs("\noptions:\n", f);
	for (const struct opt_spec *o = cmd->opts; o->name; o++)
		if (o->help)
			print_entry(f, o);
	if (cmd->foot) {
		fputc('\n', f);
		fputs(cmd->foot, f);
	}
}

/* ---- the loop ------------------------------------------------------------- */

int opts_parse(const struct opt_cmd *cmd, int argc, char **argv, opt_fn fn, void *ctx,
	       int *first_operand)
{
	struct opts_getopt g;
	int c;

	if (opts_build(cmd, &g))
		return opt_usage_error(cmd->name, "too many options in the table");
	opterr = 0;   /* our own one-line messages */
	optind = 0;   /* glibc: start afresh (a command may parse twice, e.g. in tests) */
	while ((c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1) {
		const char *given = argv[optind - 1];

		if (c == 'h') {
			opts_print_help(cmd, stdout);
			return -1;
		}
		if (c == ':')
			return opt_usage_error(cmd->name, "option '%s' needs a value; see 'pyperf %s --help'",
					       given, cmd->name);
		if (c == '?' && strncmp(given, "--", 2) != 0 && optopt > 0 && optopt < 128)
			return opt_usage_error(cmd->name, "unknown option '-%c'; see 'pyperf %s --help'",
					       optopt, cmd->name);
		if (c == '?')
			return opt_usage_error(cmd->name, "unknown option '%s'; see 'pyperf %s --help'",
					       given, cmd->name);
		int rc = fn(c, optarg, ctx);

		if (rc)
			return rc;
	}
	*first_operand = optind;
	return 0;
}

/* ---- parsers -------------------------------------------------------------- */

int opt_long(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	long v = strtol(s, &end, 10);

	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int opt_int(const char *s, int min, int max, int *out)
{
	long v;

	if (opt_long(s, min, max, &v))
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int opt_pid(const char *s, pid_t *out)
{
	int v;

	if (opt_int(s, 1, INT_MAX, &v))
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

int opt_pid_arg(const char *cmd, const char *s, pid_t *out)
{
	return opt_pid(s, out) ? opt_usage_error(cmd, "invalid PID '%s'", s) : 0;
}

int opt_sampler(const char *cmd, const char *s, enum sampler_kind *out)
{
	static const struct {
		const char *name;
		enum sampler_kind kind;
	} names[] = { { "auto", SAMPLER_AUTO }, { "timer", SAMPLER_TIMER }, { "remote", SAMPLER_REMOTE } };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].kind;
			return 0;
		}
	}
	return opt_usage_error(cmd, "invalid --sampler '%s': give auto, timer or remote", s);
}

int opt_hz(const char *s, int *out)
{
	return opt_int(s, 1, OPT_HZ_MAX, out);
}

int opt_duration(const char *s, double min, double max, double *out)
{
	static const struct {
		const char *unit;
		double seconds;
	} units[] = {
		{ "", 1 }, { "s", 1 }, { "ms", 1e-3 }, { "us", 1e-6 }, { "ns", 1e-9 }, { "m", 60 }, { "h", 3600 },
	};
	char *end;

	errno = 0;
	double v = strtod(s, &end);

	if (errno || end == s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		v *= units[i].seconds;
		if (!(v >= min && v <= max)) /* also NaN */
			return -EINVAL;
		*out = v;
		return 0;
	}
	return -EINVAL;
}

int opt_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *p = s;
	char *end;
	uint64_t mult = 1;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '-') /* strtoull would wrap it around */
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);

	if (errno || end == p)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': mult = 1ull << 10; break;
	case 'M': case 'm': mult = 1ull << 20; break;
	case 'G': case 'g': mult = 1ull << 30; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (*end && end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB"))
		return -EINVAL;
	if (v > UINT64_MAX / mult || v * mult < min || v * mult > max)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

int opt_percent(const char *s, double min, double max, double *out, bool *had_sign)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);

	if (errno || end == s)
		return -EINVAL;
	bool sign = *end == '%';

	if (sign)
		end++;
	if (*end || !isfinite(v) || v < min || v > max)
		return -EINVAL;
	*out = v;
	if (had_sign)
		*had_sign = sign;
	return 0;
}
