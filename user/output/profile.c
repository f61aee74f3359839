#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flamegraph.h"
#include "folded.h"
#include "output/profile.h"

void profile_init(struct profile *p)
{
	memset(p, 0, sizeof(*p));
	u64map_init(&p->index);
}

void profile_free(struct profile *p)
{
	for (size_t i = 0; i < p->len; i++)
		free(p->stacks[i].frames);
	free(p->stacks);
	u64map_free(&p->index);
	memset(p, 0, sizeof(*p));
}

static uint64_t hash_frames(const char *const *frames, size_t n, const struct sample_origin *origin)
{
	uint64_t h = (0x9e3779b97f4a7c15ull ^ n ^ (uint64_t)(uintptr_t)origin) * 0x100000001b3ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint64_t)(uintptr_t)frames[i]) * 0x100000001b3ull;
	return h;
}

static bool same_frames(const struct profile_stack *s, const char *const *frames, size_t n,
			const struct sample_origin *origin)
{
	return s->origin == origin && s->nframes == n && memcmp(s->frames, frames, n * sizeof(*frames)) == 0;
}

int profile_add(struct profile *p, const char *const *frames, size_t nframes, uint64_t count)
{
	return profile_add_origin(p, frames, nframes, count, NULL);
}

int profile_add_origin(struct profile *p, const char *const *frames, size_t nframes, uint64_t count,
		       const struct sample_origin *origin)
{
	uint64_t h = hash_frames(frames, nframes, origin);

	/* Collisions of the 64-bit hash are resolved by probing h, h+1, ... */
	for (uint64_t k = h;; k++) {
		uint64_t *slot = u64map_get(&p->index, k);

		if (!slot)
			break;
		struct profile_stack *s = &p->stacks[*slot - 1];

		if (same_frames(s, frames, nframes, origin)) {
			s->count += count;
			p->total += count;
			return 0;
		}
	}
	if (p->len == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 256;
		struct profile_stack *n = realloc(p->stacks, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->stacks = n;
		p->cap = ncap;
	}
	const char **copy = malloc((nframes ? nframes : 1) * sizeof(*copy));

	if (!copy)
		return -ENOMEM;
	memcpy(copy, frames, nframes * sizeof(*copy));
	uint64_t k = h;

	while (u64map_get(&p->index, k))
		k++;
	if (u64map_put(&p->index, k, p->len + 1)) {
		free(copy);
		return -ENOMEM;
	}
	p->stacks[p->len++] = (struct profile_stack){ origin, count, nframes, copy };
	p->total += count;
	return 0;
}

static int cmp_stacks(const void *a, const void *b)
{
	const struct profile_stack *x = a, *y = b;

	for (size_t i = 0; i < x->nframes && i < y->nframes; i++) {
		int c = strcmp(x->frames[i], y->frames[i]);

		if (c)
			return c;
	}
	return (x->nframes > y->nframes) - (x->nframes < y->nframes);
}

int profile_write_folded(struct profile *p, FILE *out)
{
	/* Sorting invalidates the index, which is rebuilt below. */
	if (p->len > 1)
		qsort(p->stacks, p->len, sizeof(*p->stacks), cmp_stacks);
	u64map_free(&p->index);
	for (size_t i = 0; i < p->len; i++) {
		uint64_t k = hash_frames(p->stacks[i].frames, p->stacks[i].nframes, p->stacks[i].origin);

		while (u64map_get(&p->index, k))
			k++;
		if (u64map_put(&p->index, k, i + 1))
			return -ENOMEM;
	}
	for (size_t i = 0; i < p->len; i++) {
		const struct profile_stack *s = &p->stacks[i];

		if (folded_write_stack(out, s->frames, s->nframes, s->count))
			return -EIO;
	}
	return ferror(out) ? -EIO : 0;
}

int profile_write_svg(const struct profile *p, const struct fg_options *opts, FILE *out)
{
	struct fg_tree *t = fg_tree_new();
	int err = 0;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < p->len && !err; i++)
		err = fg_tree_add(t, p->stacks[i].frames, p->stacks[i].nframes, p->stacks[i].count);
	if (!err)
		err = fg_write_svg(t, opts, out);
	fg_tree_free(t);
	return err;
}
