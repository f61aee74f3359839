"""What pyperf says when the kernel refuses it a process although it runs as
root: the refusal is not about privileges then, and "run as root" would send
the user the wrong way."""
import os
import shutil
import subprocess
import sys

import harness
from harness import Skip

# A Python process that makes itself non-dumpable, as setuid programs and
# some sandboxes do: only CAP_SYS_PTRACE in the initial user namespace may
# read it then.
NOT_DUMPABLE = """
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
    raise SystemExit("prctl failed: %d" % ctypes.get_errno())
print("ready", flush=True)
time.sleep(100)
"""


def _in_child_userns(argv):
    """Runs argv as root of a new user namespace (root there has no
    CAP_SYS_PTRACE over processes of the initial one)."""
    return subprocess.run(["unshare", "--user", "--map-root-user"] + argv, capture_output=True, text=True,
                          timeout=60)


def test_other_user_namespace():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise Skip("needs root and unshare")
    probe = _in_child_userns(["true"])
    if probe.returncode != 0:
        raise Skip("cannot make a user namespace here: " + probe.stderr.strip())
    t = harness.start([sys.executable, "-c", NOT_DUMPABLE], ready_marker="ready")
    try:
        runs = [["record", "-p", str(t.pid), "-d", "1", "-o", "/tmp/na.folded"], ["dump", "-p", str(t.pid)]]
        results = [_in_child_userns([harness.PYPERF] + args) for args in runs]
    finally:
        harness.stop(t)
    for args, p in zip(runs, results):
        err = p.stderr.strip()
        assert p.returncode == 1, (args, p.returncode, err)
        assert len(err.splitlines()) == 1, err
        assert err.startswith("pyperf %s: not allowed to inspect PID %d: " % (args[0], t.pid)), err
        assert "outside pyperf's user namespace" in err and "initial user namespace" in err, err
        assert "run as root" not in err, err
        assert "AddressSanitizer" not in p.stderr
