/*
 * Off-CPU modes at the edges of a recording: threads already blocked when
 * sampling starts are entered from userspace (the kernel sees them only
 * when they wake), and threads still blocked at the end count up to then.
 * Also where a process's GIL lies, so futex waits on it read as GIL waits.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyperf.skel.h"
#include "python/pywalk.h"
#include "python/waits.h"
#include "target/memsrc.h"
#include "sampler/session_impl.h"

/* The WAIT_* reason of a blocked thread, from /proc/PID/task/TID/syscall
 * decoded as dump does (python/waits.h); the BPF program's switch gives the
 * same reasons for the threads it sees block. */
static uint32_t proc_wait_reason(pid_t pid, pid_t tid, uint64_t gil_lo, uint64_t gil_hi)
{
	struct wait_regs regs;

	if (!wait_regs_read(pid, tid, &regs))
		return WAIT_NONE;
	switch (wait_syscall_kind(&regs, gil_lo, gil_hi)) {
	case WK_SLEEP: return WAIT_SLEEP;
	case WK_GIL: return WAIT_GIL;
	case WK_LOCK: return WAIT_LOCK;
	case WK_READ: case WK_WRITE: case WK_ACCEPT: case WK_CONNECT: return WAIT_IO;
	case WK_SELECT: case WK_POLL: case WK_EPOLL: return WAIT_POLL;
	default: return WAIT_NONE;
	}
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
void offcpu_seed_blocked(struct session *r, const struct py_target *t, uint64_t gil_lo, uint64_t gil_hi)
{
	const struct py_layout *L = &t->layout;
	struct memsrc m = memsrc_pid(t->pid);
	struct session_proc *proc = procs_find(r, (uint32_t)t->pid);
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

		if (!define_stack(r, proc, st.stack_id, fr, (uint32_t)nf, 0, flags))
			continue;
		bpf_map_update_elem(bpf_map__fd(r->skel->maps.offcpu), &key, &st, BPF_NOEXIST);
	}
out:
	free(ts);
	free(tids);
	free(ptids);
	free(fr);
}

/* Where the main interpreter's GIL state lies, so futex waits inside it
 * read as GIL waits (pywalk_gil_range). */
void offcpu_gil_range(const struct py_target *t, uint64_t *lo, uint64_t *hi)
{
	struct memsrc m = memsrc_pid(t->pid);

	pywalk_gil_range(&m, &t->layout, t->runtime_addr, lo, hi);
}

/* Threads still blocked when recording ends count up to now: a deadlocked
 * thread shows its whole wait, not nothing. */
void offcpu_flush_blocked(struct session *r)
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

		memcpy(ev.gen_runs, st.gen_runs, sizeof(ev.gen_runs)); /* --async: its task */
		uint64_t d = now > st.start_ns ? now - st.start_ns : 0;

		ev.weight_ns = d >= r->cfg.min_block_ns ? d : 0;
		aggregate_event(r, &ev, sizeof(ev));
	}
	/* Emptied after the walk: deleting while iterating restarts the walk. */
	while (bpf_map_get_next_key(fd, NULL, &next) == 0)
		if (bpf_map_delete_elem(fd, &next) != 0)
			break;
}
