"""Shared helpers for end-to-end tests (imported by tests/run.py)."""
import glob
import os
import re
import signal
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
TARGETS = os.path.join(ROOT, "tests", "targets")
# End-to-end tests run the sanitizer build so memory errors fail tests.
PYPERF = os.environ.get("PYPERF", os.path.join(BUILD, "pyperf-asan"))

_children = []


class Skip(Exception):
    """Raised by a test that cannot run here; the message says why."""


def params(values):
    """Decorator: run the test once per value (shown in the test name)."""
    def wrap(fn):
        fn.params = list(values)
        return fn
    return wrap


def pyenv_root():
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    return root


def pyenv_python(minor):
    """Path of pyenv's python3.<minor> (shared libpython build), or None."""
    for d in sorted(glob.glob(os.path.join(pyenv_root(), "versions", "3.%d.*" % minor)), reverse=True):
        exe = os.path.join(d, "bin", "python3.%d" % minor)
        if os.access(exe, os.X_OK):
            return exe
    return None


SID_PYTHON = os.path.join(ROOT, "tests", "helpers", "sid-python.sh")
SID_VERSIONS = ("3.14", "3.15")
_sid_state = {}


def sid_available(version):
    """Fetch Debian sid's interpreters once per run; None if available, else why not."""
    if "fetched" not in _sid_state:
        p = subprocess.run([SID_PYTHON, "fetch"], capture_output=True, text=True, timeout=900)
        _sid_state["fetched"] = p.returncode == 0
        _sid_state["why"] = (p.stderr.strip().splitlines() or ["sid-python.sh fetch failed"])[-1]
    if not _sid_state["fetched"]:
        return _sid_state["why"]
    have = subprocess.run([SID_PYTHON, "versions"], capture_output=True, text=True).stdout.split()
    return None if version in have else "Debian sid has no CPython %s package" % version


# Interpreters tests run against: name -> argv prefix (a list) or None.
def interpreter(name):
    """name: '3.12' (pyenv, shared libpython), 'debian3.11' (static), or
    '3.14'/'3.15' (Debian sid's, run through the unpacked dynamic loader)."""
    if name in SID_VERSIONS:
        return None if sid_available(name) else [SID_PYTHON, "run", name]
    if name.startswith("debian"):
        exe = "/usr/bin/python" + name[len("debian"):]
        return [exe] if os.access(exe, os.X_OK) else None
    minor = int(name.split(".")[1])
    exe = pyenv_python(minor)
    return [exe] if exe else None


def need_interpreter(name):
    argv = interpreter(name)
    if argv is None:
        if name in SID_VERSIONS:
            raise Skip("Python %s unavailable: %s" % (name, sid_available(name)))
        raise Skip("Python %s is not installed here" % name)
    return argv


def start(argv, ready_marker=None, timeout=30, env=None, **kw):
    """Start a target; if ready_marker is given, wait until it prints that line."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, **kw)
    _children.append(p)
    if ready_marker:
        deadline = time.monotonic() + timeout
        while True:
            line = p.stdout.readline()
            if not line:
                err = p.stderr.read()
                raise AssertionError("target exited before ready: %s" % err[-2000:])
            if ready_marker in line:
                break
            if time.monotonic() > deadline:
                raise AssertionError("target not ready in %ds" % timeout)
    return p


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def cleanup():
    """Stops every target still running (run.py: after each test, so a
    test that failed before stopping its target does not load the next)."""
    while _children:
        try:
            stop(_children.pop())
        except Exception:
            pass


def run_pyperf(args, timeout=120, check=True, **kw):
    p = subprocess.run([PYPERF] + list(args), capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("pyperf %s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(args), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p


def parse_folded(text):
    """Folded text -> list of (frames list, count). Raises on malformed lines."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^(.*) (\d+)$", line)
        assert m, "malformed folded line: %r" % line
        out.append((m.group(1).split(";"), int(m.group(2))))
    return out


def share(stacks, pred):
    """Fraction of samples whose stack satisfies pred(frames)."""
    total = sum(c for _, c in stacks)
    assert total > 0, "no samples"
    return sum(c for f, c in stacks if pred(f)) / total


def unescape_frame(s):
    """Inverse of pyperf's folded escaping (flamegraph/folded.h)."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in "\\;":
                out.append(n)
                i += 2
                continue
            if n in "nrt":
                out.append({"n": "\n", "r": "\r", "t": "\t"}[n])
                i += 2
                continue
            if n == "x" and i + 3 < len(s):
                out.append(chr(int(s[i + 2:i + 4], 16)))
                i += 4
                continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_folded_escaped(text):
    """Folded text with escaped names -> list of (frames, count), names unescaped."""
    stacks = []
    for line in text.split("\n"):
        if not line:
            continue
        body, _, count = line.rpartition(" ")
        frames, cur, i = [], [], 0
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body):
                cur.append(body[i:i + 2])
                i += 2
                continue
            if body[i] == ";":
                frames.append(unescape_frame("".join(cur)))
                cur = []
            else:
                cur.append(body[i])
            i += 1
        frames.append(unescape_frame("".join(cur)))
        stacks.append((frames, int(count)))
    return stacks


def marker_lines(path):
    """{'name': line, ...} from '# L:name' markers in a target file."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            m = re.search(r"# L:([\w-]+)", line)
            if m:
                out[m.group(1)] = n
    return out
