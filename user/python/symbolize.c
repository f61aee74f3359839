/*
 * Reads code objects out of the target through a struct memsrc (the live
 * process with process_vm_readv, or a core file). A code object is read once
 * and cached by address; its type is checked against the interpreter's code
 * type (tp_name "code") so freed or garbage memory is reported as unknown
 * instead of named wrongly.
 *
 * First sight of a code object costs two requests to the memory source (on
 * a live process, two process_vm_readv calls): the object itself, then in
 * one vectored read its name, its filename unless already cached, and its
 * line table, each with a window of its first bytes so short ones need
 * nothing more. On a live process the cost is per call and per iovec, not
 * per byte: a few hundred bytes more in a window are free, a read is not.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/memsrc.h"
#include "python/pyline.h"
#include "python/pystr.h"
#include "python/symbolize.h"
#include "util/u64map.h"

#define CODE_READ_MAX 512          /* bytes of PyCodeObject read (header fields only) */
#define NAME_MAX_BYTES 1024        /* UTF-8 bytes kept of a name or a path */
#define NAME_READ_MAX (4 * 1024)   /* bytes of character data read for one string */
#define LINETABLE_MAX (1u << 20)   /* larger line tables are not credible */
#define STR_HDR_MAX 128            /* largest str header (compact_size) a layout may give */
#define STR_WINDOW 256             /* bytes of characters read with a str's header */
#define BYTES_HDR_MAX 64           /* largest bytes header (bytes_sval) a layout may give */
#define LINETABLE_WINDOW 512       /* bytes of a line table read with its header */
#define MAX_CACHED_CODES (64u << 10)    /* code objects cached per process */
#define MAX_CACHED_LABELS (256u << 10)  /* (code, instruction) labels cached per process */
#define MAX_CACHED_STRS (64u << 10)     /* decoded str objects cached per process */
#define TYPE_TP_NAME 24            /* offsetof(PyTypeObject, tp_name), every 3.x */

/*
 * What is checked again of a cached code object (symbolizer_revalidate):
 * fields a live code object never changes. A different value, or an
 * unreadable object, means it was freed and its address maybe reused.
 * ob_refcnt is left out: it changes all the time.
 */
struct code_fp {
	uint64_t type;
	uint64_t name;              /* co_name */
	uint64_t qualname;          /* co_qualname (3.11+), else 0 */
	uint64_t filename;
	uint64_t linetable;
	int32_t firstlineno;
};

struct code_info {
	bool ok;
	bool fp_ok;                 /* fp was read (the object was readable when loaded) */
	struct code_fp fp;
	uint64_t name_addr;         /* the str objects qualname and filename were read from */
	uint64_t file_addr;
	const char *qualname;       /* interned */
	const char *filename;       /* interned */
	int firstlineno;
	int firsttraceable;
	uint8_t *linetable;
	size_t linetable_len;
};

struct symbolizer {
	struct py_target t;
	struct memsrc src;           /* where target memory is read */
	struct frametab *tab;
	struct pystr_layout strl;
	enum pyline_format linefmt;
	uint64_t code_type;         /* address of PyCode_Type once verified */
	struct u64map codes;        /* code address -> struct code_info * */
	struct u64map labels;       /* frame (generator bit cleared) -> label */
	/* str address -> its UTF-8, interned: a module's functions share one
	 * filename object, read once. Keyed by address and NOT validated on a
	 * hit (validating means reading the object again, the very cost this
	 * saves): a cached str is trusted only within the life of the
	 * code-object cache, and flushed with it. While a code object lives
	 * the strings it names live at their addresses; the risk is a str
	 * freed with all its code objects and another allocated at its address
	 * and named by a new code object before the next flush, the same risk
	 * the code cache takes with a freed code object's address. */
	struct u64map strs;
	struct symbolizer_stats stats;
	bool no_lines;              /* labels name the function only */
	size_t reval_pos;           /* symbolizer_revalidate: next slot of codes to look at */
};

struct symbolizer *symbolizer_new(const struct py_target *t, struct frametab *tab)
{
	struct memsrc src = memsrc_pid(t->pid);

	return symbolizer_new_src(t, tab, &src);
}

struct symbolizer *symbolizer_new_src(const struct py_target *t, struct frametab *tab,
				      const struct memsrc *src)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->t = *t;
	s->src = *src;
	s->tab = tab;
	const struct py_layout *L = &t->layout;

	s->strl = (struct pystr_layout){
		.state_off = L->unicode_state, .length_off = L->unicode_length,
		.ascii_size = L->unicode_ascii_size, .compact_size = L->unicode_compact_size,
		.kind_shift = L->unicode_kind_shift, .compact_shift = L->unicode_compact_shift,
		.ascii_shift = L->unicode_ascii_shift,
	};
	s->linefmt = pyline_format_for_version(t->version_hex);
	u64map_init(&s->codes);
	u64map_init(&s->labels);
	u64map_init(&s->strs);
	return s;
}

static void flush_caches(struct symbolizer *s)
{
	void *v;

	for (size_t it = 0; u64map_next_ptr(&s->codes, &it, NULL, &v);) {
		struct code_info *ci = v;

		free(ci->linetable);
		free(ci);
	}
	u64map_free(&s->codes);
	u64map_free(&s->labels);
	u64map_free(&s->strs);
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	flush_caches(s);
	free(s);
}

void symbolizer_set_lines(struct symbolizer *s, bool lines)
{
	s->no_lines = !lines;
}

void symbolizer_stats(const struct symbolizer *s, struct symbolizer_stats *out)
{
	*out = s->stats;
}

static uint64_t get_u64(const uint8_t *buf, size_t len, uint16_t off)
{
	uint64_t v = 0;

	if (off != PY_OFF_NONE && (size_t)off + 8 <= len)
		memcpy(&v, buf + off, 8);
	return v;
}

static int get_i32(const uint8_t *buf, size_t len, uint16_t off, int dflt)
{
	int32_t v = dflt;

	if (off != PY_OFF_NONE && (size_t)off + 4 <= len)
		memcpy(&v, buf + off, 4);
	return v;
}

/*
 * A str or bytes object is read in one piece together with its first
 * characters (STR_WINDOW, LINETABLE_WINDOW bytes after the header): the
 * header gives the real length, and only a longer object costs a second
 * read for the rest. The bytes past a short object's end are someone
 * else's and ignored; at the end of a mapping the piece is cut short to
 * its readable head, which is fine as long as it covers the object.
 */
static size_t str_piece_len(const struct symbolizer *s)
{
	return (size_t)s->strl.compact_size + STR_WINDOW;
}

static size_t bytes_piece_len(const struct symbolizer *s)
{
	return (size_t)s->t.layout.bytes_sval + LINETABLE_WINDOW;
}

/* Do the layout's str and bytes headers fit the fixed buffers? */
static bool str_layout_fits(const struct symbolizer *s)
{
	return s->strl.compact_size > 0 && s->strl.compact_size <= STR_HDR_MAX;
}

static bool bytes_layout_fits(const struct symbolizer *s)
{
	const struct py_layout *L = &s->t.layout;

	return (size_t)L->bytes_size + 8 <= L->bytes_sval && L->bytes_sval <= BYTES_HDR_MAX;
}

/*
 * Decodes the str at addr from got bytes read there (header and first
 * characters), reading the rest of its characters (up to NAME_READ_MAX
 * bytes) if it is longer; interns the UTF-8 (at most NAME_MAX_BYTES) and
 * caches it by address. Returns 0 with *val the interned string, or -errno.
 */
static int str_finish(struct symbolizer *s, uint64_t addr, const uint8_t *buf, size_t got,
		      const char **val)
{
	struct pystr_header h;
	uint8_t data[NAME_READ_MAX];
	char out[NAME_MAX_BYTES];

	*val = NULL;
	if (got < s->strl.ascii_size)
		return -EFAULT;
	/* Kind, compact and ascii bits, length bounds: see pystr.h. */
	if (pystr_parse_header(&s->strl, buf, got, &h))
		return -EINVAL;
	uint64_t want = (uint64_t)h.length * h.kind; /* no overflow: pystr_parse_header bounds length */

	if (want > NAME_READ_MAX)
		want = NAME_READ_MAX;
	const uint8_t *chars = buf + h.data_offset;
	size_t have = got - h.data_offset; /* got >= data_offset: pystr_parse_header checks */

	if (have < want) {
		memcpy(data, chars, have);
		if (memsrc_read(&s->src, addr + h.data_offset + have, data + have, (size_t)want - have))
			return -EFAULT;
		chars = data;
	}
	pystr_to_utf8(h.kind, chars, (size_t)want, h.length, out, sizeof(out));
	const char *v = strtab_intern(&s->tab->strings, out);

	if (!v)
		return -ENOMEM;
	u64map_put_ptr(&s->strs, addr, v); /* a failed put only costs a re-read */
	*val = v;
	return 0;
}

/*
 * The bytes object at addr from got bytes read there (header and first
 * bytes), reading the rest if it is longer; sizes above LINETABLE_MAX are
 * refused. *out is malloc'ed (never NULL on success). Returns 0 or -errno.
 */
static int bytes_finish(struct symbolizer *s, uint64_t addr, const uint8_t *buf, size_t got,
			uint8_t **out, size_t *len)
{
	const struct py_layout *L = &s->t.layout;
	int64_t size;

	*out = NULL;
	*len = 0;
	if (got < L->bytes_sval)
		return -EFAULT;
	memcpy(&size, buf + L->bytes_size, sizeof(size));
	if (size < 0 || (uint64_t)size > LINETABLE_MAX)
		return -EINVAL;
	uint8_t *data = malloc(size ? (size_t)size : 1);

	if (!data)
		return -ENOMEM;
	size_t have = got - L->bytes_sval;

	if (have > (size_t)size)
		have = (size_t)size;
	memcpy(data, buf + L->bytes_sval, have);
	if ((size_t)size > have &&
	    memsrc_read(&s->src, addr + L->bytes_sval + have, data + have, (size_t)size - have)) {
		free(data);
		return -EFAULT;
	}
	*out = data;
	*len = (size_t)size;
	return 0;
}

/* Is type the interpreter's code type? Checked by name once, then by address. */
static bool is_code_type(struct symbolizer *s, uint64_t type)
{
	uint64_t name_ptr;
	char name[8];

	if (!type)
		return false;
	if (s->code_type)
		return type == s->code_type;
	if (memsrc_read_u64(&s->src, type + TYPE_TP_NAME, &name_ptr) ||
	    memsrc_read(&s->src, name_ptr, name, 5) || memcmp(name, "code", 5) != 0)
		return false;
	s->code_type = type;
	return true;
}

/* Bytes of a code object that hold every fingerprint field. */
static size_t fp_len(const struct symbolizer *s)
{
	const struct py_layout *L = &s->t.layout;
	const uint16_t offs[] = { L->object_type, L->code_name, L->code_qualname, L->code_filename,
				  L->code_linetable, L->code_firstlineno };
	size_t end = 16;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		if (offs[i] != PY_OFF_NONE && (size_t)offs[i] + 8 > end)
			end = (size_t)offs[i] + 8;
	return end < CODE_READ_MAX ? end : CODE_READ_MAX;
}

/* The fingerprint from a code object's first len bytes; false when they do
 * not cover it. */
static bool code_fp_of(const struct symbolizer *s, const uint8_t *buf, size_t len, struct code_fp *fp)
{
	const struct py_layout *L = &s->t.layout;

	memset(fp, 0, sizeof(*fp));
	if (len < fp_len(s))
		return false;
	fp->type = get_u64(buf, len, L->object_type);
	fp->name = get_u64(buf, len, L->code_name);
	fp->qualname = get_u64(buf, len, L->code_qualname);
	fp->filename = get_u64(buf, len, L->code_filename);
	fp->linetable = get_u64(buf, len, L->code_linetable);
	fp->firstlineno = get_i32(buf, len, L->code_firstlineno, -1);
	return true;
}

/* Not the line table: code compiled again and again from the same source
 * (eval of one expression per request) gets a new one each time at a reused
 * address, with the same names; calling that stale would rebuild the
 * process's stacks for nothing. Its line numbers may then be the old ones'. */
static bool code_fp_eq(const struct code_fp *a, const struct code_fp *b)
{
	return a->type == b->type && a->name == b->name && a->qualname == b->qualname &&
	       a->filename == b->filename && a->firstlineno == b->firstlineno;
}

/* One str a code object names: the name (or qualname) or the filename. */
struct str_ref {
	uint64_t addr;
	const char *val;            /* interned, once known */
	int piece;                  /* its piece in the gathered read, or -1 */
	uint8_t buf[STR_HDR_MAX + STR_WINDOW];
};

/*
 * Reads a code object: one read for the object itself, then one gathered
 * read (memsrc_readv: a single process_vm_readv on a live process) of
 * whatever it points to that is not cached yet: its name, its filename
 * (usually cached: every function of a module shares it) and its line
 * table, each with its first bytes. Only strings or line tables longer than
 * those windows cost one more read each.
 */
static struct code_info *load_code(struct symbolizer *s, uint64_t code)
{
	const struct py_layout *L = &s->t.layout;
	struct code_info *ci = calloc(1, sizeof(*ci));
	uint8_t buf[CODE_READ_MAX];
	size_t len = L->code_size && L->code_size < CODE_READ_MAX ? L->code_size : CODE_READ_MAX;
	struct str_ref strs[2];
	uint8_t ltbuf[BYTES_HDR_MAX + LINETABLE_WINDOW];
	struct memsrc_iov iov[3];
	size_t n = 0;
	int lt_piece = -1;

	if (!ci)
		return NULL;
	s->stats.code_objects++;
	if (!str_layout_fits(s))
		goto bad;
	len = memsrc_read_partial(&s->src, code, buf, len);
	ci->fp_ok = code_fp_of(s, buf, len, &ci->fp);
	if (len < 16 || !is_code_type(s, get_u64(buf, len, L->object_type)))
		goto bad;
	uint16_t name_off = (L->flags & PYL_HAS_QUALNAME) && L->code_qualname != PY_OFF_NONE ?
			    L->code_qualname : L->code_name;

	strs[0].addr = get_u64(buf, len, name_off);
	strs[1].addr = get_u64(buf, len, L->code_filename);
	for (int i = 0; i < 2; i++) {
		struct str_ref *r = &strs[i];
		r->val = r->addr ? u64map_get_ptr(&s->strs, r->addr) : NULL;
		r->piece = -1;
		if (!r->addr)
			goto bad;
		if (r->val || (i == 1 && r->addr == strs[0].addr))
			continue;
		r->piece = (int)n;
		iov[n++] = (struct memsrc_iov){ .addr = r->addr, .buf = r->buf, .len = str_piece_len(s) };
	}
	/* --no-lines labels never use the line table: not read. */
	uint64_t lt_addr = s->no_lines || !bytes_layout_fits(s) ? 0 : get_u64(buf, len, L->code_linetable);

	if (lt_addr) {
		lt_piece = (int)n;
		iov[n++] = (struct memsrc_iov){ .addr = lt_addr, .buf = ltbuf, .len = bytes_piece_len(s) };
	}
	memsrc_readv(&s->src, iov, n);
	for (int i = 0; i < 2; i++) {
		struct str_ref *r = &strs[i];

		if (r->piece >= 0)
			str_finish(s, r->addr, r->buf, iov[r->piece].got, &r->val);
		else if (!r->val) /* the same object as the name */
			r->val = strs[0].val;
		if (!r->val)
			goto bad;
	}
	ci->qualname = strs[0].val;
	ci->filename = strs[1].val;
	ci->name_addr = strs[0].addr;
	ci->file_addr = strs[1].addr;
	ci->firstlineno = get_i32(buf, len, L->code_firstlineno, -1);
	ci->firsttraceable = get_i32(buf, len, L->code_firsttraceable, 0);
	/* Without a line table the frame keeps its name, only the line is lost. */
	if (lt_piece >= 0)
		bytes_finish(s, lt_addr, ltbuf, iov[lt_piece].got, &ci->linetable, &ci->linetable_len);
	ci->ok = true;
	return ci;
bad:
	s->stats.unreadable++;
	ci->ok = false;
	return ci;
}

#define LABEL_HIDDEN 1u /* cached verdict: the frame is not shown */

/* The code object's info, read on first use; NULL on out-of-memory. */
static struct code_info *get_code(struct symbolizer *s, uint64_t code)
{
	struct code_info *ci = u64map_get_ptr(&s->codes, code);

	if (ci)
		return ci;
	/* Bounded for days of profiling a process that keeps making code
	 * (exec, eval): start over rather than grow. Labels already handed
	 * out stay valid: they live in the frametab. */
	if (s->codes.len >= MAX_CACHED_CODES || s->labels.len >= MAX_CACHED_LABELS ||
	    s->strs.len >= MAX_CACHED_STRS) {
		flush_caches(s);
		s->stats.cache_flushes++;
	}
	ci = load_code(s, code);
	if (!ci || u64map_put_ptr(&s->codes, code, ci)) {
		free(ci);
		return NULL;
	}
	return ci;
}

/* CPython hides a 3.11+ frame that has not reached its first traceable
 * instruction (the prologue), unless a generator owns it. */
static bool frame_hidden(const struct symbolizer *s, const struct code_info *ci, uint64_t frame)
{
	int lasti = PYPERF_FRAME_LASTI(frame);

	return (s->t.layout.flags & PYL_INSTR_POINTER) && !PYPERF_FRAME_IS_GEN(frame) && lasti >= -1 &&
	       lasti < ci->firsttraceable;
}

static int frame_line(const struct symbolizer *s, const struct code_info *ci, uint64_t frame)
{
	int lasti = PYPERF_FRAME_LASTI(frame);

	if (lasti < -1)
		return -1;
	return pyline_lookup(s->linefmt, ci->linetable, ci->linetable_len, ci->firstlineno,
			     lasti < 0 ? -1 : lasti * 2);
}

static const char *make_label(struct symbolizer *s, uint64_t frame)
{
	uint64_t code = PYPERF_FRAME_CODE(frame);
	struct code_info *ci = get_code(s, code);
	char label[2 * NAME_MAX_BYTES + 64];

	if (!ci)
		return NULL;
	if (!ci->ok) {
		snprintf(label, sizeof(label), "[unknown code 0x%" PRIx64 "]", code);
		return frametab_pseudo(s->tab, label);
	}
	if (frame_hidden(s, ci, frame))
		return (const char *)(uintptr_t)LABEL_HIDDEN;
	int line = s->no_lines ? -1 : frame_line(s, ci, frame);

	return frametab_python(s->tab, ci->qualname, ci->filename, line, ci->firstlineno);
}

const char *symbolizer_frame(struct symbolizer *s, uint64_t frame)
{
	const char *label = u64map_get_ptr(&s->labels, frame);

	if (!label) {
		label = make_label(s, frame);
		if (!label)
			return NULL;
		u64map_put_ptr(&s->labels, frame, label); /* a failed put only costs a re-read */
	}
	return label == (const char *)(uintptr_t)LABEL_HIDDEN ? NULL : label;
}

/* Bytes of a str's characters read again to check it still says the same. */
#define STR_CHECK_WINDOW 64
/* Code objects checked per gathered read. */
#define REVAL_BATCH 128

/* Does the str read in buf (got bytes) still begin as want does, and end
 * where it does when all of it was read? */
static bool str_still(const struct symbolizer *s, const uint8_t *buf, size_t got, const char *want)
{
	struct pystr_header h;
	char out[4 * STR_CHECK_WINDOW + 8];

	if (!want || got < s->strl.ascii_size || pystr_parse_header(&s->strl, buf, got, &h) ||
	    h.data_offset > got)
		return false;
	size_t have = (got - h.data_offset) / h.kind;
	bool whole = (uint64_t)h.length <= have;
	size_t nchars = whole ? (size_t)h.length : have;

	pystr_to_utf8(h.kind, buf + h.data_offset, nchars * h.kind, (int64_t)nchars, out, sizeof(out));
	return whole ? strcmp(out, want) == 0 : strncmp(out, want, strlen(out)) == 0;
}

struct reval_slot {
	uint64_t code;
	struct code_info *ci;
	int piece;                  /* first of its pieces in the gathered read */
	int npieces;
	uint8_t obj[CODE_READ_MAX];
	uint8_t name[STR_HDR_MAX + STR_CHECK_WINDOW];
	uint8_t file[STR_HDR_MAX + STR_CHECK_WINDOW];
};

/* Is the cached code object of slot (its pieces read into iov) gone? */
static bool reval_stale(struct symbolizer *s, const struct reval_slot *r, const struct memsrc_iov *iov)
{
	const struct code_info *ci = r->ci;
	struct code_fp now;
	bool readable = code_fp_of(s, r->obj, iov[r->piece].got, &now);

	if (!ci->ok) /* not a code object when read: stale once a code object is there */
		return readable && s->code_type && now.type == s->code_type &&
		       (!ci->fp_ok || !code_fp_eq(&now, &ci->fp));
	if (!ci->fp_ok)
		return false; /* nothing to compare with */
	if (!readable || !code_fp_eq(&now, &ci->fp))
		return true;
	/* The same pointers, but a str freed with the old object can have
	 * been reallocated at the same address for the new one. */
	if (!str_still(s, r->name, iov[r->piece + 1].got, ci->qualname))
		return true;
	return r->npieces > 2 && !str_still(s, r->file, iov[r->piece + 2].got, ci->filename);
}

/* Forgets the code objects in drop (address -> struct code_info *), the strs
 * they named and every label of their frames. */
static void drop_codes(struct symbolizer *s, struct u64map *drop)
{
	uint64_t code, frame, label;
	void *v;

	for (size_t it = 0; u64map_next_ptr(drop, &it, &code, &v);) {
		struct code_info *ci = v;

		u64map_del(&s->codes, code);
		if (ci->name_addr)
			u64map_del(&s->strs, ci->name_addr);
		if (ci->file_addr)
			u64map_del(&s->strs, ci->file_addr);
		free(ci->linetable);
		free(ci);
	}
	/* Labels are keyed by frame: one sweep, rebuilt rather than deleted
	 * from while iterating (deleting moves entries). */
	struct u64map keep;

	u64map_init(&keep);
	for (size_t it = 0; u64map_next(&s->labels, &it, &frame, &label);) {
		if (u64map_get(drop, PYPERF_FRAME_CODE(frame)))
			continue;
		if (u64map_put(&keep, frame, label))
			break; /* out of memory: the rest are read again */
	}
	u64map_free(&s->labels);
	s->labels = keep;
}

int symbolizer_revalidate(struct symbolizer *s, size_t max_codes)
{
	size_t n_fp = fp_len(s), str_len = (size_t)s->strl.compact_size + STR_CHECK_WINDOW;
	struct reval_slot *slots;
	struct memsrc_iov *iov;
	struct u64map drop;
	size_t checked = 0, visited = 0;
	int dropped = 0;

	if (!s->codes.len || !max_codes || !str_layout_fits(s))
		return 0;
	slots = malloc(REVAL_BATCH * sizeof(*slots));
	iov = malloc(3 * REVAL_BATCH * sizeof(*iov));
	u64map_init(&drop);
	if (!slots || !iov)
		goto out;
	/* Round robin over the map's slots: one pass at most per call. */
	while (checked < max_codes && visited < s->codes.cap) {
		size_t n = 0, ni = 0;

		for (; n < REVAL_BATCH && checked < max_codes && visited < s->codes.cap; visited++) {
			size_t i = s->reval_pos++ % s->codes.cap;

			if (!s->codes.used[i])
				continue;
			struct reval_slot *r = &slots[n++];

			checked++;
			r->code = s->codes.keys[i];
			r->ci = (struct code_info *)(uintptr_t)s->codes.vals[i];
			r->piece = (int)ni;
			iov[ni++] = (struct memsrc_iov){ .addr = r->code, .buf = r->obj, .len = n_fp };
			if (r->ci->ok) {
				iov[ni++] = (struct memsrc_iov){ .addr = r->ci->name_addr, .buf = r->name, .len = str_len };
				if (r->ci->file_addr != r->ci->name_addr)
					iov[ni++] = (struct memsrc_iov){ .addr = r->ci->file_addr, .buf = r->file,
									 .len = str_len };
			}
			r->npieces = (int)ni - r->piece;
		}
		memsrc_readv(&s->src, iov, ni);
		for (size_t k = 0; k < n; k++)
			if (reval_stale(s, &slots[k], iov) &&
			    u64map_put_ptr(&drop, slots[k].code, slots[k].ci) == 0)
				dropped++;
	}
	if (s->codes.cap)
		s->reval_pos %= s->codes.cap;
	if (dropped)
		drop_codes(s, &drop);
out:
	u64map_free(&drop);
	free(slots);
	free(iov);
	return dropped;
}
