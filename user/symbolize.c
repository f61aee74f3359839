/*
 * Reads code objects out of the target through a struct memsrc (the live
 * process with process_vm_readv, or a core file). A code object is read once
 * and cached by address; its type is checked against the interpreter's code
 * type (tp_name "code") so freed or garbage memory is reported as unknown
 * instead of named wrongly.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memsrc.h"
#include "pyline.h"
#include "pystr.h"
#include "symbolize.h"
#include "u64map.h"

#define CODE_READ_MAX 512          /* bytes of PyCodeObject read (header fields only) */
#define NAME_MAX_BYTES 1024        /* UTF-8 bytes kept of a name or a path */
#define NAME_READ_MAX (4 * 1024)   /* bytes of character data read for one string */
#define LINETABLE_MAX (1u << 20)   /* larger line tables are not credible */
#define MAX_CACHED_CODES (64u << 10)    /* code objects cached per process */
#define MAX_CACHED_LABELS (256u << 10)  /* (code, instruction) labels cached per process */
#define TYPE_TP_NAME 24            /* offsetof(PyTypeObject, tp_name), every 3.x */

struct code_info {
	bool ok;
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
	struct symbolizer_stats stats;
	bool no_lines;              /* labels name the function only */
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
	return s;
}

static void flush_caches(struct symbolizer *s)
{
	for (size_t i = 0; i < s->codes.cap; i++) {
		if (!s->codes.used[i])
			continue;
		struct code_info *ci = (struct code_info *)(uintptr_t)s->codes.vals[i];

		free(ci->linetable);
		free(ci);
	}
	u64map_free(&s->codes);
	u64map_free(&s->labels);
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

/* Reads a str object as UTF-8 into out; returns 0 or -errno. */
static int read_str(struct symbolizer *s, uint64_t addr, char *out, size_t cap)
{
	uint8_t hdr[128];
	struct pystr_header h;
	size_t hlen = s->strl.compact_size;

	out[0] = '\0';
	if (!addr || hlen == 0 || hlen > sizeof(hdr))
		return -EINVAL;
	if (memsrc_read(&s->src, addr, hdr, hlen))
		return -EFAULT;
	if (pystr_parse_header(&s->strl, hdr, hlen, &h))
		return -EINVAL;
	uint64_t want = (uint64_t)h.length * h.kind;

	if (want > NAME_READ_MAX)
		want = NAME_READ_MAX;
	uint8_t *data = malloc(want ? want : 1);

	if (!data)
		return -ENOMEM;
	if (want && memsrc_read(&s->src, addr + h.data_offset, data, want)) {
		free(data);
		return -EFAULT;
	}
	pystr_to_utf8(h.kind, data, want, h.length, out, cap);
	free(data);
	return 0;
}

static int read_bytes(struct symbolizer *s, uint64_t addr, uint8_t **out, size_t *len)
{
	const struct py_layout *L = &s->t.layout;
	int64_t size = 0;

	*out = NULL;
	*len = 0;
	if (!addr || memsrc_read(&s->src, addr + L->bytes_size, &size, sizeof(size)))
		return -EFAULT;
	if (size < 0 || (uint64_t)size > LINETABLE_MAX)
		return -EINVAL;
	uint8_t *buf = malloc(size ? (size_t)size : 1);

	if (!buf)
		return -ENOMEM;
	if (size && memsrc_read(&s->src, addr + L->bytes_sval, buf, (size_t)size)) {
		free(buf);
		return -EFAULT;
	}
	*out = buf;
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

static struct code_info *load_code(struct symbolizer *s, uint64_t code)
{
	const struct py_layout *L = &s->t.layout;
	struct code_info *ci = calloc(1, sizeof(*ci));
	uint8_t buf[CODE_READ_MAX];
	size_t len = L->code_size && L->code_size < CODE_READ_MAX ? L->code_size : CODE_READ_MAX;
	char name[NAME_MAX_BYTES], file[NAME_MAX_BYTES];

	if (!ci)
		return NULL;
	s->stats.code_objects++;
	len = memsrc_read_partial(&s->src, code, buf, len);
	if (len < 16 || !is_code_type(s, get_u64(buf, len, L->object_type)))
		goto bad;
	uint16_t name_off = (L->flags & PYL_HAS_QUALNAME) && L->code_qualname != PY_OFF_NONE ?
			    L->code_qualname : L->code_name;

	if (read_str(s, get_u64(buf, len, name_off), name, sizeof(name)) ||
	    read_str(s, get_u64(buf, len, L->code_filename), file, sizeof(file)))
		goto bad;
	ci->qualname = strtab_intern(&s->tab->strings, name);
	ci->filename = strtab_intern(&s->tab->strings, file);
	if (!ci->qualname || !ci->filename)
		goto bad;
	ci->firstlineno = get_i32(buf, len, L->code_firstlineno, -1);
	ci->firsttraceable = get_i32(buf, len, L->code_firsttraceable, 0);
	/* Without a line table the frame keeps its name, only the line is lost. */
	read_bytes(s, get_u64(buf, len, L->code_linetable), &ci->linetable, &ci->linetable_len);
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
	uint64_t *slot = u64map_get(&s->codes, code);
	struct code_info *ci;

	if (slot)
		return (struct code_info *)(uintptr_t)*slot;
	/* Bounded for days of profiling a process that keeps making code
	 * (exec, eval): start over rather than grow. Labels already handed
	 * out stay valid: they live in the frametab. */
	if (s->codes.len >= MAX_CACHED_CODES || s->labels.len >= MAX_CACHED_LABELS) {
		flush_caches(s);
		s->stats.cache_flushes++;
	}
	ci = load_code(s, code);
	if (!ci || u64map_put(&s->codes, code, (uint64_t)(uintptr_t)ci)) {
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
	uint64_t *cached = u64map_get(&s->labels, frame);
	const char *label;

	if (cached) {
		label = (const char *)(uintptr_t)*cached;
	} else {
		label = make_label(s, frame);
		if (!label)
			return NULL;
		u64map_put(&s->labels, frame, (uint64_t)(uintptr_t)label); /* a failed put only costs a re-read */
	}
	return label == (const char *)(uintptr_t)LABEL_HIDDEN ? NULL : label;
}
