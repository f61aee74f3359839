#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/frametab.h"
#include "util/utf8.h"

/* Names are kept to this many bytes with the NUL, as Python names are
 * (NAME_MAX_BYTES in user/python/symbolize.c). */
#define NAME_MAX_BYTES 1024

void frametab_init(struct frametab *t)
{
	strtab_init(&t->strings);
	u64map_init(&t->meta);
}

void frametab_free(struct frametab *t)
{
	void *m;

	for (size_t it = 0; u64map_next_ptr(&t->meta, &it, NULL, &m);)
		free(m);
	u64map_free(&t->meta);
	strtab_free(&t->strings);
}

static const char *remember(struct frametab *t, const char *label, const struct frame_meta *m)
{
	const char *l = strtab_intern(&t->strings, label);

	if (!l || u64map_get(&t->meta, u64map_key_of(l)))
		return l;
	struct frame_meta *copy = malloc(sizeof(*copy));

	if (!copy)
		return NULL;
	*copy = *m;
	if (u64map_put_ptr(&t->meta, u64map_key_of(l), copy)) {
		free(copy);
		return NULL;
	}
	return l;
}

const char *frametab_python(struct frametab *t, const char *name, const char *file, int line, int firstline)
{
	struct frame_meta m = {
		.name = strtab_intern(&t->strings, name),
		.file = strtab_intern(&t->strings, file),
		.line = line,
		.firstline = firstline,
		.kind = FRAME_PYTHON,
		.build_id = "",
	};
	size_t cap = strlen(name) + strlen(file) + 32;
	char *label = malloc(cap);
	const char *out;

	if (!m.name || !m.file || !label) {
		free(label);
		return NULL;
	}
	if (line >= 0)
		snprintf(label, cap, "%s (%s:%d)", name, file, line);
	else
		snprintf(label, cap, "%s (%s)", name, file);
	out = remember(t, label, &m);
	free(label);
	return out;
}

/*
 * A symbol or path read from a target's file is hostile: any bytes, any
 * length. It is made what a Python name already is when it gets here
 * (pystr_to_utf8): valid UTF-8, ill-formed bytes as U+FFFD, at most
 * NAME_MAX_BYTES - 1 bytes, a longer one cut on a character boundary with
 * "..." appended. So every writer sees the same text for both kinds, and
 * control characters and separators are left to each writer's escapes.
 */
static void clean_name(const char *s, char out[NAME_MAX_BYTES])
{
	const size_t room = NAME_MAX_BYTES - 1, n = strlen(s);

	if (utf8_sanitized_len(s, n) <= room) {
		out[utf8_sanitize(s, n, out)] = '\0';
		return;
	}
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_next((const unsigned char *)s + i, n - i, &cp);

		if (o + utf8_encoded_len(cp) > room - 3)
			break;
		o += utf8_encode(cp, out + o);
		i += k;
	}
	memcpy(out + o, "...", 4);
}

const char *frametab_native(struct frametab *t, const char *symbol, const char *file, uint64_t address,
			    const char *build_id, bool kernel)
{
	char sym[NAME_MAX_BYTES], path[NAME_MAX_BYTES];

	clean_name(symbol ? symbol : "", sym);
	clean_name(file ? file : "", path);
	symbol = sym;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	bool named = *symbol;
	struct frame_meta m = {
		.file = strtab_intern(&t->strings, path),
		.line = -1,
		.firstline = -1,
		.kind = kernel ? FRAME_KERNEL : FRAME_NATIVE,
		.address = address,
		.build_id = strtab_intern(&t->strings, build_id ? build_id : ""),
	};
	size_t cap = (named ? strlen(symbol) : 0) + strlen(base) + 40;
	char *label = malloc(cap);
	const char *out = NULL;

	if (!label || !m.file || !m.build_id)
		goto done;
	if (kernel)
		snprintf(label, cap, "%s [kernel]", named ? symbol : "[unknown]");
	else if (named)
		snprintf(label, cap, "%s (%s)", symbol, *base ? base : "?");
	else
		snprintf(label, cap, "%s+0x%" PRIx64, *base ? base : "?", address);
	m.name = strtab_intern(&t->strings, named ? symbol : label);
	if (m.name)
		out = remember(t, label, &m);
done:
	free(label);
	return out;
}

const char *frametab_pseudo(struct frametab *t, const char *label)
{
	const char *l = strtab_intern(&t->strings, label);
	struct frame_meta m = { .name = l, .file = "", .line = -1, .firstline = -1, .kind = FRAME_PSEUDO,
				.build_id = "" };

	return l ? remember(t, l, &m) : NULL;
}

const char *frametab_label(struct frametab *t, const char *label, const struct frame_meta *m)
{
	const char *l = strtab_intern(&t->strings, label);

	if (!l || u64map_get(&t->meta, u64map_key_of(l)))
		return l;
	struct frame_meta copy = *m;

	copy.name = m->name ? strtab_intern(&t->strings, m->name) : l;
	copy.file = strtab_intern(&t->strings, m->file ? m->file : "");
	copy.build_id = strtab_intern(&t->strings, m->build_id ? m->build_id : "");
	if (!copy.name || !copy.file || !copy.build_id)
		return NULL;
	return remember(t, l, &copy);
}

const struct frame_meta *frametab_meta(const struct frametab *t, const char *label)
{
	return u64map_get_ptr(&t->meta, u64map_key_of(label));
}
