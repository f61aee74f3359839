/*
 * --native, the sampler's side: each sampled process's executable
 * mappings go to the kernel (native_procs) with where their file's unwind
 * table lies in unwind_rows; a table is built once per file (nfiles.c
 * keeps one entry per file for every process mapping it) and copied into
 * the next free rows. Stacks arriving with native frames are named here
 * and merged with their Python frames (nmerge.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "native/nfiles.h"
#include "native/nmerge.h"
#include "native/unwtab.h"
#include "pyperf.skel.h"
#include "python/pywalk.h"
#include "sampler/session_impl.h"

/* Default room for tables: enough for libpython, libc and a few hundred
 * extension modules (bench/RESULTS.md has sizes). Kernel memory, taken at
 * load, only with --native. */
#define DEFAULT_TABLE_BYTES (32ull << 20)
/* A process whose stacks name a pc in no known mapping (a dlopen since)
 * reads its mappings again at most this often. */
#define RELOAD_NS 250000000ull

uint32_t native_table_rows(const struct session *r)
{
	uint64_t bytes = r->cfg.native_table_bytes ? r->cfg.native_table_bytes : DEFAULT_TABLE_BYTES;
	uint64_t rows = bytes / sizeof(struct unwind_row);

	return rows > (1u << 24) ? 1u << 24 : rows < 1 ? 1 : (uint32_t)rows;
}

int native_init(struct session *r)
{
	if (!r->cfg.native)
		return 0;
	r->native.files = nfiles_new();
	r->native.rows_cap = native_table_rows(r);
	r->native.items = calloc(PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE + 1, sizeof(*r->native.items));
	r->native.names = calloc(PYPERF_MAX_NATIVE, sizeof(*r->native.names));
	r->native.eval = calloc(PYPERF_MAX_NATIVE, sizeof(*r->native.eval));
	if (!r->native.files || !r->native.items || !r->native.names || !r->native.eval) {
		session_err(r, "out of memory\n");
		return -1;
	}
	return 0;
}

void native_free(struct session *r)
{
	nfiles_free(r->native.files);
	r->native.files = NULL;
	ksyms_free(r->native.ksyms);
	r->native.ksyms = NULL;
	free(r->native.items);
	free(r->native.names);
	free(r->native.eval);
	u64map_free(&r->native.by_build_id);
}

/* Copies a file's table into the next free rows, in batches. */
static int load_rows(struct session *r, const struct unwtab *t, uint32_t first)
{
	int fd = bpf_map__fd(r->skel->maps.unwind_rows);
	enum { BATCH = 4096 };
	__u32 keys[BATCH];

	for (size_t done = 0; done < t->n;) {
		__u32 count = t->n - done > BATCH ? BATCH : (__u32)(t->n - done);

		for (__u32 i = 0; i < count; i++)
			keys[i] = first + (uint32_t)(done + i);
		if (bpf_map_update_batch(fd, keys, t->rows + done, &count, NULL) || !count)
			return -errno ? -errno : -EIO;
		done += count;
	}
	return 0;
}

/* The file's table in unwind_rows, built on first use. A file that has
 * none, or no room left, keeps row_count 0: its frames end marked. */
static void ensure_table(struct session *r, struct nfile *f, pid_t pid)
{
	struct unwtab t = { 0 };
	char err[160];

	if (f->table_tried)
		return;
	f->table_tried = true;
	/* The same build in another place (a container's copy): its rows.
	 * Interned, equal build ids are one pointer: the key. */
	const char *id = f->build_id[0] ? strtab_intern(&r->labels.strings, f->build_id) : NULL;
	uint64_t id_key = id ? u64map_key_of(id) : 0;
	const struct nfile *twin = id_key ? u64map_get_ptr(&r->native.by_build_id, id_key) : NULL;

	if (twin) {
		f->table_first = twin->table_first;
		f->table_count = twin->table_count;
		return;
	}
	int fd = nfile_open(f, pid);

	if (fd < 0)
		return;
	int e = unwtab_build_fd(fd, &t, err, sizeof(err));

	close(fd);
	if (e == 0 && t.n && t.n <= r->native.rows_cap - r->native.rows_used) {
		if (load_rows(r, &t, r->native.rows_used) == 0) {
			f->table_first = r->native.rows_used;
			f->table_count = (uint32_t)t.n;
			r->native.rows_used += (uint32_t)t.n;
			r->native.tables++;
			if (id_key && !twin)
				u64map_put_ptr(&r->native.by_build_id, id_key, f);
		}
	} else if (e == 0 && t.n) {
		r->native.no_room++;
	}
	unwtab_free(&t);
}

/* Hands the kernel p's mappings as they are now. */
static int push_proc(struct session *r, struct session_proc *p)
{
	struct native_proc *np = calloc(1, sizeof(*np));
	__u32 key = (__u32)p->target.pid;

	if (!np)
		return -ENOMEM;
	for (size_t i = 0; i < p->nproc.n && np->n < PYPERF_NATIVE_MAPPINGS; i++) {
		const struct nmapping *m = &p->nproc.maps[i];

		ensure_table(r, m->file, p->target.pid);
		np->m[np->n++] = (struct native_mapping){
			.start = m->start, .end = m->end, .bias = m->bias,
			.row_first = m->file->table_count ? (uint32_t)m->file->table_first : 0,
			.row_count = m->file->table_count,
		};
	}
	np->generation = ++p->native_generation;
	int err = bpf_map_update_elem(bpf_map__fd(r->skel->maps.native_procs), &key, np, BPF_ANY) ? -errno : 0;

	free(np);
	return err;
}

int native_add_process(struct session *r, struct session_proc *p)
{
	if (!r->cfg.native)
		return 0;
	int err = nproc_load(r->native.files, p->target.pid, &p->nproc);

	if (err == 0)
		err = push_proc(r, p);
	/* A process gone already (a short-lived child) still has its Python
	 * samples: its native frames end marked. Only the first one says so. */
	if (err && p->target.pid == r->target.pid)
		session_err(r, "warning: --native: cannot read the mappings of PID %d (%s): its native frames "
			    "will show as [unknown native]\n", (int)p->target.pid, strerror(-err));
	p->native_reload_ns = monotonic_ns() + RELOAD_NS;
	return 0;
}

void native_forget(struct session *r, struct session_proc *p)
{
	__u32 key = (__u32)p->target.pid;

	if (!r->cfg.native)
		return;
	if (r->skel)
		bpf_map_delete_elem(bpf_map__fd(r->skel->maps.native_procs), &key);
	nproc_free(&p->nproc);
}

/* Processes whose stacks ran into code in no known mapping read their
 * mappings again (a module loaded since), at most every RELOAD_NS. */
void native_tick(struct session *r)
{
	uint64_t now = monotonic_ns();
	void *v;

	if (!r->cfg.native)
		return;
	for (size_t it = 0; u64map_next_ptr(&r->procs, &it, NULL, &v);) {
		struct session_proc *p = v;

		if (!p->native_stale || now < p->native_reload_ns)
			continue;
		p->native_stale = false;
		p->native_reload_ns = now + RELOAD_NS;
		struct nproc fresh = { 0 };

		if (nproc_load(r->native.files, p->target.pid, &fresh) != 0)
			continue;
		nproc_free(&p->nproc);
		p->nproc = fresh;
		push_proc(r, p);
	}
}

static const char *stop_label(struct session *r)
{
	return frametab_pseudo(&r->labels, "[unknown native]");
}

/*
 * The labels of a stack with native frames, root first, into out (room
 * for PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE + 2). frames: the record's
 * Python frames (n) then native values (nnat). *stop: the kind a native
 * stack ended early with, 0 if it did not. Returns how many.
 */
size_t native_stack_labels(struct session *r, struct session_proc *p, const uint64_t *frames, uint32_t n,
			   uint32_t nnat, uint32_t flags, const char **out, uint32_t *stop)
{
	enum { CAP = PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE };
	struct merge_item *items = r->native.items;
	const char **nat = r->native.names;
	bool *eval = r->native.eval;
	const uint64_t *nv = frames + n;
	size_t nn = 0, nl = 0;
	bool user_seen = false;

	*stop = 0;
	for (uint32_t j = 0; j < nnat && j < PYPERF_MAX_NATIVE; j++) {
		uint64_t v = nv[j];

		if (PYPERF_NATIVE_IS_STOP(v)) {
			*stop = (uint32_t)v;
			break;
		}
		eval[nn] = false;
		if (v >= PYPERF_KERNEL_ADDR_MIN) {
			if (!r->native.ksyms)
				r->native.ksyms = ksyms_load();
			nat[nn] = ksym_label(r->native.ksyms, v, &r->labels);
		} else {
			nat[nn] = nproc_label(r->native.files, &p->nproc, PYPERF_NATIVE_PC(v), !user_seen, &r->labels,
					      &eval[nn]);
			/* the kernel saw an entry frame in its stack frame: a loop
			 * whatever its symbol says (stripped builds have none) */
			eval[nn] |= (v & PYPERF_NATIVE_EVAL) != 0;
			user_seen = true;
		}
		nn++;
	}
	if (*stop == NSTOP_NO_MAPPING) {
		p->native_stale = true;
		/* the pc in no mapping says no more than the stop's mark */
		if (nn && nat[nn - 1] == frametab_pseudo(&r->labels, "[unknown native]"))
			nn--;
	}
	size_t ni = native_merge_order(frames, n, eval, nn, *stop != 0, items, CAP + 1);
	const char *unknown = stop_label(r);

	for (size_t i = 0; i < ni && nl < CAP + 1; i++) {
		const char *l = NULL;

		if (items[i].kind == MERGE_PY && items[i].index < n) {
			l = symbolizer_frame(p->sym, frames[items[i].index]);
			if (l)
				out[nl++] = l;
			/* the collector runs below the innermost Python frame */
			if (items[i].index == 0 && (flags & STACK_GC) && nl < CAP + 1)
				l = frametab_pseudo(&r->labels, "[gc]");
			else
				l = NULL;
		} else if (items[i].kind == MERGE_NATIVE && items[i].index < nn) {
			l = nat[items[i].index];
		} else if (items[i].kind == MERGE_STOP) {
			l = stop_label(r);
		}
		/* pcs userspace cannot name (mappings of a process gone before
		 * they were read) run together as one mark */
		if (l && !(l == unknown && nl && out[nl - 1] == unknown))
			out[nl++] = l;
	}
	/* Stopped before any frame (a pc in no mapping yet, say): the merge
	 * shows the Python frames alone; the mark says the native part is
	 * unknown, as the summary counts it. */
	if (!nn && *stop && nl < CAP + 1 && !(nl && out[nl - 1] == unknown))
		out[nl++] = unknown;
	return nl;
}

void session_native_stats(const struct session *r, struct native_stats *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->stops, r->native.stops, sizeof(out->stops));
	out->tables = r->native.tables;
	out->no_room = r->native.no_room;
	out->table_bytes = (uint64_t)r->native.rows_used * sizeof(struct unwind_row);
}
