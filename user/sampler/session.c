/*
 * The sampling session behind record and top: loads the BPF sampler, opens
 * a cpu-clock perf event per CPU, registers the target, and turns ring
 * buffer records into symbolized, counted stacks.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "target/memsrc.h"
#include "pyperf.skel.h"
#include "python/pywalk.h"
#include "sampler/session_impl.h"
#include "python/symbolize.h"

volatile sig_atomic_t session_stop_signal;

/* Code objects are checked again every 100 ms in a process that loaded a
 * new one in the last 5 s (it compiles code: reuse is likely; not with -a),
 * else every 10 s; REVALIDATE_CODES a look. A look costs ~0.65 us per piece read
 * (header, name, filename: 3 per code object), ~0.2 ms for 100 code
 * objects: every second for 50 processes would be half of -a's budget. */
#define REVALIDATE_EVERY_NS 100000000ull
#define REVALIDATE_QUIET_NS 10000000000ull
#define REVALIDATE_CHURN_NS 5000000000ull
#define REVALIDATE_CODES 512
/* Renewals rebuild a process's stacks (the old ones stay until a reset):
 * a burst of RENEW_BURST, then one per RENEW_REFILL_NS, so code churning
 * for hours cannot grow memory without bound. */
#define RENEW_BURST 8
#define RENEW_REFILL_NS 5000000000ull

/* One-line error prefixed with the command's name. */
__attribute__((format(printf, 2, 3)))
static void serr(const struct session *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", r->cfg.who ? r->cfg.who : "pyperf");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns() too. */
static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double session_now(void)
{
	return (double)monotonic_ns() / 1e9;
}

static void on_signal(int sig)
{
	session_stop_signal = sig;
}

void session_install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	session_stop_signal = 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level; (void)fmt; (void)ap;
	return 0;
}

static int libbpf_verbose(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

/* Symbolizes a stack's frames (leaf first, as the kernel sends them). */
static struct stack_entry *resolve_stack(struct session *r, struct session_proc *proc, const uint64_t *frames,
					 uint32_t n, uint32_t flags)
{
	size_t nl = 0;
	const char *flag_label = pywalk_stack_flag_label(flags);

	if (n > PYPERF_MAX_FRAMES)
		return NULL;
	if (flag_label)
		r->label_buf[nl++] = frametab_pseudo(&r->labels, flag_label);
	/* Profiles want the root first. */
	for (uint32_t i = n; i-- > 0;) {
		const char *l = symbolizer_frame(proc->sym, frames[i]);

		if (l)
			r->label_buf[nl++] = l;
	}
	struct stack_entry *e = malloc(sizeof(*e) + nl * sizeof(e->labels[0]));

	if (!e)
		return NULL;
	e->generation = proc->generation;
	e->flags = flags & ~SAMPLE_HAS_FRAMES;
	e->nlabels = (uint32_t)nl;
	for (size_t i = 0; i < nl; i++)
		e->labels[i] = r->label_buf[i];
	return e;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t k = a ^ (b * 0x9e3779b97f4a7c15ull);

	return k ^ (k >> 31);
}

static struct session_proc *find_proc(struct session *r, uint32_t pid)
{
	uint64_t *slot = u64map_get(&r->procs, pid);

	return slot ? (struct session_proc *)(uintptr_t)*slot : NULL;
}

/* Stack ids are per process image: after an exec the same pid is a new
 * session_proc with a new generation, so old stacks are not reused. */
static uint64_t stack_key(const struct session_proc *proc, uint64_t stack_id)
{
	return mix(mix(stack_id, proc->target.pid), proc->generation);
}

static struct stack_entry *known_stack(struct session *r, uint64_t skey)
{
	uint64_t *slot = u64map_get(&r->stacks, skey);

	return slot ? (struct stack_entry *)(uintptr_t)*slot : NULL;
}

/* Enters a stack the kernel (or seed_blocked) sent with its frames; a
 * second definition of a known id is ignored. NULL if out of memory. */
static struct stack_entry *define_stack(struct session *r, struct session_proc *proc, uint64_t stack_id,
					const uint64_t *frames, uint32_t n, uint32_t flags)
{
	uint64_t skey = stack_key(proc, stack_id);
	struct stack_entry *st = known_stack(r, skey);

	if (st)
		return st;
	st = resolve_stack(r, proc, frames, n, flags);
	if (!st || u64map_put(&r->stacks, skey, (uint64_t)(uintptr_t)st)) {
		free(st);
		return NULL;
	}
	return st;
}

/* The interned origin of samples from one thread of one process image. */
static const struct sample_origin *origin_of(struct session *r, struct session_proc *proc, uint32_t tid)
{
	uint64_t key = mix(proc->image, tid);
	uint64_t *slot = u64map_get(&r->origins, key);

	if (slot)
		return (const struct sample_origin *)(uintptr_t)*slot;
	struct sample_origin *o = calloc(1, sizeof(*o));
	char name[64] = "";

	if (!o)
		return NULL;
	proc_thread_name(proc->target.pid, (pid_t)tid, name, sizeof(name));
	o->pid = (uint32_t)proc->target.pid;
	o->tid = tid;
	o->comm = strtab_intern(&r->labels.strings, proc->target.comm);
	o->cmdline = proc->cmdline;
	o->thread = strtab_intern(&r->labels.strings, name);
	o->container = proc->container;
	if (!o->comm || !o->thread || u64map_put(&r->origins, key, (uint64_t)(uintptr_t)o)) {
		free(o);
		return NULL;
	}
	return o;
}

/* The stack with a leaf pseudo-frame naming why the thread waited. */
static struct stack_entry *with_wait_leaf(struct session *r, const struct stack_entry *base, uint32_t reason,
					  uint64_t *skey)
{
	static const char *const names[] = { NULL, "[sleep]", "[lock]", "[io]", "[poll]", "[runnable]", "[gil]" };

	if (reason >= sizeof(names) / sizeof(names[0]))
		return (struct stack_entry *)base;
	*skey = mix(*skey, 0x5a17000000000000ull + reason);
	uint64_t *slot = u64map_get(&r->stacks, *skey);

	if (slot)
		return (struct stack_entry *)(uintptr_t)*slot;
	const char *leaf = frametab_pseudo(&r->labels, names[reason]);
	struct stack_entry *e = malloc(sizeof(*e) + (base->nlabels + 1) * sizeof(e->labels[0]));

	if (!leaf || !e) {
		free(e);
		return NULL;
	}
	e->generation = base->generation;
	e->flags = base->flags;
	e->nlabels = base->nlabels + 1;
	memcpy(e->labels, base->labels, base->nlabels * sizeof(e->labels[0]));
	e->labels[base->nlabels] = leaf;
	if (u64map_put(&r->stacks, *skey, (uint64_t)(uintptr_t)e)) {
		free(e);
		return NULL;
	}
	return e;
}

static void note_exec(struct session *r, const struct exec_event *e);

/* Clears the kernel's record that stack_id's frames were sent. */
static void forget_sent(struct session *r, uint64_t stack_id)
{
	int fd = bpf_map__fd(r->skel->maps.sent_stacks);
	__u32 slot = (__u32)stack_id & (bpf_map__max_entries(r->skel->maps.sent_stacks) - 1);
	__u64 id = 0, zero = 0;

	if (bpf_map_lookup_elem(fd, &slot, &id) == 0 && id == stack_id)
		bpf_map_update_elem(fd, &slot, &zero, BPF_ANY);
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct session *r = ctx;
	const struct sample_event *ev = data;

	if (size < sizeof(*ev))
		return 0;
	if (ev->kind == EVENT_EXEC) {
		if (size >= sizeof(struct exec_event))
			note_exec(r, data);
		return 0;
	}
	if (ev->kind != EVENT_CPU && ev->kind != EVENT_OFFCPU && ev->kind != EVENT_STACK)
		return 0;
	if (r->cfg.gil_wait && ev->kind == EVENT_OFFCPU && ev->reason != WAIT_GIL) {
		r->not_gil_wait++;
		return 0;
	}
	const uint64_t *frames = NULL;

	if (ev->flags & SAMPLE_HAS_FRAMES) {
		if (ev->nframes > PYPERF_MAX_FRAMES || size < sizeof(*ev) + ev->nframes * sizeof(uint64_t))
			return 0;
		frames = (const uint64_t *)(ev + 1);
	}
	if (ev->kind != EVENT_STACK)
		r->samples++;
	struct session_proc *proc = find_proc(r, ev->pid);

	if (!proc && r->cfg.subprocesses) {
		/* A fork the kernel already follows: set it up now, not at the next scan. */
		struct py_target t;
		char err[256];

		if (py_target_open((pid_t)ev->pid, &t, err, sizeof(err)) == 0 && session_add_process(r, &t) == 0)
			proc = find_proc(r, ev->pid);
	}
	if (!proc) {
		if (ev->kind != EVENT_STACK)
			r->unresolved++;
		return 0;
	}
	uint64_t skey = stack_key(proc, ev->stack_id);
	struct stack_entry *st = known_stack(r, skey);

	if (!st && frames)
		st = define_stack(r, proc, ev->stack_id, frames, ev->nframes, ev->flags);
	if (!st && proc->prev_generation) {
		/* Sent under the seed before the last renewal (in flight then,
		 * or a thread blocked since): its stack as it was defined. */
		uint64_t pkey = mix(mix(ev->stack_id, proc->target.pid), proc->prev_generation);

		st = known_stack(r, pkey);
		if (st)
			skey = pkey;
	}
	if (ev->kind == EVENT_STACK)
		return 0;
	if (!st) {
		/* Its definition was lost: have the kernel send it again. */
		forget_sent(r, ev->stack_id);
		r->unresolved++;
		return 0;
	}
	if (ev->kind == EVENT_OFFCPU && ev->reason != WAIT_NONE && !r->cfg.no_wait_reason) {
		st = with_wait_leaf(r, st, ev->reason, &skey);
		if (!st) {
			r->unresolved++;
			return 0;
		}
	}
	bool per_thread = r->cfg.threads || r->cfg.per_thread;
	uint64_t key = per_thread ? mix(skey, ev->tid) : skey;
	uint64_t *cslot = u64map_get(&r->counts, key);
	struct count_entry *ce = cslot ? (struct count_entry *)(uintptr_t)*cslot : NULL;

	if (!ce) {
		ce = calloc(1, sizeof(*ce));
		if (!ce || u64map_put(&r->counts, key, (uint64_t)(uintptr_t)ce)) {
			free(ce);
			r->unresolved++;
			return 0;
		}
		ce->stack = st;
		ce->root = proc->root;
		ce->tid = ev->tid;
		if (per_thread)
			ce->origin = origin_of(r, proc, ev->tid);
	}
	if (ev->kind == EVENT_CPU) {
		ce->count++;
		if (!st->nlabels)
			r->hidden++; /* only 3.11+ prologue frames: nothing to show */
		if (r->cfg.mode == MODE_WALL && r->cfg.hz > 0)
			ce->weight_ns += 1000000000ull / (uint64_t)r->cfg.hz;
	} else {
		ce->weight_ns += ev->weight_ns;
	}
	if (r->on_sample)
		r->on_sample(r->on_sample_ctx, ce);
	if (r->cfg.threads && !u64map_get(&r->thread_roots, ev->tid)) {
		/* Named at first sight, while the thread still exists. */
		char name[64] = "", label[128];

		proc_thread_name((pid_t)ev->pid, (pid_t)ev->tid, name, sizeof(name));
		snprintf(label, sizeof(label), "thread %s (%u)", name[0] ? name : "?", ev->tid);
		const char *l = frametab_pseudo(&r->labels, label);

		if (l)
			u64map_put(&r->thread_roots, ev->tid, (uint64_t)(uintptr_t)l);
	}
	return 0;
}

static void close_perf_events(struct session *r)
{
	for (int i = 0; r->links && i < r->ncpus; i++)
		bpf_link__destroy(r->links[i]);
	for (int i = 0; r->perf_fds && i < r->ncpus; i++)
		if (r->perf_fds[i] >= 0)
			close(r->perf_fds[i]);
	free(r->links);
	free(r->perf_fds);
	r->links = NULL;
	r->perf_fds = NULL;
}

static int open_perf_events(struct session *r)
{
	r->ncpus = libbpf_num_possible_cpus();
	if (r->ncpus <= 0) {
		serr(r, "failed to count CPUs: %s\n", strerror(-r->ncpus));
		return -1;
	}
	r->perf_fds = calloc((size_t)r->ncpus, sizeof(int));
	r->links = calloc((size_t)r->ncpus, sizeof(*r->links));
	if (!r->perf_fds || !r->links) {
		serr(r, "out of memory\n");
		return -1;
	}
	for (int cpu = 0; cpu < r->ncpus; cpu++)
		r->perf_fds[cpu] = -1; /* so a failure part way closes only what opened */
	int opened = 0;

	for (int cpu = 0; cpu < r->ncpus; cpu++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.size = sizeof(attr),
			.freq = 1,
			.sample_freq = (uint64_t)r->cfg.hz,
		};
		int fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0) {
			if (errno == ENODEV)
				continue; /* offline CPU */
			int e = errno;

			if (e == EINVAL)
				serr(r, "failed to open the cpu-clock event at %d Hz: %s "
					"(is it above /proc/sys/kernel/perf_event_max_sample_rate?)\n",
					r->cfg.hz, strerror(e));
			else if (e == EACCES || e == EPERM)
				serr(r, "not allowed to open perf events: run as root "
					"or grant CAP_PERFMON\n");
			else
				serr(r, "failed to open the cpu-clock event on CPU %d: %s\n",
					cpu, strerror(e));
			return -1;
		}
		r->perf_fds[cpu] = fd;
		r->links[cpu] = bpf_program__attach_perf_event(r->skel->progs.pyperf_sample, fd);
		if (!r->links[cpu]) {
			int e = errno;

			serr(r, "failed to attach the sampler to CPU %d: %s\n", cpu,
				strerror(e));
			return -1;
		}
		opened++;
	}
	if (!opened) {
		serr(r, "no CPU accepted a cpu-clock event\n");
		return -1;
	}
	return 0;
}

static int load_bpf(struct session *r)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		serr(r, "this kernel has no BTF (/sys/kernel/btf/vmlinux): "
			"use a kernel built with CONFIG_DEBUG_INFO_BTF=y\n");
		return -1;
	}
	libbpf_set_print(r->cfg.verbose ? libbpf_verbose : libbpf_quiet);
	r->skel = pyperf__open();
	if (!r->skel) {
		serr(r, "failed to open the BPF program: %s\n", strerror(errno));
		return -1;
	}
	r->skel->rodata->follow_forks = r->cfg.subprocesses;
	r->skel->rodata->min_block_ns = r->cfg.min_block_ns;
	r->skel->rodata->with_wait_reason = !r->cfg.no_wait_reason || r->cfg.gil_wait;
	r->skel->rodata->gil_only = r->cfg.gil_only;
	r->skel->rodata->notify_exec = r->cfg.all;
	r->skel->rodata->track_runnable = r->cfg.mode == MODE_WALL;
	/* CPU mode pays nothing for off-CPU time: the switch program is not
	 * even loaded. */
	bpf_program__set_autoload(r->skel->progs.pyperf_switch, r->cfg.mode != MODE_CPU);
	int err = pyperf__load(r->skel);

	if (err) {
		/* As root, EACCES is the verifier refusing the program. */
		if (err == -EPERM || (err == -EACCES && geteuid() != 0))
			serr(r, "not allowed to load BPF programs: run as root "
				"or grant CAP_BPF and CAP_PERFMON\n");
		else if (err == -EACCES)
			serr(r, "this kernel's BPF verifier rejected the sampler program "
				"(run with -v for the verifier's log and report it)\n");
		else
			serr(r, "failed to load the BPF program: %s "
				"(kernel 5.17+ with BTF needed; run with -v for the verifier's log)\n",
				strerror(-err));
		return -1;
	}
	r->rb = ring_buffer__new(bpf_map__fd(r->skel->maps.events), handle_event, r, NULL);
	if (!r->rb) {
		serr(r, "failed to create the ring buffer reader: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}


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

static void free_proc(struct session_proc *p)
{
	symbolizer_free(p->sym);
	free(p);
}

/* The WAIT_* reason of a blocked thread, from /proc/PID/task/TID/syscall. */
static uint32_t proc_wait_reason(pid_t pid, pid_t tid, uint64_t gil_lo, uint64_t gil_hi)
{
	char path[96];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return WAIT_NONE;
	unsigned long long a0 = 1, a1 = 1;

	if (fscanf(f, "%ld %llx %llx", &nr, &a0, &a1) < 1)
		nr = -1;
	fclose(f);
	switch (nr) { /* x86_64 numbers, as in the BPF program */
	case 35: case 230:
		return WAIT_SLEEP;
	case 202:
		return a0 >= gil_lo && a0 < gil_hi ? WAIT_GIL : WAIT_LOCK;
	case 449:
		return WAIT_LOCK;
	case 0: case 1: case 17: case 18: case 19: case 20: case 42: case 43: case 44: case 45: case 46:
	case 47: case 288: case 299: case 307:
		return WAIT_IO;
	case 23: case 270: /* select, pselect6 with no descriptors: a sleep */
		return a0 == 0 ? WAIT_SLEEP : WAIT_POLL;
	case 7: case 271:
		return a1 == 0 ? WAIT_SLEEP : WAIT_POLL;
	case 232: case 281: case 441:
		return WAIT_POLL;
	}
	return WAIT_NONE;
}

/* 'S' or 'D' when the thread sleeps in the kernel. */
static bool task_blocked(pid_t pid, pid_t tid)
{
	char path[96], buf[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');

	return p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D');
}

/* The stack id the BPF walker gives these frames (same hash). */
static uint64_t bpf_stack_id(uint32_t tgid, uint64_t seed, const uint64_t *frames, uint32_t n, uint32_t flags)
{
	uint64_t h = (0xcbf29ce484222325ull ^ tgid ^ (seed << 32)) * 0x100000001b3ull;

	for (uint32_t i = 0; i < n; i++) {
		h = (h ^ frames[i]) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	return (h ^ ((uint64_t)flags << 56) ^ n) * 0x9e3779b97f4a7c15ull;
}

/*
 * Off-CPU modes: threads already blocked when sampling starts never switch
 * out while it runs, so the kernel would not see them until they wake (a
 * deadlocked thread: never). Their stacks are read here, from userspace,
 * and entered into the kernel's off-CPU map as blocked since now.
 */
static void seed_blocked(struct session *r, const struct py_target *t, uint64_t gil_lo, uint64_t gil_hi)
{
	const struct py_layout *L = &t->layout;
	struct memsrc m = memsrc_pid(t->pid);
	struct session_proc *proc = find_proc(r, (uint32_t)t->pid);
	struct pywalk_tstate *ts = calloc(PYPERF_MAX_THREADS, sizeof(*ts));
	int32_t *tids = calloc(PYPERF_MAX_THREADS, sizeof(*tids));
	uint64_t *ptids = calloc(PYPERF_MAX_THREADS, sizeof(*ptids));
	uint64_t *fr = calloc(PYPERF_MAX_FRAMES, sizeof(*fr));
	size_t ntids = 0;
	uint32_t tflags;
	char path[64];
	DIR *d;
	struct dirent *de;

	if (!proc || !ts || !tids || !ptids || !fr)
		goto out;
	int n = pywalk_tstates(&m, L, t->runtime_addr, ts, PYPERF_MAX_THREADS, &tflags);

	if (n <= 0)
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	d = opendir(path);
	if (!d)
		goto out;
	while ((de = readdir(d)) != NULL && ntids < PYPERF_MAX_THREADS) {
		long v = strtol(de->d_name, NULL, 10);

		if (v > 0)
			tids[ntids++] = (int32_t)v;
	}
	closedir(d);
	int off = -1;

	if (!(L->flags & PYL_NATIVE_TID)) {
		for (int i = 0; i < n; i++)
			ptids[i] = ts[i].thread_id;
		off = pywalk_pthread_tid_offset(&m, ptids, (size_t)n, tids, ntids);
		if (off < 0)
			goto out;
	}
	uint64_t now = monotonic_ns();

	for (int i = 0; i < n; i++) {
		int32_t tid = 0;

		if (L->flags & PYL_NATIVE_TID)
			tid = ts[i].native_tid <= INT32_MAX ? (int32_t)ts[i].native_tid : 0;
		else if (memsrc_read(&m, ts[i].thread_id + (uint64_t)off, &tid, sizeof(tid)))
			tid = 0;
		if (tid <= 0 || !task_blocked(t->pid, tid))
			continue;
		uint32_t flags = 0;
		size_t nf = pywalk_frames(&m, L, ts[i].addr, fr, NULL, PYPERF_MAX_FRAMES, &flags);

		if (!nf || nf > PYPERF_MAX_FRAMES)
			continue;
		struct offcpu_start st = {
			.stack_id = bpf_stack_id((uint32_t)t->pid, proc->generation, fr, (uint32_t)nf, flags),
			.start_ns = now,
			.pid = (uint32_t)t->pid, .flags = flags, .nframes = (uint32_t)nf,
			.reason = r->cfg.no_wait_reason ? WAIT_NONE : proc_wait_reason(t->pid, tid, gil_lo, gil_hi),
		};
		__u32 key = (__u32)tid;

		if (!define_stack(r, proc, st.stack_id, fr, (uint32_t)nf, flags))
			continue;
		bpf_map_update_elem(bpf_map__fd(r->skel->maps.offcpu), &key, &st, BPF_NOEXIST);
	}
out:
	free(ts);
	free(tids);
	free(ptids);
	free(fr);
}

/*
 * Where the main interpreter's GIL state lies, so futex waits inside it
 * read as GIL waits. 3.12+: interp->ceval.gil (the main interpreter's own
 * _gil); 3.8-3.11: _PyRuntime.ceval.gil, the last member of ceval, which
 * ends just before gilstate (whose tstate_current follows an int): the
 * 256 bytes before gilstate hold it, and no other futex word.
 */
static void gil_range(const struct py_target *t, uint64_t *lo, uint64_t *hi)
{
	const struct py_layout *L = &t->layout;
	struct memsrc m = memsrc_pid(t->pid);
	uint64_t interp = 0, gil = 0;

	*lo = *hi = 0;
	if (L->interp_gil != PY_OFF_NONE) {
		if (L->runtime_interpreters_head != PY_OFF_NONE &&
		    memsrc_read_u64(&m, t->runtime_addr + L->runtime_interpreters_head, &interp) == 0 && interp &&
		    memsrc_read_u64(&m, interp + L->interp_gil, &gil) == 0 && gil) {
			*lo = gil;
			*hi = gil + 256;
		}
	} else if (L->runtime_gilstate_tstate_current != PY_OFF_NONE && L->runtime_gilstate_tstate_current >= 264) {
		*hi = t->runtime_addr + L->runtime_gilstate_tstate_current - 8;
		*lo = *hi - 256;
	}
}

/* A process's entry in the kernel's procs map, its generation the stack seed. */
static struct py_proc kernel_entry(const struct session_proc *p, uint64_t generation)
{
	return (struct py_proc){
		.runtime_addr = p->target.runtime_addr,
		.start_time = p->target.start_time,
		.layout = p->target.layout,
		.gil_lo = p->gil_lo,
		.gil_hi = p->gil_hi,
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
		serr(r, "out of memory\n");
		return -1;
	}
	p->target = *t;
	p->generation = ++r->generations;
	p->image = p->generation;
	gil_range(t, &p->gil_lo, &p->gil_hi);

	struct py_proc bp = kernel_entry(p, p->generation);

	proc_cmdline(t->pid, cmdline, sizeof(cmdline));
	proc_container_id(t->pid, container, sizeof(container));
	p->cmdline = strtab_intern(&r->labels.strings, cmdline);
	p->container = strtab_intern(&r->labels.strings, container);
	p->sym = symbolizer_new(&p->target, &r->labels);
	snprintf(root, sizeof(root), "process %d", (int)t->pid);
	p->root = frametab_pseudo(&r->labels, root);
	if (!p->sym || !p->root || !p->cmdline || !p->container ||
	    u64map_put(&r->procs, key, (uint64_t)(uintptr_t)p)) {
		free_proc(p);
		serr(r, "out of memory\n");
		return -1;
	}
	symbolizer_set_lines(p->sym, !r->cfg.no_lines);
	if (!r->next_revalidate_ns)
		r->next_revalidate_ns = monotonic_ns() + REVALIDATE_EVERY_NS;
	if (bpf_map_update_elem(bpf_map__fd(r->skel->maps.procs), &key, &bp, BPF_ANY)) {
		serr(r, "failed to register PID %d with the sampler: %s\n", (int)key, strerror(errno));
		return -1;
	}
	if (r->cfg.mode != MODE_CPU)
		seed_blocked(r, t, p->gil_lo, p->gil_hi);
	return 0;
}

int session_attach(struct session *r)
{
	return session_add_process(r, &r->target);
}

/* Parent PID from /proc/PID/stat, or -1. */
static pid_t parent_of(pid_t pid, uint64_t *start_time)
{
	char buf[1024];
	const char *p = proc_stat_fields(pid, 0, buf, sizeof(buf));
	int ppid;
	unsigned long long st = 0;

	/* from the state: state ppid ... starttime is the 20th field here */
	if (!p || sscanf(p, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			 &ppid, &st) != 2)
		return -1;
	*start_time = st;
	return ppid;
}
/* What identifies a process image: its start time and its executable. */
static uint64_t image_id(pid_t pid, uint64_t start_time)
{
	char path[64], exe[512];
	uint64_t h = start_time * 0x100000001b3ull;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(path, exe, sizeof(exe));

	for (ssize_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)exe[i]) * 0x100000001b3ull;
	return h | 1; /* never 0 */
}

/* Moves an exec'd process's image out of the way of its new one; its
 * stacks stay counted under it, its symbolizer's figures in the summary. */
static void retire_proc(struct session *r, uint32_t pid)
{
	struct session_proc *p = find_proc(r, pid);

	if (p && u64map_put(&r->retired, (uint64_t)(uintptr_t)p, 1) == 0) {
		u64map_del(&r->procs, pid);
		u64map_del(&r->tried, pid);
	}
}

/* A process whose kernel entry is gone exec'd: retire it, so the scan
 * below looks at its new image. */
static void retire_execed(struct session *r)
{
	int fd = bpf_map__fd(r->skel->maps.procs);
	uint32_t gone[64];
	size_t n = 0;

	for (size_t i = 0; i < r->procs.cap && n < sizeof(gone) / sizeof(gone[0]); i++) {
		struct py_proc bp;
		__u32 key;

		if (!r->procs.used[i])
			continue;
		key = (__u32)r->procs.keys[i];
		if (bpf_map_lookup_elem(fd, &key, &bp) != 0)
			gone[n++] = key;
	}
	/* Not while iterating: deleting moves entries of the open-addressed map. */
	for (size_t i = 0; i < n; i++)
		retire_proc(r, gone[i]);
}

/*
 * Samples pid if it runs an initialized CPython; remembers an image (id:
 * start time and executable) found not to be Python so it is not opened
 * again. A not-yet-initialized interpreter is looked at again next time.
 */
static void try_add(struct session *r, pid_t pid, uint64_t id)
{
	uint64_t *tried = u64map_get(&r->tried, (uint64_t)pid);
	struct py_target t;
	char err[256];

	if (tried && *tried == id)
		return;
	int rc = py_target_open(pid, &t, err, sizeof(err));

	if (rc == 0)
		session_add_process(r, &t);
	else if (rc != -PYPROC_ENOTREADY)
		u64map_put(&r->tried, (uint64_t)pid, id);
}

void session_scan_children(struct session *r)
{
	DIR *d;
	struct dirent *de;

	retire_execed(r);
	d = opendir("/proc");
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		uint64_t st = 0; /* parent_of leaves it unset on failure */

		if (*end || v <= 0 || find_proc(r, (uint32_t)v))
			continue;
		/* Is it a descendant of a sampled process? Walk up a bounded chain. */
		pid_t pid = (pid_t)v, up = parent_of(pid, &st);
		uint64_t start = st;
		bool ours = false;

		for (int depth = 0; up > 1 && depth < 64 && !ours; depth++) {
			ours = find_proc(r, (uint32_t)up) != NULL;
			up = parent_of(up, &st);
		}
		if (!ours)
			continue;
		try_add(r, pid, image_id(pid, start));
	}
	closedir(d);
}

/*
 * Launch mode: fork the command, holding it before exec on a pipe until
 * sampling runs; returns the write end that releases it, or -1.
 */
static int spawn_held(struct session *r)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC)) {
		serr(r, "failed to create a pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	r->child = fork();
	if (r->child < 0) {
		serr(r, "failed to fork: %s\n", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (r->child == 0) {
		char go;

		close(fds[1]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (read(fds[0], &go, 1) != 1)
			_exit(127); /* pyperf gave up before starting it */
		execvp(r->cfg.command[0], r->cfg.command);
		serr(r, "failed to run %s: %s\n", r->cfg.command[0], strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	return fds[1];
}

/* Exit status of the launched command, shell style. */
int session_child_status(struct session *r, bool wait)
{
	int status;
	pid_t got;

	if (r->child <= 0)
		return -1;
	bool forwarded = false;

	for (;;) {
		got = waitpid(r->child, &status, wait ? 0 : WNOHANG);
		if (got >= 0 || errno != EINTR)
			break;
		/* Interrupted while waiting for the command to end: pass the
		 * signal on once (a terminal's Ctrl-C reached it already). */
		if (session_stop_signal && !forwarded) {
			kill(r->child, session_stop_signal);
			forwarded = true;
		}
	}
	if (got != r->child)
		return -1;
	r->child = -r->child; /* reaped */
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/*
 * Waits until the launched process runs an initialized CPython (it may exec
 * through wrappers first). Returns 0, 1 when the command ended first (its
 * status in *status), or -1 on an error worth stopping for.
 */
static int wait_for_interpreter(struct session *r, int *status)
{
	char err[512];
	pid_t pid = r->child;

	for (;;) {
		int rc = py_target_open(pid, &r->target, err, sizeof(err));

		if (rc == 0)
			return 0;
		if (rc != -PYPROC_ENOTPY && rc != -PYPROC_ENOTREADY && rc != -PYPROC_ENOPROC) {
			serr(r, "%s\n", err);
			return -1;
		}
		*status = session_child_status(r, false);
		if (*status >= 0)
			return 1;
		if (session_stop_signal)
			return -1;
		struct timespec ts = { 0, 1000000 }; /* 1 ms: startup to user code takes longer */

		nanosleep(&ts, NULL);
	}
}

void session_counters(struct session *r, uint64_t out[CNT__MAX])
{
	int fd = bpf_map__fd(r->skel->maps.counters);
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals = calloc(ncpu > 0 ? (size_t)ncpu : 1, sizeof(uint64_t));

	memset(out, 0, CNT__MAX * sizeof(*out));
	if (!vals)
		return;
	for (__u32 k = 0; k < CNT__MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals) != 0)
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	free(vals);
}


void session_free(struct session *r)
{
	if (!r)
		return;
	bpf_link__destroy(r->switch_link);
	bpf_link__destroy(r->exec_link);
	bpf_link__destroy(r->fork_link);
	close_perf_events(r);
	if (r->stats_fd >= 0)
		close(r->stats_fd);
	ring_buffer__free(r->rb);
	pyperf__destroy(r->skel);
	for (size_t i = 0; i < r->stacks.cap; i++)
		if (r->stacks.used[i])
			free((void *)(uintptr_t)r->stacks.vals[i]);
	u64map_free(&r->stacks);
	session_reset_counts(r);
	u64map_free(&r->counts);
	u64map_free(&r->origins);
	u64map_free(&r->dead);
	u64map_free(&r->thread_roots);
	for (size_t i = 0; i < r->procs.cap; i++)
		if (r->procs.used[i])
			free_proc((struct session_proc *)(uintptr_t)r->procs.vals[i]);
	u64map_free(&r->procs);
	u64map_free(&r->tried);
	for (size_t i = 0; i < r->retired.cap; i++)
		if (r->retired.used[i])
			free_proc((struct session_proc *)(uintptr_t)r->retired.keys[i]);
	u64map_free(&r->retired);
	frametab_free(&r->labels);
	free(r->label_buf);
	free(r);
}


struct session *session_new(const struct session_config *cfg)
{
	struct session *r = calloc(1, sizeof(*r));

	if (!r) {
		fprintf(stderr, "%s: out of memory\n", cfg->who ? cfg->who : "pyperf");
		return NULL;
	}
	r->cfg = *cfg;
	r->stats_fd = -1;
	frametab_init(&r->labels);
	u64map_init(&r->stacks);
	u64map_init(&r->counts);
	u64map_init(&r->thread_roots);
	u64map_init(&r->procs);
	u64map_init(&r->tried);
	u64map_init(&r->retired);
	u64map_init(&r->origins);
	u64map_init(&r->dead);
	/* frames + a flag frame + process and thread roots */
	r->label_buf = malloc((PYPERF_MAX_FRAMES + 3) * sizeof(*r->label_buf));
	if (!r->label_buf) {
		serr(r, "out of memory\n");
		session_free(r);
		return NULL;
	}
	return r;
}

int session_open_target(struct session *r, pid_t pid, char *err, size_t errlen)
{
	return py_target_open(pid, &r->target, err, errlen);
}

const struct py_target *session_target(const struct session *r)
{
	return &r->target;
}

struct frametab *session_labels(struct session *r)
{
	return &r->labels;
}

int session_hz(const struct session *r)
{
	return r->cfg.hz;
}

size_t session_nprocs(const struct session *r)
{
	return r->procs.len;
}

struct session_totals session_totals(const struct session *r)
{
	return (struct session_totals){
		.samples = r->samples, .unresolved = r->unresolved, .hidden = r->hidden,
		.not_gil_wait = r->not_gil_wait,
	};
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

bool session_child_running(const struct session *r)
{
	return r->child > 0;
}

void session_on_sample(struct session *r, session_sample_fn *fn, void *ctx)
{
	r->on_sample = fn;
	r->on_sample_ctx = ctx;
}

int session_load(struct session *r)
{
	if (load_bpf(r))
		return -1;
	if (r->cfg.mode != MODE_OFFCPU && open_perf_events(r))
		return -1;
	if (r->cfg.mode != MODE_CPU) {
		r->switch_link = bpf_program__attach(r->skel->progs.pyperf_switch);
		if (!r->switch_link) {
			serr(r, "failed to attach to the sched_switch tracepoint: %s\n", strerror(errno));
			return -1;
		}
	}
	/* An exec makes a target's offsets wrong: the hook drops its entry
	 * at once (and with -a reports the exec). Forks matter only when
	 * children are followed. */
	r->exec_link = bpf_program__attach(r->skel->progs.pyperf_exec);
	if (!r->exec_link) {
		serr(r, "failed to attach to the sched_process_exec tracepoint: %s\n", strerror(errno));
		return -1;
	}
	if (r->cfg.subprocesses) {
		r->fork_link = bpf_program__attach(r->skel->progs.pyperf_fork);
		if (!r->fork_link) {
			serr(r, "failed to attach to the sched_process_fork tracepoint: %s\n", strerror(errno));
			return -1;
		}
	}
	/* Statistics cost a little on every run: only when asked (a budget). */
	if (r->cfg.measure_cost)
		r->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	return 0;
}

int session_launch(struct session *r, int *status)
{
	int go = spawn_held(r);

	*status = -1;
	if (go < 0)
		return -1;
	/* Sampling is armed: let the command exec. */
	if (write(go, "g", 1) != 1) {
		serr(r, "failed to start %s\n", r->cfg.command[0]);
		close(go);
		return -1;
	}
	close(go);
	return wait_for_interpreter(r, status);
}

/*
 * Code objects are known by address, and an address freed by one can be
 * reused by another (exec or compile in a loop): the symbolizer's cache
 * and the stacks already symbolized would lend the new one the old one's
 * name. Each process's cached code objects are checked again in small
 * slices (REVALIDATE_CODES every REVALIDATE_EVERY_NS: 64Ki code objects,
 * the cache's cap, in about 13 s; a usual few hundred at every look). When
 * one went stale, the symbolizer forgets it, and the process gets a new
 * generation, which is a new stack seed in the kernel: its stacks get new
 * ids, their frames are sent again and symbolized afresh. Counts already
 * taken keep the stacks of their time; those go at the next reset.
 */
static void renew_generation(struct session *r, struct session_proc *p)
{
	__u32 key = (__u32)p->target.pid;
	uint64_t gen = r->generations + 1;
	struct py_proc bp = kernel_entry(p, gen);

	if (u64map_put(&r->dead, p->generation, 1))
		return; /* out of memory: tried again at the next look */
	/* BPF_EXIST: an entry the exec hook just deleted stays deleted. */
	if (bpf_map_update_elem(bpf_map__fd(r->skel->maps.procs), &key, &bp, BPF_EXIST)) {
		u64map_del(&r->dead, p->generation);
		return;
	}
	r->generations = gen;
	p->prev_generation = p->generation;
	p->generation = gen;
	r->renewals++;
}

/* Takes one renewal token, if any is left. */
static bool renewal_allowed(struct session_proc *p, uint64_t now)
{
	uint64_t window = RENEW_BURST * RENEW_REFILL_NS;

	if (!p->renew_at_ns || now - p->renew_at_ns > window)
		p->renew_at_ns = now - window; /* a full bucket */
	if (now - p->renew_at_ns < RENEW_REFILL_NS)
		return false;
	p->renew_at_ns += RENEW_REFILL_NS;
	return true;
}

static void revalidate_codes(struct session *r)
{
	uint64_t now = monotonic_ns();

	for (size_t i = 0; i < r->procs.cap; i++) {
		if (!r->procs.used[i])
			continue;
		struct session_proc *p = (struct session_proc *)(uintptr_t)r->procs.vals[i];
		struct symbolizer_stats st;

		symbolizer_stats(p->sym, &st);
		if (st.code_objects != p->code_objects) {
			p->code_objects = st.code_objects;
			p->last_new_code_ns = now;
			if (!r->cfg.all && p->next_check_ns > now + REVALIDATE_EVERY_NS)
				p->next_check_ns = now + REVALIDATE_EVERY_NS;
		}
		if (now < p->next_check_ns)
			continue;
		/* -a keeps to the slow pace: over dozens of processes warming
		 * up the fast one costs about as much as the rest of -a. */
		bool churn = !r->cfg.all && now - p->last_new_code_ns < REVALIDATE_CHURN_NS;

		p->next_check_ns = now + (churn ? REVALIDATE_EVERY_NS : REVALIDATE_QUIET_NS);
		int dropped = symbolizer_revalidate(p->sym, REVALIDATE_CODES);

		/* A full cache starts over: stacks symbolized before may name
		 * code objects it no longer checks. */
		symbolizer_stats(p->sym, &st);
		if ((dropped > 0 || st.cache_flushes != p->cache_flushes) && renewal_allowed(p, now))
			renew_generation(r, p);
		p->cache_flushes = st.cache_flushes;
	}
}

int session_poll(struct session *r, int timeout_ms)
{
	/* The kernel side wakes us only when much is waiting, so the poll
	 * mostly times out: then take what arrived meanwhile. */
	int n = ring_buffer__poll(r->rb, timeout_ms);
	int m = ring_buffer__consume(r->rb);

	if (r->npending)
		session_pending_tick(r);
	if (r->procs.len && monotonic_ns() >= r->next_revalidate_ns) {
		revalidate_codes(r);
		r->next_revalidate_ns = monotonic_ns() + REVALIDATE_EVERY_NS;
	}

	if (n < 0)
		return n;
	return m < 0 ? m : n + m;
}

/* Threads still blocked when recording ends count up to now: a deadlocked
 * thread shows its whole wait, not nothing. */
static void flush_blocked(struct session *r)
{
	int fd = bpf_map__fd(r->skel->maps.offcpu);
	__u32 key, next;
	bool first = true;
	uint64_t now = monotonic_ns();

	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		struct offcpu_start st;

		first = false;
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &st) != 0)
			continue;
		struct sample_event ev = {
			.pid = st.pid, .tid = key, .stack_id = st.stack_id, .time_ns = now,
			.flags = st.flags, .nframes = st.nframes, .kind = EVENT_OFFCPU, .reason = st.reason,
		};
		uint64_t d = now > st.start_ns ? now - st.start_ns : 0;

		ev.weight_ns = d >= r->cfg.min_block_ns ? d : 0;
		handle_event(r, &ev, sizeof(ev));
	}
	/* Emptied after the walk: deleting while iterating restarts the walk. */
	while (bpf_map_get_next_key(fd, NULL, &next) == 0)
		if (bpf_map_delete_elem(fd, &next) != 0)
			break;
}

void session_stop_sampling(struct session *r)
{
	for (int i = 0; r->links && i < r->ncpus; i++) {
		bpf_link__destroy(r->links[i]);
		r->links[i] = NULL;
	}
	bpf_link__destroy(r->switch_link);
	r->switch_link = NULL;
	bpf_link__destroy(r->fork_link);
	r->fork_link = NULL;
	/* Samples already in the ring buffer still count. */
	if (r->rb)
		ring_buffer__consume(r->rb);
	if (r->cfg.mode != MODE_CPU && r->skel)
		flush_blocked(r);
}

uint64_t session_unit_ns(const struct session *r)
{
	return r->cfg.mode == MODE_CPU ? 1 : 1000;
}

int session_profile(struct session *r, struct profile *prof, bool origins)
{
	for (size_t i = 0; i < r->counts.cap; i++) {
		if (!r->counts.used[i])
			continue;
		const struct count_entry *ce = (const struct count_entry *)(uintptr_t)r->counts.vals[i];
		const struct stack_entry *st = ce->stack;
		size_t n = 0;

		uint64_t value = r->cfg.mode == MODE_CPU ? ce->count : (ce->weight_ns + 500) / 1000;

		if (!value || !st->nlabels)
			continue;
		if (r->cfg.threads || r->cfg.subprocesses || r->cfg.all)
			r->label_buf[n++] = ce->root;
		if (r->cfg.threads) {
			uint64_t *tl = u64map_get(&r->thread_roots, ce->tid);

			r->label_buf[n++] = tl ? (const char *)(uintptr_t)*tl : "thread ?";
		}
		memcpy(r->label_buf + n, st->labels, st->nlabels * sizeof(st->labels[0]));
		n += st->nlabels;
		if (profile_add_origin(prof, r->label_buf, n, value, origins ? ce->origin : NULL))
			return -1;
	}
	return 0;
}

static void free_values(struct u64map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->used[i])
			free((void *)(uintptr_t)m->vals[i]);
	u64map_free(m);
}

void session_reset_counts(struct session *r)
{
	free_values(&r->counts);
	free_values(&r->origins);
	/* Thread names are looked up again for the next period's threads. */
	u64map_free(&r->thread_roots);
	if (!r->dead.len)
		return;
	/* No count refers to stacks any more: drop those of ended processes. */
	struct u64map keep;

	u64map_init(&keep);
	for (size_t i = 0; i < r->stacks.cap; i++) {
		if (!r->stacks.used[i])
			continue;
		struct stack_entry *st = (struct stack_entry *)(uintptr_t)r->stacks.vals[i];

		if (u64map_get(&r->dead, st->generation))
			free(st);
		else if (u64map_put(&keep, r->stacks.keys[i], r->stacks.vals[i]))
			free(st); /* out of memory: it is only a cache */
	}
	u64map_free(&r->stacks);
	r->stacks = keep;
	u64map_free(&r->dead);
}

/* Stops sampling a process that ended; its counts stay until the next reset. */
static void forget_process(struct session *r, uint32_t pid)
{
	struct session_proc *p = find_proc(r, pid);
	__u32 key = pid;

	if (!p)
		return;
	bpf_map_delete_elem(bpf_map__fd(r->skel->maps.procs), &key);
	u64map_put(&r->dead, p->generation, 1);
	u64map_del(&r->procs, pid);
	free_proc(p);
}

/* Looks at a just-exec'd process over its first ~1.3 s: at once, then
 * 10, 30, 70 ... 640 ms later. The /proc scan finds what this misses. */
#define PENDING_TRIES 8
#define PENDING_FIRST_DELAY_NS 10000000ull

static void note_exec(struct session *r, const struct exec_event *e)
{
	char name[PYPERF_EXEC_NAME];

	memcpy(name, e->name, sizeof(name));
	name[sizeof(name) - 1] = '\0';
	/* A target's new image is always looked at. With -a, other programs
	 * (embedders too) wait for the scan: opening every exec'd process
	 * several times would cost more than -a's budget. */
	bool was_target = find_proc(r, e->ev.pid) != NULL;

	if (!was_target && !(r->cfg.all && strstr(name, "python")))
		return;
	uint64_t start = proc_start_time((pid_t)e->ev.pid);

	if (!start || r->npending >= sizeof(r->pending) / sizeof(r->pending[0]))
		return;
	r->pending[r->npending++] = (struct pending_exec){
		.pid = (pid_t)e->ev.pid, .start_time = start, .next_ns = monotonic_ns(), .was_target = was_target,
	};
}

/* One look at a just-exec'd process; true when nothing is left to do. */
static bool look_at_exec(struct session *r, const struct pending_exec *pe)
{
	__u32 key = (__u32)pe->pid;
	struct py_proc bp;

	if (proc_start_time(pe->pid) != pe->start_time)
		return true; /* gone */
	if (find_proc(r, key)) {
		if (bpf_map_lookup_elem(bpf_map__fd(r->skel->maps.procs), &key, &bp) == 0)
			return true; /* sampled: its new image was added */
		/* the image before the exec: -a forgets it as it forgets ended
		 * processes; otherwise it stays in the summary */
		if (r->cfg.all)
			forget_process(r, key);
		else
			retire_proc(r, key);
	}
	struct py_target t;
	char err[256], ver[16];

	if (py_target_open(pe->pid, &t, err, sizeof(err)) != 0)
		return false; /* libpython not mapped yet, or not initialized */
	/* Said once the new image is sampled, which may be a later look. */
	if (session_add_process(r, &t) == 0 && pe->was_target && !r->cfg.all)
		fprintf(stderr, "pyperf: PID %d exec'd %s (CPython %s): sampling the new image\n", (int)t.pid,
			t.comm, py_version_str(t.version_hex, ver, sizeof(ver)));
	return true;
}

void session_pending_tick(struct session *r)
{
	uint64_t now = monotonic_ns();
	size_t kept = 0;

	for (size_t i = 0; i < r->npending; i++) {
		struct pending_exec pe = r->pending[i];

		if (pe.next_ns <= now) {
			if (look_at_exec(r, &pe) || ++pe.tries >= PENDING_TRIES)
				continue;
			pe.next_ns = now + (PENDING_FIRST_DELAY_NS << (pe.tries - 1));
		}
		r->pending[kept++] = pe;
	}
	r->npending = kept;
}

size_t session_scan_all(struct session *r)
{
	DIR *d;
	struct dirent *de;
	struct u64map seen;

	/* Ended (or exec'd) processes first, so a reused PID starts afresh. */
	struct u64map gone;

	u64map_init(&gone);
	for (size_t i = 0; i < r->procs.cap; i++) {
		if (!r->procs.used[i])
			continue;
		struct session_proc *p = (struct session_proc *)(uintptr_t)r->procs.vals[i];
		__u32 key = (__u32)r->procs.keys[i];
		struct py_proc bp;

		if (proc_start_time(p->target.pid) != p->target.start_time ||
		    bpf_map_lookup_elem(bpf_map__fd(r->skel->maps.procs), &key, &bp) != 0)
			u64map_put(&gone, key, 1);
	}
	for (size_t i = 0; i < gone.cap; i++)
		if (gone.used[i])
			forget_process(r, (uint32_t)gone.keys[i]);
	u64map_free(&gone);
	d = opendir("/proc");
	if (!d)
		return r->procs.len;
	u64map_init(&seen);
	while ((de = readdir(d)) != NULL) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (*end || v <= 0 || v == getpid())
			continue;
		pid_t pid = (pid_t)v;
		uint64_t start = proc_start_time(pid);

		if (!start)
			continue;
		uint64_t id = image_id(pid, start);

		u64map_put(&seen, (uint64_t)pid, id);
		if (!find_proc(r, (uint32_t)pid))
			try_add(r, pid, id);
	}
	closedir(d);
	/* Remember failed looks only for processes that still exist. */
	struct u64map still;

	u64map_init(&still);
	for (size_t i = 0; i < r->tried.cap; i++)
		if (r->tried.used[i] && u64map_get(&seen, r->tried.keys[i]))
			u64map_put(&still, r->tried.keys[i], r->tried.vals[i]);
	u64map_free(&r->tried);
	r->tried = still;
	u64map_free(&seen);
	return r->procs.len;
}

int session_set_hz(struct session *r, int hz)
{
	int old = r->cfg.hz;

	/* New events rather than PERF_EVENT_IOC_PERIOD: on a frequency-mode
	 * cpu-clock event that ioctl left the kernel sampling far faster than
	 * asked (a flood that filled the ring buffer). A few milliseconds
	 * without samples is the price. */
	close_perf_events(r);
	r->cfg.hz = hz;
	if (open_perf_events(r) == 0)
		return 0;
	close_perf_events(r);
	r->cfg.hz = old;
	return open_perf_events(r) == 0 ? -EAGAIN : -EIO;
}

uint64_t session_bpf_ns(struct session *r)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	uint64_t ns = 0;

	memset(&info, 0, sizeof(info));
	if (r->stats_fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(bpf_program__fd(r->skel->progs.pyperf_sample), &info, &len) == 0)
		ns += info.run_time_ns;
	if (r->switch_link) {
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_program__fd(r->skel->progs.pyperf_switch), &info, &len) == 0)
			ns += info.run_time_ns;
	}
	return ns;
}
