/* The session's cache of mapped ELF files and each process's executable
 * mappings, for labelling native pcs (see nfiles.h). Every byte read from
 * /proc and from the files is bounded and checked. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "native/modules.h"
#include "native/nfiles.h"
#include "native/vec.h"
#include "output/frametab.h"
#include "util/ranges.h"
#include "util/u64map.h"

#define MAX_FILES 65536               /* files in a session's cache */
#define MAX_PROC_MAPPINGS 8192        /* executable mappings kept per process */
#define SYMBOL_BUDGET (256u << 20)    /* bytes of symbols kept for the session */
#define MAX_FILE_SYMS (4u << 20)      /* symbols kept per file */
#define MAX_NAME 255                  /* bytes of a symbol name kept */
#define MAX_TAIL_CALLS 4096
#define MAX_KSYMS (4u << 20)
#define MAX_KSYM_SPAN (1u << 20)      /* a kernel address this far past a symbol is in none */
#define EVAL_SYMBOL "_PyEval_EvalFrameDefault"
#define EVAL_COLD EVAL_SYMBOL ".cold"
#define TAIL_CALL_PREFIX "_TAIL_CALL_"

struct nfiles {
	struct u64map by_identity;    /* identity hash -> first struct nfile with it */
	struct nfile *all;
	size_t nfiles;
	size_t sym_bytes;
};

struct nfiles *nfiles_new(void)
{
	struct nfiles *c = calloc(1, sizeof(*c));

	if (c)
		u64map_init(&c->by_identity);
	return c;
}

void nfiles_free(struct nfiles *c)
{
	if (!c)
		return;
	for (struct nfile *f = c->all, *next; f; f = next) {
		next = f->next;
		free(f->path);
		free(f->syms);
		free(f->names);
		free(f->tail_calls);
		free(f);
	}
	u64map_free(&c->by_identity);
	free(c);
}

size_t nfiles_count(const struct nfiles *c)
{
	return c->nfiles;
}

size_t nfiles_symbol_bytes(const struct nfiles *c)
{
	return c->sym_bytes;
}

/* ------------------------------------------------------------ identity */

struct identity {
	uint64_t dev, ino, size;
	int64_t mtime_ns;
};

static struct identity identity_of(const struct stat *st)
{
	return (struct identity){ (uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
				  (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec };
}

static bool same_identity(const struct nfile *f, const struct identity *id)
{
	return f->dev == id->dev && f->ino == id->ino && f->size == id->size && f->mtime_ns == id->mtime_ns;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h ^= h >> 31;
	return h * 0xbf58476d1ce4e5b9ull;
}

static uint64_t identity_hash(const struct identity *id)
{
	return mix(mix(mix(mix(0, id->dev), id->ino), id->size), (uint64_t)id->mtime_ns);
}

static struct nfile *find_file(struct nfiles *c, const struct identity *id)
{
	struct nfile *f = u64map_get_ptr(&c->by_identity, identity_hash(id));

	for (size_t steps = 0; f && steps < MAX_FILES; f = f->same_hash, steps++)
		if (same_identity(f, id))
			return f;
	return NULL;
}

/* -------------------------------------------------------------- opening */

static int open_identical(const char *path, const struct identity *id)
{
	int fd = open_regular_file(path);
	struct stat st;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) == 0) {
		struct identity got = identity_of(&st);

		if (got.dev == id->dev && got.ino == id->ino && got.size == id->size && got.mtime_ns == id->mtime_ns)
			return fd;
	}
	close(fd);
	return -ESTALE;
}

int nfile_open(const struct nfile *f, pid_t pid)
{
	struct identity id = { f->dev, f->ino, f->size, f->mtime_ns };
	char path[PATH_MAX + 64];
	int fd = -ENOENT;

	/* The path inside the target's root is the usual way; the mapping
	 * itself (map_files) also reaches a file deleted or replaced since;
	 * then the process that last mapped it, then our own view. Identity
	 * decides, so each is as good as the others. */
	snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, f->path);
	if ((fd = open_identical(path, &id)) >= 0)
		return fd;
	if (f->seen_pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)f->seen_pid,
			 f->seen_start, f->seen_end);
		if ((fd = open_identical(path, &id)) >= 0)
			return fd;
		if (f->seen_pid != pid) {
			snprintf(path, sizeof(path), "/proc/%d/root%s", (int)f->seen_pid, f->path);
			if ((fd = open_identical(path, &id)) >= 0)
				return fd;
		}
	}
	return open_identical(f->path, &id);
}

/* ------------------------------------------------------- new file, headers */

struct fd_reader {
	int fd;
};

static size_t read_fd(void *ctx, uint64_t off, void *buf, size_t len)
{
	const struct fd_reader *r = ctx;
	ssize_t n = off <= (uint64_t)INT64_MAX ? pread(r->fd, buf, len, (off_t)off) : -1;

	return n > 0 ? (size_t)n : 0;
}

/* Fills f's PT_LOAD headers and build id from the file at fd; -ENOEXEC
 * when it is not a 64-bit ELF file. */
static int read_headers(struct nfile *f, int fd)
{
	struct fd_reader r = { fd };
	uint8_t buf[ELFID_HEADERS_MAX], id[ELFID_MAX];
	size_t len = elfid_headers(read_fd, &r, buf), idlen;
	Elf64_Ehdr eh;

	if (len < sizeof(eh))
		return -ENOEXEC;
	memcpy(&eh, buf, sizeof(eh));
	/* elfid_headers checked that the program headers lie within len. */
	for (size_t i = 0; i < eh.e_phnum && f->nloads < ELF_MAX_LOADS; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD)
			f->loads[f->nloads++] = (struct elf_load){ ph.p_vaddr, ph.p_offset, ph.p_filesz };
	}
	if (!f->nloads)
		return -ENOEXEC;
	idlen = elfid_build_id(read_fd, &r, id);
	elfid_hex(id, idlen, f->build_id, sizeof(f->build_id));
	return 0;
}

/* The cached file of a mapping of pid, added when new; NULL when it
 * cannot be identified or read, or the cache is full. */
static struct nfile *file_of_mapping(struct nfiles *c, pid_t pid, uint64_t start, uint64_t end, const char *path)
{
	char mf[96], rooted[PATH_MAX + 64];
	struct stat st;
	int fd;

	/* map_files names the very file mapped (even deleted); the rooted
	 * path serves when map_files is not allowed. */
	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, start, end);
	snprintf(rooted, sizeof(rooted), "/proc/%d/root%s", (int)pid, path);
	const char *via = stat(mf, &st) == 0 ? mf : stat(rooted, &st) == 0 ? rooted : NULL;

	if (!via || !S_ISREG(st.st_mode))
		return NULL;
	struct identity id = identity_of(&st);
	struct nfile *f = find_file(c, &id);

	if (f)
		goto seen;
	if (c->nfiles >= MAX_FILES)
		return NULL;
	/* Opening map_files may be refused where its stat was not. */
	fd = open_identical(via, &id);
	if (fd < 0 && via == mf)
		fd = open_identical(rooted, &id);
	if (fd < 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path)) || read_headers(f, fd) != 0) {
		close(fd);
		if (f)
			free(f->path);
		free(f);
		return NULL;
	}
	close(fd);
	f->dev = id.dev;
	f->ino = id.ino;
	f->size = id.size;
	f->mtime_ns = id.mtime_ns;
	f->table_first = -1;
	uint64_t h = identity_hash(&id);

	f->same_hash = u64map_get_ptr(&c->by_identity, h);
	if (u64map_put_ptr(&c->by_identity, h, f) != 0) {
		free(f->path);
		free(f);
		return NULL;
	}
	f->next = c->all;
	c->all = f;
	c->nfiles++;
seen:
	f->seen_pid = pid;
	f->seen_start = start;
	f->seen_end = end;
	return f;
}

/* ------------------------------------------------------------- processes */

static int cmp_mapping(const void *a, const void *b)
{
	const struct nmapping *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

/* Parses one /proc/PID/maps line; true for an executable file mapping. */
static bool parse_maps_line(char *line, uint64_t *start, uint64_t *end, uint64_t *offset, char **path)
{
	char perms[8];
	int pos = 0;

	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %n", start, end, perms, offset, &pos) < 4 ||
	    pos == 0 || strlen(perms) < 3 || perms[2] != 'x' || *start >= *end)
		return false;
	*path = line + pos;
	(*path)[strcspn(*path, "\n")] = '\0';
	return (*path)[0] == '/';
}

int nproc_load(struct nfiles *c, pid_t pid, struct nproc *out)
{
	char mpath[64], line[PATH_MAX + 256];
	struct nmapping *maps = NULL;
	size_t n = 0, cap = 0;
	FILE *fp;

	snprintf(mpath, sizeof(mpath), "/proc/%d/maps", (int)pid);
	fp = fopen(mpath, "re");
	if (!fp)
		return -errno;
	while (fgets(line, sizeof(line), fp)) {
		uint64_t start, end, offset, bias;
		char *path;

		if (!strchr(line, '\n') && !feof(fp)) {
			/* A line longer than any path: skip the rest of it. */
			int ch;

			while ((ch = fgetc(fp)) != EOF && ch != '\n')
				;
			continue;
		}
		if (!parse_maps_line(line, &start, &end, &offset, &path))
			continue;
		struct nfile *f = file_of_mapping(c, pid, start, end, path);
		struct elf_file hdr = { .fd = -1, .nloads = f ? f->nloads : 0 };

		if (!f)
			continue;
		memcpy(hdr.loads, f->loads, sizeof(hdr.loads));
		if (elf_file_bias(&hdr, start, offset, &bias) != 0)
			continue;
		if (n == cap) {
			struct nmapping *m = vec_grow(maps, &cap, sizeof(*m), MAX_PROC_MAPPINGS);

			if (!m)
				break;
			maps = m;
		}
		maps[n++] = (struct nmapping){ start, end, bias, offset, f };
	}
	fclose(fp);
	/* The kernel lists mappings sorted and disjoint; sorting keeps the
	 * binary search right whatever was read. */
	if (n)
		qsort(maps, n, sizeof(*maps), cmp_mapping);
	nproc_free(out);
	out->pid = pid;
	out->maps = maps;
	out->n = n;
	return 0;
}

void nproc_free(struct nproc *p)
{
	free(p->maps);
	p->maps = NULL;
	p->n = 0;
}

const struct nmapping *nproc_find(const struct nproc *p, uint64_t pc)
{
	size_t lo = ranges_upper(p->maps, p->n, sizeof(*p->maps), offsetof(struct nmapping, start), pc);

	return lo && pc < p->maps[lo - 1].end ? &p->maps[lo - 1] : NULL;
}

/* --------------------------------------------------------------- symbols */

struct sym_load {
	struct nfiles *c;
	struct nfile *f;
	size_t cap, names_len, names_cap;
	size_t tail_cap;
	bool full;                    /* the budget is spent: ranges only */
};

static void add_range(struct nrange *r, size_t *n, size_t max, uint64_t lo, uint64_t hi)
{
	for (size_t i = 0; i < *n; i++)
		if (r[i].lo == lo)
			return;       /* the same symbol in .symtab twice, or an alias */
	if (*n < max)
		r[(*n)++] = (struct nrange){ lo, hi };
}

static bool keep_symbol(void *ctx, const GElf_Sym *s, const char *name)
{
	struct sym_load *l = ctx;
	struct nfile *f = l->f;
	uint64_t hi = s->st_value + s->st_size;

	if (hi < s->st_value)
		return true;
	if (strcmp(name, EVAL_SYMBOL) == 0 || strncmp(name, EVAL_COLD, strlen(EVAL_COLD)) == 0)
		add_range(f->eval, &f->neval, NFILE_MAX_EVAL, s->st_value, hi);
	if (strncmp(name, TAIL_CALL_PREFIX, strlen(TAIL_CALL_PREFIX)) == 0 && f->ntail_calls < MAX_TAIL_CALLS) {
		if (f->ntail_calls == l->tail_cap) {
			struct nrange *r = vec_grow(f->tail_calls, &l->tail_cap, sizeof(*r), MAX_TAIL_CALLS);

			if (r)
				f->tail_calls = r;
		}
		if (f->ntail_calls < l->tail_cap)
			f->tail_calls[f->ntail_calls++] = (struct nrange){ s->st_value, hi };
	}
	if (l->full)
		return true;
	/* "clock_nanosleep@@GLIBC_2.17": the version is noise in a label. */
	size_t len = strcspn(name, "@");

	if (len > MAX_NAME)
		len = MAX_NAME;
	if (l->c->sym_bytes + sizeof(struct nsym) + len + 1 > SYMBOL_BUDGET || f->nsyms >= MAX_FILE_SYMS) {
		l->full = true;
		return true;
	}
	if (f->nsyms == l->cap) {
		struct nsym *ns = vec_grow(f->syms, &l->cap, sizeof(*ns), MAX_FILE_SYMS);

		if (!ns) {
			l->full = true;
			return true;
		}
		f->syms = ns;
	}
	while (l->names_len + len + 1 > l->names_cap) {
		size_t ncap = l->names_cap ? l->names_cap * 2 : 65536;
		char *nn = ncap <= UINT32_MAX ? realloc(f->names, ncap) : NULL;

		if (!nn) {
			l->full = true;
			return true;
		}
		f->names = nn;
		l->names_cap = ncap;
	}
	char *dst = f->names + l->names_len;

	/* Names are the file's: no control characters into a label. */
	for (size_t i = 0; i < len; i++)
		dst[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	dst[len] = '\0';
	f->syms[f->nsyms++] = (struct nsym){ s->st_value, s->st_size > UINT32_MAX ? UINT32_MAX : (uint32_t)s->st_size,
					     (uint32_t)l->names_len };
	l->names_len += len + 1;
	l->c->sym_bytes += sizeof(struct nsym) + len + 1;
	return true;
}

static size_t leading_underscores(const char *s)
{
	return strspn(s, "_");
}

/* By address; of aliases at one address, the public-looking name first
 * ("malloc" before "__libc_malloc"), then the longest, then by name. */
static int cmp_nsym(const void *a, const void *b, void *names)
{
	const struct nsym *x = a, *y = b;
	const char *xn = (const char *)names + x->name, *yn = (const char *)names + y->name;
	size_t xu, yu;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	xu = leading_underscores(xn);
	yu = leading_underscores(yn);
	if (xu != yu)
		return xu < yu ? -1 : 1;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return strcmp(xn, yn);
}

static int cmp_range(const void *a, const void *b)
{
	const struct nrange *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

int nfile_load_symbols(struct nfiles *c, struct nfile *f, pid_t pid)
{
	struct elf_file ef = { .fd = -1 }, dbg = { .fd = -1 };
	struct sym_load l = { .c = c, .f = f };
	Elf64_Word type;
	Elf *use;

	if (f->syms_tried)
		return f->nsyms || f->neval ? 0 : -ENOENT;
	f->syms_tried = true;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	ef.fd = nfile_open(f, pid);
	if (ef.fd < 0)
		return ef.fd;
	ef.elf = elf_begin(ef.fd, ELF_C_READ_MMAP, NULL);
	if (!ef.elf || elf_kind(ef.elf) != ELF_K_ELF || gelf_getclass(ef.elf) != ELFCLASS64) {
		elf_file_close(&ef);
		return -ENOEXEC;
	}
	/* .symtab has the local functions too; a stripped file may have a
	 * debug file that does; else what the dynamic linker sees. */
	use = ef.elf;
	type = SHT_SYMTAB;
	if (!symbols_has_section(ef.elf, SHT_SYMTAB)) {
		if (f->build_id[0] && symbols_open_debug(f->build_id, pid, &dbg) == 0 &&
		    symbols_has_section(dbg.elf, SHT_SYMTAB))
			use = dbg.elf;
		else
			type = SHT_DYNSYM;
	}
	symbols_each(use, type, keep_symbol, &l);
	if (dbg.elf || dbg.fd >= 0)
		elf_file_close(&dbg);
	elf_file_close(&ef);

	if (f->nsyms) {
		qsort_r(f->syms, f->nsyms, sizeof(*f->syms), cmp_nsym, f->names);
		/* One symbol per address: the first of its aliases. */
		size_t k = 1;

		for (size_t i = 1; i < f->nsyms; i++)
			if (f->syms[i].lo != f->syms[k - 1].lo)
				f->syms[k++] = f->syms[i];
		c->sym_bytes -= (f->nsyms - k) * sizeof(struct nsym);
		f->nsyms = k;
		struct nsym *ns = realloc(f->syms, k * sizeof(*ns));

		if (ns)
			f->syms = ns;
		/* Give back the growth slack of the names. */
		char *nn = realloc(f->names, l.names_len);

		if (nn)
			f->names = nn;
	}
	if (f->ntail_calls)
		qsort(f->tail_calls, f->ntail_calls, sizeof(*f->tail_calls), cmp_range);
	return 0;
}

const struct nsym *nfile_symbol(const struct nfile *f, uint64_t addr)
{
	size_t lo = ranges_upper(f->syms, f->nsyms, sizeof(*f->syms), offsetof(struct nsym, lo), addr);

	/* Symbols may nest or overlap: look back a little for one covering addr. */
	for (size_t k = lo, steps = 0; k > 0 && steps < 16; k--, steps++)
		if (addr - f->syms[k - 1].lo < f->syms[k - 1].size)
			return &f->syms[k - 1];
	return NULL;
}

bool nfile_in_eval(const struct nfile *f, uint64_t addr)
{
	for (size_t i = 0; i < f->neval; i++)
		if (addr >= f->eval[i].lo && addr < f->eval[i].hi)
			return true;
	return false;
}

bool nfile_in_tail_call(const struct nfile *f, uint64_t addr)
{
	size_t lo = ranges_upper(f->tail_calls, f->ntail_calls, sizeof(*f->tail_calls), offsetof(struct nrange, lo),
				 addr);

	return lo && addr < f->tail_calls[lo - 1].hi;
}

const char *nproc_label(struct nfiles *c, const struct nproc *p, uint64_t pc, bool exact, struct frametab *ft,
			bool *eval)
{
	/* A return address follows its call: pc - 1 is in the caller's
	 * function even when the call was its last instruction. */
	uint64_t lookup = exact ? pc : pc - 1;
	const struct nmapping *m = nproc_find(p, lookup);

	if (eval)
		*eval = false;
	if (!m)
		return frametab_pseudo(ft, "[unknown native]");
	struct nfile *f = m->file;

	if (!f->syms_tried)
		(void)nfile_load_symbols(c, f, p->pid); /* unreadable: labelled basename+0xADDR */
	uint64_t addr = lookup - m->bias;
	const struct nsym *s = nfile_symbol(f, addr);

	if (eval)
		*eval = nfile_in_eval(f, addr);
	return frametab_native(ft, s ? f->names + s->name : NULL, f->path, s ? s->lo : pc - m->bias, f->build_id,
			       false);
}

/* ---------------------------------------------------------------- kernel */

struct ksym {
	uint64_t addr;
	size_t name;
};

struct ksyms {
	struct ksym *syms;
	size_t n;
	char *names;
};

/* By address, then in the order listed (names are stored in that order). */
static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->name > y->name) - (x->name < y->name);
}

struct ksyms *ksyms_load(void)
{
	struct ksyms *k = calloc(1, sizeof(*k));
	size_t cap = 0, names_len = 0, names_cap = 0;
	char line[512];
	FILE *fp;

	if (!k)
		return NULL;
	fp = fopen("/proc/kallsyms", "re");
	if (!fp)
		return k;
	while (fgets(line, sizeof(line), fp)) {
		uint64_t addr;
		char type, name[256];

		if (!strchr(line, '\n') && !feof(fp))
			break;        /* no kernel symbol is this long: stop reading */
		if (sscanf(line, "%" SCNx64 " %c %255s", &addr, &type, name) != 3 || !addr ||
		    !strchr("tTwW", type))
			continue;
		size_t len = strlen(name) + 1;

		if (k->n == cap) {
			struct ksym *s = vec_grow(k->syms, &cap, sizeof(*s), MAX_KSYMS);

			if (!s)
				break;
			k->syms = s;
		}
		if (names_len + len > names_cap) {
			size_t ncap = names_cap ? names_cap * 2 : (1u << 20);
			char *nn = ncap <= (128u << 20) ? realloc(k->names, ncap) : NULL;

			if (!nn)
				break;
			k->names = nn;
			names_cap = ncap;
		}
		memcpy(k->names + names_len, name, len);
		k->syms[k->n++] = (struct ksym){ addr, names_len };
		names_len += len;
	}
	fclose(fp);
	if (k->n) {
		qsort(k->syms, k->n, sizeof(*k->syms), cmp_ksym);
		/* One name per address: the first listed of its aliases. */
		size_t j = 1;

		for (size_t i = 1; i < k->n; i++)
			if (k->syms[i].addr != k->syms[j - 1].addr)
				k->syms[j++] = k->syms[i];
		k->n = j;
	}
	return k;
}

void ksyms_free(struct ksyms *k)
{
	if (!k)
		return;
	free(k->syms);
	free(k->names);
	free(k);
}

size_t ksyms_count(const struct ksyms *k)
{
	return k ? k->n : 0;
}

const char *ksym_label(const struct ksyms *k, uint64_t addr, struct frametab *ft)
{
	size_t lo = k ? ranges_upper(k->syms, k->n, sizeof(*k->syms), offsetof(struct ksym, addr), addr) : 0;

	/* kallsyms has no sizes: a symbol runs to the next one, and not
	 * further than MAX_KSYM_SPAN (past the last, into unlisted memory). */
	if (!lo || addr - k->syms[lo - 1].addr >= MAX_KSYM_SPAN)
		return frametab_native(ft, NULL, "[kernel.kallsyms]", addr, "", true);
	const struct ksym *s = &k->syms[lo - 1];

	return frametab_native(ft, k->names + s->name, "[kernel.kallsyms]", s->addr, "", true);
}
