/*
 * The sampling session behind record and top: creating and freeing one,
 * what the commands may read of it, and the poll that drives it. The
 * jobs it glues sit in files of their own (listed in session_impl.h).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "sampler/async.h"
#include "sampler/session_impl.h"

volatile sig_atomic_t session_stop_signal;
volatile sig_atomic_t session_stop_count;
static volatile sig_atomic_t forward_to;  /* launch mode: the command's PID while it runs */

void session_err(const struct session *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", r->cfg.who ? r->cfg.who : "pyperf");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

double session_now(void)
{
	return (double)monotonic_ns() / 1e9;
}

/*
 * A terminal's Ctrl-C reaches its whole foreground process group, a
 * launched command with pyperf (the kernel sends it: SI_KERNEL). A signal
 * sent to pyperf alone (kill, systemd) is passed on to the command, as a
 * shell passes one on to its foreground job.
 */
static void on_signal(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno;

	(void)uctx;
	session_stop_signal = sig;
	if (session_stop_count < 2)
		session_stop_count++;
	if (forward_to > 0 && si && si->si_code != SI_KERNEL)
		kill((pid_t)forward_to, sig);
	errno = saved;
}

void session_install_signals(void)
{
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	session_stop_signal = 0;
	session_stop_count = 0;
}

void session_forward_signals(pid_t pid)
{
	forward_to = pid;
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
	if (r->cfg.mode != MODE_OFFCPU)
		sampler_clamp_hz(r);
	/* calloc left every map empty (a zeroed u64map is one); the label
	 * table has an init of its own. */
	frametab_init(&r->labels);
	/* frames, native ones + a flag frame, [gc], a stop, process and thread roots */
	/* room for native frames, or for --async's task frames */
	r->label_buf = malloc((PYPERF_MAX_FRAMES + PYPERF_MAX_NATIVE + ASYNC_MAX_CHAIN + 8) * sizeof(*r->label_buf));
	if (!r->label_buf) {
		session_err(r, "out of memory\n");
		session_free(r);
		return NULL;
	}
	if (native_init(r)) {
		session_free(r);
		return NULL;
	}
	return r;
}

void session_free(struct session *r)
{
	if (!r)
		return;
	sampler_unload(r);
	aggregate_free(r);
	procs_free(r);
	native_free(r);
	discover_free(r);
	frametab_free(&r->labels);
	free(r->label_buf);
	free(r);
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
		.samples = r->samples, .unresolved = r->unresolved, .unread = r->unread, .hidden = r->hidden, .gil_samples = r->gil_samples,
		.not_gil_wait = r->not_gil_wait,
		.async_in_task = r->async_in_task, .async_no_task = r->async_no_task, .async_waits = r->async_waits,
		.async_passes = r->async_passes,
		.async_pass_ns = r->async_passes ? r->async_pass_ns / r->async_passes : 0,
	};
}

void session_on_event(struct session *r, session_event_fn *fn, void *ctx)
{
	r->on_event = fn;
	r->on_event_ctx = ctx;
}

void session_on_sample(struct session *r, session_sample_fn *fn, void *ctx)
{
	r->on_sample = fn;
	r->on_sample_ctx = ctx;
}

/* Records read between two looks at the clock: a look costs less than a
 * record, but not nothing. */
#define READ_CLOCK_EVERY 16
#define READ_TIME_UP (-ETIME)
/* Reading what is left once sampling stopped: a part of the 100 ms
 * within which -d is kept. */
#define STOP_READ_NS 50000000ull

int session_read_record(void *ctx, void *data, size_t size)
{
	struct session *r = ctx;
	const struct sample_event *ev = data;

	if (r->read_skip) {
		/* what aggregate_event would count as a sample */
		if (size >= sizeof(*ev) && (ev->kind == EVENT_CPU || ev->kind == EVENT_OFFCPU) &&
		    !(r->cfg.gil_wait && ev->kind == EVENT_OFFCPU && ev->reason != WAIT_GIL)) {
			r->samples++;
			r->unread++;
		}
		return 0;
	}
	aggregate_event(r, data, size);
	if (r->read_count++ % READ_CLOCK_EVERY)
		return 0;
	uint64_t now = monotonic_ns();

	if (!r->read_until_ns)
		r->read_until_ns = now + r->read_budget_ns;
	if (now < r->read_until_ns)
		return 0;
	r->read_time_up = true;
	return READ_TIME_UP; /* libbpf stops at a negative return, this record consumed */
}

/* Reads records for at most budget_ns from the first one; what is left
 * waits in the ring buffer for the next read. */
static int read_ring(struct session *r, int timeout_ms, uint64_t budget_ns)
{
	r->read_budget_ns = budget_ns;
	r->read_until_ns = 0;
	r->read_count = 0;
	r->read_time_up = false;
	/* The kernel side wakes us only when much is waiting, so the poll
	 * mostly times out: then take what arrived meanwhile. */
	int n = ring_buffer__poll(r->rb, timeout_ms);
	int m = n == READ_TIME_UP ? 0 : ring_buffer__consume(r->rb);

	if (n < 0 && n != READ_TIME_UP)
		return n;
	if (m < 0 && m != READ_TIME_UP)
		return m;
	return r->read_count > INT_MAX ? INT_MAX : (int)r->read_count;
}

int session_poll(struct session *r, int timeout_ms)
{
	/* As long to read as to wait: the caller looks at its clock at
	 * least that often whatever the load. */
	int n = read_ring(r, timeout_ms, (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000ull);

	discover_open_deferred(r);
	if (r->npending)
		session_pending_tick(r);
	revalidate_tick(r);
	native_tick(r);
	async_tick(r, false);
	rate_probe_tick(r, false);
	sampler_follow_tick(r);
	remote_sync(r);
	return n;
}

void session_stop_sampling(struct session *r)
{
	rate_probe_tick(r, true); /* while samples still come */
	sampler_detach(r);
	/* Samples already in the ring buffer still count, but the end must
	 * not wait for a backlog the host was too busy to read: what is
	 * left after a while is counted, unread. */
	if (r->rb)
		read_ring(r, 0, STOP_READ_NS);
	if (r->rb && r->read_time_up) {
		r->read_skip = true;
		ring_buffer__consume(r->rb);
		r->read_skip = false;
	}
	if (r->cfg.mode != MODE_CPU && r->skel)
		offcpu_flush_blocked(r);
	async_tick(r, true); /* the tasks' waits up to now */
	discover_open_deferred(r);
}
