/*
 * What a thread waits on, for pyperf dump: decoded from the system call it
 * is blocked in (number and arguments: /proc/PID/task/TID/syscall for a
 * live thread, the registers of NT_PRSTATUS in a core), refined by its
 * innermost Python frames (a futex under Condition.wait is a condition, not
 * a bare lock) and by the target's memory (the lock object behind a futex,
 * an RLock's owner, a sleep's deadline). The decoding here is pure and unit
 * tested; the /proc look-ups (file descriptors, sockets, epoll sets) are in
 * waits_proc.c; python/thread_waits.c applies both to dump's threads.
 */
#ifndef PYPERF_WAITS_H
#define PYPERF_WAITS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "target/memsrc.h"

/* Where a thread is, in the kernel's terms. */
enum wait_where {
	WHERE_UNKNOWN,              /* not readable (permissions, gone) */
	WHERE_RUNNING,              /* on a CPU or runnable: no syscall to show */
	WHERE_SYSCALL,              /* blocked (or about to) in syscall nr */
	WHERE_USER,                 /* stopped outside a syscall (a core's faulting thread) */
};

struct wait_regs {
	enum wait_where where;
	long nr;                    /* x86_64 syscall number when WHERE_SYSCALL */
	uint64_t arg[6];            /* rdi rsi rdx r10 r8 r9 */
	uint64_t sp, pc;            /* 0 when unknown */
};

/* Parses the text of /proc/PID/task/TID/syscall ("running", "-1 SP PC" or
 * "NR A0 .. A5 SP PC"). false when it is none of these. */
bool wait_regs_parse(const char *text, struct wait_regs *r);

enum wait_kind {
	WK_UNKNOWN,
	WK_RUNNING,
	WK_GIL,                     /* futex inside the GIL's state */
	WK_SLEEP,                   /* time.sleep: clock_nanosleep, nanosleep, an fd-less select/poll */
	WK_LOCK,                    /* a futex: Lock.acquire, RLock.acquire (refined below) */
	WK_CONDITION,               /* threading.Condition.wait */
	WK_EVENT,                   /* threading.Event.wait */
	WK_QUEUE,                   /* queue.Queue.get */
	WK_SEMAPHORE,               /* threading.Semaphore.acquire */
	WK_JOIN,                    /* threading.Thread.join */
	WK_READ,                    /* read, recv*, readv, pread */
	WK_WRITE,                   /* write, send*, writev, pwrite */
	WK_ACCEPT,
	WK_CONNECT,
	WK_SELECT,                  /* select, pselect6 */
	WK_POLL,                    /* poll, ppoll */
	WK_EPOLL,                   /* epoll_wait, epoll_pwait, epoll_pwait2 */
	WK_CHILD,                   /* wait4, waitid */
	WK_SYSCALL,                 /* another syscall */
	WK_STOPPED,                 /* outside a syscall in a core (the thread that faulted) */
};

/* The JSON name of a kind ("gil", "sleep", "lock", ...). */
const char *wait_kind_name(enum wait_kind k);
/* The name of an x86_64 syscall pyperf decodes ("futex", ...), or NULL. */
const char *wait_syscall_name(long nr);

/* The kind the syscall alone gives; a futex in [gil_lo, gil_hi) is the GIL. */
enum wait_kind wait_syscall_kind(const struct wait_regs *r, uint64_t gil_lo, uint64_t gil_hi);

/* The file descriptor a kind's syscall works on, or -1. */
int wait_syscall_fd(const struct wait_regs *r, enum wait_kind k);

/*
 * A futex wait told apart by the innermost Python frames (names: qualname on
 * 3.11+, co_name before; files: co_filename), innermost first: under
 * threading's Condition.wait it is a condition, and the frame that called
 * Condition.wait says whether it is an Event, a Queue or a Semaphore; Thread
 * joins wait in Thread.join (or _wait_for_tstate_lock). Else WK_LOCK.
 */
enum wait_kind wait_refine_futex(const char *const *names, const char *const *files, size_t n);

/*
 * Sleeps: the seconds left (clock_nanosleep with TIMER_ABSTIME, 3.11+: the
 * deadline from the target's memory minus now on that clock; live only, a
 * core keeps no clock) or requested (a relative sleep: nanosleep, and the
 * fd-less select of 3.8-3.10, whose timeout the kernel reads at entry).
 * Returns 1 for "left", 2 for "requested", 0 when unknown.
 */
int wait_sleep_seconds(const struct memsrc *m, const struct wait_regs *r, bool live, double *secs);

/* select/pselect6 and poll/ppoll: how many descriptors are watched (from
 * the fd sets or the pollfd array in the target's memory), and the first
 * one; -1 when unreadable. */
int wait_watched_fds(const struct memsrc *m, const struct wait_regs *r, enum wait_kind k, int *first_fd);

/* A Python lock object found behind a futex. */
struct wait_lock {
	uint64_t obj;               /* the _thread.lock / _thread.RLock object, 0 unknown */
	bool rlock;
	uint64_t owner_ident;       /* an RLock's owner (thread ident, pthread_t), 0 none */
	uint64_t parked_on;         /* 3.13+: the address parked on (PyMutex, PyEvent) */
	/* The variable of one of the thread's innermost frames that refers to
	 * obj, and that frame's function; "" when none does */
	char var[64];
	char var_func[96];
};

/*
 * The lock object a thread blocked in a futex waits for.
 * 3.13+ parking lot (futex on the waiter's stack, within stack_window of sp):
 * the wait entry names the address parked on, which is a lock object's
 * PyMutex when the object around it is a lock.
 * 3.8-3.13 semaphores: the futex is the semaphore a lock object points to;
 * the object is found among the words of the waiting thread's C stack (the
 * C acquire function keeps it across the call) and the extra words (a
 * core's callee-saved registers): a word w with *(w+16) == futex whose type
 * is _thread.lock or _thread.RLock. Returns 0 when something was found.
 */
int wait_find_lock(const struct memsrc *m, uint32_t version_hex, uint64_t futex, uint64_t sp,
		   const uint64_t *extra, size_t nextra, struct wait_lock *out);

/* "127.0.0.1:43210 -> 10.1.2.3:5432" (or "0.0.0.0:8080" when listening,
 * rem all zero) from a line of /proc/net/tcp, tcp6, udp or udp6 whose
 * inode is `inode`; false when the line is not that socket. */
bool wait_net_line(const char *line, bool v6, uint64_t inode, char *out, size_t cap);
/* The path of a /proc/net/unix line with that inode ("" when unnamed). */
bool wait_unix_line(const char *line, uint64_t inode, char *out, size_t cap);

/* What pyperf dump says a thread waits on (python/thread_waits.c). */
struct thread_wait {
	enum wait_kind kind;
	char text[384];             /* the description; "" when nothing is known */
	long nr;                    /* the syscall, -1 none */
	uint64_t futex;             /* futex kinds: its address */
	struct wait_lock lock;      /* lock kinds: the object behind the futex */
	int32_t blocker_tid;        /* the thread it waits for (GIL holder, RLock owner), 0 unknown */
	int fd;                     /* the descriptor read, written, polled; -1 none */
	char fd_desc[256];          /* "TCP socket A -> B", "pipe", "file PATH", ... */
	int nfds;                   /* select, poll, epoll: descriptors watched; -1 unknown */
	int secs_kind;              /* sleeps: 1 secs left, 2 secs requested, 0 unknown */
	double secs;
};

/* ---- live processes (python/waits_proc.c) ---- */

/* /proc/PID/task/TID/syscall into r; false when unreadable. */
bool wait_regs_read(pid_t pid, int32_t tid, struct wait_regs *r);

/* What descriptor fd of pid is: "socket 127.0.0.1:43210 -> 10.1.2.3:5432",
 * "unix socket PATH", "pipe", "file PATH", or "fd N (LINK)"; out gets "fd N"
 * when it cannot be read. Returns 's' for a socket, 'p' a pipe, 'f' a file,
 * 0 otherwise. */
int wait_fd_describe(pid_t pid, int fd, char *out, size_t cap);

/* How many descriptors an epoll instance watches (its fdinfo's tfd: lines);
 * -1 when unreadable. */
int wait_epoll_count(pid_t pid, int epfd);

#endif
