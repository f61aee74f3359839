/* Profiles read back from folded files, pprof files and directories of
 * period files (profile_read.h); pprof decoding is in pprof_read.c. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "flamegraph.h"
#include "folded.h"
#include "output/archive.h"
#include "output/profile_read.h"
#include "util/errbuf.h"

/* A directory's skipped files are named one per line up to this many. */
#define SKIPPED_NAMED 10

void read_profile_free(struct read_profile *rp)
{
	void *o;

	profile_free(&rp->prof);
	for (size_t it = 0; u64map_next_ptr(&rp->origins, &it, NULL, &o);)
		free(o);
	u64map_free(&rp->origins);
	read_label_cache_free(&rp->label_cache);
	free(rp->stage.adds);
	frametab_free(&rp->labels);
	free(rp->files);
	memset(rp, 0, sizeof(*rp));
}

void read_profile_init(struct read_profile *rp)
{
	memset(rp, 0, sizeof(*rp));
	profile_init(&rp->prof);
	frametab_init(&rp->labels);
	u64map_init(&rp->origins);
}

const struct read_file *read_profile_file(const struct read_profile *rp, const struct profile_stack *s)
{
	uint32_t src = s->origin ? s->origin->source : 0;

	return src && src <= rp->nfiles ? &rp->files[src - 1] : NULL;
}

uint64_t read_profile_duration_ns(const struct read_profile *rp)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < rp->nfiles; i++) {
		if (!rp->files[i].duration_ns)
			return 0;
		sum += rp->files[i].duration_ns;
	}
	return sum;
}

uint64_t read_profile_time_ns(const struct read_profile *rp)
{
	double sum = 0;

	for (size_t i = 0; i < rp->nfiles; i++) {
		if (!rp->files[i].period_ns)
			return 0;
		sum += (double)rp->files[i].samples * (double)rp->files[i].period_ns;
	}
	return sum >= 1.8e19 ? UINT64_MAX : (uint64_t)sum;
}

/* ---- stacks ---------------------------------------------------------------- */

static int cmp_stage_add(const void *a, const void *b)
{
	const struct read_stage_add *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

/* Room for one more entry in the stage's adds. Entries of one stack are
 * merged before growing past the stacks there were, so a file of many
 * samples of the same stacks needs no more than one each. */
static int stage_room(struct read_stage *st)
{
	if (st->nadds < st->capadds)
		return 0;
	if (st->capadds > st->len) {
		size_t n = 0;

		qsort(st->adds, st->nadds, sizeof(*st->adds), cmp_stage_add);
		for (size_t i = 0; i < st->nadds; i++) {
			if (n && st->adds[n - 1].index == st->adds[i].index)
				st->adds[n - 1].count += st->adds[i].count;
			else
				st->adds[n++] = st->adds[i];
		}
		st->nadds = n;
		if (n < st->capadds)
			return 0;
	}
	size_t ncap = st->capadds ? st->capadds * 2 : 1024;
	struct read_stage_add *a = realloc(st->adds, ncap * sizeof(*a));

	if (!a)
		return -ENOMEM;
	st->adds = a;
	st->capadds = ncap;
	return 0;
}

int read_profile_add(struct read_profile *rp, uint64_t hash, const char *const *frames, size_t nframes,
		     uint64_t count, const struct sample_origin *origin)
{
	struct read_stage *st = &rp->stage;
	size_t index;

	if (count > READ_MAX_TOTAL - rp->prof.total)
		return -EOVERFLOW;
	if (st->on && stage_room(st))
		return -ENOMEM;
	if (profile_add_hashed(&rp->prof, hash, frames, nframes, count, origin, &index))
		return -ENOMEM;
	if (st->on && index < st->len)
		st->adds[st->nadds++] = (struct read_stage_add){ index, count };
	return 0;
}

/* From here on, what is added to rp->prof can be taken back. */
static void stage_begin(struct read_profile *rp)
{
	rp->stage.on = true;
	rp->stage.len = rp->prof.len;
	rp->stage.total = rp->prof.total;
	rp->stage.nadds = 0;
}

/* Keeps what was added since stage_begin, or takes it back. */
static void stage_end(struct read_profile *rp, bool keep)
{
	struct read_stage *st = &rp->stage;

	if (!keep) {
		for (size_t i = 0; i < st->nadds; i++)
			rp->prof.stacks[st->adds[i].index].count -= st->adds[i].count;
		profile_truncate(&rp->prof, st->len);
		rp->prof.total = st->total;
	}
	st->on = false;
	st->nadds = 0;
}

/* ---- origins ------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static bool same_origin(const struct sample_origin *a, const struct sample_origin *b)
{
	return a->pid == b->pid && a->tid == b->tid && a->source == b->source && a->comm == b->comm &&
	       a->cmdline == b->cmdline && a->thread == b->thread && a->container == b->container;
}

const struct sample_origin *read_profile_origin(struct read_profile *rp, const struct sample_origin *o)
{
	struct strtab *st = &rp->labels.strings;
	struct sample_origin k = {
		.pid = o->pid, .tid = o->tid, .source = o->source,
		.comm = strtab_intern(st, or_empty(o->comm)),
		.cmdline = strtab_intern(st, or_empty(o->cmdline)),
		.thread = strtab_intern(st, or_empty(o->thread)),
		.container = strtab_intern(st, or_empty(o->container)),
	};

	if (!k.comm || !k.cmdline || !k.thread || !k.container)
		return NULL;
	/* strings are interned: their pointers stand for their text */
	uint64_t h = mix(mix(mix(mix(mix(mix(mix(7, k.pid), k.tid), k.source), u64map_key_of(k.comm)),
				 u64map_key_of(k.cmdline)), u64map_key_of(k.thread)), u64map_key_of(k.container));

	for (;; h++) {
		const struct sample_origin *known = u64map_get_ptr(&rp->origins, h);

		if (!known)
			break;
		if (same_origin(known, &k))
			return known;
	}
	struct sample_origin *copy = malloc(sizeof(*copy));

	if (!copy)
		return NULL;
	*copy = k;
	if (u64map_put_ptr(&rp->origins, h, copy)) {
		free(copy);
		return NULL;
	}
	return copy;
}

/* ---- folded -------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* A decimal number of at most 10 digits that fits 32 bits, or -1. */
static int64_t small_number(const char *s, size_t n)
{
	uint64_t v = 0;

	if (!all_digits(s, n) || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	return v > UINT32_MAX ? -1 : (int64_t)v;
}

/* "thread NAME (TID)": the TID, or -1 when label is not one. */
static int64_t thread_root_tid(const char *label, size_t len, size_t *name_len)
{
	const char *open = strrchr(label, '(');

	if (len < 11 || strncmp(label, "thread ", 7) != 0 || label[len - 1] != ')' || !open ||
	    open < label + 8 || open[-1] != ' ')
		return -1;
	*name_len = (size_t)(open - 1 - (label + 7));
	return small_number(open + 1, (size_t)(label + len - 1 - (open + 1)));
}

/* "process PID": the PID, or -1. */
static int64_t process_root_pid(const char *label, size_t len)
{
	return len > 8 && strncmp(label, "process ", 8) == 0 ? small_number(label + 8, len - 8) : -1;
}

/* The parts of a folded label (see profile_read.h). */
static void parse_label(const char *label, struct frame_meta *m, char **name_copy, char **file_copy)
{
	size_t len = strlen(label), file_len, name_len;
	const char *file;

	*m = (struct frame_meta){ .name = NULL, .file = "", .line = -1, .firstline = -1, .kind = FRAME_PSEUDO };
	*name_copy = *file_copy = NULL;
	if (process_root_pid(label, len) >= 0 || thread_root_tid(label, len, &name_len) >= 0)
		return;
	enum fg_frame_kind kind = fg_frame_classify(label, len, &file, &file_len);

	switch (kind) {
	case FG_FRAME_KERNEL:
		m->kind = FRAME_KERNEL;
		*name_copy = strndup(label, len - strlen(" [kernel]"));
		break;
	case FG_FRAME_NATIVE:
		m->kind = FRAME_NATIVE;
		*file_copy = strndup(file, file_len);
		if (label[len - 1] == ')') {
			/* "symbol (lib)": the name ends before " (" */
			*name_copy = strndup(label, (size_t)(file - label) - 2);
		} else {
			/* "lib+0xADDR": no symbol; the label is the name */
			m->address = strtoull(file + file_len + 3, NULL, 16);
		}
		break;
	case FG_FRAME_USER:
	case FG_FRAME_STDLIB:
	case FG_FRAME_LIBRARY: {
		m->kind = FRAME_PYTHON;
		*name_copy = strndup(label, (size_t)(file - label) - 2);
		*file_copy = strndup(file, file_len);
		/* ":LINE)" after the path, when there is one */
		const char *after = file + file_len;
		int64_t line = *after == ':' ? small_number(after + 1, (size_t)(label + len - 1 - (after + 1))) : -1;

		if (line >= 0 && line <= INT32_MAX)
			m->line = (int)line;
		break;
	}
	default: /* pyperf's "[...]", other tools' names */
		break;
	}
	m->name = *name_copy;
	m->file = *file_copy ? *file_copy : "";
}

/* The interned label for a frame read from a folded file. */
static const char *folded_label(struct frametab *ft, const char *text)
{
	const char *l = strtab_intern(&ft->strings, text);

	if (!l || frametab_meta(ft, l))
		return l;
	struct frame_meta m;
	char *name, *file;

	parse_label(l, &m, &name, &file);
	if ((m.kind == FRAME_PYTHON || m.kind == FRAME_NATIVE) && (!file || (m.kind == FRAME_PYTHON && !name)))
		l = NULL; /* strndup failed */
	else if (m.kind == FRAME_KERNEL && !name)
		l = NULL;
	else
		l = frametab_label(ft, l, &m);
	free(name);
	free(file);
	return l;
}

struct folded_ctx {
	struct read_profile *rp;
	uint32_t source;
	uint64_t samples;
	const char **frames;
	size_t cap;
	int err;
};

static int folded_stack(void *vctx, char **frames, size_t nframes, uint64_t count)
{
	struct folded_ctx *c = vctx;
	struct sample_origin o = { .source = c->source };
	size_t name_len;

	if (nframes > c->cap) {
		const char **n = realloc(c->frames, nframes * sizeof(*n));

		if (!n)
			return c->err = -ENOMEM;
		c->frames = n;
		c->cap = nframes;
	}
	for (size_t i = 0; i < nframes; i++)
		if (!(c->frames[i] = folded_label(&c->rp->labels, frames[i])))
			return c->err = -ENOMEM;
	/* record -a and --threads put the process and thread at the root */
	size_t i = 0;
	int64_t id;

	if (i < nframes && (id = process_root_pid(frames[i], strlen(frames[i]))) >= 0) {
		o.pid = (uint32_t)id;
		i++;
	}
	if (i < nframes && (id = thread_root_tid(frames[i], strlen(frames[i]), &name_len)) >= 0) {
		o.tid = (uint32_t)id;
		frames[i][7 + name_len] = '\0'; /* the callee may modify the strings */
		o.thread = frames[i] + 7;
	}
	const struct sample_origin *origin = read_profile_origin(c->rp, &o);

	if (!origin)
		return c->err = -ENOMEM;
	if ((c->err = read_profile_add(c->rp, profile_hash(c->frames, nframes, origin), c->frames, nframes, count,
				       origin)))
		return c->err;
	c->samples += count;
	return 0;
}

static int read_folded(struct read_profile *rp, struct read_file *f, FILE *in, uint32_t source, char *err,
		       size_t errlen)
{
	struct folded_ctx c = { .rp = rp, .source = source };
	struct folded_stats st;
	int rc = folded_parse(in, folded_stack, &c, &st);

	free(c.frames);
	if (rc) {
		rc = c.err ? c.err : rc;
		set_err(err, errlen, "%s", rc == -EOVERFLOW ? "the counts add up to more than 2^62" : strerror(-rc));
		return rc;
	}
	if (!st.stacks && st.malformed) {
		set_err(err, errlen, "not folded stacks ('frame;frame;... COUNT' lines): line %llu is not one",
			(unsigned long long)st.first_malformed);
		return -EINVAL;
	}
	f->samples = c.samples;
	return 0;
}

/* ---- files ----------------------------------------------------------------- */

/* The buffer and inflate stream of slurp, kept from one file of a
 * directory to the next (no new allocation, page faults and inflate state
 * for each). */
struct slurp_buf {
	uint8_t *data;
	size_t cap;
	z_stream zs;
	bool zs_ready;
};

static void slurp_buf_free(struct slurp_buf *b)
{
	if (b->zs_ready)
		inflateEnd(&b->zs);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* The whole file into b->data (len bytes), gunzipped when it is gzip (or
 * zlib), at most READ_MAX_BYTES. Returns 0 or -errno with err set. */
static int slurp(FILE *in, struct slurp_buf *b, size_t *out_len, char *err, size_t errlen)
{
	z_stream *zs = &b->zs;
	uint8_t chunk[64 * 1024];
	size_t len = 0;
	bool gz = false, started = false;
	int zrc = Z_OK;

	for (;;) {
		size_t n = fread(chunk, 1, sizeof(chunk), in);

		if (!n)
			break;
		if (!started) {
			started = true;
			gz = n >= 2 && chunk[0] == 0x1f && chunk[1] == 0x8b;
			/* 15 + 32: gzip or zlib header, told apart by zlib */
			if (gz && !b->zs_ready) {
				memset(zs, 0, sizeof(*zs));
				if (inflateInit2(zs, 15 + 32) != Z_OK) {
					set_err(err, errlen, "out of memory");
					return -ENOMEM;
				}
				b->zs_ready = true;
			} else if (gz && inflateReset(zs) != Z_OK) {
				set_err(err, errlen, "cannot restart zlib's inflate");
				return -EIO;
			}
		}
		zs->next_in = chunk;
		zs->avail_in = (uInt)n;
		do {
			if (b->cap - len < sizeof(chunk)) {
				size_t ncap = b->cap ? b->cap * 2 : 16 * sizeof(chunk);
				uint8_t *nb;

				if (ncap > READ_MAX_BYTES + sizeof(chunk))
					ncap = READ_MAX_BYTES + sizeof(chunk);
				if (len >= READ_MAX_BYTES) {
					set_err(err, errlen, "more than %llu MiB %s: not read",
						READ_MAX_BYTES >> 20, gz ? "once decompressed" : "");
					return -EFBIG;
				}
				if (!(nb = realloc(b->data, ncap))) {
					set_err(err, errlen, "out of memory");
					return -ENOMEM;
				}
				b->data = nb;
				b->cap = ncap;
			}
			if (!gz) {
				memcpy(b->data + len, chunk, n);
				len += n;
				break;
			}
			if (zrc == Z_STREAM_END) {
				/* gzip members one after another are one stream (gzip -c a b) */
				if (inflateReset(zs) != Z_OK) {
					set_err(err, errlen, "cannot restart zlib's inflate");
					return -EIO;
				}
			}
			zs->next_out = b->data + len;
			zs->avail_out = (uInt)(b->cap - len);
			zrc = inflate(zs, Z_NO_FLUSH);
			len = b->cap - zs->avail_out;
			if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
				set_err(err, errlen, "not valid gzip data (%s)", zs->msg ? zs->msg : "corrupt");
				return -EBADMSG;
			}
		} while (zs->avail_in || zs->avail_out == 0);
	}
	if (ferror(in)) {
		set_err(err, errlen, "%s", strerror(errno ? errno : EIO));
		return -EIO;
	}
	if (gz && zrc != Z_STREAM_END) {
		set_err(err, errlen, "the gzip data ends early: cut short (still being written?)");
		return -EBADMSG;
	}
	*out_len = len;
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A new entry in rp->files (zeroed, path interned); NULL on ENOMEM. */
static struct read_file *add_file(struct read_profile *rp, const char *path)
{
	if (rp->nfiles == rp->capfiles) {
		size_t ncap = rp->capfiles ? rp->capfiles * 2 : 16;
		struct read_file *n = realloc(rp->files, ncap * sizeof(*n));

		if (!n)
			return NULL;
		rp->files = n;
		rp->capfiles = ncap;
	}
	const char *p = strtab_intern(&rp->labels.strings, path);

	if (!p)
		return NULL;
	struct read_file *f = &rp->files[rp->nfiles++];

	*f = (struct read_file){ .path = p };
	return f;
}

/* Is it pprof? gzip data, or a name saying so (.pb, .pprof, .pb.gz). */
static bool looks_pprof(const char *path, const uint8_t *head, size_t n)
{
	return (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) || ends_with(path, ".pb.gz") ||
	       ends_with(path, ".pprof") || ends_with(path, ".pb");
}

/* What a file we cannot read is, for the message; NULL when it may be folded. */
static const char *unreadable_kind(const uint8_t *head, size_t n)
{
	size_t i = 0;

	while (i < n && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t'))
		i++;
	if (n - i >= 5 && (memcmp(head + i, "<?xml", 5) == 0 || memcmp(head + i, "<svg", 4) == 0))
		return "an SVG flame graph (it holds no stacks to read back)";
	if (n - i >= 1 && (head[i] == '{' || head[i] == '['))
		return "JSON (speedscope files are not read back)";
	return NULL;
}

/* One file into rp as files[nfiles], read with buf; its stacks' origins
 * get source (0: merged). A file failing part way may have added stacks to
 * rp->prof (not its files entry): read_period takes them back. */
static int read_one(struct read_profile *rp, const char *path, uint32_t source, uint64_t start_ns,
		    struct slurp_buf *buf, char *err, size_t errlen)
{
	char why[256] = "";
	uint8_t head[512];
	FILE *in = fopen(path, "rbe");
	int rc;

	if (!in) {
		rc = -errno;
		set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return rc;
	}
	size_t n = fread(head, 1, sizeof(head), in);
	const char *kind = unreadable_kind(head, n);

	if (kind) {
		fclose(in);
		set_err(err, errlen, "%s is %s; give folded stacks or pprof", path, kind);
		return -EINVAL;
	}
	rewind(in);
	struct read_file *f = add_file(rp, path);

	if (!f) {
		fclose(in);
		set_err(err, errlen, "out of memory reading %s", path);
		return -ENOMEM;
	}
	f->start_unix_ns = start_ns;
	if (looks_pprof(path, head, n)) {
		size_t len = 0;

		f->format = FMT_PPROF;
		rc = slurp(in, buf, &len, why, sizeof(why));
		if (!rc)
			rc = read_pprof(rp, f, buf->data, len, source, why, sizeof(why));
	} else {
		f->format = FMT_FOLDED;
		rc = read_folded(rp, f, in, source, why, sizeof(why));
	}
	fclose(in);
	if (rc) {
		rp->nfiles--;
		set_err(err, errlen, "cannot read %s: %s", path, why);
	}
	return rc;
}

/* Files of one kind only: CPU samples and time do not add up. */
static int check_kind(struct read_profile *rp, const struct read_file *f, char *err, size_t errlen)
{
	bool first = rp->nfiles == 1;

	if (!first && (f->value_type ? !rp->value_type || strcmp(f->value_type, rp->value_type) :
		       rp->value_type != NULL)) {
		set_err(err, errlen, "%s holds %s values, the files before it %s: profiles of different "
			"kinds do not mix", f->path, f->value_type ? f->value_type : "CPU sample",
			rp->value_type ? rp->value_type : "CPU sample");
		return -EINVAL;
	}
	rp->value_type = f->value_type;
	return 0;
}

/* The label of src's table, interned in dst's with its parts. */
static const char *move_label(struct frametab *dst, const struct frametab *src, const char *label)
{
	const struct frame_meta *m = frametab_meta(src, label);
	const struct frame_meta pseudo = { .file = "", .line = -1, .firstline = -1, .kind = FRAME_PSEUDO };

	return frametab_label(dst, label, m ? m : &pseudo);
}

/* Adds the stacks of one into rp; an origin's source i in one becomes
 * base + i in rp (0 stays 0: merged). */
static int merge_stacks(struct read_profile *rp, const struct read_profile *one, uint32_t base, bool merge_files)
{
	const char **frames = NULL;
	size_t cap = 0;
	int rc = 0;
	/* one's label and origin pointers -> rp's: a label recurs in many
	 * stacks, and interning its text again each time is most of the cost */
	struct u64map labels, origins;

	u64map_init(&labels);
	u64map_init(&origins);
	for (size_t i = 0; i < one->prof.len && !rc; i++) {
		const struct profile_stack *s = &one->prof.stacks[i];

		if (s->nframes > cap) {
			const char **n = realloc(frames, s->nframes * sizeof(*n));

			if (!n) {
				rc = -ENOMEM;
				break;
			}
			frames = n;
			cap = s->nframes;
		}
		for (size_t j = 0; j < s->nframes && !rc; j++) {
			const char *l = u64map_get_ptr(&labels, u64map_key_of(s->frames[j]));

			if (!l && (!(l = move_label(&rp->labels, &one->labels, s->frames[j])) ||
				   u64map_put_ptr(&labels, u64map_key_of(s->frames[j]), l)))
				rc = -ENOMEM;
			frames[j] = l;
		}
		const struct sample_origin *origin = rc ? NULL : u64map_get_ptr(&origins, u64map_key_of(s->origin));

		if (!rc && !origin) {
			struct sample_origin o = *s->origin;

			o.source = merge_files || !o.source ? 0 : base + o.source;
			if (!(origin = read_profile_origin(rp, &o)) ||
			    u64map_put_ptr(&origins, u64map_key_of(s->origin), origin))
				rc = -ENOMEM;
		}
		if (!rc && s->count > READ_MAX_TOTAL - rp->prof.total)
			rc = -EOVERFLOW;

		if (!rc && profile_add_origin(&rp->prof, frames, s->nframes, s->count, origin))
			rc = -ENOMEM;
	}
	u64map_free(&labels);
	u64map_free(&origins);
	free(frames);
	return rc;
}

int read_profile_merge(struct read_profile *rp, const struct read_profile *one, bool merge_files, char *err,
		       size_t errlen)
{
	uint32_t base = (uint32_t)rp->nfiles;
	int rc = 0;

	for (size_t i = 0; i < one->nfiles && !rc; i++) {
		struct read_file *f = add_file(rp, one->files[i].path);

		if (!f) {
			rc = -ENOMEM;
			break;
		}
		const char *p = f->path;

		*f = one->files[i];
		f->path = p;
		/* strings of one's table: re-interned */
		f->value_type = f->value_type ? strtab_intern(&rp->labels.strings, f->value_type) : NULL;
		f->title = f->title ? strtab_intern(&rp->labels.strings, f->title) : NULL;
		if ((one->files[i].value_type && !f->value_type) || (one->files[i].title && !f->title))
			rc = -ENOMEM;
		else
			rc = check_kind(rp, f, err, errlen);
	}
	if (!rc)
		rc = merge_stacks(rp, one, base, merge_files);
	if (rc == -ENOMEM)
		set_err(err, errlen, "out of memory merging %s", one->nfiles ? one->files[0].path : "a profile");
	else if (rc == -EOVERFLOW)
		set_err(err, errlen, "the files' counts add up to more than 2^62 (at %s)",
			one->nfiles ? one->files[0].path : "a profile");
	rp->skipped += one->skipped;
	return rc;
}

struct period_file {
	char *name;
	uint64_t start_ns;
};

static int cmp_period(const void *a, const void *b)
{
	return strcmp(((const struct period_file *)a)->name, ((const struct period_file *)b)->name);
}

/* The period files in dir, sorted by time; NULL with *n = 0 for none. */
static struct period_file *list_period_files(const char *dir, size_t *n, int *rc)
{
	static const char *const suffixes[] = { ".pb.gz", ".folded", ".txt" };
	const size_t nsuffixes = sizeof(suffixes) / sizeof(suffixes[0]);
	DIR *d = opendir(dir);
	struct period_file *files = NULL;
	size_t cap = 0;
	struct dirent *de;

	*n = 0;
	*rc = 0;
	if (!d) {
		*rc = -errno;
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t start = 0;
		size_t s = 0;

		while (s < nsuffixes && !archive_period_start(de->d_name, suffixes[s], &start))
			s++;
		if (s == nsuffixes)
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct period_file *nf = realloc(files, ncap * sizeof(*nf));

			if (!nf) {
				*rc = -ENOMEM;
				break;
			}
			files = nf;
			cap = ncap;
		}
		if (!(files[*n].name = strdup(de->d_name))) {
			*rc = -ENOMEM;
			break;
		}
		files[(*n)++].start_ns = start;
	}
	closedir(d);
	if (*n > 1)
		qsort(files, *n, sizeof(*files), cmp_period);
	return files;
}

/* Whether a period [start, start + duration) meets [since, until); an
 * unknown duration (0) runs to next_start, the next period's start. */
static bool in_range(const struct read_opts *o, uint64_t start, uint64_t duration, uint64_t next_start)
{
	uint64_t end = duration ? start + duration : next_start;

	return !(o->until_unix_ns && start >= o->until_unix_ns) && !(o->since_unix_ns && end <= o->since_unix_ns);
}

/* One period file into rp. It is read with rp's labels and origins (no
 * second interning: most of the cost of a directory) straight into rp's
 * profile, staged: taken back whole unless the whole file read right and
 * is in the range. Labels and origins a bad file leaves behind cost a
 * little memory, nothing else. Returns 0; -ERANGE outside the range;
 * -EMLINK for a file of another kind (fatal); else read_one's error. */
static int read_period(struct read_profile *rp, const char *path, uint64_t start, uint64_t next_start,
		       const struct read_opts *o, struct slurp_buf *buf, char *why, size_t whylen)
{
	uint32_t source = o->merge_files ? 0 : (uint32_t)rp->nfiles + 1;

	stage_begin(rp);
	int r = read_one(rp, path, source, start, buf, why, whylen);

	if (!r && !in_range(o, start, rp->files[rp->nfiles - 1].duration_ns, next_start)) {
		rp->nfiles--;
		r = -ERANGE;
	} else if (!r && check_kind(rp, &rp->files[rp->nfiles - 1], why, whylen)) {
		r = -EMLINK;
	}
	stage_end(rp, !r);
	return r;
}

static int read_dir(struct read_profile *rp, const char *dir, const struct read_opts *o, char *err,
		    size_t errlen)
{
	const char *who = o->who ? o->who : "pyperf";
	size_t n, outside = 0;
	int rc;
	struct period_file *files = list_period_files(dir, &n, &rc);

	if (rc == -ENOMEM)
		set_err(err, errlen, "out of memory listing %s", dir);
	else if (rc)
		set_err(err, errlen, "cannot open the directory %s: %s", dir, strerror(-rc));
	else if (!n) {
		set_err(err, errlen, "no period files (pyperf-YYYYmmddTHHMMSS.mmmZ.pb.gz or .folded, as "
			"record --every writes) in %s", dir);
		rc = -ENOENT;
	}
	bool slash = dir[0] && dir[strlen(dir) - 1] == '/';
	struct slurp_buf buf = { 0 };

	for (size_t i = 0; i < n && !rc; i++) {
		char path[PATH_MAX], why[PATH_MAX + 300];
		uint64_t next_start = i + 1 < n ? files[i + 1].start_ns : UINT64_MAX;

		if (!in_range(o, files[i].start_ns, 0, next_start)) {
			outside++;
			continue;
		}
		if (snprintf(path, sizeof(path), "%s%s%s", dir, slash ? "" : "/", files[i].name) >= (int)sizeof(path))
			continue;
		int r = read_period(rp, path, files[i].start_ns, next_start, o, &buf, why, sizeof(why));

		if (r == -ENOMEM || r == -EIO || r == -EOVERFLOW || r == -EMLINK) {
			set_err(err, errlen, "%s", why);
			rc = r == -EMLINK ? -EINVAL : r;
		} else if (r == -ERANGE) {
			outside++;
		} else if (r) {
			if (rp->skipped < SKIPPED_NAMED)
				fprintf(stderr, "%s: %s; skipped\n", who, why);
			rp->skipped++;
		}
	}
	if (rp->skipped > SKIPPED_NAMED)
		fprintf(stderr, "%s: skipped %zu unreadable files in all\n", who, rp->skipped);
	slurp_buf_free(&buf);
	free(rp->stage.adds);
	rp->stage = (struct read_stage){ 0 };
	for (size_t i = 0; i < n; i++)
		free(files[i].name);
	free(files);
	if (!rc && !rp->nfiles) {
		set_err(err, errlen, "no readable period file in %s%s", dir,
			outside ? " in the time range asked for" : "");
		rc = -ENOENT;
	}
	return rc;
}

int profile_read(struct read_profile *rp, const char *path, const struct read_opts *o, char *err, size_t errlen)
{
	struct read_opts none = { 0 };
	struct stat st;

	read_profile_init(rp);
	if (!o)
		o = &none;
	if (stat(path, &st) != 0) {
		int rc = -errno;

		set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return rc;
	}
	if (S_ISDIR(st.st_mode))
		return read_dir(rp, path, o, err, errlen);
	uint64_t start = 0;
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (!archive_period_start(base, ".pb.gz", &start) && !archive_period_start(base, ".folded", &start))
		start = 0;
	struct slurp_buf buf = { 0 };
	int rc = read_one(rp, path, o->merge_files ? 0 : 1, start, &buf, err, errlen);

	slurp_buf_free(&buf);

	return rc ? rc : check_kind(rp, &rp->files[0], err, errlen);
}
