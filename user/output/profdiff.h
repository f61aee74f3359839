/*
 * Two profiles compared (pyperf diff): normalisation, the significance test,
 * and the table of changed functions.
 *
 * Normalisation: each side's counts become shares of its own total
 * (DIFF_SHARE), or seconds per second of its recording (DIFF_PER_SECOND:
 * count x ns per count / duration; CPU seconds per second, i.e. cores busy,
 * for CPU profiles), so runs of different lengths or rates compare.
 *
 * The test: a frame or function is significant when the difference of its
 * two values is larger than sampling noise: |z| >= the normal quantile of
 * the confidence asked (2.576 at 99%, two-sided).
 *   shares:      two-proportion z-test on k1 of n1 against k2 of n2, with
 *                the pooled proportion: z = (p2 - p1) / sqrt(p (1 - p)
 *                (1/n1 + 1/n2));
 *   per second:  the same for Poisson rates with exposures e = duration /
 *                unit: z = (k2/e2 - k1/e1) / sqrt(r (1/e1 + 1/e2)), r
 *                pooled.
 * Samples are taken as independent draws. Time-valued profiles (off-CPU,
 * wall: counts are microseconds, not samples) are tested as if every 10 ms
 * were one sample (DIFF_TIME_UNIT_NS), the resolution of a ~100 Hz sampler;
 * their differences are not sampling noise in the same sense.
 */
#ifndef PYPERF_PROFDIFF_H
#define PYPERF_PROFDIFF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "output/profile_read.h"
#include "util/strtab.h"
#include "util/u64map.h"

#define DIFF_TIME_UNIT_NS 10000000.0

enum diff_norm { DIFF_SHARE, DIFF_PER_SECOND };

enum diff_verdict { DIFF_NOISE, DIFF_GREW, DIFF_SHRANK, DIFF_NEW, DIFF_GONE };

/* One side as the test and the normalisation see it. */
struct diff_side {
	double total;            /* counts */
	double test_scale;       /* test units per count: 1 for samples */
	double exposure;         /* per second: test units the duration holds */
	double value_per_count;  /* per second: seconds per count / seconds recorded */
};

struct diff_setup {
	enum diff_norm norm;
	double confidence;       /* 0.99 */
	double z_crit;           /* |z| at or above it: significant */
	bool by_line;            /* frames compared by label, lines kept (not by function) */
	struct diff_side side[2]; /* [0] before, [1] after */
};

struct diff_cmp {
	double value[2];         /* normalised: share 0..1, or per second */
	double change;           /* value[1] - value[0] */
	double z;
	enum diff_verdict verdict;
};

/* The z statistics above; 0 when there is nothing to compare (no samples,
 * or both sides all or nothing). */
double diff_z_proportions(double k1, double n1, double k2, double n2);
double diff_z_rates(double k1, double e1, double k2, double e2);
/* The two-sided critical |z| of a confidence among 0.8, 0.9, 0.95, 0.98,
 * 0.99, 0.995, 0.998, 0.999; 0 for any other. */
double diff_z_critical(double confidence);
const char *diff_verdict_name(enum diff_verdict v);

/* Fills s for two profiles. Per second needs both profiles' durations
 * and times per count: 0, or -EINVAL with why in err. */
int diff_setup_init(struct diff_setup *s, enum diff_norm norm, double confidence, const struct read_profile *before,
		    const struct read_profile *after, char *err, size_t errlen);
/* Compares k_before counts with k_after. */
void diff_compare(const struct diff_setup *s, uint64_t k_before, uint64_t k_after, struct diff_cmp *out);

/* What a frame is compared as: the function a label belongs to, "name
 * (file)" for a Python frame (its line left out, so code that moved
 * compares to itself), the label for others; or the label itself when
 * by_line. Interned in keys; NULL on ENOMEM. */
const char *diff_function_key(struct strtab *keys, const struct frametab *ft, const char *label, bool by_line);

struct diff_func {
	const char *name;        /* diff_function_key */
	uint64_t self[2], total[2];
	struct diff_cmp self_cmp, total_cmp;
	bool by_total;           /* judged on total: no self samples on either side */
};

/* The comparison a function's verdict comes from. */
static inline const struct diff_cmp *diff_judged(const struct diff_func *f)
{
	return f->by_total ? &f->total_cmp : &f->self_cmp;
}

struct profile_diff {
	struct diff_setup setup;
	struct strtab keys;
	struct diff_func *funcs; /* sorted: significant first, then by size of change */
	size_t nfuncs, capfuncs;
	struct u64map by_key;    /* key pointer -> index + 1 */
};

/* Every function of both profiles with its self and total counts, compared
 * and sorted. Returns 0 or -ENOMEM. */
int profile_diff_build(struct profile_diff *d, const struct diff_setup *s, const struct read_profile *before,
		       const struct read_profile *after);
void profile_diff_free(struct profile_diff *d);
/* The table: a header naming both sides and the test, then the top
 * functions (all when top is 0), then counts of each verdict. 0 or -EIO. */
int profile_diff_write_text(const struct profile_diff *d, FILE *out, size_t top, const char *before_name,
			    const char *after_name);

#endif
