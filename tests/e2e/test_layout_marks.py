"""The layout facts behind #18's marks, read from live interpreters the way
pyperf reads them (build/tests/test_layouts --live PID: py_target_open, its
debug-offset refinement on 3.13+, pywalk):

- gc_collecting: the int interp->gc.collecting (_PyRuntime.gc.collecting on
  3.8) is 1 inside a gc callback (a collection is running) and 0 outside.
- entry marks (pywalk_frames): the frame a C call entered the evaluation loop
  with. A key function called by sorted() and a gc callback are entries, a
  Python-to-Python callee is not (3.11: _PyInterpreterFrame.is_entry; 3.12+:
  shim frames; 3.8-3.10: every frame).
"""
import json
import os
import re
import subprocess

import harness
from harness import Skip, params

ROOT = harness.ROOT
TEST_BIN = os.path.join(ROOT, "build", "tests", "test_layouts")
TARGET = os.path.join(harness.TARGETS, "layout_marks.py")
SIDPY = os.path.join(ROOT, "tests", "helpers", "sid-python.sh")

NAMES = ["3.8", "3.9", "3.10", "3.11", "debian3.11", "3.12", "3.13", "sid3.13", "3.14", "3.15"]


def argv_for(name):
    if name == "sid3.13":
        why = harness.sid_available("3.13")
        if why:
            raise Skip("Python 3.13 from Debian sid unavailable: %s" % why)
        return [SIDPY, "run", "3.13"]
    return harness.need_interpreter(name)


def live(pid):
    if not os.access(TEST_BIN, os.X_OK):
        subprocess.run(["make", "-s", "-C", ROOT, "build/tests/test_layouts"], check=True,
                       capture_output=True, timeout=600)
    p = subprocess.run([TEST_BIN, "--live", str(pid)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "test_layouts --live: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
    out = {"threads": []}
    for line in p.stdout.splitlines():
        k, _, v = line.partition("=")
        if k == "thread":
            out["threads"].append({"thread_id": int(v.split()[0]), "frames": []})
        elif k == "frame":
            code, ent = v.split()
            out["threads"][-1]["frames"].append((int(code, 16), int(ent.split("=")[1])))
        else:
            out[k] = v
    return out


def next_stop(p):
    line = p.stdout.readline()
    if not line:
        raise AssertionError("target exited: %s" % p.stderr.read()[-3000:])
    return json.loads(line)


def check_stop(name, stop, got, collecting, entries):
    """The main thread's frames (code, entry) as pyperf read them against the
    target's own stack; entries: the expected entry mark of each frame."""
    where = "%s at %s" % (name, stop["phase"])
    assert got.get("gc_collecting") == str(collecting), "%s: gc.collecting %s, want %d (offset %s%s)" % (
        where, got.get("gc_collecting"), collecting, got.get("gc_collecting_offset"),
        " in _PyRuntime" if got.get("gc_in_runtime") == "1" else "")
    th = [t for t in got["threads"] if t["thread_id"] == stop["ident"]]
    assert len(th) == 1, "%s: thread %d among %s" % (where, stop["ident"], got["threads"])
    frames = th[0]["frames"]
    assert [c for c, _ in frames] == [c for _, c in stop["frames"]], "%s: frames %s, want %s" % (
        where, [hex(c) for c, _ in frames], stop["frames"])
    marks = [e for _, e in frames]
    assert marks == entries, "%s: entry marks %s, want %s for %s" % (
        where, marks, entries, [n for n, _ in stop["frames"]])


@params(NAMES)
def test_gc_collecting_and_entry_marks(name):
    argv = argv_for(name)
    p = subprocess.Popen(argv + [TARGET], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    harness._children.append(p)
    try:
        stop = next_stop(p)
        got = live(p.pid)
        minor = int(got["version"], 16) >> 16 & 0xff
        every = minor <= 10  # 3.8-3.10: each frame its own evaluation call
        assert (got["frame_is_entry"] != "65535") == (minor == 11), got
        assert (got["from_debug_offsets"] == "1") == (minor >= 13), got
        assert not got["warning"], got["warning"]
        # report <- key (called by sorted) <- outer <- <module>
        assert [n for n, _ in stop["frames"]] == ["report", "key", "outer", "<module>"], stop
        check_stop(name, stop, got, 0, [1, 1, 1, 1] if every else [0, 1, 0, 1])
        p.stdin.write("\n")
        p.stdin.flush()
        stop = next_stop(p)
        # report <- callback (called by the collector) <- collect <- <module>
        assert [n for n, _ in stop["frames"]] == ["report", "callback", "collect", "<module>"], stop
        check_stop(name, stop, live(p.pid), 1, [1, 1, 1, 1] if every else [0, 1, 0, 1])
        p.stdin.write("\n")
        p.stdin.flush()
        stop = next_stop(p)
        assert [n for n, _ in stop["frames"]] == ["report", "<module>"], stop
        check_stop(name, stop, live(p.pid), 0, [1, 1] if every else [0, 1])
        p.stdin.write("\n")
        p.stdin.flush()
        assert p.wait(timeout=60) == 0, p.stderr.read()[-3000:]
    finally:
        harness.stop(p)


def test_every_entry_sets_the_marks():
    """0 is a valid offset, so an entry that leaves the fields out would mean
    offset 0: every generated entry names both, and 3.8 alone has its GC
    state in _PyRuntime."""
    with open(os.path.join(ROOT, "layouts", "layouts_table.c")) as f:
        text = f.read()
    entries = re.findall(r"\{ \.version_hex = 0x([0-9a-f]{8}), \.flags = 0x([0-9a-f]+),(.*?)\n\t\},", text, re.S)
    assert entries, "no entries parsed"
    for hexv, flags, body in entries:
        minor = int(hexv, 16) >> 16 & 0xff
        fie = re.search(r"\.frame_is_entry = (PY_OFF_NONE|\d+),", body)
        gcc = re.search(r"\.gc_collecting = (PY_OFF_NONE|\d+),", body)
        assert fie and gcc, "0x%s: frame_is_entry or gc_collecting not set" % hexv
        assert (fie.group(1) != "PY_OFF_NONE") == (minor == 11), (hexv, fie.group(1))
        assert gcc.group(1) != "PY_OFF_NONE", hexv
        assert bool(int(flags, 16) & 0x100) == (minor == 8), (hexv, flags)  # PYL_GC_IN_RUNTIME
        assert "pad1" not in body, hexv
