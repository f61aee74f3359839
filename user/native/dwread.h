/*
 * Reading the encodings of DWARF call frame information from untrusted
 * bytes: a cursor that never reads past its end and remembers the first
 * failure, so a caller checks once after a run of reads.
 */
#ifndef PYPERF_NATIVE_DWREAD_H
#define PYPERF_NATIVE_DWREAD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dw_cur {
	const uint8_t *p, *end;
	bool err;                   /* a read ran out or met a bad value */
};

/* An n-byte (1..8) little-endian unsigned value. */
uint64_t dw_read_n(struct dw_cur *c, size_t n);
uint64_t dw_read_uleb(struct dw_cur *c);
int64_t dw_read_sleb(struct dw_cur *c);
/* A DW_EH_PE-encoded pointer; here is the link-time address of the field
 * (for DW_EH_PE_pcrel). Only the encodings .eh_frame pc ranges use. */
uint64_t dw_read_encoded(struct dw_cur *c, uint8_t enc, uint64_t here);

#endif
