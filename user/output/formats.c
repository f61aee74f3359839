#include <stddef.h>
#include <string.h>

#include "output/formats.h"

static const struct {
	const char *name;
	enum out_format fmt;
	const char *suffixes[3];
} formats[] = {
	{ "svg", FMT_SVG, { ".svg" } },
	{ "folded", FMT_FOLDED, { ".folded", ".txt" } },
	{ "pprof", FMT_PPROF, { ".pb.gz", ".pprof" } },
	{ "speedscope", FMT_SPEEDSCOPE, { ".speedscope.json", ".json" } },
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum out_format format_by_name(const char *name)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (!strcmp(name, formats[i].name))
			return formats[i].fmt;
	return FMT_AUTO;
}

enum out_format format_from_path(const char *path)
{
	if (strcmp(path, "-") == 0)
		return FMT_FOLDED; /* standard output: text that reads in a terminal and pipes */
	for (size_t i = 0; i < NFORMATS; i++)
		for (size_t k = 0; k < 3 && formats[i].suffixes[k]; k++)
			if (ends_with(path, formats[i].suffixes[k]))
				return formats[i].fmt;
	return FMT_AUTO;
}

const char *format_suffix(enum out_format f)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (formats[i].fmt == f)
			return formats[i].suffixes[0];
	return ".svg";
}
