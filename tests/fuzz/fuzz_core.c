/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: core files (user/target/coredump.c) and the interpreter
 * lookup over them (user/target/pylocate.c).
 *
 * Input: the whole core file. It is written to a memfd and opened by path
 * (/proc/self/fd/N), then everything pyperf dump asks of a core is asked:
 * the process's arguments and signal, every thread (by index, by TID, by
 * fs_base, its name), every NT_FILE mapping, reads of memory at the
 * mappings, the threads' stack and instruction pointers and around them
 * (single, partial and vectored reads), and the interpreter lookup
 * (coredump_py_target), which opens the files NT_FILE names.
 *
 * Checks (abort on violation): coredump_open returns 0 with a handle or a
 * negative errno with a message and no handle; threads and files are
 * consistent with their counts (a file's start below its end, files sorted
 * by start); reads never report more bytes than asked; a failed lookup
 * returns a -PYPROC_* code with a message, a successful one a CPython 3
 * version; no descriptor is left open after coredump_close. Seeds:
 * synthesized cores from tests/fuzz/seeds.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/coredump.h"
#include "target/memsrc.h"
#include "target/pyproc.h"

#define FUZZ_NAME "fuzz_core"
#include "fuzz_file.h"

static void check_read(const struct memsrc *m, uint64_t addr, size_t len)
{
	static uint8_t buf[4096 + 16];
	if (len > 4096)
		len = 4096;
	/* A canary after len catches a read past the buffer's end. */
	memset(buf + len, 0xa5, 16);
	size_t got = memsrc_read_partial(m, addr, buf, len);
	if (got > len)
		die("read %zu of %zu bytes at %#llx", got, len, (unsigned long long)addr);
	for (size_t i = 0; i < 16; i++)
		if (buf[len + i] != 0xa5)
			die("read at %#llx wrote past %zu bytes", (unsigned long long)addr, len);
	uint64_t v;
	int rc = memsrc_read_u64(m, addr, &v);
	if (rc != 0 && rc != -EFAULT)
		die("memsrc_read_u64 returned %d", rc);
}

static void check_readv(const struct memsrc *m, const uint64_t *addrs, size_t n)
{
	uint8_t bufs[8][64];
	struct memsrc_iov iov[8];
	if (n > 8)
		n = 8;
	for (size_t i = 0; i < n; i++)
		iov[i] = (struct memsrc_iov){ .addr = addrs[i], .buf = bufs[i], .len = 8 + 7 * i, .got = 99 };
	memsrc_readv(m, iov, n);
	for (size_t i = 0; i < n; i++)
		if (iov[i].got > iov[i].len)
			die("readv piece %zu got %zu of %zu", i, iov[i].got, iov[i].len);
}

static void check_threads(const struct coredump *c, const struct memsrc *m)
{
	size_t n = coredump_nthreads(c);
	char name[32];
	if (n == 0)
		die("a core opened without threads");
	if (coredump_thread(c, n) != NULL)
		die("thread %zu of %zu", n, n);
	for (size_t i = 0; i < n && i < 64; i++) {
		const struct core_thread *t = coredump_thread(c, i);
		if (!t)
			die("thread %zu of %zu missing", i, n);
		const struct core_thread *byid = coredump_thread_by_tid(c, t->tid);
		if (!byid || byid->tid != t->tid)
			die("thread %d not found by its TID", (int)t->tid);
		/* Another thread (maybe TID 0) may share the fs_base: only the
		 * lookup itself is exercised. */
		(void)coredump_tid_by_fsbase(c, t->regs.fs_base);
		coredump_thread_name(c, t->tid, name, sizeof(name));
		if (strlen(name) >= sizeof(name))
			die("thread name not terminated");
		uint64_t addrs[4] = { t->regs.rsp, t->regs.rip, t->regs.rbp, t->regs.rsp - 8 };
		check_read(m, t->regs.rsp, 256);
		check_read(m, t->regs.rip - 16, 32);
		check_readv(m, addrs, 4);
	}
}

static void check_files(const struct coredump *c, const struct memsrc *m)
{
	size_t n = coredump_nfiles(c);
	uint64_t prev = 0;
	if (coredump_file(c, n) != NULL)
		die("file %zu of %zu", n, n);
	for (size_t i = 0; i < n; i++) {
		const struct core_file *f = coredump_file(c, i);
		if (!f)
			die("file %zu of %zu missing", i, n);
		if (f->start >= f->end)
			die("file %zu: start %#llx not below end %#llx", i, (unsigned long long)f->start,
			    (unsigned long long)f->end);
		if (f->start < prev)
			die("files not sorted by start");
		prev = f->start;
		if (strnlen(f->path, sizeof(f->path)) == sizeof(f->path))
			die("file path not terminated");
		if (i < 32) {
			check_read(m, f->start, 64);
			check_read(m, f->end - 8, 64); /* runs past the end */
		}
	}
}

static void check_target(struct coredump *c)
{
	struct py_target t;
	char err[512];
	err[0] = '\0';
	int rc = coredump_py_target(c, &t, err, sizeof(err));
	if (rc == 0) {
		if ((t.version_hex >> 24) != 3)
			die("lookup succeeded with version %#x", t.version_hex);
		return;
	}
	if (rc > 0 || rc < -PYPROC_ENOTREADY)
		die("coredump_py_target returned %d", rc);
	if (!err[0])
		die("coredump_py_target failed (%d) without a message", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_file_put(data, size);

	int fds_before = open_fds();
	struct coredump *c = (struct coredump *)&memfd; /* must be reset */
	char err[512];
	err[0] = '\0';
	int rc = coredump_open(path, NULL, &c, err, sizeof(err));
	if (rc != 0) {
		if (rc > 0 || c != NULL || !err[0])
			die("coredump_open failed (%d) with handle %p, message \"%s\"", rc, (void *)c, err);
		if (open_fds() != fds_before)
			die("coredump_open failed (%d) and leaked a descriptor", rc);
		return 0;
	}
	if (!c)
		die("coredump_open succeeded without a handle");
	struct memsrc m = coredump_memsrc(c);
	const char *args = coredump_psargs(c);
	if (!args || strlen(args) > 200)
		die("psargs");
	(void)coredump_signal(c);
	check_threads(c, &m);
	check_files(c, &m);
	check_read(&m, 0, 8);
	check_read(&m, UINT64_MAX - 3, 8);
	check_target(c);
	coredump_close(c);
	if (open_fds() != fds_before)
		die("coredump_close leaked a descriptor");
	return 0;
}
