# Loads a native library only when told to: prints "ready" having imported
# nothing that maps libbz2, waits for a line on stdin, then imports _bz2
# (which maps libbz2), prints "loaded" and compresses with it forever.
# The tests start pyperf between "ready" and the line, so the library's
# file appears after pyperf read the process's mappings.
# Lines marked "# L:name" are looked up by the tests; keep the markers.
import random
import sys

rng = random.Random(18)
DATA = bytes(rng.getrandbits(8) & 0x3f for _ in range(1 << 16))


def phase_bz2(bz2mod):
    while True:
        c = bz2mod.BZ2Compressor(9)  # L:bz2-new
        c.compress(DATA)  # L:bz2-call
        c.flush()  # L:bz2-flush


def main():
    assert "_bz2" not in sys.modules
    print("ready", flush=True)
    sys.stdin.readline()
    import _bz2
    print("loaded", flush=True)
    phase_bz2(_bz2)


if __name__ == "__main__":
    main()
