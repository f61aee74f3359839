# A parent that forks one child (os.fork) and execs another (subprocess),
# each compressing with zlib (time in libz) in its own function for the
# given seconds, while the parent spins in Python; then all exit.
#   native_family.py [SECONDS]
# The exec'd child runs the JSON argv in $NATIVE_FAMILY_ARGV (an interpreter
# that needs a wrapper, like Debian sid's), else sys.executable.
# Lines marked "# L:name" are looked up by the tests; keep the markers.
import json
import os
import random
import subprocess
import sys
import time
import zlib

SECONDS = float(sys.argv[-1]) if len(sys.argv) > 1 and sys.argv[-1][:1].isdigit() else 1.5
rng = random.Random(18)
ZDATA = bytes(rng.getrandbits(8) & 0x3f for _ in range(1 << 16))


def compress_for(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        zlib.compress(ZDATA, 6)  # L:compress


def forked_zlib():
    compress_for(SECONDS)  # L:forked


def execed_zlib():
    compress_for(SECONDS)  # L:execed


def parent_spin():
    end = time.monotonic() + SECONDS
    x = 0
    while time.monotonic() < end:
        x += 1  # L:parent


if __name__ == "__main__":
    if "exec-child" in sys.argv[1:]:
        execed_zlib()
        sys.exit(0)
    pid = os.fork()
    if pid == 0:
        forked_zlib()
        os._exit(0)
    argv = json.loads(os.environ.get("NATIVE_FAMILY_ARGV") or "null") or [sys.executable]
    child = subprocess.Popen(argv + [__file__, "exec-child", str(SECONDS)])
    parent_spin()
    os.waitpid(pid, 0)
    sys.exit(child.wait())
