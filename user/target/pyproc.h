/* Finding the CPython interpreter inside a process: which ELF file holds
 * _PyRuntime, where it is loaded, which version it is, which layout fits. */
#ifndef PYPERF_PYPROC_H
#define PYPERF_PYPROC_H
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyperf.h"

struct py_target {
	pid_t pid;
	uint64_t start_time;        /* /proc/PID/stat field 22, guards PID reuse */
	char comm[32];
	char elf_path[PATH_MAX];    /* file defining _PyRuntime, as the target sees it */
	bool shared_lib;            /* libpython*.so rather than the executable */
	uint64_t runtime_addr;
	uint32_t version_hex;       /* PY_VERSION_HEX of the target */
	bool layout_exact;          /* table generated from this very patch release */
	struct py_layout layout;
	char warning[512];          /* something the user should know, or "" */
};

/* Error kinds py_target_open reports (negative return values). */
enum {
	PYPROC_ENOPROC = 1,         /* no such process */
	PYPROC_EPERM,               /* not allowed to inspect it */
	PYPROC_ENOTPY,              /* no CPython interpreter found in it */
	PYPROC_EUNSUPPORTED,        /* a CPython version pyperf has no layout for */
	PYPROC_ENOTREADY,           /* interpreter not initialized (yet, or anymore) */
};

/* Inspects pid. Returns 0, or -PYPROC_* with a one-line reason in err. */
int py_target_open(pid_t pid, struct py_target *t, char *err, size_t errlen);

/* "3.12.1" for a PY_VERSION_HEX. */
const char *py_version_str(uint32_t version_hex, char *buf, size_t len);

/* Reads /proc/PID/stat (or /proc/PID/task/TID/stat when tid > 0) into buf
 * and returns where the fields after the command name start (the state
 * letter, field 3), or NULL when it cannot be read. */
const char *proc_stat_fields(pid_t pid, pid_t tid, char *buf, size_t len);

/* /proc/PID/stat start time, or 0 when the process is gone. */
uint64_t proc_start_time(pid_t pid);

/* The start of /proc/PID/cmdline, arguments joined by spaces (newlines too),
 * NUL-terminated; "" when unreadable. */
void proc_cmdline(pid_t pid, char *buf, size_t len);

/* Reads /proc/PID/task/TID/comm into buf (NUL-terminated, newline stripped). */
int proc_thread_name(pid_t pid, pid_t tid, char *buf, size_t len);

#endif
