/*
 * What a live thread waits on, from /proc (python/waits.h): its syscall,
 * the descriptor it reads (sockets through /proc/PID/net), epoll sets.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "python/waits.h"

bool wait_regs_read(pid_t pid, int32_t tid, struct wait_regs *r)
{
	char path[96], buf[512];
	FILE *f;
	size_t n;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return wait_regs_parse(buf, r);
}

/* The socket with this inode in the process's network namespace. */
static bool socket_endpoints(pid_t pid, uint64_t inode, char *out, size_t cap)
{
	static const struct { const char *name; bool v6; bool unix_; } tables[] = {
		{ "tcp", false, false }, { "tcp6", true, false }, { "udp", false, false },
		{ "udp6", true, false }, { "unix", false, true },
	};
	char path[64], line[1024], what[1024];

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, tables[t].name);
		FILE *f = fopen(path, "re");
		bool found = false;

		if (!f)
			continue;
		/* first line: column titles */
		while (!found && fgets(line, sizeof(line), f))
			found = tables[t].unix_ ? wait_unix_line(line, inode, what, sizeof(what))
						: wait_net_line(line, tables[t].v6, inode, what, sizeof(what));
		fclose(f);
		if (!found)
			continue;
		if (tables[t].unix_)
			snprintf(out, cap, what[0] ? "unix socket %s" : "unix socket", what);
		else
			snprintf(out, cap, "%s socket %s", tables[t].name[0] == 't' ? "TCP" : "UDP", what);
		return true;
	}
	return false;
}

int wait_fd_describe(pid_t pid, int fd, char *out, size_t cap)
{
	char path[64], link[1024];
	unsigned long long inode;
	ssize_t n;

	snprintf(out, cap, "fd %d", fd);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	if (sscanf(link, "socket:[%llu]", &inode) == 1) {
		if (!socket_endpoints(pid, inode, out, cap))
			snprintf(out, cap, "socket (fd %d)", fd);
		return 's';
	}
	if (strncmp(link, "pipe:", 5) == 0) {
		snprintf(out, cap, "pipe");
		return 'p';
	}
	if (link[0] == '/') {
		snprintf(out, cap, "file %s", link);
		return 'f';
	}
	snprintf(out, cap, "fd %d (%s)", fd, link);
	return 0;
}

int wait_epoll_count(pid_t pid, int epfd)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, epfd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, "tfd:", 4) == 0;
	fclose(f);
	return n;
}
