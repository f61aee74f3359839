/*
 * One stack of each of some threads of a live process, sampled while they
 * run on a CPU by the in-kernel sampler with native frames (record
 * --native's walker, tables and merge): for dump --native, whose own
 * unwinder reads registers only of threads blocked in the kernel. The
 * process is never stopped.
 */
#ifndef PYPERF_SNAPSHOT_H
#define PYPERF_SNAPSHOT_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "output/frametab.h"

struct snapshot_stack {
	int32_t tid;
	size_t n;                   /* 0: not sampled in time */
	const char **labels;        /* innermost first, interned in the caller's frametab */
};

/*
 * Samples pid until each of the n threads in out (tid set, the rest
 * zeroed) has one stack or timeout_s passes, re-interning the labels into
 * tab (so frametab_meta(tab, label) gives their parts). Returns 0 (some
 * threads may still have n == 0: they left the CPU), or -1 with a one-line
 * reason in err (no BPF, the process is gone, out of memory).
 */
int snapshot_running(pid_t pid, struct snapshot_stack *out, size_t n, struct frametab *tab, double timeout_s,
		     char *err, size_t errlen);

void snapshot_free(struct snapshot_stack *s, size_t n);

#endif
