/* SPDX-License-Identifier: MIT */
/*
 * For fuzz targets whose code under test opens a file by path: the input
 * is written to one memfd per process, opened as /proc/self/fd/N, and
 * open_fds() tells whether a descriptor leaked. Define FUZZ_NAME (the
 * target's name, for die() and the memfd) before including this.
 */
#ifndef PYPERF_FUZZ_FILE_H
#define PYPERF_FUZZ_FILE_H
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define die(...) do { fprintf(stderr, FUZZ_NAME ": " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static int memfd = -1;
static char path[64];

/* The lowest free descriptor: it changes when one is leaked. */
static int open_fds(void)
{
	int fd = fcntl(memfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		die("F_DUPFD: %s", strerror(errno));
	close(fd);
	return fd;
}

/* Makes the memfd hold exactly data; its name is then in path. */
static void fuzz_file_put(const uint8_t *data, size_t size)
{
	if (memfd < 0) {
		memfd = memfd_create(FUZZ_NAME, MFD_CLOEXEC);
		if (memfd < 0)
			die("memfd_create: %s", strerror(errno));
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		die("writing the memfd: %s", strerror(errno));
}

#endif
