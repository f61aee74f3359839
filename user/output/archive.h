/*
 * The directory of period files that record --every writes:
 * DIR/pyperf-YYYYmmddTHHMMSS.mmmZ<suffix>, named by the period's start in
 * UTC, so names sort by time; milliseconds keep a short period after a slow
 * write apart from the one before it.
 */
#ifndef PYPERF_ARCHIVE_H
#define PYPERF_ARCHIVE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* dir ends in '/'. Returns what snprintf returns. */
int archive_period_path(char *buf, size_t len, const char *dir, uint64_t start_unix_ns, const char *suffix);
/* Whether a directory entry's name is a period file with this suffix. */
bool archive_is_period_file(const char *name, const char *suffix);
/* The start of the period a period file's name gives (UTC, to the
 * millisecond), in *start_unix_ns; false when the name is not one. */
bool archive_period_start(const char *name, const char *suffix, uint64_t *start_unix_ns);
/* Removes the oldest period files until at most keep remain (0: any
 * number) and they take at most max_disk bytes (0: no limit). Returns how
 * many were removed. record writes no empty period file (not even a run's
 * first), so what is kept in favour of the removed files has samples. */
uint64_t archive_prune(const char *dir, const char *suffix, long keep, uint64_t max_disk);

#endif
