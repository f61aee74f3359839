/*
 * Symbolization speed: resolves a list of code objects of a live process
 * with pyperf's own symbolizer (user/python/symbolize.h), as `pyperf record` does
 * on the first sight of each frame, and prints the CPU time it took.
 *
 *   symbolize_bench PID FRAMES_FILE
 *
 * FRAMES_FILE has one "CODE_ADDRESS LASTI" line per code object (decimal),
 * written by bench/targets/many_codes.py. Each line becomes a packed frame
 * (PYPERF_FRAME_* in bpf/pyperf.h) and goes through symbolizer_frame twice:
 * the first pass reads every code object, its name strings and its line
 * table from the target (process_vm_readv) and computes the line; the
 * second pass only hits the caches. For scale, it also times single 64-byte
 * process_vm_readv calls on the same process: the symbolizer's unit of work.
 * The symbolizer reads through a memsrc that counts its requests (reads:
 * single reads plus vectored ones, each one process_vm_readv when nothing
 * fails) and the bytes asked for.
 * Output, one line of "key=value" pairs, then the first label:
 *
 *   codes=N labels=N unknown=N cold_cpu_ns=N cold_wall_ns=N warm_cpu_ns=N read_cpu_ns=N
 *     reads=N readv=N read_bytes=N
 *   first=LABEL
 *
 * CPU time is the process's (user + system: the reads are system calls).
 * Built by bench/run.py against build/libpyperf.a; not a test.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "output/frametab.h"
#include "target/memsrc.h"
#include "pyperf.h"
#include "target/pyproc.h"
#include "python/symbolize.h"

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A live-process memsrc that counts what is asked of it. */
struct counting {
	struct memsrc inner;
	uint64_t reads, readv, bytes;
};

static size_t counting_read(const struct memsrc *m, uint64_t addr, void *buf, size_t len)
{
	struct counting *c = m->ctx;

	c->reads++;
	c->bytes += len;
	return memsrc_read_partial(&c->inner, addr, buf, len);
}

static void counting_readv(const struct memsrc *m, struct memsrc_iov *iov, size_t n)
{
	struct counting *c = m->ctx;

	c->reads++;
	c->readv++;
	for (size_t i = 0; i < n; i++)
		c->bytes += iov[i].len;
	memsrc_readv(&c->inner, iov, n);
}

/* Reads FRAMES_FILE into packed frames; returns how many, or -1. */
static long read_frames(const char *path, uint64_t **out)
{
	FILE *f = fopen(path, "r");
	uint64_t addr, *frames = NULL;
	long lasti, n = 0, cap = 0;

	if (!f)
		return -1;
	while (fscanf(f, "%" SCNu64 " %ld", &addr, &lasti) == 2) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16384;
			uint64_t *p = realloc(frames, (size_t)cap * sizeof(*p));

			if (!p) {
				free(frames);
				fclose(f);
				return -1;
			}
			frames = p;
		}
		/* Same packing as the sampler: (code << 16) | (lasti + 1). */
		frames[n++] = (addr << 16) | (uint64_t)((lasti + 1) & 0xffff);
	}
	fclose(f);
	*out = frames;
	return n;
}

int main(int argc, char **argv)
{
	struct py_target target;
	struct frametab tab;
	uint64_t *frames;
	char err[512];

	if (argc != 3) {
		fprintf(stderr, "usage: symbolize_bench PID FRAMES_FILE\n");
		return 2;
	}
	long n = read_frames(argv[2], &frames);

	if (n <= 0) {
		fprintf(stderr, "symbolize_bench: no frames in %s\n", argv[2]);
		return 1;
	}
	if (py_target_open((pid_t)atoi(argv[1]), &target, err, sizeof(err))) {
		fprintf(stderr, "symbolize_bench: %s\n", err);
		return 1;
	}
	frametab_init(&tab);
	struct counting cnt = { .inner = memsrc_pid(target.pid) };
	struct memsrc src = { .read = counting_read, .readv = counting_readv, .pid = target.pid, .ctx = &cnt };
	struct symbolizer *sym = symbolizer_new_src(&target, &tab, &src);

	if (!sym) {
		fprintf(stderr, "symbolize_bench: out of memory\n");
		return 1;
	}

	/* Cold: every code object is read from the target. */
	long labels = 0, unknown = 0;
	const char *first = NULL;
	uint64_t c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ns(CLOCK_MONOTONIC);

	for (long i = 0; i < n; i++) {
		const char *l = symbolizer_frame(sym, frames[i]);

		if (!l)
			continue;
		labels++;
		if (!strncmp(l, "[unknown code", 13))
			unknown++;
		if (!first)
			first = l;
	}
	uint64_t c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), w1 = clock_ns(CLOCK_MONOTONIC);
	uint64_t reads = cnt.reads, readv = cnt.readv, bytes = cnt.bytes;

	/* Warm: the same frames again, from the caches. */
	for (long i = 0; i < n; i++)
		(void)symbolizer_frame(sym, frames[i]);
	uint64_t c2 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);

	/* One process_vm_readv of 64 bytes, averaged over as many as there are frames. */
	char buf[64];
	struct iovec local = { buf, sizeof(buf) }, remote = { (void *)(uintptr_t)PYPERF_FRAME_CODE(frames[0]), 64 };

	for (long i = 0; i < n; i++)
		(void)process_vm_readv(target.pid, &local, 1, &remote, 1, 0);
	uint64_t c3 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);

	printf("codes=%ld labels=%ld unknown=%ld cold_cpu_ns=%" PRIu64 " cold_wall_ns=%" PRIu64
	       " warm_cpu_ns=%" PRIu64 " read_cpu_ns=%" PRIu64 " reads=%" PRIu64 " readv=%" PRIu64
	       " read_bytes=%" PRIu64 "\nfirst=%s\n",
	       n, labels, unknown, c1 - c0, w1 - w0, c2 - c1, (c3 - c2) / (uint64_t)n, reads, readv, bytes,
	       first ? first : "");
	symbolizer_free(sym);
	frametab_free(&tab);
	free(frames);
	return 0;
}
