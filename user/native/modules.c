/*
 * The target's mapped files (see modules.h): its mappings, from a core's
 * file notes or /proc/PID/maps, and a module per file, opened with libelf on
 * first use, with its .eh_frame indexed and its symbols loaded.
 */
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native/modules.h"
#include "native/native.h"
#include "target/coredump.h"
#include "util/ranges.h"

#define MAX_MAPPINGS 8192
#define MAX_MODULES 1024

static size_t module_index(struct native_ctx *c, const char *path, const char *local)
{
	for (size_t i = 0; i < c->nmods; i++)
		if (strcmp(c->mods[i].path, path) == 0)
			return i;
	if (c->nmods >= MAX_MODULES)
		return SIZE_MAX;
	struct module *m = &c->mods[c->nmods];

	memset(m, 0, sizeof(*m));
	m->ef.fd = m->dbg.fd = -1;
	snprintf(m->path, sizeof(m->path), "%s", path);
	snprintf(m->local, sizeof(m->local), "%s", local);
	m->map_offset = UINT64_MAX;
	return c->nmods++;
}

static void add_mapping(struct native_ctx *c, uint64_t start, uint64_t end, uint64_t offset,
			const char *path, const char *local)
{
	if (c->nmaps >= MAX_MAPPINGS || start >= end)
		return;
	size_t mi = module_index(c, path, local);

	if (mi == SIZE_MAX)
		return;
	if (offset < c->mods[mi].map_offset) {
		c->mods[mi].map_offset = offset;
		c->mods[mi].map_start = start;
	}
	c->maps[c->nmaps++] = (struct mapping){ start, end, offset, mi };
}

static int cmp_map(const void *a, const void *b)
{
	const struct mapping *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

static void read_proc_maps(struct native_ctx *c)
{
	char path[64], line[PATH_MAX + 256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)c->pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end, offset;
		char perms[8];
		int pos = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %n", &start, &end, perms,
			   &offset, &pos) < 4 || pos == 0)
			continue;
		char *p = line + pos;

		p[strcspn(p, "\n")] = '\0';
		if (p[0] != '/')
			continue;
		char local[PATH_MAX + 32];

		snprintf(local, sizeof(local), "/proc/%d/root%s", (int)c->pid, p);
		add_mapping(c, start, end, offset, p, local);
	}
	fclose(f);
}

struct native_ctx *native_ctx_new(const struct memsrc *m, pid_t pid, struct coredump *core)
{
	struct native_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->mem = *m;
	c->pid = pid;
	c->core = core;
	c->maps = calloc(MAX_MAPPINGS, sizeof(*c->maps));
	c->mods = calloc(MAX_MODULES, sizeof(*c->mods));
	if (!c->maps || !c->mods) {
		native_ctx_free(c);
		return NULL;
	}
	if (core) {
		for (size_t i = 0; i < coredump_nfiles(core); i++) {
			const struct core_file *f = coredump_file(core, i);

			add_mapping(c, f->start, f->end, f->offset, f->path, f->local);
		}
	} else {
		read_proc_maps(c);
	}
	qsort(c->maps, c->nmaps, sizeof(*c->maps), cmp_map);
	return c;
}

void native_ctx_free(struct native_ctx *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nmods; i++) {
		struct module *m = &c->mods[i];

		free(m->fdes);
		free(m->syms);
		if (m->dbg.elf || m->dbg.fd >= 0)
			elf_file_close(&m->dbg);
		if (m->ef.elf || m->ef.fd >= 0)
			elf_file_close(&m->ef);
	}
	free(c->mods);
	free(c->maps);
	free(c);
}


Elf_Scn *module_section(Elf *e, Elf64_Word type, const char *name, GElf_Shdr *sh)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(e, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		const char *n;

		if (!gelf_getshdr(scn, sh) || sh->sh_type != type)
			continue;
		n = elf_strptr(e, shstrndx, sh->sh_name);
		if (n && strcmp(n, name) == 0)
			return scn;
	}
	return NULL;
}

/* The .eh_frame section of m's file, when it has one. */
static void find_eh_frame(struct module *m)
{
	GElf_Shdr sh;
	Elf_Scn *scn = module_section(m->ef.elf, SHT_PROGBITS, ".eh_frame", &sh);
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;

	if (d && d->d_buf && d->d_size)
		m->eh = (struct eh_frame){ d->d_buf, d->d_size, sh.sh_addr };
}

struct module *load_module(struct native_ctx *c, size_t mi)
{
	struct module *m = &c->mods[mi];

	if (m->tried)
		return m->ok ? m : NULL;
	m->tried = true;
	if (!m->local[0] || elf_file_open(&m->ef, m->local) != 0)
		return NULL;
	if (elf_file_bias(&m->ef, m->map_start, m->map_offset, &m->bias) != 0) {
		elf_file_close(&m->ef);
		return NULL;
	}
	find_eh_frame(m);
	/* Out of memory leaves a shorter index: those pcs unwind by frame pointer. */
	if (m->eh.len)
		(void)cfi_index(&m->eh, &m->fdes, &m->nfdes);
	symbols_load(c, m);
	m->ok = true;
	return m;
}

const struct mapping *find_mapping(const struct native_ctx *c, uint64_t addr)
{
	size_t lo = ranges_upper(c->maps, c->nmaps, sizeof(*c->maps), offsetof(struct mapping, start), addr);

	return lo && addr < c->maps[lo - 1].end ? &c->maps[lo - 1] : NULL;
}
