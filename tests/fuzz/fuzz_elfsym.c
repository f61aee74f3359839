/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the ELF reader (user/target/elfsym.c, over libelf).
 *
 * Input: the whole file. It is written to a memfd and opened by path
 * (/proc/self/fd/N) the way pyperf opens a target's interpreter, then
 * everything pyperf asks of such a file is asked: the symbols _PyRuntime,
 * Py_Version, _Py_DebugOffsets and PyThread_get_thread_ident (.symtab, then
 * .dynsym), the .PyRuntime section, the load bias for mappings derived from
 * the file's own PT_LOAD entries and from the input bytes, and the
 * "3.MINOR.PATCH" version string for every minor pyperf knows.
 *
 * Checks (abort on violation): elf_file_open returns 0 or a negative errno
 * and leaves no descriptor open on failure; elf_file_symbols' count equals
 * the names it gave a value; a bias is only found for an offset inside a
 * PT_LOAD and maps that offset's address back to map_start; the patch level
 * is -1 or 0..999. Only elfsym.c is instrumented for coverage, libelf is the
 * system's, so crashes inside libelf on hostile files are reported too.
 * Seeds: small ELF files built by the Makefile (tests/fuzz/seed_elf.c) and
 * /bin/true, copied by tests/fuzz/seeds.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/elfsym.h"

#define FUZZ_NAME "fuzz_elfsym"
#include "fuzz_file.h"

static uint64_t rd64(const uint8_t *p, size_t size, size_t off)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++)
		v = v << 8 | (off + i < size ? p[off + i] : 0);
	return v;
}

static void check_bias(const struct elf_file *f, uint64_t start, uint64_t offset)
{
	uint64_t bias = 0;
	int rc = elf_file_bias(f, start, offset, &bias);
	if (rc != 0 && rc != -ENOENT)
		die("elf_file_bias returned %d", rc);
	if (rc != 0)
		return;
	/* The bias must come from a PT_LOAD whose (page-rounded) file range
	 * holds the offset, and map the offset's address back to start. */
	for (size_t i = 0; i < f->nloads; i++) {
		const struct elf_load *l = &f->loads[i];
		uint64_t off_floor = l->offset & ~4095ull;
		if (offset >= off_floor && offset < l->offset + l->filesz + 4096) {
			uint64_t vaddr = (l->vaddr & ~4095ull) + (offset - off_floor);
			if (bias + vaddr != start)
				die("bias %#llx does not map %#llx to %#llx", (unsigned long long)bias,
				    (unsigned long long)vaddr, (unsigned long long)start);
			return;
		}
	}
	die("elf_file_bias found a bias for offset %#llx outside every PT_LOAD", (unsigned long long)offset);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_file_put(data, size);

	int fds_before = open_fds();
	struct elf_file f;
	int rc = elf_file_open(&f, path);
	if (rc != 0) {
		if (rc > 0 || f.elf != NULL || f.fd != -1)
			die("elf_file_open failed (%d) but left elf %p fd %d", rc, f.elf, f.fd);
		if (open_fds() != fds_before)
			die("elf_file_open failed (%d) and leaked a descriptor", rc);
		return 0;
	}
	if (f.nloads > ELF_MAX_LOADS)
		die("nloads %zu", f.nloads);

	static const char *const names[] = { "_PyRuntime", "Py_Version", "_Py_DebugOffsets",
					     "PyThread_get_thread_ident" };
	const size_t n = sizeof(names) / sizeof(names[0]);
	uint64_t values[4], sizes[4];
	size_t found = elf_file_symbols(&f, names, n, values, sizes);
	size_t nonzero = 0;
	for (size_t i = 0; i < n; i++)
		nonzero += values[i] != 0;
	if (found != nonzero)
		die("elf_file_symbols found %zu but set %zu values", found, nonzero);
	found = elf_file_symbols(&f, names, 1, values, NULL);
	if (found > 1)
		die("elf_file_symbols found %zu of 1", found);

	uint64_t sec_size = 0;
	elf_file_section(&f, ".PyRuntime", &sec_size);
	elf_file_section(&f, ".dynsym", NULL);
	elf_file_section(&f, "", &sec_size);

	for (size_t i = 0; i < f.nloads; i++) {
		check_bias(&f, 0x7f0000000000ull, f.loads[i].offset & ~4095ull);
		check_bias(&f, 0x555555554000ull, f.loads[i].offset + f.loads[i].filesz);
	}
	check_bias(&f, rd64(data, size, 24), rd64(data, size, 32));
	check_bias(&f, 0, 0);
	check_bias(&f, UINT64_MAX, UINT64_MAX);

	for (int minor = 8; minor <= 15; minor++) {
		int patch = elf_file_find_py_patch(&f, 3, minor);
		if (patch < -1 || patch > 999)
			die("elf_file_find_py_patch(3, %d) = %d", minor, patch);
	}
	elf_file_close(&f);
	if (f.fd != -1 || f.elf != NULL)
		die("elf_file_close left fd %d", f.fd);
	if (open_fds() != fds_before)
		die("elf_file_close leaked a descriptor");
	return 0;
}
