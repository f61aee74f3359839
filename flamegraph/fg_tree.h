/* Private to flamegraph/: the layout of struct fg_tree, shared by the trie
 * (tree.c) and the SVG writer (svg.c). */
#ifndef PYPERF_FG_TREE_H
#define PYPERF_FG_TREE_H

#include <stdint.h>
#include <stddef.h>

#include "flamegraph.h"

/* Node 0 is the root ("all"). A node's parent always has a smaller index,
 * because a node is created after its parent. */
struct fg_node {
	uint32_t name;   /* index into fg_tree.names */
	uint32_t parent; /* node index; the root is its own parent */
	uint32_t depth;  /* root 0, its children 1, ... */
	uint64_t total;  /* samples in this frame and everything it called */
};

struct fg_name {
	const char *str; /* NUL-terminated, in the tree's arena */
	uint32_t len;
	uint32_t hash;   /* low bits of the hash, to skip most memcmp calls */
};

struct fg_arena_chunk {
	struct fg_arena_chunk *next;
	size_t used, cap;
	char data[];
};

struct fg_tree {
	struct fg_node *nodes;
	size_t nnodes, nodes_cap;

	/* Interned names: each distinct frame name is stored once. */
	struct fg_name *names;
	size_t nnames, names_cap;
	uint32_t *name_slots;   /* open addressing: name index + 1, 0 = empty */
	size_t name_slots_cap;  /* power of two */
	struct fg_arena_chunk *arena;

	/* Children of every node in one table keyed by (parent, name). */
	uint32_t *edge_slots;   /* child node index, 0 = empty (the root is nobody's child) */
	size_t edge_slots_cap;  /* power of two */

	/* The previous stack's path (node indices, depth 1..n): folded files
	 * are usually sorted, so a new line mostly repeats the last prefix
	 * and those frames need a string compare, not a hash lookup. */
	uint32_t *path;
	size_t path_len, path_cap;

	uint64_t seed;          /* per-tree hash seed: crafted names cannot
	                           aim collisions at a known function */
};

#endif
