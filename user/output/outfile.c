#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/outfile.h"

static bool is_stdout(const char *path)
{
	return strcmp(path, "-") == 0;
}

const char *outfile_name(const char *path)
{
	return is_stdout(path) ? "standard output" : path;
}

const char *outfile_strerror(int err)
{
	if (err == -ENOTSUP)
		return "not a regular file, character device or FIFO: give a file name";
	return strerror(-err);
}

/* The stream's write: all of buf, or 0 with the failure kept in write_errno. */
static ssize_t cookie_write(void *cookie, const char *buf, size_t len)
{
	struct outfile *o = cookie;
	size_t done = 0;

	while (done < len) { /* each pass writes something or returns */
		ssize_t n = write(o->fd, buf + done, len - done);

		if (n <= 0) {
			if (!o->write_errno)
				o->write_errno = n < 0 ? errno : EIO;
			errno = o->write_errno;
			return 0;
		}
		done += (size_t)n;
	}
	return (ssize_t)len;
}

static int cookie_close(void *cookie)
{
	struct outfile *o = cookie;

	return o->fd == STDOUT_FILENO ? 0 : close(o->fd);
}

/* A stream over o->fd (which it closes, unless standard output); 0 or -errno. */
static int open_stream(struct outfile *o)
{
	cookie_io_functions_t io = { .write = cookie_write, .close = cookie_close };

	o->f = fopencookie(o, "w", io);
	return o->f ? 0 : -errno;
}

static void dir_of(const char *path, char *dir, size_t len)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(dir, len, "%s", dirname(tmp));
}

/* Follows path's symlinks into final (the name to replace or write); *exists
 * and *st describe what is there. 0 or -errno. */
static int resolve(const char *path, char *final, struct stat *st, bool *exists)
{
	char cur[PATH_MAX], prev[PATH_MAX], link[PATH_MAX], dir[PATH_MAX];

	if ((size_t)snprintf(cur, sizeof(cur), "%s", path) >= sizeof(cur))
		return -ENAMETOOLONG;
	for (int hops = 0; hops <= OUTFILE_MAX_LINKS; hops++) {
		if (lstat(cur, st) != 0) {
			if (errno != ENOENT)
				return -errno;
			/* A /proc magic link (/dev/stdout -> /proc/self/fd/1 -> "pipe:[N]")
			 * names no path but opens: take what it opens. */
			*exists = hops > 0 && stat(prev, st) == 0 && !S_ISREG(st->st_mode);
			/* else a new file, or a dangling link's target made as `>` does */
			memcpy(final, *exists ? prev : cur, PATH_MAX);
			return 0;
		}
		if (!S_ISLNK(st->st_mode)) {
			*exists = true;
			memcpy(final, cur, sizeof(cur));
			return 0;
		}
		ssize_t n = readlink(cur, link, sizeof(link) - 1);

		if (n < 0)
			return -errno;
		link[n] = '\0';
		memcpy(prev, cur, sizeof(cur));
		dir_of(cur, dir, sizeof(dir));
		/* A relative target is relative to the link's directory. */
		if (link[0] == '/' || strcmp(dir, ".") == 0)
			memcpy(cur, link, (size_t)n + 1);
		else if ((size_t)snprintf(cur, sizeof(cur), "%s/%s", dir, link) >= sizeof(cur))
			return -ENAMETOOLONG;
	}
	return -ELOOP;
}

/* 1 to write in place, 0 to replace through a temporary, or -errno to refuse. */
static int classify(const struct stat *st, bool exists)
{
	if (!exists || S_ISREG(st->st_mode))
		return 0;
	if (S_ISCHR(st->st_mode) || S_ISFIFO(st->st_mode))
		return 1;
	return S_ISDIR(st->st_mode) ? -EISDIR : -ENOTSUP;
}

int outfile_check_writable(const char *path)
{
	char final[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	bool exists;

	if (!path || !*path)
		return -EINVAL;
	if (is_stdout(path))
		return 0;
	int err = resolve(path, final, &st, &exists);
	int kind = err ? err : classify(&st, exists);

	if (kind < 0)
		return kind;
	if (kind == 0) {
		dir_of(final, dir, sizeof(dir));
		if (access(dir, W_OK | X_OK) != 0)
			return -errno;
	}
	if (exists && access(final, W_OK) != 0)
		return -errno;
	return 0;
}

/* A character device or FIFO, opened as it is; no O_CREAT, no O_TRUNC, so
 * a file put there since resolve() is refused rather than cut. */
static int open_direct(struct outfile *o)
{
	int fd = open(o->final, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0 && errno == ENXIO) {
		/* A FIFO nobody reads yet: wait for a reader, as `cat > fifo` does,
		 * but say so, and an interrupt (Ctrl-C) ends the wait. */
		fprintf(stderr, "pyperf: waiting for a reader on FIFO %s\n", o->final);
		fd = open(o->final, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	struct stat st;
	int flags = fcntl(fd, F_GETFL), err = 0;

	if (fstat(fd, &st) != 0 || flags < 0)
		err = -errno;
	else if (classify(&st, true) != 1)
		err = -EAGAIN; /* replaced since resolve(): try again */
	else if (fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
		err = -errno;
	if (!err) {
		o->fd = fd;
		err = open_stream(o);
	}
	if (err)
		close(fd);
	return err;
}

static int open_temporary(struct outfile *o)
{
	if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.tmp.XXXXXX", o->final) >= sizeof(o->tmp)) {
		o->tmp[0] = '\0';
		return -ENAMETOOLONG;
	}
	int fd = mkostemp(o->tmp, O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		o->tmp[0] = '\0';
		return -e;
	}
	/* mkstemp makes 0600; a profile is an ordinary file. */
	mode_t mask = umask(0);

	umask(mask);
	fchmod(fd, 0666 & ~mask);
	o->fd = fd;
	int err = open_stream(o);

	if (err) {
		close(fd);
		unlink(o->tmp);
		o->tmp[0] = '\0';
	}
	return err;
}

int outfile_open(struct outfile *o, const char *path)
{
	struct stat st;
	bool exists;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (is_stdout(path)) {
		o->direct = true;
		o->fd = STDOUT_FILENO;
		snprintf(o->final, sizeof(o->final), "-");
		fflush(stdout); /* whatever stdio holds goes first */
		return open_stream(o);
	}
	int err = resolve(path, o->final, &st, &exists);
	int kind = err ? err : classify(&st, exists);

	if (kind < 0)
		return kind;
	o->direct = kind == 1;
	return o->direct ? open_direct(o) : open_temporary(o);
}

int outfile_commit(struct outfile *o)
{
	int err = 0;

	if (!o->f)
		return -EBADF;
	if (fflush(o->f) != 0 || ferror(o->f))
		err = o->write_errno ? -o->write_errno : -EIO;
	/* Devices and pipes have nothing to sync (EINVAL). */
	if (!err && !o->direct && fsync(o->fd) != 0 && errno != EINVAL)
		err = -errno;
	if (fclose(o->f) != 0 && !err)
		err = -errno;
	o->f = NULL;
	if (!err && o->tmp[0] && rename(o->tmp, o->final) != 0)
		err = -errno;
	if (err && o->tmp[0])
		unlink(o->tmp);
	o->tmp[0] = '\0';
	return err;
}

void outfile_abort(struct outfile *o)
{
	if (o->f)
		fclose(o->f);
	o->f = NULL;
	if (o->tmp[0])
		unlink(o->tmp);
	o->tmp[0] = '\0';
}

int outfile_fail(struct outfile *o, int err)
{
	if (o->write_errno)
		err = -o->write_errno;
	outfile_abort(o);
	return err;
}
