/* Target memory faked for unit tests: zeroed regions at chosen
 * addresses, read through a struct memsrc; reads are counted. */
#ifndef PYPERF_TEST_FAKEMEM_H
#define PYPERF_TEST_FAKEMEM_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target/memsrc.h"

#define MAX_REGIONS 64

struct region {
	uint64_t addr;
	size_t len;
	uint8_t *data;
};

struct fakemem {
	struct region r[MAX_REGIONS];
	size_t n;
	size_t reads;
};

static inline size_t fake_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	struct fakemem *fm = m->ctx;

	fm->reads++;
	for (size_t i = 0; i < fm->n; i++) {
		struct region *r = &fm->r[i];

		if (addr >= r->addr && addr - r->addr < r->len) {
			size_t avail = r->len - (size_t)(addr - r->addr);
			size_t n = len < avail ? len : avail;

			memcpy(buf, r->data + (addr - r->addr), n);
			return n;
		}
	}
	return 0;
}

/* A zeroed region of len bytes at addr. */
static inline uint8_t *region(struct fakemem *fm, uint64_t addr, size_t len)
{
	if (fm->n >= MAX_REGIONS)
		abort();
	struct region *r = &fm->r[fm->n++];

	r->addr = addr;
	r->len = len;
	r->data = calloc(1, len);
	if (!r->data)
		abort();
	return r->data;
}

static inline void fake_free(struct fakemem *fm)
{
	for (size_t i = 0; i < fm->n; i++)
		free(fm->r[i].data);
	memset(fm, 0, sizeof(*fm));
}

static inline void put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, 8);
}

static inline void put32(uint8_t *p, size_t off, int32_t v)
{
	memcpy(p + off, &v, 4);
}

static inline struct memsrc src_of(struct fakemem *fm)
{
	return (struct memsrc){ .read = fake_read, .pid = 0, .ctx = fm };
}

#endif
