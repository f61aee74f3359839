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

void u64map_init(struct u64map *m);
void u64map_free(struct u64map *m);
/* Pointer to the value for key, or NULL. Valid until the next insert. */
uint64_t *u64map_get(const struct u64map *m, uint64_t key);
/* Inserts or overwrites; returns 0 or -ENOMEM. */
int u64map_put(struct u64map *m, uint64_t key, uint64_t val);
/* Removes key if present; returns whether it was. Pointers from
 * u64map_get are invalid afterwards. */
bool u64map_del(struct u64map *m, uint64_t key);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->used[i]) ... */

#endif
