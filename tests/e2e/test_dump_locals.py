"""pyperf dump --locals against real interpreters: a function with known
arguments, locals, a cell and free variables, parked in time.sleep; read
live (text and JSON) and from a core file of the same process (gcore)."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import harness
from harness import Skip, params

VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "debian3.11", "3.14", "3.15"]
TARGET = os.path.join(harness.TARGETS, "dump_locals.py")


def exact(kind, name, value, type_):
    return (kind, name, re.escape(value), type_)


def expected():
    """(kind, name, value regex, type) per frame, as the target defines them."""
    big = str(3 ** 200)
    parked = [
        exact("arg", "depth", "1", "int"),
        exact("local", "seen", "'in a cell'", "str"),
        exact("free", "captured", "'in a cell'", "str"),
        exact("free", "count", "3", "int"),
    ]
    target = [
        exact("arg", "count", "3", "int"),
        exact("arg", "ratio", "0.1", "float"),
        exact("arg", "flag", "False", "bool"),
        exact("arg", "rest", "tuple(len=2) ('extra', 2.5e-07)", "tuple"),
        exact("arg", "opts", "dict(len=1) {'mode': 'fast'}", "dict"),
        exact("local", "big", "%s...%s (%d digits)" % (big[:10], big[-10:], len(big)), "int"),
        exact("local", "neg", "-12345678901234567890", "int"),
        exact("local", "text", repr("tab\there\nbell\x07 quote' caf\u00e9 \u4e2d\U0001f600 del\x7f"), "str"),
        exact("local", "long_text", "'%s...' (len=5000)" % ("ab" * 100), "str"),
        exact("local", "data", repr(b"\x00\x01bin\xff'\"\\"), "bytes"),
        exact("local", "items", "list(len=7) [1, 'two', 3.5, None, list(len=2) [4, list(len=2) [...]], ...]", "list"),
        exact("local", "table", "dict(len=3) {'a': 1, 'b': list(len=2) [2, 3], 4: None}", "dict"),
        exact("local", "members", "set(len=1) {42}", "set"),
        ("local", "obj", r"<Custom at 0x[0-9a-f]+>", "Custom"),
        exact("local", "nothing", "None", "NoneType"),
        ("local", "parked", r"<function at 0x[0-9a-f]+>", "function"),
        ("local", "unset", None, None),
        exact("cell", "captured", "'in a cell'", "str"),
    ]
    return parked, target


def text_locals(text, label):
    """The 'KIND NAME = VALUE' lines under the frame line '    label'."""
    lines = text.splitlines()
    at = [i for i, l in enumerate(lines) if l == "    " + label]
    assert len(at) == 1, "frame line %r found %d times in:\n%s" % (label, len(at), text)
    got = []
    for l in lines[at[0] + 1:]:
        if not l.startswith("        "):
            break
        m = re.match(r"^        (arg|local|cell|free) +(\S+) = (.*)$", l)
        if m:
            got.append(m.groups())
    return got


def check_text(got, want, where):
    assert len(got) == len(want), "%s: %d variables, want %d:\n%s" % (where, len(got), len(want), got)
    for g, (kind, name, value, _) in zip(got, want):
        assert g[0] == kind and g[1] == name, "%s: %s, want %s %s" % (where, g, kind, name)
        if value is None:
            assert g[2] == "<unset>", "%s: %s" % (where, g)
        else:
            assert re.fullmatch(value, g[2]), "%s: %s = %s, want %s" % (where, name, g[2], value)


def check_json(frame, want, where):
    got = frame.get("locals")
    assert got is not None and "locals_error" not in frame, "%s: %s" % (where, frame)
    assert [(v["kind"], v["name"]) for v in got] == [(k, n) for k, n, _, _ in want], "%s: %s" % (where, got)
    for v, (kind, name, value, type_) in zip(got, want):
        assert v["type"] == type_, "%s: %s has type %r, want %r" % (where, name, v["type"], type_)
        if value is None:
            assert v["value"] is None, "%s: %s" % (where, v)
        else:
            assert re.fullmatch(value, v["value"]), "%s: %s = %r, want %s" % (where, name, v["value"], value)


def check_dump(args, version, lines, where):
    parked, target = expected()
    qual = not version.startswith("3.") or int(version.split(".")[1]) >= 11
    parked_label = "%s (%s:%d)" % ("target.<locals>.parked" if qual else "parked", TARGET, lines["sleep"])
    target_label = "target (%s:%d)" % (TARGET, lines["call-parked"])
    text = harness.run_pyperf(["dump", "--locals"] + args).stdout
    check_text(text_locals(text, parked_label), parked, where + " text, parked")
    check_text(text_locals(text, target_label), target, where + " text, target")
    doc = json.loads(harness.run_pyperf(["dump", "--locals", "--json"] + args).stdout)
    frames = {f["label"]: f for t in doc["threads"] for f in t["frames"]}
    check_json(frames[parked_label], parked, where + " json, parked")
    check_json(frames[target_label], target, where + " json, target")
    # Without --locals: no "locals" key, the same frames.
    plain = json.loads(harness.run_pyperf(["dump", "--json"] + args).stdout)
    assert not any("locals" in f for t in plain["threads"] for f in t["frames"])


@params(VERSIONS)
def test_dump_locals(version):
    argv = harness.need_interpreter(version)
    lines = harness.marker_lines(TARGET)
    # absolute path: the frames' file names are compared as given
    p = harness.start(argv + [TARGET], ready_marker="ready")
    try:
        check_dump(["-p", str(p.pid)], version, lines, version + " live")
        gcore = shutil.which("gcore")
        if not gcore:
            raise Skip("live checked; gcore (gdb) is not installed, core file not checked")
        with tempfile.TemporaryDirectory() as tmp:
            prefix = os.path.join(tmp, "core")
            r = subprocess.run([gcore, "-o", prefix, str(p.pid)], capture_output=True, text=True, timeout=120)
            core = "%s.%d" % (prefix, p.pid)
            assert r.returncode == 0 and os.path.exists(core), "gcore failed: %s" % r.stderr[-2000:]
            check_dump(["--core", core], version, lines, version + " core")
    finally:
        harness.stop(p)
