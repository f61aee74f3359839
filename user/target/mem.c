/* process_vm_readv: one syscall, no ptrace stop, fails cleanly on unmapped memory. */
#include <errno.h>
#include <sys/uio.h>

#include "target/mem.h"

int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (addr == 0)
		return -EFAULT;
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

size_t mem_read_partial(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	/* process_vm_readv stops at the first unreadable page of an iovec, so a
	 * read spanning into an unmapped page still returns the readable head. */
	if (len == 0 || addr == 0)
		return 0;
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	return n < 0 ? 0 : (size_t)n;
}

int mem_read_u64(pid_t pid, uint64_t addr, uint64_t *out)
{
	return mem_read(pid, addr, out, sizeof(*out));
}
