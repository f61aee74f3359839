#include <errno.h>
#include <stdio.h>
#include "coredump.h"
int coredump_open(const char *path, const char *exe, struct coredump **out, char *err, size_t errlen)
{ (void)path; (void)exe; *out = NULL; snprintf(err, errlen, "--core is not supported yet"); return -ENOSYS; }
void coredump_close(struct coredump *c) { (void)c; }
struct memsrc coredump_memsrc(struct coredump *c) { (void)c; return (struct memsrc){0}; }
int coredump_py_target(struct coredump *c, struct py_target *t, char *err, size_t errlen) { (void)c; (void)t; (void)err; (void)errlen; return -1; }
int coredump_pid(const struct coredump *c) { (void)c; return 0; }
const char *coredump_psargs(const struct coredump *c) { (void)c; return ""; }
int coredump_signal(const struct coredump *c) { (void)c; return 0; }
size_t coredump_nthreads(const struct coredump *c) { (void)c; return 0; }
const struct core_thread *coredump_thread(const struct coredump *c, size_t i) { (void)c; (void)i; return NULL; }
const struct core_thread *coredump_thread_by_tid(const struct coredump *c, int32_t tid) { (void)c; (void)tid; return NULL; }
int32_t coredump_tid_by_fsbase(const struct coredump *c, uint64_t f) { (void)c; (void)f; return 0; }
void coredump_thread_name(const struct coredump *c, int32_t tid, char *buf, size_t len) { (void)c; (void)tid; if (len) buf[0] = 0; }
size_t coredump_nfiles(const struct coredump *c) { (void)c; return 0; }
const struct core_file *coredump_file(const struct coredump *c, size_t i) { (void)c; (void)i; return NULL; }
