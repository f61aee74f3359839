/* Output files written whole or not at all: a temporary file in the same
 * directory, renamed over the final name only after a successful close.
 * A symlink is followed (a bounded chain) and its target replaced, the link
 * kept. "-" (standard output), character devices and FIFOs cannot be
 * replaced: they are written in place. A directory is refused with -EISDIR,
 * block devices, sockets and other types with -ENOTSUP (outfile_strerror
 * words it), a symlink chain longer than OUTFILE_MAX_LINKS with -ELOOP. */
#ifndef PYPERF_OUTFILE_H
#define PYPERF_OUTFILE_H
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#define OUTFILE_MAX_LINKS 40 /* the kernel's own limit when it follows links */

struct outfile {
	FILE *f; /* writes go to fd; the first one to fail keeps its errno */
	int fd;
	int write_errno;
	bool direct; /* written in place: standard output, a character device or a FIFO */
	char final[PATH_MAX]; /* after symlinks */
	char tmp[PATH_MAX]; /* "" when direct */
};

/* Opens a temporary next to path's final target, or the target itself when
 * it cannot be replaced. Returns 0 or -errno. Opening a FIFO no process
 * reads waits for a reader, as `cat > fifo` does, after saying so on stderr.
 * o->f refers to o: o stays where it is until commit or abort. */
int outfile_open(struct outfile *o, const char *path);
/* Flushes, fsyncs and renames into place; on any error removes the temporary.
 * Written in place, a failed write (ENOSPC from /dev/full) is an error too.
 * Returns 0 or -errno. */
int outfile_commit(struct outfile *o);
/* Drops the temporary. Safe to call after commit or on a never-opened outfile. */
void outfile_abort(struct outfile *o);
/* Drops the output after the writer returned err; returns the error to
 * report: the first failed write's (stdio's ferror only says EIO), or err. */
int outfile_fail(struct outfile *o, int err);
/* Can path be written (its directory, its type)? 0 or -errno; opens nothing. */
int outfile_check_writable(const char *path);
/* strerror() for outfile's errors, with its own words for the refused types. */
const char *outfile_strerror(int err);
/* How to name path in messages: "standard output" for "-". */
const char *outfile_name(const char *path);

#endif
