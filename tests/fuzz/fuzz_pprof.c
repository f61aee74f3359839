/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the pprof reader (user/output/pprof_read.c, its
 * protobuf decoder protobuf_read.c) and the file reader around it
 * (profile_read.c: gzip, folded, format detection).
 *
 * Input: arbitrary bytes, read twice: as an uncompressed profile.proto
 * message (read_pprof), and as a file (profile_read: gzip data is pprof,
 * anything else folded stacks).
 *
 * Checks (abort on violation):
 *   - the readers return 0 or a negative errno with a one-line message
 *     (no '\n' in it), never crash or leak (ASan, LeakSanitizer), and
 *     close what they open;
 *   - on success: the counts add up to prof.total and to the file's
 *     samples, at most READ_MAX_TOTAL; no stack is deeper than
 *     READ_MAX_FRAMES; every frame has its parts (frametab_meta) and every
 *     stack an origin naming its file;
 *   - what was read writes back as pprof (or -EOVERFLOW when count x
 *     period passes int64) and as folded, and the pprof written reads back
 *     with the same total (CPU sample counts, whose values are the counts).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_pprof"
#include "fuzz_file.h"
#include "output/profile_read.h"
#include "output/writers.h"

static void check_profile(struct read_profile *rp, const struct read_file *file, const char *err)
{
	uint64_t sum = 0;

	if (strchr(err, '\n'))
		die("an error message of more than one line: %s", err);
	for (size_t i = 0; i < rp->prof.len; i++) {
		const struct profile_stack *s = &rp->prof.stacks[i];

		if (s->nframes > READ_MAX_FRAMES)
			die("a stack of %zu frames", s->nframes);
		if (!s->origin || s->origin->source != 1)
			die("a stack without its file");
		for (size_t j = 0; j < s->nframes; j++)
			if (!frametab_meta(&rp->labels, s->frames[j]))
				die("frame \"%s\" has no parts", s->frames[j]);
		sum += s->count;
	}
	if (sum != rp->prof.total || sum != file->samples || sum > READ_MAX_TOTAL)
		die("counts %llu, total %llu, file samples %llu", (unsigned long long)sum,
		    (unsigned long long)rp->prof.total, (unsigned long long)file->samples);
}

/* Writes what was read as pprof and folded; reads the pprof back. */
static void write_back(struct read_profile *rp, const struct read_file *file)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct profile_meta m = { .period_ns = file->period_ns ? file->period_ns : 1,
				  .value_type = file->value_type, .duration_ns = file->duration_ns,
				  .start_unix_ns = file->start_unix_ns, .name = file->title };

	if (!f)
		abort();
	int rc = profile_write_pprof(&rp->prof, &rp->labels, &m, f);

	if (fclose(f) != 0)
		abort();
	if (rc && rc != -EOVERFLOW)
		die("profile_write_pprof of what was read: %d", rc);
	if (!rc && !file->value_type) {
		fuzz_file_put((const uint8_t *)buf, len);
		struct read_profile again;
		char err[512] = "";

		if (profile_read(&again, path, NULL, err, sizeof(err)) != 0)
			die("the pprof written from what was read does not read back: %s", err);
		if (again.prof.total != rp->prof.total)
			die("total %llu read back as %llu", (unsigned long long)rp->prof.total,
			    (unsigned long long)again.prof.total);
		read_profile_free(&again);
	}
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		abort();
	if (profile_write_folded(&rp->prof, f) != 0)
		die("profile_write_folded of what was read failed");
	fclose(f);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct read_profile rp = { 0 };
	struct read_file file = { 0 };
	char err[512] = "";

	/* 1: the bytes as profile.proto, in an exact-size copy */
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		abort();
	memcpy(copy, data, size);
	profile_init(&rp.prof);
	frametab_init(&rp.labels);
	int rc = read_pprof(&rp, &file, copy, size, 1, err, sizeof(err));

	if (rc > 0)
		die("read_pprof returned %d", rc);
	if (rc == 0) {
		check_profile(&rp, &file, err);
		write_back(&rp, &file);
	} else if (!err[0] || strchr(err, '\n')) {
		die("error %d with message \"%s\"", rc, err);
	}
	read_profile_free(&rp);
	free(copy);

	/* 2: the bytes as a file */
	fuzz_file_put(data, size);
	int fds = open_fds();

	err[0] = '\0';
	rc = profile_read(&rp, path, NULL, err, sizeof(err));
	if (rc > 0)
		die("profile_read returned %d", rc);
	if (rc == 0) {
		if (rp.nfiles != 1)
			die("one file read as %zu", rp.nfiles);
		check_profile(&rp, &rp.files[0], err);
	} else if (!err[0] || strchr(err, '\n')) {
		die("error %d with message \"%s\"", rc, err);
	}
	read_profile_free(&rp);
	if (open_fds() != fds)
		die("a file descriptor leaked");
	return 0;
}
