/*
 * Locates the interpreter among a target's mapped files (see pylocate.h).
 * The ELF file is found among the files mapped into the target (not by the
 * executable's name), so wrappers, embedded interpreters and a dynamic
 * loader run as the program all work.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layouts.h"
#include "target/elfsym.h"
#include "target/pylocate.h"

const char *pyloc_basename(const char *path)
{
	const char *base = strrchr(path, '/');

	return base ? base + 1 : path;
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
	const char *base = pyloc_basename(path);

	if (strncmp(base, "libpython", 9) == 0)
		return 0;
	if (strstr(base, "python"))
		return 1;
	for (size_t i = 0; i < sizeof(system_libs) / sizeof(system_libs[0]); i++)
		if (strncmp(base, system_libs[i], strlen(system_libs[i])) == 0)
			return 3;
	return 2;
}

int pyloc_files_add(struct pyloc_files *fl, const char *path, const char *local, uint64_t start,
		    uint64_t offset, bool executable)
{
	size_t i;

	for (i = 0; i < fl->n; i++)
		if (strcmp(fl->v[i].path, path) == 0)
			break;
	if (i == fl->n) {
		if (fl->n >= PYLOC_MAX_FILES)
			return 0;
		if (fl->n == fl->cap) {
			size_t cap = fl->cap ? fl->cap * 2 : 16;
			struct pyloc_file *v = realloc(fl->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			fl->v = v;
			fl->cap = cap;
		}
		struct pyloc_file *f = &fl->v[fl->n];

		memset(f, 0, sizeof(*f));
		snprintf(f->path, sizeof(f->path), "%s", path);
		snprintf(f->local, sizeof(f->local), "%s", local);
		f->start = start;
		f->offset = offset;
		f->rank = rank_path(path);
		f->order = fl->n++;
	} else if (offset < fl->v[i].offset) {
		fl->v[i].start = start;
		fl->v[i].offset = offset;
	}
	if (executable)
		fl->v[i].executable = true;
	return 0;
}

void pyloc_files_free(struct pyloc_files *fl)
{
	free(fl->v);
	fl->v = NULL;
	fl->n = fl->cap = 0;
}

static int cmp_rank(const void *a, const void *b)
{
	const struct pyloc_file *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank - y->rank;
	return (x->order > y->order) - (x->order < y->order);
}

/* Minor version from a name like libpython3.10.so.1.0 or python3.9; -1 if
 * none (or not a plausible minor). */
static int minor_from_name(const char *path, bool *free_threaded)
{
	const char *p = strstr(pyloc_basename(path), "python3.");

	if (!p)
		return -1;
	p += strlen("python3.");
	if (*p < '0' || *p > '9')
		return -1;
	char *end;
	long minor = strtol(p, &end, 10);

	*free_threaded = *end == 't';
	return minor > 99 ? -1 : (int)minor;
}

/* The version an interpreter file names: its "3.MINOR.PATCH" string, the
 * minor taken from the file name when it has one. For interpreters that
 * predate Py_Version (3.11). 0 when unknown. */
static uint32_t version_from_file(struct elf_file *ef, const char *path)
{
	bool free_threaded;
	int minor = minor_from_name(path, &free_threaded);
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
	uint64_t runtime, py_version_addr;  /* 0: no Py_Version symbol */
};

/* Does this mapped file define _PyRuntime? Leaves ef open when it does. */
static bool probe_file(const struct pyloc_file *f, struct elf_file *ef, struct found_runtime *fr)
{
	static const char *const names[] = { "_PyRuntime", "Py_Version" };
	uint64_t vals[2] = { 0, 0 }, bias = 0;

	if (!f->local[0] || elf_file_open(ef, f->local) != 0)
		return false;
	elf_file_symbols(ef, names, 2, vals, NULL);
	if (!vals[0])
		vals[0] = elf_file_section(ef, ".PyRuntime", NULL); /* stripped 3.10+ */
	if (!vals[0] || elf_file_bias(ef, f->start, f->offset, &bias) != 0) {
		elf_file_close(ef);
		return false;
	}
	fr->runtime = vals[0] + bias;
	fr->py_version_addr = vals[1] ? vals[1] + bias : 0;
	return true;
}

/* The first file, by rank, that defines _PyRuntime; NULL if none. Libraries
 * with names that say nothing are only tried when executable (a program
 * embedding the interpreter); system libraries never. */
static const struct pyloc_file *find_runtime(struct pyloc_files *files, struct elf_file *ef,
					     struct found_runtime *fr)
{
	if (files->n)
		qsort(files->v, files->n, sizeof(*files->v), cmp_rank);
	for (size_t i = 0; i < files->n; i++) {
		const struct pyloc_file *f = &files->v[i];

		if (f->rank == 3 || (f->rank == 2 && !f->executable))
			continue;
		if (probe_file(f, ef, fr))
			return f;
	}
	return NULL;
}

/* Version from Py_Version (3.11+) when it says 3.x, else from the file. */
static enum pyloc_status read_version(const struct memsrc *m, struct elf_file *ef, const struct found_runtime *fr,
				      const char *path, uint64_t *v, struct pyloc_result *res)
{
	*v = 0;
	if (fr->py_version_addr && memsrc_read_u64(m, fr->py_version_addr, v) != 0) {
		res->addr = fr->py_version_addr;
		return PYLOC_VERSION_UNREADABLE;
	}
	if ((*v >> 24) != 3)
		*v = version_from_file(ef, path);
	return (*v >> 24) == 3 ? PYLOC_OK : PYLOC_NO_VERSION;
}

/*
 * 3.13+: patch releases move fields (3.14.0 vs 3.14.10), so the
 * interpreter's own description of itself is trusted over the table. When
 * it is unusable, the committed table is a safe fallback only for the very
 * release it was generated from: then a warning, else a failure.
 */
static enum pyloc_status apply_debug_offsets(const struct memsrc *m, struct py_target *t, struct pyloc_result *res)
{
	uint8_t *buf = malloc(PY_DEBUG_OFFSETS_MAX);
	size_t got = buf ? memsrc_read_partial(m, t->runtime_addr, buf, PY_DEBUG_OFFSETS_MAX) : 0;
	enum pyloc_status st = PYLOC_OK;

	if (!got || py_layout_apply_debug_offsets(&t->layout, buf, got, res->why, sizeof(res->why)) != 0) {
		if (!got)
			snprintf(res->why, sizeof(res->why), "unreadable");
		if (t->layout_exact)
			snprintf(t->warning, sizeof(t->warning), "_Py_DebugOffsets unusable (%s); using the "
				 "offsets table for %s", res->why, res->version);
		else
			st = PYLOC_DEBUG_OFFSETS;
	}
	free(buf);
	return st;
}

enum pyloc_status pylocate(const struct memsrc *m, struct pyloc_files *files, struct py_target *t,
			   struct pyloc_result *res)
{
	struct elf_file ef;
	struct found_runtime fr = { 0, 0 };
	enum pyloc_status st;
	uint64_t v = 0;

	memset(res, 0, sizeof(*res));
	const struct pyloc_file *f = find_runtime(files, &ef, &fr);

	if (!f)
		return PYLOC_NOT_FOUND;
	res->file = f;
	snprintf(t->elf_path, sizeof(t->elf_path), "%s", f->path);
	t->shared_lib = strstr(f->path, ".so") != NULL;
	t->runtime_addr = fr.runtime;
	st = read_version(m, &ef, &fr, f->path, &v, res);
	elf_file_close(&ef);
	if (st != PYLOC_OK)
		return st;
	t->version_hex = (uint32_t)v;
	py_version_str(t->version_hex, res->version, sizeof(res->version));

	bool free_threaded = false;

	minor_from_name(f->path, &free_threaded);
	if (free_threaded)
		return PYLOC_FREE_THREADED;
	const struct py_layout *layout = py_layout_find(t->version_hex, &t->layout_exact);

	if (!layout)
		return PYLOC_NO_LAYOUT;
	t->layout = *layout;
	if (PY_HEX_MINOR(t->version_hex) >= 13) {
		st = apply_debug_offsets(m, t, res);
		if (st != PYLOC_OK)
			return st;
	}
	uint64_t interp = 0;

	res->addr = t->runtime_addr + t->layout.runtime_interpreters_head;
	if (memsrc_read_u64(m, res->addr, &interp) != 0)
		return PYLOC_RUNTIME_UNREADABLE;
	if (!interp)
		return PYLOC_NOT_INITIALIZED;
	res->addr = 0;
	return PYLOC_OK;
}

int pyloc_error(enum pyloc_status st)
{
	switch (st) {
	case PYLOC_OK:
		return 0;
	case PYLOC_NOT_FOUND:
		return PYPROC_ENOTPY;
	case PYLOC_NO_VERSION:
	case PYLOC_FREE_THREADED:
	case PYLOC_NO_LAYOUT:
	case PYLOC_DEBUG_OFFSETS:
		return PYPROC_EUNSUPPORTED;
	case PYLOC_RUNTIME_UNREADABLE:
	case PYLOC_NOT_INITIALIZED:
		return PYPROC_ENOTREADY;
	case PYLOC_VERSION_UNREADABLE:
	default:
		return PYPROC_ENOPROC;
	}
}
