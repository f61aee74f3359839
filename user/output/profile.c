#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flamegraph.h"
#include "folded.h"
#include "output/profile.h"

void profile_init(struct profile *p)
{
	memset(p, 0, sizeof(*p));
}

void profile_free(struct profile *p)
{
	for (size_t i = 0; i < p->len; i++)
		free(p->stacks[i].frames);
	free(p->stacks);
	free(p->slots);
	memset(p, 0, sizeof(*p));
}

uint64_t profile_hash(const char *const *frames, size_t n, const struct sample_origin *origin)
{
	uint64_t h = (0x9e3779b97f4a7c15ull ^ n ^ (uint64_t)(uintptr_t)origin) * 0x100000001b3ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint64_t)(uintptr_t)frames[i]) * 0x100000001b3ull;
	return h;
}

/* A hash's first slot: its high bits, mixed (FNV's low bits are weak). */
static size_t home_slot(uint64_t h, size_t nslots)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (size_t)h & (nslots - 1);
}

static bool same_frames(const struct profile_stack *s, const char *const *frames, size_t n,
			const struct sample_origin *origin)
{
	return s->origin == origin && s->nframes == n && memcmp(s->frames, frames, n * sizeof(*frames)) == 0;
}

static void put_slot(struct profile_slot *slots, size_t nslots, uint64_t h, size_t index)
{
	size_t i = home_slot(h, nslots);

	while (slots[i].index)
		i = (i + 1) & (nslots - 1);
	slots[i] = (struct profile_slot){ h, index + 1 };
}

/* Room in the index for one more stack (at most half full). */
static int index_room(struct profile *p)
{
	if ((p->len + 1) * 2 <= p->nslots)
		return 0;
	size_t n = p->nslots ? p->nslots * 2 : 512;
	struct profile_slot *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < p->nslots; i++)
		if (p->slots[i].index)
			put_slot(slots, n, p->slots[i].hash, p->slots[i].index - 1);
	free(p->slots);
	p->slots = slots;
	p->nslots = n;
	return 0;
}

/* The index rebuilt from the stacks (after they moved). */
static int index_rebuild(struct profile *p)
{
	free(p->slots);
	p->slots = NULL;
	p->nslots = 0;
	size_t n = 512;

	while (n < p->len * 2 + 2)
		n *= 2;
	if (!(p->slots = calloc(n, sizeof(*p->slots))))
		return -ENOMEM;
	p->nslots = n;
	for (size_t i = 0; i < p->len; i++)
		put_slot(p->slots, n, profile_hash(p->stacks[i].frames, p->stacks[i].nframes, p->stacks[i].origin), i);
	return 0;
}

int profile_add(struct profile *p, const char *const *frames, size_t nframes, uint64_t count)
{
	return profile_add_origin(p, frames, nframes, count, NULL);
}

int profile_add_origin(struct profile *p, const char *const *frames, size_t nframes, uint64_t count,
		       const struct sample_origin *origin)
{
	size_t index;

	return profile_add_at(p, frames, nframes, count, origin, &index);
}

int profile_add_at(struct profile *p, const char *const *frames, size_t nframes, uint64_t count,
		   const struct sample_origin *origin, size_t *index)
{
	return profile_add_hashed(p, profile_hash(frames, nframes, origin), frames, nframes, count, origin, index);
}

void profile_prefetch(const struct profile *p, uint64_t h, int step)
{
	if (!p->nslots)
		return;
	const struct profile_slot *slot = &p->slots[home_slot(h, p->nslots)];

	if (step == 0) {
		__builtin_prefetch(slot);
		return;
	}
	if (!slot->index || slot->hash != h)
		return;
	const struct profile_stack *s = &p->stacks[slot->index - 1];

	if (step == 1) {
		__builtin_prefetch(s);
		return;
	}
	/* the frames same_frames compares, a few cache lines of them */
	for (size_t i = 0; i < s->nframes && i < 32; i += 8)
		__builtin_prefetch(&s->frames[i]);
}

int profile_add_hashed(struct profile *p, uint64_t h, const char *const *frames, size_t nframes, uint64_t count,
		       const struct sample_origin *origin, size_t *index)
{
	if (p->nslots) {
		for (size_t i = home_slot(h, p->nslots); p->slots[i].index; i = (i + 1) & (p->nslots - 1)) {
			struct profile_stack *s = &p->stacks[p->slots[i].index - 1];

			if (p->slots[i].hash == h && same_frames(s, frames, nframes, origin)) {
				s->count += count;
				p->total += count;
				*index = p->slots[i].index - 1;
				return 0;
			}
		}
	}
	if (index_room(p))
		return -ENOMEM;
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
	put_slot(p->slots, p->nslots, h, p->len);
	*index = p->len;
	p->stacks[p->len++] = (struct profile_stack){ origin, count, nframes, copy };
	p->total += count;
	return 0;
}

void profile_truncate(struct profile *p, size_t len)
{
	size_t mask = p->nslots - 1;

	while (p->len > len) {
		struct profile_stack *s = &p->stacks[p->len - 1];
		size_t hole = p->nslots ? home_slot(profile_hash(s->frames, s->nframes, s->origin), p->nslots) : 0;

		while (p->nslots && p->slots[hole].index && p->slots[hole].index != p->len)
			hole = (hole + 1) & mask;
		/* backward shift: later slots of the probe run move into the
		 * hole unless their home lies cyclically in (hole, i] */
		for (size_t i = (hole + 1) & mask; p->nslots && p->slots[hole].index && p->slots[i].index;
		     i = (i + 1) & mask) {
			size_t home = home_slot(p->slots[i].hash, p->nslots);
			bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);

			if (stays)
				continue;
			p->slots[hole] = p->slots[i];
			hole = i;
		}
		if (p->nslots)
			p->slots[hole].index = 0;
		p->total -= s->count;
		free(s->frames);
		p->len--;
	}
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
	if (index_rebuild(p))
		return -ENOMEM;
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
