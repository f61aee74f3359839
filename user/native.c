#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "native.h"
struct native_ctx { int x; };
struct native_ctx *native_ctx_new(const struct memsrc *m, pid_t pid, struct coredump *core) { (void)m; (void)pid; (void)core; return calloc(1, sizeof(struct native_ctx)); }
void native_ctx_free(struct native_ctx *c) { free(c); }
int native_unwind(struct native_ctx *c, int32_t tid, struct native_stack *out) { (void)c; (void)tid; snprintf(out->why, sizeof(out->why), "not supported yet"); return -ENOSYS; }
void native_merge(struct native_ctx *c, struct native_stack *ns, const uint64_t *frames, const uint8_t *entry, size_t n, uint32_t lf) { (void)c; (void)ns; (void)frames; (void)entry; (void)n; (void)lf; }
void native_stack_free(struct native_stack *ns) { free(ns->frames); ns->frames = NULL; ns->n = 0; }
