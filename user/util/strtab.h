/* Interned strings: equal strings share one pointer, so stacks of labels
 * compare and hash by pointer. */
#ifndef PYPERF_STRTAB_H
#define PYPERF_STRTAB_H
#include <stddef.h>

#include "util/u64map.h"

struct strtab {
	struct u64map by_hash; /* hash -> struct strtab_node * (chained) */
	size_t count;
	size_t bytes;
};

void strtab_init(struct strtab *t);
void strtab_free(struct strtab *t);
/* Returns the interned copy of s (stable until strtab_free), or NULL on ENOMEM. */
const char *strtab_intern(struct strtab *t, const char *s);

#endif
