#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/strtab.h"

struct strtab_node {
	struct strtab_node *next;
	char str[];
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

void strtab_init(struct strtab *t)
{
	memset(t, 0, sizeof(*t));
	u64map_init(&t->by_hash);
}

void strtab_free(struct strtab *t)
{
	void *head;

	for (size_t it = 0; u64map_next_ptr(&t->by_hash, &it, NULL, &head);) {
		struct strtab_node *n = head;

		while (n) {
			struct strtab_node *next = n->next;

			free(n);
			n = next;
		}
	}
	u64map_free(&t->by_hash);
	memset(t, 0, sizeof(*t));
}

const char *strtab_intern(struct strtab *t, const char *s)
{
	uint64_t h = hash_str(s);
	struct strtab_node *head = u64map_get_ptr(&t->by_hash, h);

	for (struct strtab_node *n = head; n; n = n->next)
		if (strcmp(n->str, s) == 0)
			return n->str;
	size_t len = strlen(s);
	struct strtab_node *n = malloc(sizeof(*n) + len + 1);

	if (!n)
		return NULL;
	memcpy(n->str, s, len + 1);
	n->next = head;
	if (u64map_put_ptr(&t->by_hash, h, n)) {
		free(n);
		return NULL;
	}
	t->count++;
	t->bytes += len + 1;
	return n->str;
}
