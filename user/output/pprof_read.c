/* pprof reader: profile.proto (github.com/google/pprof, proto/profile.proto)
 * decoded with protobuf_read.h from a buffer already gunzipped, into a
 * read_profile (profile_read.h). The inverse of pprof.c for pyperf's files;
 * other tools' profiles read too (inlined lines, unsymbolized locations,
 * any sample types).
 *
 * Two passes over the message: the tables first (strings, functions,
 * locations, mappings, sample types, times), wherever they are in it, then
 * the samples, whose ids must all resolve. Ids numbered 1, 2, ... in order
 * (as writers number them) are found by index, others in hash maps. Each
 * location's frame labels are made once, on first use, or found in a cache
 * kept across the files of a directory (rp->label_cache); samples are
 * added to rp->prof in prefetched batches. Every count, index and length
 * is checked against what the buffer holds. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/profile_read.h"
#include "output/protobuf_read.h"
#include "util/errbuf.h"

/* profile.proto field numbers (as pprof.c writes them). */
enum {
	P_SAMPLE_TYPE = 1, P_SAMPLE = 2, P_MAPPING = 3, P_LOCATION = 4, P_FUNCTION = 5, P_STRING_TABLE = 6,
	P_TIME_NANOS = 9, P_DURATION_NANOS = 10, P_PERIOD = 12, P_COMMENT = 13, P_DEFAULT_SAMPLE_TYPE = 14,
	VT_TYPE = 1, VT_UNIT = 2,
	S_LOCATION_ID = 1, S_VALUE = 2, S_LABEL = 3,
	L_KEY = 1, L_STR = 2, L_NUM = 3,
	M_ID = 1, M_FILENAME = 5, M_BUILD_ID = 6,
	LOC_ID = 1, LOC_MAPPING_ID = 2, LOC_ADDRESS = 3, LOC_LINE = 4,
	LN_FUNCTION_ID = 1, LN_LINE = 2,
	F_ID = 1, F_NAME = 2, F_FILENAME = 4, F_START_LINE = 5,
};

#define MAX_SAMPLE_TYPES 64

/* What a sample label's key string is, found once per string. */
enum label_key { KEY_UNSEEN = 0, KEY_OTHER, KEY_PID, KEY_TID, KEY_PROCESS, KEY_CMDLINE, KEY_THREAD, KEY_CONTAINER };

struct pp_string {
	const uint8_t *p;
	size_t n;
	char *c;                 /* NUL-terminated copy, made on first use */
	const char *interned;    /* the copy interned in rp->labels.strings, on first use */
	uint8_t key;             /* enum label_key */
};

/* pp_func, pp_loc and pp_map start with their id (find_id). */
struct pp_func {
	uint64_t id;
	uint64_t name, file;     /* string indexes */
	int64_t start_line;
};

struct pp_line {
	uint64_t func_id;
	int64_t line;
};

struct pp_loc {
	uint64_t id;             /* unique: put_id refuses a second */
	uint64_t mapping_id, address;
	size_t first_line, nlines; /* in lines[] */
	const char **labels;     /* one per line, innermost first; NULL until made */
	size_t nlabels;
	const char *label;       /* labels of one label point here: no allocation to miss in cache */
};

struct pp_map {
	uint64_t id;
	uint64_t file, build_id;
};

#define ORIGIN_CACHE 256
#define LABEL_SPANS 512

struct pp {
	struct read_profile *rp;
	char *err;
	size_t errlen;
	struct pp_string *strings;
	size_t nstrings, capstrings;
	struct pp_func *funcs;
	size_t nfuncs, capfuncs;
	struct pp_line *lines;
	size_t nlines, caplines;
	struct pp_loc *locs;
	size_t nlocs, caplocs;
	struct pp_map *maps;
	size_t nmaps, capmaps;
	struct u64map func_ids, loc_ids, map_ids; /* id -> index + 1 */
	uint64_t types[MAX_SAMPLE_TYPES][2];      /* (type, unit) string indexes */
	size_t ntypes;
	int64_t time_nanos, duration_nanos, period, default_type, comment;
	bool has_comment;
	int rc;                  /* the error fail() wrote into err */
	/* Samples' origins by their labels' string pointers (stable while
	 * decoding), so most samples skip interning their strings again. */
	struct {
		struct sample_origin key;
		const struct sample_origin *origin;
	} origin_cache[ORIGIN_CACHE];
	/* Samples' origins by the bytes of their labels (the same bytes give
	 * the same origin within a file), so most samples skip decoding them. */
	struct {
		const uint8_t *p;    /* in the file's data */
		size_t len;
		uint64_t hash;
		const struct sample_origin *origin;
	} label_spans[LABEL_SPANS];
};

static int fail(struct pp *pp, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct pp *pp, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pp->err, pp->errlen, fmt, ap);
	va_end(ap);
	pp->rc = rc;
	return rc;
}

static int corrupt(struct pp *pp, const char *what)
{
	return fail(pp, -EBADMSG, "not a valid pprof profile: %s", what);
}

/* Makes room for one more entry of size elem in *arr. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 64;

	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	void *a = realloc(*arr, ncap * elem);

	if (!a)
		return -ENOMEM;
	*arr = a;
	*cap = ncap;
	return 0;
}
#define GROW(pp, arr, n, cap) grow((void **)&(arr), &(cap), (n), sizeof(*(arr)))

/* The C string at index i (NUL bytes shown as '?'), or NULL when i is out
 * of the table or memory ran out (pp->rc and pp->err say which). */
static const char *str(struct pp *pp, uint64_t i)
{
	if (i >= pp->nstrings) {
		fail(pp, -EBADMSG, "not a valid pprof profile: string index %" PRIu64 " past the table's %zu",
		     i, pp->nstrings);
		return NULL;
	}
	struct pp_string *s = &pp->strings[i];

	if (!s->c) {
		if (!(s->c = malloc(s->n + 1))) {
			fail(pp, -ENOMEM, "out of memory");
			return NULL;
		}
		for (size_t k = 0; k < s->n; k++)
			s->c[k] = s->p[k] ? (char)s->p[k] : '?';
		s->c[s->n] = '\0';
	}
	return s->c;
}

/* str(pp, i) interned in rp's table: the same pointer for the same text
 * in every file, so it can key caches that outlive the file. */
static const char *istr(struct pp *pp, uint64_t i)
{
	if (i < pp->nstrings && pp->strings[i].interned)
		return pp->strings[i].interned;
	const char *c = str(pp, i), *in = c ? strtab_intern(&pp->rp->labels.strings, c) : NULL;

	if (c && !in)
		fail(pp, -ENOMEM, "out of memory");
	if (in)
		pp->strings[i].interned = in;
	return in;
}

static void pp_free(struct pp *pp)
{
	for (size_t i = 0; i < pp->nstrings; i++)
		free(pp->strings[i].c);
	for (size_t i = 0; i < pp->nlocs; i++)
		if (pp->locs[i].labels != &pp->locs[i].label)
			free(pp->locs[i].labels);
	free(pp->strings);
	free(pp->funcs);
	free(pp->lines);
	free(pp->locs);
	free(pp->maps);
	u64map_free(&pp->func_ids);
	u64map_free(&pp->loc_ids);
	u64map_free(&pp->map_ids);
}

/* ---- pass 1: the tables ---------------------------------------------------- */

/* Reads a varint field into *v; -EBADMSG when the field has another wire type. */
static int want_varint(struct pp *pp, const struct pb_field *f, uint64_t *v)
{
	if (f->wire != PB_VARINT)
		return corrupt(pp, "a number field of another wire type");
	*v = f->value;
	return 0;
}

static int want_message(struct pp *pp, const struct pb_field *f)
{
	return f->wire == PB_LEN ? 0 : corrupt(pp, "a message field of another wire type");
}

/* The index of the entry of arr (n of size elem, each starting with its
 * id) whose id is id, or SIZE_MAX. Writers number them 1, 2, ... in order:
 * such an id is found by its index; only others are in ids. */
static size_t find_id(const struct u64map *ids, const void *arr, size_t n, size_t elem, uint64_t id)
{
	if (id - 1 < n && *(const uint64_t *)((const char *)arr + (id - 1) * elem) == id)
		return (size_t)(id - 1);
	uint64_t *i = u64map_get(ids, id);

	return i ? (size_t)(*i - 1) : SIZE_MAX;
}
#define FIND_ID(pp, ids, arr, n, id) find_id(&(pp)->ids, (pp)->arr, (pp)->n, sizeof(*(pp)->arr), (id))

/* Registers the id of arr[index] (the entry about to be added, arr having
 * room for it); a repeated or zero id is corrupt. */
static int put_id(struct pp *pp, struct u64map *ids, const void *arr, size_t elem, uint64_t id, size_t index,
		  const char *what)
{
	if (!id || find_id(ids, arr, index, elem, id) != SIZE_MAX) {
		char why[64];

		snprintf(why, sizeof(why), "%s id %" PRIu64 " %s", what, id, id ? "given twice" : "is 0");
		return corrupt(pp, why);
	}
	if (id == (uint64_t)index + 1)
		return 0; /* found by its index */
	return u64map_put(ids, id, index + 1) ? fail(pp, -ENOMEM, "out of memory") : 0;
}
#define PUT_ID(pp, ids, arr, n, id, what) put_id((pp), &(pp)->ids, (pp)->arr, sizeof(*(pp)->arr), (id), (pp)->n, (what))

static int read_value_type(struct pp *pp, const struct pb_field *mf)
{
	struct pb_reader r = pb_reader_sub(mf);
	struct pb_field f;
	uint64_t type = 0, unit = 0;
	int rc;

	while ((rc = pb_next(&r, &f)) > 0) {
		rc = 0; /* pb_next gave 1 */
		if (f.field == VT_TYPE && (rc = want_varint(pp, &f, &type)))
			return rc;
		if (f.field == VT_UNIT && (rc = want_varint(pp, &f, &unit)))
			return rc;
	}
	if (rc < 0)
		return corrupt(pp, "a bad sample type");
	if (pp->ntypes == MAX_SAMPLE_TYPES)
		return corrupt(pp, "more than 64 sample types");
	pp->types[pp->ntypes][0] = type;
	pp->types[pp->ntypes][1] = unit;
	pp->ntypes++;
	return 0;
}

static int read_function(struct pp *pp, const struct pb_field *mf)
{
	struct pb_reader r = pb_reader_sub(mf);
	struct pb_field f;
	struct pp_func fn = { 0 };
	uint64_t id = 0, v = 0;
	int rc;

	while ((rc = pb_next(&r, &f)) > 0) {
		rc = 0; /* pb_next gave 1 */
		if (f.field == F_ID)
			rc = want_varint(pp, &f, &id);
		else if (f.field == F_NAME)
			rc = want_varint(pp, &f, &fn.name);
		else if (f.field == F_FILENAME)
			rc = want_varint(pp, &f, &fn.file);
		else if (f.field == F_START_LINE && !(rc = want_varint(pp, &f, &v)))
			fn.start_line = (int64_t)v;
		if (rc)
			return rc;
	}
	if (rc < 0)
		return corrupt(pp, "a bad function");
	if (GROW(pp, pp->funcs, pp->nfuncs, pp->capfuncs))
		return fail(pp, -ENOMEM, "out of memory");
	if ((rc = PUT_ID(pp, func_ids, funcs, nfuncs, id, "function")))
		return rc;
	fn.id = id;
	pp->funcs[pp->nfuncs++] = fn;
	return 0;
}

static int read_line(struct pp *pp, const struct pb_field *mf)
{
	struct pb_reader r = pb_reader_sub(mf);
	struct pb_field f;
	struct pp_line ln = { 0 };
	uint64_t v = 0;
	int rc;

	while ((rc = pb_next(&r, &f)) > 0) {
		rc = 0; /* pb_next gave 1 */
		if (f.field == LN_FUNCTION_ID)
			rc = want_varint(pp, &f, &ln.func_id);
		else if (f.field == LN_LINE && !(rc = want_varint(pp, &f, &v)))
			ln.line = (int64_t)v;
		if (rc)
			return rc;
	}
	if (rc < 0)
		return corrupt(pp, "a bad line of a location");
	if (GROW(pp, pp->lines, pp->nlines, pp->caplines))
		return fail(pp, -ENOMEM, "out of memory");
	pp->lines[pp->nlines++] = ln;
	return 0;
}

static int read_location(struct pp *pp, const struct pb_field *mf)
{
	struct pb_reader r = pb_reader_sub(mf);
	struct pb_field f;
	struct pp_loc loc = { .first_line = pp->nlines };
	uint64_t id = 0;
	int rc;

	while ((rc = pb_next(&r, &f)) > 0) {
		rc = 0; /* pb_next gave 1 */
		if (f.field == LOC_ID)
			rc = want_varint(pp, &f, &id);
		else if (f.field == LOC_MAPPING_ID)
			rc = want_varint(pp, &f, &loc.mapping_id);
		else if (f.field == LOC_ADDRESS)
			rc = want_varint(pp, &f, &loc.address);
		else if (f.field == LOC_LINE && !(rc = want_message(pp, &f)))
			rc = read_line(pp, &f);
		if (rc)
			return rc;
	}
	if (rc < 0)
		return corrupt(pp, "a bad location");
	loc.nlines = pp->nlines - loc.first_line;
	if (GROW(pp, pp->locs, pp->nlocs, pp->caplocs))
		return fail(pp, -ENOMEM, "out of memory");
	if ((rc = PUT_ID(pp, loc_ids, locs, nlocs, id, "location")))
		return rc;
	loc.id = id;
	pp->locs[pp->nlocs++] = loc;
	return 0;
}

static int read_mapping(struct pp *pp, const struct pb_field *mf)
{
	struct pb_reader r = pb_reader_sub(mf);
	struct pb_field f;
	struct pp_map m = { 0 };
	uint64_t id = 0;
	int rc;

	while ((rc = pb_next(&r, &f)) > 0) {
		rc = 0; /* pb_next gave 1 */
		if (f.field == M_ID)
			rc = want_varint(pp, &f, &id);
		else if (f.field == M_FILENAME)
			rc = want_varint(pp, &f, &m.file);
		else if (f.field == M_BUILD_ID)
			rc = want_varint(pp, &f, &m.build_id);
		if (rc)
			return rc;
	}
	if (rc < 0)
		return corrupt(pp, "a bad mapping");
	if (GROW(pp, pp->maps, pp->nmaps, pp->capmaps))
		return fail(pp, -ENOMEM, "out of memory");
	if ((rc = PUT_ID(pp, map_ids, maps, nmaps, id, "mapping")))
		return rc;
	m.id = id;
	pp->maps[pp->nmaps++] = m;
	return 0;
}

static int read_tables(struct pp *pp, const uint8_t *data, size_t len)
{
	struct pb_reader r = pb_reader_of(data, len);
	struct pb_field f;
	uint64_t v = 0;
	int rc;

	while ((rc = pb_next(&r, &f)) > 0) {
		rc = 0; /* pb_next gave 1 */
		switch (f.field) {
		case P_SAMPLE_TYPE:
			if (!(rc = want_message(pp, &f)))
				rc = read_value_type(pp, &f);
			break;
		case P_SAMPLE:
			rc = want_message(pp, &f);
			break;
		case P_MAPPING:
			if (!(rc = want_message(pp, &f)))
				rc = read_mapping(pp, &f);
			break;
		case P_LOCATION:
			if (!(rc = want_message(pp, &f)))
				rc = read_location(pp, &f);
			break;
		case P_FUNCTION:
			if (!(rc = want_message(pp, &f)))
				rc = read_function(pp, &f);
			break;
		case P_STRING_TABLE:
			if ((rc = want_message(pp, &f)))
				break;
			if (GROW(pp, pp->strings, pp->nstrings, pp->capstrings))
				return fail(pp, -ENOMEM, "out of memory");
			pp->strings[pp->nstrings++] = (struct pp_string){ f.data, f.len, NULL };
			break;
		case P_TIME_NANOS:
			if (!(rc = want_varint(pp, &f, &v)))
				pp->time_nanos = (int64_t)v;
			break;
		case P_DURATION_NANOS:
			if (!(rc = want_varint(pp, &f, &v)))
				pp->duration_nanos = (int64_t)v;
			break;
		case P_PERIOD:
			if (!(rc = want_varint(pp, &f, &v)))
				pp->period = (int64_t)v;
			break;
		case P_DEFAULT_SAMPLE_TYPE:
			if (!(rc = want_varint(pp, &f, &v)))
				pp->default_type = (int64_t)v;
			break;
		case P_COMMENT: {
			struct pb_varints it;

			pb_varints_init(&it, &f);
			if (!pp->has_comment && (rc = pb_varints_next(&it, &v)) > 0) {
				pp->comment = (int64_t)v;
				pp->has_comment = true;
			}
			rc = rc < 0 ? corrupt(pp, "a bad comment") : 0;
			break;
		}
		default: /* fields pyperf does not use (drop_frames, keep_frames...) */
			break;
		}
		if (rc)
			return rc;
	}
	if (rc < 0)
		return corrupt(pp, "the data ends inside a field, or holds a field of no known wire type");
	/* The table's first string is "" (profile.proto requires it). */
	if (!pp->nstrings || pp->strings[0].n)
		return corrupt(pp, "its string table does not start with \"\"");
	return 0;
}

/* ---- frame labels ------------------------------------------------------------ */

/* The label of one Line of a location (see profile_read.h for the rules);
 * NULL with pp->rc set. */
static const char *line_label(struct pp *pp, const struct pp_loc *loc, const struct pp_map *map,
			      const struct pp_line *ln, const struct pp_func *fn)
{
	struct frametab *ft = &pp->rp->labels;
	const char *name = str(pp, fn->name), *file = name ? str(pp, fn->file) : NULL;
	const char *map_file = map && file ? str(pp, map->file) : "";
	const char *build_id = map && map_file ? str(pp, map->build_id) : "";

	if (!name || !file || !map_file || !build_id)
		return NULL;
	const char *l;

	if (map && strcmp(map_file, "[kernel.kallsyms]") == 0) {
		l = frametab_native(ft, name, file, loc->address, build_id, true);
	} else if (ln->line <= 0 && map && *map_file && strcmp(map_file, "[python]") != 0) {
		/* a native function: the symbol, or "lib+0xADDR" named after its address */
		const char *path = *file ? file : map_file, *slash = strrchr(path, '/');
		char unnamed[PATH_MAX + 32];

		snprintf(unnamed, sizeof(unnamed), "%s+0x%" PRIx64, slash ? slash + 1 : path, loc->address);
		l = frametab_native(ft, strcmp(name, unnamed) ? name : NULL, path, loc->address, build_id, false);
	} else if (!*file && ln->line <= 0) {
		l = frametab_pseudo(ft, *name ? name : "[unknown]");
	} else {
		l = frametab_python(ft, name, file, ln->line > 0 && ln->line <= INT32_MAX ? (int)ln->line : -1,
				    fn->start_line > 0 && fn->start_line <= INT32_MAX ? (int)fn->start_line : -1);
	}
	if (!l)
		fail(pp, -ENOMEM, "out of memory");
	return l;
}

/* Bytes hashed a word at a time, into h. */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t w;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ h >> 32;
}

/* What one label of a location is made from: the key of rp->label_cache,
 * so the same location in later files gets its label without building
 * and interning the text again (most of the cost of a directory of
 * period files otherwise). The function's name and file are bytes of the
 * file's string table when looking up, copies of them in the cache. */
struct label_parts {
	const char *map_file, *build_id;   /* interned; NULL: no mapping */
	bool has_line;                     /* false: a location without lines */
	const char *name, *file;
	size_t name_len, file_len;
	int64_t line, start_line;
	uint64_t address;
};

struct cached_label {
	struct label_parts parts;          /* name and file in text */
	const char *label;
	char text[];
};

static uint64_t parts_hash(const struct label_parts *k)
{
	const uint64_t v[] = { (uintptr_t)k->map_file, (uintptr_t)k->build_id, k->has_line, k->name_len,
			       k->file_len, (uint64_t)k->line, (uint64_t)k->start_line, k->address };

	return hash_bytes(hash_bytes(hash_bytes(0x9e3779b97f4a7c15ull, v, sizeof(v)), k->name, k->name_len),
			  k->file, k->file_len);
}

static bool same_parts(const struct label_parts *a, const struct label_parts *b)
{
	return a->map_file == b->map_file && a->build_id == b->build_id && a->has_line == b->has_line &&
	       a->name_len == b->name_len && a->file_len == b->file_len && a->line == b->line &&
	       a->start_line == b->start_line && a->address == b->address &&
	       (!a->name_len || memcmp(a->name, b->name, a->name_len) == 0) &&
	       (!a->file_len || memcmp(a->file, b->file, a->file_len) == 0);
}

void read_label_cache_free(struct read_label_cache *c)
{
	for (size_t i = 0; i < c->nslots; i++)
		free(c->slots[i].entry);
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

static size_t cache_home(const struct read_label_cache *c, uint64_t h)
{
	return (size_t)(h ^ h >> 31) & (c->nslots - 1);
}

/* The label cached for k (of hash h), or NULL. */
static const char *cache_get(const struct read_label_cache *c, const struct label_parts *k, uint64_t h)
{
	if (!c->nslots)
		return NULL;
	for (size_t i = cache_home(c, h); c->slots[i].entry; i = (i + 1) & (c->nslots - 1))
		if (c->slots[i].hash == h && same_parts(&c->slots[i].entry->parts, k))
			return c->slots[i].entry->label;
	return NULL;
}

/* Remembers label for k (of hash h, not in the cache). 0 or -ENOMEM. */
static int cache_put(struct read_label_cache *c, const struct label_parts *k, uint64_t h, const char *label)
{
	if ((c->len + 1) * 2 > c->nslots) {
		struct read_label_cache n = { .nslots = c->nslots ? c->nslots * 2 : 1024, .len = c->len };

		if (!(n.slots = calloc(n.nslots, sizeof(*n.slots))))
			return -ENOMEM;
		for (size_t i = 0; i < c->nslots; i++) {
			if (!c->slots[i].entry)
				continue;
			size_t j = cache_home(&n, c->slots[i].hash);

			while (n.slots[j].entry)
				j = (j + 1) & (n.nslots - 1);
			n.slots[j] = c->slots[i];
		}
		free(c->slots);
		*c = n;
	}
	struct cached_label *e = malloc(sizeof(*e) + k->name_len + k->file_len);

	if (!e)
		return -ENOMEM;
	e->parts = *k;
	e->label = label;
	if (k->name_len)
		memcpy(e->text, k->name, k->name_len);
	if (k->file_len)
		memcpy(e->text + k->name_len, k->file, k->file_len);
	e->parts.name = e->text;
	e->parts.file = e->text + k->name_len;
	size_t i = cache_home(c, h);

	while (c->slots[i].entry)
		i = (i + 1) & (c->nslots - 1);
	c->slots[i] = (struct read_label_slot){ h, e };
	c->len++;
	return 0;
}

/* The bytes of string i of the table; false with pp->rc set when i is
 * past it. */
static bool raw_str(struct pp *pp, uint64_t i, const char **p, size_t *n)
{
	if (i >= pp->nstrings)
		return str(pp, i) != NULL; /* says why */
	*p = (const char *)pp->strings[i].p;
	*n = pp->strings[i].n;
	return true;
}

/* The function a Line names; NULL with pp->rc set. */
static const struct pp_func *line_func(struct pp *pp, uint64_t id)
{
	size_t i = FIND_ID(pp, func_ids, funcs, nfuncs, id);

	if (i == SIZE_MAX) {
		fail(pp, -EBADMSG, "not a valid pprof profile: a location names function %" PRIu64
		     ", which is not in it", id);
		return NULL;
	}
	return &pp->funcs[i];
}

/* The parts of k a location's mapping gives (*map NULL: none); 0 or
 * -errno with pp->err. */
static int map_parts(struct pp *pp, const struct pp_loc *loc, const struct pp_map **map, struct label_parts *k)
{
	*k = (struct label_parts){ .address = loc->address };
	*map = NULL;
	if (!loc->mapping_id)
		return 0;
	size_t mi = FIND_ID(pp, map_ids, maps, nmaps, loc->mapping_id);

	if (mi == SIZE_MAX)
		return fail(pp, -EBADMSG, "not a valid pprof profile: a location names mapping %" PRIu64
			    ", which is not in it", loc->mapping_id);
	*map = &pp->maps[mi];
	if (!(k->map_file = istr(pp, (*map)->file)) || !(k->build_id = istr(pp, (*map)->build_id)))
		return pp->rc;
	return 0;
}

/* The parts of k one Line of a location gives; 0 or -errno with pp->err. */
static int line_parts(struct pp *pp, const struct pp_line *ln, const struct pp_func **fn, struct label_parts *k)
{
	if (!(*fn = line_func(pp, ln->func_id)) || !raw_str(pp, (*fn)->name, &k->name, &k->name_len) ||
	    !raw_str(pp, (*fn)->file, &k->file, &k->file_len))
		return pp->rc;
	k->has_line = true;
	k->line = ln->line;
	k->start_line = (*fn)->start_line;
	return 0;
}

/* Makes a location's labels: one per Line, innermost first, or one
 * "file+0xADDR" for a location without lines. 0 or -errno with pp->err. */
static int make_labels(struct pp *pp, struct pp_loc *loc)
{
	struct read_label_cache *cache = &pp->rp->label_cache;
	const struct pp_map *map = NULL;
	struct label_parts k;
	size_t n = loc->nlines ? loc->nlines : 1;
	int rc;

	if ((rc = map_parts(pp, loc, &map, &k)))
		return rc;
	/* pp->locs no longer moves: read_tables is done */
	if (!(loc->labels = n == 1 ? &loc->label : calloc(n, sizeof(*loc->labels))))
		return fail(pp, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct pp_line *ln = loc->nlines ? &pp->lines[loc->first_line + i] : NULL;
		const struct pp_func *fn = NULL;

		if (ln && (rc = line_parts(pp, ln, &fn, &k)))
			return rc;
		uint64_t h = parts_hash(&k);

		if ((loc->labels[i] = cache_get(cache, &k, h)))
			continue;
		const char *label = ln ? line_label(pp, loc, map, ln, fn) :
				    frametab_native(&pp->rp->labels, NULL, map ? k.map_file : "?", loc->address,
						    map ? k.build_id : "", false);

		if (!label)
			return ln ? pp->rc : fail(pp, -ENOMEM, "out of memory");
		loc->labels[i] = label;
		if (cache_put(cache, &k, h, label))
			return fail(pp, -ENOMEM, "out of memory");
	}
	loc->nlabels = n;
	return 0;
}

/* Labels from the cache for the locations of one line, before the samples
 * need them: the cache's slots and entries are prefetched some locations
 * ahead (they are out of the caches: a day's files share one). Whatever is
 * not found, or wrong, is left to make_labels. */
static void warm_labels(struct pp *pp)
{
	const struct read_label_cache *c = &pp->rp->label_cache;
	const size_t ahead = 8;
	struct label_parts k;
	const struct pp_map *map;
	const struct pp_func *fn;
	uint64_t *hashes;

	if (!c->nslots || !pp->nlocs || !(hashes = calloc(pp->nlocs, sizeof(*hashes))))
		return;
	for (size_t i = 0; i < pp->nlocs; i++) {
		const struct pp_loc *loc = &pp->locs[i];

		if (loc->nlines != 1 || map_parts(pp, loc, &map, &k) ||
		    line_parts(pp, &pp->lines[loc->first_line], &fn, &k))
			continue;
		hashes[i] = parts_hash(&k) | 1; /* 0: not warmed */
		__builtin_prefetch(&c->slots[cache_home(c, hashes[i] & ~1ull)]);
	}
	for (size_t i = 0; i < pp->nlocs; i++) {
		struct pp_loc *loc = &pp->locs[i];

		if (i + ahead < pp->nlocs && hashes[i + ahead]) {
			const struct cached_label *e = c->slots[cache_home(c, hashes[i + ahead] & ~1ull)].entry;

			if (e) {
				__builtin_prefetch(e);
				__builtin_prefetch((const char *)e + 64);
			}
		}
		if (!hashes[i] || map_parts(pp, loc, &map, &k) || line_parts(pp, &pp->lines[loc->first_line], &fn, &k))
			continue;
		if ((loc->label = cache_get(c, &k, hashes[i] & ~1ull))) {
			loc->labels = &loc->label;
			loc->nlabels = 1;
		}
	}
	free(hashes);
	/* errors are make_labels' to say, for the locations samples use */
	pp->rc = 0;
	pp->err[0] = '\0';
}
/* ---- pass 2: the samples ------------------------------------------------------- */

struct value_choice {
	size_t index;            /* which of a sample's values is its count */
	bool timed;              /* the value is nanoseconds: divided by the period */
	const char *value_type;  /* NULL: CPU samples */
};

/* Samples/count when there is such a value (pyperf's CPU profiles, Go's),
 * else any count, else the default sample type (the last when unset, as
 * pprof shows), read as time when its unit is nanoseconds. */
static int choose_value(struct pp *pp, struct value_choice *vc)
{
	const char *type, *unit;
	size_t pick = SIZE_MAX, any_count = SIZE_MAX;

	*vc = (struct value_choice){ 0 };
	if (!pp->ntypes)
		return corrupt(pp, "it has no sample type");
	for (size_t i = 0; i < pp->ntypes; i++) {
		if (!(type = str(pp, pp->types[i][0])) || !(unit = str(pp, pp->types[i][1])))
			return pp->rc;
		if (!strcmp(unit, "count") && !strcmp(type, "samples") && pick == SIZE_MAX)
			pick = i;
		if (!strcmp(unit, "count") && any_count == SIZE_MAX)
			any_count = i;
	}
	if (pick == SIZE_MAX)
		pick = any_count;
	if (pick == SIZE_MAX) {
		pick = pp->ntypes - 1;
		for (size_t i = 0; i < pp->ntypes; i++)
			if (pp->default_type && pp->types[i][0] == (uint64_t)pp->default_type)
				pick = i;
		type = str(pp, pp->types[pick][0]);
		unit = str(pp, pp->types[pick][1]);
		if (!type || !unit)
			return pp->rc;
		vc->timed = !strcmp(unit, "nanoseconds") && pp->period > 0;
		vc->value_type = strtab_intern(&pp->rp->labels.strings, *type ? type : "value");
		if (!vc->value_type)
			return fail(pp, -ENOMEM, "out of memory");
	}
	vc->index = pick;
	return 0;
}

/* Samples are added to the profile in batches: hashed when read, and the
 * index slot, stack and frames each add will compare prefetched a few adds
 * ahead (the profile of a day of files is larger than the caches, and
 * those loads were most of the time of adding). */
#define QUEUE_SAMPLES 256
#define QUEUE_FRAMES 16384

struct queued_sample {
	const struct sample_origin *origin;
	uint64_t count, hash;
	size_t first, nframes;   /* in sample_scratch.pool */
};

struct sample_scratch {
	const char **frames;     /* root first, filled from the end */
	uint64_t *loc_ids;
	size_t nloc_ids, cap_loc_ids;
	struct queued_sample queue[QUEUE_SAMPLES];
	size_t nqueued;
	const char **pool;       /* the queued samples' frames */
	size_t npool, cappool;
};

/* Adds the queued samples to the profile. */
static int add_queued(struct pp *pp, struct sample_scratch *sc)
{
	const struct profile *prof = &pp->rp->prof;
	const struct queued_sample *q = sc->queue;
	size_t n = sc->nqueued;
	int rc = 0;

	for (size_t i = 0; i < 16 && i < n; i++)
		profile_prefetch(prof, q[i].hash, 0);
	for (size_t i = 0; i < n && !rc; i++) {
		if (i + 16 < n)
			profile_prefetch(prof, q[i + 16].hash, 0);
		if (i + 10 < n)
			profile_prefetch(prof, q[i + 10].hash, 1);
		if (i + 5 < n)
			profile_prefetch(prof, q[i + 5].hash, 2);
		rc = read_profile_add(pp->rp, q[i].hash, sc->pool + q[i].first, q[i].nframes, q[i].count, q[i].origin);
	}
	sc->nqueued = sc->npool = 0;
	if (rc)
		return fail(pp, rc, "%s", rc == -EOVERFLOW ? "the files' counts add up to more than 2^62" :
			    "out of memory");
	return 0;
}

static int queue_sample(struct pp *pp, struct sample_scratch *sc, const char *const *frames, size_t n,
			uint64_t count, const struct sample_origin *origin)
{
	int rc;

	if ((sc->nqueued == QUEUE_SAMPLES || (sc->npool && sc->npool + n > QUEUE_FRAMES)) &&
	    (rc = add_queued(pp, sc)))
		return rc;
	if (!sc->pool || sc->cappool - sc->npool < n) {
		size_t ncap = sc->npool + n < QUEUE_FRAMES ? QUEUE_FRAMES : sc->npool + n;
		const char **pool = realloc(sc->pool, ncap * sizeof(*pool));

		if (!pool)
			return fail(pp, -ENOMEM, "out of memory");
		sc->pool = pool;
		sc->cappool = ncap;
	}
	memcpy(sc->pool + sc->npool, frames, n * sizeof(*frames));
	sc->queue[sc->nqueued++] = (struct queued_sample){ origin, count, profile_hash(frames, n, origin), sc->npool,
							   n };
	sc->npool += n;
	return 0;
}

/* The origin a sample's labels give. */
static int sample_label(struct pp *pp, const struct pb_field *mf, struct sample_origin *o)
{
	struct pb_reader r = pb_reader_sub(mf);
	struct pb_field f;
	uint64_t key = 0, sv = 0, num = 0;
	bool has_num = false, has_str = false;
	int rc;

	while ((rc = pb_next(&r, &f)) > 0) {
		rc = 0; /* pb_next gave 1 */
		if (f.field == L_KEY)
			rc = want_varint(pp, &f, &key);
		else if (f.field == L_STR && !(rc = want_varint(pp, &f, &sv)))
			has_str = true;
		else if (f.field == L_NUM && !(rc = want_varint(pp, &f, &num)))
			has_num = true;
		if (rc)
			return rc;
	}
	if (rc < 0)
		return corrupt(pp, "a bad sample label");
	if (key >= pp->nstrings) {
		str(pp, key); /* the error */
		return pp->rc;
	}
	if (pp->strings[key].key == KEY_UNSEEN) {
		static const char *const names[] = {
			[KEY_PID] = "pid", [KEY_TID] = "tid", [KEY_PROCESS] = "process", [KEY_CMDLINE] = "cmdline",
			[KEY_THREAD] = "thread", [KEY_CONTAINER] = "container",
		};
		const char *k = str(pp, key);

		if (!k)
			return pp->rc;
		pp->strings[key].key = KEY_OTHER;
		for (uint8_t i = KEY_PID; i <= KEY_CONTAINER; i++)
			if (!strcmp(k, names[i]))
				pp->strings[key].key = i;
	}
	const char *s = has_str ? str(pp, sv) : "";

	if (!s)
		return pp->rc;
	switch (pp->strings[key].key) {
	case KEY_PID:
		if (has_num && num <= UINT32_MAX)
			o->pid = (uint32_t)num;
		break;
	case KEY_TID:
		if (has_num && num <= UINT32_MAX)
			o->tid = (uint32_t)num;
		break;
	case KEY_PROCESS:
		o->comm = has_str ? s : o->comm;
		break;
	case KEY_CMDLINE:
		o->cmdline = has_str ? s : o->cmdline;
		break;
	case KEY_THREAD:
		o->thread = has_str ? s : o->thread;
		break;
	case KEY_CONTAINER:
		o->container = has_str ? s : o->container;
		break;
	default: /* other labels are not kept */
		break;
	}
	return 0;
}

static bool same_key(const struct sample_origin *a, const struct sample_origin *b)
{
	return a->pid == b->pid && a->tid == b->tid && a->source == b->source && a->comm == b->comm &&
	       a->cmdline == b->cmdline && a->thread == b->thread && a->container == b->container;
}

/* read_profile_origin(o), remembered by o's pointers. */
static const struct sample_origin *cached_origin(struct pp *pp, const struct sample_origin *o)
{
	uint64_t h = (uint64_t)o->pid * 0x9e3779b97f4a7c15ull ^ (uint64_t)o->tid * 0xff51afd7ed558ccdull ^
		     (uintptr_t)o->comm ^ (uintptr_t)o->thread >> 3 ^ (uintptr_t)o->cmdline >> 5 ^
		     (uintptr_t)o->container >> 7;
	size_t slot = (size_t)((h ^ h >> 29) % ORIGIN_CACHE);

	if (pp->origin_cache[slot].origin && same_key(&pp->origin_cache[slot].key, o))
		return pp->origin_cache[slot].origin;
	const struct sample_origin *r = read_profile_origin(pp->rp, o);

	if (r) {
		pp->origin_cache[slot].key = *o;
		pp->origin_cache[slot].origin = r;
	}
	return r;
}

/* The origin the Label fields among data's fields give; NULL with pp->rc
 * set. */
static const struct sample_origin *labels_origin(struct pp *pp, const uint8_t *data, size_t len, uint32_t source)
{
	struct pb_reader r = pb_reader_of(data, len);
	struct pb_field f;
	struct sample_origin o = { .source = source };
	int rc;

	while ((rc = pb_next(&r, &f)) > 0) {
		if (f.field == S_LABEL && ((rc = want_message(pp, &f)) || (rc = sample_label(pp, &f, &o))))
			return NULL;
	}
	if (rc < 0) {
		corrupt(pp, "a bad sample");
		return NULL;
	}
	const struct sample_origin *origin = cached_origin(pp, &o);

	if (!origin)
		fail(pp, -ENOMEM, "out of memory");
	return origin;
}

/* labels_origin of len bytes of Label fields and nothing else, remembered
 * by those bytes. */
static const struct sample_origin *span_origin(struct pp *pp, const uint8_t *p, size_t len, uint32_t source)
{
	uint64_t h = hash_bytes(0x9e3779b97f4a7c15ull ^ len, p, len);
	size_t slot = (size_t)(h % LABEL_SPANS);

	if (pp->label_spans[slot].origin && pp->label_spans[slot].hash == h && pp->label_spans[slot].len == len &&
	    (!len || memcmp(pp->label_spans[slot].p, p, len) == 0))
		return pp->label_spans[slot].origin;
	const struct sample_origin *origin = labels_origin(pp, p, len, source);

	if (origin) {
		pp->label_spans[slot].p = p;
		pp->label_spans[slot].len = len;
		pp->label_spans[slot].hash = h;
		pp->label_spans[slot].origin = origin;
	}
	return origin;
}

/* A sample's location ids (packed, or one) appended to sc->loc_ids. */
static int read_loc_ids(struct pp *pp, const struct pb_field *f, struct sample_scratch *sc)
{
	/* an id takes a byte at least: room for all of them up to the limit */
	size_t most = f->wire == PB_VARINT ? 1 : f->len < READ_MAX_FRAMES + 1 ? f->len : READ_MAX_FRAMES + 1;

	if (f->wire != PB_VARINT && f->wire != PB_LEN)
		return corrupt(pp, "a bad sample");
	if (sc->cap_loc_ids - sc->nloc_ids < most) {
		size_t ncap = sc->nloc_ids + most < 64 ? 64 : sc->nloc_ids + most;
		uint64_t *ids = realloc(sc->loc_ids, ncap * sizeof(*ids));

		if (!ids)
			return fail(pp, -ENOMEM, "out of memory");
		sc->loc_ids = ids;
		sc->cap_loc_ids = ncap;
	}
	if (f->wire == PB_VARINT) {
		if (sc->nloc_ids == READ_MAX_FRAMES)
			return fail(pp, -EBADMSG, "a sample deeper than %u frames", READ_MAX_FRAMES);
		sc->loc_ids[sc->nloc_ids++] = f->value;
		return 0;
	}
	struct pb_reader r = pb_reader_sub(f);

	while (r.p < r.end) {
		if (sc->nloc_ids == READ_MAX_FRAMES)
			return fail(pp, -EBADMSG, "a sample deeper than %u frames", READ_MAX_FRAMES);
		if (pb_read_varint(&r, &sc->loc_ids[sc->nloc_ids++]))
			return corrupt(pp, "a bad sample");
	}
	return 0;
}

static int read_sample(struct pp *pp, const struct pb_field *mf, const struct value_choice *vc, uint32_t source,
		       struct sample_scratch *sc, uint64_t *samples)
{
	struct pb_reader r = pb_reader_sub(mf);
	struct pb_field f;
	uint64_t v, value = 0;
	size_t nvalues = 0;
	int rc;
	/* the Label fields' bytes, when they come one after another (as
	 * pyperf and most writers put them) */
	const uint8_t *labels = NULL, *labels_end = NULL;
	bool scattered = false;

	sc->nloc_ids = 0;
	for (;;) {
		const uint8_t *at = r.p;

		if ((rc = pb_next(&r, &f)) <= 0)
			break;
		rc = 0; /* pb_next gave 1 */
		struct pb_varints it;

		if (f.field == S_LOCATION_ID) {
			if ((rc = read_loc_ids(pp, &f, sc)))
				return rc;
		} else if (f.field == S_VALUE) {
			pb_varints_init(&it, &f);
			while ((rc = pb_varints_next(&it, &v)) > 0) {
				if (nvalues++ == vc->index)
					value = v;
			}
		} else if (f.field == S_LABEL && !(rc = want_message(pp, &f))) {
			if (!labels)
				labels = at;
			else if (at != labels_end)
				scattered = true;
			labels_end = r.p;
		}
		if (rc < 0)
			return pp->rc ? pp->rc : corrupt(pp, "a bad sample");
	}
	if (rc < 0)
		return corrupt(pp, "a bad sample");
	const struct sample_origin *origin =
		scattered ? labels_origin(pp, mf->data, mf->len, source) :
			    span_origin(pp, labels ? labels : mf->data, labels ? (size_t)(labels_end - labels) : 0, source);

	if (!origin)
		return pp->rc;
	if (nvalues != pp->ntypes)
		return fail(pp, -EBADMSG, "not a valid pprof profile: a sample has %zu values for %zu sample types",
			    nvalues, pp->ntypes);
	if ((int64_t)value < 0)
		return corrupt(pp, "a negative sample value (a diff of two profiles?)");
	if (vc->timed) /* to periods, rounded; value < 2^63 cannot overflow */
		value = (value + (uint64_t)pp->period / 2) / (uint64_t)pp->period;
	if (!value)
		return 0;
	if (value > READ_MAX_TOTAL - *samples)
		return fail(pp, -EOVERFLOW, "its values add up to more than 2^62");

	/* Leaf first in the sample, inlined lines innermost first in each
	 * location: the stack, root first, is both reversed. */
	size_t n = 0;

	for (size_t i = 0; i < sc->nloc_ids; i++) {
		uint64_t id = sc->loc_ids[i];
		struct pp_loc *loc;

		size_t li = FIND_ID(pp, loc_ids, locs, nlocs, id);

		if (li == SIZE_MAX)
			return fail(pp, -EBADMSG, "not a valid pprof profile: a sample names location %" PRIu64
				    ", which is not in it", id);
		loc = &pp->locs[li];

		if (!loc->labels && (rc = make_labels(pp, loc)))
			return rc;
		if (loc->nlabels > READ_MAX_FRAMES - n)
			return fail(pp, -EBADMSG, "a sample deeper than %u frames", READ_MAX_FRAMES);
		if (loc->nlabels == 1) {
			sc->frames[READ_MAX_FRAMES - 1 - n++] = loc->label;
			continue;
		}
		for (size_t j = 0; j < loc->nlabels; j++, n++)
			sc->frames[READ_MAX_FRAMES - 1 - n] = loc->labels[j];
	}
	if ((rc = queue_sample(pp, sc, sc->frames + READ_MAX_FRAMES - n, n, value, origin)))
		return rc;
	*samples += value;
	return 0;
}

static int read_samples(struct pp *pp, const uint8_t *data, size_t len, uint32_t source, struct read_file *file)
{
	struct value_choice vc;
	struct sample_scratch sc;
	struct pb_reader r = pb_reader_of(data, len);
	struct pb_field f;
	int rc = choose_value(pp, &vc);

	if (rc)
		return rc;
	warm_labels(pp);
	sc.nloc_ids = sc.cap_loc_ids = sc.nqueued = sc.npool = sc.cappool = 0;
	sc.loc_ids = NULL;
	sc.pool = NULL;
	if (!(sc.frames = malloc(READ_MAX_FRAMES * sizeof(*sc.frames))))
		return fail(pp, -ENOMEM, "out of memory");
	while (!rc && (rc = pb_next(&r, &f)) > 0)
		rc = f.field == P_SAMPLE ? read_sample(pp, &f, &vc, source, &sc, &file->samples) : 0;
	if (rc >= 0 && sc.nqueued)
		rc = add_queued(pp, &sc);
	free(sc.frames);
	free(sc.loc_ids);
	free(sc.pool);
	if (rc < 0)
		return rc;
	file->value_type = vc.value_type;
	return 0;
}

int read_pprof(struct read_profile *rp, struct read_file *file, const uint8_t *data, size_t len, uint32_t source,
	       char *err, size_t errlen)
{
	char why[512] = "";
	struct pp pp = { .rp = rp, .err = why, .errlen = sizeof(why) };
	int rc;

	u64map_init(&pp.func_ids);
	u64map_init(&pp.loc_ids);
	u64map_init(&pp.map_ids);
	if (!len)
		rc = corrupt(&pp, "the file is empty");
	else
		rc = read_tables(&pp, data, len);
	if (!rc)
		rc = read_samples(&pp, data, len, source, file);
	if (!rc) {
		file->start_unix_ns = pp.time_nanos > 0 ? (uint64_t)pp.time_nanos : file->start_unix_ns;
		file->duration_ns = pp.duration_nanos > 0 ? (uint64_t)pp.duration_nanos : 0;
		file->period_ns = pp.period > 0 ? (uint64_t)pp.period : 0;
		if (pp.has_comment && pp.comment > 0) {
			const char *c = str(&pp, (uint64_t)pp.comment);

			file->title = c ? strtab_intern(&rp->labels.strings, c) : NULL;
		}
	}
	if (rc)
		set_err(err, errlen, "%s", why[0] ? why : strerror(-rc));
	pp_free(&pp);
	return rc;
}
