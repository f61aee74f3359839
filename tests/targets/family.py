# A parent that forks one child (os.fork) and execs another (subprocess),
# each burning CPU in its own function for the given seconds, then exits.
import os
import subprocess
import sys
import time

SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 1.5


def spin(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1
    return x


def forked_child():
    spin(SECONDS)  # L:forked


def execed_child():
    spin(SECONDS)  # L:execed


def parent():
    spin(SECONDS)  # L:parent


if len(sys.argv) > 1 and sys.argv[1] == "exec-child":
    execed_child()
    sys.exit(0)
pid = os.fork()
if pid == 0:
    forked_child()
    os._exit(0)
child = subprocess.Popen([sys.executable, __file__, "exec-child", str(SECONDS)])
parent()
os.waitpid(pid, 0)
child.wait()
