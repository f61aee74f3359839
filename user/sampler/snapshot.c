/*
 * dump --native's samples of running threads: a short session of the
 * sampler in CPU mode with --native on the one process, keeping the first
 * stack seen of each wanted thread.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampler/session.h"
#include "sampler/snapshot.h"

/* Fast enough that a thread on a CPU is caught within milliseconds; the
 * session lasts well under a second. */
#define SNAPSHOT_HZ 4999

struct catch {
	struct snapshot_stack *out;
	size_t n, left;
	struct frametab *from, *to;
	bool nomem;
};

/* label of the session's table -> the same label in the caller's. */
static const char *reintern(struct frametab *from, struct frametab *to, const char *label)
{
	const struct frame_meta *m = frametab_meta(from, label);

	if (!m)
		return frametab_pseudo(to, label);
	switch (m->kind) {
	case FRAME_PYTHON:
		return frametab_python(to, m->name, m->file, m->line, m->firstline);
	case FRAME_NATIVE:
	case FRAME_KERNEL:
		return frametab_native(to, m->name, m->file, m->address, m->build_id, m->kind == FRAME_KERNEL);
	default:
		return frametab_pseudo(to, label);
	}
}

static void on_sample(void *ctx, const struct count_entry *ce)
{
	struct catch *c = ctx;
	const struct stack_entry *st = ce->stack;

	if (!st->nlabels || c->nomem)
		return;
	for (size_t i = 0; i < c->n; i++) {
		struct snapshot_stack *s = &c->out[i];

		if ((uint32_t)s->tid != ce->tid || s->n)
			continue;
		s->labels = calloc(st->nlabels, sizeof(*s->labels));
		if (!s->labels) {
			c->nomem = true;
			return;
		}
		for (uint32_t k = 0; k < st->nlabels; k++) {
			/* stack_entry labels are root first */
			const char *l = reintern(c->from, c->to, st->labels[st->nlabels - 1 - k]);

			if (!l) {
				c->nomem = true;
				return;
			}
			s->labels[k] = l;
		}
		s->n = st->nlabels;
		c->left--;
		return;
	}
}

int snapshot_running(pid_t pid, struct snapshot_stack *out, size_t n, struct frametab *tab, double timeout_s,
		     char *err, size_t errlen)
{
	struct session_config cfg = {
		.hz = SNAPSHOT_HZ, .mode = MODE_CPU, .native = true, .per_thread = true, .who = "pyperf dump",
	};
	struct catch c = { .out = out, .n = n, .left = n, .to = tab };
	int ret = -1;

	if (!n)
		return 0;
	struct session *s = session_new(&cfg);

	if (!s) {
		snprintf(err, errlen, "cannot start the sampler");
		return -1;
	}
	if (session_open_target(s, pid, err, errlen) != 0)
		goto out;
	c.from = session_labels(s);
	session_on_sample(s, on_sample, &c);
	if (session_load(s) || session_attach(s)) {
		snprintf(err, errlen, "cannot start the sampler (see above)");
		goto out;
	}
	double end = session_now() + timeout_s;

	while (c.left && !c.nomem && session_now() < end) {
		int e = session_poll(s, 10);

		if (e < 0 && e != -EINTR) {
			snprintf(err, errlen, "failed to read samples: %s", strerror(-e));
			goto out;
		}
	}
	session_stop_sampling(s);
	if (c.nomem) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ret = 0;
out:
	session_free(s);
	return ret;
}

void snapshot_free(struct snapshot_stack *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].labels);
}
