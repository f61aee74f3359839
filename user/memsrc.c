/* struct memsrc helpers and the live-process implementation. */
#include <errno.h>

#include "mem.h"
#include "memsrc.h"

static size_t pid_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	return mem_read_partial(m->pid, addr, buf, len);
}

struct memsrc memsrc_pid(pid_t pid)
{
	return (struct memsrc){ .read = pid_read, .pid = pid, .ctx = NULL };
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
