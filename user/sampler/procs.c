/*
 * The sampled processes: adding one (its symbolizer, labels and kernel
 * entry), retiring an image that exec'd, forgetting one that ended.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyperf.skel.h"
#include "sampler/session_impl.h"
#include "target/memsrc.h"

/*
 * Container id from /proc/PID/cgroup: the 64-hex-digit id that docker,
 * containerd, CRI-O and podman put in the cgroup path
 * (.../docker-<id>.scope, /docker/<id>, cri-containerd-<id>, crio-<id>,
 * libpod-<id>). "" for a process outside containers.
 */
static void proc_container_id(pid_t pid, char *out, size_t len)
{
	char path[64], line[1024];
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (!out[0] && fgets(line, sizeof(line), f)) {
		size_t run = 0;

		for (char *c = line; *c; c++) {
			bool hex = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f');

			run = hex ? run + 1 : 0;
			if (run == 64 && !((c[1] >= '0' && c[1] <= '9') || (c[1] >= 'a' && c[1] <= 'f'))) {
				snprintf(out, len, "%.64s", c - 63);
				break;
			}
		}
	}
	fclose(f);
}

/* Where the main interpreter's gc.collecting lies (0: unknown). The
 * interpreter list's head is the main interpreter unless subinterpreters
 * were made after it: then no [gc] marks rather than wrong ones. */
static uint64_t gc_collecting_addr(const struct py_target *t)
{
	const struct py_layout *L = &t->layout;
	struct memsrc m = memsrc_pid(t->pid);
	uint64_t interp = 0, next = 1;

	if (L->gc_collecting == PY_OFF_NONE || !L->gc_collecting)
		return 0;
	if (L->flags & PYL_GC_IN_RUNTIME)
		return t->runtime_addr + L->gc_collecting;
	if (L->runtime_interpreters_head == PY_OFF_NONE || L->interp_next == PY_OFF_NONE ||
	    memsrc_read_u64(&m, t->runtime_addr + L->runtime_interpreters_head, &interp) || !interp ||
	    memsrc_read_u64(&m, interp + L->interp_next, &next) || next)
		return 0;
	return interp + L->gc_collecting;
}

static void free_proc(struct session_proc *p)
{
	symbolizer_free(p->sym);
	nproc_free(&p->nproc);
	async_forget(p);
	free(p->pynames);
	free(p);
}

struct py_proc procs_kernel_entry(const struct session_proc *p, uint64_t generation)
{
	return (struct py_proc){
		.runtime_addr = p->target.runtime_addr,
		.start_time = p->target.start_time,
		.layout = p->target.layout,
		.gil_lo = p->gil_lo,
		.gil_hi = p->gil_hi,
		.gc_collecting_addr = p->gc_addr,
		.stack_seed = generation,
	};
}

int session_add_process(struct session *r, const struct py_target *t)
{
	char cmdline[160], container[80];
	__u32 key = (__u32)t->pid;
	struct session_proc *p = calloc(1, sizeof(*p));
	char root[64];

	if (!p) {
		session_err(r, "out of memory\n");
		return -1;
	}
	p->target = *t;
	p->generation = ++r->generations;
	p->image = p->generation;
	offcpu_gil_range(t, &p->gil_lo, &p->gil_hi);
	p->gc_addr = gc_collecting_addr(t);

	struct py_proc bp = procs_kernel_entry(p, p->generation);

	proc_cmdline(t->pid, cmdline, sizeof(cmdline));
	proc_container_id(t->pid, container, sizeof(container));
	p->cmdline = strtab_intern(&r->labels.strings, cmdline);
	p->container = strtab_intern(&r->labels.strings, container);
	p->sym = symbolizer_new(&p->target, &r->labels);
	snprintf(root, sizeof(root), "process %d", (int)t->pid);
	p->root = frametab_pseudo(&r->labels, root);
	if (!p->sym || !p->root || !p->cmdline || !p->container ||
	    u64map_put_ptr(&r->procs, key, p)) {
		free_proc(p);
		session_err(r, "out of memory\n");
		return -1;
	}
	symbolizer_set_lines(p->sym, !r->cfg.no_lines);
	revalidate_arm(r);
	if (async_add_process(r, p))
		return -1;
	/* Native mappings first: a sample the kernel takes as soon as the
	 * process is in procs must find them (tables take a while). */
	if (native_add_process(r, p))
		return -1;
	if (bpf_map_update_elem(bpf_map__fd(r->skel->maps.procs), &key, &bp, BPF_ANY)) {
		session_err(r, "failed to register PID %d with the sampler: %s\n", (int)key, strerror(errno));
		return -1;
	}
	/* Its timers once the kernel knows it: their first samples find it. */
	if (sampler_follow(r, t->pid))
		return -1;
	remote_sync(r);
	if (r->cfg.mode != MODE_CPU)
		offcpu_seed_blocked(r, t, p->gil_lo, p->gil_hi);
	return 0;
}

int session_attach(struct session *r)
{
	return session_add_process(r, &r->target);
}

/* Moves an exec'd process's image out of the way of its new one; its
 * stacks stay counted under it, its symbolizer's figures in the summary. */
void procs_retire(struct session *r, uint32_t pid)
{
	struct session_proc *p = procs_find(r, pid);

	if (p && u64map_put_ptr(&r->retired, p->image, p) == 0) {
		native_forget(r, p);
		u64map_del(&r->procs, pid);
		u64map_del(&r->tried, pid);
		u64map_del(&r->tried_next, pid);
	}
}

/* Stops sampling a process that ended; its counts stay until the next reset. */
void procs_forget(struct session *r, uint32_t pid)
{
	struct session_proc *p = procs_find(r, pid);
	__u32 key = pid;

	if (!p)
		return;
	bpf_map_delete_elem(bpf_map__fd(r->skel->maps.procs), &key);
	native_forget(r, p);
	u64map_put(&r->dead, p->generation, 1);
	u64map_del(&r->procs, pid);
	free_proc(p);
}

void session_symbolizer_stats(const struct session *r, struct symbolizer_stats *sum)
{
	void *v;

	memset(sum, 0, sizeof(*sum));
	for (size_t it = 0; u64map_next_ptr(&r->procs, &it, NULL, &v);) {
		const struct session_proc *p = v;
		struct symbolizer_stats one;

		symbolizer_stats(p->sym, &one);
		sum->code_objects += one.code_objects;
		sum->unreadable += one.unreadable;
		sum->cache_flushes += one.cache_flushes;
	}
}

void procs_free(struct session *r)
{
	void *v;

	for (size_t it = 0; u64map_next_ptr(&r->procs, &it, NULL, &v);)
		free_proc(v);
	u64map_free(&r->procs);
	u64map_free(&r->tried);
	u64map_free(&r->tried_next);
	for (size_t it = 0; u64map_next_ptr(&r->retired, &it, NULL, &v);)
		free_proc(v);
	u64map_free(&r->retired);
}
