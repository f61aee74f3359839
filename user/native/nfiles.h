/*
 * record/top --native: the ELF files mapped by the sampled processes, one
 * cache per session shared by every process (with -a, hundreds of them map
 * the same libc and libpython), and per process its executable mappings,
 * so that a sample's native pcs turn into labels with a binary search or
 * two. (dump --native has its own per-process unwinder: native.h.)
 *
 * A file is known by its identity as the target sees it (device, inode,
 * size, mtime: the same path in two containers can be two files, and two
 * paths one file). Its headers and build id are read when a process first
 * maps it; its function symbols when a pc in it is first labelled, and
 * kept for the session. Not thread-safe: one thread uses a cache.
 */
#ifndef PYPERF_NFILES_H
#define PYPERF_NFILES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "target/elfid.h"
#include "target/elfsym.h"

struct frametab;

/* A link-time address range [lo, hi) of a file. */
struct nrange {
	uint64_t lo, hi;
};

/* A function symbol: [lo, lo + size), name at names + name. */
struct nsym {
	uint64_t lo;
	uint32_t size;
	uint32_t name;
};

#define NFILE_MAX_EVAL 4

struct nfile {
	/* Identity, from stat of the file as the target sees it. */
	uint64_t dev, ino, size;
	int64_t mtime_ns;
	char *path;                    /* as the target sees it (maps); may end in " (deleted)" */
	char build_id[2 * ELFID_MAX + 1]; /* hex; "" when it has none */
	size_t nloads;                 /* PT_LOAD headers, for each mapping's bias */
	struct elf_load loads[ELF_MAX_LOADS];

	/* Function symbols, sorted by lo, loaded on first need (see
	 * nfile_load_symbols); none past the session's budget. */
	bool syms_tried;
	struct nsym *syms;
	size_t nsyms;
	char *names;
	/* The evaluation function _PyEval_EvalFrameDefault, its cold parts
	 * (".cold": the same native frame, split by the compiler) included. */
	struct nrange eval[NFILE_MAX_EVAL];
	size_t neval;
	/* 3.14+ clang tail-call interpreters: the _TAIL_CALL_* opcode handlers
	 * (frames above the eval function's; not eval frames), sorted. */
	struct nrange *tail_calls;
	size_t ntail_calls;

	/* Reserved for the sampler (its unwind table in unwind_rows); nfiles
	 * sets them to -1, 0, false and never reads them. */
	int64_t table_first;
	uint32_t table_count;
	bool table_tried;

	/* Where the file was last seen mapped, for nfile_open. */
	pid_t seen_pid;
	uint64_t seen_start, seen_end;
	struct nfile *same_hash;       /* next file with the same identity hash */
	struct nfile *next;            /* every file of the cache */
};

/* An executable file mapping: pc in [start, end) is at link-time address
 * pc - bias of file. */
struct nmapping {
	uint64_t start, end;
	uint64_t bias;
	uint64_t offset;               /* file offset of start */
	struct nfile *file;
};

struct nproc {
	pid_t pid;
	struct nmapping *maps;         /* sorted by start, not overlapping */
	size_t n;
};

struct nfiles;

struct nfiles *nfiles_new(void);   /* NULL when out of memory */
void nfiles_free(struct nfiles *c);
/* Files in the cache, and bytes their symbols take. */
size_t nfiles_count(const struct nfiles *c);
size_t nfiles_symbol_bytes(const struct nfiles *c);

/*
 * (Re)reads pid's executable file mappings from /proc/PID/maps, adding the
 * files not yet cached. *out is zeroed or a nproc loaded before: on
 * success its old mappings are freed and replaced; on failure it is left
 * as it was. Returns 0 or -errno (-ENOENT/-ESRCH: the process is gone).
 * Mappings whose file cannot be identified or is not a 64-bit ELF file
 * are left out (their pcs label as "[unknown native]").
 */
int nproc_load(struct nfiles *c, pid_t pid, struct nproc *out);
void nproc_free(struct nproc *p);
/* The mapping holding pc, or NULL. */
const struct nmapping *nproc_find(const struct nproc *p, uint64_t pc);

/* A read-only descriptor of the file as pid sees it (else as the process
 * that last mapped it, else at its path here), checked to be the same
 * file (identity); or -errno. The caller closes it. */
int nfile_open(const struct nfile *f, pid_t pid);

/* Loads f's function symbols once (.symtab, else the .symtab of the
 * separate debug file /usr/lib/debug/.build-id/xx/yyyy.debug, the
 * target's or ours, else .dynsym) and its eval and tail-call ranges,
 * reading the file as pid sees it. Returns 0, or -errno when the file
 * could not be read (not retried). */
int nfile_load_symbols(struct nfiles *c, struct nfile *f, pid_t pid);
/* Whether link-time address addr of f is in the evaluation function, or
 * in a tail-call handler. Symbols must be loaded. */
bool nfile_in_eval(const struct nfile *f, uint64_t addr);
bool nfile_in_tail_call(const struct nfile *f, uint64_t addr);
/* The symbol of f covering link-time address addr, or NULL. */
const struct nsym *nfile_symbol(const struct nfile *f, uint64_t addr);

/*
 * The label of native pc of process p, interned in ft: "symbol (basename)"
 * or "basename+0xADDR" (link-time address) when no symbol covers it, or
 * the pseudo-frame "[unknown native]" for a pc in no known mapping. exact:
 * pc is the interrupted one; else it is a return address, looked up at
 * pc - 1 (the call). *eval (may be NULL) is set when the pc is in the
 * evaluation function. NULL only when out of memory.
 */
const char *nproc_label(struct nfiles *c, const struct nproc *p, uint64_t pc, bool exact, struct frametab *ft,
			bool *eval);

/* Kernel symbols from /proc/kallsyms, read once (empty when the addresses
 * are hidden: kptr_restrict, no CAP_SYSLOG). NULL when out of memory. */
struct ksyms;
struct ksyms *ksyms_load(void);
void ksyms_free(struct ksyms *k);
size_t ksyms_count(const struct ksyms *k);
/* "symbol [kernel]", or "[unknown] [kernel]"; NULL when out of memory. */
const char *ksym_label(const struct ksyms *k, uint64_t addr, struct frametab *ft);

#endif
