/* Private to flamegraph/: the layout of struct fg_tree, shared by the trie
 * (tree.c) and the SVG writer (svg.c). */
#ifndef PYPERF_FG_TREE_H
#define PYPERF_FG_TREE_H

#include <stdint.h>
#include <stddef.h>

#include "flamegraph.h"

/* Node 0 is the root ("all"). A node's parent always has a smaller index,
 * because a node is created after its parent. 32 bytes: a 1M-line profile
 * can have millions of frames. */
struct fg_node {
	const char *name;   /* NUL-terminated, interned: one copy per distinct name */
	uint32_t parent;    /* node index; the root is its own parent */
	uint32_t depth;     /* root 0, its children 1, ... */
	uint64_t total;     /* samples in this frame and everything it called */
	uint64_t path_hash; /* hash of the names from the root down to this frame */
};

/* A slot of the name table; str == NULL when empty. */
struct fg_name_slot {
	const char *str;    /* in the tree's arena */
	uint32_t len;
	uint32_t hash;      /* low bits of the name's hash: most mismatches
	                       are seen without touching the string */
};

struct fg_arena_chunk {
	struct fg_arena_chunk *next;
	size_t used, cap;
	char data[];
};

/* A zero-filled array too big for malloc to be a good idea: mmap'd, with
 * transparent huge pages asked for (random probes miss the TLB otherwise). */
struct fg_table {
	void *mem;
	size_t bytes;
};

struct fg_tree {
	struct fg_node *nodes;
	size_t nnodes, nodes_cap;
	struct fg_table nodes_mem;

	/* Interned names: each distinct frame name is stored once. */
	struct fg_name_slot *name_slots; /* open addressing, power-of-two size */
	size_t nnames, name_slots_cap;
	struct fg_table name_slots_mem;
	struct fg_arena_chunk *arena;

	/* Every node in one table keyed by the hash of its path (the names
	 * from the root down). The key does not depend on the parent's node
	 * index, so the slots of all frames of a stack are known before any
	 * is found: their cache misses overlap instead of forming a chain. */
	uint32_t *edge_slots;   /* node index, 0 = empty (the root is in no slot) */
	size_t edge_slots_cap;  /* power of two */
	struct fg_table edge_slots_mem;

	/* The previous stack's path (node indices, depth 1..n): folded files
	 * are usually sorted, so a new line mostly repeats the last prefix
	 * and those frames need a string compare, not a hash lookup. */
	uint32_t *path;
	size_t path_len, path_cap;

	/* Per-stack scratch, one entry per frame. */
	struct fg_frame_scratch {
		uint64_t path_hash;
		uint64_t name_hash;
		uint32_t len;
	} *scratch;
	size_t scratch_cap;

	uint64_t seed;          /* per-tree hash seed: crafted names cannot
	                           aim collisions at a known function */
};

#endif
