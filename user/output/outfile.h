/* Output files written whole or not at all: a temporary file in the same
 * directory, renamed over the final name only after a successful close. */
#ifndef PYPERF_OUTFILE_H
#define PYPERF_OUTFILE_H
#include <limits.h>
#include <stdio.h>

struct outfile {
	FILE *f;
	char final[PATH_MAX];
	char tmp[PATH_MAX];
};

/* Opens a temporary next to path. Returns 0 or -errno. */
int outfile_open(struct outfile *o, const char *path);
/* Flushes, fsyncs and renames into place; on any error removes the temporary.
 * Returns 0 or -errno. */
int outfile_commit(struct outfile *o);
/* Drops the temporary. Safe to call after commit or on a never-opened outfile. */
void outfile_abort(struct outfile *o);
/* Can a file be created at path? 0 or -errno (checks the directory). */
int outfile_check_writable(const char *path);

#endif
