#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/frametab.h"

void frametab_init(struct frametab *t)
{
	strtab_init(&t->strings);
	u64map_init(&t->meta);
}

void frametab_free(struct frametab *t)
{
	for (size_t i = 0; i < t->meta.cap; i++)
		if (t->meta.used[i])
			free((void *)(uintptr_t)t->meta.vals[i]);
	u64map_free(&t->meta);
	strtab_free(&t->strings);
}

static const char *remember(struct frametab *t, const char *label, const struct frame_meta *m)
{
	const char *l = strtab_intern(&t->strings, label);

	if (!l || u64map_get(&t->meta, (uint64_t)(uintptr_t)l))
		return l;
	struct frame_meta *copy = malloc(sizeof(*copy));

	if (!copy)
		return NULL;
	*copy = *m;
	if (u64map_put(&t->meta, (uint64_t)(uintptr_t)l, (uint64_t)(uintptr_t)copy)) {
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

const char *frametab_pseudo(struct frametab *t, const char *label)
{
	const char *l = strtab_intern(&t->strings, label);
	struct frame_meta m = { .name = l, .file = "", .line = -1, .firstline = -1 };

	return l ? remember(t, l, &m) : NULL;
}

const struct frame_meta *frametab_meta(const struct frametab *t, const char *label)
{
	uint64_t *v = u64map_get(&t->meta, (uint64_t)(uintptr_t)label);

	return v ? (const struct frame_meta *)(uintptr_t)*v : NULL;
}
