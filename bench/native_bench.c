/*
 * Userspace costs of --native, for bench/run.py's `native` benchmark.
 * Linked with build/libpyperf.a; calls the same functions pyperf does.
 *
 *   native_bench tables FILE REPEAT
 *     Builds FILE's unwind table (unwtab_build_fd: what `record --native`
 *     does for each mapped file before loading it into the kernel) REPEAT
 *     times. Prints one line: rows, FDEs, the table's size (rows x
 *     sizeof(struct unwind_row), the memory that stays allocated and is
 *     copied to the kernel), the growth of peak RSS over the first build
 *     (everything the build touched: ELF sections read, scratch), and the
 *     median CPU time of one build.
 *
 *   native_bench unwind PID TID N
 *     py-spy-style userspace unwinding of thread TID (blocked in a system
 *     call, so /proc/PID/task/TID/syscall gives its stack and instruction
 *     pointers) with dump --native's unwinder (native_unwind: .eh_frame CFI
 *     interpreted per frame, frames symbolized), N times after one cold
 *     unwind, in two ways:
 *       "read":  every read of target memory is one process_vm_readv
 *                (how dump --native reads);
 *       "copy":  the first read of each unwind copies STACK_COPY bytes of
 *                the stack from there with one process_vm_readv (what
 *                perf --call-graph dwarf ships per sample), later reads
 *                inside the copy are served from it.
 *     Prints per way: frames, the median CPU time per stack (this process's
 *     user+system time, so process_vm_readv and the /proc read count), the
 *     reads made per stack, and why unwinding stopped. Then "regs": the
 *     median CPU time of reading /proc/PID/task/TID/syscall alone, which
 *     native_unwind does once per stack to get the registers (py-spy
 *     stops the thread with ptrace and asks for them instead).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "native/native.h"
#include "native/unwtab.h"
#include "target/memsrc.h"

#define MAX_REPEAT 1000
#define STACK_COPY (64u << 10)

static long long cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Peak RSS of this process image: VmHWM, which starts afresh at exec
 * (ru_maxrss keeps the parent's peak across fork and exec). */
static long maxrss_kib(void)
{
	char line[128];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static long long median_ll(long long *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_ll);
	return v[n / 2];
}

static int tables(const char *path, int repeat)
{
	static long long t[MAX_REPEAT];
	struct unwtab tab = { 0 };
	char err[256] = "";
	size_t rows = 0, fdes = 0, skipped = 0;
	long rss0 = maxrss_kib(), rss1 = rss0;

	for (int i = 0; i < repeat; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			fprintf(stderr, "native_bench: cannot open %s: %s\n", path, strerror(errno));
			return 1;
		}
		long long t0 = cpu_ns();
		int r = unwtab_build_fd(fd, &tab, err, sizeof(err));

		t[i] = cpu_ns() - t0;
		close(fd);
		if (r) {
			fprintf(stderr, "native_bench: no table for %s: %s\n", path, err);
			return 1;
		}
		if (i == 0)
			rss1 = maxrss_kib();
		rows = tab.n;
		fdes = tab.fdes;
		skipped = tab.fdes_skipped;
		unwtab_free(&tab);
	}
	printf("rows=%zu fdes=%zu fdes_skipped=%zu table_bytes=%zu peak_rss_growth_kib=%ld build_cpu_ns=%lld\n", rows,
	       fdes, skipped, rows * sizeof(struct unwind_row), rss1 - rss0, median_ll(t, repeat));
	return 0;
}

/* A memsrc counting reads, optionally serving them from a copy of the
 * stack made at the first read of each unwind. */
struct counting {
	struct memsrc pid;
	int copy;
	unsigned char *buf;
	uint64_t base;
	size_t have;
	long reads, syscalls;
};

static size_t counting_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	struct counting *c = m->ctx;

	c->reads++;
	if (c->copy && !c->have) {
		c->base = addr;
		c->syscalls++;
		c->have = c->pid.read(&c->pid, addr, c->buf, STACK_COPY);
	}
	if (c->copy && addr >= c->base && addr - c->base <= c->have && len <= c->have - (addr - c->base)) {
		memcpy(buf, c->buf + (addr - c->base), len);
		return len;
	}
	c->syscalls++;
	return c->pid.read(&c->pid, addr, buf, len);
}

static int unwind(pid_t pid, int tid, int n)
{
	static long long t[MAX_REPEAT];
	static const char *const way[] = { "read", "copy" };

	for (int w = 0; w < 2; w++) {
		struct counting cnt = { .pid = memsrc_pid(pid), .copy = w == 1 };
		struct memsrc m = { .read = counting_read, .pid = pid, .ctx = &cnt };
		struct native_stack ns;
		size_t frames = 0;

		cnt.buf = malloc(STACK_COPY);
		struct native_ctx *c = cnt.buf ? native_ctx_new(&m, pid, NULL) : NULL;

		if (!c) {
			fprintf(stderr, "native_bench: out of memory\n");
			return 1;
		}
		/* Cold: /proc/PID/maps is read by native_ctx_new; the ELF files
		 * (CFI, symbols) at their first frame. */
		long long t0 = cpu_ns();
		int r = native_unwind(c, tid, &ns);
		long long cold = cpu_ns() - t0;

		if (r) {
			fprintf(stderr, "native_bench: cannot unwind thread %d: %s\n", tid, ns.why);
			return 1;
		}
		native_stack_free(&ns);
		cnt.reads = cnt.syscalls = 0;
		for (int i = 0; i < n; i++) {
			cnt.have = 0;
			t0 = cpu_ns();
			native_unwind(c, tid, &ns);
			t[i] = cpu_ns() - t0;
			frames = ns.n;
			if (i < n - 1)
				native_stack_free(&ns);
		}
		printf("way=%s frames=%zu cold_cpu_ns=%lld cpu_ns=%lld reads=%.1f syscalls=%.1f why=%s\n", way[w], frames,
		       cold, median_ll(t, n), (double)cnt.reads / n, (double)cnt.syscalls / n,
		       ns.why[0] ? ns.why : "end of stack");
		native_stack_free(&ns);
		native_ctx_free(c);
		free(cnt.buf);
	}
	char path[96], line[512];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, tid);
	for (int i = 0; i < n; i++) {
		long long t0 = cpu_ns();
		FILE *f = fopen(path, "re");

		if (!f || !fgets(line, sizeof(line), f)) {
			fprintf(stderr, "native_bench: cannot read %s\n", path);
			if (f)
				fclose(f);
			return 1;
		}
		fclose(f);
		t[i] = cpu_ns() - t0;
	}
	printf("way=regs cpu_ns=%lld\n", median_ll(t, n));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "tables") == 0) {
		int repeat = atoi(argv[3]);

		return tables(argv[2], repeat < 1 ? 1 : repeat > MAX_REPEAT ? MAX_REPEAT : repeat);
	}
	if (argc == 5 && strcmp(argv[1], "unwind") == 0) {
		int n = atoi(argv[4]);

		return unwind((pid_t)atoi(argv[2]), atoi(argv[3]), n < 1 ? 1 : n > MAX_REPEAT ? MAX_REPEAT : n);
	}
	fprintf(stderr, "usage: native_bench tables FILE REPEAT | unwind PID TID N\n");
	return 2;
}
