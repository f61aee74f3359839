/* pprof reader: profile.proto (github.com/google/pprof, proto/profile.proto)
 * decoded with protobuf_read.h from a buffer already gunzipped, into a
 * read_profile (profile_read.h). The inverse of pprof.c for pyperf's files;
 * other tools' profiles read too (inlined lines, unsymbolized locations,
 * any sample types).
 *
 * Two passes over the message: the tables first (strings, functions,
 * locations, mappings, sample types, times), wherever they are in it, then
 * the samples, whose ids must all resolve. Ids are looked up in hash maps;
 * each location's frame labels are made once, on first use. Every count,
 * index and length is checked against what the buffer holds. */
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

struct pp_string {
	const uint8_t *p;
	size_t n;
	char *c;                 /* NUL-terminated copy, made on first use */
};

struct pp_func {
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
};

struct pp_map {
	uint64_t file, build_id;
};

#define ORIGIN_CACHE 64

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

static void pp_free(struct pp *pp)
{
	for (size_t i = 0; i < pp->nstrings; i++)
		free(pp->strings[i].c);
	for (size_t i = 0; i < pp->nlocs; i++)
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

/* Registers id -> index + 1; a repeated or zero id is corrupt. */
static int put_id(struct pp *pp, struct u64map *ids, uint64_t id, size_t index, const char *what)
{
	if (!id || u64map_get(ids, id)) {
		char why[64];

		snprintf(why, sizeof(why), "%s id %" PRIu64 " %s", what, id, id ? "given twice" : "is 0");
		return corrupt(pp, why);
	}
	return u64map_put(ids, id, index + 1) ? fail(pp, -ENOMEM, "out of memory") : 0;
}

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
	if ((rc = put_id(pp, &pp->func_ids, id, pp->nfuncs, "function")))
		return rc;
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
	if ((rc = put_id(pp, &pp->loc_ids, id, pp->nlocs, "location")))
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
	if ((rc = put_id(pp, &pp->map_ids, id, pp->nmaps, "mapping")))
		return rc;
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
			      const struct pp_line *ln)
{
	struct frametab *ft = &pp->rp->labels;
	uint64_t *fi = u64map_get(&pp->func_ids, ln->func_id);

	if (!fi) {
		fail(pp, -EBADMSG, "not a valid pprof profile: a location names function %" PRIu64
		     ", which is not in it", ln->func_id);
		return NULL;
	}
	const struct pp_func *fn = &pp->funcs[*fi - 1];
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

/* Makes a location's labels: one per Line, innermost first, or one
 * "file+0xADDR" for a location without lines. 0 or -errno with pp->err. */
static int make_labels(struct pp *pp, struct pp_loc *loc)
{
	const struct pp_map *map = NULL;
	size_t n = loc->nlines ? loc->nlines : 1;

	if (loc->mapping_id) {
		uint64_t *mi = u64map_get(&pp->map_ids, loc->mapping_id);

		if (!mi)
			return fail(pp, -EBADMSG, "not a valid pprof profile: a location names mapping %" PRIu64
				    ", which is not in it", loc->mapping_id);
		map = &pp->maps[*mi - 1];
	}
	if (!(loc->labels = calloc(n, sizeof(*loc->labels))))
		return fail(pp, -ENOMEM, "out of memory");
	if (!loc->nlines) {
		const char *file = map ? str(pp, map->file) : "?", *build_id = map && file ? str(pp, map->build_id) : "";

		if (!file || !build_id)
			return pp->rc;
		if (!(loc->labels[0] = frametab_native(&pp->rp->labels, NULL, file, loc->address, build_id, false)))
			return fail(pp, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < loc->nlines; i++)
		if (!(loc->labels[i] = line_label(pp, loc, map, &pp->lines[loc->first_line + i])))
			return pp->rc;
	loc->nlabels = n;
	return 0;
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

struct sample_scratch {
	const char **frames;     /* root first, filled from the end */
	uint64_t *loc_ids;
	size_t nloc_ids, cap_loc_ids;
};

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
	const char *k = str(pp, key), *s = has_str ? str(pp, sv) : "";

	if (!k || !s)
		return pp->rc;
	if (!strcmp(k, "pid") && has_num && num <= UINT32_MAX)
		o->pid = (uint32_t)num;
	else if (!strcmp(k, "tid") && has_num && num <= UINT32_MAX)
		o->tid = (uint32_t)num;
	else if (!strcmp(k, "process") && has_str)
		o->comm = s;
	else if (!strcmp(k, "cmdline") && has_str)
		o->cmdline = s;
	else if (!strcmp(k, "thread") && has_str)
		o->thread = s;
	else if (!strcmp(k, "container") && has_str)
		o->container = s;
	return 0; /* other labels are not kept */
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

static int read_sample(struct pp *pp, const struct pb_field *mf, const struct value_choice *vc, uint32_t source,
		       struct sample_scratch *sc, uint64_t *samples)
{
	struct pb_reader r = pb_reader_sub(mf);
	struct pb_field f;
	struct sample_origin o = { .source = source };
	uint64_t v, value = 0;
	size_t nvalues = 0;
	int rc;

	sc->nloc_ids = 0;
	while ((rc = pb_next(&r, &f)) > 0) {
		rc = 0; /* pb_next gave 1 */
		struct pb_varints it;

		if (f.field == S_LOCATION_ID) {
			pb_varints_init(&it, &f);
			while ((rc = pb_varints_next(&it, &v)) > 0) {
				if (sc->nloc_ids == READ_MAX_FRAMES)
					return fail(pp, -EBADMSG, "a sample deeper than %u frames", READ_MAX_FRAMES);
				if (GROW(pp, sc->loc_ids, sc->nloc_ids, sc->cap_loc_ids))
					return fail(pp, -ENOMEM, "out of memory");
				sc->loc_ids[sc->nloc_ids++] = v;
			}
		} else if (f.field == S_VALUE) {
			pb_varints_init(&it, &f);
			while ((rc = pb_varints_next(&it, &v)) > 0) {
				if (nvalues++ == vc->index)
					value = v;
			}
		} else if (f.field == S_LABEL) {
			rc = want_message(pp, &f);
			if (!rc)
				rc = sample_label(pp, &f, &o);
		}
		if (rc < 0)
			return pp->rc ? pp->rc : corrupt(pp, "a bad sample");
	}
	if (rc < 0)
		return corrupt(pp, "a bad sample");
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

		/* writers number locations 1, 2, ... in order: no lookup then */
		if (id - 1 < pp->nlocs && pp->locs[id - 1].id == id) {
			loc = &pp->locs[id - 1];
		} else {
			uint64_t *li = u64map_get(&pp->loc_ids, id);

			if (!li)
				return fail(pp, -EBADMSG, "not a valid pprof profile: a sample names location %" PRIu64
					    ", which is not in it", id);
			loc = &pp->locs[*li - 1];
		}

		if (!loc->labels && (rc = make_labels(pp, loc)))
			return rc;
		if (loc->nlabels > READ_MAX_FRAMES - n)
			return fail(pp, -EBADMSG, "a sample deeper than %u frames", READ_MAX_FRAMES);
		for (size_t j = 0; j < loc->nlabels; j++, n++)
			sc->frames[READ_MAX_FRAMES - 1 - n] = loc->labels[j];
	}
	const struct sample_origin *origin = cached_origin(pp, &o);

	if (!origin || profile_add_origin(&pp->rp->prof, sc->frames + READ_MAX_FRAMES - n, n, value, origin))
		return fail(pp, -ENOMEM, "out of memory");
	*samples += value;
	return 0;
}

static int read_samples(struct pp *pp, const uint8_t *data, size_t len, uint32_t source, struct read_file *file)
{
	struct value_choice vc;
	struct sample_scratch sc = { 0 };
	struct pb_reader r = pb_reader_of(data, len);
	struct pb_field f;
	int rc = choose_value(pp, &vc);

	if (rc)
		return rc;
	if (!(sc.frames = malloc(READ_MAX_FRAMES * sizeof(*sc.frames))))
		return fail(pp, -ENOMEM, "out of memory");
	while (!rc && (rc = pb_next(&r, &f)) > 0)
		rc = f.field == P_SAMPLE ? read_sample(pp, &f, &vc, source, &sc, &file->samples) : 0;
	free(sc.frames);
	free(sc.loc_ids);
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
