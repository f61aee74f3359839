#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "folded.h"
#include "output/profdiff.h"
#include "util/errbuf.h"

double diff_z_proportions(double k1, double n1, double k2, double n2)
{
	if (!(n1 > 0) || !(n2 > 0))
		return 0;
	double p1 = k1 / n1, p2 = k2 / n2, p = (k1 + k2) / (n1 + n2);
	double var = p * (1 - p) * (1 / n1 + 1 / n2);

	return var > 0 ? (p2 - p1) / sqrt(var) : 0;
}

double diff_z_rates(double k1, double e1, double k2, double e2)
{
	if (!(e1 > 0) || !(e2 > 0))
		return 0;
	double r = (k1 + k2) / (e1 + e2), var = r * (1 / e1 + 1 / e2);

	return var > 0 ? (k2 / e2 - k1 / e1) / sqrt(var) : 0;
}

double diff_z_critical(double confidence)
{
	/* two-sided quantiles of the standard normal distribution */
	static const struct {
		double confidence, z;
	} table[] = {
		{ 0.8, 1.2815515655446004 }, { 0.9, 1.6448536269514722 }, { 0.95, 1.959963984540054 },
		{ 0.98, 2.3263478740408408 }, { 0.99, 2.5758293035489004 }, { 0.995, 2.807033768343811 },
		{ 0.998, 3.090232306167813 }, { 0.999, 3.2905267314918945 },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (fabs(confidence - table[i].confidence) < 1e-9)
			return table[i].z;
	return 0;
}

const char *diff_verdict_name(enum diff_verdict v)
{
	static const char *const names[] = { "noise", "grew", "shrank", "new", "gone" };

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

/* What one count stands for in the test: a sample, or for time-valued
 * profiles DIFF_TIME_UNIT_NS of time. */
static double test_unit_ns(const struct read_profile *p, double ns_per_count)
{
	return p->value_type ? DIFF_TIME_UNIT_NS : ns_per_count;
}

static int side_init(struct diff_side *d, enum diff_norm norm, const struct read_profile *p, const char *which,
		     char *err, size_t errlen)
{
	double total = (double)p->prof.total;
	double time_ns = (double)read_profile_time_ns(p), duration_ns = (double)read_profile_duration_ns(p);
	double ns_per_count = total > 0 && time_ns > 0 ? time_ns / total : 0;

	*d = (struct diff_side){ .total = total, .test_scale = 1 };
	if (p->value_type && ns_per_count > 0)
		d->test_scale = ns_per_count / DIFF_TIME_UNIT_NS;
	if (norm != DIFF_PER_SECOND)
		return 0;
	if (!(duration_ns > 0) || !(ns_per_count > 0)) {
		set_err(err, errlen, "--per-second needs how long %s was recorded and what a sample stands for, "
			"which pprof files carry (record -o FILE.pb.gz, or --every into a directory of them) "
			"and folded files do not", which);
		return -EINVAL;
	}
	d->value_per_count = ns_per_count / duration_ns;
	d->exposure = duration_ns / test_unit_ns(p, ns_per_count);
	return 0;
}

int diff_setup_init(struct diff_setup *s, enum diff_norm norm, double confidence, const struct read_profile *before,
		    const struct read_profile *after, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->norm = norm;
	s->confidence = confidence;
	s->z_crit = diff_z_critical(confidence);
	if (!(s->z_crit > 0)) {
		set_err(err, errlen, "no test at a confidence of %g", confidence);
		return -EINVAL;
	}
	const char *kb = before->value_type ? before->value_type : "CPU samples";
	const char *ka = after->value_type ? after->value_type : "CPU samples";

	if (strcmp(kb, ka) != 0) {
		set_err(err, errlen, "BEFORE holds %s and AFTER %s: compare profiles of one kind (record --mode)", kb, ka);
		return -EINVAL;
	}
	int rc = side_init(&s->side[0], norm, before, "BEFORE", err, errlen);

	return rc ? rc : side_init(&s->side[1], norm, after, "AFTER", err, errlen);
}

void diff_compare(const struct diff_setup *s, uint64_t k_before, uint64_t k_after, struct diff_cmp *out)
{
	const struct diff_side *b = &s->side[0], *a = &s->side[1];
	double kb = (double)k_before * b->test_scale, ka = (double)k_after * a->test_scale;

	if (s->norm == DIFF_PER_SECOND) {
		out->value[0] = (double)k_before * b->value_per_count;
		out->value[1] = (double)k_after * a->value_per_count;
		out->z = diff_z_rates(kb, b->exposure, ka, a->exposure);
	} else {
		out->value[0] = b->total > 0 ? (double)k_before / b->total : 0;
		out->value[1] = a->total > 0 ? (double)k_after / a->total : 0;
		out->z = diff_z_proportions(kb, b->total * b->test_scale, ka, a->total * a->test_scale);
	}
	out->change = out->value[1] - out->value[0];
	out->verdict = DIFF_NOISE;
	if (!(fabs(out->z) >= s->z_crit))
		return;
	if (!k_before)
		out->verdict = DIFF_NEW;
	else if (!k_after)
		out->verdict = DIFF_GONE;
	else
		out->verdict = out->z > 0 ? DIFF_GREW : DIFF_SHRANK;
}

const char *diff_function_key(struct strtab *keys, const struct frametab *ft, const char *label, bool by_line)
{
	const struct frame_meta *m = frametab_meta(ft, label);

	if (by_line || !m || m->kind != FRAME_PYTHON || m->line < 0)
		return strtab_intern(keys, label);
	size_t n = strlen(m->name) + strlen(m->file) + 4;
	char *k = malloc(n);

	if (!k)
		return NULL;
	snprintf(k, n, "%s (%s)", m->name, m->file);
	const char *key = strtab_intern(keys, k);

	free(k);
	return key;
}

/* ---- the function table ------------------------------------------------------ */

/* Per function while counting: the last stack that counted it in total. */
struct seen {
	uint64_t stack;
};

static struct diff_func *func_of(struct profile_diff *d, const char *key, struct seen **seen)
{
	uint64_t *v = u64map_get(&d->by_key, u64map_key_of(key));

	if (v)
		return &d->funcs[*v - 1];
	if (d->nfuncs == d->capfuncs) {
		size_t ncap = d->capfuncs ? d->capfuncs * 2 : 256;
		struct diff_func *n = realloc(d->funcs, ncap * sizeof(*n));
		struct seen *ns = realloc(*seen, ncap * sizeof(*ns));

		if (ns)
			*seen = ns;
		if (n)
			d->funcs = n;
		if (!n || !ns)
			return NULL;
		d->capfuncs = ncap;
	}
	if (u64map_put(&d->by_key, u64map_key_of(key), d->nfuncs + 1))
		return NULL;
	(*seen)[d->nfuncs].stack = 0;
	d->funcs[d->nfuncs] = (struct diff_func){ .name = key };
	return &d->funcs[d->nfuncs++];
}

static int count_side(struct profile_diff *d, const struct read_profile *p, int side, struct seen **seen,
		      uint64_t *serial)
{
	struct u64map label_keys; /* label pointer -> key pointer */
	int rc = 0;

	u64map_init(&label_keys);
	for (size_t i = 0; i < p->prof.len && !rc; i++) {
		const struct profile_stack *s = &p->prof.stacks[i];

		++*serial;
		for (size_t j = 0; j < s->nframes; j++) {
			const char *key = u64map_get_ptr(&label_keys, u64map_key_of(s->frames[j]));

			if (!key && (!(key = diff_function_key(&d->keys, &p->labels, s->frames[j], d->setup.by_line)) ||
				     u64map_put_ptr(&label_keys, u64map_key_of(s->frames[j]), key))) {
				rc = -ENOMEM;
				break;
			}
			struct diff_func *f = func_of(d, key, seen);

			if (!f) {
				rc = -ENOMEM;
				break;
			}
			/* recursion counts once in total */
			if ((*seen)[f - d->funcs].stack != *serial) {
				(*seen)[f - d->funcs].stack = *serial;
				f->total[side] += s->count;
			}
			if (j == s->nframes - 1)
				f->self[side] += s->count;
		}
	}
	u64map_free(&label_keys);
	return rc;
}

static double rank_of(const struct diff_func *f)
{
	return fabs(diff_judged(f)->change);
}

static int cmp_funcs(const void *a, const void *b)
{
	const struct diff_func *x = a, *y = b;
	bool sx = diff_judged(x)->verdict != DIFF_NOISE, sy = diff_judged(y)->verdict != DIFF_NOISE;

	if (sx != sy)
		return sx ? -1 : 1;
	double rx = rank_of(x), ry = rank_of(y);

	if (rx != ry)
		return rx > ry ? -1 : 1;
	return strcmp(x->name, y->name);
}

int profile_diff_build(struct profile_diff *d, const struct diff_setup *s, const struct read_profile *before,
		       const struct read_profile *after)
{
	struct seen *seen = NULL;
	uint64_t serial = 0;
	int rc;

	memset(d, 0, sizeof(*d));
	d->setup = *s;
	strtab_init(&d->keys);
	u64map_init(&d->by_key);
	rc = count_side(d, before, 0, &seen, &serial);
	if (!rc)
		rc = count_side(d, after, 1, &seen, &serial);
	free(seen);
	if (rc)
		return rc;
	for (size_t i = 0; i < d->nfuncs; i++) {
		struct diff_func *f = &d->funcs[i];

		diff_compare(s, f->self[0], f->self[1], &f->self_cmp);
		diff_compare(s, f->total[0], f->total[1], &f->total_cmp);
		f->by_total = !f->self[0] && !f->self[1];
	}
	if (d->nfuncs > 1)
		qsort(d->funcs, d->nfuncs, sizeof(*d->funcs), cmp_funcs);
	/* the index follows the sort */
	u64map_free(&d->by_key);
	for (size_t i = 0; i < d->nfuncs; i++)
		if (u64map_put(&d->by_key, u64map_key_of(d->funcs[i].name), i + 1))
			return -ENOMEM;
	return 0;
}

void profile_diff_free(struct profile_diff *d)
{
	free(d->funcs);
	u64map_free(&d->by_key);
	strtab_free(&d->keys);
	memset(d, 0, sizeof(*d));
}

/* ---- text ----------------------------------------------------------------------- */

/* A value or a change as the table shows it, in buf. */
static const char *fmt_value(char buf[32], const struct diff_setup *s, double v, bool change)
{
	if (s->norm == DIFF_PER_SECOND)
		snprintf(buf, 32, change ? "%+.4f" : "%.4f", v);
	else
		snprintf(buf, 32, change ? "%+.2f" : "%.2f%%", 100 * v);
	return buf;
}

int profile_diff_write_text(const struct profile_diff *d, FILE *out, size_t top, const char *before_name,
			    const char *after_name)
{
	const struct diff_setup *s = &d->setup;
	size_t counts[5] = { 0 };

	fprintf(out, "BEFORE %s: %.0f %s\nAFTER  %s: %.0f %s\n", before_name, s->side[0].total,
		s->side[0].test_scale != 1 ? "µs" : "samples", after_name, s->side[1].total,
		s->side[1].test_scale != 1 ? "µs" : "samples");
	fputs(s->norm == DIFF_PER_SECOND ?
	      "values: seconds per second of each recording (CPU: cores busy)\ntest: z-test of two Poisson rates" :
	      "values: shares of each side's total, changes in percentage points\ntest: two-proportion z-test",
	      out);
	fprintf(out, " per function at %g%% confidence (|z| >= %.3f); smaller changes are noise\n"
		"verdict: on the self value, or on total for a function never at the top of a stack\n\n",
		100 * s->confidence, s->z_crit);
	fprintf(out, "%-28s%s\n%8s %8s %8s   %8s %8s %8s  %-7s  %s\n", "    self", "    total", "before", "after",
		"change", "before", "after", "change", "verdict", "function");
	for (size_t i = 0; i < d->nfuncs; i++)
		counts[diff_judged(&d->funcs[i])->verdict]++;
	for (size_t i = 0; i < d->nfuncs && (!top || i < top); i++) {
		const struct diff_func *f = &d->funcs[i];
		char v[6][32];

		fprintf(out, "%8s %8s %8s   %8s %8s %8s  %-7s  ", fmt_value(v[0], s, f->self_cmp.value[0], false),
			fmt_value(v[1], s, f->self_cmp.value[1], false), fmt_value(v[2], s, f->self_cmp.change, true),
			fmt_value(v[3], s, f->total_cmp.value[0], false), fmt_value(v[4], s, f->total_cmp.value[1], false),
			fmt_value(v[5], s, f->total_cmp.change, true), diff_verdict_name(diff_judged(f)->verdict));
		if (folded_write_frame(out, f->name))
			return -EIO;
		fputc('\n', out);
	}
	if (top && d->nfuncs > top)
		fprintf(out, "... %zu more functions (--top 0 lists all)\n", d->nfuncs - top);
	fprintf(out, "\n%zu functions: %zu grew, %zu shrank, %zu new, %zu gone, %zu within noise\n", d->nfuncs,
		counts[DIFF_GREW], counts[DIFF_SHRANK], counts[DIFF_NEW], counts[DIFF_GONE], counts[DIFF_NOISE]);
	return ferror(out) ? -EIO : 0;
}
