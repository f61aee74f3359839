/* The interactive SVG flame graph writer. Layout follows flamegraph.pl:
 * one <g> per frame with a <title> tooltip, a <rect> and a trimmed <text>;
 * root at the bottom (or the top for an icicle graph); siblings sorted by
 * name; frames narrower than minwidth left out. */
#include <errno.h>
#include <math.h> /* isfinite: a macro, no libm needed */
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include "fg_colors.h"
#include "fg_svg.h"
#include "fg_tree.h"
#include "util/utf8.h"

#define XPAD            10   /* px left and right of the frames */
#define CHAR_WIDTH_EM   0.59 /* average glyph width / font size, for label trimming */
#define FERROR_EVERY    4096 /* frames between checks for a failed stream */

void fg_options_init(struct fg_options *o)
{
	*o = (struct fg_options){
		.title = NULL,
		.subtitle = NULL,
		.width = 1200,
		.minwidth = 0.1,
		.reverse = false,
		.colors = "python",
		.count_name = "samples",
		.frame_height = 16,
		.font_size = 12,
	};
}

/* ---- XML text ------------------------------------------------------------ */

/*
 * Writes name[0..len) as XML character data, at most `limit` display
 * characters of it, and returns how many display characters the whole name
 * has (pass out == NULL to only count).
 *
 * What XML cannot carry is shown escaped, the way folded files write it:
 * control characters as \n, \r, \t or \xNN, and bytes that are not valid
 * UTF-8 (or are U+FFFE/U+FFFF) as \xNN. & < > " ' become entities. Every
 * other character is copied as is.
 */
static size_t xml_name(FILE *out, const char *name, size_t len, size_t limit)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)name;
	size_t i = 0, shown = 0, run = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		bool plain = cp != UTF8_BAD && cp >= 0x20 && cp != 0x7f && cp != 0xfffe && cp != 0xffff &&
			     cp != '&' && cp != '<' && cp != '>' && cp != '"' && cp != '\'';
		if (plain) {
			/* One display character; copied later with its run. */
			if (shown < limit && out)
				run += n;
			else if (out && run) {
				fwrite(s + i - run, 1, run, out);
				run = 0;
			}
			shown++;
			i += n;
			continue;
		}
		if (out && run) {
			fwrite(s + i - run, 1, run, out);
			run = 0;
		}
		char esc[16];
		size_t esc_len, esc_shown, advance;
		if (cp == UTF8_BAD || cp == 0xfffe || cp == 0xffff) {
			/* Not XML-representable: show the first byte, continue after it. */
			esc[0] = '\\'; esc[1] = 'x'; esc[2] = hex[s[i] >> 4]; esc[3] = hex[s[i] & 0xf];
			esc_len = esc_shown = 4;
			advance = 1;
		} else if (cp < 0x20 || cp == 0x7f) {
			esc[0] = '\\';
			esc_len = esc_shown = 2;
			if (cp == '\n')
				esc[1] = 'n';
			else if (cp == '\r')
				esc[1] = 'r';
			else if (cp == '\t')
				esc[1] = 't';
			else {
				esc[1] = 'x'; esc[2] = hex[cp >> 4]; esc[3] = hex[cp & 0xf];
				esc_len = esc_shown = 4;
			}
			advance = 1;
		} else {
			const char *entity = cp == '&' ? "&amp;" : cp == '<' ? "&lt;" : cp == '>' ? "&gt;" :
					     cp == '"' ? "&quot;" : "&apos;";
			esc_len = strlen(entity);
			memcpy(esc, entity, esc_len);
			esc_shown = 1;
			advance = 1;
		}
		/* An escape is written whole or not at all. */
		if (out && shown + esc_shown <= limit)
			fwrite(esc, 1, esc_len, out);
		else
			limit = shown; /* nothing after a cut escape may appear */
		shown += esc_shown;
		i += advance;
	}
	if (out && run)
		fwrite(s + i - run, 1, run, out);
	return shown;
}

/* The whole name, escaped. */
static void xml_text(FILE *out, const char *s)
{
	xml_name(out, s, strlen(s), SIZE_MAX);
}

/* As much of the name as fits in `fit` display characters, ".." marking a
 * cut; nothing when fewer than 3 fit. */
static void xml_label(FILE *out, const char *name, size_t len, size_t fit)
{
	if (fit < 3)
		return;
	size_t full = xml_name(NULL, name, len, 0);
	if (full <= fit) {
		xml_name(out, name, len, SIZE_MAX);
		return;
	}
	xml_name(out, name, len, fit - 2);
	fputs("..", out);
}

/* 1234567 -> "1,234,567" */
static const char *group_digits(uint64_t v, char buf[32])
{
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
	int o = 0;
	for (int i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* ---- layout ------------------------------------------------------------- */

struct layout {
	const struct fg_tree *t;
	const struct fg_options *o;
	FILE *out;
	int scheme;
	const char *count_name;
	uint64_t total;
	double px_per_sample;
	uint32_t max_depth;     /* deepest drawn frame; the root is depth 0 */
	int frames_top;         /* y of the top of the frames area */
	double char_width;      /* estimated px per character, for labels */
	double text_dy;         /* label baseline below the top of its rect */
};

/* Whether a frame is drawn. Monotone in `total`, so a drawn frame's parent
 * (which has at least as many samples) is drawn too. */
static bool frame_drawn(const struct layout *l, uint32_t id)
{
	const struct fg_node *n = &l->t->nodes[id];
	if (n->total == 0)
		return false;
	if (id == 0)
		return true;
	return (double)n->total * l->px_per_sample >= l->o->minwidth;
}

static int frame_y(const struct layout *l, uint32_t depth)
{
	uint32_t level = l->o->reverse ? depth : l->max_depth - depth;
	return l->frames_top + (int)level * l->o->frame_height;
}

/* <g data-s data-n><title>NAME (N samples, P%)</title><rect/><text>LABEL</text></g> */
static void write_frame(const struct layout *l, uint32_t id, uint64_t x_samples)
{
	const struct fg_node *n = &l->t->nodes[id];
	const char *name = n->name;
	size_t name_len = strlen(name);
	FILE *out = l->out;
	double x = XPAD + (double)x_samples * l->px_per_sample;
	double w = (double)n->total * l->px_per_sample;
	int y = frame_y(l, n->depth);
	char count[32];
	struct fg_rgb fill;

	struct fg_style style = { 0 };

	if (l->o->style) {
		l->o->style(l->o->style_ctx, name, n->depth, n->total, &style);
		style.note[sizeof(style.note) - 1] = '\0';
		/* the script takes the name to end at the title's last " (" */
		for (char *p = style.note; (p = strstr(p, " (")) != NULL;)
			p[1] = '[';
		fill = fg_diff_color(style.change);
	} else if (id == 0) {
		fill = fg_kind_color(FG_FRAME_PYPERF, "", 0);
	} else {
		fill = fg_frame_color(l->scheme, name, name_len);
	}

	fprintf(out, "<g data-s=\"%llu\" data-n=\"%llu\"%s><title>",
		(unsigned long long)x_samples, (unsigned long long)n->total, style.added ? " class=\"added\"" : "");
	xml_name(out, name, name_len, SIZE_MAX);
	fprintf(out, " (%s ", group_digits(n->total, count));
	xml_text(out, l->count_name);
	fprintf(out, ", %.2f%%", 100.0 * (double)n->total / (double)l->total);
	if (style.note[0]) {
		fputs("; ", out);
		xml_text(out, style.note);
	}
	fprintf(out, ")</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
		"fill=\"rgb(%d,%d,%d)\"/>",
		x, y, w, l->o->frame_height - 1, fill.r, fill.g, fill.b);
	double fit = (w - 3) / l->char_width; /* truncated below: floor for fit >= 0 */
	if (fit >= 3) {
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + l->text_dy);
		xml_label(out, name, name_len, fit > 1e6 ? 1000000 : (size_t)fit);
		fputs("</text>", out);
	}
	fputs("</g>\n", out);
}

static int cmp_by_name(const void *a, const void *b, void *ctx)
{
	const struct fg_tree *t = ctx;
	return strcmp(t->nodes[*(const uint32_t *)a].name, t->nodes[*(const uint32_t *)b].name);
}

struct pending {
	uint32_t id;
	uint64_t x; /* first sample of the frame */
};

/*
 * Writes every drawn frame, depth first, siblings by name. Children lists
 * are built for drawn frames only: first[] holds, per node, the end of its
 * children in kids[] (a counting sort by parent), so the start of node p's
 * children is first[p - 1] (0 for the root).
 */
static int write_frames(const struct layout *l, uint32_t *first, uint32_t *kids, size_t ndrawn)
{
	const struct fg_tree *t = l->t;
	struct pending *stack = malloc((ndrawn + 1) * sizeof(*stack));
	size_t top = 0, written = 0;

	if (!stack)
		return -ENOMEM;
	stack[top++] = (struct pending){ .id = 0, .x = 0 };
	while (top > 0) {
		struct pending p = stack[--top];
		write_frame(l, p.id, p.x);
		if (++written % FERROR_EVERY == 0 && ferror(l->out))
			break; /* the caller reports it */
		uint32_t start = p.id ? first[p.id - 1] : 0, end = first[p.id];
		size_t k = end - start;
		if (k > 1)
			qsort_r(kids + start, k, sizeof(*kids), cmp_by_name, (void *)t);
		/* Push in reverse so the first child is written next. */
		uint64_t x = p.x;
		for (size_t j = 0; j < k; j++) {
			uint32_t child = kids[start + j];
			stack[top + k - 1 - j] = (struct pending){ .id = child, .x = x };
			x += t->nodes[child].total;
		}
		top += k;
	}
	free(stack);
	return 0;
}

/* The python scheme's key, right-aligned on the footer row; left out when
 * it would overlap the footer text, which ends at `min_x`. Native and
 * kernel are listed only when such frames are drawn (bit 1 << kind set in
 * `present`), so a Python-only graph keeps its short key. The kinds are
 * told from the label text: the rule is fg_frame_classify's (colors.c). */
static void write_legend(const struct layout *l, int y, double min_x, unsigned present)
{
	static const struct {
		enum fg_frame_kind kind;
		const char *label;
	} all[] = {
		{ FG_FRAME_USER, "your code" },
		{ FG_FRAME_STDLIB, "standard library" },
		{ FG_FRAME_LIBRARY, "site-packages" },
		{ FG_FRAME_NATIVE, "native" },
		{ FG_FRAME_KERNEL, "kernel" },
		{ FG_FRAME_PYPERF, "pyperf" },
	};
	const size_t nall = sizeof(all) / sizeof(all[0]);
	const int swatch = l->o->font_size - 2, gap = 14;
	size_t items[sizeof(all) / sizeof(all[0])], n = 0;
	double width = 0;
	for (size_t i = 0; i < nall; i++) {
		bool optional = all[i].kind == FG_FRAME_NATIVE || all[i].kind == FG_FRAME_KERNEL;
		if (optional && !(present & (1u << all[i].kind)))
			continue;
		items[n++] = i;
		width += swatch + 4 + strlen(all[i].label) * l->char_width + gap;
	}
	double x = l->o->width - XPAD - width + gap;
	if (x < min_x)
		return;
	fputs("<g id=\"legend\">", l->out);
	for (size_t k = 0; k < n; k++) {
		size_t i = items[k];
		struct fg_rgb c = fg_kind_color(all[i].kind, "", 0);
		fprintf(l->out, "<rect x=\"%.1f\" y=\"%d\" width=\"%d\" height=\"%d\" "
			"fill=\"rgb(%d,%d,%d)\"/><text x=\"%.1f\" y=\"%d\">%s</text>",
			x, y - swatch + 1, swatch, swatch, c.r, c.g, c.b, x + swatch + 4, y,
			all[i].label);
		x += swatch + 4 + strlen(all[i].label) * l->char_width + gap;
	}
	fputs("</g>\n", l->out);
}

/* A differential graph's key: what red, blue, grey and a dashed outline
 * mean; same placement rule as write_legend. */
static void write_diff_legend(const struct layout *l, int y, double min_x)
{
	static const struct {
		double change;
		bool added;
		const char *label;
	} all[] = {
		{ 0.7, false, "grew" },
		{ -0.7, false, "shrank" },
		{ 0, false, "no significant change" },
		{ 0, true, "new" },
	};
	const size_t n = sizeof(all) / sizeof(all[0]);
	const int swatch = l->o->font_size - 2, gap = 14;
	double width = 0;

	for (size_t i = 0; i < n; i++)
		width += swatch + 4 + strlen(all[i].label) * l->char_width + gap;
	double x = l->o->width - XPAD - width + gap;
	if (x < min_x)
		return;
	fputs("<g id=\"legend\">", l->out);
	for (size_t i = 0; i < n; i++) {
		struct fg_rgb c = fg_diff_color(all[i].change);
		fprintf(l->out, "<rect x=\"%.1f\" y=\"%d\" width=\"%d\" height=\"%d\" "
			"fill=\"rgb(%d,%d,%d)\"%s/><text x=\"%.1f\" y=\"%d\">%s</text>",
			x, y - swatch + 1, swatch, swatch, c.r, c.g, c.b,
			all[i].added ? " class=\"added\"" : "", x + swatch + 4, y, all[i].label);
		x += swatch + 4 + strlen(all[i].label) * l->char_width + gap;
	}
	fputs("</g>\n", l->out);
}

/* Notes under the footer, one line each; at most this many. */
#define NOTES_MAX 100

static bool option_in(int v, int lo, int hi)
{
	return v >= lo && v <= hi;
}

int fg_write_svg(const struct fg_tree *t, const struct fg_options *o, FILE *out)
{
	int scheme = fg_color_scheme_lookup(o->colors ? o->colors : "python");
	if (scheme < 0 || !option_in(o->width, FG_WIDTH_MIN, FG_WIDTH_MAX) ||
	    !isfinite(o->minwidth) || o->minwidth < 0 ||
	    !option_in(o->frame_height, 4, 200) || !option_in(o->font_size, 4, 200))
		return -EINVAL;

	struct layout l = {
		.t = t,
		.o = o,
		.out = out,
		.scheme = scheme,
		.count_name = o->count_name ? o->count_name : "samples",
		.total = t->nodes[0].total,
		.char_width = o->font_size * CHAR_WIDTH_EM,
		.text_dy = (o->frame_height - 1) / 2.0 + o->font_size * 0.35,
	};
	double usable = o->width - 2.0 * XPAD;
	l.px_per_sample = l.total ? usable / (double)l.total : 0;

	/* Count drawn children per parent, and the deepest drawn level. */
	size_t n = t->nnodes, ndrawn = 0;
	uint64_t hidden = 0;
	unsigned kinds = 0; /* 1 << fg_frame_kind of the drawn frames, for the legend */
	uint32_t *first = calloc(n, sizeof(*first));
	if (!first)
		return -ENOMEM;
	for (size_t id = 1; id < n; id++) {
		if (!frame_drawn(&l, (uint32_t)id)) {
			hidden += t->nodes[id].total > 0;
			continue;
		}
		first[t->nodes[id].parent]++;
		ndrawn++;
		if (scheme == FG_SCHEME_PYTHON)
			kinds |= 1u << fg_frame_classify(t->nodes[id].name, strlen(t->nodes[id].name), NULL, NULL);
		if (t->nodes[id].depth > l.max_depth)
			l.max_depth = t->nodes[id].depth;
	}
	uint32_t *kids = malloc((ndrawn ? ndrawn : 1) * sizeof(*kids));
	if (!kids) {
		free(first);
		return -ENOMEM;
	}
	uint32_t sum = 0;
	for (size_t p = 0; p < n; p++) {
		uint32_t c = first[p];
		first[p] = sum;
		sum += c;
	}
	for (size_t id = 1; id < n; id++)
		if (frame_drawn(&l, (uint32_t)id))
			kids[first[t->nodes[id].parent]++] = (uint32_t)id;

	/* Vertical layout: title rows, frames, then details and footer rows. */
	const int fs = o->font_size, fh = o->frame_height;
	const bool has_subtitle = o->subtitle && o->subtitle[0];
	const int title_y = fs * 2;
	const int subtitle_y = title_y + fs * 3 / 2;
	l.frames_top = (has_subtitle ? subtitle_y : title_y) + fs;
	const int frames_bottom = l.frames_top + (int)(l.max_depth + 1) * fh;
	const int details_y = frames_bottom + fs * 3 / 2;
	const int footer_y = details_y + fs * 3 / 2;
	const size_t nnotes = o->notes ? (o->nnotes < NOTES_MAX ? o->nnotes : NOTES_MAX) : 0;
	const int height = footer_y + fs + (int)nnotes * (fs * 3 / 2);
	const char *title = o->title ? o->title : o->reverse ? "Icicle Graph" : "Flame Graph";
	char count[32];

	/* One writer: skip stdio's per-call locking; restored below. */
	int locking = __fsetlocking(out, FSETLOCKING_BYCALLER);
	errno = 0; /* so a failed write's errno (ENOSPC, EPIPE) can be reported */
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\">\n"
		"<!-- Flame graph written by pyperf. Hover: details; click: zoom; "
		"Search or Ctrl-F: regex search. -->\n"
		"<defs><linearGradient id=\"background\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
		"<stop offset=\"5%%\" stop-color=\"rgb(238,238,238)\"/>"
		"<stop offset=\"95%%\" stop-color=\"rgb(238,238,176)\"/></linearGradient></defs>\n"
		"<style type=\"text/css\"><![CDATA[\n",
		o->width, height, o->width, height);
	fprintf(out, "text { font-size: %dpx; }\n", fs);
	fputs(fg_svg_style, out);
	fprintf(out, "]]></style>\n"
		"<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#background)\"/>\n"
		"<text id=\"title\" x=\"%d\" y=\"%d\">",
		o->width, height, o->width / 2, title_y);
	xml_text(out, title);
	fputs("</text>\n", out);
	if (has_subtitle) {
		fprintf(out, "<text id=\"subtitle\" x=\"%d\" y=\"%d\">", o->width / 2, subtitle_y);
		xml_text(out, o->subtitle);
		fputs("</text>\n", out);
	}
	fprintf(out, "<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"%d\">Reset Zoom</text>\n"
		"<text id=\"search\" x=\"%d\" y=\"%d\">Search</text>\n"
		"<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n"
		"<text id=\"matched\" x=\"%d\" y=\"%d\"> </text>\n"
		"<text id=\"footer\" x=\"%d\" y=\"%d\">",
		XPAD, title_y, o->width - XPAD, title_y, XPAD, details_y,
		o->width - XPAD, details_y, XPAD, footer_y);
	char dropped[96] = "";
	if (hidden)
		snprintf(dropped, sizeof(dropped), "; %s frames narrower than %g px not drawn",
			 group_digits(hidden, count), o->minwidth);
	group_digits(l.total, count);
	fprintf(out, "%s ", count);
	xml_text(out, l.count_name);
	fprintf(out, "%s</text>\n", dropped);
	size_t footer_chars = strlen(count) + 1 + strlen(dropped) +
			      xml_name(NULL, l.count_name, strlen(l.count_name), 0);
	if (o->style)
		write_diff_legend(&l, footer_y, XPAD + (double)footer_chars * l.char_width + 20);
	else if (scheme == FG_SCHEME_PYTHON)
		write_legend(&l, footer_y, XPAD + (double)footer_chars * l.char_width + 20, kinds);
	for (size_t i = 0; i < nnotes; i++) {
		fprintf(out, "<text class=\"note\" x=\"%d\" y=\"%d\">", XPAD,
			footer_y + (int)(i + 1) * (fs * 3 / 2));
		xml_text(out, o->notes[i] ? o->notes[i] : "");
		fputs("</text>\n", out);
	}
	if (l.total == 0)
		fprintf(out, "<text id=\"nosamples\" x=\"%d\" y=\"%d\">No samples</text>\n",
			o->width / 2, l.frames_top + fh - 4);
	fprintf(out, "<g id=\"frames\" data-total=\"%llu\" data-xpad=\"%d\" data-usable=\"%.1f\" "
		"data-char-width=\"%.3f\" data-text-dy=\"%.1f\" data-icicle=\"%d\">\n",
		(unsigned long long)l.total, XPAD, usable, l.char_width, l.text_dy, o->reverse ? 1 : 0);
	int err = 0;
	if (l.total > 0)
		err = write_frames(&l, first, kids, ndrawn);
	fprintf(out, "</g>\n<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n</svg>\n",
		fg_svg_script);
	free(kids);
	free(first);
	if (locking != FSETLOCKING_BYCALLER)
		__fsetlocking(out, FSETLOCKING_INTERNAL);
	if (err)
		return err;
	if (fflush(out) != 0 || ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}
