/* Reading another process's memory without stopping it. */
#ifndef PYPERF_MEM_H
#define PYPERF_MEM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads exactly len bytes at addr in pid. Returns 0, or -errno
 * (-EFAULT also for a partial read, -ESRCH when the process is gone). */
int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);

/* Reads up to len bytes; returns the number read (0 when nothing is readable). */
size_t mem_read_partial(pid_t pid, uint64_t addr, void *buf, size_t len);

int mem_read_u64(pid_t pid, uint64_t addr, uint64_t *out);

#endif
