/*
 * Finding the CPython interpreter among the files mapped into a target,
 * whatever the target is: a live process (pyproc.c lists its files from
 * /proc/PID/maps) or a core file (coredump.c, from NT_FILE). One ranking of
 * the files, one way to tell the version, one policy for _Py_DebugOffsets;
 * each source words its own errors from the status returned.
 */
#ifndef PYPERF_PYLOCATE_H
#define PYPERF_PYLOCATE_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target/memsrc.h"
#include "target/pyproc.h"

/* Distinct files kept per target; a process maps far fewer. */
#define PYLOC_MAX_FILES 512

/* One file mapped into the target. */
struct pyloc_file {
	char path[PATH_MAX];        /* as the target saw it */
	char local[PATH_MAX + 32];  /* where it is opened here ("": nowhere) */
	uint64_t start, offset;     /* its mapping with the lowest file offset */
	bool executable;            /* some mapping of it is executable */
	int rank;                   /* lower is tried first */
	size_t order;               /* when it was added: ties keep that order */
};

struct pyloc_files {
	struct pyloc_file *v;
	size_t n, cap;
};

/* Adds one mapping of path (a file seen again keeps its lowest-offset
 * mapping and gains `executable`). Returns 0 or -ENOMEM; mappings beyond
 * PYLOC_MAX_FILES distinct files are ignored. */
int pyloc_files_add(struct pyloc_files *fl, const char *path, const char *local, uint64_t start,
		    uint64_t offset, bool executable);
void pyloc_files_free(struct pyloc_files *fl);

/* The file name part of a path. */
const char *pyloc_basename(const char *path);

enum pyloc_status {
	PYLOC_OK,
	PYLOC_NOT_FOUND,            /* no readable file defines _PyRuntime */
	PYLOC_VERSION_UNREADABLE,   /* Py_Version at res->addr unreadable */
	PYLOC_NO_VERSION,           /* neither Py_Version nor the file tells it */
	PYLOC_FREE_THREADED,        /* a free-threaded build (not supported yet) */
	PYLOC_NO_LAYOUT,            /* a version pyperf has no layout for */
	PYLOC_DEBUG_OFFSETS,        /* _Py_DebugOffsets unusable (res->why), no exact table */
	PYLOC_RUNTIME_UNREADABLE,   /* the interpreters list at res->addr unreadable */
	PYLOC_NOT_INITIALIZED,      /* no interpreter yet (or anymore) */
};

/* What a failure concerns, for the message. */
struct pyloc_result {
	const struct pyloc_file *file;  /* the file defining _PyRuntime, once found */
	char version[32];               /* "3.12.1", once known */
	char why[256];
	uint64_t addr;                  /* the address that could not be read */
};

/*
 * Finds _PyRuntime in files (sorted here by rank), reads the version and
 * picks the layout, reading memory through m. Fills t's elf_path,
 * shared_lib, runtime_addr, version_hex, layout_exact, layout and warning
 * (the caller fills pid, comm, start_time). res tells what a failure
 * concerns; res->file points into files.
 */
enum pyloc_status pylocate(const struct memsrc *m, struct pyloc_files *files, struct py_target *t,
			   struct pyloc_result *res);

/* The PYPROC_* error (positive) a status stands for. */
int pyloc_error(enum pyloc_status st);

#endif
