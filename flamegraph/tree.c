/* The stack trie behind a flame graph: frames merged by common prefix,
 * every frame found through one hash table keyed by its path's hash. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "fg_tree.h"

#define ARENA_CHUNK  (1u << 20)
#define MAX_NODES    (UINT32_MAX - 1u)
#define MAX_NAMES    (UINT32_MAX - 1u)
#define HUGE_PAGE_MIN (2u << 20) /* tables this big ask for transparent huge pages */

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

/* The hash of a path one frame longer than the path hashed `parent`. */
static uint64_t path_extend(uint64_t parent, uint64_t name_hash)
{
	return mix64(parent * 0x9e3779b97f4a7c15ULL ^ name_hash);
}

/*
 * Big tables are mmap'd: zero-filled for free, grown with mremap without a
 * copy, and given huge pages so random probes do not miss the TLB. Under
 * AddressSanitizer they come from malloc instead, so the tests still catch
 * an access out of bounds.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TABLES_FROM_MALLOC 1
#else
#define TABLES_FROM_MALLOC 0
#endif

static void table_free(struct fg_table *tb)
{
	if (!tb->mem)
		return;
	if (TABLES_FROM_MALLOC)
		free(tb->mem);
	else
		munmap(tb->mem, tb->bytes);
	tb->mem = NULL;
	tb->bytes = 0;
}

/* Resizes to `bytes`, keeping the contents; new bytes are zero. */
static int table_resize(struct fg_table *tb, size_t bytes)
{
	void *p;

	if (TABLES_FROM_MALLOC) {
		p = realloc(tb->mem, bytes);
		if (!p)
			return -ENOMEM;
		if (bytes > tb->bytes)
			memset((char *)p + tb->bytes, 0, bytes - tb->bytes);
	} else {
		if (tb->mem)
			p = mremap(tb->mem, tb->bytes, bytes, MREMAP_MAYMOVE);
		else
			p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -ENOMEM;
		if (bytes >= HUGE_PAGE_MIN)
			madvise(p, bytes, MADV_HUGEPAGE); /* a hint; failure changes nothing */
	}
	tb->mem = p;
	tb->bytes = bytes;
	return 0;
}

/* A new zero-filled table of `count` entries of `elem` bytes. */
static int table_new(struct fg_table *tb, size_t count, size_t elem)
{
	*tb = (struct fg_table){ 0 };
	if (count > SIZE_MAX / elem)
		return -ENOMEM;
	return table_resize(tb, count * elem);
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

/* Grows a malloc'd array of `elem` bytes per entry to hold at least `need`. */
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
	struct fg_table mem;
	int err = table_new(&mem, new_cap, sizeof(struct fg_name_slot));
	if (err)
		return err;
	struct fg_name_slot *slots = mem.mem;
	size_t mask = new_cap - 1;
	for (size_t j = 0; j < t->name_slots_cap; j++) {
		const struct fg_name_slot *old = &t->name_slots[j];
		if (!old->str)
			continue;
		size_t i = old->hash & mask;
		while (slots[i].str)
			i = (i + 1) & mask;
		slots[i] = *old;
	}
	table_free(&t->name_slots_mem);
	t->name_slots_mem = mem;
	t->name_slots = slots;
	t->name_slots_cap = new_cap;
	return 0;
}

/* The interned copy of s[0..len) (whose hash_bytes is `hash64`), added when
 * new. Only new frames get here, so each distinct name is stored once
 * however many paths it appears on. */
static int name_intern(struct fg_tree *t, const char *s, size_t len, uint64_t hash64,
		       const char **out)
{
	if (len > UINT32_MAX)
		return -EOVERFLOW;
	uint32_t hash = (uint32_t)hash64;
	size_t mask = t->name_slots_cap - 1;
	size_t i = hash & mask;

	for (; t->name_slots[i].str; i = (i + 1) & mask) {
		const struct fg_name_slot *n = &t->name_slots[i];
		if (n->hash == hash && n->len == len && memcmp(n->str, s, len) == 0) {
			*out = n->str;
			return 0;
		}
	}
	if (t->nnames >= MAX_NAMES)
		return -EOVERFLOW;
	/* Keep the load at most 1/2 so probes stay short; grow before adding,
	 * so a failed grow leaves the table as it was. */
	if ((t->nnames + 1) * 2 > t->name_slots_cap) {
		int err = name_slots_rehash(t, t->name_slots_cap * 2);
		if (err)
			return err;
		mask = t->name_slots_cap - 1;
		for (i = hash & mask; t->name_slots[i].str; i = (i + 1) & mask)
			;
	}
	const char *copy = arena_copy(t, s, len);
	if (!copy)
		return -ENOMEM;
	t->name_slots[i] = (struct fg_name_slot){ .str = copy, .len = (uint32_t)len, .hash = hash };
	t->nnames++;
	*out = copy;
	return 0;
}

static int edge_slots_rehash(struct fg_tree *t, size_t new_cap)
{
	struct fg_table mem;
	int err = table_new(&mem, new_cap, sizeof(uint32_t));
	if (err)
		return err;
	uint32_t *slots = mem.mem;
	size_t mask = new_cap - 1;
	for (size_t id = 1; id < t->nnodes; id++) {
		size_t i = t->nodes[id].path_hash & mask;
		while (slots[i])
			i = (i + 1) & mask;
		slots[i] = (uint32_t)id;
	}
	table_free(&t->edge_slots_mem);
	t->edge_slots_mem = mem;
	t->edge_slots = slots;
	t->edge_slots_cap = new_cap;
	return 0;
}

/* The child of `parent` called `name` (len bytes), whose path hashes to
 * `path_hash`; 0 when there is none. */
static uint32_t child_find(const struct fg_tree *t, uint32_t parent, const char *name, uint32_t len,
			   uint64_t path_hash)
{
	size_t mask = t->edge_slots_cap - 1;

	for (size_t i = path_hash & mask; t->edge_slots[i]; i = (i + 1) & mask) {
		uint32_t id = t->edge_slots[i];
		const struct fg_node *n = &t->nodes[id];
		/* len + 1 compares the terminating NULs too: equal lengths. */
		if (n->path_hash == path_hash && n->parent == parent &&
		    memcmp(n->name, name, (size_t)len + 1) == 0)
			return id;
	}
	return 0;
}

/* Adds a child of `parent` (known to be missing). */
static int child_add(struct fg_tree *t, uint32_t parent, const char *name, uint32_t len,
		     uint64_t name_hash, uint64_t path_hash, uint32_t *child_out)
{
	const char *interned;
	int err = name_intern(t, name, len, name_hash, &interned);
	if (err)
		return err;
	if (t->nnodes >= MAX_NODES)
		return -EOVERFLOW;
	if (t->nnodes == t->nodes_cap) {
		err = table_resize(&t->nodes_mem, t->nodes_cap * 2 * sizeof(*t->nodes));
		if (err)
			return err;
		t->nodes = t->nodes_mem.mem;
		t->nodes_cap *= 2;
	}
	if ((t->nnodes + 1) * 2 > t->edge_slots_cap) {
		err = edge_slots_rehash(t, t->edge_slots_cap * 2);
		if (err)
			return err;
	}
	size_t mask = t->edge_slots_cap - 1, i = path_hash & mask;
	while (t->edge_slots[i])
		i = (i + 1) & mask;
	uint32_t id = (uint32_t)t->nnodes++;
	t->nodes[id] = (struct fg_node){
		.name = interned, .parent = parent, .depth = t->nodes[parent].depth + 1,
		.total = 0, .path_hash = path_hash,
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

	t->nodes_cap = 1024;
	t->name_slots_cap = 1024;
	t->edge_slots_cap = 4096;
	const char *root_name;
	if (table_new(&t->nodes_mem, t->nodes_cap, sizeof(*t->nodes)) ||
	    table_new(&t->name_slots_mem, t->name_slots_cap, sizeof(*t->name_slots)) ||
	    table_new(&t->edge_slots_mem, t->edge_slots_cap, sizeof(*t->edge_slots))) {
		fg_tree_free(t);
		return NULL;
	}
	t->nodes = t->nodes_mem.mem;
	t->name_slots = t->name_slots_mem.mem;
	t->edge_slots = t->edge_slots_mem.mem;
	if (name_intern(t, "all", 3, hash_bytes("all", 3, t->seed), &root_name)) {
		fg_tree_free(t);
		return NULL;
	}
	t->nodes[0] = (struct fg_node){
		.name = root_name, .parent = 0, .depth = 0, .total = 0, .path_hash = t->seed,
	};
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
	table_free(&t->nodes_mem);
	table_free(&t->name_slots_mem);
	table_free(&t->edge_slots_mem);
	free(t->path);
	free(t->scratch);
	free(t);
}

/* Prefetches the name-table slot of each frame from `from` on: they are
 * about to be interned (all frames below a new one are new). */
static void prefetch_name_slots(const struct fg_tree *t, size_t from, size_t nframes)
{
	size_t mask = t->name_slots_cap - 1;
	for (size_t i = from; i < nframes; i++)
		__builtin_prefetch(&t->name_slots[(uint32_t)t->scratch[i].name_hash & mask]);
}

int fg_tree_add(struct fg_tree *t, const char *const *frames, size_t nframes, uint64_t count)
{
	if (count == 0)
		return 0;
	if (t->nodes[0].total > UINT64_MAX - count)
		return -EOVERFLOW;
	int err = grow_array((void **)&t->path, &t->path_cap, nframes, sizeof(*t->path));
	if (!err)
		err = grow_array((void **)&t->scratch, &t->scratch_cap, nframes, sizeof(*t->scratch));
	if (err)
		return err;

	/* Sorted input repeats the previous stack's prefix: a string compare
	 * per frame finds it, no hashing. */
	size_t depth = 0;
	size_t reusable = t->path_len < nframes ? t->path_len : nframes;
	for (; depth < reusable; depth++)
		if (strcmp(t->nodes[t->path[depth]].name, frames[depth]) != 0)
			break;
	uint32_t parent = depth ? t->path[depth - 1] : 0;

	/* Hash the rest first and touch each frame's slot, then look them up:
	 * the lookups no longer wait on each other's cache misses. */
	uint64_t path_hash = t->nodes[parent].path_hash;
	size_t mask = t->edge_slots_cap - 1;
	for (size_t i = depth; i < nframes; i++) {
		struct fg_frame_scratch *f = &t->scratch[i];
		size_t len = strlen(frames[i]);
		if (len > UINT32_MAX)
			return -EOVERFLOW;
		f->len = (uint32_t)len;
		f->name_hash = hash_bytes(frames[i], len, t->seed);
		path_hash = path_extend(path_hash, f->name_hash);
		f->path_hash = path_hash;
		__builtin_prefetch(&t->edge_slots[path_hash & mask]);
	}
	/* Then the node in each slot (likely the frame itself). */
	for (size_t i = depth; i < nframes; i++) {
		uint32_t id = t->edge_slots[t->scratch[i].path_hash & mask];
		__builtin_prefetch(&t->nodes[id]);
	}
	bool found = true;
	for (; depth < nframes; depth++) {
		const struct fg_frame_scratch *f = &t->scratch[depth];
		uint32_t child = found ? child_find(t, parent, frames[depth], f->len, f->path_hash) : 0;
		if (!child) {
			if (found) {
				/* Below a new frame everything is new: no more
				 * lookups, but every name gets interned. */
				found = false;
				prefetch_name_slots(t, depth, nframes);
			}
			err = child_add(t, parent, frames[depth], f->len, f->name_hash, f->path_hash, &child);
			if (err) {
				t->path_len = depth; /* what is in path[] is still right */
				return err;
			}
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

uint32_t fg_tree_child(const struct fg_tree *t, uint32_t parent, const char *name)
{
	size_t len = strlen(name);

	if (parent >= t->nnodes || len > UINT32_MAX)
		return FG_NO_FRAME;
	uint64_t path_hash = path_extend(t->nodes[parent].path_hash, hash_bytes(name, len, t->seed));
	uint32_t id = child_find(t, parent, name, (uint32_t)len, path_hash);

	return id ? id : FG_NO_FRAME;
}

uint64_t fg_tree_frame_total(const struct fg_tree *t, uint32_t frame)
{
	return frame < t->nnodes ? t->nodes[frame].total : 0;
}

uint64_t fg_tree_total(const struct fg_tree *t)
{
	return t->nodes[0].total;
}

size_t fg_tree_frames(const struct fg_tree *t)
{
	return t->nnodes - 1;
}
