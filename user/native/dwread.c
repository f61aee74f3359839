/* Bounded readers of DWARF encodings (see dwread.h). */
#include <string.h>

#include "native/dwarf.h"
#include "native/dwread.h"

uint64_t dw_read_n(struct dw_cur *c, size_t n)
{
	uint64_t v = 0;

	if (c->err || c->p > c->end || (size_t)(c->end - c->p) < n) {
		c->err = true;
		return 0;
	}
	memcpy(&v, c->p, n); /* little endian host and target */
	c->p += n;
	return v;
}

/* The bits of a LEB128 number; *shift and *last tell a signed reader
 * where the number ended and its last byte. */
static uint64_t read_leb(struct dw_cur *c, unsigned *shift, uint8_t *last)
{
	uint64_t v = 0;

	*shift = 0;
	*last = 0;
	while (!c->err) {
		if (c->p >= c->end) {
			c->err = true;
			break;
		}
		uint8_t b = *c->p++;

		*last = b;
		if (*shift < 64)
			v |= (uint64_t)(b & 0x7f) << *shift;
		*shift += 7;
		if (!(b & 0x80))
			break;
		if (*shift > 70)
			c->err = true;
	}
	return v;
}

uint64_t dw_read_uleb(struct dw_cur *c)
{
	unsigned shift;
	uint8_t last;

	return read_leb(c, &shift, &last);
}

int64_t dw_read_sleb(struct dw_cur *c)
{
	unsigned shift;
	uint8_t last;
	uint64_t v = read_leb(c, &shift, &last);

	if (shift < 64 && (last & 0x40))
		v |= ~0ull << shift;
	return (int64_t)v;
}

/* The value of one DW_EH_PE format; false for a format we do not know. */
static bool read_format(struct dw_cur *c, uint8_t format, uint64_t *v)
{
	switch (format) {
	case DW_EH_PE_absptr: *v = dw_read_n(c, 8); break;
	case DW_EH_PE_uleb128: *v = dw_read_uleb(c); break;
	case DW_EH_PE_udata2: *v = dw_read_n(c, 2); break;
	case DW_EH_PE_udata4: *v = dw_read_n(c, 4); break;
	case DW_EH_PE_udata8: *v = dw_read_n(c, 8); break;
	case DW_EH_PE_sleb128: *v = (uint64_t)dw_read_sleb(c); break;
	case DW_EH_PE_sdata2: *v = (uint64_t)(int64_t)(int16_t)dw_read_n(c, 2); break;
	case DW_EH_PE_sdata4: *v = (uint64_t)(int64_t)(int32_t)dw_read_n(c, 4); break;
	case DW_EH_PE_sdata8: *v = dw_read_n(c, 8); break;
	default: return false;
	}
	return true;
}

uint64_t dw_read_encoded(struct dw_cur *c, uint8_t enc, uint64_t here)
{
	uint64_t v;

	if (enc == DW_EH_PE_omit)
		return 0;
	if (!read_format(c, enc & DW_EH_PE_FORMAT_MASK, &v)) {
		c->err = true;
		return 0;
	}
	switch (enc & DW_EH_PE_APPL_MASK) {
	case DW_EH_PE_absptr: break;
	case DW_EH_PE_pcrel: v += here; break;
	default: c->err = true; return 0; /* textrel, datarel, funcrel: not in .eh_frame FDEs */
	}
	if (enc & DW_EH_PE_indirect)
		c->err = true; /* indirect: not for pc ranges */
	return v;
}
