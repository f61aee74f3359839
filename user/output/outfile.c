#include <errno.h>
#include <libgen.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output/outfile.h"

static void dir_of(const char *path, char *dir, size_t len)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(dir, len, "%s", dirname(tmp));
}

int outfile_check_writable(const char *path)
{
	char dir[PATH_MAX];

	if (!path || !*path)
		return -EINVAL;
	dir_of(path, dir, sizeof(dir));
	if (access(dir, W_OK | X_OK) != 0)
		return -errno;
	if (access(path, F_OK) == 0 && access(path, W_OK) != 0)
		return -errno;
	return 0;
}

int outfile_open(struct outfile *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	if ((size_t)snprintf(o->final, sizeof(o->final), "%s", path) >= sizeof(o->final) ||
	    (size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.tmp.XXXXXX", path) >= sizeof(o->tmp))
		return -ENAMETOOLONG;
	int fd = mkstemp(o->tmp);

	if (fd < 0) {
		int e = errno;

		o->tmp[0] = '\0';
		return -e;
	}
	/* mkstemp makes 0600; a profile is an ordinary file. */
	mode_t mask = umask(0);

	umask(mask);
	fchmod(fd, 0666 & ~mask);
	o->f = fdopen(fd, "w");
	if (!o->f) {
		int e = errno;

		close(fd);
		unlink(o->tmp);
		o->tmp[0] = '\0';
		return -e;
	}
	return 0;
}

int outfile_commit(struct outfile *o)
{
	int err = 0;

	if (!o->f)
		return -EBADF;
	if (fflush(o->f) != 0 || ferror(o->f))
		err = errno ? -errno : -EIO;
	if (!err && fsync(fileno(o->f)) != 0 && errno != EINVAL)
		err = -errno;
	if (fclose(o->f) != 0 && !err)
		err = -errno;
	o->f = NULL;
	if (!err && rename(o->tmp, o->final) != 0)
		err = -errno;
	if (err)
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
