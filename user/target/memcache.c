/* Page cache over a struct memsrc (memcache.h). */
#include <stdlib.h>
#include <string.h>

#include "target/memcache.h"

struct slot {
	uint64_t page;      /* page address + 1, 0: empty */
	uint32_t valid;     /* bytes readable from the page's start */
	uint8_t *data;      /* MEMCACHE_PAGE bytes, allocated on first use */
};

struct memcache {
	const struct memsrc *inner;
	struct slot *slots;
	size_t nslots;      /* a power of two */
	size_t inner_reads;
};

struct memcache *memcache_new(const struct memsrc *inner, size_t max_pages)
{
	struct memcache *c = calloc(1, sizeof(*c));
	size_t n = 1;

	while (n < max_pages && n < ((size_t)1 << 24))
		n <<= 1;
	if (!c)
		return NULL;
	c->inner = inner;
	c->nslots = n;
	c->slots = calloc(n, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return NULL;
	}
	return c;
}

void memcache_free(struct memcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nslots; i++)
		free(c->slots[i].data);
	free(c->slots);
	free(c);
}

void memcache_clear(struct memcache *c)
{
	for (size_t i = 0; i < c->nslots; i++)
		c->slots[i].page = 0;
}

size_t memcache_inner_reads(const struct memcache *c)
{
	return c->inner_reads;
}

/* The slot holding the page at page (read now if needed); NULL when out of memory. */
static struct slot *page_slot(struct memcache *c, uint64_t page)
{
	/* neighbouring pages never evict one another */
	struct slot *s = &c->slots[(page / MEMCACHE_PAGE) & (c->nslots - 1)];

	if (s->page == page + 1)
		return s;
	if (!s->data && !(s->data = malloc(MEMCACHE_PAGE)))
		return NULL;
	c->inner_reads++;
	s->valid = (uint32_t)memsrc_read_partial(c->inner, page, s->data, MEMCACHE_PAGE);
	s->page = page + 1;
	return s;
}

static size_t cached_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	struct memcache *c = m->ctx;
	size_t done = 0;

	if (len > MEMCACHE_MAX_READ) {
		c->inner_reads++;
		return memsrc_read_partial(c->inner, addr, buf, len);
	}
	while (done < len) {
		uint64_t a = addr + done, page = a & ~(uint64_t)(MEMCACHE_PAGE - 1);
		size_t off = (size_t)(a - page);
		struct slot *s;

		if (a < addr)
			break; /* wrapped past the top of the address space */
		s = page_slot(c, page);
		if (!s) {
			/* out of memory: what the inner source says */
			c->inner_reads++;
			return done + memsrc_read_partial(c->inner, a, (char *)buf + done, len - done);
		}
		if (off >= s->valid)
			break;
		size_t n = s->valid - off;

		if (n > len - done)
			n = len - done;
		memcpy((char *)buf + done, s->data + off, n);
		done += n;
		if (off + n < MEMCACHE_PAGE && done < len)
			break; /* the page is readable only up to here */
	}
	return done;
}

struct memsrc memcache_src(struct memcache *c)
{
	return (struct memsrc){ .read = cached_read, .readv = NULL, .pid = c->inner->pid, .ctx = c };
}
