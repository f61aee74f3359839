/*
 * Period files for bench/run.py's `report` benchmark: what a day of
 * `record -a --every 60s` on a host of Python servers leaves, written with
 * pyperf's own pprof writer (linked with build/libpyperf.a).
 *
 *   report_gen DIR NFILES NPROCS BUSY [SEED]
 *     Writes NFILES one-minute period files DIR/pyperf-...Z.pb.gz from
 *     2026-12-01T00:00:00Z on. Each holds NPROCS processes (pid, process,
 *     cmdline, 3 threads each, a container for half of them) sampled at
 *     19 Hz (record -a's default), each busy a BUSY share of the minute
 *     (0.1: 114 samples a process a minute), spread by a
 *     Zipf law over that process's own 300 stacks, 8 to 40 frames deep,
 *     through a made-up program of 2,000 functions in 120 files (the
 *     server loop and framework frames shared, handlers and libraries
 *     drawn per stack; some end in a native or kernel frame).
 *     Prints one line: files, samples, distinct stacks, bytes written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "output/archive.h"
#include "output/frametab.h"
#include "output/profile.h"
#include "output/writers.h"

#define NFUNCS 2000
#define NMODULES 120
#define STACKS_PER_PROC 300
#define THREADS 3
#define HZ 19
#define MAX_DEPTH 40

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static double unif(void)
{
	return (double)(rnd() >> 11) / (double)(1ull << 53);
}

struct stack {
	const char *frames[MAX_DEPTH + 4];
	size_t n;
};

struct proc {
	struct sample_origin threads[THREADS];
	struct stack stacks[STACKS_PER_PROC];
	char comm[32], cmdline[128], container[80], tname[THREADS][32];
};

static const char *module_path(int m, char *buf, size_t len)
{
	if (m < 40)
		snprintf(buf, len, "/srv/app/service/mod%02d.py", m);
	else if (m < 90)
		snprintf(buf, len, "/usr/lib/python3/dist-packages/lib%02d/core.py", m - 40);
	else
		snprintf(buf, len, "/usr/lib/python3.11/std%02d.py", m - 90);
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: report_gen DIR NFILES NPROCS BUSY [SEED]\n");
		return 2;
	}
	const char *dir = argv[1];
	int nfiles = atoi(argv[2]), nprocs = atoi(argv[3]);

	double busy = atof(argv[4]);

	rng_state = argc > 5 ? strtoull(argv[5], NULL, 10) : 1;
	if (!rng_state)
		rng_state = 1;
	if (nfiles <= 0 || nprocs <= 0 || busy <= 0 || busy > 1 || mkdir(dir, 0755) != 0) {
		fprintf(stderr, "report_gen: bad arguments or cannot create %s\n", dir);
		return 1;
	}
	struct frametab ft;
	static const char *funcs[NFUNCS];
	char path[128], name[64];

	frametab_init(&ft);
	for (int i = 0; i < NFUNCS; i++) {
		int m = (int)(rnd() % NMODULES), first = 10 + (int)(rnd() % 900);

		snprintf(name, sizeof(name), i % 3 ? "Handler%d.method_%d" : "func_%d_%d", i / 7, i);
		funcs[i] = frametab_python(&ft, name, module_path(m, path, sizeof(path)), first + 1 + (int)(rnd() % 40),
					   first);
	}
	const char *loop[] = {
		frametab_python(&ft, "<module>", "/srv/app/main.py", 12, 1),
		frametab_python(&ft, "main", "/srv/app/main.py", 8, 5),
		frametab_python(&ft, "Server.serve_forever", "/usr/lib/python3.11/socketserver.py", 237, 215),
		frametab_python(&ft, "Server._handle_request_noblock", "/usr/lib/python3.11/socketserver.py", 316, 303),
		frametab_python(&ft, "App.__call__", "/usr/lib/python3/dist-packages/framework/app.py", 88, 80),
		frametab_python(&ft, "App.dispatch", "/usr/lib/python3/dist-packages/framework/app.py", 120, 101),
	};
	const char *leaves[] = {
		frametab_native(&ft, "deflate", "/usr/lib/x86_64-linux-gnu/libz.so.1", 0x4a10, "ab12", false),
		frametab_native(&ft, "PyDict_GetItem", "/usr/bin/python3.11", 0x1234, "cd34", false),
		frametab_native(&ft, "tcp_sendmsg", "", 0xffffffff81a00000ull, "", true),
		frametab_pseudo(&ft, "[gc]"),
	};
	struct proc *procs = calloc((size_t)nprocs, sizeof(*procs));

	if (!procs)
		return 1;
	for (int p = 0; p < nprocs; p++) {
		struct proc *pr = &procs[p];

		snprintf(pr->comm, sizeof(pr->comm), p % 5 ? "gunicorn" : "celery");
		snprintf(pr->cmdline, sizeof(pr->cmdline), "/usr/bin/python3.11 /srv/app/%s.py --worker %d", pr->comm, p);
		if (p % 2)
			snprintf(pr->container, sizeof(pr->container), "%016llx", (unsigned long long)(rnd() | 1));
		for (int t = 0; t < THREADS; t++) {
			snprintf(pr->tname[t], sizeof(pr->tname[t]), t ? "worker-%d" : "MainThread", t);
			pr->threads[t] = (struct sample_origin){
				.pid = (uint32_t)(1000 + p * 10), .tid = (uint32_t)(1000 + p * 10 + t), .comm = pr->comm,
				.cmdline = pr->cmdline, .thread = pr->tname[t], .container = pr->container,
			};
		}
		for (int s = 0; s < STACKS_PER_PROC; s++) {
			struct stack *st = &pr->stacks[s];
			size_t depth = 2 + (size_t)(rnd() % (MAX_DEPTH - 8));

			st->n = 0;
			for (size_t k = 0; k < 6; k++)
				st->frames[st->n++] = loop[k];
			/* handlers drawn from the hot part of the program more often */
			for (size_t k = 0; k < depth; k++)
				st->frames[st->n++] = funcs[(size_t)(NFUNCS * unif() * unif())];
			if (rnd() % 4 == 0)
				st->frames[st->n++] = leaves[rnd() % 4];
		}
	}
	/* Zipf weights over a process's stacks, as a cumulative table */
	double cum[STACKS_PER_PROC], sum = 0;

	for (int s = 0; s < STACKS_PER_PROC; s++)
		cum[s] = (sum += 1.0 / (s + 1));
	uint64_t start = 1796083200ull * 1000000000ull; /* 2026-12-01T00:00:00Z */
	uint64_t samples = 0, bytes = 0, stacks = 0;
	int per_proc = (int)(HZ * 60 * busy + 0.5);

	for (int f = 0; f < nfiles; f++) {
		struct profile prof;
		uint64_t t0 = start + (uint64_t)f * 60000000000ull;
		char out[4096];

		profile_init(&prof);
		for (int p = 0; p < nprocs; p++)
			for (int k = 0; k < per_proc; k++) {
				double u = unif() * sum;
				int lo = 0, hi = STACKS_PER_PROC - 1;

				while (lo < hi) {
					int mid = (lo + hi) / 2;

					if (cum[mid] < u)
						lo = mid + 1;
					else
						hi = mid;
				}
				const struct stack *st = &procs[p].stacks[lo];

				if (profile_add_origin(&prof, st->frames, st->n, 1, &procs[p].threads[rnd() % THREADS]))
					return 1;
			}
		struct profile_meta m = { .period_ns = 1000000000ull / HZ, .start_unix_ns = t0,
					  .duration_ns = 60000000000ull };
		char slash_dir[4000];

		snprintf(slash_dir, sizeof(slash_dir), "%s/", dir);
		archive_period_path(out, sizeof(out), slash_dir, t0, ".pb.gz");
		FILE *o = fopen(out, "wb");

		if (!o || profile_write_pprof(&prof, &ft, &m, o) || fclose(o)) {
			fprintf(stderr, "report_gen: cannot write %s\n", out);
			return 1;
		}
		struct stat st;

		if (stat(out, &st) == 0)
			bytes += (uint64_t)st.st_size;
		samples += prof.total;
		stacks += prof.len;
		profile_free(&prof);
	}
	printf("files=%d samples=%llu stacks_per_file=%llu bytes=%llu\n", nfiles, (unsigned long long)samples,
	       (unsigned long long)(stacks / (uint64_t)nfiles), (unsigned long long)bytes);
	free(procs);
	frametab_free(&ft);
	return 0;
}
