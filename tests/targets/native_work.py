# Three phases, each about a third of one CPU, run in turn forever in one
# thread: zlib.compress (time in libz), hashlib.sha256 (time in libcrypto or
# the _sha2 module) and sorted(key=a Python function) (time in the C sort and
# in the Python key function it calls back). Each phase's repeat count is
# calibrated at start-up so that one pass of each takes about PHASE_SECONDS;
# "ready" is printed once calibrated and warm.
# Lines marked "# L:name" are looked up by the tests; keep the markers.
#
#   native_work.py            run forever
#   native_work.py --measure  print each phase's share of 3 s of work and exit
import hashlib
import os
import random
import sys
import time
import zlib

PHASE_SECONDS = 0.03

rng = random.Random(18)
# Incompressible-ish: random bytes with a little structure, so deflate does
# its full search (random data alone makes it give up early on some builds).
ZDATA = bytes(rng.getrandbits(8) & 0x3f for _ in range(1 << 16))
HDATA = os.urandom(1 << 18)
SDATA = [rng.random() for _ in range(5000)]


def key_of(x):
    # Enough Python work per call that samples land in this frame, not
    # only in the call machinery around it.
    k = x
    for _ in range(4):
        k = k * 0.5 + 0.25  # L:key-body
    return -k


def phase_zlib(n):
    for _ in range(n):
        zlib.compress(ZDATA, 6)  # L:zlib-call


def phase_hash(n):
    for _ in range(n):
        hashlib.sha256(HDATA).digest()  # L:hash-call


def phase_sort(n):
    for _ in range(n):
        sorted(SDATA, key=key_of)  # L:sort-call


PHASES = (phase_zlib, phase_hash, phase_sort)


def calibrate():
    """Repeat counts giving each phase about PHASE_SECONDS of CPU; the
    fastest of a few tries, so a busy machine does not skew one phase."""
    counts = []
    for phase in PHASES:
        best = None
        for _ in range(5):
            t0 = time.thread_time()
            phase(1)
            dt = time.thread_time() - t0
            best = dt if best is None else min(best, dt)
        counts.append(max(1, round(PHASE_SECONDS / max(best, 1e-6))))
    return counts


def main():
    counts = calibrate()
    if "--measure" in sys.argv:
        spent = [0.0] * len(PHASES)
        end = time.monotonic() + 3
        while time.monotonic() < end:
            for i, phase in enumerate(PHASES):
                t0 = time.thread_time()
                phase(counts[i])
                spent[i] += time.thread_time() - t0
        total = sum(spent)
        print(" ".join("%s=%.3f" % (p.__name__, s / total) for p, s in zip(PHASES, spent)),
              "counts=%s" % counts)
        return
    for i, phase in enumerate(PHASES):  # warm
        phase(counts[i])
    print("ready", flush=True)
    while True:
        phase_zlib(counts[0])  # L:call-zlib
        phase_hash(counts[1])  # L:call-hash
        phase_sort(counts[2])  # L:call-sort


if __name__ == "__main__":
    main()
