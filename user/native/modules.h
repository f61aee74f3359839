/*
 * The files mapped into the target (internal to user/native/: modules.c,
 * symbols.c, unwind.c): the mappings, sorted by address, and one module
 * per file, loaded on first use with its .eh_frame index and its function
 * symbols.
 */
#ifndef PYPERF_NATIVE_MODULES_H
#define PYPERF_NATIVE_MODULES_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <gelf.h>

#include "native/cfi.h"
#include "target/elfsym.h"
#include "target/memsrc.h"

struct coredump;
struct native_frame;

struct mapping {
	uint64_t start, end, offset;
	size_t module;              /* index into modules */
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
	struct eh_frame eh;         /* .eh_frame (bytes owned by ef), or empty */
	struct cfi_fde *fdes;
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

/* The mapping holding addr, or NULL. */
const struct mapping *find_mapping(const struct native_ctx *c, uint64_t addr);
/* Module mi, loaded on first use; NULL when its file cannot be read. */
struct module *load_module(struct native_ctx *c, size_t mi);

/* The first section of e with this type and name (*sh: its header), or NULL. */
Elf_Scn *module_section(Elf *e, Elf64_Word type, const char *name, GElf_Shdr *sh);

/* symbols.c, shared with nfiles.c: calls fn for each defined function
 * symbol (STT_FUNC or STT_GNU_IFUNC, nonzero value and size, named) of e's
 * sections of this type (SHT_SYMTAB, SHT_DYNSYM), at most MAX_SYMS per
 * section, until fn returns false. */
typedef bool (*symbol_fn)(void *ctx, const GElf_Sym *s, const char *name);
void symbols_each(Elf *e, Elf64_Word type, symbol_fn fn, void *ctx);
/* Whether e has a nonempty section of this type. */
bool symbols_has_section(Elf *e, Elf64_Word type);
/* Opens the separate debug file of build id hex (lowercase) into dbg: the
 * target's (/proc/PID/root/usr/lib/debug/.build-id/..., when pid > 0), else
 * ours. Returns 0 or -errno. */
int symbols_open_debug(const char *hex, pid_t pid, struct elf_file *dbg);

/* symbols.c: loads m's function symbols (.symtab, a debug file's, .dynsym). */
void symbols_load(struct native_ctx *c, struct module *m);
/* The function symbol of m covering link-time address addr, or NULL. */
const struct sym *symbols_find(const struct module *m, uint64_t addr);
/* Fills nf's symbol, file, offset and eval mark for the code at lookup
 * (nf->pc, or the call before a return address). */
void symbols_describe(struct native_ctx *c, struct native_frame *nf, uint64_t lookup);

#endif
