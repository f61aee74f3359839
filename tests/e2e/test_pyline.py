"""user/python/pyline.c against the interpreters themselves.

tests/targets/linetable_truth.py dumps, for every code object of a varied
module, the line table and PyCode_Addr2Line()'s answer for every byte
offset (cross-checked with co_lines() and live frames' f_lineno), and
build/tests/test_pyline --check decodes every one of them.
"""
import os
import re
import subprocess
import tempfile

import harness

# pyenv's, Debian's own 3.11 (static), and Debian sid's through
# tests/helpers/sid-python.sh (a later 3.13 patch release, 3.14, 3.15).
VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "debian3.11",
            "sid3.13", "sid3.14", "sid3.15"]

SOURCES = ["tests/unit/test_pyline.c", "user/python/pyline.c", "user/python/pyline.h"]
SID = os.path.join(harness.ROOT, "tests", "helpers", "sid-python.sh")
_sid_versions = None


def _sid_available():
    """Versions sid-python.sh can run, after one `fetch` per test run."""
    global _sid_versions
    if _sid_versions is None:
        if not os.access(SID, os.X_OK):
            _sid_versions = "tests/helpers/sid-python.sh is missing"
        else:
            p = subprocess.run([SID, "fetch"], capture_output=True, text=True, timeout=1800)
            if p.returncode != 0:
                _sid_versions = "sid-python.sh fetch exited %d: %s" % (
                    p.returncode, (p.stderr.strip().splitlines() or ["?"])[-1])
            else:
                v = subprocess.run([SID, "versions"], capture_output=True, text=True, timeout=60)
                _sid_versions = v.stdout.split()
    return _sid_versions


def interpreter_argv(name):
    """argv prefix running interpreter `name` (see VERSIONS), or raise Skip."""
    if name.startswith("sid"):
        ver = name[len("sid"):]
        avail = _sid_available()
        if isinstance(avail, str):
            raise harness.Skip("Python %s from Debian sid: %s" % (ver, avail))
        if ver not in avail:
            raise harness.Skip("Python %s is not in Debian sid's fetched set (%s)"
                               % (ver, " ".join(avail) or "none"))
        return [SID, "run", ver]
    return harness.need_interpreter(name)


def expected_minor(name):
    return int(re.search(r"3\.(\d+)$", name).group(1))


def driver(binary, sources):
    """build/tests/<binary>; `make unit` builds it, (re)built here when
    missing or older than its sources."""
    path = os.path.join(harness.BUILD, "tests", binary)
    newest = max(os.path.getmtime(os.path.join(harness.ROOT, s)) for s in sources)
    if not os.access(path, os.X_OK) or os.path.getmtime(path) < newest:
        p = subprocess.run(["make", "--no-print-directory", "build/tests/" + binary],
                           cwd=harness.ROOT, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise AssertionError("cannot build %s:\n%s%s" % (binary, p.stdout[-2000:], p.stderr[-2000:]))
    return path


def run_target(name, script, timeout=300):
    """Run tests/targets/<script> under interpreter `name`; its stdout as a temp file path."""
    argv = interpreter_argv(name) + [os.path.join(harness.TARGETS, script)]
    fd, path = tempfile.mkstemp(prefix="pyperf-%s-" % script.split(".")[0], suffix=".txt")
    try:
        with os.fdopen(fd, "w") as out:
            p = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except BaseException:
        os.unlink(path)
        raise
    if p.returncode != 0:
        os.unlink(path)
        raise AssertionError("%s under %s exited %d:\n%s" % (script, name, p.returncode, p.stderr[-4000:]))
    return path


def check(binary, sources, dump):
    p = subprocess.run([driver(binary, sources), "--check", dump], capture_output=True, text=True, timeout=600)
    report = p.stdout + p.stderr
    if p.returncode != 0:
        raise AssertionError("%s --check exited %d:\n%s" % (binary, p.returncode, report[-6000:]))
    return report


def field(report, key):
    m = re.search(r"\b%s[ =](-?\d+)" % re.escape(key), report)
    assert m, "no %r in driver output:\n%s" % (key, report)
    return int(m.group(1))


@harness.params(VERSIONS)
def test_linetable_matches_interpreter(name):
    dump = run_target(name, "linetable_truth.py")
    try:
        report = check("test_pyline", SOURCES, dump)
    finally:
        os.unlink(dump)
    # The right interpreter ran and the dump is the one we meant.
    m = re.search(r"^version ([0-9a-f]+) format (\S+)", report, re.M)
    assert m, report
    version = int(m.group(1), 16)
    assert (version >> 24, (version >> 16) & 0xff) == (3, expected_minor(name)), report
    assert field(report, "mismatches") == 0, report
    assert field(report, "codes") >= 60, report
    assert field(report, "frames") >= 20, report
    # Every offset of every code object is checked, except in the one
    # whose table and code are both huge (the long function): there the driver checks a
    # budgeted sample of line changes and offsets (see CHECK_BUDGET).
    assert field(report, "offsets") >= 8000, report
    assert field(report, "sampled-codes") <= 1, report
    assert field(report, "max-line") > 9000000, report
    # Every encoding feature actually occurred in the tables checked.
    minor = expected_minor(name)
    want = ["negative-delta"]
    if minor <= 10:
        want += ["zero-length", "split-jump"]
        if minor == 10:
            want += ["no-line-128"]
            assert field(report, "no-line") > 0, report
    else:
        want += ["short-form", "one-line-form", "no-column-form", "long-form", "no-location",
                 "varint-2-chunks", "varint-5-chunks"]
        assert field(report, "no-line") > 0, report
    for feature in want:
        assert field(report, feature) > 0, "no %s in the tables:\n%s" % (feature, report)
