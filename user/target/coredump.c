/*
 * ELF core files (see coredump.h). What the kernel writes (fs/binfmt_elf.c):
 * one PT_NOTE segment with, per thread, NT_PRSTATUS (TID, signal,
 * registers) and for the process NT_PRPSINFO (name, arguments), NT_AUXV and
 * NT_FILE (every file-backed mapping: start, end, file offset in pages, and
 * the paths); then one PT_LOAD per mapping, whose p_filesz is what was
 * dumped: everything for anonymous and written private memory, 0 or one page
 * (the ELF header) for unwritten file mappings under the default
 * coredump_filter. Those are read back from the mapped files.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/reg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/coredump.h"
#include "util/errbuf.h"
#include "target/elfid.h"
#include "target/elfsym.h"
#include "util/ranges.h"
#include "target/pylocate.h"
#include "pyperf.h"

#define MAX_SEGMENTS (1u << 20)   /* PT_LOADs: one per mapping, a process has far fewer */
#define MAX_NOTES_BYTES (256u << 20)
#define MAX_FILES 65536           /* NT_FILE entries */
#define MAX_THREADS 65536
#define MAX_OPEN_FILES 1024       /* distinct mapped files opened for reading */
#define MAX_CHECKED_FILES 256     /* mapped files compared with the core's record of them */
#define PAGE 4096
#define WHY_MAX (4 * ELFID_MAX + 64) /* evidence that a file is not the one mapped */
#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif

struct segment {
	uint64_t vaddr, memsz, filesz, offset;
	uint64_t dumped;            /* p_filesz: what the kernel wrote; filesz is what a cut core still has */
	uint32_t flags;             /* PF_R, PF_W, PF_X */
};

struct openfile {
	char path[PATH_MAX];
	int fd;                     /* -1: could not be opened */
};

struct coredump {
	int fd;
	Elf *elf;
	uint64_t core_size;
	uint64_t want_size;         /* where the last segment ends: > core_size when cut */
	bool phdrs_cut;             /* the program headers are cut too: want_size is a minimum */
	struct segment *segs;       /* sorted by vaddr */
	size_t nsegs;
	struct core_file *files;    /* sorted by start */
	size_t nfiles;
	struct openfile *open;      /* lazily opened mapped files */
	size_t nopen;
	struct core_thread *threads; /* in note order: the dumping thread first */
	size_t nthreads;
	int pid;
	int signal;
	char fname[17];
	char psargs[ELF_PRARGSZ + 1];
	char psargs_full[ELF_PRARGSZ + 4]; /* with "..." when the kernel cut it */
	uint64_t at_entry;
	char warning[PATH_MAX + 512]; /* a mapped file that is not the one the core mapped */
};

/* ------------------------------------------------------------ reading */

static int open_mapped(struct coredump *c, const char *path)
{
	for (size_t i = 0; i < c->nopen; i++)
		if (strcmp(c->open[i].path, path) == 0)
			return c->open[i].fd;
	if (c->nopen >= MAX_OPEN_FILES)
		return -1;
	struct openfile *of = &c->open[c->nopen++];

	snprintf(of->path, sizeof(of->path), "%s", path);
	of->fd = open_regular_file(path);
	return of->fd;
}

static const struct segment *find_segment(const struct coredump *c, uint64_t addr)
{
	size_t lo = ranges_upper(c->segs, c->nsegs, sizeof(*c->segs), offsetof(struct segment, vaddr), addr);

	if (lo == 0)
		return NULL;
	const struct segment *s = &c->segs[lo - 1];

	return addr - s->vaddr < s->memsz ? s : NULL;
}

static const struct core_file *find_file(const struct coredump *c, uint64_t addr)
{
	size_t lo = ranges_upper(c->files, c->nfiles, sizeof(*c->files), offsetof(struct core_file, start), addr);

	if (lo == 0)
		return NULL;
	const struct core_file *f = &c->files[lo - 1];

	return addr < f->end ? f : NULL;
}

static size_t pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done;
}

/* Reads from the one place that holds addr; returns bytes read (maybe short). */
static size_t read_chunk(struct coredump *c, uint64_t addr, void *buf, size_t len)
{
	const struct segment *s = find_segment(c, addr);

	if (s && addr - s->vaddr < s->filesz) {
		uint64_t delta = addr - s->vaddr;
		uint64_t avail = s->filesz - delta;

		if (len > avail)
			len = (size_t)avail;
		return pread_all(c->fd, buf, len, s->offset + delta);
	}
	/* Dumped, but past the end of a cut core: the file would give stale
	 * bytes (e.g. .data as it was before the program ran). */
	if (s && addr - s->vaddr < s->dumped)
		return 0;
	/* Not in the core: a file mapping the kernel left out. */
	const struct core_file *f = find_file(c, addr);

	if (!f || !f->local[0])
		return 0;
	if (s) {
		uint64_t seg_end = s->vaddr + s->memsz;

		if (len > seg_end - addr)
			len = (size_t)(seg_end - addr);
	}
	if (len > f->end - addr)
		len = (size_t)(f->end - addr);
	int fd = open_mapped(c, f->local);

	if (fd < 0)
		return 0;
	return pread_all(fd, buf, len, f->offset + (addr - f->start));
}

static size_t core_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	struct coredump *c = m->ctx;
	size_t done = 0;

	/* A read may span adjacent mappings; each step makes progress or stops. */
	for (int steps = 0; done < len && steps < 64; steps++) {
		if (addr + done < addr)
			break; /* wrapped */
		size_t n = read_chunk(c, addr + done, (char *)buf + done, len - done);

		if (!n)
			break;
		done += n;
	}
	return done;
}

struct memsrc coredump_memsrc(struct coredump *c)
{
	return (struct memsrc){ .read = core_read, .pid = 0, .ctx = c };
}

/* -------------------------------------------------------------- notes */

static int cmp_seg(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;

	return (x->vaddr > y->vaddr) - (x->vaddr < y->vaddr);
}

static int cmp_file(const void *a, const void *b)
{
	const struct core_file *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

static int parse_prstatus(struct coredump *c, const uint8_t *desc, size_t len)
{
	struct elf_prstatus ps;

	if (len < sizeof(ps) || c->nthreads >= MAX_THREADS)
		return 0; /* not what this code knows: ignore */
	memcpy(&ps, desc, sizeof(ps));
	if (c->nthreads % 64 == 0) {
		struct core_thread *t = realloc(c->threads, (c->nthreads + 64) * sizeof(*t));

		if (!t)
			return -ENOMEM;
		c->threads = t;
	}
	struct core_thread *t = &c->threads[c->nthreads++];

	memset(t, 0, sizeof(*t));
	t->tid = ps.pr_pid;
	t->signal = ps.pr_cursig;
	t->regs.rip = ps.pr_reg[RIP];
	t->regs.rsp = ps.pr_reg[RSP];
	t->regs.rbp = ps.pr_reg[RBP];
	t->regs.rbx = ps.pr_reg[RBX];
	t->regs.r12 = ps.pr_reg[R12];
	t->regs.r13 = ps.pr_reg[R13];
	t->regs.r14 = ps.pr_reg[R14];
	t->regs.r15 = ps.pr_reg[R15];
	t->regs.fs_base = ps.pr_reg[FS_BASE];
	t->regs.orig_rax = ps.pr_reg[ORIG_RAX];
	t->regs.rdi = ps.pr_reg[RDI];
	t->regs.rsi = ps.pr_reg[RSI];
	t->regs.rdx = ps.pr_reg[RDX];
	t->regs.r10 = ps.pr_reg[R10];
	t->regs.r8 = ps.pr_reg[R8];
	t->regs.r9 = ps.pr_reg[R9];
	return 0;
}

static void parse_prpsinfo(struct coredump *c, const uint8_t *desc, size_t len)
{
	struct elf_prpsinfo pi;

	if (len < sizeof(pi))
		return;
	memcpy(&pi, desc, sizeof(pi));
	c->pid = pi.pr_pid;
	memcpy(c->fname, pi.pr_fname, sizeof(pi.pr_fname));
	c->fname[sizeof(pi.pr_fname)] = '\0';
	memcpy(c->psargs, pi.pr_psargs, sizeof(pi.pr_psargs));
	c->psargs[sizeof(pi.pr_psargs)] = '\0';
	/* The kernel keeps the arguments' separators as spaces but may end
	 * the field with one. */
	size_t n = strlen(c->psargs);

	while (n > 0 && c->psargs[n - 1] == ' ')
		c->psargs[--n] = '\0';
	/* The kernel keeps at most ELF_PRARGSZ - 1 bytes: say when it cut. */
	if (n == ELF_PRARGSZ - 1 && n + 3 < sizeof(c->psargs_full))
		snprintf(c->psargs_full, sizeof(c->psargs_full), "%s...", c->psargs);
	else
		snprintf(c->psargs_full, sizeof(c->psargs_full), "%s", c->psargs);
}

static void parse_auxv(struct coredump *c, const uint8_t *desc, size_t len)
{
	for (size_t off = 0; off + 16 <= len; off += 16) {
		uint64_t type, val;

		memcpy(&type, desc + off, 8);
		memcpy(&val, desc + off + 8, 8);
		if (type == 9 /* AT_ENTRY */)
			c->at_entry = val;
		if (type == 0)
			break;
	}
}

/* NT_FILE: count, page size, count x (start, end, page offset), count paths. */
static int parse_nt_file(struct coredump *c, const uint8_t *desc, size_t len)
{
	uint64_t count, page;

	if (len < 16 || c->files)
		return 0;
	memcpy(&count, desc, 8);
	memcpy(&page, desc + 8, 8);
	if (count == 0 || count > MAX_FILES || page == 0 || page > (1u << 30) ||
	    (len - 16) / 24 < count)
		return 0;
	c->files = calloc((size_t)count, sizeof(*c->files));
	if (!c->files)
		return -ENOMEM;
	const char *names = (const char *)desc + 16 + 24 * count;
	const char *end = (const char *)desc + len;

	for (uint64_t i = 0; i < count; i++) {
		uint64_t v[3];

		memcpy(v, desc + 16 + 24 * i, 24);
		const char *nul = memchr(names, '\0', (size_t)(end - names));

		if (!nul)
			break;
		if (v[0] < v[1] && v[2] <= UINT64_MAX / page) {
			struct core_file *f = &c->files[c->nfiles++];

			f->start = v[0];
			f->end = v[1];
			f->offset = v[2] * page;
			snprintf(f->path, sizeof(f->path), "%s", names);
			snprintf(f->local, sizeof(f->local), "%s", names);
		}
		names = nul + 1;
	}
	qsort(c->files, c->nfiles, sizeof(*c->files), cmp_file);
	return 0;
}

static int parse_notes(struct coredump *c, const GElf_Phdr *ph)
{
	uint64_t size = ph->p_filesz;

	/* A cut core: the notes that are whole are read (a cut one is not). */
	if (ph->p_offset >= c->core_size)
		return -EINVAL;
	if (size > c->core_size - ph->p_offset)
		size = (c->core_size - ph->p_offset) & ~(uint64_t)3; /* whole 4-byte words */
	if (size > MAX_NOTES_BYTES)
		return -EINVAL;
	Elf_Data *data = elf_getdata_rawchunk(c->elf, (int64_t)ph->p_offset, (size_t)size, ELF_T_NHDR);

	if (!data)
		return -EINVAL;
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;

	while (off < data->d_size && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const uint8_t *desc = (const uint8_t *)data->d_buf + desc_off;
		const char *name = (const char *)data->d_buf + name_off;
		size_t dlen = nh.n_descsz;
		int r = 0;

		if (desc_off + dlen > data->d_size)
			break;
		if (nh.n_namesz < 5 || memcmp(name, "CORE", 5) != 0)
			continue; /* "LINUX" notes: FP and extended registers */
		switch (nh.n_type) {
		case NT_PRSTATUS:
			r = parse_prstatus(c, desc, dlen);
			break;
		case NT_PRPSINFO:
			parse_prpsinfo(c, desc, dlen);
			break;
		case NT_AUXV:
			parse_auxv(c, desc, dlen);
			break;
		case NT_FILE:
			r = parse_nt_file(c, desc, dlen);
			break;
		default:
			break;
		}
		if (r)
			return r;
	}
	return 0;
}

/*
 * Which mapped file exe stands for: the one with the same file name, else
 * the one holding the entry point (AT_ENTRY). The name comes first because
 * a program started through the dynamic loader (ld.so PROGRAM) has the
 * loader's entry point.
 */
static void substitute_exe(struct coredump *c, const char *exe)
{
	const char *base = strrchr(exe, '/');
	const char *orig = NULL;

	base = base ? base + 1 : exe;
	for (size_t i = 0; i < c->nfiles && !orig; i++) {
		const char *b = strrchr(c->files[i].path, '/');

		if (strcmp(b ? b + 1 : c->files[i].path, base) == 0)
			orig = c->files[i].path;
	}
	for (size_t i = 0; i < c->nfiles && c->at_entry && !orig; i++)
		if (c->files[i].start <= c->at_entry && c->at_entry < c->files[i].end)
			orig = c->files[i].path;
	if (!orig)
		return;
	char keep[PATH_MAX];

	snprintf(keep, sizeof(keep), "%s", orig);
	for (size_t i = 0; i < c->nfiles; i++)
		if (strcmp(c->files[i].path, keep) == 0)
			snprintf(c->files[i].local, sizeof(c->files[i].local), "%s", exe);
}

/* Where the core should end: past its program headers, notes and segments. */
static void want_end(struct coredump *c, uint64_t off, uint64_t len)
{
	if (off + len >= off && off + len > c->want_size)
		c->want_size = off + len;
}

/* Reads the notes and the PT_LOAD segments; 0 or -ENOMEM. A cut core keeps
 * what is there: segments are clipped to the file, notes read while whole. */
static int read_phdrs(struct coredump *c, const GElf_Ehdr *eh, size_t nph)
{
	/* libelf counts only the headers the file holds: e_phnum says how
	 * many were written. */
	want_end(c, eh->e_phoff, (uint64_t)(eh->e_phnum != PN_XNUM && eh->e_phnum > nph ? eh->e_phnum : nph) *
		 eh->e_phentsize);
	c->phdrs_cut = c->want_size > c->core_size;
	c->segs = calloc(nph ? nph : 1, sizeof(*c->segs));
	if (!c->segs)
		return -ENOMEM;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(c->elf, (int)i, &ph))
			continue;
		if (ph.p_type == PT_NOTE || ph.p_type == PT_LOAD)
			want_end(c, ph.p_offset, ph.p_filesz);
		if (ph.p_type == PT_NOTE) {
			if (parse_notes(c, &ph) == -ENOMEM)
				return -ENOMEM;
		} else if (ph.p_type == PT_LOAD && ph.p_memsz) {
			uint64_t dumped = ph.p_filesz < ph.p_memsz ? ph.p_filesz : ph.p_memsz;
			uint64_t filesz = dumped;

			if (ph.p_offset >= c->core_size)
				filesz = 0;
			else if (filesz > c->core_size - ph.p_offset)
				filesz = c->core_size - ph.p_offset;
			if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
				continue;
			c->segs[c->nsegs++] = (struct segment){ .vaddr = ph.p_vaddr, .memsz = ph.p_memsz,
				.filesz = filesz, .offset = ph.p_offset, .dumped = dumped, .flags = ph.p_flags };
		}
	}
	return 0;
}

bool coredump_truncated(const struct coredump *c, char *buf, size_t len)
{
	if (c->core_size >= c->want_size) {
		if (len)
			buf[0] = '\0';
		return false;
	}
	snprintf(buf, len, "the core is truncated (%llu of %s%llu bytes)", (unsigned long long)c->core_size,
		 c->phdrs_cut ? "at least " : "", (unsigned long long)c->want_size);
	return true;
}

/* ------------------------------------------- is it the file it mapped? */

struct core_image {
	struct coredump *c;
	uint64_t start, len;        /* a mapping of file offset 0 */
};

/* The image's bytes that the core itself holds (never the file's). */
static size_t dumped_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	const struct core_image *im = ctx;

	if (off >= im->len || len > im->len - off)
		return 0;
	const struct segment *s = find_segment(im->c, im->start + off);
	uint64_t delta = s ? im->start + off - s->vaddr : 0;

	if (!s || delta >= s->filesz || len > s->filesz - delta)
		return 0;
	return pread_all(im->c->fd, buf, len, s->offset + delta);
}

static size_t fd_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	return pread_all(*(const int *)ctx, buf, len, off);
}

/*
 * Is the file open as fd the one the core mapped as f (file offset 0)? The
 * build ids when the core holds the mapping's first page (the kernel dumps
 * ELF headers by default), else the headers themselves; and no mapping of
 * the path may start past the file's end. False with the evidence in why.
 */
static bool same_file(struct coredump *c, const struct core_file *f, int fd, char *why, size_t len)
{
	struct core_image im = { c, f->start, f->end - f->start };
	uint8_t a[ELFID_MAX], b[ELFID_MAX];
	size_t na = elfid_build_id(fd_read, &fd, a), nb = elfid_build_id(dumped_read, &im, b);
	char ha[2 * ELFID_MAX + 1], hb[2 * ELFID_MAX + 1];

	elfid_hex(a, na, ha, sizeof(ha));
	elfid_hex(b, nb, hb, sizeof(hb));
	if (nb) {
		snprintf(why, len, "build id %.*s, the core's is %.*s", 2 * ELFID_MAX, na ? ha : "none",
			 2 * ELFID_MAX, hb);
		return na == nb && memcmp(a, b, na) == 0;
	}
	struct stat st;

	for (size_t i = 0; i < c->nfiles && fstat(fd, &st) == 0; i++) {
		const struct core_file *g = &c->files[i];

		if (strcmp(g->path, f->path) == 0 && g->offset / PAGE > ((uint64_t)st.st_size + PAGE - 1) / PAGE) {
			snprintf(why, len, "%llu bytes, the core maps it from byte %llu",
				 (unsigned long long)st.st_size, (unsigned long long)g->offset);
			return false;
		}
	}
	static uint8_t hf[ELFID_HEADERS_MAX], hc[ELFID_HEADERS_MAX];
	size_t nf = elfid_headers(fd_read, &fd, hf), nc = elfid_headers(dumped_read, &im, hc);

	snprintf(why, len, "its ELF headers differ from the core's copy");
	return !nc || (nf == nc && memcmp(hf, hc, nc) == 0);
}

/* Forgets the local copy of path: its contents are not what the process saw. */
static void drop_local(struct coredump *c, const char *path)
{
	for (size_t i = 0; i < c->nfiles; i++)
		if (strcmp(c->files[i].path, path) == 0)
			c->files[i].local[0] = '\0';
}

/*
 * Compares the files read in place of the mappings (--exe, and each path
 * recorded in the core) with the core's record of them. A wrong --exe is an
 * error; a library replaced since the crash (an upgrade) is left out, with
 * a warning naming it. Returns 0 or -ENOEXEC with err set.
 */
static int check_files(struct coredump *c, const char *exe, char *err, size_t errlen)
{
	size_t checked = 0, bad = 0;
	char first[PATH_MAX + WHY_MAX + 64] = "";

	for (size_t i = 0; i < c->nfiles && checked < MAX_CHECKED_FILES; i++) {
		struct core_file *f = &c->files[i];
		char why[WHY_MAX];

		if (f->offset != 0 || !f->local[0])
			continue;
		int fd = open_mapped(c, f->local);

		if (fd < 0)
			continue;
		checked++;
		if (same_file(c, f, fd, why, sizeof(why)))
			continue;
		if (exe && strcmp(f->local, exe) == 0) {
			set_err(err, errlen, "--exe %s is not the program that dumped this core, which ran %s (%s)",
				exe, f->path, why);
			return -ENOEXEC;
		}
		if (!bad++)
			snprintf(first, sizeof(first), "%s is not the file the core mapped (%s)", f->local, why);
		drop_local(c, f->path);
	}
	if (bad)
		snprintf(c->warning, sizeof(c->warning), "%s%s, so %s left out (replaced since the crash?)",
			 first, bad > 1 ? ", nor are others" : "", bad > 1 ? "they are" : "it is");
	return 0;
}

int coredump_open(const char *path, const char *exe, struct coredump **out, char *err, size_t errlen)
{
	struct coredump *c = calloc(1, sizeof(*c));
	int ret;

	*out = NULL;
	if (!c) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->fd = -1;
	c->open = calloc(MAX_OPEN_FILES, sizeof(*c->open));
	if (!c->open) {
		set_err(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	if (exe && access(exe, R_OK) != 0) {
		ret = -errno;
		set_err(err, errlen, "cannot read %s: %s", exe, strerror(errno));
		goto fail;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		set_err(err, errlen, "libelf is unusable");
		ret = -ENOSYS;
		goto fail;
	}
	c->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0) {
		ret = -errno;
		set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	off_t size = lseek(c->fd, 0, SEEK_END);

	c->core_size = size > 0 ? (uint64_t)size : 0;
	c->elf = elf_begin(c->fd, ELF_C_READ, NULL);
	GElf_Ehdr eh;

	if (!c->elf || elf_kind(c->elf) != ELF_K_ELF || gelf_getclass(c->elf) != ELFCLASS64 ||
	    !gelf_getehdr(c->elf, &eh) || eh.e_type != ET_CORE) {
		char magic[SELFMAG];

		if (c->core_size < sizeof(Elf64_Ehdr) && pread_all(c->fd, magic, SELFMAG, 0) == SELFMAG &&
		    memcmp(magic, ELFMAG, SELFMAG) == 0)
			set_err(err, errlen, "the core is truncated (%llu bytes): it ends inside its ELF header",
				(unsigned long long)c->core_size);
		else
			set_err(err, errlen, "%s is not an ELF core file", path);
		ret = -ENOEXEC;
		goto fail;
	}
	if (eh.e_machine != EM_X86_64) {
		set_err(err, errlen, "%s is a core file of another architecture (ELF machine %u); "
			"only x86_64 is supported", path, (unsigned)eh.e_machine);
		ret = -ENOEXEC;
		goto fail;
	}
	size_t nph = 0;

	if (elf_getphdrnum(c->elf, &nph) != 0 || nph > MAX_SEGMENTS) {
		set_err(err, errlen, "%s: unreadable program headers", path);
		ret = -EINVAL;
		goto fail;
	}
	ret = read_phdrs(c, &eh, nph);
	if (ret) {
		set_err(err, errlen, "out of memory");
		goto fail;
	}
	qsort(c->segs, c->nsegs, sizeof(*c->segs), cmp_seg);
	if (!c->nthreads) {
		char cut[128];

		if (coredump_truncated(c, cut, sizeof(cut)))
			set_err(err, errlen, "%s: it ends before its thread (NT_PRSTATUS) notes", cut);
		else
			set_err(err, errlen, "%s has no thread (NT_PRSTATUS) notes: not a Linux process core?", path);
		ret = -EINVAL;
		goto fail;
	}
	if (!c->pid)
		c->pid = c->threads[0].tid;
	c->signal = c->threads[0].signal;
	if (exe)
		substitute_exe(c, exe);
	ret = check_files(c, exe, err, errlen);
	if (ret)
		goto fail;
	*out = c;
	return 0;
fail:
	coredump_close(c);
	return ret < 0 ? ret : -EINVAL;
}

void coredump_close(struct coredump *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nopen; i++)
		if (c->open[i].fd >= 0)
			close(c->open[i].fd);
	if (c->elf)
		elf_end(c->elf);
	if (c->fd >= 0)
		close(c->fd);
	free(c->open);
	free(c->segs);
	free(c->files);
	free(c->threads);
	free(c);
}

/* ---------------------------------------------------------- accessors */

const char *coredump_psargs(const struct coredump *c) { return c->psargs_full; }
const char *coredump_warning(const struct coredump *c) { return c->warning; }
int coredump_signal(const struct coredump *c) { return c->signal; }
size_t coredump_nthreads(const struct coredump *c) { return c->nthreads; }
size_t coredump_nfiles(const struct coredump *c) { return c->nfiles; }

const struct core_thread *coredump_thread(const struct coredump *c, size_t i)
{
	return i < c->nthreads ? &c->threads[i] : NULL;
}

const struct core_thread *coredump_thread_by_tid(const struct coredump *c, int32_t tid)
{
	for (size_t i = 0; i < c->nthreads; i++)
		if (c->threads[i].tid == tid)
			return &c->threads[i];
	return NULL;
}

const struct core_file *coredump_file(const struct coredump *c, size_t i)
{
	return i < c->nfiles ? &c->files[i] : NULL;
}

int32_t coredump_tid_by_fsbase(const struct coredump *c, uint64_t fsbase)
{
	for (size_t i = 0; fsbase && i < c->nthreads; i++)
		if (c->threads[i].regs.fs_base == fsbase)
			return c->threads[i].tid;
	return 0;
}

void coredump_thread_name(const struct coredump *c, int32_t tid, char *buf, size_t len)
{
	if (!len)
		return;
	snprintf(buf, len, "%s", tid == c->pid ? c->fname : "");
}

/* -------------------------------------------------- the interpreter */

/* Does a PT_LOAD at start say executable? (The kernel dumps one per mapping,
 * with the mapping's permissions.) The entry point's file is executable in
 * any case: some producers leave the flags out. */
static bool file_executable(const struct coredump *c, const struct core_file *f)
{
	const struct segment *s = find_segment(c, f->start);

	if (s && (s->flags & PF_X))
		return true;
	return c->at_entry && f->start <= c->at_entry && c->at_entry < f->end;
}

/* Words a failed lookup for a core. */
static int locate_error(const struct coredump *c, enum pyloc_status st, const struct pyloc_result *res,
			const struct py_target *t, char *err, size_t errlen)
{
	switch (st) {
	case PYLOC_OK:
		return 0;
	case PYLOC_NOT_FOUND:
		set_err(err, errlen, "no CPython interpreter (_PyRuntime) in the files the core of PID %d maps "
			"(%s); give the program that dumped it with --exe", c->pid,
			c->nfiles ? "none of them readable here defines it" : "the core lists none");
		break;
	case PYLOC_VERSION_UNREADABLE:
		set_err(err, errlen, "the core does not hold the interpreter's version (Py_Version at 0x%llx "
			"unreadable)", (unsigned long long)res->addr);
		return -PYPROC_ENOTREADY;
	case PYLOC_NO_VERSION:
		set_err(err, errlen, "cannot tell the CPython version of %s", res->file->local);
		break;
	case PYLOC_FREE_THREADED:
		set_err(err, errlen, "the core's PID %d ran free-threaded CPython %s, which pyperf does not support yet",
			c->pid, res->version);
		break;
	case PYLOC_NO_LAYOUT:
		set_err(err, errlen, "the core's PID %d ran CPython %s, which pyperf does not support (3.8 to 3.15 are)",
			c->pid, res->version);
		break;
	case PYLOC_DEBUG_OFFSETS:
		set_err(err, errlen, "the core's CPython %s has unusable _Py_DebugOffsets: %s", res->version, res->why);
		break;
	case PYLOC_RUNTIME_UNREADABLE:
		set_err(err, errlen, "the core does not hold the interpreter state (_PyRuntime at 0x%llx unreadable)",
			(unsigned long long)t->runtime_addr);
		break;
	case PYLOC_NOT_INITIALIZED:
		set_err(err, errlen, "CPython %s was not initialized when PID %d dumped core (starting up or "
			"shutting down)", res->version, c->pid);
		break;
	}
	return -pyloc_error(st);
}

int coredump_py_target(struct coredump *c, struct py_target *t, char *err, size_t errlen)
{
	struct memsrc m = coredump_memsrc(c);
	struct pyloc_files files = { 0 };
	struct pyloc_result res;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	t->pid = c->pid;
	snprintf(t->comm, sizeof(t->comm), "%s", c->fname);
	for (size_t i = 0; i < c->nfiles && !ret; i++) {
		const struct core_file *f = &c->files[i];

		ret = pyloc_files_add(&files, f->path, f->local, f->start, f->offset, file_executable(c, f));
	}
	if (ret) {
		set_err(err, errlen, "out of memory");
		ret = -PYPROC_ENOPROC;
	} else {
		ret = locate_error(c, pylocate(&m, &files, t, &res), &res, t, err, errlen);
	}
	pyloc_files_free(&files);
	char cut[128];

	/* What is missing or wrong explains the failure better than what it led to. */
	if (ret && err && errlen && (coredump_truncated(c, cut, sizeof(cut)) || c->warning[0])) {
		char why[512];

		snprintf(why, sizeof(why), "%s", err);
		set_err(err, errlen, "%s: %s", cut[0] ? cut : c->warning, why);
	}
	return ret;
}
