/* native_merge_order (user/native/nmerge.c): Python frames put in place of
 * the evaluation function's native frames. Stacks are written root first
 * as "N6 P4 S ...": Nj native[j], Pk py[k], S the stop mark. */
#include <stdio.h>
#include <string.h>

#include "native/nmerge.h"
#include "pyperf.h"
#include "unit.h"

#define MAXN 64

/* A packed Python frame k (leaf first), entry-marked or not. */
static uint64_t pyframe(unsigned k, bool entry)
{
	uint64_t code = 0x7f0000001000ull + 0x100ull * k;

	return (code << 16) | (entry ? PYPERF_FRAME_ENTRY : 0) | 5;
}

/* entries: "e.e" marks py[0] and py[2]; evals: ".e.e" marks native[1], [3]. */
static const char *merge(const char *entries, const char *evals, bool stopped, size_t cap)
{
	static char text[512];
	uint64_t py[MAXN];
	bool eval[MAXN];
	struct merge_item out[MAXN + 1];
	size_t npy = strlen(entries), nn = strlen(evals), o = 0;

	for (size_t k = 0; k < npy; k++)
		py[k] = pyframe((unsigned)k, entries[k] == 'e');
	for (size_t j = 0; j < nn; j++)
		eval[j] = evals[j] == 'e';
	memset(out, 0xa5, sizeof(out));
	size_t n = native_merge_order(py, npy, eval, nn, stopped, out, cap);

	text[0] = '\0';
	for (size_t i = 0; i < n && o < sizeof(text) - 16; i++) {
		const char *tag = out[i].kind == MERGE_PY ? "P" : out[i].kind == MERGE_NATIVE ? "N" : "S";

		if (out[i].kind == MERGE_STOP)
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%sS", i ? " " : "");
		else
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s%u", i ? " " : "", tag,
					      (unsigned)out[i].index);
	}
	/* Nothing written past what was returned (nor past cap). */
	CHECK(n <= cap);
	CHECK(out[n].kind == 0xa5 && out[n].index == 0xa5a5a5a5u);
	return text;
}

int main(void)
{
	/* 3.12: C leaf (N0) called from Python P0 (entered from C N2 by eval
	 * N1), P0's caller chain P1, P2 entered from N4 by eval N3, P3, P4
	 * entered by eval N5 from main N6. Python -> C -> Python -> C -> Python. */
	CHECK_STR(merge("e.e.e", ".e.e.e.", false, MAXN), "N6 P4 P3 N4 P2 P1 N2 P0 N0");
	/* The same with the root Python frame unmarked: the last segment ends
	 * at the root all the same. */
	CHECK_STR(merge("e.e..", ".e.e.e.", false, MAXN), "N6 P4 P3 N4 P2 P1 N2 P0 N0");
	/* Two entries, leaf in Python (the interrupted pc in eval). */
	CHECK_STR(merge("..e.e", "e.e.", false, MAXN), "N3 P4 P3 N1 P2 P1 P0");

	/* 3.10: every Python frame is an entry, one eval frame each. */
	CHECK_STR(merge("eee", ".eee.", false, MAXN), "N4 P2 P1 P0 N0");

	/* Stopped at N2: the Python segment it did not reach goes root-most,
	 * then the stop mark, then the native part. */
	CHECK_STR(merge("..e..", ".e.", true, MAXN), "P4 P3 S N2 P2 P1 P0 N0");
	/* Stopped with every segment placed: the stop mark is the root. */
	CHECK_STR(merge("..e", ".e.", true, MAXN), "S N2 P2 P1 P0 N0");

	/* More segments than eval frames, not stopped: leftovers root-most,
	 * no stop mark. */
	CHECK_STR(merge("..e..", ".e.", false, MAXN), "P4 P3 N2 P2 P1 P0 N0");

	/* More eval frames than segments: the root-side eval frame stays. */
	CHECK_STR(merge("..", ".e.e.", false, MAXN), "N4 N3 N2 P1 P0 N0");

	/* A C thread: no Python frames. */
	CHECK_STR(merge("", ".e.", false, MAXN), "N2 N1 N0");
	CHECK_STR(merge("", "..", true, MAXN), "S N1 N0");

	/* No native frames: the Python ones, root first, even if "stopped". */
	CHECK_STR(merge("e..", "", false, MAXN), "P2 P1 P0");
	CHECK_STR(merge("e..", "", true, MAXN), "P2 P1 P0");
	CHECK_STR(merge("", "", true, MAXN), "");

	/* cap smaller than needed: the leaf-most cap items, root first. */
	CHECK_STR(merge("e.e.e", ".e.e.e.", false, 4), "P1 N2 P0 N0");
	CHECK_STR(merge("..e..", ".e.", true, 6), "S N2 P2 P1 P0 N0");
	CHECK_STR(merge("..e..", ".e.", true, 1), "N0");
	CHECK_STR(merge("e.e.e", ".e.e.e.", false, 0), "");
	/* npy + nnative + 1 always suffices. */
	CHECK_STR(merge("eeeee", "eeeee", true, 11), "S P4 P3 P2 P1 P0");
	UNIT_DONE();
}
