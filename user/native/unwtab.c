/*
 * Unwind tables for the BPF unwinder (see unwtab.h). Every FDE's rules come
 * from cfi.c's interpreter; this file only decides which rows the BPF side
 * can follow, and keeps the table sorted, merged and bounded.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "native/dwarf.h"
#include "native/dwread.h"
#include "native/unwtab.h"
#include "native/vec.h"
#include "util/errbuf.h"
#include "util/ranges.h"

#define MAX_ITEMS (4u << 20)          /* FDEs per file, as cfi_index keeps */
#define DEBUG_CIE_ID 0xffffffffu      /* a .debug_frame CIE's id (32-bit DWARF) */
#ifndef SHT_X86_64_UNWIND
#define SHT_X86_64_UNWIND 0x70000001  /* how some linkers type .eh_frame */
#endif

/* ------------------------------------------------------------ rows */

/* One FDE to turn into rows, from either section. */
struct item {
	uint64_t lo, hi;
	uint32_t off;               /* of the FDE in its section */
	uint32_t order;             /* position before sorting: ties keep it */
	uint8_t debug;              /* from .debug_frame */
};

struct builder {
	struct unwind_row *rows;
	size_t n, cap;
	int err;                    /* -E2BIG, -ENOMEM: the table is abandoned */
};

static bool same_rule(const struct unwind_row *a, const struct unwind_row *b)
{
	return a->cfa_reg == b->cfa_reg && a->cfa_off == b->cfa_off && a->rbp_rule == b->rbp_rule &&
	       a->rbp_off == b->rbp_off;
}

/* Row r from addr on: replaces a row at the same address, and is dropped
 * when the row before says the same. Addresses come in non-decreasing
 * order (items are sorted and each FDE's locations grow). */
static void emit(struct builder *b, uint64_t addr, struct unwind_row r)
{
	if (b->err || addr > UINT32_MAX)
		return;
	r.addr = (uint32_t)addr;
	if (b->n && b->rows[b->n - 1].addr >= r.addr) {
		if (b->rows[b->n - 1].addr > r.addr)
			return; /* cannot happen by the order above; the table stays sorted */
		b->n--;
	}
	if (b->n && same_rule(&b->rows[b->n - 1], &r))
		return;
	if (b->n == b->cap) {
		struct unwind_row *g = vec_grow(b->rows, &b->cap, sizeof(*b->rows), UNWTAB_MAX_ROWS);

		if (!g) {
			b->err = b->cap >= UNWTAB_MAX_ROWS ? -E2BIG : -ENOMEM;
			return;
		}
		b->rows = g;
	}
	b->rows[b->n++] = r;
}

static struct unwind_row kind_row(enum unw_cfa kind)
{
	return (struct unwind_row){ .cfa_reg = (uint8_t)kind };
}

/*
 * The expression binutils writes for every lazy .plt entry: CFA = rsp + off,
 * plus 8 once the entry's push has run, i.e. from byte 11 of the 16-byte
 * entry on: DW_OP_breg7 off; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and;
 * DW_OP_lit11; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus. Other
 * thresholds (lit10 in some linkers' IBT PLTs) are not what UNW_CFA_PLT
 * means, so they are not matched.
 */
static bool plt_expr(const uint8_t *e, size_t len, int64_t *off)
{
	static const uint8_t tail[] = { DW_OP_lit0 + 15, DW_OP_and, DW_OP_lit0 + 11, DW_OP_ge,
					DW_OP_lit0 + 3, DW_OP_shl, DW_OP_plus };
	struct dw_cur c = { e, e + len, false };

	if (dw_read_n(&c, 1) != DW_OP_breg0 + CFI_REG_RSP)
		return false;
	*off = dw_read_sleb(&c);
	if (dw_read_n(&c, 1) != DW_OP_breg0 + CFI_REG_RA || dw_read_sleb(&c) != 0 || c.err)
		return false;
	return (size_t)(c.end - c.p) == sizeof(tail) && memcmp(c.p, tail, sizeof(tail)) == 0;
}

/* The table's row for the rules of row (CIE ci). */
static struct unwind_row classify(const struct cfi_row *row, const struct cfi_cie *ci)
{
	const struct cfi_rule *ra = &row->r[ci->ra_reg], *rbp = &row->r[CFI_REG_RBP];
	struct unwind_row u = { 0 };
	int64_t off;

	if (ra->kind == RULE_UNDEF)
		return kind_row(UNW_CFA_END);
	/* The BPF side reads the return address at CFA - 8 and takes the CFA
	 * as the caller's rsp; rows that say otherwise cannot be followed. */
	if (ra->kind != RULE_OFFSET || ra->off != -8 || row->r[CFI_REG_RSP].kind != RULE_SAME)
		return kind_row(UNW_CFA_UNSUPPORTED);
	if (row->cfa_expr) {
		if (!plt_expr(row->expr, row->expr_len, &off))
			return kind_row(UNW_CFA_UNSUPPORTED);
		u.cfa_reg = UNW_CFA_PLT;
	} else if (row->cfa_reg == CFI_REG_RSP || row->cfa_reg == CFI_REG_RBP) {
		u.cfa_reg = row->cfa_reg == CFI_REG_RSP ? UNW_CFA_RSP : UNW_CFA_RBP;
		off = row->cfa_off;
	} else {
		return kind_row(UNW_CFA_UNSUPPORTED);
	}
	if (off < INT32_MIN || off > INT32_MAX)
		return kind_row(UNW_CFA_UNSUPPORTED);
	u.cfa_off = (int32_t)off;
	switch (rbp->kind) {
	case RULE_SAME:
		u.rbp_rule = UNW_RBP_SAME;
		break;
	case RULE_OFFSET:
		if (rbp->off < INT16_MIN || rbp->off > INT16_MAX)
			return kind_row(UNW_CFA_UNSUPPORTED);
		u.rbp_rule = UNW_RBP_AT_CFA;
		u.rbp_off = (int16_t)rbp->off;
		break;
	default:
		u.rbp_rule = UNW_RBP_UNDEFINED;
		break;
	}
	return u;
}

/* One FDE's run: its rows go to b while they fall in [lo, hi). */
struct fde_run {
	struct builder *b;
	const struct cfi_cie *ci;
	uint64_t lo, hi;
	uint64_t cur;               /* where the span not yet reported starts */
	bool past_end;              /* stopped on purpose: the rest is beyond hi */
};

static bool on_span(void *ctx, uint64_t from, uint64_t to, const struct cfi_row *row)
{
	struct fde_run *r = ctx;

	/* Locations only grow (a set_loc backwards, an advance that wraps:
	 * malformed, the rest unknown). */
	if (to < from || from != r->cur)
		return false;
	if (from < r->hi)
		emit(r->b, from, classify(row, r->ci));
	r->cur = to;
	if (to >= r->hi) {
		r->past_end = true;
		return false;
	}
	return !r->b->err;
}

/* Rows of one FDE on [lo, hi): its instructions [p, end) from location
 * loc under CIE ci. Returns false when not all of them were understood
 * (the pcs from there get UNW_CFA_UNSUPPORTED). */
static bool fde_rows(struct builder *b, const struct eh_frame *sec, const struct cfi_cie *ci, const uint8_t *p,
		     const uint8_t *end, uint64_t loc, uint64_t lo, uint64_t hi)
{
	struct cfi_row initial, row;
	struct fde_run r = { b, ci, lo, hi, lo, false };
	bool ok;

	if (loc != lo || !cfi_initial_row(sec, ci, loc, &initial)) {
		emit(b, lo, kind_row(UNW_CFA_UNSUPPORTED));
		return false;
	}
	row = initial;
	ok = cfi_run_spans(sec, ci, p, end, loc, &row, &initial, on_span, &r) || r.past_end;
	if (!r.past_end && r.cur < hi)
		emit(b, r.cur, ok ? classify(&row, ci) : kind_row(UNW_CFA_UNSUPPORTED));
	return ok;
}

/* ------------------------------------------------------------ .debug_frame */

/* .debug_frame differs from .eh_frame in its CIE id (all ones), in its FDEs'
 * CIE pointer (an offset from the section start) and in absolute 8-byte pc
 * fields; its CIEs have no augmentation here (GCC and clang write none). */
static bool debug_entry(const struct eh_frame *df, uint64_t off, struct dw_cur *body, uint32_t *id, uint64_t *next)
{
	if (off > df->len || df->len - off < 8)
		return false;
	struct dw_cur c = { df->data + off, df->data + df->len, false };
	uint64_t len = dw_read_n(&c, 4);

	if (len == EH_LEN_DWARF64 || len < 4 || len > (uint64_t)(c.end - c.p))
		return false; /* 64-bit DWARF is not written for x86_64 user code */
	*next = off + 4 + len;
	*body = (struct dw_cur){ c.p, c.p + len, false };
	*id = (uint32_t)dw_read_n(body, 4);
	return !body->err;
}

static bool debug_cie(const struct eh_frame *df, uint64_t off, struct cfi_cie *ci)
{
	struct dw_cur c;
	uint32_t id;
	uint64_t next;

	memset(ci, 0, sizeof(*ci));
	if (!debug_entry(df, off, &c, &id, &next) || id != DEBUG_CIE_ID)
		return false;
	uint8_t version = (uint8_t)dw_read_n(&c, 1);

	if (c.err || (version != 1 && version != 3 && version != 4) || c.p >= c.end || *c.p != '\0')
		return false; /* an augmentation: not written in .debug_frame by the compilers here */
	c.p++;
	if (version == 4 && (dw_read_n(&c, 1) != 8 || dw_read_n(&c, 1) != 0))
		return false; /* address size 8, no segment selector */
	ci->code_align = dw_read_uleb(&c);
	ci->data_align = dw_read_sleb(&c);
	ci->ra_reg = version == 1 ? (uint8_t)dw_read_n(&c, 1) : (uint8_t)dw_read_uleb(&c);
	ci->fde_enc = DW_EH_PE_udata8; /* for DW_CFA_set_loc */
	if (c.err || ci->ra_reg >= CFI_NREGS)
		return false;
	ci->insns = c.p;
	ci->insns_end = c.end;
	return true;
}

/* The FDE at off: its CIE, instructions and range; false when malformed. */
static bool debug_fde(const struct eh_frame *df, uint64_t off, struct cfi_cie *ci, const uint8_t **p,
		      const uint8_t **end, uint64_t *lo, uint64_t *hi)
{
	struct dw_cur c;
	uint32_t id;
	uint64_t next;

	if (!debug_entry(df, off, &c, &id, &next) || id == DEBUG_CIE_ID || !debug_cie(df, id, ci))
		return false;
	*lo = dw_read_n(&c, 8);
	uint64_t range = dw_read_n(&c, 8);

	if (c.err || !range || *lo + range < *lo)
		return false;
	*hi = *lo + range;
	*p = c.p;
	*end = c.end;
	return true;
}

/* ------------------------------------------------------------ the table */

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->lo != y->lo)
		return (x->lo > y->lo) - (x->lo < y->lo);
	return (x->order > y->order) - (x->order < y->order);
}

static int push_item(struct item **items, size_t *n, size_t *cap, struct item it, size_t *skipped)
{
	if (it.hi > UINT32_MAX) {
		++*skipped; /* past what a table holds: its pcs get no row */
		return 0;
	}
	if (*n == *cap) {
		struct item *g = vec_grow(*items, cap, sizeof(**items), MAX_ITEMS);

		if (!g)
			return *cap >= MAX_ITEMS ? 0 : -ENOMEM;
		*items = g;
	}
	it.order = (uint32_t)*n;
	(*items)[(*n)++] = it;
	return 0;
}

/* Whether [lo, hi) meets an FDE of fdes (sorted, not nested). */
static bool overlaps(const struct cfi_fde *fdes, size_t n, uint64_t lo, uint64_t hi)
{
	size_t i = ranges_upper(fdes, n, sizeof(*fdes), offsetof(struct cfi_fde, lo), hi - 1);

	return i && fdes[i - 1].hi > lo;
}

/* The items: .eh_frame's FDEs (in cfi_index's order, so that FDEs starting
 * at one pc resolve as cfi_find_fde does), then .debug_frame's where
 * .eh_frame has nothing (a file with both describes most functions twice). */
static int collect(const struct eh_frame *eh, const struct eh_frame *df, struct item **items, size_t *n,
		   size_t *skipped)
{
	struct cfi_fde *fdes = NULL;
	size_t nfdes = 0, cap = 0;
	int err = 0;

	if (eh && eh->len)
		err = cfi_index(eh, &fdes, &nfdes);
	for (size_t i = 0; i < nfdes && !err; i++)
		err = push_item(items, n, &cap, (struct item){ fdes[i].lo, fdes[i].hi, fdes[i].off, 0, 0 }, skipped);
	for (uint64_t off = 0, next; df && !err && off < df->len; off = next) {
		struct dw_cur c;
		uint32_t id;
		struct cfi_cie ci;
		const uint8_t *p, *end;
		uint64_t lo, hi;

		if (!debug_entry(df, off, &c, &id, &next))
			break; /* nothing after a bad length can be found */
		if (id == DEBUG_CIE_ID)
			continue;
		if (!debug_fde(df, off, &ci, &p, &end, &lo, &hi) || off > UINT32_MAX) {
			++*skipped; /* its range may be unknown: no rows */
			continue;
		}
		if (!overlaps(fdes, nfdes, lo, hi))
			err = push_item(items, n, &cap, (struct item){ lo, hi, (uint32_t)off, 0, 1 }, skipped);
	}
	free(fdes);
	if (*n)
		qsort(*items, *n, sizeof(**items), cmp_item);
	return err;
}

int unwtab_build_frames(const struct eh_frame *eh, const struct eh_frame *debug_frame, struct unwtab *out,
			char *err, size_t errlen)
{
	struct item *items = NULL;
	size_t nitems = 0;
	struct builder b = { 0 };

	memset(out, 0, sizeof(*out));
	int e = collect(eh, debug_frame, &items, &nitems, &out->fdes_skipped);

	if (e) {
		free(items);
		set_err(err, errlen, "out of memory indexing the FDEs");
		return e;
	}
	out->fdes = nitems + out->fdes_skipped;
	for (size_t i = 0; i < nitems && !b.err; i++) {
		const struct item *it = &items[i];
		/* A later FDE starting inside this one takes over from there,
		 * as cfi_find_fde would have it. */
		uint64_t hi = i + 1 < nitems && items[i + 1].lo < it->hi ? items[i + 1].lo : it->hi;
		const struct eh_frame *sec = it->debug ? debug_frame : eh;
		struct cfi_cie ci;
		const uint8_t *p = NULL, *end = NULL;
		uint64_t loc = 0, lo2, hi2;
		bool ok;

		if (it->lo >= hi)
			continue; /* wholly taken over by the next */
		if (it->debug) {
			ok = debug_fde(sec, it->off, &ci, &p, &end, &lo2, &hi2);
			loc = lo2;
		} else {
			struct cfi_fde f = { it->lo, it->hi, it->off };

			ok = cfi_fde_program(sec, &f, &ci, &p, &end, &loc) == CFI_OK;
		}
		if (!ok)
			emit(&b, it->lo, kind_row(UNW_CFA_UNSUPPORTED));
		else
			ok = fde_rows(&b, sec, &ci, p, end, loc, it->lo, hi);
		out->fdes_skipped += !ok;
		/* The gap after the FDE has no rule, unless the next starts here. */
		if (i + 1 == nitems || items[i + 1].lo > hi)
			emit(&b, hi, kind_row(UNW_CFA_NONE));
	}
	free(items);
	if (b.err) {
		free(b.rows);
		memset(out, 0, sizeof(*out));
		set_err(err, errlen, b.err == -E2BIG ? "more than %u unwind rows" : "out of memory building %u rows",
			UNWTAB_MAX_ROWS);
		return b.err;
	}
	out->rows = b.rows;
	out->n = b.n;
	return 0;
}

/* The section of e named name, of one of the types given, as a frame
 * section (decompressed when SHF_COMPRESSED); false when absent or empty. */
static bool frame_section(Elf *e, const char *name, Elf64_Word type1, Elf64_Word type2, struct eh_frame *out)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(e, &shstrndx) != 0)
		return false;
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		const char *n;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != type1 && sh.sh_type != type2))
			continue;
		n = elf_strptr(e, shstrndx, sh.sh_name);
		if (!n || strcmp(n, name) != 0)
			continue;
		if ((sh.sh_flags & SHF_COMPRESSED) && elf_compress(scn, 0, 0) < 0)
			return false;
		Elf_Data *d = elf_getdata(scn, NULL);

		if (!d || !d->d_buf || !d->d_size)
			return false;
		*out = (struct eh_frame){ d->d_buf, d->d_size, sh.sh_addr };
		return true;
	}
	return false;
}

/* The end of the highest loaded byte: the table's addresses must fit 32 bits. */
static bool loads_fit(Elf *e)
{
	size_t nph;

	if (elf_getphdrnum(e, &nph) != 0)
		return false;
	for (size_t i = 0; i < nph && i < 4096; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph))
			return false;
		if (ph.p_type == PT_LOAD && (ph.p_vaddr > UINT32_MAX || ph.p_memsz > UINT32_MAX - ph.p_vaddr))
			return false;
	}
	return true;
}

static int build_elf(Elf *e, struct unwtab *out, char *err, size_t errlen)
{
	GElf_Ehdr eh;
	struct eh_frame ehf = { 0 }, df = { 0 };

	if (elf_kind(e) != ELF_K_ELF || gelf_getclass(e) != ELFCLASS64 || !gelf_getehdr(e, &eh) ||
	    eh.e_machine != EM_X86_64 || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)) {
		set_err(err, errlen, "not an x86_64 executable or shared object");
		return -ENOEXEC;
	}
	if (!loads_fit(e)) {
		set_err(err, errlen, "loaded above 4 GiB (or unreadable program headers): no unwind table");
		return -EOVERFLOW;
	}
	frame_section(e, ".eh_frame", SHT_PROGBITS, SHT_X86_64_UNWIND, &ehf);
	frame_section(e, ".debug_frame", SHT_PROGBITS, SHT_PROGBITS, &df);
	return unwtab_build_frames(&ehf, &df, out, err, errlen);
}

int unwtab_build_fd(int fd, struct unwtab *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (elf_version(EV_CURRENT) == EV_NONE) {
		set_err(err, errlen, "libelf: %s", elf_errmsg(-1));
		return -EINVAL;
	}
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);

	if (!e) {
		set_err(err, errlen, "not an ELF file: %s", elf_errmsg(-1));
		return -ENOEXEC;
	}
	int r = build_elf(e, out, err, errlen);

	elf_end(e);
	return r;
}

void unwtab_free(struct unwtab *t)
{
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

const struct unwind_row *unwtab_lookup(const struct unwind_row *rows, size_t n, uint32_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rows[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &rows[lo - 1] : NULL;
}

/* ------------------------------------------------------------ cache */

struct unwtab_entry {
	struct unwtab_key key;
	struct unwtab t;
	int err;                    /* nonzero: this file has no table, for this reason */
	struct unwtab_entry *next;  /* same hash */
};

static size_t fd_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	ssize_t r = pread(*(int *)ctx, buf, len, (off_t)off);

	return r > 0 ? (size_t)r : 0;
}

int unwtab_key_of_fd(int fd, struct unwtab_key *k)
{
	struct stat st;

	memset(k, 0, sizeof(*k));
	k->build_id_len = elfid_build_id(fd_read, &fd, k->build_id);
	if (k->build_id_len)
		return 0;
	if (fstat(fd, &st) != 0)
		return -errno;
	k->dev = st.st_dev;
	k->ino = st.st_ino;
	k->size = (uint64_t)st.st_size;
	k->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
	return 0;
}

static bool same_key(const struct unwtab_key *a, const struct unwtab_key *b)
{
	if (a->build_id_len != b->build_id_len)
		return false;
	if (a->build_id_len)
		return memcmp(a->build_id, b->build_id, a->build_id_len) == 0;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

/* FNV-1a over what same_key compares. */
static uint64_t key_hash(const struct unwtab_key *k)
{
	uint64_t h = 0xcbf29ce484222325ull, v[4] = { k->dev, k->ino, k->size, k->mtime_ns };
	const uint8_t *p = k->build_id_len ? k->build_id : (const uint8_t *)v;
	size_t len = k->build_id_len ? k->build_id_len : sizeof(v);

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ k->build_id_len;
}

void unwtab_cache_init(struct unwtab_cache *c, size_t max_bytes)
{
	memset(c, 0, sizeof(*c));
	u64map_init(&c->map);
	c->max_bytes = max_bytes;
}

void unwtab_cache_free(struct unwtab_cache *c)
{
	uint64_t v;

	for (size_t it = 0; u64map_next(&c->map, &it, NULL, &v);) {
		for (struct unwtab_entry *e = (struct unwtab_entry *)(uintptr_t)v, *next; e; e = next) {
			next = e->next;
			unwtab_free(&e->t);
			free(e);
		}
	}
	u64map_free(&c->map);
	memset(c, 0, sizeof(*c));
}

static struct unwtab_entry *find_entry(const struct unwtab_cache *c, const struct unwtab_key *k)
{
	for (struct unwtab_entry *e = u64map_get_ptr(&c->map, key_hash(k)); e; e = e->next)
		if (same_key(&e->key, k))
			return e;
	return NULL;
}

int unwtab_cache_find(const struct unwtab_cache *c, const struct unwtab_key *k, const struct unwtab **t, int *err)
{
	const struct unwtab_entry *e = find_entry(c, k);

	if (!e)
		return 0;
	*t = e->err ? NULL : &e->t;
	*err = e->err;
	return 1;
}

const struct unwtab *unwtab_cache_put(struct unwtab_cache *c, const struct unwtab_key *k, struct unwtab *t,
				      int build_err, int *err)
{
	struct unwtab_entry *e = find_entry(c, k);
	size_t bytes = t->n * sizeof(*t->rows);

	if (e) { /* asked twice: the first answer stands */
		unwtab_free(t);
		*err = e->err;
		return e->err ? NULL : &e->t;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		unwtab_free(t);
		*err = -ENOMEM;
		return NULL;
	}
	e->key = *k;
	e->err = build_err;
	if (!build_err && bytes > c->max_bytes - (c->bytes < c->max_bytes ? c->bytes : c->max_bytes))
		e->err = -ENOSPC;
	if (e->err) {
		unwtab_free(t);
	} else {
		e->t = *t;
		memset(t, 0, sizeof(*t));
	}
	uint64_t h = key_hash(k);

	e->next = u64map_get_ptr(&c->map, h);
	if (u64map_put_ptr(&c->map, h, e) != 0) {
		unwtab_free(&e->t);
		free(e);
		*err = -ENOMEM;
		return NULL;
	}
	c->bytes += e->t.n * sizeof(*e->t.rows);
	*err = e->err;
	return e->err ? NULL : &e->t;
}

const struct unwtab *unwtab_cache_get_fd(struct unwtab_cache *c, int fd, int *err)
{
	struct unwtab_key k;
	const struct unwtab *t;
	struct unwtab built;
	int e = unwtab_key_of_fd(fd, &k);

	if (e) {
		*err = e;
		return NULL;
	}
	if (unwtab_cache_find(c, &k, &t, err))
		return t;
	/* Full already: do not read the file only to drop its table. */
	e = c->bytes >= c->max_bytes ? -ENOSPC : unwtab_build_fd(fd, &built, NULL, 0);
	if (e)
		memset(&built, 0, sizeof(built));
	return unwtab_cache_put(c, &k, &built, e, err);
}
