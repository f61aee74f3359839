/* A byte buffer for unit tests that hand-make .eh_frame entries. */
#ifndef PYPERF_TEST_EHBUF_H
#define PYPERF_TEST_EHBUF_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "native/dwarf.h"

struct buf {
	uint8_t b[2048];
	size_t n;
};

static inline void put(struct buf *b, const void *p, size_t n)
{
	if (n)
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static inline void u8(struct buf *b, uint8_t v) { put(b, &v, 1); }
static inline void u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static inline void u64(struct buf *b, uint64_t v) { put(b, &v, 8); }

/* Pads the entry started at start with DW_CFA_nop to a multiple of 4 and
 * writes its length. */
static inline void close_entry(struct buf *b, size_t start)
{
	while ((b->n - start) % 4)
		u8(b, DW_CFA_nop);
	uint32_t len = (uint32_t)(b->n - start - 4);

	memcpy(b->b + start, &len, 4);
}

#endif
