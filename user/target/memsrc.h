/*
 * A source of target memory: a live process (process_vm_readv, mem.c) or
 * anything else that can answer "bytes at this address" (a core file,
 * coredump.c; a fake in unit tests). Readers that must work on both take a
 * const struct memsrc * instead of a PID.
 */
#ifndef PYPERF_MEMSRC_H
#define PYPERF_MEMSRC_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One piece of a vectored read: up to len bytes at addr into buf. got is
 * set to how many bytes were read from the start, exactly as a single read
 * of that piece would report (0 when addr is unreadable). */
struct memsrc_iov {
	uint64_t addr;
	void *buf;
	size_t len;
	size_t got;
};

struct memsrc {
	/* Reads up to len bytes at addr into buf; returns how many bytes were
	 * read from the start (0 when addr is unreadable). Must never write
	 * past buf + len. */
	size_t (*read)(const struct memsrc *m, uint64_t addr, void *buf, size_t len);
	/* Optional (NULL: one read per piece): reads n pieces, in as few
	 * requests as the source allows, setting every piece's got. A piece
	 * that fails or is cut short must not affect the others. */
	void (*readv)(const struct memsrc *m, struct memsrc_iov *iov, size_t n);
	pid_t pid;      /* live process, or 0 */
	void *ctx;      /* the implementation's own state */
};

/* A live process, read with process_vm_readv (readv: several iovecs in one
 * call). */
struct memsrc memsrc_pid(pid_t pid);

/* Exactly len bytes, or -EFAULT (nothing is guaranteed about buf then). */
int memsrc_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len);
size_t memsrc_read_partial(const struct memsrc *m, uint64_t addr, void *buf, size_t len);
int memsrc_read_u64(const struct memsrc *m, uint64_t addr, uint64_t *out);

/* Reads every piece as memsrc_read_partial would (got <= len; 0 for a
 * piece with addr 0 or len 0), with the source's readv when it has one. */
void memsrc_readv(const struct memsrc *m, struct memsrc_iov *iov, size_t n);

#endif
