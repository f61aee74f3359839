/* Unit tests of output/outfile.c: what each kind of target becomes (a
 * symlink's target replaced, devices and FIFOs written in place, odd types
 * refused), in a temporary directory; devices are made there with mknod. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "output/outfile.h"
#include "unit.h"

static char dir[] = "/tmp/pyperf-outfile-XXXXXX";

static const char *at(const char *name)
{
	static char path[4][PATH_MAX];
	static int next;

	next = (next + 1) % 4;
	snprintf(path[next], sizeof(path[next]), "%s/%s", dir, name);
	return path[next];
}

static const char *slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
	return buf;
}

static int write_all(const char *path, const char *text)
{
	struct outfile o;
	int err = outfile_open(&o, path);

	if (err)
		return err;
	fputs(text, o.f);
	return outfile_commit(&o);
}

/* A chain of links, one relative from a subdirectory: the final target is
 * replaced, every link stays a link. */
static void test_symlink_chain(void)
{
	struct stat st;

	CHECK_EQ_INT(mkdir(at("sub"), 0755), 0);
	CHECK_EQ_INT(write_all(at("sub/real.folded"), "old\n"), 0);
	CHECK_EQ_INT(symlink("real.folded", at("sub/l1")), 0);  /* relative to sub/ */
	CHECK_EQ_INT(symlink(at("sub/l1"), at("l2")), 0);
	CHECK_EQ_INT(outfile_check_writable(at("l2")), 0);
	CHECK_EQ_INT(write_all(at("l2"), "new\n"), 0);
	CHECK_STR(slurp(at("sub/real.folded")), "new\n");
	CHECK(lstat(at("l2"), &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(lstat(at("sub/l1"), &st) == 0 && S_ISLNK(st.st_mode));
	/* A loop is refused, not followed forever. */
	CHECK_EQ_INT(symlink("loop2", at("loop1")), 0);
	CHECK_EQ_INT(symlink("loop1", at("loop2")), 0);
	CHECK_EQ_INT(outfile_check_writable(at("loop1")), -ELOOP);
	CHECK_EQ_INT(write_all(at("loop1"), "x"), -ELOOP);
	unlink(at("loop1"));
	unlink(at("loop2"));
	unlink(at("l2"));
	unlink(at("sub/l1"));
	unlink(at("sub/real.folded"));
	CHECK_EQ_INT(rmdir(at("sub")), 0); /* fails if a temporary was left */
}

/* Devices made here (1,3 is /dev/null, 1,7 /dev/full) stay devices. */
static void test_devices(void)
{
	struct stat st;

	if (mknod(at("null"), S_IFCHR | 0666, makedev(1, 3)) != 0) {
		fprintf(stderr, "test_outfile: mknod: %s; device checks skipped\n", strerror(errno));
		return;
	}
	CHECK_EQ_INT(mknod(at("full"), S_IFCHR | 0666, makedev(1, 7)), 0);
	CHECK_EQ_INT(write_all(at("null"), "gone\n"), 0);
	CHECK(lstat(at("null"), &st) == 0 && S_ISCHR(st.st_mode));
	CHECK_EQ_INT(write_all(at("full"), "no room\n"), -ENOSPC);
	/* More than a buffer: stdio's ferror says only EIO, outfile the cause. */
	struct outfile o;

	CHECK_EQ_INT(outfile_open(&o, at("full")), 0);
	for (int i = 0; i < 100000 && !ferror(o.f); i++)
		fputs("frame;frame;frame 1\n", o.f);
	CHECK(ferror(o.f));
	CHECK_EQ_INT(outfile_fail(&o, -EIO), -ENOSPC);
	CHECK(lstat(at("full"), &st) == 0 && S_ISCHR(st.st_mode));
	unlink(at("null"));
	unlink(at("full"));
	/* A block device is refused before anything is opened. */
	if (mknod(at("blk"), S_IFBLK | 0600, makedev(7, 0)) == 0) {
		CHECK_EQ_INT(outfile_check_writable(at("blk")), -ENOTSUP);
		CHECK_EQ_INT(write_all(at("blk"), "x"), -ENOTSUP);
		CHECK(lstat(at("blk"), &st) == 0 && S_ISBLK(st.st_mode));
		CHECK(strstr(outfile_strerror(-ENOTSUP), "character device or FIFO") != NULL);
		unlink(at("blk"));
	}
}

/* A FIFO with a reader is written through, and stays a FIFO. */
static void test_fifo(void)
{
	struct stat st;
	char buf[64] = "";

	CHECK_EQ_INT(mkfifo(at("fifo"), 0644), 0);
	CHECK_EQ_INT(outfile_check_writable(at("fifo")), 0); /* without opening it */
	int rd = open(at("fifo"), O_RDONLY | O_NONBLOCK);

	CHECK(rd >= 0);
	CHECK_EQ_INT(write_all(at("fifo"), "through\n"), 0);
	CHECK_EQ_INT(read(rd, buf, sizeof(buf) - 1), 8);
	CHECK_STR(buf, "through\n");
	close(rd);
	CHECK(lstat(at("fifo"), &st) == 0 && S_ISFIFO(st.st_mode));
	unlink(at("fifo"));

	/* A link to /proc/self/fd/N of a pipe (what /dev/stdout is) goes
	 * through /proc's magic link, which names "pipe:[ino]", no path. */
	int p[2];
	char proc[64];

	CHECK_EQ_INT(pipe2(p, O_NONBLOCK), 0); /* a failed write reads nothing, not forever */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p[1]);
	CHECK_EQ_INT(symlink(proc, at("out")), 0);
	CHECK_EQ_INT(write_all(at("out"), "piped\n"), 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ_INT(read(p[0], buf, sizeof(buf) - 1), 6);
	CHECK_STR(buf, "piped\n");
	CHECK(lstat(at("out"), &st) == 0 && S_ISLNK(st.st_mode));
	close(p[0]);
	close(p[1]);
	unlink(at("out"));
}

static void test_refused_and_stdout(void)
{
	struct outfile o;

	CHECK_EQ_INT(mkdir(at("d"), 0755), 0);
	CHECK_EQ_INT(outfile_check_writable(at("d")), -EISDIR);
	CHECK_EQ_INT(write_all(at("d"), "x"), -EISDIR);
	CHECK_EQ_INT(rmdir(at("d")), 0);
	CHECK_EQ_INT(outfile_check_writable("-"), 0);
	CHECK_EQ_INT(outfile_open(&o, "-"), 0);
	CHECK(o.f && o.fd == STDOUT_FILENO && o.direct && !o.tmp[0]);
	CHECK_EQ_INT(outfile_commit(&o), 0);
	CHECK(fileno(stdout) == 1 && fcntl(1, F_GETFD) >= 0); /* not closed */
	CHECK_STR(outfile_name("-"), "standard output");
	CHECK_STR(outfile_name("a.svg"), "a.svg");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_symlink_chain();
	test_devices();
	test_fifo();
	test_refused_and_stdout();
	CHECK_EQ_INT(rmdir(dir), 0); /* everything made was removed */
	UNIT_DONE();
}
