#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/u64map.h"

static size_t slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

void u64map_init(struct u64map *m)
{
	memset(m, 0, sizeof(*m));
}

void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	free(m->used);
	memset(m, 0, sizeof(*m));
}

uint64_t *u64map_get(const struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap), probes = 0; probes < m->cap; i = (i + 1) & (m->cap - 1), probes++) {
		if (!m->used[i])
			return NULL;
		if (m->keys[i] == key)
			return &m->vals[i];
	}
	return NULL;
}

static int grow(struct u64map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct u64map n = { 0 };

	n.keys = malloc(ncap * sizeof(*n.keys));
	n.vals = malloc(ncap * sizeof(*n.vals));
	n.used = calloc(ncap, 1);
	if (!n.keys || !n.vals || !n.used) {
		u64map_free(&n);
		return -ENOMEM;
	}
	n.cap = ncap;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->used[i])
			continue;
		size_t j = slot_of(m->keys[i], ncap);

		while (n.used[j])
			j = (j + 1) & (ncap - 1);
		n.used[j] = 1;
		n.keys[j] = m->keys[i];
		n.vals[j] = m->vals[i];
		n.len++;
	}
	u64map_free(m);
	*m = n;
	return 0;
}

int u64map_put(struct u64map *m, uint64_t key, uint64_t val)
{
	uint64_t *v = u64map_get(m, key);

	if (v) {
		*v = val;
		return 0;
	}
	/* Keep the load under 1/2 so probes stay short. */
	if ((m->len + 1) * 2 > m->cap && grow(m))
		return -ENOMEM;
	size_t i = slot_of(key, m->cap);

	while (m->used[i])
		i = (i + 1) & (m->cap - 1);
	m->used[i] = 1;
	m->keys[i] = key;
	m->vals[i] = val;
	m->len++;
	return 0;
}

bool u64map_del(struct u64map *m, uint64_t key)
{
	uint64_t *v = u64map_get(m, key);

	if (!v)
		return false;
	size_t hole = (size_t)(v - m->vals), mask = m->cap - 1;

	m->used[hole] = 0;
	m->len--;
	/* Backward-shift: move later entries of the probe run into the hole so
	 * lookups never stop early at it. */
	for (size_t i = (hole + 1) & mask; m->used[i]; i = (i + 1) & mask) {
		size_t home = slot_of(m->keys[i], m->cap);

		/* Move i into hole unless its home lies cyclically in (hole, i]. */
		bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);

		if (stays)
			continue;
		m->keys[hole] = m->keys[i];
		m->vals[hole] = m->vals[i];
		m->used[hole] = 1;
		m->used[i] = 0;
		hole = i;
	}
	return true;
}
