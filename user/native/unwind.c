/*
 * Unwinding a thread's native stack (see native.h).
 *
 * Registers: a core file has all of them (NT_PRSTATUS). A live thread is not
 * stopped, so only what the kernel shows without stopping it is available:
 * /proc/PID/task/TID/syscall gives the stack and instruction pointers of a
 * thread blocked in the kernel (the case dump is for), "running" otherwise.
 *
 * Unwinding: the call frame information in each file's .eh_frame (DWARF CFI,
 * which compilers emit for every function whether or not it keeps a frame
 * pointer: Debian's glibc and CPython builds do not keep one), interpreted
 * by cfi.c for x86_64; where a pc has no CFI and rbp is known, the
 * frame-pointer chain (rbp -> saved rbp, return address). Every read is of
 * target memory through struct memsrc, every loop is bounded, the stack
 * pointer must grow at each step, and an unwind that cannot go on stops with
 * a reason rather than guessing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native/cfi.h"
#include "native/modules.h"
#include "native/native.h"
#include "target/coredump.h"

void native_stack_free(struct native_stack *ns)
{
	free(ns->frames);
	ns->frames = NULL;
	ns->n = 0;
}

/* ---------------------------------------------------------- registers */

static int live_regs(struct native_ctx *c, int32_t tid, struct cfi_regs *rs, char *why, size_t whylen)
{
	char path[96], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)c->pid, (int)tid);
	f = fopen(path, "re");
	if (!f) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	if (strncmp(line, "running", 7) == 0) {
		snprintf(why, whylen, "thread was running: its registers cannot be read without stopping it");
		return 1;
	}
	/* "NR ARG1 .. ARG6 SP PC" in a syscall, "-1 SP PC" when blocked outside one. */
	char *tok[9];
	int n = 0;

	for (char *save = NULL, *t = strtok_r(line, " \n", &save); t && n < 9; t = strtok_r(NULL, " \n", &save))
		tok[n++] = t;
	if (n != 9 && n != 3) {
		snprintf(why, whylen, "unexpected contents of %.100s", path);
		return -1;
	}
	memset(rs, 0, sizeof(*rs));
	rs->v[CFI_REG_RSP] = strtoull(tok[n - 2], NULL, 16);
	rs->v[CFI_REG_RA] = strtoull(tok[n - 1], NULL, 16);
	rs->known[CFI_REG_RSP] = rs->known[CFI_REG_RA] = true;
	return 0;
}

static int core_regs(struct native_ctx *c, int32_t tid, struct cfi_regs *rs, char *why, size_t whylen)
{
	const struct core_thread *t = coredump_thread_by_tid(c->core, tid);

	if (!t) {
		snprintf(why, whylen, "the core has no registers for thread %d", (int)tid);
		return -1;
	}
	memset(rs, 0, sizeof(*rs));
	const struct { int r; uint64_t v; } set[] = {
		{ CFI_REG_RA, t->regs.rip }, { CFI_REG_RSP, t->regs.rsp }, { CFI_REG_RBP, t->regs.rbp },
		{ CFI_REG_RBX, t->regs.rbx }, { CFI_REG_R12, t->regs.r12 }, { CFI_REG_R13, t->regs.r13 },
		{ CFI_REG_R14, t->regs.r14 }, { CFI_REG_R15, t->regs.r15 },
	};

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		rs->v[set[i].r] = set[i].v;
		rs->known[set[i].r] = true;
	}
	return 0;
}


/* ------------------------------------------------------------- unwind */

/* One step with CFI: regs of the caller of the frame at rs. 0 ok, 1 end of
 * stack (return address undefined), -1 failure (why set). */
static int cfi_step(struct native_ctx *nc, struct module *m, const struct cfi_fde *f, uint64_t pc_link,
		    struct cfi_regs *rs, bool *signal_frame, char *why, size_t whylen)
{
	struct cfi_cie ci;
	struct cfi_row row;
	struct cfi_regs out;
	uint64_t cfa, bad_addr = 0;
	enum cfi_status st = cfi_find_row(&m->eh, f, pc_link, &row, &ci);

	if (st == CFI_OK)
		st = cfi_frame_address(&row, rs, &nc->mem, &cfa);
	if (st == CFI_OK)
		st = cfi_apply_rules(&row, &ci, cfa, rs, &nc->mem, &out, &bad_addr);
	switch (st) {
	case CFI_OK:
		*signal_frame = ci.signal_frame;
		*rs = out;
		return 0;
	case CFI_OUTERMOST:
		return 1;
	case CFI_MALFORMED:
		snprintf(why, whylen, "malformed call frame information in %.100s", m->path);
		break;
	case CFI_UNSUPPORTED:
		snprintf(why, whylen, "unsupported call frame information in %.100s", m->path);
		break;
	case CFI_EXPR_FAILED:
		snprintf(why, whylen, "cannot evaluate the frame address in %.100s", m->path);
		break;
	case CFI_NO_CFA_REG:
		snprintf(why, whylen, "frame address needs a register not recovered (%u) in %.80s",
			 (unsigned)row.cfa_reg, m->path);
		break;
	case CFI_RA_UNREADABLE:
		snprintf(why, whylen, "return address unreadable at 0x%" PRIx64, bad_addr);
		break;
	case CFI_RA_UNKNOWN:
		snprintf(why, whylen, "return address not recovered in %.100s", m->path);
		break;
	}
	return -1;
}

int native_unwind(struct native_ctx *c, int32_t tid, struct native_stack *out)
{
	struct cfi_regs rs;
	char *why = out->why;
	size_t whylen = sizeof(out->why);
	bool signal_frame = true; /* the innermost pc is exact, not a return address */
	int r;

	memset(out, 0, sizeof(*out));
	if (tid <= 0) {
		snprintf(why, whylen, "thread id unknown");
		return -ENOENT;
	}
	r = c->core ? core_regs(c, tid, &rs, why, whylen) : live_regs(c, tid, &rs, why, whylen);
	if (r)
		return r > 0 ? -EBUSY : -EAGAIN;
	out->frames = calloc(NATIVE_MAX_FRAMES, sizeof(*out->frames));
	if (!out->frames) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		if (out->n >= NATIVE_MAX_FRAMES) {
			snprintf(why, whylen, "deeper than %d native frames", NATIVE_MAX_FRAMES);
			break;
		}
		uint64_t pc = rs.v[CFI_REG_RA];

		if (!pc)
			break;
		/* A return address points after the call: look up the call. */
		uint64_t lookup = signal_frame ? pc : pc - 1;
		struct native_frame *nf = &out->frames[out->n++];

		nf->pc = pc;
		symbols_describe(c, nf, lookup);
		const struct mapping *mp = find_mapping(c, lookup);
		struct module *m = mp ? load_module(c, mp->module) : NULL;
		const struct cfi_fde *f = m ? cfi_find_fde(m->fdes, m->nfdes, lookup - m->bias) : NULL;
		uint64_t old_sp = rs.v[CFI_REG_RSP];
		bool was_signal = signal_frame;

		signal_frame = false;
		if (!mp) {
			if (out->n > 1)
				out->n--; /* not code: the previous step went astray */
			snprintf(why, whylen, "pc 0x%" PRIx64 " is outside every mapped file", pc);
			break;
		}
		if (f) {
			r = cfi_step(c, m, f, lookup - m->bias, &rs, &signal_frame, why, whylen);
			if (r == 1)
				break; /* outermost frame */
			if (r < 0)
				break;
		} else if (rs.known[CFI_REG_RBP] && rs.v[CFI_REG_RBP] > old_sp && !(rs.v[CFI_REG_RBP] & 7)) {
			/* No CFI here: follow the frame pointer. */
			uint64_t fp = rs.v[CFI_REG_RBP], saved[2];

			if (memsrc_read(&c->mem, fp, saved, sizeof(saved))) {
				snprintf(why, whylen, "frame pointer chain unreadable at 0x%" PRIx64, fp);
				break;
			}
			rs.v[CFI_REG_RBP] = saved[0];
			rs.v[CFI_REG_RA] = saved[1];
			rs.v[CFI_REG_RSP] = fp + 16;
		} else {
			snprintf(why, whylen, "no unwind information for pc 0x%" PRIx64 " in %.80s", pc,
				 c->mods[mp->module].path);
			break;
		}
		if (!rs.known[CFI_REG_RSP] || (rs.v[CFI_REG_RSP] <= old_sp && !was_signal && !signal_frame)) {
			snprintf(why, whylen, "stack pointer did not grow at pc 0x%" PRIx64 ": stopped", pc);
			break;
		}
	}
	return 0;
}
