/*
 * Launch mode: the command to profile is started held before its exec,
 * released once sampling runs, and waited for until it runs CPython.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sampler/session_impl.h"

/*
 * Launch mode: fork the command, holding it before exec on a pipe until
 * sampling runs; returns the write end that releases it, or -1.
 */
static int spawn_held(struct session *r)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC)) {
		session_err(r, "failed to create a pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	sigset_t stop, old;

	/* SIGINT/SIGTERM wait until the handler knows whom to pass them to. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, &old);
	r->child = fork();
	if (r->child == 0) {
		char go;

		close(fds[1]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (read(fds[0], &go, 1) != 1)
			_exit(127); /* pyperf gave up before starting it */
		execvp(r->cfg.command[0], r->cfg.command);
		session_err(r, "failed to run %s: %s\n", r->cfg.command[0], strerror(errno));
		_exit(127);
	}
	int err = errno;

	if (r->child > 0)
		session_forward_signals(r->child);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(fds[0]);
	if (r->child < 0) {
		session_err(r, "failed to fork: %s\n", strerror(err));
		close(fds[1]);
		return -1;
	}
	return fds[1];
}

/* Exit status of the launched command, shell style. */
int session_child_status(struct session *r, bool wait)
{
	int status;
	pid_t got;

	if (r->child <= 0)
		return -1;
	/* Polled, so that a second signal (the user insisting) ends the wait
	 * even when it comes just before a wait would start. */
	for (;;) {
		got = waitpid(r->child, &status, WNOHANG);
		if (got != 0 || !wait || session_stop_count >= 2)
			break;
		struct timespec ts = { 0, 20000000 }; /* 20 ms; a signal cuts it short */

		nanosleep(&ts, NULL);
	}
	if (got != r->child)
		return -1;
	r->child = -r->child; /* reaped */
	session_forward_signals(0);
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
			session_err(r, "%s\n", err);
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

int session_launch(struct session *r, int *status)
{
	*status = -1;
	if (session_stop_signal)
		return -1; /* interrupted while the sampler loaded: nothing to start */
	int go = spawn_held(r);

	if (go < 0)
		return -1;
	/* Its timer before it runs: every thread and image after inherit it. */
	if (sampler_follow_child(r, r->child)) {
		close(go); /* it exits without running */
		return -1;
	}
	/* Sampling is armed: let the command exec. */
	if (write(go, "g", 1) != 1) {
		session_err(r, "failed to start %s\n", r->cfg.command[0]);
		close(go);
		return -1;
	}
	close(go);
	return wait_for_interpreter(r, status);
}

bool session_child_running(const struct session *r)
{
	return r->child > 0;
}
