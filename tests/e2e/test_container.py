"""A Python process in its own mount and PID namespaces, at a path that exists only there."""
import os
import shutil
import subprocess
import tempfile

import harness
from harness import Skip

INSIDE = r'''
set -e
mount -t tmpfs none /mnt
mkdir -p /mnt/inside
cp /usr/bin/python3.11 /mnt/inside/pyinside
cp "$TARGET" /mnt/inside/app.py
exec /mnt/inside/pyinside /mnt/inside/app.py contained_spin
'''


def start_contained():
    if not shutil.which("unshare") or not os.access("/usr/bin/python3.11", os.X_OK):
        raise Skip("needs unshare and Debian's static /usr/bin/python3.11")
    env = dict(os.environ, TARGET=os.path.join(harness.TARGETS, "named_spin.py"))
    p = harness.start(["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", INSIDE],
                      ready_marker="ready", env=env)
    # The interpreter is unshare's grandchild: find it by its path inside.
    for _ in range(50):
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.readlink("/proc/%s/exe" % pid) == "/mnt/inside/pyinside":
                        return p, int(pid)
                except OSError:
                    pass
    raise AssertionError("contained interpreter not found")


def check(stacks, pid, err):
    mine = [(fr, c) for fr, c in stacks if any(x.startswith("contained_spin (/mnt/inside/app.py:") for x in fr)]
    assert sum(c for _, c in mine) > 20, "contained process missing or unnamed:\n%s\n%s" % (stacks[:3], err)
    return mine


def test_container_by_pid():
    p, pid = start_contained()
    assert not os.path.exists("/mnt/inside/pyinside")  # only inside its namespace
    try:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "c.folded")
            r = harness.run_pyperf(["record", "-p", str(pid), "-d", "2", "-F", "199", "-o", out])
            with open(out) as f:
                check(harness.parse_folded(f.read()), pid, r.stderr)
    finally:
        harness.stop(p)


def test_container_in_all_mode():
    p, pid = start_contained()
    try:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "c.folded")
            r = harness.run_pyperf(["record", "-a", "-d", "2", "-F", "199", "-o", out])
            with open(out) as f:
                mine = check(harness.parse_folded(f.read()), pid, r.stderr)
            # Host PIDs, as the host sees them.
            assert {fr[0] for fr, _ in mine} == {"process %d" % pid}, {fr[0] for fr, _ in mine}
    finally:
        harness.stop(p)
