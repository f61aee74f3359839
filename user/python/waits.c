/*
 * Decoding what a thread waits on (python/waits.h): the syscall and its
 * arguments, the Python frames around a futex, lock objects behind a futex,
 * sleep deadlines, /proc/net lines. No /proc access here: fixed inputs in,
 * so the unit tests cover all of it.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pyperf.h"
#include "pyperf_frame.h"
#include "python/waits.h"

/* x86_64 syscall numbers (the only architecture dump decodes registers of). */
enum {
	NR_READ = 0, NR_WRITE = 1, NR_POLL = 7, NR_PREAD64 = 17, NR_PWRITE64 = 18, NR_READV = 19,
	NR_WRITEV = 20, NR_SELECT = 23, NR_PAUSE = 34, NR_NANOSLEEP = 35, NR_CONNECT = 42, NR_ACCEPT = 43,
	NR_SENDTO = 44, NR_RECVFROM = 45, NR_SENDMSG = 46, NR_RECVMSG = 47, NR_WAIT4 = 61, NR_FLOCK = 73,
	NR_FUTEX = 202, NR_CLOCK_NANOSLEEP = 230, NR_EPOLL_WAIT = 232, NR_WAITID = 247,
	NR_PSELECT6 = 270, NR_PPOLL = 271, NR_EPOLL_PWAIT = 281, NR_ACCEPT4 = 288, NR_PREADV = 295,
	NR_PWRITEV = 296, NR_RECVMMSG = 299, NR_SENDMMSG = 307, NR_EPOLL_PWAIT2 = 441, NR_FUTEX_WAITV = 449,
};

/* A C acquire function keeps its lock object in a callee-saved register,
 * which the functions below it (semaphore wait, futex call) save within
 * their few hundred bytes of stack. */
#define LOCK_STACK_SCAN 4096
/* A parking-lot wait entry is a local of _PyParkingLot_Park, a few frames
 * above the futex call. */
#define PARK_STACK_WINDOW 4096
#define LOCK_CANDIDATES (LOCK_STACK_SCAN / 8 + 16)

bool wait_regs_parse(const char *text, struct wait_regs *r)
{
	unsigned long long v[8];
	long nr;
	int n;

	memset(r, 0, sizeof(*r));
	r->nr = -1;
	if (strncmp(text, "running", 7) == 0) {
		r->where = WHERE_RUNNING;
		return true;
	}
	n = sscanf(text, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &nr, &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &v[6], &v[7]);
	if (n == 3 && nr == -1) {
		/* blocked, but not in a syscall (a page fault, a ptrace stop) */
		r->where = WHERE_USER;
		r->sp = v[0];
		r->pc = v[1];
		return true;
	}
	if (n != 9 || nr < 0)
		return false;
	r->where = WHERE_SYSCALL;
	r->nr = nr;
	for (int i = 0; i < 6; i++)
		r->arg[i] = v[i];
	r->sp = v[6];
	r->pc = v[7];
	return true;
}

const char *wait_kind_name(enum wait_kind k)
{
	static const char *const names[] = {
		[WK_UNKNOWN] = "unknown", [WK_RUNNING] = "running", [WK_GIL] = "gil", [WK_SLEEP] = "sleep",
		[WK_LOCK] = "lock", [WK_CONDITION] = "condition", [WK_EVENT] = "event", [WK_QUEUE] = "queue",
		[WK_SEMAPHORE] = "semaphore", [WK_JOIN] = "join", [WK_READ] = "read", [WK_WRITE] = "write",
		[WK_ACCEPT] = "accept", [WK_CONNECT] = "connect", [WK_SELECT] = "select", [WK_POLL] = "poll",
		[WK_EPOLL] = "epoll", [WK_CHILD] = "child", [WK_SYSCALL] = "syscall", [WK_STOPPED] = "stopped",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) && names[k] ? names[k] : "unknown";
}

const char *wait_syscall_name(long nr)
{
	switch (nr) {
	case NR_READ: return "read";
	case NR_WRITE: return "write";
	case NR_POLL: return "poll";
	case NR_PREAD64: return "pread64";
	case NR_PWRITE64: return "pwrite64";
	case NR_READV: return "readv";
	case NR_WRITEV: return "writev";
	case NR_SELECT: return "select";
	case NR_PAUSE: return "pause";
	case NR_NANOSLEEP: return "nanosleep";
	case NR_CONNECT: return "connect";
	case NR_ACCEPT: return "accept";
	case NR_SENDTO: return "sendto";
	case NR_RECVFROM: return "recvfrom";
	case NR_SENDMSG: return "sendmsg";
	case NR_RECVMSG: return "recvmsg";
	case NR_WAIT4: return "wait4";
	case NR_FLOCK: return "flock";
	case NR_FUTEX: return "futex";
	case NR_CLOCK_NANOSLEEP: return "clock_nanosleep";
	case NR_EPOLL_WAIT: return "epoll_wait";
	case NR_WAITID: return "waitid";
	case NR_PSELECT6: return "pselect6";
	case NR_PPOLL: return "ppoll";
	case NR_EPOLL_PWAIT: return "epoll_pwait";
	case NR_ACCEPT4: return "accept4";
	case NR_PREADV: return "preadv";
	case NR_PWRITEV: return "pwritev";
	case NR_RECVMMSG: return "recvmmsg";
	case NR_SENDMMSG: return "sendmmsg";
	case NR_EPOLL_PWAIT2: return "epoll_pwait2";
	case NR_FUTEX_WAITV: return "futex_waitv";
	default: return NULL;
	}
}

enum wait_kind wait_syscall_kind(const struct wait_regs *r, uint64_t gil_lo, uint64_t gil_hi)
{
	if (r->where == WHERE_RUNNING)
		return WK_RUNNING;
	if (r->where == WHERE_USER)
		return WK_STOPPED;
	if (r->where != WHERE_SYSCALL)
		return WK_UNKNOWN;
	switch (r->nr) {
	case NR_NANOSLEEP: case NR_CLOCK_NANOSLEEP:
		return WK_SLEEP;
	case NR_FUTEX:
		return r->arg[0] >= gil_lo && r->arg[0] < gil_hi ? WK_GIL : WK_LOCK;
	case NR_FUTEX_WAITV:
		return WK_LOCK;
	case NR_READ: case NR_PREAD64: case NR_READV: case NR_PREADV: case NR_RECVFROM: case NR_RECVMSG:
	case NR_RECVMMSG:
		return WK_READ;
	case NR_WRITE: case NR_PWRITE64: case NR_WRITEV: case NR_PWRITEV: case NR_SENDTO: case NR_SENDMSG:
	case NR_SENDMMSG:
		return WK_WRITE;
	case NR_ACCEPT: case NR_ACCEPT4:
		return WK_ACCEPT;
	case NR_CONNECT:
		return WK_CONNECT;
	case NR_SELECT: case NR_PSELECT6:
		/* no descriptors: time.sleep before 3.11 */
		return r->arg[0] == 0 ? WK_SLEEP : WK_SELECT;
	case NR_POLL: case NR_PPOLL:
		return r->arg[1] == 0 ? WK_SLEEP : WK_POLL;
	case NR_EPOLL_WAIT: case NR_EPOLL_PWAIT: case NR_EPOLL_PWAIT2:
		return WK_EPOLL;
	case NR_WAIT4: case NR_WAITID:
		return WK_CHILD;
	default:
		return WK_SYSCALL;
	}
}

int wait_syscall_fd(const struct wait_regs *r, enum wait_kind k)
{
	switch (k) {
	case WK_READ: case WK_WRITE: case WK_ACCEPT: case WK_CONNECT: case WK_EPOLL:
		return r->arg[0] <= INT32_MAX ? (int)r->arg[0] : -1;
	default:
		return -1;
	}
}

/* ------------------------------------------------------ Python frames */

static bool in_file(const char *file, const char *base)
{
	size_t n = strlen(file), b = strlen(base);

	return n >= b && strcmp(file + n - b, base) == 0 && (n == b || file[n - b - 1] == '/');
}

/* Is this frame cls.meth of module file? (qualname on 3.11+, bare name before) */
static bool is_fn(const char *name, const char *file, const char *mod, const char *cls, const char *meth)
{
	if (!name || !file || !in_file(file, mod))
		return false;
	size_t c = strlen(cls);

	return strcmp(name, meth) == 0 || (strncmp(name, cls, c) == 0 && name[c] == '.' && strcmp(name + c + 1, meth) == 0);
}

enum wait_kind wait_refine_futex(const char *const *names, const char *const *files, size_t n)
{
	if (!n)
		return WK_LOCK;
	if (is_fn(names[0], files[0], "threading.py", "Thread", "join") ||
	    is_fn(names[0], files[0], "threading.py", "Thread", "_wait_for_tstate_lock"))
		return WK_JOIN;
	if (!is_fn(names[0], files[0], "threading.py", "Condition", "wait"))
		return WK_LOCK;
	/* Condition.wait blocks on its own waiter lock; its caller tells what
	 * the condition belongs to (Condition.wait_for in between is skipped).
	 * Before 3.11 names have no class: a threading.py `wait` calling
	 * Condition.wait is Event.wait (Barrier's is `_wait`). */
	size_t i = 1;

	if (i < n && is_fn(names[i], files[i], "threading.py", "Condition", "wait_for"))
		i++;
	if (i >= n)
		return WK_CONDITION;
	if (is_fn(names[i], files[i], "threading.py", "Event", "wait"))
		return WK_EVENT;
	if (is_fn(names[i], files[i], "queue.py", "Queue", "get"))
		return WK_QUEUE;
	if (is_fn(names[i], files[i], "threading.py", "Semaphore", "acquire"))
		return WK_SEMAPHORE;
	return WK_CONDITION;
}

/* ------------------------------------------------------------- sleeps */

static bool read_timespec(const struct memsrc *m, uint64_t addr, double *secs)
{
	int64_t ts[2];

	if (!addr || memsrc_read(m, addr, ts, sizeof(ts)) || ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000)
		return false;
	*secs = (double)ts[0] + (double)ts[1] / 1e9;
	return true;
}

static bool read_timeval(const struct memsrc *m, uint64_t addr, double *secs)
{
	int64_t tv[2];

	if (!addr || memsrc_read(m, addr, tv, sizeof(tv)) || tv[0] < 0 || tv[1] < 0 || tv[1] >= 1000000)
		return false;
	*secs = (double)tv[0] + (double)tv[1] / 1e6;
	return true;
}

int wait_sleep_seconds(const struct memsrc *m, const struct wait_regs *r, bool live, double *secs)
{
	if (r->where != WHERE_SYSCALL)
		return 0;
	switch (r->nr) {
	case NR_CLOCK_NANOSLEEP: {
		double t;
		struct timespec now;

		if (!read_timespec(m, r->arg[2], &t))
			return 0;
		if (!(r->arg[1] & 1 /* TIMER_ABSTIME */)) {
			*secs = t;
			return 2;
		}
		if (!live || r->arg[0] > 11 || clock_gettime((clockid_t)r->arg[0], &now))
			return 0;
		t -= (double)now.tv_sec + (double)now.tv_nsec / 1e9;
		*secs = t > 0 ? t : 0;
		return 1;
	}
	case NR_NANOSLEEP:
		return read_timespec(m, r->arg[0], secs) ? 2 : 0;
	case NR_SELECT:
		return read_timeval(m, r->arg[4], secs) ? 2 : 0;
	case NR_PSELECT6:
		return read_timespec(m, r->arg[4], secs) ? 2 : 0;
	default:
		return 0;
	}
}

/* ------------------------------------------------- select and poll sets */

#define MAX_WATCHED 1024

int wait_watched_fds(const struct memsrc *m, const struct wait_regs *r, enum wait_kind k, int *first_fd)
{
	int count = 0;

	*first_fd = -1;
	if (k == WK_SELECT) {
		uint64_t nfds = r->arg[0];
		uint64_t sets[3][MAX_WATCHED / 64];
		size_t words;

		if (nfds == 0 || nfds > MAX_WATCHED)
			return -1;
		words = (size_t)(nfds + 63) / 64;
		for (int s = 0; s < 3; s++) {
			memset(sets[s], 0, sizeof(sets[s]));
			if (r->arg[1 + s] && memsrc_read(m, r->arg[1 + s], sets[s], words * 8))
				return -1;
		}
		for (uint64_t fd = 0; fd < nfds; fd++) {
			uint64_t bit = 1ull << (fd % 64);

			if ((sets[0][fd / 64] | sets[1][fd / 64] | sets[2][fd / 64]) & bit) {
				if (*first_fd < 0)
					*first_fd = (int)fd;
				count++;
			}
		}
		return count;
	}
	if (k == WK_POLL) {
		struct { int32_t fd; int16_t events, revents; } pfd[64];
		uint64_t n = r->arg[1];

		if (n == 0 || n > 64)
			return n > 64 ? (int)(n > MAX_WATCHED ? MAX_WATCHED : n) : -1;
		if (memsrc_read(m, r->arg[0], pfd, (size_t)n * sizeof(pfd[0])))
			return -1;
		for (uint64_t i = 0; i < n; i++) {
			if (pfd[i].fd < 0)
				continue; /* ignored entries */
			if (*first_fd < 0)
				*first_fd = pfd[i].fd;
			count++;
		}
		return count;
	}
	return -1;
}

/* ---------------------------------------------------------- lock objects */

static bool plausible_ptr(uint64_t p)
{
	return p >= 0x10000 && p < PYPERF_USER_ADDR_LIMIT && !(p & 7);
}

/* 1: a _thread.lock, 2: a _thread.RLock, 0: neither (by its type's tp_name,
 * at +24 of every type object: ob_refcnt, ob_type, ob_size, tp_name). */
static int lock_type_of(const struct memsrc *m, uint64_t type)
{
	uint64_t tp_name;
	char name[16];

	if (!plausible_ptr(type) || memsrc_read_u64(m, type + 24, &tp_name) || !tp_name)
		return 0;
	size_t got = memsrc_read_partial(m, tp_name, name, sizeof(name));

	if (got >= 13 && memcmp(name, "_thread.lock", 13) == 0)
		return 1;
	if (got >= 14 && memcmp(name, "_thread.RLock", 14) == 0)
		return 2;
	return 0;
}

/* Both lock objects keep their native lock at +16 (a semaphore pointer on
 * 3.8-3.13, an embedded PyMutex on 3.14+), and the RLock its owner's
 * thread ident at +24 (rlock_owner; on 3.14+ _PyRecursiveMutex.thread).
 * Private to Modules/_threadmodule.c, so in no header the layouts could
 * come from: checked against 3.8-3.15 by tests/e2e/test_dump_waits.py. */
#define LOCK_NATIVE_OFF 16
#define RLOCK_OWNER_OFF 24

static void fill_lock(const struct memsrc *m, uint64_t obj, int type, struct wait_lock *out)
{
	out->obj = obj;
	out->rlock = type == 2;
	out->owner_ident = 0;
	if (out->rlock && memsrc_read_u64(m, obj + RLOCK_OWNER_OFF, &out->owner_ident))
		out->owner_ident = 0;
}

int wait_find_lock(const struct memsrc *m, uint32_t version_hex, uint64_t futex, uint64_t sp,
		   const uint64_t *extra, size_t nextra, struct wait_lock *out)
{
	memset(out, 0, sizeof(*out));
	if (!futex)
		return -1;
	/* 3.13+ parking lot: struct wait_entry { void *park_arg; uintptr_t
	 * addr; _PySemaphore sema; ... } (Python/parking_lot.c, 3.13-3.15),
	 * the futex being the semaphore's word: addr is 8 bytes before it. */
	if (version_hex >= 0x030d0000 && sp && futex >= sp && futex - sp < PARK_STACK_WINDOW) {
		uint64_t addr, type;

		if (memsrc_read_u64(m, futex - 8, &addr) || !addr || addr >= PYPERF_USER_ADDR_LIMIT)
			return -1;
		out->parked_on = addr;
		int t = addr >= LOCK_NATIVE_OFF && !((addr - LOCK_NATIVE_OFF) & 7) &&
			memsrc_read_u64(m, addr - LOCK_NATIVE_OFF + 8, &type) == 0 ? lock_type_of(m, type) : 0;

		if (t)
			fill_lock(m, addr - LOCK_NATIVE_OFF, t, out);
		return 0;
	}
	/* Semaphore locks: candidates from the stack and the extra words. */
	uint64_t stack[LOCK_STACK_SCAN / 8];
	size_t nwords = sp ? memsrc_read_partial(m, sp, stack, sizeof(stack)) / 8 : 0;
	struct memsrc_iov *iov = calloc(LOCK_CANDIDATES, sizeof(*iov));
	uint64_t (*obj)[3] = calloc(LOCK_CANDIDATES, sizeof(*obj));
	size_t n = 0;
	int rc = -1;

	if (!iov || !obj)
		goto out;
	for (size_t i = 0; i < nwords + nextra && n < LOCK_CANDIDATES; i++) {
		uint64_t w = i < nextra ? extra[i] : stack[i - nextra];
		bool dup = false;

		if (!plausible_ptr(w))
			continue;
		for (size_t k = 0; k < n && !dup; k++)
			dup = iov[k].addr == w;
		if (dup)
			continue;
		iov[n] = (struct memsrc_iov){ .addr = w, .buf = obj[n], .len = sizeof(obj[n]) };
		n++;
	}
	memsrc_readv(m, iov, n);
	for (size_t k = 0; k < n; k++) {
		if (iov[k].got != sizeof(obj[k]) || obj[k][2] != futex)
			continue;
		int t = lock_type_of(m, obj[k][1]);

		if (t) {
			fill_lock(m, iov[k].addr, t, out);
			rc = 0;
			break;
		}
	}
out:
	free(iov);
	free(obj);
	return rc;
}

/* --------------------------------------------------------- /proc/net lines */

/* "HEX:PORT" of /proc/net/tcp{,6}, udp{,6} as "a.b.c.d:port" or "[v6]:port". */
static bool net_endpoint(const char *s, bool v6, char *out, size_t cap, bool *zero)
{
	const char *colon = strchr(s, ':');
	size_t hexlen = colon ? (size_t)(colon - s) : 0;
	uint8_t bytes[16];
	char ip[INET6_ADDRSTRLEN];
	char *end;

	if (!colon || hexlen != (v6 ? 32u : 8u))
		return false;
	unsigned long port = strtoul(colon + 1, &end, 16);

	if (*end || port > 65535)
		return false;
	/* Each 32-bit word is printed as a number in host (little-endian)
	 * order: its bytes reversed. */
	for (size_t w = 0; w < hexlen / 8; w++) {
		char word[9];

		memcpy(word, s + 8 * w, 8);
		word[8] = '\0';
		uint32_t v = (uint32_t)strtoul(word, &end, 16);

		if (*end)
			return false;
		memcpy(bytes + 4 * w, &v, 4);
	}
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, ip, sizeof(ip)))
		return false;
	*zero = port == 0;
	for (size_t i = 0; i < hexlen / 2; i++)
		*zero &= bytes[i] == 0;
	int k = snprintf(out, cap, v6 ? "[%s]:%lu" : "%s:%lu", ip, port);

	return k > 0 && (size_t)k < cap;
}

bool wait_net_line(const char *line, bool v6, uint64_t inode, char *out, size_t cap)
{
	char loc[80], rem[80], l[64], r[64];
	unsigned st;
	unsigned long long ino;
	bool lz, rz;

	if (sscanf(line, " %*s %79s %79s %x %*s %*s %*s %*s %*s %llu", loc, rem, &st, &ino) != 4 || ino != inode)
		return false;
	if (!net_endpoint(loc, v6, l, sizeof(l), &lz) || !net_endpoint(rem, v6, r, sizeof(r), &rz))
		return false;
	int k = rz ? snprintf(out, cap, "%s", l) : snprintf(out, cap, "%s -> %s", l, r);

	return k > 0 && (size_t)k < cap;
}

bool wait_unix_line(const char *line, uint64_t inode, char *out, size_t cap)
{
	unsigned long long ino;
	int pos = 0;

	if (sscanf(line, " %*s %*s %*s %*s %*s %*s %llu%n", &ino, &pos) != 1 || ino != inode)
		return false;
	const char *p = line + pos;

	while (*p == ' ')
		p++;
	size_t len = strcspn(p, "\n");

	if (len >= cap)
		len = cap - 1;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}
