/*
 * Native frames for dump --native (see native.h).
 *
 * Registers: a core file has all of them (NT_PRSTATUS). A live thread is not
 * stopped, so only what the kernel shows without stopping it is available:
 * /proc/PID/task/TID/syscall gives the stack and instruction pointers of a
 * thread blocked in the kernel (the case dump is for), "running" otherwise.
 *
 * Unwinding: the call frame information in each file's .eh_frame (DWARF CFI,
 * which compilers emit for every function whether or not it keeps a frame
 * pointer: Debian's glibc and CPython builds do not keep one), interpreted
 * here for x86_64; where a pc has no CFI and rbp is known, the frame-pointer
 * chain (rbp -> saved rbp, return address). Every read is of target memory
 * through struct memsrc, every loop is bounded, the stack pointer must grow
 * at each step, and an unwind that cannot go on stops with a reason rather
 * than guessing.
 *
 * Symbols: function symbols (.symtab, else .dynsym, else the .symtab of a
 * separate debug file found by build id under /usr/lib/debug/.build-id)
 * covering the address; an address no symbol covers is shown as file+offset.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/coredump.h"
#include "target/elfsym.h"
#include "native/native.h"
#include "util/ranges.h"
#include "pyperf.h"
#include "util/u64map.h"

#define MAX_MAPPINGS 8192
#define MAX_MODULES 1024
#define MAX_FDES (4u << 20)
#define MAX_SYMS (8u << 20)
#define CFI_STACK 8           /* DW_CFA_remember_state depth */
#define CFI_MAX_STEPS 100000  /* CFA instructions run per frame */
#define EXPR_STACK 32
#define NREGS 17              /* DWARF x86_64: 0-15 general, 16 return address */
#define REG_RBX 3
#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16
#define EVAL_SYMBOL "_PyEval_EvalFrameDefault"

struct mapping {
	uint64_t start, end, offset;
	size_t module;              /* index into modules */
};

struct fde {
	uint64_t lo, hi;            /* link-time pc range */
	uint32_t off;               /* offset of the FDE in .eh_frame */
};

struct sym {
	uint64_t lo, hi;
	const char *name;           /* owned by the Elf handle that holds it */
};

struct module {
	char path[PATH_MAX];        /* as the target saw it */
	char local[PATH_MAX];       /* where it is read from here */
	uint64_t map_start, map_offset; /* its mapping with the lowest offset */
	bool tried, ok;
	uint64_t bias;
	struct elf_file ef;
	struct elf_file dbg;        /* separate debug file, when used */
	const uint8_t *eh;          /* .eh_frame bytes (owned by ef) */
	size_t eh_len;
	uint64_t eh_addr;           /* its link-time address */
	struct fde *fdes;
	size_t nfdes;
	struct sym *syms;
	size_t nsyms;
};

struct native_ctx {
	struct memsrc mem;
	pid_t pid;
	struct coredump *core;
	struct mapping *maps;       /* sorted by start */
	size_t nmaps;
	struct module *mods;
	size_t nmods;
};

/* ------------------------------------------------------------ mappings */

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

void native_stack_free(struct native_stack *ns)
{
	free(ns->frames);
	ns->frames = NULL;
	ns->n = 0;
}

/* ------------------------------------------------------- byte cursor */

struct cur {
	const uint8_t *p, *end;
	bool err;
};

static uint64_t rd_n(struct cur *c, size_t n)
{
	uint64_t v = 0;

	if (c->err || (size_t)(c->end - c->p) < n) {
		c->err = true;
		return 0;
	}
	memcpy(&v, c->p, n); /* little endian host and target */
	c->p += n;
	return v;
}

static uint64_t rd_uleb(struct cur *c)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (!c->err) {
		if (c->p >= c->end) {
			c->err = true;
			break;
		}
		uint8_t b = *c->p++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
		if (shift > 70)
			c->err = true;
	}
	return v;
}

static int64_t rd_sleb(struct cur *c)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;

	while (!c->err) {
		if (c->p >= c->end) {
			c->err = true;
			break;
		}
		b = *c->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
		if (shift > 70)
			c->err = true;
	}
	if (shift < 64 && (b & 0x40))
		v |= ~0ull << shift;
	return (int64_t)v;
}

/* A DW_EH_PE-encoded pointer; here is the link-time address of the field. */
static uint64_t rd_encoded(struct cur *c, uint8_t enc, uint64_t here)
{
	uint64_t v;

	if (enc == 0xff) /* DW_EH_PE_omit */
		return 0;
	switch (enc & 0x0f) {
	case 0x00: v = rd_n(c, 8); break;
	case 0x01: v = rd_uleb(c); break;
	case 0x02: v = rd_n(c, 2); break;
	case 0x03: v = rd_n(c, 4); break;
	case 0x04: v = rd_n(c, 8); break;
	case 0x09: v = (uint64_t)rd_sleb(c); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_n(c, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_n(c, 4); break;
	case 0x0c: v = rd_n(c, 8); break;
	default: c->err = true; return 0;
	}
	switch (enc & 0x70) {
	case 0x00: break;
	case 0x10: v += here; break;          /* pcrel */
	default: c->err = true; return 0;     /* textrel, datarel, funcrel: not in .eh_frame FDEs */
	}
	if (enc & 0x80)
		c->err = true; /* indirect: not for pc ranges */
	return v;
}

/* -------------------------------------------------------------- CIE/FDE */

struct cie {
	uint64_t code_align;
	int64_t data_align;
	uint8_t ra_reg;
	uint8_t fde_enc;
	bool has_aug_data;
	bool signal_frame;
	const uint8_t *insns, *insns_end;
};

static uint64_t eh_addr_of(const struct module *m, const uint8_t *p)
{
	return m->eh_addr + (uint64_t)(p - m->eh);
}

/* Parses the entry at off: its body [*body, *end) and whether it is a CIE. */
static bool entry_at(const struct module *m, uint64_t off, const uint8_t **body, const uint8_t **end,
		     uint32_t *id, const uint8_t **id_pos)
{
	if (off + 4 > m->eh_len)
		return false;
	struct cur c = { m->eh + off, m->eh + m->eh_len, false };
	uint64_t len = rd_n(&c, 4);

	if (len == 0xffffffffu || len == 0) /* 64-bit DWARF is not emitted for .eh_frame */
		return false;
	if (len > (uint64_t)(c.end - c.p))
		return false;
	*end = c.p + len;
	*id_pos = c.p;
	*id = (uint32_t)rd_n(&c, 4);
	*body = c.p;
	return !c.err;
}

static bool parse_cie(const struct module *m, uint64_t off, struct cie *out)
{
	const uint8_t *body, *end, *id_pos;
	uint32_t id;

	memset(out, 0, sizeof(*out));
	out->fde_enc = 0;
	if (!entry_at(m, off, &body, &end, &id, &id_pos) || id != 0)
		return false;
	struct cur c = { body, end, false };
	uint8_t version = (uint8_t)rd_n(&c, 1);
	const char *aug = (const char *)c.p;
	const uint8_t *nul = memchr(c.p, '\0', (size_t)(c.end - c.p));

	if (c.err || !nul || (version != 1 && version != 3))
		return false;
	c.p = nul + 1;
	if (strstr(aug, "eh"))
		rd_n(&c, 8);
	out->code_align = rd_uleb(&c);
	out->data_align = rd_sleb(&c);
	out->ra_reg = version == 1 ? (uint8_t)rd_n(&c, 1) : (uint8_t)rd_uleb(&c);
	if (aug[0] == 'z') {
		uint64_t alen = rd_uleb(&c);

		if (c.err || alen > (uint64_t)(c.end - c.p))
			return false;
		struct cur a = { c.p, c.p + alen, false };

		for (const char *q = aug + 1; *q && !a.err; q++) {
			switch (*q) {
			case 'L': rd_n(&a, 1); break;
			case 'R': out->fde_enc = (uint8_t)rd_n(&a, 1); break;
			case 'P': {
				uint8_t penc = (uint8_t)rd_n(&a, 1);

				/* the personality pointer: read and dropped */
				rd_encoded(&a, penc & 0x7f, eh_addr_of(m, a.p));
				break;
			}
			case 'S': out->signal_frame = true; break;
			case 'B': break;
			default: a.err = true; break;
			}
		}
		out->has_aug_data = true;
		c.p += alen;
	} else if (aug[0] != '\0') {
		return false; /* unknown augmentation: cannot find the instructions */
	}
	if (c.err || out->ra_reg >= NREGS)
		return false;
	out->insns = c.p;
	out->insns_end = end;
	return true;
}

static int cmp_fde(const void *a, const void *b)
{
	const struct fde *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Indexes every FDE of .eh_frame by pc range. */
static void index_fdes(struct module *m)
{
	struct u64map cies; /* CIE offset -> fde_enc + 1 (0 = bad) */
	size_t cap = 0;

	u64map_init(&cies);
	for (uint64_t off = 0; off + 8 <= m->eh_len;) {
		const uint8_t *body, *end, *id_pos;
		uint32_t id;

		if (!entry_at(m, off, &body, &end, &id, &id_pos))
			break;
		uint64_t next = (uint64_t)(end - m->eh);

		if (id != 0) {
			uint64_t id_off = (uint64_t)(id_pos - m->eh);

			if (id > id_off)
				goto skip;
			uint64_t cie_off = id_off - id;
			uint64_t *slot = u64map_get(&cies, cie_off);
			uint64_t enc1;

			if (slot) {
				enc1 = *slot;
			} else {
				struct cie ci;

				enc1 = parse_cie(m, cie_off, &ci) ? (uint64_t)ci.fde_enc + 1 : 0;
				if (u64map_put(&cies, cie_off, enc1))
					break;
			}
			if (!enc1)
				goto skip;
			struct cur c = { body, end, false };
			uint8_t enc = (uint8_t)(enc1 - 1);
			uint64_t lo = rd_encoded(&c, enc, eh_addr_of(m, c.p));
			uint64_t range = rd_encoded(&c, enc & 0x0f, 0);

			if (c.err || !range || lo + range < lo)
				goto skip;
			if (m->nfdes == cap) {
				size_t ncap = cap ? cap * 2 : 1024;
				struct fde *n;

				if (ncap > MAX_FDES)
					break;
				n = realloc(m->fdes, ncap * sizeof(*n));
				if (!n)
					break;
				m->fdes = n;
				cap = ncap;
			}
			m->fdes[m->nfdes++] = (struct fde){ lo, lo + range, (uint32_t)off };
		}
skip:
		off = next;
	}
	u64map_free(&cies);
	if (m->nfdes)
		qsort(m->fdes, m->nfdes, sizeof(*m->fdes), cmp_fde);
}

static const struct fde *find_fde(const struct module *m, uint64_t pc)
{
	size_t lo = ranges_upper(m->fdes, m->nfdes, sizeof(*m->fdes), offsetof(struct fde, lo), pc);

	/* Ranges do not nest; the closest start below pc is the candidate. */
	return lo && pc < m->fdes[lo - 1].hi ? &m->fdes[lo - 1] : NULL;
}

/* --------------------------------------------------------------- symbols */

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

static void add_syms(struct module *m, struct elf_file *ef, Elf64_Word type)
{
	Elf *e = ef->elf;
	Elf_Scn *scn = NULL;
	size_t cap = m->nsyms;

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
			if (m->nsyms == cap) {
				size_t ncap = cap ? cap * 2 : 1024;
				struct sym *n;

				if (ncap > MAX_SYMS)
					return;
				n = realloc(m->syms, ncap * sizeof(*n));
				if (!n)
					return;
				m->syms = n;
				cap = ncap;
			}
			m->syms[m->nsyms++] = (struct sym){ s.st_value, s.st_value + s.st_size, name };
		}
	}
}

static bool has_section_type(struct elf_file *ef, Elf64_Word type)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(ef->elf, scn)) != NULL) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == type && sh.sh_size)
			return true;
	}
	return false;
}

/* The separate debug file of m by build id, if installed (e.g. libc6-dbg). */
static bool open_debug_file(struct native_ctx *c, struct module *m)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(m->ef.elf, &shstrndx) != 0)
		return false;
	while ((scn = elf_nextscn(m->ef.elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		name = elf_strptr(m->ef.elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".note.gnu.build-id") != 0)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		GElf_Nhdr nh;
		size_t name_off, desc_off;

		if (!data || gelf_getnote(data, 0, &nh, &name_off, &desc_off) == 0 || nh.n_type != NT_GNU_BUILD_ID ||
		    nh.n_descsz < 2 || nh.n_descsz > 64 || desc_off + nh.n_descsz > data->d_size)
			return false;
		const uint8_t *id = (const uint8_t *)data->d_buf + desc_off;
		char hex[160], path[PATH_MAX];
		size_t o = 0;

		for (size_t i = 0; i < nh.n_descsz; i++)
			o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%02x", id[i]);
		/* The target's own debug files first (containers), then ours. */
		if (!c->core) {
			snprintf(path, sizeof(path), "/proc/%d/root/usr/lib/debug/.build-id/%.2s/%s.debug",
				 (int)c->pid, hex, hex + 2);
			if (elf_file_open(&m->dbg, path) == 0)
				return true;
		}
		snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
		if (elf_file_open(&m->dbg, path) == 0)
			return true;
		return false;
	}
	return false;
}

static struct module *load_module(struct native_ctx *c, size_t mi)
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
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(m->ef.elf, &shstrndx) == 0) {
		while ((scn = elf_nextscn(m->ef.elf, scn)) != NULL) {
			GElf_Shdr sh;
			const char *name;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS)
				continue;
			name = elf_strptr(m->ef.elf, shstrndx, sh.sh_name);
			if (!name || strcmp(name, ".eh_frame") != 0)
				continue;
			Elf_Data *d = elf_getdata(scn, NULL);

			if (d && d->d_buf && d->d_size) {
				m->eh = d->d_buf;
				m->eh_len = d->d_size;
				m->eh_addr = sh.sh_addr;
			}
			break;
		}
	}
	if (m->eh)
		index_fdes(m);
	if (has_section_type(&m->ef, SHT_SYMTAB)) {
		add_syms(m, &m->ef, SHT_SYMTAB);
	} else if (open_debug_file(c, m) && has_section_type(&m->dbg, SHT_SYMTAB)) {
		add_syms(m, &m->dbg, SHT_SYMTAB);
	} else {
		add_syms(m, &m->ef, SHT_DYNSYM);
	}
	if (m->nsyms)
		qsort(m->syms, m->nsyms, sizeof(*m->syms), cmp_sym);
	m->ok = true;
	return m;
}

static const struct mapping *find_mapping(const struct native_ctx *c, uint64_t addr)
{
	size_t lo = ranges_upper(c->maps, c->nmaps, sizeof(*c->maps), offsetof(struct mapping, start), addr);

	return lo && addr < c->maps[lo - 1].end ? &c->maps[lo - 1] : NULL;
}

static const struct sym *find_sym(const struct module *m, uint64_t addr)
{
	size_t lo = 0, hi = m->nsyms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->syms[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Symbols may overlap (aliases): look back a little for one covering addr. */
	for (size_t k = lo, steps = 0; k > 0 && steps < 16; k--, steps++)
		if (addr < m->syms[k - 1].hi)
			return &m->syms[k - 1];
	return NULL;
}

/* ------------------------------------------------------------- CFI rows */

enum rule_kind { RULE_SAME, RULE_UNDEF, RULE_OFFSET, RULE_VAL_OFFSET, RULE_REG, RULE_EXPR, RULE_VAL_EXPR };

struct rule {
	uint8_t kind;
	uint8_t reg;
	int64_t off;
	const uint8_t *expr;
	size_t expr_len;
};

struct row {
	bool cfa_expr;
	uint8_t cfa_reg;
	int64_t cfa_off;
	const uint8_t *expr;
	size_t expr_len;
	struct rule r[NREGS];
};

struct regs {
	uint64_t v[NREGS];
	bool known[NREGS];
};

/* Runs CFA instructions until the location passes pc. */
static bool run_cfi(const struct module *m, const struct cie *ci, const uint8_t *p, const uint8_t *end,
		    uint64_t loc, uint64_t pc, struct row *row, const struct row *initial)
{
	struct row stack[CFI_STACK];
	int depth = 0;
	struct cur c = { p, end, false };

	for (int steps = 0; c.p < c.end && !c.err && steps < CFI_MAX_STEPS; steps++) {
		uint8_t op = (uint8_t)rd_n(&c, 1);
		uint8_t hi = op & 0xc0, lo6 = op & 0x3f;
		uint64_t reg, delta;
		int64_t off;

		if (hi == 0x40) { /* advance_loc */
			loc += lo6 * ci->code_align;
			if (loc > pc)
				return true;
			continue;
		}
		if (hi == 0x80) { /* offset */
			off = (int64_t)rd_uleb(&c) * ci->data_align;
			if (lo6 < NREGS)
				row->r[lo6] = (struct rule){ .kind = RULE_OFFSET, .off = off };
			continue;
		}
		if (hi == 0xc0) { /* restore */
			if (lo6 < NREGS)
				row->r[lo6] = initial ? initial->r[lo6] : (struct rule){ .kind = RULE_SAME };
			continue;
		}
		switch (op) {
		case 0x00: break; /* nop */
		case 0x01: /* set_loc */
			loc = rd_encoded(&c, ci->fde_enc, eh_addr_of(m, c.p));
			if (loc > pc)
				return true;
			break;
		case 0x02: case 0x03: case 0x04:
			delta = rd_n(&c, op == 0x02 ? 1 : op == 0x03 ? 2 : 4);
			loc += delta * ci->code_align;
			if (loc > pc)
				return true;
			break;
		case 0x05: /* offset_extended */
			reg = rd_uleb(&c);
			off = (int64_t)rd_uleb(&c) * ci->data_align;
			if (reg < NREGS)
				row->r[reg] = (struct rule){ .kind = RULE_OFFSET, .off = off };
			break;
		case 0x06: /* restore_extended */
			reg = rd_uleb(&c);
			if (reg < NREGS)
				row->r[reg] = initial ? initial->r[reg] : (struct rule){ .kind = RULE_SAME };
			break;
		case 0x07: /* undefined */
			reg = rd_uleb(&c);
			if (reg < NREGS)
				row->r[reg] = (struct rule){ .kind = RULE_UNDEF };
			break;
		case 0x08: /* same_value */
			reg = rd_uleb(&c);
			if (reg < NREGS)
				row->r[reg] = (struct rule){ .kind = RULE_SAME };
			break;
		case 0x09: { /* register */
			reg = rd_uleb(&c);
			uint64_t r2 = rd_uleb(&c);

			if (reg < NREGS)
				row->r[reg] = (struct rule){ .kind = r2 < NREGS ? RULE_REG : RULE_UNDEF, .reg = (uint8_t)r2 };
			break;
		}
		case 0x0a: /* remember_state */
			if (depth >= CFI_STACK)
				return false;
			stack[depth++] = *row;
			break;
		case 0x0b: /* restore_state */
			if (depth <= 0)
				return false;
			*row = stack[--depth];
			break;
		case 0x0c: /* def_cfa */
			row->cfa_reg = (uint8_t)rd_uleb(&c);
			row->cfa_off = (int64_t)rd_uleb(&c);
			row->cfa_expr = false;
			break;
		case 0x0d: /* def_cfa_register */
			row->cfa_reg = (uint8_t)rd_uleb(&c);
			row->cfa_expr = false;
			break;
		case 0x0e: /* def_cfa_offset */
			row->cfa_off = (int64_t)rd_uleb(&c);
			break;
		case 0x0f: { /* def_cfa_expression */
			uint64_t len = rd_uleb(&c);

			if (c.err || len > (uint64_t)(c.end - c.p))
				return false;
			row->cfa_expr = true;
			row->expr = c.p;
			row->expr_len = (size_t)len;
			c.p += len;
			break;
		}
		case 0x10: case 0x16: { /* expression, val_expression */
			reg = rd_uleb(&c);
			uint64_t len = rd_uleb(&c);

			if (c.err || len > (uint64_t)(c.end - c.p))
				return false;
			if (reg < NREGS)
				row->r[reg] = (struct rule){ .kind = op == 0x10 ? RULE_EXPR : RULE_VAL_EXPR,
							     .expr = c.p, .expr_len = (size_t)len };
			c.p += len;
			break;
		}
		case 0x11: /* offset_extended_sf */
			reg = rd_uleb(&c);
			off = rd_sleb(&c) * ci->data_align;
			if (reg < NREGS)
				row->r[reg] = (struct rule){ .kind = RULE_OFFSET, .off = off };
			break;
		case 0x12: /* def_cfa_sf */
			row->cfa_reg = (uint8_t)rd_uleb(&c);
			row->cfa_off = rd_sleb(&c) * ci->data_align;
			row->cfa_expr = false;
			break;
		case 0x13: /* def_cfa_offset_sf */
			row->cfa_off = rd_sleb(&c) * ci->data_align;
			break;
		case 0x14: /* val_offset */
			reg = rd_uleb(&c);
			off = (int64_t)rd_uleb(&c) * ci->data_align;
			if (reg < NREGS)
				row->r[reg] = (struct rule){ .kind = RULE_VAL_OFFSET, .off = off };
			break;
		case 0x15: /* val_offset_sf */
			reg = rd_uleb(&c);
			off = rd_sleb(&c) * ci->data_align;
			if (reg < NREGS)
				row->r[reg] = (struct rule){ .kind = RULE_VAL_OFFSET, .off = off };
			break;
		case 0x2e: /* GNU_args_size */
			rd_uleb(&c);
			break;
		case 0x2f: /* GNU_negative_offset_extended */
			reg = rd_uleb(&c);
			off = -(int64_t)rd_uleb(&c) * ci->data_align;
			if (reg < NREGS)
				row->r[reg] = (struct rule){ .kind = RULE_OFFSET, .off = off };
			break;
		default:
			return false; /* an instruction we do not know: do not guess */
		}
	}
	return !c.err;
}

/* A DWARF expression (the subset CFI uses). push: initial stack value or NULL. */
static bool eval_expr(const struct native_ctx *nc, const uint8_t *p, size_t len, const struct regs *rs,
		      const uint64_t *push, uint64_t *out)
{
	uint64_t st[EXPR_STACK];
	int sp = 0;
	struct cur c = { p, p + len, false };

	if (push)
		st[sp++] = *push;
#define NEED(k) do { if (sp < (k)) return false; } while (0)
#define PUSH(v) do { uint64_t pv_ = (v); if (sp >= EXPR_STACK) return false; st[sp++] = pv_; } while (0)
	for (size_t steps = 0; c.p < c.end && !c.err && steps < len + 1; steps++) {
		uint8_t op = (uint8_t)rd_n(&c, 1);
		uint64_t a, b;

		if (op >= 0x30 && op <= 0x4f) { /* lit0..31 */
			PUSH((uint64_t)(op - 0x30));
			continue;
		}
		if (op >= 0x70 && op <= 0x8f) { /* breg0..31 */
			unsigned r = op - 0x70;
			int64_t off = rd_sleb(&c);

			if (r >= NREGS || !rs->known[r])
				return false;
			PUSH(rs->v[r] + (uint64_t)off);
			continue;
		}
		switch (op) {
		case 0x03: PUSH(rd_n(&c, 8)); break;
		case 0x06: /* deref */
			NEED(1);
			if (memsrc_read_u64(&nc->mem, st[sp - 1], &st[sp - 1]))
				return false;
			break;
		case 0x08: PUSH(rd_n(&c, 1)); break;
		case 0x09: PUSH((uint64_t)(int64_t)(int8_t)rd_n(&c, 1)); break;
		case 0x0a: PUSH(rd_n(&c, 2)); break;
		case 0x0b: PUSH((uint64_t)(int64_t)(int16_t)rd_n(&c, 2)); break;
		case 0x0c: PUSH(rd_n(&c, 4)); break;
		case 0x0d: PUSH((uint64_t)(int64_t)(int32_t)rd_n(&c, 4)); break;
		case 0x0e: case 0x0f: PUSH(rd_n(&c, 8)); break;
		case 0x10: PUSH(rd_uleb(&c)); break;
		case 0x11: PUSH((uint64_t)rd_sleb(&c)); break;
		case 0x12: NEED(1); PUSH(st[sp - 1]); break;
		case 0x13: NEED(1); sp--; break;
		case 0x14: NEED(2); PUSH(st[sp - 2]); break;
		case 0x16: NEED(2); a = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = a; break;
		case 0x23: NEED(1); st[sp - 1] += rd_uleb(&c); break;
		case 0x92: { /* bregx */
			uint64_t r = rd_uleb(&c);
			int64_t off = rd_sleb(&c);

			if (r >= NREGS || !rs->known[r])
				return false;
			PUSH(rs->v[r] + (uint64_t)off);
			break;
		}
		case 0x96: break; /* nop */
		case 0x1a: case 0x1c: case 0x21: case 0x22: case 0x24: case 0x25: case 0x27:
		case 0x29: case 0x2a: case 0x2b: case 0x2c: case 0x2d: case 0x2e:
			NEED(2);
			b = st[--sp];
			a = st[sp - 1];
			switch (op) {
			case 0x1a: a &= b; break;
			case 0x1c: a -= b; break;
			case 0x21: a |= b; break;
			case 0x22: a += b; break;
			case 0x24: a = b < 64 ? a << b : 0; break;
			case 0x25: a = b < 64 ? a >> b : 0; break;
			case 0x27: a ^= b; break;
			case 0x29: a = (int64_t)a == (int64_t)b; break;
			case 0x2a: a = (int64_t)a >= (int64_t)b; break;
			case 0x2b: a = (int64_t)a > (int64_t)b; break;
			case 0x2c: a = (int64_t)a <= (int64_t)b; break;
			case 0x2d: a = (int64_t)a < (int64_t)b; break;
			default: a = (int64_t)a != (int64_t)b; break;
			}
			st[sp - 1] = a;
			break;
		default:
			return false;
		}
	}
#undef NEED
#undef PUSH
	if (c.err || sp < 1)
		return false;
	*out = st[sp - 1];
	return true;
}

/* One step with CFI: regs of the caller of the frame at rs. 0 ok, 1 end of
 * stack (return address undefined), -1 failure (why set). */
static int cfi_step(struct native_ctx *nc, struct module *m, const struct fde *f, uint64_t pc_link,
		    struct regs *rs, bool *signal_frame, char *why, size_t whylen)
{
	const uint8_t *body, *end, *id_pos;
	uint32_t id;
	struct cie ci;

	if (!entry_at(m, f->off, &body, &end, &id, &id_pos) || id == 0 ||
	    !parse_cie(m, (uint64_t)(id_pos - m->eh) - id, &ci)) {
		snprintf(why, whylen, "malformed call frame information in %.100s", m->path);
		return -1;
	}
	struct cur c = { body, end, false };
	uint64_t loc = rd_encoded(&c, ci.fde_enc, eh_addr_of(m, c.p));

	rd_encoded(&c, ci.fde_enc & 0x0f, 0);
	if (ci.has_aug_data) {
		uint64_t alen = rd_uleb(&c);

		if (c.err || alen > (uint64_t)(c.end - c.p)) {
			snprintf(why, whylen, "malformed call frame information in %.100s", m->path);
			return -1;
		}
		c.p += alen;
	}
	struct row initial, row;

	memset(&initial, 0, sizeof(initial));
	for (int i = 0; i < NREGS; i++)
		initial.r[i].kind = RULE_SAME;
	/* The CIE's instructions apply from the start of the function. */
	if (!run_cfi(m, &ci, ci.insns, ci.insns_end, loc, UINT64_MAX, &initial, NULL)) {
		snprintf(why, whylen, "unsupported call frame information in %.100s", m->path);
		return -1;
	}
	row = initial;
	if (c.err || !run_cfi(m, &ci, c.p, end, loc, pc_link, &row, &initial)) {
		snprintf(why, whylen, "unsupported call frame information in %.100s", m->path);
		return -1;
	}
	uint64_t cfa;

	if (row.cfa_expr) {
		if (!eval_expr(nc, row.expr, row.expr_len, rs, NULL, &cfa)) {
			snprintf(why, whylen, "cannot evaluate the frame address in %.100s", m->path);
			return -1;
		}
	} else {
		if (row.cfa_reg >= NREGS || !rs->known[row.cfa_reg]) {
			snprintf(why, whylen, "frame address needs a register not recovered (%u) in %.80s",
				 (unsigned)row.cfa_reg, m->path);
			return -1;
		}
		cfa = rs->v[row.cfa_reg] + (uint64_t)row.cfa_off;
	}
	const struct rule *ra = &row.r[ci.ra_reg];

	if (ra->kind == RULE_UNDEF)
		return 1; /* the outermost frame (_start, clone3) */
	struct regs out = *rs;

	for (int r = 0; r < NREGS; r++) {
		const struct rule *ru = &row.r[r];
		uint64_t addr, v;

		switch (ru->kind) {
		case RULE_SAME:
			break;
		case RULE_UNDEF:
			out.known[r] = false;
			break;
		case RULE_OFFSET:
			if (memsrc_read_u64(&nc->mem, cfa + (uint64_t)ru->off, &v)) {
				out.known[r] = false;
				if (r == ci.ra_reg) {
					snprintf(why, whylen, "return address unreadable at 0x%" PRIx64,
						 cfa + (uint64_t)ru->off);
					return -1;
				}
				break;
			}
			out.v[r] = v;
			out.known[r] = true;
			break;
		case RULE_VAL_OFFSET:
			out.v[r] = cfa + (uint64_t)ru->off;
			out.known[r] = true;
			break;
		case RULE_REG:
			out.v[r] = rs->v[ru->reg];
			out.known[r] = rs->known[ru->reg];
			break;
		case RULE_EXPR:
		case RULE_VAL_EXPR:
			if (!eval_expr(nc, ru->expr, ru->expr_len, rs, &cfa, &addr)) {
				out.known[r] = false;
				break;
			}
			if (ru->kind == RULE_VAL_EXPR) {
				out.v[r] = addr;
				out.known[r] = true;
			} else if (memsrc_read_u64(&nc->mem, addr, &v) == 0) {
				out.v[r] = v;
				out.known[r] = true;
			} else {
				out.known[r] = false;
			}
			break;
		}
	}
	if (!out.known[ci.ra_reg]) {
		snprintf(why, whylen, "return address not recovered in %.100s", m->path);
		return -1;
	}
	out.v[REG_RA] = out.v[ci.ra_reg];
	out.known[REG_RA] = true;
	/* The caller's stack pointer is the frame address, unless a rule says
	 * otherwise (signal frames restore it from the saved context). */
	if (row.r[REG_RSP].kind == RULE_SAME) {
		out.v[REG_RSP] = cfa;
		out.known[REG_RSP] = true;
	}
	*signal_frame = ci.signal_frame;
	*rs = out;
	return 0;
}

/* ---------------------------------------------------------- registers */

static int live_regs(struct native_ctx *c, int32_t tid, struct regs *rs, char *why, size_t whylen)
{
	char path[96], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)c->pid, (int)tid);
	f = fopen(path, "re");
	if (!f) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	if (strncmp(line, "running", 7) == 0) {
		snprintf(why, whylen, "thread was running: its registers cannot be read without stopping it");
		return -1;
	}
	/* "NR ARG1 .. ARG6 SP PC" in a syscall, "-1 SP PC" when blocked outside one. */
	char *tok[9];
	int n = 0;

	for (char *save = NULL, *t = strtok_r(line, " \n", &save); t && n < 9; t = strtok_r(NULL, " \n", &save))
		tok[n++] = t;
	if (n != 9 && n != 3) {
		snprintf(why, whylen, "unexpected contents of %.100s", path);
		return -1;
	}
	memset(rs, 0, sizeof(*rs));
	rs->v[REG_RSP] = strtoull(tok[n - 2], NULL, 16);
	rs->v[REG_RA] = strtoull(tok[n - 1], NULL, 16);
	rs->known[REG_RSP] = rs->known[REG_RA] = true;
	return 0;
}

static int core_regs(struct native_ctx *c, int32_t tid, struct regs *rs, char *why, size_t whylen)
{
	const struct core_thread *t = coredump_thread_by_tid(c->core, tid);

	if (!t) {
		snprintf(why, whylen, "the core has no registers for thread %d", (int)tid);
		return -1;
	}
	memset(rs, 0, sizeof(*rs));
	const struct { int r; uint64_t v; } set[] = {
		{ REG_RA, t->regs.rip }, { REG_RSP, t->regs.rsp }, { REG_RBP, t->regs.rbp },
		{ REG_RBX, t->regs.rbx }, { 12, t->regs.r12 }, { 13, t->regs.r13 },
		{ 14, t->regs.r14 }, { 15, t->regs.r15 },
	};

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		rs->v[set[i].r] = set[i].v;
		rs->known[set[i].r] = true;
	}
	return 0;
}

/* ------------------------------------------------------------- unwind */

static void describe(struct native_ctx *c, struct native_frame *nf, uint64_t lookup)
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
	const struct sym *s = find_sym(m, lookup - m->bias);

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

int native_unwind(struct native_ctx *c, int32_t tid, struct native_stack *out)
{
	struct regs rs;
	char *why = out->why;
	size_t whylen = sizeof(out->why);
	bool signal_frame = true; /* the innermost pc is exact, not a return address */
	int r;

	memset(out, 0, sizeof(*out));
	if (tid <= 0) {
		snprintf(why, whylen, "thread id unknown");
		return -ENOENT;
	}
	r = c->core ? core_regs(c, tid, &rs, why, whylen) : live_regs(c, tid, &rs, why, whylen);
	if (r)
		return -EAGAIN;
	out->frames = calloc(NATIVE_MAX_FRAMES, sizeof(*out->frames));
	if (!out->frames) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		if (out->n >= NATIVE_MAX_FRAMES) {
			snprintf(why, whylen, "deeper than %d native frames", NATIVE_MAX_FRAMES);
			break;
		}
		uint64_t pc = rs.v[REG_RA];

		if (!pc)
			break;
		/* A return address points after the call: look up the call. */
		uint64_t lookup = signal_frame ? pc : pc - 1;
		struct native_frame *nf = &out->frames[out->n++];

		nf->pc = pc;
		describe(c, nf, lookup);
		const struct mapping *mp = find_mapping(c, lookup);
		struct module *m = mp ? load_module(c, mp->module) : NULL;
		const struct fde *f = m ? find_fde(m, lookup - m->bias) : NULL;
		uint64_t old_sp = rs.v[REG_RSP];
		bool was_signal = signal_frame;

		signal_frame = false;
		if (!mp) {
			if (out->n > 1)
				out->n--; /* not code: the previous step went astray */
			snprintf(why, whylen, "pc 0x%" PRIx64 " is outside every mapped file", pc);
			break;
		}
		if (f) {
			r = cfi_step(c, m, f, lookup - m->bias, &rs, &signal_frame, why, whylen);
			if (r == 1)
				break; /* outermost frame */
			if (r < 0)
				break;
		} else if (rs.known[REG_RBP] && rs.v[REG_RBP] > old_sp && !(rs.v[REG_RBP] & 7)) {
			/* No CFI here: follow the frame pointer. */
			uint64_t fp = rs.v[REG_RBP], saved[2];

			if (memsrc_read(&c->mem, fp, saved, sizeof(saved))) {
				snprintf(why, whylen, "frame pointer chain unreadable at 0x%" PRIx64, fp);
				break;
			}
			rs.v[REG_RBP] = saved[0];
			rs.v[REG_RA] = saved[1];
			rs.v[REG_RSP] = fp + 16;
		} else {
			snprintf(why, whylen, "no unwind information for pc 0x%" PRIx64 " in %.80s", pc,
				 c->mods[mp->module].path);
			break;
		}
		if (!rs.known[REG_RSP] || (rs.v[REG_RSP] <= old_sp && !was_signal && !signal_frame)) {
			snprintf(why, whylen, "stack pointer did not grow at pc 0x%" PRIx64 ": stopped", pc);
			break;
		}
	}
	return 0;
}

void native_merge(struct native_ctx *c, struct native_stack *ns, const uint64_t *frames,
		  const uint8_t *entry, size_t n, uint32_t layout_flags)
{
	(void)c;
	(void)frames;
	size_t nevals = 0, nseg = 0;

	ns->merged = false;
	if (!ns->n || !n || !entry)
		return;
	for (size_t k = 0; k < ns->n; k++)
		nevals += ns->frames[k].eval;
	/* 3.11 marks its entry frames in a field the layout does not carry:
	 * no entry marks, nothing to match by. */
	(void)layout_flags;
	bool any_entry = false;

	for (size_t i = 0; i < n; i++)
		any_entry |= entry[i] != 0;
	if (!any_entry)
		return;
	for (size_t i = 0; i < n; i++)
		if (entry[i] || i == n - 1)
			nseg++;
	if (nevals != nseg)
		return;
	/* The k-th evaluation-loop frame (innermost first) runs segment k. */
	size_t i = 0;

	for (size_t k = 0; k < ns->n; k++) {
		struct native_frame *nf = &ns->frames[k];

		if (!nf->eval)
			continue;
		nf->py_first = i;
		while (i < n && !entry[i])
			i++;
		if (i < n)
			i++;
		nf->py_count = i - nf->py_first;
	}
	ns->merged = true;
}
