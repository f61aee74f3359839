/* Folded stacks: escaping writer and streaming parser (rules in folded.h). */
#include "folded.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Reads are done in blocks this size; lines are found with memchr. */
#define READ_BLOCK (1u << 20)

static bool is_sep(char c)
{
	return c == ' ' || c == '\t';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * If s[0..*len) ends in <separator><digits>, parses the digits into *value,
 * shortens *len to drop separator and digits, and returns 1. Returns 0 when
 * there is no such suffix, -ERANGE when the digits do not fit in 64 bits.
 */
static int take_trailing_count(const char *s, size_t *len, uint64_t *value)
{
	size_t end = *len, start = end;

	while (start > 0 && s[start - 1] >= '0' && s[start - 1] <= '9')
		start--;
	if (start == end || start == 0 || !is_sep(s[start - 1]))
		return 0;
	uint64_t v = 0;
	for (size_t i = start; i < end; i++) {
		unsigned digit = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*value = v;
	*len = start - 1;
	return 1;
}

/* Makes room for one more frame pointer; the array never exceeds
 * FOLDED_MAX_FRAMES entries. */
static int frames_reserve(char ***frames, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	if (need > FOLDED_MAX_FRAMES)
		return -E2BIG;
	size_t new_cap = *cap ? *cap * 2 : 64;
	if (new_cap > FOLDED_MAX_FRAMES)
		new_cap = FOLDED_MAX_FRAMES;
	char **grown = realloc(*frames, new_cap * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	*frames = grown;
	*cap = new_cap;
	return 0;
}

/* Decodes the escape at p[0] == '\\' (p is NUL-terminated). Returns how
 * many input bytes it used and stores the byte it stands for, or returns 0
 * when it is no escape (the backslash is then literal). */
static size_t unescape(const char *p, char *out)
{
	switch (p[1]) {
	case '\\': *out = '\\'; return 2;
	case ';':  *out = ';'; return 2;
	case 'n':  *out = '\n'; return 2;
	case 'r':  *out = '\r'; return 2;
	case 't':  *out = '\t'; return 2;
	case 'x': {
		if (!p[2])
			return 0;
		int hi = hex_value(p[2]), lo = hex_value(p[3]);
		/* \x00 would end the C string early: keep it literal. */
		if (hi < 0 || lo < 0 || (hi | lo) == 0)
			return 0;
		*out = (char)(hi << 4 | lo);
		return 4;
	}
	default:
		return 0;
	}
}

/*
 * Splits stack[0..len) on unescaped ';' and un-escapes each name in place
 * (an escape is never shorter than what it stands for, so writing behind the
 * read position is safe). stack[len] is overwritten with the final NUL. Runs
 * without ';' or '\' are found with strcspn and, while nothing was
 * un-escaped yet, not even copied. A NUL byte inside the stack is malformed.
 */
static int split_frames(char *stack, size_t len, char ***frames, size_t *cap, size_t *nframes)
{
	size_t n = 0;
	char *rd = stack, *wr = stack, *end = stack + len;
	int err = frames_reserve(frames, cap, 1);

	if (err)
		return err;
	*end = '\0';
	(*frames)[n++] = stack;
	for (;;) {
		size_t run = strcspn(rd, ";\\");
		if (wr != rd)
			memmove(wr, rd, run);
		wr += run;
		rd += run;
		if (*rd == '\0')
			break;
		if (*rd == ';') {
			*wr++ = '\0';
			rd++;
			err = frames_reserve(frames, cap, n + 1);
			if (err)
				return err;
			(*frames)[n++] = wr;
			continue;
		}
		char plain;
		size_t used = unescape(rd, &plain);
		if (used) {
			*wr++ = plain;
			rd += used;
		} else {
			*wr++ = *rd++;
		}
	}
	if (rd != end)
		return -EINVAL; /* stopped early: a NUL byte in the line */
	*wr = '\0';
	*nframes = n;
	return 0;
}

int folded_parse_line(char *line, size_t len, char ***frames, size_t *frames_cap,
		      size_t *nframes, uint64_t *count, int *differential)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	size_t i = 0;
	while (i < len && (is_sep(line[i]) || line[i] == '\r'))
		i++;
	if (i == len)
		return 0;

	uint64_t last = 0, before_last;
	if (take_trailing_count(line, &len, &last) <= 0)
		return -EINVAL;
	if (len == 0)
		return -EINVAL;
	/* Only noticed: a number before the count stays in the name. */
	size_t probe = len;
	*differential = take_trailing_count(line, &probe, &before_last) != 0;

	int err = split_frames(line, len, frames, frames_cap, nframes);
	if (err)
		return err;
	*count = last;
	return 1;
}

/* A block-buffered line reader whose memory is bounded by FOLDED_MAX_LINE. */
struct line_reader {
	FILE *in;
	char *buf;
	size_t cap, start, end;
	bool eof;
};

enum { LINE_OK = 1, LINE_TOO_LONG = 2 };

/* Refills the buffer after moving the unread part to its front; grows the
 * buffer when a line does not fit, up to FOLDED_MAX_LINE + 1 bytes.
 * Returns 0, or -errno on a read error. */
static int reader_fill(struct line_reader *r)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap && r->cap <= FOLDED_MAX_LINE) {
		size_t new_cap = r->cap * 2;
		if (new_cap > FOLDED_MAX_LINE + 1)
			new_cap = FOLDED_MAX_LINE + 1;
		char *grown = realloc(r->buf, new_cap);
		if (!grown)
			return -ENOMEM;
		r->buf = grown;
		r->cap = new_cap;
	}
	errno = 0;
	size_t got = fread(r->buf + r->end, 1, r->cap - r->end, r->in);
	r->end += got;
	if (got == 0) {
		if (ferror(r->in))
			return errno ? -errno : -EIO;
		r->eof = true;
	}
	return 0;
}

/* Discards input up to and including the next newline. */
static int reader_skip_line(struct line_reader *r)
{
	for (;;) {
		char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (nl) {
			r->start = (size_t)(nl - r->buf) + 1;
			return 0;
		}
		r->start = r->end = 0;
		if (r->eof)
			return 0;
		int err = reader_fill(r);
		if (err)
			return err;
	}
}

/*
 * Next line in *line and *len (without '\n', pointing into the buffer).
 * Returns LINE_OK, LINE_TOO_LONG (the line was skipped), 0 at EOF, or -errno.
 */
static int reader_next(struct line_reader *r, char **line, size_t *len)
{
	size_t scanned = 0; /* bytes after start already known to hold no '\n' */

	for (;;) {
		char *from = r->buf + r->start + scanned;
		char *nl = memchr(from, '\n', r->end - r->start - scanned);
		if (nl) {
			*line = r->buf + r->start;
			*len = (size_t)(nl - *line);
			r->start += *len + 1;
			return LINE_OK;
		}
		scanned = r->end - r->start;
		if (scanned > FOLDED_MAX_LINE) {
			int err = reader_skip_line(r);
			return err ? err : LINE_TOO_LONG;
		}
		if (r->eof) {
			if (scanned == 0)
				return 0;
			*line = r->buf + r->start;
			*len = scanned;
			r->start = r->end;
			return LINE_OK;
		}
		int err = reader_fill(r);
		if (err)
			return err;
	}
}

static void note_malformed(struct folded_stats *st)
{
	st->malformed++;
	if (!st->first_malformed)
		st->first_malformed = st->lines;
}

int folded_parse(FILE *in, folded_stack_cb cb, void *ctx, struct folded_stats *stats)
{
	struct folded_stats local = { 0 };
	struct folded_stats *st = stats ? stats : &local;
	struct line_reader r = { .in = in, .cap = READ_BLOCK };
	char **frames = NULL;
	size_t frames_cap = 0;
	int ret = 0;

	memset(st, 0, sizeof(*st));
	r.buf = malloc(r.cap);
	if (!r.buf)
		return -ENOMEM;
	for (;;) {
		char *line = NULL;
		size_t len = 0;
		int got = reader_next(&r, &line, &len);
		if (got <= 0) {
			ret = got;
			break;
		}
		st->lines++;
		if (got == LINE_TOO_LONG) {
			st->too_long++;
			note_malformed(st);
			continue;
		}
		size_t nframes = 0;
		uint64_t count = 0;
		int differential = 0;
		int parsed = folded_parse_line(line, len, &frames, &frames_cap, &nframes,
					       &count, &differential);
		if (parsed == 0) {
			st->blank++;
			continue;
		}
		if (parsed == -ENOMEM) {
			ret = parsed;
			break;
		}
		if (parsed < 0) {
			if (parsed == -E2BIG)
				st->too_long++;
			note_malformed(st);
			continue;
		}
		st->stacks++;
		st->differential += (uint64_t)differential;
		st->samples = count > UINT64_MAX - st->samples ? UINT64_MAX : st->samples + count;
		ret = cb(ctx, frames, nframes, count);
		if (ret)
			break;
	}
	free(frames);
	free(r.buf);
	return ret;
}

int folded_write_frame(FILE *out, const char *name)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)name;

	for (;;) {
		/* Copy the longest run that needs no escape in one call. */
		const unsigned char *run = p;
		while (*p && *p != '\\' && *p != ';' && *p >= 0x20 && *p != 0x7f)
			p++;
		if (p > run)
			fwrite(run, 1, (size_t)(p - run), out);
		if (!*p)
			break;
		char esc[4] = { '\\', 0, 0, 0 };
		size_t esc_len = 2;
		switch (*p) {
		case '\\': esc[1] = '\\'; break;
		case ';':  esc[1] = ';'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'x';
			esc[2] = hex[*p >> 4];
			esc[3] = hex[*p & 0xf];
			esc_len = 4;
			break;
		}
		fwrite(esc, 1, esc_len, out);
		p++;
	}
	return ferror(out) ? -EIO : 0;
}

int folded_write_stack(FILE *out, const char *const *frames, size_t nframes, uint64_t count)
{
	for (size_t i = 0; i < nframes; i++) {
		if (i > 0)
			putc(';', out);
		folded_write_frame(out, frames[i]);
	}
	fprintf(out, " %llu\n", (unsigned long long)count);
	return ferror(out) ? -EIO : 0;
}
