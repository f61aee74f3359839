/* Open-addressing hash map from u64 keys to u64 values (pointers fit). */
#ifndef PYPERF_U64MAP_H
#define PYPERF_U64MAP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;
	uint64_t *vals;
	uint8_t *used;
	size_t cap;   /* power of two, or 0 */
	size_t len;
};

/* An all-zero struct u64map is an empty map too (calloc, = { 0 }). */
void u64map_init(struct u64map *m);
void u64map_free(struct u64map *m);
/* Pointer to the value for key, or NULL. Valid until the next insert. */
uint64_t *u64map_get(const struct u64map *m, uint64_t key);
/* Inserts or overwrites; returns 0 or -ENOMEM. */
int u64map_put(struct u64map *m, uint64_t key, uint64_t val);
/* Removes key if present; returns whether it was. Pointers from
 * u64map_get are invalid afterwards. */
bool u64map_del(struct u64map *m, uint64_t key);

/* Pointer-valued and pointer-keyed use, without casts at every call site.
 * A map holds either integers or pointers as values; these only convert. */
static inline uint64_t u64map_key_of(const void *p) { return (uint64_t)(uintptr_t)p; }

/* The pointer stored for key, or NULL when key is absent. */
static inline void *u64map_get_ptr(const struct u64map *m, uint64_t key)
{
	uint64_t *v = u64map_get(m, key);
	return v ? (void *)(uintptr_t)*v : NULL;
}

static inline int u64map_put_ptr(struct u64map *m, uint64_t key, const void *val)
{
	return u64map_put(m, key, (uint64_t)(uintptr_t)val);
}

/* Iteration over occupied slots, in no particular order:
 *   for (size_t it = 0; u64map_next(m, &it, &key, &val); ) ...
 * key or val may be NULL. The map must not change during the loop. */
static inline bool u64map_next(const struct u64map *m, size_t *it, uint64_t *key, uint64_t *val)
{
	for (; *it < m->cap; (*it)++) {
		if (m->used[*it]) {
			if (key)
				*key = m->keys[*it];
			if (val)
				*val = m->vals[*it];
			(*it)++;
			return true;
		}
	}
	return false;
}

/* The same, for maps whose values are pointers. */
static inline bool u64map_next_ptr(const struct u64map *m, size_t *it, uint64_t *key, void **val)
{
	uint64_t v;
	if (!u64map_next(m, it, key, &v))
		return false;
	if (val)
		*val = (void *)(uintptr_t)v;
	return true;
}

#endif
