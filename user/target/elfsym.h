/* Symbols and load layout of ELF files (libelf). */
#ifndef PYPERF_ELFSYM_H
#define PYPERF_ELFSYM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_MAX_LOADS 16

struct elf_load {
	uint64_t vaddr, offset, filesz;
};

struct elf_file {
	int fd;
	void *elf;                 /* Elf * */
	bool is_dyn;               /* ET_DYN: loaded at a bias */
	size_t nloads;
	struct elf_load loads[ELF_MAX_LOADS];
};

/* Opens path read-only when it is a regular file; returns the descriptor or
 * -errno (-EINVAL for anything else). Paths come from targets and cores: a
 * FIFO or a device they name is never opened (stat first; O_NONBLOCK and
 * fstat after, in case the path changed in between). */
int open_regular_file(const char *path);

/* Opens path (a regular file, see open_regular_file); returns 0 or -errno
 * (-ENOEXEC when not a 64-bit ELF file). */
int elf_file_open(struct elf_file *f, const char *path);
void elf_file_close(struct elf_file *f);

/* Looks names up in .symtab, then .dynsym. values[i] = st_value, or 0 when
 * absent; sizes[i] likewise (sizes may be NULL). Returns how many were found. */
size_t elf_file_symbols(struct elf_file *f, const char *const *names, size_t n,
			uint64_t *values, uint64_t *sizes);

/* Address and size of a section by name; 0 when absent. */
uint64_t elf_file_section(struct elf_file *f, const char *name, uint64_t *size);

/* Load bias of the file when its bytes at file offset map_offset are mapped
 * at map_start. Returns 0 and sets *bias, or -ENOENT. */
int elf_file_bias(const struct elf_file *f, uint64_t map_start, uint64_t map_offset, uint64_t *bias);

/* Finds the CPython version string "3.MINOR.PATCH" (PY_VERSION) stored as a
 * NUL-terminated string in the file; returns the patch level or -1. */
int elf_file_find_py_patch(struct elf_file *f, int major, int minor);

#endif
