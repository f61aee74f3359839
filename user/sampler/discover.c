/*
 * Finding processes to sample: Python descendants of the targets
 * (--subprocesses), every Python process on the host (-a), and the new
 * image of a process that exec'd.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyperf.skel.h"
#include "sampler/session_impl.h"

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

/*
 * Sampled processes whose kernel entry is gone (the exec hook dropped it)
 * or, with ended set, whose PID no longer names the process sampled: into
 * gone as pid -> 1. Collected first: deleting from the open-addressed
 * procs map while iterating it would move entries.
 */
static void find_gone(struct session *r, bool ended, struct u64map *gone)
{
	int fd = bpf_map__fd(r->skel->maps.procs);
	uint64_t pid;
	void *v;

	for (size_t it = 0; u64map_next_ptr(&r->procs, &it, &pid, &v);) {
		const struct session_proc *p = v;
		__u32 key = (__u32)pid;
		struct py_proc bp;

		if ((ended && proc_start_time(p->target.pid) != p->target.start_time) ||
		    bpf_map_lookup_elem(fd, &key, &bp) != 0)
			u64map_put(gone, pid, 1);
	}
}

/* A process whose kernel entry is gone exec'd: retire it, so the scan
 * looks at its new image. */
static void retire_execed(struct session *r)
{
	struct u64map gone;
	uint64_t pid;

	u64map_init(&gone);
	find_gone(r, false, &gone);
	for (size_t it = 0; u64map_next(&gone, &it, &pid, NULL);)
		procs_retire(r, (uint32_t)pid);
	u64map_free(&gone);
}

/*
 * An image found not to be Python is looked at again a few times, backing
 * off: it may still be loading. A program started by naming the dynamic
 * loader (ld-linux-x86-64.so.2 --library-path ... python3) has the loader
 * as its executable before and after the loader maps Python, so its image
 * id does not change when Python arrives; an embedder may load libpython
 * late. Looks 0.1, 0.3, 0.7 ... 25.5 s after the first, then never again.
 */
#define RELOOK_FIRST_NS 100000000ull
#define RELOOK_TIMES 8

/* A tried_next value: when to look again, with the looks so far in its
 * low 4 bits (0: never again). */
#define RELOOK_COUNT_MASK 0xfull
static uint64_t relook_pack(uint64_t when_ns, unsigned looks)
{
	return (when_ns & ~RELOOK_COUNT_MASK) | looks;
}
static uint64_t relook_when(uint64_t v) { return v & ~RELOOK_COUNT_MASK; }
static unsigned relook_looks(uint64_t v) { return (unsigned)(v & RELOOK_COUNT_MASK); }

/*
 * Samples pid if it runs an initialized CPython; remembers an image (id:
 * start time and executable) found not to be Python so it is not opened
 * at every scan. A not-yet-initialized interpreter is looked at again next
 * time.
 */
static void try_add(struct session *r, pid_t pid, uint64_t id)
{
	uint64_t *tried = u64map_get(&r->tried, (uint64_t)pid);
	uint64_t *next = u64map_get(&r->tried_next, (uint64_t)pid);
	uint64_t now = monotonic_ns();
	uint64_t relook = 0; /* this image's tried_next, if looked at before */

	if (tried && *tried == id) {
		if (!next || !*next || now < relook_when(*next))
			return;
		relook = *next;
	}
	struct py_target t;
	char err[256];
	int rc = py_target_open(pid, &t, err, sizeof(err));

	if (rc == 0) {
		session_add_process(r, &t);
	} else if (rc != -PYPROC_ENOTREADY) {
		unsigned looks = relook ? relook_looks(relook) + 1 : 0;

		u64map_put(&r->tried, (uint64_t)pid, id);
		u64map_put(&r->tried_next, (uint64_t)pid,
			   looks >= RELOOK_TIMES ? 0 : relook_pack(now + (RELOOK_FIRST_NS << looks), looks));
	}
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

		if (*end || v <= 0 || procs_find(r, (uint32_t)v))
			continue;
		/* Is it a descendant of a sampled process? Walk up a bounded chain. */
		pid_t pid = (pid_t)v, up = parent_of(pid, &st);
		uint64_t start = st;
		bool ours = false;

		for (int depth = 0; up > 1 && depth < 64 && !ours; depth++) {
			ours = procs_find(r, (uint32_t)up) != NULL;
			up = parent_of(up, &st);
		}
		if (!ours)
			continue;
		try_add(r, pid, image_id(pid, start));
	}
	closedir(d);
}

/* Looks at a just-exec'd process over its first ~1.3 s: at once, then
 * 10, 30, 70 ... 640 ms later. The /proc scan finds what this misses. */
#define PENDING_TRIES 8
#define PENDING_FIRST_DELAY_NS 10000000ull

void discover_note_exec(struct session *r, const struct exec_event *e)
{
	char name[PYPERF_EXEC_NAME];

	memcpy(name, e->name, sizeof(name));
	name[sizeof(name) - 1] = '\0';
	/* A target's new image is always looked at. With -a, other programs
	 * (embedders too) wait for the scan: opening every exec'd process
	 * several times would cost more than -a's budget. */
	bool was_target = procs_find(r, e->ev.pid) != NULL;

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
	if (procs_find(r, key)) {
		if (bpf_map_lookup_elem(bpf_map__fd(r->skel->maps.procs), &key, &bp) == 0)
			return true; /* sampled: its new image was added */
		/* the image before the exec: -a forgets it as it forgets ended
		 * processes; otherwise it stays in the summary */
		if (r->cfg.all)
			procs_forget(r, key);
		else
			procs_retire(r, key);
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

/* Drops from m every key that keys does not hold. */
static void keep_only_keys(struct u64map *m, const struct u64map *keys)
{
	struct u64map kept;
	uint64_t key, val;

	u64map_init(&kept);
	for (size_t it = 0; u64map_next(m, &it, &key, &val);)
		if (u64map_get(keys, key))
			u64map_put(&kept, key, val);
	u64map_free(m);
	*m = kept;
}

size_t session_scan_all(struct session *r)
{
	DIR *d;
	struct dirent *de;
	struct u64map seen;

	/* Ended (or exec'd) processes first, so a reused PID starts afresh. */
	struct u64map gone;
	uint64_t key;

	u64map_init(&gone);
	find_gone(r, true, &gone);
	for (size_t it = 0; u64map_next(&gone, &it, &key, NULL);)
		procs_forget(r, (uint32_t)key);
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
		if (!procs_find(r, (uint32_t)pid))
			try_add(r, pid, id);
	}
	closedir(d);
	/* Remember failed looks only for processes that still exist. */
	keep_only_keys(&r->tried, &seen);
	keep_only_keys(&r->tried_next, &seen);
	u64map_free(&seen);
	return r->procs.len;
}

bool discover_defer(struct session *r, const void *data, size_t size)
{
	struct deferred *q = &r->deferred;
	uint32_t pid = ((const struct sample_event *)data)->pid;
	size_t need = sizeof(size_t) + ((size + 7) & ~(size_t)7);
	size_t i = 0;

	while (i < q->npids && q->pids[i] != pid)
		i++;
	if (i == q->npids && q->npids == DEFER_PIDS)
		return false;
	if (q->len + need > q->cap) {
		size_t cap = q->cap ? q->cap : 64 * 1024;

		while (cap < q->len + need)
			cap *= 2;
		if (cap > DEFER_BYTES)
			return false;
		unsigned char *buf = realloc(q->buf, cap);

		if (!buf)
			return false;
		q->buf = buf;
		q->cap = cap;
	}
	if (i == q->npids)
		q->pids[q->npids++] = pid;
	memcpy(q->buf + q->len, &size, sizeof(size));
	memcpy(q->buf + q->len + sizeof(size_t), data, size);
	q->len += need;
	return true;
}

void discover_open_deferred(struct session *r)
{
	struct deferred *q = &r->deferred;

	for (size_t i = 0; i < q->npids; i++) {
		struct py_target t;
		char err[256];

		if (!procs_find(r, q->pids[i]) && py_target_open((pid_t)q->pids[i], &t, err, sizeof(err)) == 0)
			session_add_process(r, &t);
	}
	q->npids = 0;
	q->replaying = true;
	for (size_t off = 0; off < q->len;) {
		size_t size;

		memcpy(&size, q->buf + off, sizeof(size));
		aggregate_event(r, q->buf + off + sizeof(size_t), size);
		off += sizeof(size_t) + ((size + 7) & ~(size_t)7);
	}
	q->replaying = false;
	q->len = 0;
}

void discover_free(struct session *r)
{
	free(r->deferred.buf);
}
