/* Build ids and headers of ELF images (see elfid.h). Every offset and count
 * comes from the image and is checked before use. */
#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "target/elfid.h"

#define MAX_PHDRS ((ELFID_HEADERS_MAX - sizeof(Elf64_Ehdr)) / sizeof(Elf64_Phdr))
#define MAX_NOTE_BYTES 4096     /* a PT_NOTE segment read in search of the id */

static int read_ehdr(elfid_read_fn rd, void *ctx, Elf64_Ehdr *eh)
{
	if (rd(ctx, 0, eh, sizeof(*eh)) != sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS || eh->e_phoff > ELFID_HEADERS_MAX)
		return -1;
	return 0;
}

size_t elfid_headers(elfid_read_fn rd, void *ctx, uint8_t buf[ELFID_HEADERS_MAX])
{
	Elf64_Ehdr eh;

	if (read_ehdr(rd, ctx, &eh) != 0)
		return 0;
	size_t len = (size_t)eh.e_phoff + (size_t)eh.e_phnum * sizeof(Elf64_Phdr);

	if (len > ELFID_HEADERS_MAX)
		return 0;
	return rd(ctx, 0, buf, len) == len ? len : 0;
}

/* The build id among the notes in buf[0..len); 0 when none. */
static size_t find_in_notes(const uint8_t *buf, size_t len, uint64_t align, uint8_t id[ELFID_MAX])
{
	size_t off = 0;

	for (int steps = 0; steps < 256 && off + 12 <= len; steps++) {
		uint32_t namesz, descsz, type;

		memcpy(&namesz, buf + off, 4);
		memcpy(&descsz, buf + off + 4, 4);
		memcpy(&type, buf + off + 8, 4);
		size_t name_off = off + 12;
		size_t desc_off = name_off + ((namesz + align - 1) & ~(align - 1));

		if (namesz > len || descsz > len || desc_off > len || descsz > len - desc_off)
			return 0;
		if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(buf + name_off, "GNU", 4) == 0 &&
		    descsz > 0 && descsz <= ELFID_MAX) {
			memcpy(id, buf + desc_off, descsz);
			return descsz;
		}
		off = desc_off + ((descsz + align - 1) & ~(align - 1));
	}
	return 0;
}

size_t elfid_build_id(elfid_read_fn rd, void *ctx, uint8_t id[ELFID_MAX])
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[MAX_PHDRS];

	if (read_ehdr(rd, ctx, &eh) != 0)
		return 0;
	size_t phlen = (size_t)eh.e_phnum * sizeof(Elf64_Phdr);

	if (rd(ctx, eh.e_phoff, ph, phlen) != phlen)
		return 0;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		uint8_t notes[MAX_NOTE_BYTES];
		size_t len = ph[i].p_filesz < sizeof(notes) ? (size_t)ph[i].p_filesz : sizeof(notes);

		if (ph[i].p_type != PT_NOTE || !len)
			continue;
		len = rd(ctx, ph[i].p_offset, notes, len);
		size_t n = find_in_notes(notes, len, ph[i].p_align == 8 ? 8 : 4, id);

		if (n)
			return n;
	}
	return 0;
}

void elfid_hex(const uint8_t *id, size_t n, char *out, size_t len)
{
	if (!len)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < n && 2 * i + 2 < len; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}
