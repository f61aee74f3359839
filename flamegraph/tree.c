/* The stack trie behind a flame graph: frames merged by common prefix,
 * children found through one hash table keyed by (parent, name). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fg_tree.h"

#define ARENA_CHUNK  (1u << 20)
#define MAX_NODES    (UINT32_MAX - 1u)
#define MAX_NAMES    (UINT32_MAX - 1u)

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Word-at-a-time hash of a byte string; quality is enough for a table with
 * a random seed, speed matters more (every frame of every line). */
static uint64_t hash_bytes(const char *s, size_t len, uint64_t seed)
{
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
		s += 8;
		len -= 8;
	}
	uint64_t tail = 0;
	memcpy(&tail, s, len);
	return mix64(h ^ tail);
}

static uint64_t edge_hash(const struct fg_tree *t, uint32_t parent, uint32_t name)
{
	return mix64(((uint64_t)parent << 32 | name) ^ t->seed);
}

static const char *arena_copy(struct fg_tree *t, const char *s, size_t len)
{
	struct fg_arena_chunk *c = t->arena;

	if (!c || c->cap - c->used < len + 1) {
		size_t cap = len + 1 > ARENA_CHUNK ? len + 1 : ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = t->arena;
		c->used = 0;
		c->cap = cap;
		t->arena = c;
	}
	char *dst = c->data + c->used;
	memcpy(dst, s, len);
	dst[len] = '\0';
	c->used += len + 1;
	return dst;
}

/* Grows an array of `elem` bytes per entry to hold at least `need`. */
static int grow_array(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t new_cap = *cap ? *cap : 1024;
	while (new_cap < need)
		new_cap *= 2;
	if (new_cap > SIZE_MAX / elem)
		return -ENOMEM;
	void *grown = realloc(*arr, new_cap * elem);
	if (!grown)
		return -ENOMEM;
	*arr = grown;
	*cap = new_cap;
	return 0;
}

static int name_slots_rehash(struct fg_tree *t, size_t new_cap)
{
	uint32_t *slots = calloc(new_cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	size_t mask = new_cap - 1;
	for (size_t id = 0; id < t->nnames; id++) {
		size_t i = t->names[id].hash & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint32_t)id + 1;
	}
	free(t->name_slots);
	t->name_slots = slots;
	t->name_slots_cap = new_cap;
	return 0;
}

/* The index of `s` in the name table, adding it when new. */
static int name_intern(struct fg_tree *t, const char *s, size_t len, uint32_t *id_out)
{
	if (len > UINT32_MAX)
		return -EOVERFLOW;
	uint32_t hash = (uint32_t)hash_bytes(s, len, t->seed);
	size_t mask = t->name_slots_cap - 1;
	size_t i = hash & mask;

	for (; t->name_slots[i]; i = (i + 1) & mask) {
		const struct fg_name *n = &t->names[t->name_slots[i] - 1];
		if (n->hash == hash && n->len == len && memcmp(n->str, s, len) == 0) {
			*id_out = t->name_slots[i] - 1;
			return 0;
		}
	}
	if (t->nnames >= MAX_NAMES)
		return -EOVERFLOW;
	int err = grow_array((void **)&t->names, &t->names_cap, t->nnames + 1, sizeof(*t->names));
	if (err)
		return err;
	/* Keep the load at most 1/2 so probes stay short; grow before adding,
	 * so a failed grow leaves the table as it was. */
	if ((t->nnames + 1) * 2 > t->name_slots_cap) {
		err = name_slots_rehash(t, t->name_slots_cap * 2);
		if (err)
			return err;
		mask = t->name_slots_cap - 1;
		for (i = hash & mask; t->name_slots[i]; i = (i + 1) & mask)
			;
	}
	const char *copy = arena_copy(t, s, len);
	if (!copy)
		return -ENOMEM;
	uint32_t id = (uint32_t)t->nnames++;
	t->names[id] = (struct fg_name){ .str = copy, .len = (uint32_t)len, .hash = hash };
	t->name_slots[i] = id + 1;
	*id_out = id;
	return 0;
}

static int edge_slots_rehash(struct fg_tree *t, size_t new_cap)
{
	uint32_t *slots = calloc(new_cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	size_t mask = new_cap - 1;
	for (size_t id = 1; id < t->nnodes; id++) {
		const struct fg_node *n = &t->nodes[id];
		size_t i = edge_hash(t, n->parent, n->name) & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint32_t)id;
	}
	free(t->edge_slots);
	t->edge_slots = slots;
	t->edge_slots_cap = new_cap;
	return 0;
}

/* The child of `parent` called `name`, created when missing. */
static int child_get(struct fg_tree *t, uint32_t parent, uint32_t name, uint32_t *child_out)
{
	size_t mask = t->edge_slots_cap - 1;
	size_t i = edge_hash(t, parent, name) & mask;

	for (; t->edge_slots[i]; i = (i + 1) & mask) {
		const struct fg_node *n = &t->nodes[t->edge_slots[i]];
		if (n->parent == parent && n->name == name) {
			*child_out = t->edge_slots[i];
			return 0;
		}
	}
	if (t->nnodes >= MAX_NODES)
		return -EOVERFLOW;
	int err = grow_array((void **)&t->nodes, &t->nodes_cap, t->nnodes + 1, sizeof(*t->nodes));
	if (err)
		return err;
	if ((t->nnodes + 1) * 2 > t->edge_slots_cap) {
		err = edge_slots_rehash(t, t->edge_slots_cap * 2);
		if (err)
			return err;
		mask = t->edge_slots_cap - 1;
		for (i = edge_hash(t, parent, name) & mask; t->edge_slots[i]; i = (i + 1) & mask)
			;
	}
	uint32_t id = (uint32_t)t->nnodes++;
	t->nodes[id] = (struct fg_node){
		.name = name, .parent = parent, .depth = t->nodes[parent].depth + 1, .total = 0,
	};
	t->edge_slots[i] = id;
	*child_out = id;
	return 0;
}

struct fg_tree *fg_tree_new(void)
{
	struct fg_tree *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	t->seed = mix64((uint64_t)(uintptr_t)t ^ (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32));

	t->name_slots_cap = 1024;
	t->edge_slots_cap = 4096;
	t->name_slots = calloc(t->name_slots_cap, sizeof(*t->name_slots));
	t->edge_slots = calloc(t->edge_slots_cap, sizeof(*t->edge_slots));
	uint32_t root_name;
	if (!t->name_slots || !t->edge_slots ||
	    grow_array((void **)&t->nodes, &t->nodes_cap, 1, sizeof(*t->nodes)) ||
	    name_intern(t, "all", 3, &root_name)) {
		fg_tree_free(t);
		return NULL;
	}
	t->nodes[0] = (struct fg_node){ .name = root_name, .parent = 0, .depth = 0, .total = 0 };
	t->nnodes = 1;
	return t;
}

void fg_tree_free(struct fg_tree *t)
{
	if (!t)
		return;
	while (t->arena) {
		struct fg_arena_chunk *next = t->arena->next;
		free(t->arena);
		t->arena = next;
	}
	free(t->nodes);
	free(t->names);
	free(t->name_slots);
	free(t->edge_slots);
	free(t->path);
	free(t);
}

int fg_tree_add(struct fg_tree *t, const char *const *frames, size_t nframes, uint64_t count)
{
	if (count == 0)
		return 0;
	if (t->nodes[0].total > UINT64_MAX - count)
		return -EOVERFLOW;
	int err = grow_array((void **)&t->path, &t->path_cap, nframes, sizeof(*t->path));
	if (err)
		return err;

	/* Reuse the previous stack's prefix while the names agree. */
	uint32_t parent = 0;
	size_t depth = 0;
	size_t reusable = t->path_len < nframes ? t->path_len : nframes;
	for (; depth < reusable; depth++) {
		uint32_t id = t->path[depth];
		if (strcmp(t->names[t->nodes[id].name].str, frames[depth]) != 0)
			break;
		parent = id;
	}
	for (; depth < nframes; depth++) {
		uint32_t name, child;
		err = name_intern(t, frames[depth], strlen(frames[depth]), &name);
		if (!err)
			err = child_get(t, parent, name, &child);
		if (err) {
			t->path_len = depth; /* what is in path[] is still right */
			return err;
		}
		t->path[depth] = child;
		parent = child;
	}
	t->path_len = nframes;

	/* No frame can overflow: each is at most the root's total. */
	t->nodes[0].total += count;
	for (size_t i = 0; i < nframes; i++)
		t->nodes[t->path[i]].total += count;
	return 0;
}

uint64_t fg_tree_total(const struct fg_tree *t)
{
	return t->nodes[0].total;
}

size_t fg_tree_frames(const struct fg_tree *t)
{
	return t->nnodes - 1;
}
