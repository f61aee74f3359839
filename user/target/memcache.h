/*
 * A struct memsrc that keeps the pages it has read from another one, for
 * readers that make many small reads of the same memory (pyperf dump
 * --locals reads objects field by field: one process_vm_readv per field
 * made 2,000 threads' locals take 17 s of CPU). What it returns is what the
 * inner source held when each page was first read: for a live process, a
 * snapshot that can be older than the last read, as any read of a running
 * process is. Unreadable pages are remembered as such.
 */
#ifndef PYPERF_MEMCACHE_H
#define PYPERF_MEMCACHE_H
#include <stddef.h>

#include "target/memsrc.h"

#define MEMCACHE_PAGE 4096u
/* Reads longer than this go straight to the inner source. */
#define MEMCACHE_MAX_READ (16u * MEMCACHE_PAGE)

struct memcache;

/* A cache of at most max_pages pages (direct-mapped: a page may evict
 * another) over inner, which must outlive it. NULL when out of memory. */
struct memcache *memcache_new(const struct memsrc *inner, size_t max_pages);
void memcache_free(struct memcache *c);
/* The source reading through c (valid while c is). */
struct memsrc memcache_src(struct memcache *c);
/* Forgets every page: later reads see the inner source as it is then. */
void memcache_clear(struct memcache *c);
/* Reads the inner source made so far (pages, and reads passed through). */
size_t memcache_inner_reads(const struct memcache *c);

#endif
