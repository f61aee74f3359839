/*
 * What each of dump's threads waits on (python/threads.h collect_waits):
 * its syscall (live: /proc; core: the NT_PRSTATUS registers) decoded by
 * python/waits.c, refined by its innermost Python frames and the target's
 * memory, and the thread it waits for where the interpreter records one
 * (the GIL's holder, an RLock's owner), from which deadlocks are named.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "python/pylocals.h"
#include "python/pyobj.h"
#include "python/threads.h"
#include "target/coredump.h"

/* Innermost Python frames looked at to tell futex waits apart. */
#define REFINE_FRAMES 4

static bool thread_regs(const struct dump *d, struct dthread *th, struct wait_regs *r, uint64_t *extra,
			size_t *nextra)
{
	*nextra = 0;
	memset(r, 0, sizeof(*r));
	r->nr = -1;
	if (th->tid <= 0)
		return false;
	if (!d->core) {
		if (th->state == 'R') {
			r->where = WHERE_RUNNING;
			return true;
		}
		if (!wait_regs_read(d->o.pid, th->tid, r))
			return false;
		/* Read after the state: it woke up meanwhile. */
		if (r->where == WHERE_RUNNING)
			th->state = 'R';
		return true;
	}
	const struct core_thread *ct = coredump_thread_by_tid(d->core, th->tid);

	if (!ct)
		return false;
	const struct core_regs *g = &ct->regs;

	/* orig_rax is -1 outside a syscall (the thread that faulted). */
	if ((int64_t)g->orig_rax >= 0) {
		r->where = WHERE_SYSCALL;
		r->nr = (long)g->orig_rax;
		r->arg[0] = g->rdi;
		r->arg[1] = g->rsi;
		r->arg[2] = g->rdx;
		r->arg[3] = g->r10;
		r->arg[4] = g->r8;
		r->arg[5] = g->r9;
	} else {
		r->where = WHERE_USER;
	}
	r->sp = g->rsp;
	r->pc = g->rip;
	/* A core has the callee-saved registers too: a lock object may still
	 * be in one of them rather than on the stack. */
	const uint64_t regs[] = { g->rbx, g->rbp, g->r12, g->r13, g->r14, g->r15 };

	memcpy(extra, regs, sizeof(regs));
	*nextra = sizeof(regs) / sizeof(regs[0]);
	return true;
}

static const struct dthread *thread_by_ident(const struct dump *d, uint64_t ident)
{
	for (size_t i = 0; ident && i < d->nth; i++)
		if (d->th[i].ts.thread_id == ident)
			return &d->th[i];
	return NULL;
}

/* The innermost labelled Python frames: names and files, innermost first. */
static size_t innermost(const struct dump *d, const struct dthread *th, const char **names, const char **files)
{
	size_t n = 0;

	for (size_t k = 0; k < th->n && n < REFINE_FRAMES; k++) {
		const char *label = symbolizer_frame(d->sym, th->frames[k]);
		const struct frame_meta *fm = label ? frametab_meta(&d->tab, label) : NULL;

		if (!fm)
			continue;
		names[n] = fm->name;
		files[n] = fm->file;
		n++;
	}
	return n;
}

/* Frames searched for the variable that names a lock waited on: the one
 * that called acquire, and a few callers (a helper taking the lock). */
#define LOCK_NAME_FRAMES 4

/* The variables of th's innermost frames for the one referring to the
 * lock object waited on: "right" of philosopher, say. pl is created on
 * first use (*pl_ok) when dump has no --locals reader. */
static void name_lock(struct dump *d, const struct dthread *th, struct wait_lock *lk, struct pylocals *own,
		      bool *own_ok)
{
	struct pylocals *pl = d->locals;
	char err[128];

	if (!pl) {
		if (!*own_ok && pylocals_init(own, &d->src, &d->t, err, sizeof(err)) == 0)
			*own_ok = true;
		if (!*own_ok)
			return;
		pl = own;
	}
	for (size_t k = 0; th->addrs && k < th->n && k < LOCK_NAME_FRAMES; k++) {
		const struct pylocals_frame *lf = pylocals_read(pl, th->addrs[k], PYPERF_FRAME_CODE(th->frames[k]));
		const char *label = symbolizer_frame(d->sym, th->frames[k]);
		const struct frame_meta *fm = label ? frametab_meta(&d->tab, label) : NULL;

		for (size_t j = 0; lf && j < lf->n; j++) {
			if (lf->v[j].obj != lk->obj || !lf->v[j].name)
				continue;
			snprintf(lk->var, sizeof(lk->var), "%s", lf->v[j].name);
			snprintf(lk->var_func, sizeof(lk->var_func), "%s", fm ? fm->name : "?");
			return;
		}
	}
}

#define ADD(...) do { size_t l_ = strlen(w->text); \
	snprintf(w->text + l_, sizeof(w->text) - l_, __VA_ARGS__); } while (0)

/* "waiting on a lock ..." and its kin: the object and who holds it. */
static void describe_lock(const struct dump *d, struct thread_wait *w)
{
	static const char *const what[] = {
		[WK_LOCK] = "waiting on a lock", [WK_CONDITION] = "waiting on a condition",
		[WK_EVENT] = "waiting on an event", [WK_QUEUE] = "waiting on queue.get",
		[WK_SEMAPHORE] = "waiting on a semaphore", [WK_JOIN] = "joining a thread",
	};
	const struct wait_lock *lk = &w->lock;

	ADD("%s", what[w->kind]);
	if (w->kind == WK_LOCK && lk->obj && lk->rlock) {
		const struct dthread *owner = thread_by_ident(d, lk->owner_ident);

		ADD(" (RLock at 0x%" PRIx64 ", ", lk->obj);
		if (lk->var[0])
			ADD("'%s' of %s, ", lk->var, lk->var_func);
		if (owner && owner->tid > 0) {
			w->blocker_tid = owner->tid;
			ADD("owned by thread %d)", (int)owner->tid);
		} else if (lk->owner_ident) {
			ADD("owned by thread ident 0x%" PRIx64 ", not a Python thread seen here)", lk->owner_ident);
		} else {
			ADD("not owned right now)");
		}
		return;
	}
	if (w->kind == WK_LOCK && lk->obj) {
		ADD(" (Lock at 0x%" PRIx64, lk->obj);
		if (lk->var[0])
			ADD(", '%s' of %s", lk->var, lk->var_func);
		ADD("; a Lock records no owner)");
		return;
	}
	if (w->kind == WK_LOCK || w->kind == WK_CONDITION)
		ADD(lk->parked_on ? " (parked on 0x%" PRIx64 ")" : " (futex 0x%" PRIx64 ")",
		    lk->parked_on ? lk->parked_on : w->futex);
}

static void describe_fd(const struct dump *d, struct thread_wait *w, const char *verb_fd, const char *verb_other)
{
	if (w->fd < 0) {
		ADD("%s", verb_other);
		return;
	}
	if (d->core) {
		ADD("%s fd %d (descriptors are not in a core)", verb_other, w->fd);
		return;
	}
	int t = wait_fd_describe(d->o.pid, w->fd, w->fd_desc, sizeof(w->fd_desc));

	if (t == 'f')
		ADD("%s %s", verb_fd, w->fd_desc);
	else
		ADD("%s %s", verb_other, w->fd_desc);
}

static void describe(struct dump *d, const struct dthread *th, struct thread_wait *w, const struct wait_regs *r)
{
	const struct dthread *holder = NULL;
	double secs;

	switch (w->kind) {
	case WK_RUNNING:
		ADD("running");
		break;
	case WK_GIL:
		for (size_t i = 0; i < d->nth && !holder; i++)
			if (d->th[i].gil == 1 && d->th[i].ts.interp == th->ts.interp)
				holder = &d->th[i];
		if (holder == th) {
			/* The GIL names this very thread as it waits: a handover
			 * caught half-way (a core taken mid-switch), not a wait on
			 * itself. */
			ADD("waiting for the GIL (being handed to it right now)");
		} else if (holder && holder->tid > 0) {
			w->blocker_tid = holder->tid;
			ADD("waiting for the GIL (held by thread %d)", (int)holder->tid);
		} else if (th->gil == 0) {
			ADD("waiting for the GIL (not held right now: being handed over)");
		} else {
			ADD("waiting for the GIL");
		}
		break;
	case WK_SLEEP:
		w->secs_kind = wait_sleep_seconds(&d->src, r, !d->core, &secs);
		if (w->secs_kind)
			w->secs = secs;
		if (w->secs_kind == 1)
			ADD("sleeping (%.1f s left)", secs);
		else if (w->secs_kind == 2)
			ADD("sleeping (%.1f s requested)", secs);
		else
			ADD("sleeping");
		break;
	case WK_LOCK: case WK_CONDITION: case WK_EVENT: case WK_QUEUE: case WK_SEMAPHORE: case WK_JOIN:
		describe_lock(d, w);
		break;
	case WK_READ:
		describe_fd(d, w, "reading", "reading from");
		break;
	case WK_WRITE:
		describe_fd(d, w, "writing", "writing to");
		break;
	case WK_ACCEPT:
		describe_fd(d, w, "accepting on", "accepting on");
		break;
	case WK_CONNECT:
		describe_fd(d, w, "connecting", "connecting");
		break;
	case WK_SELECT: case WK_POLL: case WK_EPOLL: {
		int first = -1;
		const char *how = w->kind == WK_SELECT ? "select" : w->kind == WK_POLL ? "poll" : "epoll";

		w->nfds = w->kind == WK_EPOLL ? (d->core ? -1 : wait_epoll_count(d->o.pid, w->fd))
					      : wait_watched_fds(&d->src, r, w->kind, &first);
		if (w->nfds < 0) {
			ADD("waiting in %s", how);
			break;
		}
		ADD("waiting in %s on %d fd%s", how, w->nfds, w->nfds == 1 ? "" : "s");
		if (w->nfds == 1 && first >= 0 && !d->core) {
			wait_fd_describe(d->o.pid, first, w->fd_desc, sizeof(w->fd_desc));
			ADD(": %s", w->fd_desc);
		}
		break;
	}
	case WK_CHILD:
		ADD("waiting for a child process");
		break;
	case WK_SYSCALL: {
		const char *name = wait_syscall_name(r->nr);

		if (name)
			ADD("in syscall %s", name);
		else
			ADD("in syscall %ld", r->nr);
		break;
	}
	case WK_STOPPED:
		ADD("not in a syscall");
		break;
	case WK_UNKNOWN:
		break;
	}
}

#undef ADD

/* A Thread being joined: the one whose _tstate_lock is the lock waited
 * for (3.8-3.12), or whose _ThreadHandle's native handle holds the event
 * parked on (3.13+: PyThreadHandleObject keeps its ThreadHandle * at +16,
 * and the event is a field of it, within its first 128 bytes). */
struct join_match {
	const struct pyobj_reader *r;
	struct dump *d;
};

static bool join_matches(const struct pyobj_reader *r, uint64_t thread, const struct wait_lock *lk)
{
	uint64_t v, handle;

	if (lk->obj)
		return pyobj_getattr(r, thread, "_tstate_lock", &v) && v == lk->obj;
	/* _handle in 3.13, _os_thread_handle since 3.14 */
	if (!lk->parked_on ||
	    (!pyobj_getattr(r, thread, "_handle", &v) && !pyobj_getattr(r, thread, "_os_thread_handle", &v)))
		return false;
	handle = pyobj_ptr_at(r, v + 16);
	return handle && lk->parked_on >= handle && lk->parked_on - handle < 128;
}

static bool match_join(void *ctx, uint64_t key, uint64_t thread)
{
	struct join_match *c = ctx;
	int64_t ident;
	uint64_t name;

	(void)key;
	for (size_t i = 0; i < c->d->nth; i++) {
		struct thread_wait *w = &c->d->th[i].wait;
		const struct dthread *joined;

		if (w->kind != WK_JOIN || w->blocker_tid || !join_matches(c->r, thread, &w->lock))
			continue;
		if (!pyobj_getattr(c->r, thread, "_ident", &name) || !pyobj_long(c->r, name, &ident) ||
		    !(joined = thread_by_ident(c->d, (uint64_t)ident)) || joined->tid <= 0)
			continue;
		w->blocker_tid = joined->tid;
		snprintf(w->text, sizeof(w->text), "joining thread %d", (int)joined->tid);
		if (joined->name[0]) {
			size_t l = strlen(w->text);

			snprintf(w->text + l, sizeof(w->text) - l, " \"%s\"", joined->name);
		}
	}
	return true;
}

/* Joins: which thread each waits for, from threading._active. */
static void find_joined(struct dump *d)
{
	struct pyobj_reader r;
	char err[256];
	uint64_t mod, active;
	bool any = false;

	for (size_t i = 0; i < d->nth && !any; i++)
		any = d->th[i].wait.kind == WK_JOIN;
	if (!any || pyobj_reader_init(&r, &d->src, &d->t, err, sizeof(err)))
		return;
	struct join_match c = { .r = &r, .d = d };

	mod = pyobj_module(&r, "threading");
	if (mod && pyobj_getattr(&r, mod, "_active", &active))
		pyobj_dict_each(&r, active, match_join, &c, 8192);
}

void collect_waits(struct dump *d)
{
	uint64_t gil_lo, gil_hi;
	struct pylocals own;
	bool own_ok = false;

	pywalk_gil_range(&d->src, &d->t.layout, d->t.runtime_addr, &gil_lo, &gil_hi);
	for (size_t i = 0; i < d->nth; i++) {
		struct dthread *th = &d->th[i];
		struct thread_wait *w = &th->wait;
		struct wait_regs r;
		uint64_t extra[8];
		size_t nextra;

		memset(w, 0, sizeof(*w));
		w->nr = -1;
		w->fd = -1;
		w->nfds = -1;
		if (!thread_regs(d, th, &r, extra, &nextra))
			continue;
		w->kind = wait_syscall_kind(&r, gil_lo, gil_hi);
		if (r.where == WHERE_SYSCALL)
			w->nr = r.nr;
		w->fd = wait_syscall_fd(&r, w->kind);
		if (w->kind == WK_LOCK) {
			const char *names[REFINE_FRAMES], *files[REFINE_FRAMES];
			size_t n = innermost(d, th, names, files);

			w->futex = r.nr == 202 ? r.arg[0] : 0;
			w->kind = wait_refine_futex(names, files, n);
			wait_find_lock(&d->src, d->t.version_hex, w->futex, r.sp, extra, nextra, &w->lock);
			if (w->lock.obj)
				name_lock(d, th, &w->lock, &own, &own_ok);
		} else if (w->kind == WK_GIL) {
			w->futex = r.arg[0];
		}
		describe(d, th, w, &r);
	}
	if (own_ok)
		pylocals_free(&own);
	find_joined(d);
}

size_t find_deadlocks(const struct dump *d, size_t *idx, size_t *lens, size_t max)
{
	size_t ncycles = 0, used = 0;

	/* Every thread waits for one other at most: follow the edges from
	 * each thread; a walk that comes back to its start is a cycle, named
	 * once, by its lowest index. */
	for (size_t s = 0; s < d->nth && ncycles < max; s++) {
		size_t cur = s, len = 0;
		bool cycle = false, lowest = true;

		for (size_t step = 0; step <= d->nth; step++) {
			int32_t next = d->th[cur].wait.blocker_tid;
			size_t j;

			/* No wait named here can be on the waiter itself (an RLock
			 * is reentrant, a self-join raises): such an edge is a
			 * state read mid-change, not a deadlock. */
			if (next <= 0 || next == d->th[cur].tid)
				break;
			for (j = 0; j < d->nth && d->th[j].tid != next; j++)
				;
			if (j == d->nth)
				break;
			len++;
			lowest &= j >= s;
			if (j == s) {
				cycle = true;
				break;
			}
			cur = j;
		}
		if (!cycle || !lowest || used + len > d->nth)
			continue;
		lens[ncycles++] = len;
		cur = s;
		for (size_t k = 0; k < len; k++) {
			int32_t next = d->th[cur].wait.blocker_tid;

			idx[used++] = cur;
			for (cur = 0; cur < d->nth && d->th[cur].tid != next; cur++)
				;
		}
	}
	return ncycles;
}
