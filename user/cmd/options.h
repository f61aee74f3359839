/*
 * Command-line options from one table per command. A row holds the long
 * name, the short key, the argument's name and the help text, so getopt's
 * tables and the --help text come from the same place and cannot drift.
 * The parsers convert and range-check one argument and print nothing: the
 * command words its own message. No BPF here (flamegraph/ uses it too).
 */
#ifndef PYPERF_OPTIONS_H
#define PYPERF_OPTIONS_H

#include <float.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "sampler/session.h" /* enum sampler_kind: only the type, nothing linked */

/* Keys of options without a short letter start here. */
#define OPT_LONG_ONLY 256
/* The most rows a command's table may have. */
#define OPTS_MAX 40

struct opt_spec {
	const char *name;   /* long name without "--"; NULL ends the table */
	int key;            /* short letter, or OPT_LONG_ONLY + n */
	const char *arg;    /* the argument's name in the help; NULL: takes none */
	const char *help;   /* '\n' starts a new line; NULL: an alias of the row before
			     * with the same key, else not shown (kept for a message) */
};

/* The row every table ends with; opts_parse answers it. */
#define OPT_HELP_ROW { "help", 'h', NULL, "show this help" }

struct opt_cmd {
	const char *name;            /* "record": messages start "pyperf record: " */
	const char *head;            /* help text before the options (usage, description) */
	const struct opt_spec *opts;
	const char *foot;            /* help text after the options, or NULL */
	bool stop_at_operand;        /* options end at the first operand (a command to run) */
};

/* Called for each option found: converts arg into ctx. Returns 0, or the
 * exit code (2) after printing one line. */
typedef int (*opt_fn)(int key, const char *arg, void *ctx);

/*
 * Runs getopt_long over argv with cmd's table, handing each option to fn.
 * --help (key 'h') prints the help on stdout and returns -1; an unknown
 * option or a missing argument prints one line and returns 2. On 0,
 * *first_operand is the index of the first argument that is not an option.
 */
int opts_parse(const struct opt_cmd *cmd, int argc, char **argv, opt_fn fn, void *ctx,
	       int *first_operand);

/* The help: head, one entry per shown row wrapped to 80 columns, foot. */
void opts_print_help(const struct opt_cmd *cmd, FILE *f);

/* getopt_long's tables for a command; 0, or -E2BIG if the table is too long. */
struct opts_getopt {
	struct option longopts[OPTS_MAX + 1];
	char shortopts[2 * OPTS_MAX + 4];
};
int opts_build(const struct opt_cmd *cmd, struct opts_getopt *g);

/* Prints "pyperf CMD: " + the message + "\n" on stderr; returns 2. */
__attribute__((format(printf, 2, 3)))
int opt_usage_error(const char *cmd, const char *fmt, ...);

/* ---- parsers: 0, or -EINVAL for garbage, overflow or out of range ---- */

/* A minimum for the double parsers that excludes 0 but no positive value. */
#define OPT_ABOVE_ZERO DBL_MIN
/* The longest duration any option takes (115 days). */
#define OPT_DURATION_MAX 1e7
#define OPT_HZ_MAX 100000

/* A decimal integer in [min, max]. */
int opt_long(const char *s, long min, long max, long *out);
int opt_int(const char *s, int min, int max, int *out);
/* A process ID (1 to INT_MAX). */
int opt_pid(const char *s, pid_t *out);
/* -p PID of a command: 0, or the usage exit code after saying it is invalid. */
int opt_pid_arg(const char *cmd, const char *s, pid_t *out);
/* --sampler KIND of record and top: auto, timer or remote. 0, or the usage
 * exit code after saying it is invalid. */
int opt_sampler(const char *cmd, const char *s, enum sampler_kind *out);
/* Why --sampler remote is refused with --native (record and top say the same). */
#define OPT_SAMPLER_NO_NATIVE "--native unwinds from a thread's registers, which only interrupting it " \
	"gives: use --sampler timer (or auto)"
/* Samples per second: 1 to OPT_HZ_MAX. */
int opt_hz(const char *s, int *out);
/* Seconds in [min, max]: plain ("30", "0.5") or with a unit: ns, us, ms,
 * s, m, h ("500ms", "2m"). */
int opt_duration(const char *s, double min, double max, double *out);
/* Bytes in [min, max]: plain or with K, M, G (powers of 1024), optionally
 * followed by B or iB ("500M", "2GiB"). */
int opt_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A finite number in [min, max], optionally ending in '%' (*had_sign says
 * whether it did; may be NULL). */
int opt_percent(const char *s, double min, double max, double *out, bool *had_sign);

#endif
