/* pprof writer: profile.proto (github.com/google/pprof, proto/profile.proto)
 * encoded by hand with user/protobuf.h and gzip-compressed with zlib, which
 * is what `go tool pprof`, Pyroscope, Parca and Grafana read.
 *
 * Shape of what is written:
 *   sample_type   = [samples/count, cpu/nanoseconds], period cpu/nanoseconds
 *   Function      one per (name, file, first line), ids 1..; system_name
 *                 left unset: pprof demangles a name whose system_name
 *                 equals it, which turns "<module>" into "" (<unknown>)
 *   Location      Python and pseudo frames: one per (function, line), one
 *                 Line each, in Mapping 1, no address. Native and kernel
 *                 frames: one per (function, mapping, address), address =
 *                 the symbol's link-time address in its file (of the pc
 *                 when there is no symbol), one Line without a line number.
 *                 ids 1..
 *   Sample        location ids leaf first (pprof's order; profile stacks are
 *                 root first), values [count, count * period_ns]
 *   string_table  [0] = "", then the fixed unit names, then names and files
 *   Mapping       id 1 is "[python]", for Python and pseudo frames, which
 *                 have no addresses; without a mapping pprof invents one
 *                 with no file name and warns "Main binary filename not
 *                 available"; a bracketed name, like "[vdso]", marks it as
 *                 nothing to symbolize. Then one per native file (path as
 *                 the target saw it, build id as hex) and one
 *                 "[kernel.kallsyms]" (perf's name) for kernel frames, ids
 *                 2.. in first-seen order. Every one says has_functions, so
 *                 pprof keeps the names written here and does not
 *                 symbolize again (its symbolizer skips such mappings), and
 *                 Pyroscope, which clears the addresses of such mappings
 *                 on ingest, keeps them too. memory_start, memory_limit
 *                 and file_offset stay 0, which pprof's elfexec.GetBase
 *                 reads as "addresses are already file addresses", so
 *                 `pprof -symbolize=force` with the file at hand looks up
 *                 the address as written.
 *
 * The encoded bytes go through deflate in 64 KiB batches, so memory is the
 * tables (linear in distinct labels), one batch and one stack of ids, not
 * the whole file nor a copy of the stacks. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "output/protobuf.h"
#include "util/u64map.h"
#include "output/writers.h"

/* The error of a failed stdio call: its errno (ENOSPC, EFBIG...) when it set
 * one, so the user reads why, else EIO. */
static int io_error(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* profile.proto field numbers. */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
	VALUETYPE_TYPE = 1,
	VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,
	SAMPLE_LABEL = 3,
	LABEL_KEY = 1,
	LABEL_STR = 2,
	LABEL_NUM = 3,
	MAPPING_ID = 1,
	MAPPING_FILENAME = 5,
	MAPPING_BUILD_ID = 6,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_ADDRESS = 3,
	LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	LINE_LINE = 2,
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_FILENAME = 4,
	FUNCTION_START_LINE = 5,
};

/* The first entries of the string table, at fixed indexes. */
static const char *const fixed_strings[] = { "", "samples", "count", "cpu", "nanoseconds", "[python]",
					     "[kernel.kallsyms]" };
enum { S_EMPTY, S_SAMPLES, S_COUNT, S_CPU, S_NANOSECONDS, S_PYTHON, S_KERNEL, S_NFIXED };

/* Mapping 1 holds the Python and pseudo frames. */
#define PYTHON_MAPPING_ID 1

/* Encoded bytes are handed to deflate once a batch is this big. */
#define BATCH_BYTES (64 * 1024)

struct func {
	uint64_t name, file;     /* string table indexes */
	int64_t start_line;      /* 0 when unknown */
};

struct loc {
	uint64_t func_id;
	int64_t line;            /* 0 when unknown */
	uint64_t mapping_id;
	uint64_t address;        /* native and kernel frames; 0 for Python ones */
};

struct mapping {
	uint64_t file, build_id; /* string table indexes */
};

struct tables {
	const char **strings;    /* string table, by index */
	size_t nstrings, capstrings;
	struct u64map string_ids; /* string pointer -> index */
	struct func *funcs;      /* funcs[id - 1] */
	size_t nfuncs, capfuncs;
	struct u64map func_ids;  /* hash of (name, file, start) -> id, probed */
	struct loc *locs;        /* locs[id - 1] */
	size_t nlocs, caplocs;
	struct u64map loc_ids;   /* hash of (function, line, mapping, address) -> id, probed */
	struct mapping *maps;    /* maps[id - 1]; maps[0] is "[python]" */
	size_t nmaps, capmaps;
	struct u64map map_ids;   /* hash of (file, build id) -> id, probed */
	struct u64map label_locs; /* interned label pointer -> location id */
};

/* Grows an array of elem-sized entries (doubling) so index n is writable.
 * Returns the array, moved or not, or NULL (the old one still valid). */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 256;

	if (ncap > SIZE_MAX / elem)
		return NULL;
	void *q = realloc(arr, ncap * elem);

	if (q)
		*cap = ncap;
	return q;
}


static void tables_free(struct tables *t)
{
	free(t->strings);
	free(t->funcs);
	free(t->locs);
	free(t->maps);
	u64map_free(&t->string_ids);
	u64map_free(&t->func_ids);
	u64map_free(&t->loc_ids);
	u64map_free(&t->map_ids);
	u64map_free(&t->label_locs);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

/* Index of s in the string table, adding it. Strings are keyed by pointer:
 * frametab interns names and files, so equal text is one pointer; a rare
 * duplicate (a label without meta equal to some name) only costs an entry. */
static int string_id(struct tables *t, const char *s, uint64_t *id)
{
	if (!s || !*s) {
		*id = S_EMPTY;
		return 0;
	}
	uint64_t *v = u64map_get(&t->string_ids, u64map_key_of(s));

	if (v) {
		*id = *v;
		return 0;
	}
	const char **a = grow(t->strings, &t->capstrings, t->nstrings, sizeof(*a));

	if (!a)
		return -ENOMEM;
	t->strings = a;
	if (u64map_put(&t->string_ids, u64map_key_of(s), t->nstrings))
		return -ENOMEM;
	*id = t->nstrings;
	t->strings[t->nstrings++] = s;
	return 0;
}

/*
 * The id of elem in a table of size-byte entries (*arr, *n of them, ids 1..n
 * in order): the entry that same() finds equal, else elem appended. ids maps
 * the entry's hash to its id; a 64-bit hash collision moves on to h+1, h+2,
 * ..., each slot holding one id, compared by same(). Returns 0 or -ENOMEM.
 */
static int intern_id(struct u64map *ids, uint64_t h, void **arr, size_t *n, size_t *cap, size_t size,
		     const void *elem, bool (*same)(const void *a, const void *b), uint64_t *id)
{
	uint64_t k = h;

	for (uint64_t *v; (v = u64map_get(ids, k)); k++) {
		if (same((const char *)*arr + (*v - 1) * size, elem)) {
			*id = *v;
			return 0;
		}
	}
	void *a = grow(*arr, cap, *n, size);

	if (!a)
		return -ENOMEM;
	*arr = a;
	if (u64map_put(ids, k, *n + 1))
		return -ENOMEM;
	memcpy((char *)a + *n * size, elem, size);
	*id = ++*n;
	return 0;
}

static bool same_func(const void *a, const void *b)
{
	const struct func *f = a, *g = b;

	return f->name == g->name && f->file == g->file && f->start_line == g->start_line;
}

static int func_id(struct tables *t, const struct func *f, uint64_t *id)
{
	void *arr = t->funcs;
	int err = intern_id(&t->func_ids, mix(mix(mix(1, f->name), f->file), (uint64_t)f->start_line), &arr,
			    &t->nfuncs, &t->capfuncs, sizeof(*f), f, same_func, id);

	t->funcs = arr;
	return err;
}

static bool same_loc(const void *a, const void *b)
{
	const struct loc *l = a, *m = b;

	return l->func_id == m->func_id && l->line == m->line && l->mapping_id == m->mapping_id &&
	       l->address == m->address;
}

static int loc_id(struct tables *t, const struct loc *l, uint64_t *id)
{
	void *arr = t->locs;
	uint64_t h = mix(mix(mix(mix(2, l->func_id), (uint64_t)l->line), l->mapping_id), l->address);
	int err = intern_id(&t->loc_ids, h, &arr, &t->nlocs, &t->caplocs, sizeof(*l), l, same_loc, id);

	t->locs = arr;
	return err;
}

static bool same_mapping(const void *a, const void *b)
{
	const struct mapping *m = a, *n = b;

	return m->file == n->file && m->build_id == n->build_id;
}

/* One Mapping per (file, build id): the same path may hold different
 * builds in different processes (containers, record -a). (pprof, reading
 * the profile, merges mappings of one build id, or of one file name when
 * there is none, which is right for the same build under two paths.) */
static int mapping_id(struct tables *t, const struct mapping *m, uint64_t *id)
{
	void *arr = t->maps;
	int err = intern_id(&t->map_ids, mix(mix(3, m->file), m->build_id), &arr, &t->nmaps, &t->capmaps,
			    sizeof(*m), m, same_mapping, id);

	t->maps = arr;
	return err;
}

/* Location id of an interned label, creating its Function and Location on
 * first sight. */
static int label_loc(struct tables *t, const struct frametab *ft, const char *label, uint64_t *id)
{
	uint64_t *v = u64map_get(&t->label_locs, u64map_key_of(label));

	if (v) {
		*id = *v;
		return 0;
	}
	const struct frame_meta *m = frametab_meta(ft, label);
	/* No meta should not happen; such a label is shown as a pseudo-frame:
	 * its whole text is the function name, without file or line. */
	struct frame_meta pseudo = { .name = label, .file = "", .line = -1, .firstline = -1 };

	if (!m || !m->name)
		m = &pseudo;
	struct func f = { .start_line = m->firstline > 0 ? m->firstline : 0 };
	struct loc l = { .line = m->line > 0 ? m->line : 0, .mapping_id = PYTHON_MAPPING_ID };
	int err;

	if ((err = string_id(t, m->name, &f.name)) || (err = string_id(t, m->file, &f.file)) ||
	    (err = func_id(t, &f, &l.func_id)))
		return err;
	if (m->kind == FRAME_NATIVE || m->kind == FRAME_KERNEL) {
		/* The kernel is one mapping whatever file name the frame has. */
		struct mapping mp = { .file = m->kind == FRAME_KERNEL ? S_KERNEL : f.file };

		if ((err = string_id(t, m->build_id, &mp.build_id)) || (err = mapping_id(t, &mp, &l.mapping_id)))
			return err;
		l.address = m->address;
	}
	if ((err = loc_id(t, &l, id)))
		return err;
	return u64map_put(&t->label_locs, u64map_key_of(label), *id);
}

struct gz {
	z_stream zs;
	FILE *f;
	unsigned char out[BATCH_BYTES];
};

/* Compresses n bytes (flush Z_NO_FLUSH or Z_FINISH) and writes what deflate
 * produces. Returns 0 or -errno. */
static int gz_write(struct gz *g, const uint8_t *p, size_t n, int flush)
{
	int rc;

	do {
		/* avail_in is a uInt: feed at most UINT_MAX bytes at a time. */
		uInt take = n > UINT_MAX ? UINT_MAX : (uInt)n;
		int fl = take == n ? flush : Z_NO_FLUSH;

		g->zs.next_in = (Bytef *)(uintptr_t)p;
		g->zs.avail_in = take;
		do {
			g->zs.next_out = g->out;
			g->zs.avail_out = sizeof(g->out);
			rc = deflate(&g->zs, fl);
			if (rc == Z_STREAM_ERROR)
				return -EIO;
			size_t have = sizeof(g->out) - g->zs.avail_out;

			if (have && fwrite(g->out, 1, have, g->f) != have)
				return io_error();
		} while (g->zs.avail_out == 0 || (fl == Z_FINISH && rc != Z_STREAM_END));
		if (g->zs.avail_in)
			return -EIO; /* deflate always consumes all input given room */
		if (take) /* p is NULL for the final flush: no arithmetic on it */
			p += take;
		n -= take;
	} while (n);
	return 0;
}

/* Hands the batch to deflate once it is big enough (or always when force). */
static int drain(struct pb_buf *b, struct gz *g, bool force)
{
	int err;

	if (b->err)
		return b->err;
	if (!force && b->len < BATCH_BYTES)
		return 0;
	err = gz_write(g, b->data, b->len, Z_NO_FLUSH);
	pb_buf_reset(b);
	return err;
}

static void put_value_type(struct pb_buf *b, struct pb_buf *sub, uint32_t field, uint64_t type, uint64_t unit)
{
	pb_buf_reset(sub);
	pb_put_uint64(sub, VALUETYPE_TYPE, type);
	pb_put_uint64(sub, VALUETYPE_UNIT, unit);
	pb_put_message(b, field, sub);
}

static int put_label(struct tables *t, struct pb_buf *sample, struct pb_buf *lb, const char *key,
		     const char *str, int64_t num)
{
	uint64_t k, v = 0;
	int err = string_id(t, key, &k);

	if (!err && str)
		err = string_id(t, str, &v);
	if (err)
		return err;
	pb_buf_reset(lb);
	pb_put_uint64(lb, LABEL_KEY, k);
	if (str)
		pb_put_uint64(lb, LABEL_STR, v);
	else
		pb_put_int64(lb, LABEL_NUM, num);
	pb_put_message(sample, SAMPLE_LABEL, lb);
	return 0;
}

/* Sample labels of one origin: which process and thread (record -a). */
static int put_origin_labels(struct tables *t, struct pb_buf *sample, struct pb_buf *lb,
			     const struct sample_origin *o)
{
	int err = 0;

	/* 0 is no process or thread: a profile read back without them */
	if (o->pid)
		err = put_label(t, sample, lb, "pid", NULL, o->pid);
	if (!err && o->tid)
		err = put_label(t, sample, lb, "tid", NULL, o->tid);
	if (!err && o->comm && *o->comm)
		err = put_label(t, sample, lb, "process", o->comm, 0);
	if (!err && o->cmdline && *o->cmdline)
		err = put_label(t, sample, lb, "cmdline", o->cmdline, 0);
	if (!err && o->thread && *o->thread)
		err = put_label(t, sample, lb, "thread", o->thread, 0);
	if (!err && o->container && *o->container)
		err = put_label(t, sample, lb, "container", o->container, 0);
	return err;
}

static int encode(const struct profile *p, const struct profile_meta *m, struct tables *t,
		  uint64_t *ids, struct pb_buf *b, struct pb_buf *sub, struct pb_buf *line, struct gz *g)
{
	uint64_t comment = S_EMPTY;
	int err;

	/* Off-CPU and wall profiles have one sample type, in nanoseconds. */
	uint64_t vtype = S_CPU;
	bool timed = m->value_type && *m->value_type;
	size_t nvalues = timed ? 1 : 2;

	if (m->name && *m->name && (err = string_id(t, m->name, &comment)))
		return err;
	if (timed && (err = string_id(t, m->value_type, &vtype)))
		return err;
	if (!timed)
		put_value_type(b, sub, PROFILE_SAMPLE_TYPE, S_SAMPLES, S_COUNT);
	put_value_type(b, sub, PROFILE_SAMPLE_TYPE, vtype, S_NANOSECONDS);

	for (size_t i = 0; i < p->len; i++) {
		const struct profile_stack *s = &p->stacks[i];
		uint64_t ns;

		if (!s->count)
			continue;
		/* int64 values: a count or time past 2^63 cannot be written. */
		if (s->count > INT64_MAX || __builtin_mul_overflow(s->count, m->period_ns, &ns) || ns > INT64_MAX)
			return -EOVERFLOW;
		int64_t values[2] = { (int64_t)s->count, (int64_t)ns };

		if (timed)
			values[0] = (int64_t)ns;

		/* Leaf first, as pprof wants; every label got its id in pass 1. */
		for (size_t j = 0; j < s->nframes; j++) {
			uint64_t *v = u64map_get(&t->label_locs, u64map_key_of(s->frames[j]));

			if (!v)
				return -EINVAL;
			ids[s->nframes - 1 - j] = *v;
		}
		pb_buf_reset(sub);
		pb_put_packed_uint64(sub, SAMPLE_LOCATION_ID, ids, s->nframes);
		pb_put_packed_int64(sub, SAMPLE_VALUE, values, nvalues);
		if (s->origin && (err = put_origin_labels(t, sub, line, s->origin)))
			return err;
		pb_put_message(b, PROFILE_SAMPLE, sub);
		if ((err = drain(b, g, false)))
			return err;
	}

	for (size_t i = 0; i < t->nmaps; i++) {
		pb_buf_reset(sub);
		pb_put_uint64(sub, MAPPING_ID, i + 1);
		pb_put_uint64(sub, MAPPING_FILENAME, t->maps[i].file);
		if (t->maps[i].build_id)
			pb_put_uint64(sub, MAPPING_BUILD_ID, t->maps[i].build_id);
		pb_put_uint64(sub, MAPPING_HAS_FUNCTIONS, 1);
		/* Python frames have source files and lines; native ones only
		 * the file they were mapped from, which is not a source file. */
		if (i + 1 == PYTHON_MAPPING_ID) {
			pb_put_uint64(sub, MAPPING_HAS_FILENAMES, 1);
			pb_put_uint64(sub, MAPPING_HAS_LINE_NUMBERS, 1);
		}
		pb_put_message(b, PROFILE_MAPPING, sub);
		if ((err = drain(b, g, false)))
			return err;
	}

	for (size_t i = 0; i < t->nlocs; i++) {
		pb_buf_reset(sub);
		pb_put_uint64(sub, LOCATION_ID, i + 1);
		pb_put_uint64(sub, LOCATION_MAPPING_ID, t->locs[i].mapping_id);
		if (t->locs[i].address)
			pb_put_uint64(sub, LOCATION_ADDRESS, t->locs[i].address);
		pb_buf_reset(line);
		pb_put_uint64(line, LINE_FUNCTION_ID, t->locs[i].func_id);
		if (t->locs[i].line)
			pb_put_int64(line, LINE_LINE, t->locs[i].line);
		pb_put_message(sub, LOCATION_LINE, line);
		pb_put_message(b, PROFILE_LOCATION, sub);
		if ((err = drain(b, g, false)))
			return err;
	}

	for (size_t i = 0; i < t->nfuncs; i++) {
		const struct func *f = &t->funcs[i];

		pb_buf_reset(sub);
		pb_put_uint64(sub, FUNCTION_ID, i + 1);
		pb_put_uint64(sub, FUNCTION_NAME, f->name);
		if (f->file)
			pb_put_uint64(sub, FUNCTION_FILENAME, f->file);
		if (f->start_line)
			pb_put_int64(sub, FUNCTION_START_LINE, f->start_line);
		pb_put_message(b, PROFILE_FUNCTION, sub);
		if ((err = drain(b, g, false)))
			return err;
	}

	for (size_t i = 0; i < t->nstrings; i++) {
		pb_put_string(b, PROFILE_STRING_TABLE, t->strings[i], strlen(t->strings[i]));
		if ((err = drain(b, g, false)))
			return err;
	}

	if (m->start_unix_ns > INT64_MAX || m->duration_ns > INT64_MAX || m->period_ns > INT64_MAX)
		return -EOVERFLOW;
	if (m->start_unix_ns)
		pb_put_int64(b, PROFILE_TIME_NANOS, (int64_t)m->start_unix_ns);
	if (m->duration_ns)
		pb_put_int64(b, PROFILE_DURATION_NANOS, (int64_t)m->duration_ns);
	put_value_type(b, sub, PROFILE_PERIOD_TYPE, vtype, S_NANOSECONDS);
	pb_put_int64(b, PROFILE_PERIOD, (int64_t)m->period_ns);
	if (comment)
		pb_put_packed_int64(b, PROFILE_COMMENT, (const int64_t[]){ (int64_t)comment }, 1);
	pb_put_int64(b, PROFILE_DEFAULT_SAMPLE_TYPE, (int64_t)vtype);
	return drain(b, g, true);
}

int profile_write_pprof(const struct profile *p, const struct frametab *ft, const struct profile_meta *m,
			FILE *out)
{
	struct tables t = { 0 };
	uint64_t *ids = NULL, id;
	size_t maxdepth = 0;
	struct pb_buf b, sub, line;
	struct gz *g = NULL;
	bool gz_ready = false;
	int err = 0;

	errno = 0; /* so io_error reads the errno of a failed write, not an old one */
	pb_buf_init(&b);
	pb_buf_init(&sub);
	pb_buf_init(&line);
	/* Fixed strings first, keyed by their own pointers; "" is index 0
	 * (string_id maps every empty string there without a lookup). */
	if (!(t.strings = grow(NULL, &t.capstrings, 0, sizeof(*t.strings))))
		err = -ENOMEM;
	else
		t.strings[t.nstrings++] = fixed_strings[S_EMPTY];
	for (size_t i = S_EMPTY + 1; i < S_NFIXED && !err; i++)
		err = string_id(&t, fixed_strings[i], &id);
	if (!err)
		err = mapping_id(&t, &(struct mapping){ .file = S_PYTHON }, &id); /* PYTHON_MAPPING_ID */
	/* Pass 1: every label's Function and Location, and the deepest stack
	 * (the size of the one scratch array of ids the samples need). */
	for (size_t i = 0; i < p->len && !err; i++) {
		const struct profile_stack *s = &p->stacks[i];

		if (s->nframes > maxdepth)
			maxdepth = s->nframes;
		for (size_t j = 0; j < s->nframes && !err; j++)
			err = label_loc(&t, ft, s->frames[j], &id);
	}
	if (!err && (maxdepth > SIZE_MAX / sizeof(*ids) || !(ids = malloc((maxdepth ? maxdepth : 1) * sizeof(*ids)))))
		err = -ENOMEM;
	if (!err && !(g = malloc(sizeof(*g))))
		err = -ENOMEM;
	if (!err) {
		memset(&g->zs, 0, sizeof(g->zs));
		g->f = out;
		/* windowBits 15 + 16: a gzip header and trailer, not raw zlib. */
		int rc = deflateInit2(&g->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);

		if (rc == Z_OK)
			gz_ready = true;
		else
			err = rc == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	if (!err)
		err = encode(p, m, &t, ids, &b, &sub, &line, g);
	if (!err)
		err = gz_write(g, NULL, 0, Z_FINISH);
	if (!err && fflush(out))
		err = io_error();
	if (!err && ferror(out))
		err = -EIO; /* an earlier failure we were not told of */

	if (gz_ready)
		deflateEnd(&g->zs);
	free(g);
	free(ids);
	pb_buf_free(&b);
	pb_buf_free(&sub);
	pb_buf_free(&line);
	tables_free(&t);
	return err;
}
