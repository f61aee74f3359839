/* ELF symbol lookup with libelf. Files come from target processes, so every
 * count and offset is checked against the data libelf hands back. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/elfsym.h"

#define MAX_SYMBOLS (8u << 20) /* beyond this a symbol table is not credible */

int open_regular_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int elf_file_open(struct elf_file *f, const char *path)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	f->fd = open_regular_file(path);
	if (f->fd < 0) {
		int e = f->fd;

		f->fd = -1;
		return e;
	}
	Elf *e = elf_begin(f->fd, ELF_C_READ_MMAP, NULL);

	if (!e || elf_kind(e) != ELF_K_ELF || gelf_getclass(e) != ELFCLASS64) {
		if (e)
			elf_end(e);
		close(f->fd);
		f->fd = -1;
		return -ENOEXEC;
	}
	f->elf = e;
	GElf_Ehdr eh;

	if (!gelf_getehdr(e, &eh)) {
		elf_file_close(f);
		return -ENOEXEC;
	}
	f->is_dyn = eh.e_type == ET_DYN;
	size_t nph = 0;

	if (elf_getphdrnum(e, &nph) != 0)
		nph = 0;
	for (size_t i = 0; i < nph && f->nloads < ELF_MAX_LOADS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		f->loads[f->nloads++] = (struct elf_load){ ph.p_vaddr, ph.p_offset, ph.p_filesz };
	}
	return 0;
}

void elf_file_close(struct elf_file *f)
{
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	f->elf = NULL;
	f->fd = -1;
}

static size_t scan_symtab(Elf *e, Elf_Scn *scn, const GElf_Shdr *sh, const char *const *names,
			  size_t n, uint64_t *values, uint64_t *sizes)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t found = 0;

	if (!data || sh->sh_entsize == 0)
		return 0;
	size_t count = sh->sh_size / sh->sh_entsize;

	if (count > MAX_SYMBOLS)
		count = MAX_SYMBOLS;
	for (size_t i = 0; i < count; i++) {
		GElf_Sym sym;

		if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		const char *name = elf_strptr(e, sh->sh_link, sym.st_name);

		if (!name || !*name)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (!values[k] && strcmp(name, names[k]) == 0) {
				values[k] = sym.st_value;
				if (sizes)
					sizes[k] = sym.st_size;
				found++;
			}
		}
	}
	return found;
}

size_t elf_file_symbols(struct elf_file *f, const char *const *names, size_t n,
			uint64_t *values, uint64_t *sizes)
{
	size_t found = 0;

	memset(values, 0, n * sizeof(*values));
	if (sizes)
		memset(sizes, 0, n * sizeof(*sizes));
	/* .symtab first: it has everything when present; .dynsym otherwise. */
	const Elf64_Word order[2] = { SHT_SYMTAB, SHT_DYNSYM };

	for (int pass = 0; pass < 2 && found < n; pass++) {
		Elf_Scn *scn = NULL;

		while ((scn = elf_nextscn(f->elf, scn)) != NULL) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) && sh.sh_type == order[pass])
				found += scan_symtab(f->elf, scn, &sh, names, n, values, sizes);
		}
	}
	return found;
}

uint64_t elf_file_section(struct elf_file *f, const char *name, uint64_t *size)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(f->elf, &shstrndx) != 0)
		return 0;
	while ((scn = elf_nextscn(f->elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *sname;

		if (!gelf_getshdr(scn, &sh))
			continue;
		sname = elf_strptr(f->elf, shstrndx, sh.sh_name);
		if (sname && strcmp(sname, name) == 0) {
			if (size)
				*size = sh.sh_size;
			return sh.sh_addr;
		}
	}
	return 0;
}

int elf_file_bias(const struct elf_file *f, uint64_t map_start, uint64_t map_offset, uint64_t *bias)
{
	const uint64_t page = 4096;

	for (size_t i = 0; i < f->nloads; i++) {
		const struct elf_load *l = &f->loads[i];
		uint64_t off_floor = l->offset & ~(page - 1);

		if (map_offset >= off_floor && map_offset < l->offset + l->filesz + page) {
			uint64_t vaddr_at_offset = (l->vaddr & ~(page - 1)) + (map_offset - off_floor);

			*bias = map_start - vaddr_at_offset;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_file_find_py_patch(struct elf_file *f, int major, int minor)
{
	char prefix[16];
	size_t rawsize = 0;
	const char *raw = elf_rawfile(f->elf, &rawsize);

	if (!raw)
		return -1;
	int plen = snprintf(prefix, sizeof(prefix), "%d.%d.", major, minor);
	const char *p = raw, *end = raw + rawsize;

	/* PY_VERSION is a NUL-terminated literal "3.10.13", but the linker may
	 * merge it into the tail of a longer string ("/Python-3.10.13"), so
	 * only the character before it is checked. A release tag may follow
	 * the digits (3.13.0rc1). */
	while (p < end && (p = memmem(p, (size_t)(end - p), prefix, (size_t)plen)) != NULL) {
		const char *q = p + plen;

		if (p > raw && ((p[-1] >= '0' && p[-1] <= '9') || p[-1] == '.')) {
			p++;
			continue;
		}
		int patch = 0, digits = 0;

		while (q < end && *q >= '0' && *q <= '9' && digits < 3) {
			patch = patch * 10 + (*q - '0');
			q++;
			digits++;
		}
		const char *t = q;

		while (t < end && t - q < 6 && ((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '+'))
			t++;
		if (digits && t < end && *t == '\0')
			return patch;
		p++;
	}
	return -1;
}
