/*
 * Locates the interpreter in a target process. The ELF file is found among
 * the files mapped into the process (not by the executable's name), so
 * wrappers, embedded interpreters and a dynamic loader run as the program
 * all work; files are opened through /proc/PID/root so containers work too.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/elfsym.h"
#include "layouts.h"
#include "target/mem.h"
#include "target/pyproc.h"

#define MAX_MAPPED_FILES 512
/* Bytes of _PyRuntime read for _Py_DebugOffsets (3.13+); the struct is ~1 KiB. */
#define DEBUG_OFFSETS_READ 4096

struct mapped_file {
	char path[PATH_MAX];
	uint64_t start, offset;     /* the mapping with the lowest file offset */
	bool executable;
	int rank;                   /* lower is tried first */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *py_version_str(uint32_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
	return buf;
}

const char *proc_stat_fields(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[96];
	FILE *f;

	if (len < 2)
		return NULL;
	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, len - 1, f);

	fclose(f);
	buf[n] = '\0';
	/* comm may contain spaces and parentheses: fields resume after the last ')'. */
	char *p = strrchr(buf, ')');

	return p && p[1] == ' ' ? p + 2 : NULL;
}

uint64_t proc_start_time(pid_t pid)
{
	char line[1024];
	const char *p = proc_stat_fields(pid, 0, line, sizeof(line));

	/* p is at field 3 (state); starttime is field 22 */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}
void proc_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0' || buf[i] == '\n')
			buf[i] = ' ';
	buf[n] = '\0';
}

int proc_thread_name(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Files whose names say "python" are tried first, libpython before all;
 * common system libraries never hold an interpreter and are not opened,
 * which keeps scanning every process on a host (-a) cheap. */
static int rank_path(const char *path)
{
	static const char *const system_libs[] = {
		"libc.", "libc-", "libm.", "libm-", "ld-linux", "ld-musl", "libpthread", "libdl.", "librt.",
		"libz.", "libgcc_s", "libstdc++", "libssl", "libcrypto", "libffi", "libexpat", "libutil",
		"libresolv", "libnss_", "libselinux", "libpcre", "liblzma", "libbz2", "libsystemd", "libcap",
		"libtinfo", "libreadline", "libncurses", "libuuid", "libzstd", "liblz4", "libgcrypt",
	};
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (strncmp(base, "libpython", 9) == 0)
		return 0;
	if (strstr(base, "python"))
		return 1;
	for (size_t i = 0; i < sizeof(system_libs) / sizeof(system_libs[0]); i++)
		if (strncmp(base, system_libs[i], strlen(system_libs[i])) == 0)
			return 3;
	return 2;
}

static int read_maps(pid_t pid, struct mapped_file *files, size_t *nfiles)
{
	char path[64], line[PATH_MAX + 256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*nfiles = 0;
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end, offset;
		char perms[8];
		int pathpos = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %n",
			   &start, &end, perms, &offset, &pathpos) < 4 || pathpos == 0)
			continue;
		char *p = line + pathpos;

		p[strcspn(p, "\n")] = '\0';
		if (p[0] != '/')
			continue; /* anonymous, [heap], [vdso], ... */
		/* A deleted file still works through /proc/PID/map_files, but keep it simple. */
		size_t i;

		for (i = 0; i < *nfiles; i++)
			if (strcmp(files[i].path, p) == 0)
				break;
		if (i == *nfiles) {
			if (*nfiles >= MAX_MAPPED_FILES)
				continue;
			(*nfiles)++;
			snprintf(files[i].path, sizeof(files[i].path), "%s", p);
			files[i].start = start;
			files[i].offset = offset;
			files[i].executable = false;
			files[i].rank = rank_path(p);
		} else if (offset < files[i].offset) {
			files[i].start = start;
			files[i].offset = offset;
		}
		if (perms[2] == 'x')
			files[i].executable = true;
	}
	fclose(f);
	return 0;
}

static int cmp_rank(const void *a, const void *b)
{
	const struct mapped_file *x = a, *y = b;

	return x->rank - y->rank;
}

/* Minor version from a name like libpython3.10.so.1.0 or python3.9; -1 if none. */
static int minor_from_name(const char *path, bool *free_threaded)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	const char *p = strstr(base, "python3.");

	if (!p)
		return -1;
	p += strlen("python3.");
	if (!isdigit((unsigned char)*p))
		return -1;
	int minor = (int)strtol(p, (char **)&p, 10);

	*free_threaded = *p == 't';
	return minor;
}

/* The version of an interpreter that predates Py_Version (3.11). */
static uint32_t version_from_file(struct elf_file *ef, const char *path, bool *free_threaded)
{
	int minor = minor_from_name(path, free_threaded);
	int patch = -1;

	if (minor >= 0) {
		patch = elf_file_find_py_patch(ef, 3, minor);
	} else {
		for (int m = 6; m <= 16 && patch < 0; m++) {
			patch = elf_file_find_py_patch(ef, 3, m);
			if (patch >= 0)
				minor = m;
		}
	}
	if (minor < 0)
		return 0;
	return (3u << 24) | ((uint32_t)minor << 16) | ((uint32_t)(patch < 0 ? 0 : patch) << 8) | 0xf0;
}

struct found_runtime {
	uint64_t runtime, py_version_addr, bias;
	bool have_version_sym;
};

/* Does this mapped file define _PyRuntime? Fills fr when it does. */
static bool probe_file(pid_t pid, const struct mapped_file *mf, struct elf_file *ef, struct found_runtime *fr)
{
	char fpath[PATH_MAX + 32];
	static const char *const names[] = { "_PyRuntime", "Py_Version" };
	uint64_t vals[2];

	snprintf(fpath, sizeof(fpath), "/proc/%d/root%s", (int)pid, mf->path);
	if (elf_file_open(ef, fpath) != 0)
		return false;
	elf_file_symbols(ef, names, 2, vals, NULL);
	if (!vals[0])
		vals[0] = elf_file_section(ef, ".PyRuntime", NULL); /* stripped 3.10+ */
	if (!vals[0] || elf_file_bias(ef, mf->start, mf->offset, &fr->bias) != 0) {
		elf_file_close(ef);
		return false;
	}
	fr->runtime = vals[0] + fr->bias;
	fr->py_version_addr = vals[1] ? vals[1] + fr->bias : 0;
	fr->have_version_sym = vals[1] != 0;
	return true;
}

static int classify_errno(int e, pid_t pid, char *err, size_t errlen)
{
	if (e == ENOENT || e == ESRCH) {
		set_err(err, errlen, "no process with PID %d", (int)pid);
		return -PYPROC_ENOPROC;
	}
	if (e == EACCES || e == EPERM) {
		set_err(err, errlen, "not allowed to inspect PID %d: run as root (or with CAP_SYS_PTRACE)", (int)pid);
		return -PYPROC_EPERM;
	}
	set_err(err, errlen, "failed to read /proc/%d/maps: %s", (int)pid, strerror(e));
	return -PYPROC_ENOPROC;
}

/* A name that says which old Python this is, for the error message. */
static const char *old_python_hint(const struct mapped_file *files, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *base = strrchr(files[i].path, '/');

		base = base ? base + 1 : files[i].path;
		if (strncmp(base, "libpython2", 10) == 0 || strncmp(base, "python2", 7) == 0)
			return "Python 2";
		if (strncmp(base, "libpython3.6", 12) == 0 || strncmp(base, "libpython3.7", 12) == 0 ||
		    strncmp(base, "python3.6", 9) == 0 || strncmp(base, "python3.7", 9) == 0)
			return base;
	}
	return NULL;
}

int py_target_open(pid_t pid, struct py_target *t, char *err, size_t errlen)
{
	struct mapped_file *files = calloc(MAX_MAPPED_FILES, sizeof(*files));
	size_t nfiles = 0;
	int ret;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	if (!files) {
		set_err(err, errlen, "out of memory");
		return -PYPROC_ENOPROC;
	}
	if (pid <= 0) {
		set_err(err, errlen, "invalid PID %d", (int)pid);
		ret = -PYPROC_ENOPROC;
		goto out;
	}
	t->start_time = proc_start_time(pid);
	ret = read_maps(pid, files, &nfiles);
	if (ret) {
		ret = classify_errno(-ret, pid, err, errlen);
		goto out;
	}
	proc_thread_name(pid, pid, t->comm, sizeof(t->comm));
	qsort(files, nfiles, sizeof(*files), cmp_rank);

	struct elf_file ef;
	struct found_runtime fr = { 0 };
	const struct mapped_file *mf = NULL;

	for (size_t i = 0; i < nfiles; i++) {
		if (files[i].rank == 3 || (!files[i].executable && files[i].rank == 2))
			continue;
		if (probe_file(pid, &files[i], &ef, &fr)) {
			mf = &files[i];
			break;
		}
	}
	if (!mf) {
		const char *old = old_python_hint(files, nfiles);

		if (old)
			set_err(err, errlen, "PID %d runs %s, which pyperf does not support (3.8 to 3.15 are)",
				(int)pid, old);
		else
			set_err(err, errlen, "PID %d (%s) is not a Python process: no CPython interpreter "
				"(_PyRuntime) in any file it has mapped", (int)pid, t->comm);
		ret = old ? -PYPROC_EUNSUPPORTED : -PYPROC_ENOTPY;
		goto out;
	}
	snprintf(t->elf_path, sizeof(t->elf_path), "%s", mf->path);
	t->shared_lib = strstr(mf->path, ".so") != NULL;
	t->runtime_addr = fr.runtime;

	bool free_threaded = false;
	uint64_t v = 0;

	if (fr.have_version_sym) {
		int r = mem_read_u64(pid, fr.py_version_addr, &v);

		if (r) {
			elf_file_close(&ef);
			ret = classify_errno(-r, pid, err, errlen);
			goto out;
		}
		minor_from_name(mf->path, &free_threaded);
	} else {
		v = version_from_file(&ef, mf->path, &free_threaded);
	}
	elf_file_close(&ef);
	t->version_hex = (uint32_t)v;
	char vbuf[32];

	if ((v >> 24) != 3) {
		set_err(err, errlen, "PID %d: cannot tell the CPython version of %s", (int)pid, mf->path);
		ret = -PYPROC_EUNSUPPORTED;
		goto out;
	}
	py_version_str(t->version_hex, vbuf, sizeof(vbuf));
	if (free_threaded) {
		set_err(err, errlen, "PID %d runs free-threaded CPython %s (%s), which pyperf does not support yet",
			(int)pid, vbuf, mf->path);
		ret = -PYPROC_EUNSUPPORTED;
		goto out;
	}
	const struct py_layout *layout = py_layout_find(t->version_hex, &t->layout_exact);

	if (!layout) {
		set_err(err, errlen, "PID %d runs CPython %s, which pyperf does not support (3.8 to 3.15 are)",
			(int)pid, vbuf);
		ret = -PYPROC_EUNSUPPORTED;
		goto out;
	}
	t->layout = *layout;
	if (((t->version_hex >> 16) & 0xff) >= 13) {
		/* Patch releases move fields (3.14.0 vs 3.14.10): trust the
		 * interpreter's own description of itself over the table. */
		uint8_t *buf = malloc(DEBUG_OFFSETS_READ);
		size_t got = buf ? mem_read_partial(pid, t->runtime_addr, buf, DEBUG_OFFSETS_READ) : 0;
		char why[256] = "";

		if (!got || py_layout_apply_debug_offsets(&t->layout, buf, got, why, sizeof(why)) != 0) {
			/* The committed table is only a safe fallback for the very
			 * release it was generated from. */
			if (!t->layout_exact) {
				free(buf);
				set_err(err, errlen, "PID %d runs CPython %s but its _Py_DebugOffsets are unusable "
					"(%s) and pyperf has no table for this exact release", (int)pid, vbuf,
					got ? why : "unreadable");
				ret = -PYPROC_EUNSUPPORTED;
				goto out;
			}
			snprintf(t->warning, sizeof(t->warning), "_Py_DebugOffsets unusable (%s); using the "
				 "offsets table for %s", got ? why : "unreadable", vbuf);
		}
		free(buf);
	}
	uint64_t interp = 0;

	ret = mem_read_u64(pid, t->runtime_addr + t->layout.runtime_interpreters_head, &interp);
	if (ret) {
		ret = classify_errno(-ret, pid, err, errlen);
		goto out;
	}
	if (!interp) {
		set_err(err, errlen, "PID %d: CPython %s is not initialized (starting up or shutting down)",
			(int)pid, vbuf);
		ret = -PYPROC_ENOTREADY;
		goto out;
	}
	ret = 0;
out:
	free(files);
	return ret;
}
