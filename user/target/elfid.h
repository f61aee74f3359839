/*
 * What identifies an ELF image, read through a callback so that the same
 * code reads a file on disk and the copy of its first page a core holds:
 * the GNU build id, and the ELF and program headers.
 */
#ifndef PYPERF_ELFID_H
#define PYPERF_ELFID_H
#include <stddef.h>
#include <stdint.h>

#define ELFID_MAX 64            /* longest build id kept (GNU ld writes 20 bytes) */
#define ELFID_HEADERS_MAX 4096  /* ELF header + program headers compared at most */

/* Reads len bytes at offset off of the image; returns how many it read. */
typedef size_t (*elfid_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

/* The NT_GNU_BUILD_ID of a 64-bit ELF image; returns its length, 0 when the
 * image has none or it is unreadable. */
size_t elfid_build_id(elfid_read_fn rd, void *ctx, uint8_t id[ELFID_MAX]);

/* The ELF header and program headers of a 64-bit ELF image into buf;
 * returns their length, 0 when unreadable or not such an image. */
size_t elfid_headers(elfid_read_fn rd, void *ctx, uint8_t buf[ELFID_HEADERS_MAX]);

/* id as lowercase hex into out (2 * n + 1 bytes at most, cut to len). */
void elfid_hex(const uint8_t *id, size_t n, char *out, size_t len);

#endif
