#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "output/archive.h"

int archive_period_path(char *buf, size_t len, const char *dir, uint64_t start_unix_ns, const char *suffix)
{
	char stamp[32];
	time_t t = (time_t)(start_unix_ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	return snprintf(buf, len, "%spyperf-%s.%03uZ%s", dir, stamp, (unsigned)(start_unix_ns / 1000000ull % 1000),
			suffix);
}

bool archive_is_period_file(const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	return strncmp(name, "pyperf-", 7) == 0 && n == 7 + 20 + m && strcmp(name + n - m, suffix) == 0;
}

bool archive_period_start(const char *name, const char *suffix, uint64_t *start_unix_ns)
{
	struct tm tm = { 0 };
	unsigned ms;
	int used = 0;

	if (!archive_is_period_file(name, suffix) ||
	    sscanf(name, "pyperf-%4d%2d%2dT%2d%2d%2d.%3uZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec, &ms, &used) != 7 || used != 27)
		return false;
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || ms > 999)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);

	if (t < 0)
		return false;
	*start_unix_ns = (uint64_t)t * 1000000000ull + ms * 1000000ull;
	return true;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The period files in dir, sorted oldest first; *n of them. NULL for none
 * (or when memory ran out part way: then what was read so far). */
static char **list_periods(const char *dir, const char *suffix, size_t *n)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t cap = 0;
	struct dirent *de;

	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (!archive_is_period_file(de->d_name, suffix))
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (!nn)
				break;
			names = nn;
			cap = ncap;
		}
		if (!(names[*n] = strdup(de->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (*n > 1)
		qsort(names, *n, sizeof(*names), cmp_names);
	return names;
}

uint64_t archive_prune(const char *dir, const char *suffix, long keep, uint64_t max_disk)
{
	size_t n;
	char **names = list_periods(dir, suffix, &n);
	uint64_t total = 0, removed = 0;
	size_t keep_from = 0;

	/* Walk newest to oldest, keeping while within both limits. */
	for (size_t i = n; i-- > 0;) {
		char path[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "%s%s", dir, names[i]);
		total += stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
		if ((keep && n - i > (size_t)keep) || (max_disk && total > max_disk)) {
			keep_from = i + 1;
			break;
		}
	}
	for (size_t i = 0; i < keep_from; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s%s", dir, names[i]);
		if (unlink(path) == 0)
			removed++;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return removed;
}
