/* record --timeline: samples and waits into balanced, ordered frame events
 * (output/timeline.c), and the evented speedscope writer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output/frametab.h"
#include "output/json.h"
#include "output/profile.h"
#include "output/timeline.h"
#include "output/writers.h"
#include "unit.h"

#define MS 1000000ull
#define P (10 * MS) /* the sampling period */

struct op {
	bool open;
	const char *label;
	uint64_t at;
};

/* Collects a walk's events, checking what speedscope's importer checks:
 * times never go back, a close names the frame on top. */
struct walk {
	struct op ops[4096];
	size_t n;
	const char *stack[64];
	size_t depth;
	bool broken;
};

static int collect(void *ctx, bool open, const char *label, uint64_t at)
{
	struct walk *w = ctx;

	if (w->n && at < w->ops[w->n - 1].at)
		w->broken = true;
	if (open) {
		if (w->depth == 64)
			return -1;
		w->stack[w->depth++] = label;
	} else if (!w->depth || w->stack[--w->depth] != label) {
		w->broken = true;
	}
	if (w->n < sizeof(w->ops) / sizeof(w->ops[0]))
		w->ops[w->n++] = (struct op){ open, label, at };
	return 0;
}

static struct walk *walk(struct timeline *t, size_t th, uint64_t *end)
{
	static struct walk w;

	memset(&w, 0, sizeof(w));
	CHECK_EQ_INT(timeline_walk(t, th, P, 0, collect, &w, end), 0);
	CHECK(!w.broken);
	CHECK_EQ_INT(w.depth, 0);
	return &w;
}

static bool op_is(const struct walk *w, size_t i, bool open, const char *label, uint64_t at)
{
	return i < w->n && w->ops[i].open == open && w->ops[i].label == label && w->ops[i].at == at;
}

static const struct sample_origin thread_a = { .pid = 10, .tid = 10, .thread = "main" };
static const struct sample_origin thread_b = { .pid = 10, .tid = 11, .thread = "worker" };

static const char *A = "a (x.py:1)", *B = "b (x.py:2)", *C = "c (x.py:3)", *SLEEP = "[sleep]";

/* Samples of one stack extend it; a gap longer than 2 periods closes all
 * at the last sample plus a period; the stack reopens at the next. */
static void test_samples_and_gaps(void)
{
	const char *ab[] = { A, B };
	struct timeline t;
	uint64_t end;

	timeline_init(&t);
	/* added out of order: the walk sorts */
	timeline_add(&t, &thread_a, 120 * MS, 0, ab, 2);
	timeline_add(&t, &thread_a, 100 * MS, 0, ab, 2);
	timeline_add(&t, &thread_a, 110 * MS, 0, ab, 2);
	timeline_add(&t, &thread_a, 200 * MS, 0, ab, 2); /* 80 ms later: off the CPU in between */
	struct walk *w = walk(&t, 0, &end);

	CHECK_EQ_INT(w->n, 8);
	CHECK(op_is(w, 0, true, A, 100 * MS) && op_is(w, 1, true, B, 100 * MS));
	CHECK(op_is(w, 2, false, B, 130 * MS) && op_is(w, 3, false, A, 130 * MS));
	CHECK(op_is(w, 4, true, A, 200 * MS) && op_is(w, 7, false, A, 210 * MS));
	CHECK_EQ_INT(end, 210 * MS);
	timeline_free(&t);
}

/* Waits are intervals [end - wait, end] with their leaf; a sample before
 * a wait ends where the wait starts; a short gap between two events keeps
 * the frames they share open and closes the others at the first's end. */
static void test_waits_and_short_gaps(void)
{
	const char *ab[] = { A, B }, *ac_sleep[] = { A, C, SLEEP }, *ac[] = { A, C };
	struct timeline t;
	uint64_t end;

	timeline_init(&t);
	timeline_add(&t, &thread_a, 100 * MS, 0, ab, 2);
	timeline_add(&t, &thread_a, 1105 * MS, 1000 * MS, ac_sleep, 3); /* slept 105..1105 */
	timeline_add(&t, &thread_a, 1110 * MS, 0, ac, 2);                /* 5 ms after: C goes on */
	struct walk *w = walk(&t, 0, &end);

	/* O a, O b @100; C b @105; O c, O sleep @105; C sleep @1105; C c, C a @1120 */
	CHECK(op_is(w, 0, true, A, 100 * MS) && op_is(w, 1, true, B, 100 * MS));
	CHECK(op_is(w, 2, false, B, 105 * MS));
	CHECK(op_is(w, 3, true, C, 105 * MS) && op_is(w, 4, true, SLEEP, 105 * MS));
	CHECK(op_is(w, 5, false, SLEEP, 1105 * MS));
	CHECK(op_is(w, 6, false, C, 1120 * MS) && op_is(w, 7, false, A, 1120 * MS));
	CHECK_EQ_INT(w->n, 8);
	timeline_free(&t);
}

/* Overlaps (a wait said to start before the sample ahead of it, two waits
 * overlapping) go to the earlier event; an event left with no time is
 * dropped; a stack with no label closes what was open. */
static void test_overlaps_and_empty_stacks(void)
{
	const char *ab[] = { A, B }, *a_sleep[] = { A, SLEEP }, *c[] = { C };
	struct timeline t;
	uint64_t end;

	timeline_init(&t);
	timeline_add(&t, &thread_a, 100 * MS, 0, ab, 2);
	timeline_add(&t, &thread_a, 150 * MS, 60 * MS, a_sleep, 2); /* 90..150: starts before the sample */
	timeline_add(&t, &thread_a, 140 * MS, 20 * MS, c, 1);      /* 120..140: inside the wait: dropped */
	timeline_add(&t, &thread_a, 155 * MS, 0, NULL, 0);          /* nothing shown: closes */
	timeline_add(&t, &thread_a, 160 * MS, 0, c, 1);
	struct walk *w = walk(&t, 0, &end);

	/* The wait sorts first (starts at 90): O a, O sleep @90, C sleep @150;
	 * the sample at 100 is inside it: dropped; the empty stack closes a at
	 * 150; c opens at 160 and closes at 170. */
	CHECK(op_is(w, 0, true, A, 90 * MS) && op_is(w, 1, true, SLEEP, 90 * MS));
	CHECK(op_is(w, 2, false, SLEEP, 150 * MS) && op_is(w, 3, false, A, 150 * MS));
	CHECK(op_is(w, 4, true, C, 160 * MS) && op_is(w, 5, false, C, 170 * MS));
	CHECK_EQ_INT(w->n, 6);
	timeline_free(&t);
}

/* Threads are kept apart; a pseudo-random mix of samples and waits of
 * recursive stacks always walks balanced and in order. */
static void test_threads_and_random_mixes(void)
{
	const char *labels[] = { A, B, C, A, B, SLEEP };
	struct timeline t;
	uint64_t end, seed = 88172645463325252ull;

	timeline_init(&t);
	for (int i = 0; i < 3000; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		size_t start = seed % 3, n = 1 + (seed >> 8) % (6 - start);
		uint64_t at = (seed >> 16) % (2000 * MS);
		uint64_t wait = (seed >> 40) % 4 ? 0 : (seed >> 44) % (30 * MS);

		/* stacks: suffixes of labels from a few starts (different roots) */
		timeline_add(&t, (seed >> 50) & 1 ? &thread_a : &thread_b, at, wait, labels + start, n);
	}
	CHECK_EQ_INT(t.nthreads, 2);
	CHECK_EQ_INT(t.len, 3000);
	for (size_t th = 0; th < 2; th++) {
		struct walk *w = walk(&t, th, &end);

		CHECK(w->n > 100);
	}
	timeline_free(&t);
}

/* Past max events the timeline stops, counting what it left out. */
static void test_cap(void)
{
	const char *a[] = { A };
	struct timeline t;

	timeline_init(&t);
	CHECK_EQ_INT(t.max, TIMELINE_MAX_EVENTS);
	t.max = 3;
	for (uint64_t i = 0; i < 5; i++)
		timeline_add(&t, &thread_a, (100 + i) * MS, 0, a, 1);
	CHECK_EQ_INT(t.len, 3);
	CHECK_EQ_INT(t.dropped, 2);
	CHECK_EQ_INT(t.full_at_ns, 103 * MS);
	timeline_add(&t, NULL, 1, 0, a, 1);
	CHECK_EQ_INT(t.dropped, 3);
	timeline_free(&t);
}

/* The file: frames named once with hostile names escaped, one evented
 * profile per thread (by pid, tid) at times from the origin, then the
 * aggregated profile. */
static void test_writer(void)
{
	struct frametab ft;
	struct profile p;
	struct timeline t;
	char *buf = NULL;
	size_t size = 0;

	frametab_init(&ft);
	profile_init(&p);
	timeline_init(&t);
	const char *mod = frametab_python(&ft, "<module>", "/app/x.py", 3, 1);
	const char *evil = frametab_python(&ft, "ev\"il\n\xff</script>", "/app/\\x.py", 7, 6);
	const char *sleep = frametab_pseudo(&ft, "[sleep]");
	const char *s1[] = { mod, evil }, *s2[] = { mod, sleep };
	static const struct sample_origin hostile = { .pid = 10, .tid = 10, .thread = "na\"me\x01", .comm = "py" };

	timeline_add(&t, &thread_b, 5000 * MS + 20 * MS, 0, s1, 2); /* tid 11: written second */
	timeline_add(&t, &hostile, 5000 * MS, 0, s1, 2);
	timeline_add(&t, &hostile, 5000 * MS + 40 * MS, 30 * MS, s2, 2);
	t.origin_ns = 5000 * MS - 1 * MS;
	t.period_ns = P;
	CHECK_EQ_INT(profile_add(&p, s1, 2, 2), 0);
	CHECK_EQ_INT(profile_add(&p, s2, 2, 3), 0);
	struct profile_meta m = { .period_ns = 1000, .name = "run" };
	FILE *f = open_memstream(&buf, &size);

	CHECK_EQ_INT(profile_write_speedscope_timeline(&p, &t, &ft, &m, f), 0);
	fclose(f);
	CHECK(buf && strstr(buf, "{\"name\":\"<module>\",\"file\":\"/app/x.py\",\"line\":3},\n"
				 "{\"name\":\"ev\\\"il\\n\\ufffd</script>\",\"file\":\"/app/\\\\x.py\",\"line\":7},\n"
				 "{\"name\":\"[sleep]\"}\n]}") != NULL);
	/* thread 10: <module> from 1 ms, evil until the wait starts at 10 ms,
	 * the wait to 40 ms; then thread 11 at 21 ms for a period */
	CHECK(buf && strstr(buf, "{\"type\":\"evented\",\"name\":\"thread na\\\"me\\u0001 (10), PID 10 (py)\","
				 "\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":41000000,\n\"events\":[\n"
				 "{\"type\":\"O\",\"frame\":0,\"at\":1000000},\n"
				 "{\"type\":\"O\",\"frame\":1,\"at\":1000000},\n"
				 "{\"type\":\"C\",\"frame\":1,\"at\":11000000},\n"
				 "{\"type\":\"O\",\"frame\":2,\"at\":11000000},\n"
				 "{\"type\":\"C\",\"frame\":2,\"at\":41000000},\n"
				 "{\"type\":\"C\",\"frame\":0,\"at\":41000000}\n]},\n"
				 "{\"type\":\"evented\",\"name\":\"thread worker (11), PID 10 (?)\"") != NULL);
	CHECK(buf && strstr(buf, "{\"type\":\"sampled\",\"name\":\"run: all threads, aggregated\",\"unit\":\"nanoseconds\","
				 "\"startValue\":0,\"endValue\":5000,\n\"samples\":[\n[0,1],\n[0,2]\n],\n"
				 "\"weights\":[2000,3000]}],\n\"name\":\"run\",\"activeProfileIndex\":0") != NULL);
	CHECK(buf && utf8_sanitized_len(buf, strlen(buf)) == strlen(buf));
	free(buf);

	/* A failing stream is an error. */
	f = fopen("/dev/full", "w");
	if (f) {
		CHECK(profile_write_speedscope_timeline(&p, &t, &ft, &m, f) < 0);
		fclose(f);
	}
	timeline_free(&t);
	profile_free(&p);
	frametab_free(&ft);
}

int main(void)
{
	test_samples_and_gaps();
	test_waits_and_short_gaps();
	test_overlaps_and_empty_stacks();
	test_threads_and_random_mixes();
	test_cap();
	test_writer();
	UNIT_DONE();
}
