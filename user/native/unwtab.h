/*
 * Compact unwind tables for the BPF unwinder (--native, issue #18): one
 * ELF file's .eh_frame and .debug_frame turned into the struct unwind_row
 * array of bpf/pyperf.h, sorted by link-time address, by running each
 * FDE's instructions through cfi.c's interpreter and keeping one row per
 * change of the CFA rule or the rbp rule. And a cache of them, keyed by
 * file identity, so a file's table is built once and memory stays bounded.
 */
#ifndef PYPERF_NATIVE_UNWTAB_H
#define PYPERF_NATIVE_UNWTAB_H
#include <stddef.h>
#include <stdint.h>

#include "pyperf.h"
#include "native/cfi.h"
#include "target/elfid.h"
#include "util/u64map.h"

#define UNWTAB_MAX_ROWS (4u << 20)  /* rows per file; a file needing more gets no table */

struct unwtab {
	struct unwind_row *rows;    /* sorted by addr, strictly; malloc'd */
	size_t n;
	size_t fdes;                /* FDEs read */
	size_t fdes_skipped;        /* of those, FDEs not (fully) understood: their pcs
				     * from the first unknown instruction get UNW_CFA_UNSUPPORTED */
};

/*
 * The table of the ELF file open at fd (x86_64, ET_EXEC or ET_DYN).
 * Returns 0 (a file without unwind information gets an empty table) or
 * -errno with a one-line reason in err: -ENOEXEC not such a file,
 * -EOVERFLOW its addresses do not fit 32 bits, -E2BIG more than
 * UNWTAB_MAX_ROWS rows, -ENOMEM.
 */
int unwtab_build_fd(int fd, struct unwtab *out, char *err, size_t errlen);

/* The same from sections already in memory (the unit test's and the
 * fuzzer's entry): eh an .eh_frame at its link-time address, debug_frame
 * a .debug_frame (addr unused); either may be NULL or empty. */
int unwtab_build_frames(const struct eh_frame *eh, const struct eh_frame *debug_frame, struct unwtab *out,
			char *err, size_t errlen);

void unwtab_free(struct unwtab *t);

/* The last row with row.addr <= addr, or NULL: the binary search the BPF
 * program does, for tests and userspace checks. */
const struct unwind_row *unwtab_lookup(const struct unwind_row *rows, size_t n, uint32_t addr);

/* ------------------------------------------------------------ cache */

/* What identifies a file: its GNU build id, else where it is and its
 * size and modification time. */
struct unwtab_key {
	uint8_t build_id[ELFID_MAX];
	size_t build_id_len;
	uint64_t dev, ino, size, mtime_ns; /* used when build_id_len is 0 */
};

struct unwtab_entry;

struct unwtab_cache {
	struct u64map map;          /* hash of the key -> struct unwtab_entry chain */
	size_t bytes;               /* of the rows of every table held */
	size_t max_bytes;
};

/* The key of the file open at fd: 0 or -errno (fstat failed). */
int unwtab_key_of_fd(int fd, struct unwtab_key *k);

void unwtab_cache_init(struct unwtab_cache *c, size_t max_bytes);
void unwtab_cache_free(struct unwtab_cache *c);

/*
 * The table of the file open at fd, built on its first request and kept;
 * a later request for the same file (same key) returns it without reading
 * the file. NULL with *err set (-errno as unwtab_build_fd, or -ENOSPC when
 * the table did not fit in max_bytes): the file gets no table, now or at a
 * later request (failures are remembered too).
 */
const struct unwtab *unwtab_cache_get_fd(struct unwtab_cache *c, int fd, int *err);

/* The entry for k: 1 and *t (NULL when the file gets no table, *err why),
 * or 0 when k was never asked for. */
int unwtab_cache_find(const struct unwtab_cache *c, const struct unwtab_key *k, const struct unwtab **t, int *err);

/* Adds k's table, taking *t's rows (t emptied; freed when over the bound).
 * Returns the table now held, or NULL (*err: -ENOSPC, -ENOMEM). build_err
 * nonzero: remembers that k has no table for that reason. */
const struct unwtab *unwtab_cache_put(struct unwtab_cache *c, const struct unwtab_key *k, struct unwtab *t,
				      int build_err, int *err);

#endif
