/*
 * ELF core files (x86_64 Linux) as a struct memsrc: memory from the PT_LOAD
 * segments, and for the parts a core leaves out (read-only file mappings such
 * as code and .rodata) from the mapped files the NT_FILE note names. Threads
 * from the NT_PRSTATUS notes, the command from NT_PRPSINFO. Read with libelf;
 * every count and offset from the file is checked.
 */
#ifndef PYPERF_COREDUMP_H
#define PYPERF_COREDUMP_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "target/memsrc.h"
#include "target/pyproc.h"

struct coredump;

/* Registers of a thread as the core recorded them (x86_64 user_regs_struct):
 * the instruction and stack pointers, the callee-saved registers an unwinder
 * needs, the thread pointer, and the syscall the thread was in (orig_rax,
 * -1 for none) with its arguments. */
struct core_regs {
	uint64_t rip, rsp, rbp, rbx, r12, r13, r14, r15, fs_base;
	uint64_t orig_rax, rdi, rsi, rdx, r10, r8, r9;
};

struct core_thread {
	int32_t tid;
	int signal;                 /* pr_cursig */
	struct core_regs regs;
};

/* One file-backed mapping from NT_FILE. */
struct core_file {
	uint64_t start, end;        /* addresses in the dumped process */
	uint64_t offset;            /* file offset (bytes) of start */
	char path[PATH_MAX];        /* path as the process saw it */
	char local[PATH_MAX];       /* path read here ("" when not readable) */
};

/*
 * Opens path. exe, when not NULL, is the executable to read in place of the
 * one the core names (the mapped file with exe's file name, else the one
 * holding the program's entry point). Each file read in place of a mapping
 * is checked against the core's copy of its first page (build id, ELF
 * headers) and its mappings' extents: a wrong exe is an error, a wrong
 * library is left out (coredump_warning).
 * Returns 0, or -errno with a one-line reason in err.
 */
int coredump_open(const char *path, const char *exe, struct coredump **out, char *err, size_t errlen);
void coredump_close(struct coredump *c);

/* Reads the dumped process's memory. Valid while c is open. */
struct memsrc coredump_memsrc(struct coredump *c);

/* Finds the interpreter in the core as py_target_open does in a process:
 * _PyRuntime in the mapped files, the version, the layout (with
 * _Py_DebugOffsets on 3.13+). Returns 0 or -PYPROC_* with err set. */
int coredump_py_target(struct coredump *c, struct py_target *t, char *err, size_t errlen);

const char *coredump_psargs(const struct coredump *c);  /* "" when unknown */
/* A mapped file left out because it is not the one the core mapped (e.g. a
 * library upgraded since the crash), naming it; "" when none. */
const char *coredump_warning(const struct coredump *c);
int coredump_signal(const struct coredump *c);          /* signal that dumped it, 0 unknown */
size_t coredump_nthreads(const struct coredump *c);
const struct core_thread *coredump_thread(const struct coredump *c, size_t i);
const struct core_thread *coredump_thread_by_tid(const struct coredump *c, int32_t tid);
/* The TID whose fs_base (thread pointer, == pthread_t) is fsbase; 0 if none. */
int32_t coredump_tid_by_fsbase(const struct coredump *c, uint64_t fsbase);
/* A core names only the process (NT_PRPSINFO pr_fname): the main thread's
 * name; "" for the others. */
void coredump_thread_name(const struct coredump *c, int32_t tid, char *buf, size_t len);
size_t coredump_nfiles(const struct coredump *c);
/* Is the core cut short (disk full, a size limit, a copy cut)? Then buf
 * gets "the core is truncated (N of M bytes)"; else "". Memory in the
 * missing part reads as unreadable. */
bool coredump_truncated(const struct coredump *c, char *buf, size_t len);
const struct core_file *coredump_file(const struct coredump *c, size_t i);

#endif
