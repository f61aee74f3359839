/*
 * Native symbolization of the target's mapped files: function symbols
 * (.symtab, else the .symtab of a separate debug file found by build id
 * under /usr/lib/debug/.build-id, else .dynsym) covering an address; an
 * address no symbol covers is shown as file+offset.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native/modules.h"
#include "native/native.h"
#include "native/vec.h"
#include "util/ranges.h"

#define MAX_SYMS (8u << 20)
#define EVAL_SYMBOL "_PyEval_EvalFrameDefault"

/* Copies src into dst (cap bytes), cut if longer, always terminated. */
static void copy_trunc(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (!cap)
		return;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

void symbols_each(Elf *e, Elf64_Word type, symbol_fn fn, void *ctx)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || !sh.sh_entsize)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);

		if (!data)
			continue;
		size_t count = sh.sh_size / sh.sh_entsize;

		if (count > MAX_SYMS)
			count = MAX_SYMS;
		for (size_t i = 0; i < count; i++) {
			GElf_Sym s;

			if (!gelf_getsym(data, (int)i, &s) || s.st_shndx == SHN_UNDEF || !s.st_value || !s.st_size ||
			    (GELF_ST_TYPE(s.st_info) != STT_FUNC && GELF_ST_TYPE(s.st_info) != STT_GNU_IFUNC))
				continue;
			const char *name = elf_strptr(e, sh.sh_link, s.st_name);

			if (!name || !*name)
				continue;
			if (!fn(ctx, &s, name))
				return;
		}
	}
}

struct add_ctx {
	struct module *m;
	size_t cap;
};

static bool add_sym(void *ctx, const GElf_Sym *s, const char *name)
{
	struct add_ctx *a = ctx;
	struct module *m = a->m;

	if (m->nsyms == a->cap) {
		struct sym *n = vec_grow(m->syms, &a->cap, sizeof(*n), MAX_SYMS);

		if (!n)
			return false;
		m->syms = n;
	}
	m->syms[m->nsyms++] = (struct sym){ s->st_value, s->st_value + s->st_size, name };
	return true;
}

static void add_syms(struct module *m, struct elf_file *ef, Elf64_Word type)
{
	struct add_ctx a = { m, m->nsyms };

	symbols_each(ef->elf, type, add_sym, &a);
}

bool symbols_has_section(Elf *e, Elf64_Word type)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == type && sh.sh_size)
			return true;
	}
	return false;
}

int symbols_open_debug(const char *hex, pid_t pid, struct elf_file *dbg)
{
	char path[PATH_MAX];

	/* A build id is hex of at least 2 bytes; anything else names no file. */
	if (strlen(hex) < 4 || strspn(hex, "0123456789abcdef") != strlen(hex))
		return -ENOENT;
	/* The target's own debug files first (containers), then ours. */
	if (pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/root/usr/lib/debug/.build-id/%.2s/%s.debug", (int)pid, hex,
			 hex + 2);
		if (elf_file_open(dbg, path) == 0)
			return 0;
	}
	snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
	return elf_file_open(dbg, path);
}

/* The separate debug file of m by build id, if installed (e.g. libc6-dbg). */
static bool open_debug_file(struct native_ctx *c, struct module *m)
{
	GElf_Shdr sh;
	Elf_Scn *scn = module_section(m->ef.elf, SHT_NOTE, ".note.gnu.build-id", &sh);
	Elf_Data *data = scn ? elf_getdata(scn, NULL) : NULL;
	GElf_Nhdr nh;
	size_t name_off, desc_off;

	if (!data || gelf_getnote(data, 0, &nh, &name_off, &desc_off) == 0 || nh.n_type != NT_GNU_BUILD_ID ||
	    nh.n_descsz < 2 || nh.n_descsz > 64 || desc_off + nh.n_descsz > data->d_size)
		return false;
	const uint8_t *id = (const uint8_t *)data->d_buf + desc_off;
	char hex[160];
	size_t o = 0;

	for (size_t i = 0; i < nh.n_descsz; i++)
		o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%02x", id[i]);
	return symbols_open_debug(hex, c->core ? 0 : c->pid, &m->dbg) == 0;
}

void symbols_load(struct native_ctx *c, struct module *m)
{
	if (symbols_has_section(m->ef.elf, SHT_SYMTAB)) {
		add_syms(m, &m->ef, SHT_SYMTAB);
	} else if (open_debug_file(c, m) && symbols_has_section(m->dbg.elf, SHT_SYMTAB)) {
		add_syms(m, &m->dbg, SHT_SYMTAB);
	} else {
		add_syms(m, &m->ef, SHT_DYNSYM);
	}
	if (m->nsyms)
		qsort(m->syms, m->nsyms, sizeof(*m->syms), cmp_sym);
}

const struct sym *symbols_find(const struct module *m, uint64_t addr)
{
	size_t lo = ranges_upper(m->syms, m->nsyms, sizeof(*m->syms), offsetof(struct sym, lo), addr);

	/* Symbols may overlap (aliases): look back a little for one covering addr. */
	for (size_t k = lo, steps = 0; k > 0 && steps < 16; k--, steps++)
		if (addr < m->syms[k - 1].hi)
			return &m->syms[k - 1];
	return NULL;
}

void symbols_describe(struct native_ctx *c, struct native_frame *nf, uint64_t lookup)
{
	const struct mapping *mp = find_mapping(c, lookup);

	nf->symbol[0] = '\0';
	nf->file[0] = '\0';
	nf->offset = 0;
	if (!mp)
		return;
	struct module *m = load_module(c, mp->module);

	copy_trunc(nf->file, sizeof(nf->file), c->mods[mp->module].path);
	if (!m) {
		nf->offset = nf->pc - mp->start + mp->offset; /* file offset */
		return;
	}
	const struct sym *s = symbols_find(m, lookup - m->bias);

	if (s) {
		/* "clock_nanosleep@@GLIBC_2.17": the version is noise here. */
		copy_trunc(nf->symbol, sizeof(nf->symbol), s->name);
		nf->symbol[strcspn(nf->symbol, "@")] = '\0';
		nf->offset = nf->pc - (s->lo + m->bias);
		nf->eval = strcmp(s->name, EVAL_SYMBOL) == 0;
	} else {
		nf->offset = nf->pc - m->bias; /* link-time address */
	}
}

