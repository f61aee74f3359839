/* record --timeline: timed events per thread, and their frames in time order
 * (timeline.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "output/timeline.h"

void timeline_init(struct timeline *t)
{
	memset(t, 0, sizeof(*t));
	t->max = TIMELINE_MAX_EVENTS;
}

void timeline_free(struct timeline *t)
{
	free(t->events);
	free(t->stacks);
	free(t->threads);
	free(t->thread_first);
	u64map_free(&t->stack_index);
	u64map_free(&t->thread_index);
	timeline_init(t);
}

/* Doubles *v (of *cap elements of size) to hold one more; 0 or -ENOMEM. */
static int grow(void **v, size_t *cap, size_t len, size_t size)
{
	if (len < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 256;
	void *nv = realloc(*v, ncap * size);

	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* The index of thread (entered at first sight), or -1 out of memory. */
static long thread_of(struct timeline *t, const struct sample_origin *o)
{
	uint64_t *known = u64map_get(&t->thread_index, u64map_key_of(o));

	if (known)
		return (long)(*known - 1);
	if (grow((void **)&t->threads, &t->threads_cap, t->nthreads, sizeof(*t->threads)) ||
	    u64map_put(&t->thread_index, u64map_key_of(o), t->nthreads + 1))
		return -1;
	t->threads[t->nthreads] = o;
	return (long)t->nthreads++;
}

static long stack_of(struct timeline *t, const char *const *labels, size_t n)
{
	/* Labels arrays are the session's interned stacks: one pointer, one
	 * stack (a stack with no label shares the key NULL + 0). */
	uint64_t key = n ? u64map_key_of(labels) : 0;
	uint64_t *known = u64map_get(&t->stack_index, key);

	if (known)
		return (long)(*known - 1);
	if (n > UINT32_MAX ||
	    grow((void **)&t->stacks, &t->stacks_cap, t->nstacks, sizeof(*t->stacks)) ||
	    u64map_put(&t->stack_index, key, t->nstacks + 1))
		return -1;
	t->stacks[t->nstacks] = (struct timeline_stack){ n ? labels : NULL, (uint32_t)n };
	return (long)t->nstacks++;
}

void timeline_add(struct timeline *t, const struct sample_origin *thread, uint64_t time_ns, uint64_t wait_ns,
		  const char *const *labels, size_t nlabels)
{
	if (t->len >= t->max) {
		if (!t->full_at_ns)
			t->full_at_ns = time_ns ? time_ns : 1;
		t->dropped++;
		return;
	}
	long th = thread ? thread_of(t, thread) : -1;
	long st = th >= 0 ? stack_of(t, labels, nlabels) : -1;

	if (st < 0 || grow((void **)&t->events, &t->cap, t->len, sizeof(*t->events))) {
		t->dropped++;
		return;
	}
	t->events[t->len++] = (struct timeline_event){ time_ns, wait_ns, (uint32_t)st, (uint32_t)th };
	t->sorted = false;
}

/* When an event begins: a wait's start, a sample's time. */
static uint64_t event_start(const struct timeline_event *e)
{
	return e->time_ns > e->wait_ns ? e->time_ns - e->wait_ns : 0;
}

static int by_thread_then_time(const void *a, const void *b)
{
	const struct timeline_event *x = a, *y = b;
	uint64_t sx = event_start(x), sy = event_start(y);

	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	if (sx != sy)
		return sx < sy ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

void timeline_sort(struct timeline *t)
{
	if (t->sorted)
		return;
	qsort(t->events, t->len, sizeof(*t->events), by_thread_then_time);
	free(t->thread_first);
	t->thread_first = calloc(t->nthreads + 1, sizeof(*t->thread_first));
	if (t->thread_first) {
		size_t i = 0;

		for (size_t th = 0; th <= t->nthreads; th++) {
			while (i < t->len && t->events[i].thread < th)
				i++;
			t->thread_first[th] = i;
		}
	}
	t->sorted = true;
}

uint64_t timeline_first_ns(struct timeline *t)
{
	uint64_t first = 0;

	for (size_t i = 0; i < t->len; i++) {
		uint64_t s = event_start(&t->events[i]);

		if (i == 0 || s < first)
			first = s;
	}
	return first;
}

/* Closes cur's frames deeper than keep, innermost first. */
static int close_to(const struct timeline_stack *cur, uint32_t keep, uint64_t at, timeline_frame_fn *fn, void *ctx)
{
	for (uint32_t d = cur ? cur->nlabels : 0; d-- > keep;) {
		int rc = fn(ctx, false, cur->labels[d], at);

		if (rc)
			return rc;
	}
	return 0;
}

int timeline_walk(struct timeline *t, size_t th, uint64_t period_ns, uint64_t from_ns, timeline_frame_fn *fn,
		  void *ctx, uint64_t *end_ns)
{
	const struct timeline_stack *cur = NULL; /* the stack open now, NULL: nothing open */
	uint64_t cur_end = 0, floor = from_ns;
	size_t a, b;
	int rc = 0;

	*end_ns = 0;
	timeline_sort(t);
	if (th >= t->nthreads || !t->thread_first)
		return 0;
	a = t->thread_first[th];
	b = t->thread_first[th + 1];
	for (size_t i = a; i < b && !rc; i++) {
		const struct timeline_event *e = &t->events[i];
		const struct timeline_stack *st = &t->stacks[e->stack];
		uint64_t start = event_start(e), end;

		if (e->wait_ns) {
			end = e->time_ns;
		} else {
			/* A sample runs on to the next event, unless that is far
			 * off: then the thread left the CPU unseen, about a
			 * period after it was last seen on it. */
			uint64_t next = i + 1 < b ? event_start(&t->events[i + 1]) : UINT64_MAX;

			end = next != UINT64_MAX && next - start <= 2 * period_ns ? next : start + period_ns;
		}
		if (start < floor)
			start = floor; /* an overlap: the earlier event keeps its time */
		if (end <= start)
			continue;
		if (cur && start - cur_end > 2 * period_ns) {
			rc = close_to(cur, 0, cur_end, fn, ctx);
			cur = NULL;
		}
		if (cur == st) {
			cur_end = floor = end; /* the same stack goes on */
			continue;
		}
		uint32_t common = 0;

		while (cur && common < cur->nlabels && common < st->nlabels && cur->labels[common] == st->labels[common])
			common++;
		/* In a short gap (the thread ran between two waits, or between
		 * a wait and the next sample) the frames both sides share stay
		 * open; the others close where the earlier event ended. */
		if (!rc)
			rc = close_to(cur, common, cur ? cur_end : start, fn, ctx);
		for (uint32_t d = common; d < st->nlabels && !rc; d++)
			rc = fn(ctx, true, st->labels[d], start);
		cur = st;
		cur_end = floor = end;
	}
	if (cur && !rc)
		rc = close_to(cur, 0, cur_end, fn, ctx);
	*end_ns = cur_end;
	return rc;
}
