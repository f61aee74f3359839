/*
 * Revalidation of cached code objects: an address freed by one code object
 * can be reused by another, which the caches would name after the old one.
 */
#include <stdbool.h>
#include <stdint.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pyperf.skel.h"
#include "sampler/session_impl.h"

/* Code objects are checked again every 100 ms in a process that loaded a
 * new one in the last 5 s (it compiles code: reuse is likely; not with -a),
 * else every 10 s; REVALIDATE_CODES a look. A look costs ~0.65 us per piece read
 * (header, name, filename: 3 per code object), ~0.2 ms for 100 code
 * objects: every second for 50 processes would be half of -a's budget. */
#define REVALIDATE_EVERY_NS 100000000ull
#define REVALIDATE_QUIET_NS 10000000000ull
#define REVALIDATE_CHURN_NS 5000000000ull
#define REVALIDATE_CODES 512
/* Renewals rebuild a process's stacks (the old ones stay until a reset):
 * a burst of RENEW_BURST, then one per RENEW_REFILL_NS, so code churning
 * for hours cannot grow memory without bound. */
#define RENEW_BURST 8
#define RENEW_REFILL_NS 5000000000ull

/*
 * Code objects are known by address, and an address freed by one can be
 * reused by another (exec or compile in a loop): the symbolizer's cache
 * and the stacks already symbolized would lend the new one the old one's
 * name. Each process's cached code objects are checked again in small
 * slices (REVALIDATE_CODES every REVALIDATE_EVERY_NS: 64Ki code objects,
 * the cache's cap, in about 13 s; a usual few hundred at every look). When
 * one went stale, the symbolizer forgets it, and the process gets a new
 * generation, which is a new stack seed in the kernel: its stacks get new
 * ids, their frames are sent again and symbolized afresh. Counts already
 * taken keep the stacks of their time; those go at the next reset.
 */
static void renew_generation(struct session *r, struct session_proc *p)
{
	__u32 key = (__u32)p->target.pid;
	uint64_t gen = r->generations + 1;
	struct py_proc bp = procs_kernel_entry(p, gen);

	if (u64map_put(&r->dead, p->generation, 1))
		return; /* out of memory: tried again at the next look */
	/* BPF_EXIST: an entry the exec hook just deleted stays deleted. */
	if (bpf_map_update_elem(bpf_map__fd(r->skel->maps.procs), &key, &bp, BPF_EXIST)) {
		u64map_del(&r->dead, p->generation);
		return;
	}
	r->generations = gen;
	p->prev_generation = p->generation;
	p->generation = gen;
	r->renewals++;
}

/* Takes one renewal token, if any is left. */
static bool renewal_allowed(struct session_proc *p, uint64_t now)
{
	uint64_t window = RENEW_BURST * RENEW_REFILL_NS;

	if (!p->renew_at_ns || now - p->renew_at_ns > window)
		p->renew_at_ns = now - window; /* a full bucket */
	if (now - p->renew_at_ns < RENEW_REFILL_NS)
		return false;
	p->renew_at_ns += RENEW_REFILL_NS;
	return true;
}

static void revalidate_codes(struct session *r)
{
	uint64_t now = monotonic_ns();

	void *v;

	for (size_t it = 0; u64map_next_ptr(&r->procs, &it, NULL, &v);) {
		struct session_proc *p = v;
		struct symbolizer_stats st;

		symbolizer_stats(p->sym, &st);
		if (st.code_objects != p->code_objects) {
			p->code_objects = st.code_objects;
			p->last_new_code_ns = now;
			if (!r->cfg.all && p->next_check_ns > now + REVALIDATE_EVERY_NS)
				p->next_check_ns = now + REVALIDATE_EVERY_NS;
		}
		if (now < p->next_check_ns)
			continue;
		/* -a keeps to the slow pace: over dozens of processes warming
		 * up the fast one costs about as much as the rest of -a. */
		bool churn = !r->cfg.all && now - p->last_new_code_ns < REVALIDATE_CHURN_NS;

		p->next_check_ns = now + (churn ? REVALIDATE_EVERY_NS : REVALIDATE_QUIET_NS);
		int dropped = symbolizer_revalidate(p->sym, REVALIDATE_CODES);

		/* A full cache starts over: stacks symbolized before may name
		 * code objects it no longer checks. */
		symbolizer_stats(p->sym, &st);
		if ((dropped > 0 || st.cache_flushes != p->cache_flushes) && renewal_allowed(p, now))
			renew_generation(r, p);
		p->cache_flushes = st.cache_flushes;
	}
}

void revalidate_arm(struct session *r)
{
	if (!r->next_revalidate_ns)
		r->next_revalidate_ns = monotonic_ns() + REVALIDATE_EVERY_NS;
}

void revalidate_tick(struct session *r)
{
	if (r->procs.len && monotonic_ns() >= r->next_revalidate_ns) {
		revalidate_codes(r);
		r->next_revalidate_ns = monotonic_ns() + REVALIDATE_EVERY_NS;
	}
}
