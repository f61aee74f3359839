/* struct memsrc helpers and the live-process implementation. */
#include <errno.h>
#include <sys/uio.h>

#include "target/mem.h"
#include "target/memsrc.h"

static size_t pid_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	return mem_read_partial(m->pid, addr, buf, len);
}

#define PID_READV_MAX 128 /* iovecs per process_vm_readv call (IOV_MAX is 1024) */

/*
 * process_vm_readv copies the iovecs in order and stops at the first byte it
 * cannot read, returning the count so far (or -1 when that is 0): the pieces
 * before the stop are whole, the one it stopped in has its readable head,
 * and nothing is known about the ones after. Those are read again in a new
 * call starting after the short piece, so one unreadable piece costs one
 * more call and never poisons the others. At most n calls in all.
 */
static void pid_readv(const struct memsrc *m, struct memsrc_iov *iov, size_t n)
{
	size_t i = 0;

	while (i < n) {
		struct iovec local[PID_READV_MAX], remote[PID_READV_MAX];
		size_t idx[PID_READV_MAX], k = 0;

		for (; i < n && k < PID_READV_MAX; i++) {
			iov[i].got = 0;
			if (!iov[i].len || !iov[i].addr)
				continue;
			local[k] = (struct iovec){ .iov_base = iov[i].buf, .iov_len = iov[i].len };
			remote[k] = (struct iovec){ .iov_base = (void *)(uintptr_t)iov[i].addr,
						    .iov_len = iov[i].len };
			idx[k++] = i;
		}
		if (!k)
			return;
		ssize_t r = process_vm_readv(m->pid, local, (unsigned long)k, remote, (unsigned long)k, 0);
		int err = r < 0 ? errno : 0;
		size_t done = r < 0 ? 0 : (size_t)r, j;

		for (j = 0; j < k && done >= iov[idx[j]].len; j++) {
			iov[idx[j]].got = iov[idx[j]].len;
			done -= iov[idx[j]].len;
		}
		if (j == k)
			continue;
		iov[idx[j]].got = done; /* the short piece: its readable head */
		/* The process is gone or forbidden: no other piece can succeed. */
		if (err == ESRCH || err == EPERM) {
			for (size_t l = idx[j] + 1; l < n; l++)
				iov[l].got = 0;
			return;
		}
		i = idx[j] + 1;
	}
}

struct memsrc memsrc_pid(pid_t pid)
{
	return (struct memsrc){ .read = pid_read, .readv = pid_readv, .pid = pid, .ctx = NULL };
}

size_t memsrc_read_partial(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	if (!m || !m->read || !len || !addr)
		return 0;
	size_t n = m->read(m, addr, buf, len);

	return n > len ? len : n;
}

int memsrc_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	if (len == 0)
		return 0;
	return memsrc_read_partial(m, addr, buf, len) == len ? 0 : -EFAULT;
}

int memsrc_read_u64(const struct memsrc *m, uint64_t addr, uint64_t *out)
{
	return memsrc_read(m, addr, out, sizeof(*out));
}

void memsrc_readv(const struct memsrc *m, struct memsrc_iov *iov, size_t n)
{
	if (!iov)
		return;
	if (m && m->readv) {
		m->readv(m, iov, n);
		for (size_t i = 0; i < n; i++) { /* the same guarantees as a single read */
			if (!iov[i].addr || !iov[i].len)
				iov[i].got = 0;
			else if (iov[i].got > iov[i].len)
				iov[i].got = iov[i].len;
		}
		return;
	}
	for (size_t i = 0; i < n; i++)
		iov[i].got = memsrc_read_partial(m, iov[i].addr, iov[i].buf, iov[i].len);
}
