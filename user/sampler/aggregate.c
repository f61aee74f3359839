/*
 * Aggregation: ring-buffer records into symbolized stacks (per process
 * image) and counts (per stack, and per thread with threads or labels),
 * and those counts into a profile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyperf.skel.h"
#include "python/pywalk.h"
#include "sampler/async.h"
#include "sampler/session_impl.h"

/* Symbolizes a stack's frames (leaf first, as the kernel sends them). */
static struct stack_entry *resolve_stack(struct session *r, struct session_proc *proc, const uint64_t *frames,
					 uint32_t n, uint32_t nnative, uint32_t flags)
{
	size_t nl = 0;
	uint32_t stop = 0;
	const char *flag_label = pywalk_stack_flag_label(flags);
	uint32_t cut[PYPERF_ASYNC_RUNS];
	int8_t run_of[PYPERF_MAX_FRAMES];

	if (n > PYPERF_MAX_FRAMES || nnative > PYPERF_MAX_NATIVE)
		return NULL;
	for (int k = 0; k < PYPERF_ASYNC_RUNS; k++)
		cut[k] = ASYNC_NO_CUT;
	if (r->cfg.async && !nnative)
		async_gen_run_ends(frames, n, run_of);
	if (flag_label)
		r->label_buf[nl++] = frametab_pseudo(&r->labels, flag_label);
	if (nnative) {
		nl += native_stack_labels(r, proc, frames, n, nnative, flags, r->label_buf + nl, &stop);
	} else {
		/* Profiles want the root first. */
		for (uint32_t i = n; i-- > 0;) {
			const char *l = symbolizer_frame(proc->sym, frames[i]);

			if (r->cfg.async && run_of[i] >= 0)
				cut[run_of[i]] = (uint32_t)nl; /* labels before it: the event loop's side */
			if (l)
				r->label_buf[nl++] = l;
		}
		if (flags & STACK_GC) /* the collector runs below the innermost Python frame */
			r->label_buf[nl++] = frametab_pseudo(&r->labels, "[gc]");
	}
	struct stack_entry *e = malloc(sizeof(*e) + nl * sizeof(e->labels[0]));

	if (!e)
		return NULL;
	e->generation = proc->generation;
	e->flags = flags & ~(SAMPLE_HAS_FRAMES | SAMPLE_GIL);
	e->native_stop = stop;
	e->nlabels = 0;
	for (int k = 0; k < PYPERF_ASYNC_RUNS; k++)
		e->async_cut[k] = ASYNC_NO_CUT;
	for (size_t i = 0; i < nl; i++) {
		for (int k = 0; k < PYPERF_ASYNC_RUNS; k++)
			if (cut[k] == i)
				e->async_cut[k] = e->nlabels; /* counted after the labels that failed */
		if (r->label_buf[i]) /* NULL: out of memory for that label */
			e->labels[e->nlabels++] = r->label_buf[i];
	}
	return e;
}

/* Stack ids are per process image: after an exec the same pid is a new
 * session_proc with a new generation, so old stacks are not reused. */
static uint64_t stack_key(const struct session_proc *proc, uint64_t stack_id)
{
	return mix(mix(stack_id, proc->target.pid), proc->generation);
}

static struct stack_entry *known_stack(struct session *r, uint64_t skey)
{
	return u64map_get_ptr(&r->stacks, skey);
}

/* Enters a stack the kernel (or seed_blocked) sent with its frames; a
 * second definition of a known id is ignored. */
struct stack_entry *define_stack(struct session *r, struct session_proc *proc, uint64_t stack_id,
				 const uint64_t *frames, uint32_t n, uint32_t nnative, uint32_t flags)
{
	uint64_t skey = stack_key(proc, stack_id);
	struct stack_entry *st = known_stack(r, skey);

	if (st)
		return st;
	st = resolve_stack(r, proc, frames, n, nnative, flags);
	if (!st || u64map_put_ptr(&r->stacks, skey, st)) {
		free(st);
		return NULL;
	}
	return st;
}

/* A thread seen for the first time re-reads its process's Python names,
 * unless they were read less than this ago (threads started and ended in
 * a loop must not cost a read each). */
#define PYNAMES_REREAD_NS 100000000ull

static bool pyname_known(const struct session_proc *proc, uint32_t tid, char *name, size_t cap)
{
	for (size_t i = 0; i < proc->npynames; i++)
		if (proc->pynames[i].tid == (int32_t)tid) {
			snprintf(name, cap, "%s", proc->pynames[i].name);
			return true;
		}
	return false;
}

static void read_pynames(struct session_proc *proc)
{
	struct memsrc m = memsrc_pid(proc->target.pid);
	struct pyobj_reader pr;
	char err[256];
	struct pythread_name *v;
	int n;

	proc->npynames = 0;
	if (pyobj_reader_init(&pr, &m, &proc->target, err, sizeof(err)) ||
	    !(v = calloc(PYTHREAD_NAMES_MAX, sizeof(*v))))
		return;
	n = pythread_names(&pr, v, PYTHREAD_NAMES_MAX);
	if (n <= 0) {
		free(v);
		return;
	}
	struct pythread_name *fit = realloc(v, (size_t)n * sizeof(*v));

	free(proc->pynames);
	proc->pynames = fit ? fit : v;
	proc->npynames = (size_t)n;
}

/* A thread's Python name (threading.Thread.name), else its OS name. */
static void thread_name(struct session_proc *proc, uint32_t tid, char *name, size_t cap)
{
	if (pyname_known(proc, tid, name, cap))
		return;
	uint64_t now = monotonic_ns();

	if (!proc->pynames_ns || now - proc->pynames_ns >= PYNAMES_REREAD_NS) {
		proc->pynames_ns = now;
		read_pynames(proc);
		if (pyname_known(proc, tid, name, cap))
			return;
	}
	proc_thread_name(proc->target.pid, (pid_t)tid, name, cap);
}

/* The interned origin of samples from one thread of one process image. */
static const struct sample_origin *origin_of(struct session *r, struct session_proc *proc, uint32_t tid)
{
	uint64_t key = mix(proc->image, tid);
	const struct sample_origin *known = u64map_get_ptr(&r->origins, key);

	if (known)
		return known;
	struct sample_origin *o = calloc(1, sizeof(*o));
	char name[64] = "";

	if (!o)
		return NULL;
	thread_name(proc, tid, name, sizeof(name));
	o->pid = (uint32_t)proc->target.pid;
	o->tid = tid;
	o->comm = strtab_intern(&r->labels.strings, proc->target.comm);
	o->cmdline = proc->cmdline;
	o->thread = strtab_intern(&r->labels.strings, name);
	o->container = proc->container;
	if (!o->comm || !o->thread || u64map_put_ptr(&r->origins, key, o)) {
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
	struct stack_entry *known = known_stack(r, *skey);

	if (known)
		return known;
	const char *leaf = frametab_pseudo(&r->labels, names[reason]);
	struct stack_entry *e = malloc(sizeof(*e) + (base->nlabels + 1) * sizeof(e->labels[0]));

	if (!leaf || !e) {
		free(e);
		return NULL;
	}
	e->generation = base->generation;
	e->flags = base->flags;
	e->native_stop = base->native_stop;
	memcpy(e->async_cut, base->async_cut, sizeof(e->async_cut)); /* the leaf goes last: cuts stay */
	e->nlabels = base->nlabels + 1;
	memcpy(e->labels, base->labels, base->nlabels * sizeof(e->labels[0]));
	e->labels[base->nlabels] = leaf;
	if (u64map_put_ptr(&r->stacks, *skey, e)) {
		free(e);
		return NULL;
	}
	return e;
}

/* Clears the kernel's record that stack_id's frames were sent. */
static void forget_sent(struct session *r, uint64_t stack_id)
{
	int fd = bpf_map__fd(r->skel->maps.sent_stacks);
	__u32 slot = (__u32)stack_id & (bpf_map__max_entries(r->skel->maps.sent_stacks) - 1);
	__u64 id = 0, zero = 0;

	if (bpf_map_lookup_elem(fd, &slot, &id) == 0 && id == stack_id)
		bpf_map_update_elem(fd, &slot, &zero, BPF_ANY);
}

/* Where a record's frames are (NULL when it carries none); false when
 * the record is malformed. */
static bool event_frames(const struct sample_event *ev, size_t size, const uint64_t **frames)
{
	*frames = NULL;
	if (!(ev->flags & SAMPLE_HAS_FRAMES))
		return true;
	if (ev->nframes > PYPERF_MAX_FRAMES || ev->nnative > PYPERF_MAX_NATIVE ||
	    size < sizeof(*ev) + ((size_t)ev->nframes + ev->nnative) * sizeof(uint64_t))
		return false;
	*frames = (const uint64_t *)(ev + 1);
	return true;
}

/* The stack a record names, entered first if the record defines it, and
 * its key in *skey; NULL when its definition never arrived. */
static struct stack_entry *event_stack(struct session *r, struct session_proc *proc, const struct sample_event *ev,
				       const uint64_t *frames, uint64_t *skey)
{
	*skey = stack_key(proc, ev->stack_id);
	struct stack_entry *st = known_stack(r, *skey);

	if (!st && frames)
		st = define_stack(r, proc, ev->stack_id, frames, ev->nframes, ev->nnative, ev->flags);
	if (!st && proc->prev_generation) {
		/* Sent under the seed before the last renewal (in flight then,
		 * or a thread blocked since): its stack as it was defined. */
		uint64_t pkey = mix(mix(ev->stack_id, proc->target.pid), proc->prev_generation);

		st = known_stack(r, pkey);
		if (st)
			*skey = pkey;
	}
	return st;
}

/* Adds one record to the count of its stack (and thread); false if out
 * of memory. */
static bool count_sample(struct session *r, struct session_proc *proc, const struct sample_event *ev,
			 const struct stack_entry *st, uint64_t skey)
{
	bool per_thread = r->cfg.threads || r->cfg.per_thread;
	uint64_t key = per_thread ? mix(skey, ev->tid) : skey;
	struct count_entry *ce = u64map_get_ptr(&r->counts, key);

	if (!ce) {
		ce = calloc(1, sizeof(*ce));
		if (!ce || u64map_put_ptr(&r->counts, key, ce)) {
			free(ce);
			return false;
		}
		ce->stack = st;
		ce->root = proc->root;
		ce->tid = ev->tid;
		if (per_thread)
			ce->origin = origin_of(r, proc, ev->tid);
	}
	if (st->native_stop && st->native_stop < NSTOP__MAX)
		r->native.stops[st->native_stop]++;
	if (ev->kind == EVENT_CPU) {
		ce->count++;
		if (ev->flags & SAMPLE_GIL)
			r->gil_samples++;
		if (!st->nlabels)
			r->hidden++; /* only 3.11+ prologue frames: nothing to show */
		/* wall: its time is added by session_profile, at the rate achieved */
	} else {
		ce->weight_ns += ev->weight_ns;
	}
	if (r->on_sample)
		r->on_sample(r->on_sample_ctx, ce);
	if (r->on_event) {
		struct session_event e = {
			.time_ns = ev->time_ns, .weight_ns = ev->kind == EVENT_CPU ? 0 : ev->weight_ns,
			.tid = ev->tid, .cpu = ev->kind == EVENT_CPU, .ce = ce,
		};

		r->on_event(r->on_event_ctx, &e);
	}
	return true;
}

static void name_thread(struct session *r, struct session_proc *proc, uint32_t tid);

bool aggregate_count(struct session *r, struct session_proc *proc, const struct sample_event *ev,
		     const struct stack_entry *st, uint64_t skey)
{
	if (!count_sample(r, proc, ev, st, skey))
		return false;
	if (r->cfg.threads)
		name_thread(r, proc, ev->tid);
	return true;
}

/* Threads on: a thread's root label, named at first sight while the
 * thread still exists. */
static void name_thread(struct session *r, struct session_proc *proc, uint32_t tid)
{
	char name[64] = "", label[128];

	if (u64map_get(&r->thread_roots, tid))
		return;
	thread_name(proc, tid, name, sizeof(name));
	snprintf(label, sizeof(label), "thread %s (%u)", name[0] ? name : "?", tid);
	const char *l = frametab_pseudo(&r->labels, label);

	if (l)
		u64map_put_ptr(&r->thread_roots, tid, l);
}

int aggregate_event(void *ctx, void *data, size_t size)
{
	struct session *r = ctx;
	const struct sample_event *ev = data;
	const uint64_t *frames;

	if (size < sizeof(*ev))
		return 0;
	if (ev->kind == EVENT_EXEC) {
		if (size >= sizeof(struct exec_event))
			discover_note_exec(r, data);
		return 0;
	}
	if (ev->kind != EVENT_CPU && ev->kind != EVENT_OFFCPU && ev->kind != EVENT_STACK)
		return 0;
	if (r->cfg.gil_wait && ev->kind == EVENT_OFFCPU && ev->reason != WAIT_GIL) {
		r->not_gil_wait++;
		return 0;
	}
	if (!event_frames(ev, size, &frames))
		return 0;
	struct session_proc *proc = procs_find(r, ev->pid);

	/* A fork the kernel already follows: its process is opened once this
	 * read of the ring buffer is done, and the record counted then. */
	if (!proc && r->cfg.subprocesses && !r->deferred.replaying && discover_defer(r, data, size))
		return 0;
	if (ev->kind != EVENT_STACK)
		r->samples++;
	if (!proc) {
		if (ev->kind != EVENT_STACK)
			r->unresolved++;
		return 0;
	}
	uint64_t skey;
	const struct stack_entry *st = event_stack(r, proc, ev, frames, &skey);

	if (ev->kind == EVENT_STACK)
		return 0;
	if (!st) {
		/* Its definition was lost: have the kernel send it again. */
		forget_sent(r, ev->stack_id);
		r->unresolved++;
		return 0;
	}
	if (ev->kind == EVENT_OFFCPU && ev->reason != WAIT_NONE && !r->cfg.no_wait_reason)
		st = with_wait_leaf(r, st, ev->reason, &skey);
	if (st && r->cfg.async)
		st = async_sample_stack(r, proc, ev, st, &skey);
	if (!st || !aggregate_count(r, proc, ev, st, skey))
		r->unresolved++;
	return 0;
}

uint64_t session_unit_ns(const struct session *r)
{
	return r->cfg.mode == MODE_CPU ? 1 : 1000;
}

/* What a count weighs in the profile: samples, or microseconds of time. */
/* A count's value: samples (cpu), else microseconds, a CPU sample (wall)
 * standing for cpu_sample_ns. */
static uint64_t count_value(const struct session *r, const struct count_entry *ce, double cpu_sample_ns)
{
	return r->cfg.mode == MODE_CPU ? ce->count :
	       (ce->weight_ns + (uint64_t)((double)ce->count * cpu_sample_ns) + 500) / 1000;
}

bool session_counts_empty(const struct session *r)
{
	void *v;

	for (size_t it = 0; u64map_next_ptr(&r->counts, &it, NULL, &v);) {
		const struct count_entry *ce = v;

		/* whether anything counts does not depend on the rate: the nominal one */
		if (count_value(r, ce, r->cfg.mode == MODE_WALL ? 1e9 / r->cfg.hz : 0) && ce->stack->nlabels)
			return false;
	}
	return true;
}

int session_profile(struct session *r, struct profile *prof, bool origins)
{
	void *v;
	/* wall: a CPU sample stands for the time between two ticks, at the
	 * rate the kernel really delivered */
	double cpu_sample_ns = r->cfg.mode == MODE_WALL ? 1e9 / session_effective_hz(r) : 0;

	for (size_t it = 0; u64map_next_ptr(&r->counts, &it, NULL, &v);) {
		const struct count_entry *ce = v;
		const struct stack_entry *st = ce->stack;
		size_t n = 0;
		uint64_t value = count_value(r, ce, cpu_sample_ns);

		if (!value || !st->nlabels)
			continue;
		if (r->cfg.threads || r->cfg.subprocesses || r->cfg.all)
			r->label_buf[n++] = ce->root;
		if (r->cfg.threads) {
			const char *tl = u64map_get_ptr(&r->thread_roots, ce->tid);

			r->label_buf[n++] = tl ? tl : "thread ?";
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
	void *v;

	for (size_t it = 0; u64map_next_ptr(m, &it, NULL, &v);)
		free(v);
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
	uint64_t key;
	void *v;

	u64map_init(&keep);
	for (size_t it = 0; u64map_next_ptr(&r->stacks, &it, &key, &v);) {
		struct stack_entry *st = v;

		if (u64map_get(&r->dead, st->generation))
			free(st);
		else if (u64map_put_ptr(&keep, key, st))
			free(st); /* out of memory: it is only a cache */
	}
	u64map_free(&r->stacks);
	r->stacks = keep;
	u64map_free(&r->dead);
}

void aggregate_free(struct session *r)
{
	session_reset_counts(r);
	free_values(&r->stacks);
	u64map_free(&r->counts);
	u64map_free(&r->origins);
	u64map_free(&r->dead);
	u64map_free(&r->thread_roots);
}
