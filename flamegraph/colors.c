/* Frame colours. The default, "python", colours by the file a frame's code
 * lives in, so the profiled program's own code (warm yellow-orange) stands
 * out from the standard library (blue) and installed packages (green), and
 * by what a frame is: C code of a mapped file (crimson, perf's red for
 * native code), the kernel (brown, the orange-brown flamegraph.pl gives
 * "[k]" frames) and pyperf's own marks (grey). The families do not overlap
 * (tests/unit/test_flamegraph.c checks), so one glance tells the layers of
 * a mixed Python/native stack apart. */
#include <string.h>

#include "fg_colors.h"

const char *const fg_color_schemes[] = { "python", "hot", "cold", "gray", NULL };

bool fg_color_scheme_valid(const char *scheme)
{
	return fg_color_scheme_lookup(scheme) >= 0;
}

int fg_color_scheme_lookup(const char *scheme)
{
	for (int i = 0; fg_color_schemes[i]; i++)
		if (scheme && strcmp(scheme, fg_color_schemes[i]) == 0)
			return i;
	return -1;
}

/* Finds needle in s[0..len). */
static const char *find_in(const char *s, size_t len, const char *needle)
{
	size_t nlen = strlen(needle);
	if (nlen > len)
		return NULL;
	for (size_t i = 0; i + nlen <= len; i++)
		if (s[i] == needle[0] && memcmp(s + i, needle, nlen) == 0)
			return s + i;
	return NULL;
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
	size_t plen = strlen(prefix);
	return len >= plen && memcmp(s, prefix, plen) == 0;
}

/* ".../lib/python3.11/...", ".../lib64/python3/..." : the interpreter's own
 * library directory (site-packages below it was checked before). */
static bool is_stdlib_dir(const char *path, size_t len)
{
	static const char *const markers[] = { "/lib/python", "/lib64/python" };
	for (size_t m = 0; m < sizeof(markers) / sizeof(markers[0]); m++) {
		const char *s = path;
		size_t left = len;
		const char *hit;
		while ((hit = find_in(s, left, markers[m]))) {
			size_t after = (size_t)(hit - path) + strlen(markers[m]);
			if (after < len && path[after] >= '0' && path[after] <= '9')
				return true;
			left = len - (size_t)(hit + 1 - path);
			s = hit + 1;
		}
	}
	return false;
}

static enum fg_frame_kind classify_path(const char *path, size_t len)
{
	if (starts_with(path, len, "<frozen "))
		return FG_FRAME_STDLIB;
	if (find_in(path, len, "/site-packages/") || find_in(path, len, "/dist-packages/") ||
	    starts_with(path, len, "site-packages/") || starts_with(path, len, "dist-packages/"))
		return FG_FRAME_LIBRARY;
	if (is_stdlib_dir(path, len))
		return FG_FRAME_STDLIB;
	return FG_FRAME_USER;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t slen = strlen(suffix);
	return len >= slen && memcmp(s + len - slen, suffix, slen) == 0;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * The kind of a frame from its label text alone (folded files carry nothing
 * else), in this order:
 *   "X [kernel]"                        kernel (pyperf's kernel frames)
 *   "[...]"                             pyperf's pseudo-frames: "[gc]",
 *                                       "[unknown native]", "[truncated: ...]"
 *   "name (path:LINE)", LINE digits or '?'
 *   "name (path)", path ending ".py", or "<...>", or holding a '/'
 *                                       Python, by path (user/stdlib/library)
 *   "name (file)" otherwise             native: pyperf names C functions
 *                                       "symbol (basename)", and a basename
 *                                       has no '/'
 *   "file+0xHEX"                        native code without a symbol
 *   anything else                       other tools' names
 */
enum fg_frame_kind fg_frame_classify(const char *name, size_t len,
				     const char **file, size_t *file_len)
{
	if (file)
		*file = name;
	if (file_len)
		*file_len = len;
	if (len > strlen(" [kernel]") && ends_with(name, len, " [kernel]"))
		return FG_FRAME_KERNEL;
	if (len >= 2 && name[0] == '[' && name[len - 1] == ']')
		return FG_FRAME_PYPERF;
	if (len >= 5 && name[len - 1] != ')') {
		/* "file+0xHEX": hex digits to the end after the last "+0x". */
		size_t hex = len;
		while (hex > 0 && is_hex(name[hex - 1]))
			hex--;
		if (hex < len && hex >= 4 && memcmp(name + hex - 3, "+0x", 3) == 0) {
			if (file_len)
				*file_len = hex - 3;
			return FG_FRAME_NATIVE;
		}
		return FG_FRAME_OTHER;
	}
	if (len < 5)
		return FG_FRAME_OTHER;
	/* "name (location)": the last " (" opens the location. */
	size_t open = len - 1;
	while (open > 0 && !(name[open - 1] == ' ' && name[open] == '('))
		open--;
	if (open == 0)
		return FG_FRAME_OTHER;
	const char *loc = name + open + 1;
	size_t loc_len = len - 1 - (open + 1);
	if (loc_len == 0)
		return FG_FRAME_OTHER;
	/* ":LINE" at the end (digits, or '?' when unknown), after a path. */
	size_t colon = loc_len;
	while (colon > 0 && loc[colon - 1] != ':')
		colon--;
	const char *line = loc + colon;
	size_t line_len = loc_len - colon;
	bool line_ok = colon >= 2 && line_len == 1 && line[0] == '?';
	if (colon >= 2 && !line_ok && line_len > 0) {
		line_ok = true;
		for (size_t i = 0; i < line_len; i++)
			if (line[i] < '0' || line[i] > '9')
				line_ok = false;
	}
	size_t path_len = line_ok ? colon - 1 : loc_len;
	if (file)
		*file = loc;
	if (file_len)
		*file_len = path_len;
	if (line_ok || ends_with(loc, path_len, ".py") || (loc[0] == '<' && loc[path_len - 1] == '>') ||
	    memchr(loc, '/', path_len))
		return classify_path(loc, path_len);
	return FG_FRAME_NATIVE;
}

/* A stable hash (no seed: a file keeps its colour from run to run). */
static uint32_t fnv1a(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* Three values in 0..1 from one hash, for the three channels. */
static void spread(uint32_t h, double v[3])
{
	v[0] = (double)(h & 0x3ff) / 1023.0;
	v[1] = (double)((h >> 10) & 0x3ff) / 1023.0;
	v[2] = (double)((h >> 20) & 0x3ff) / 1023.0;
}

static struct fg_rgb channel_mix(const double v[3], int r0, int r_span, int g0, int g_span,
				 int b0, int b_span)
{
	return (struct fg_rgb){
		.r = (uint8_t)(r0 + (int)(r_span * v[0])),
		.g = (uint8_t)(g0 + (int)(g_span * v[1])),
		.b = (uint8_t)(b0 + (int)(b_span * v[2])),
	};
}

static struct fg_rgb warm(const char *key, size_t len)
{
	double v[3];
	spread(fnv1a(key, len), v);
	return channel_mix(v, 215, 40, 70, 150, 0, 60);
}

struct fg_rgb fg_kind_color(enum fg_frame_kind kind, const char *key, size_t len)
{
	double v[3] = { 0.5, 0.5, 0.5 }; /* no key: the middle of the range (legend swatches) */
	if (len > 0)
		spread(fnv1a(key, len), v);
	switch (kind) {
	case FG_FRAME_USER:
		return channel_mix(v, 225, 30, 95, 110, 20, 45);
	case FG_FRAME_STDLIB:
		return channel_mix(v, 95, 50, 150, 50, 215, 35);
	case FG_FRAME_LIBRARY:
		return channel_mix(v, 105, 55, 190, 45, 105, 55);
	case FG_FRAME_NATIVE:
		return channel_mix(v, 195, 45, 35, 40, 70, 40);
	case FG_FRAME_KERNEL:
		return channel_mix(v, 165, 30, 95, 35, 25, 25);
	case FG_FRAME_PYPERF:
		return (struct fg_rgb){ 200, 200, 205 };
	case FG_FRAME_OTHER:
	default:
		return warm(key, len);
	}
}

/* Moves a channel by -8..+8, staying in 0..255. */
static uint8_t nudge(uint8_t channel, uint32_t h)
{
	int v = channel + (int)(h % 17) - 8;
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

struct fg_rgb fg_frame_color(int scheme, const char *name, size_t len)
{
	double v[3];
	uint8_t gray;

	switch (scheme) {
	case FG_SCHEME_PYTHON: {
		const char *file;
		size_t file_len;
		enum fg_frame_kind kind = fg_frame_classify(name, len, &file, &file_len);
		struct fg_rgb c = fg_kind_color(kind, file, file_len);
		if (kind == FG_FRAME_USER || kind == FG_FRAME_STDLIB || kind == FG_FRAME_LIBRARY ||
		    kind == FG_FRAME_NATIVE) {
			/* A slight shift per function keeps neighbours from one file
			 * apart while the file's hue stays recognisable. */
			uint32_t h = fnv1a(name, len);
			c.r = nudge(c.r, h);
			c.g = nudge(c.g, h >> 8);
			c.b = nudge(c.b, h >> 16);
		}
		return c;
	}
	case FG_SCHEME_COLD:
		spread(fnv1a(name, len), v);
		return channel_mix(v, 60, 70, 110, 100, 200, 55);
	case FG_SCHEME_GRAY:
		spread(fnv1a(name, len), v);
		gray = (uint8_t)(165 + (int)(65 * v[0]));
		return (struct fg_rgb){ gray, gray, gray };
	case FG_SCHEME_HOT:
	default:
		return warm(name, len);
	}
}

struct fg_rgb fg_diff_color(double change)
{
	/* !(x >= 0) also catches NaN */
	double size = !(change >= -1) ? 1 : change > 1 ? 1 : change < 0 ? -change : change;
	uint8_t light = (uint8_t)(222 - 152 * size + 0.5); /* 222 (faint) .. 70 (deep, black text still reads) */

	if (change > 0)
		return (struct fg_rgb){ 255, light, light };
	if (change < 0)
		return (struct fg_rgb){ light, light, 255 };
	return (struct fg_rgb){ 222, 222, 216 };
}
