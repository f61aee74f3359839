/*
 * The sampling session behind record and top: creating and freeing one,
 * what the commands may read of it, and the poll that drives it. The
 * jobs it glues sit in files of their own (listed in session_impl.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

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
		session_err(r, "out of memory\n");
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
		.samples = r->samples, .unresolved = r->unresolved, .hidden = r->hidden,
		.not_gil_wait = r->not_gil_wait,
	};
}

void session_on_sample(struct session *r, session_sample_fn *fn, void *ctx)
{
	r->on_sample = fn;
	r->on_sample_ctx = ctx;
}

int session_poll(struct session *r, int timeout_ms)
{
	/* The kernel side wakes us only when much is waiting, so the poll
	 * mostly times out: then take what arrived meanwhile. */
	int n = ring_buffer__poll(r->rb, timeout_ms);
	int m = ring_buffer__consume(r->rb);

	discover_open_deferred(r);
	if (r->npending)
		session_pending_tick(r);
	revalidate_tick(r);

	if (n < 0)
		return n;
	return m < 0 ? m : n + m;
}

void session_stop_sampling(struct session *r)
{
	sampler_detach(r);
	/* Samples already in the ring buffer still count. */
	if (r->rb)
		ring_buffer__consume(r->rb);
	if (r->cfg.mode != MODE_CPU && r->skel)
		offcpu_flush_blocked(r);
	discover_open_deferred(r);
}
