"""pyperf record -o *.pb.gz / *.pprof / *.speedscope.json against real
interpreters: pprof read back by the real `go tool pprof` (-raw, -top,
-traces) and by a small decoder here; speedscope checked against its
file-format schema (https://www.speedscope.app/file-format-schema.json,
written out by hand below) and against the folded output of a concurrent
recording of the same process."""
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile

import harness
from harness import Skip, params

VERSIONS = ["3.12", "debian3.11"]
FUNCS = {"fifty": 0.5, "thirty": 0.3, "twenty": 0.2}
TOLERANCE = 0.07
INSTALL_GO = os.path.join(harness.ROOT, "tests", "helpers", "install-go.sh")
SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
SPEEDSCOPE_UNITS = {"none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"}

_go = {}


def go_binary():
    """Path of `go`, installing Debian's golang-go once if missing; Skip if impossible."""
    if "path" not in _go:
        def find():
            return shutil.which("go") or next(
                (p for p in ("/usr/lib/go/bin/go", "/usr/local/go/bin/go") if os.access(p, os.X_OK)), None)
        path = find()
        why = ""
        if not path and os.access(INSTALL_GO, os.X_OK):
            p = subprocess.run([INSTALL_GO], capture_output=True, text=True, timeout=1800)
            why = (p.stderr.strip().splitlines() or [""])[-1]
            path = find()
        _go["path"], _go["why"] = path, why
    if not _go["path"]:
        raise Skip("go is not installed and tests/helpers/install-go.sh could not install golang-go%s"
                   % (": " + _go["why"] if _go["why"] else ""))
    return _go["path"]


def go_pprof(args, path, home):
    """Runs `go tool pprof ARGS PATH` offline with a private HOME; returns stdout."""
    env = dict(os.environ)
    env.update({
        "HOME": home,
        "GOCACHE": os.path.join(home, "gocache"),
        "GOPATH": os.path.join(home, "gopath"),
        "PPROF_TMPDIR": os.path.join(home, "pprof"),
        "GOPROXY": "off",          # nothing to download: reading a local file
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",    # a newer go must not fetch another toolchain
        "GOTELEMETRY": "off",
    })
    env.pop("PPROF_BINARY_PATH", None)
    p = subprocess.run([go_binary(), "tool", "pprof"] + list(args) + [path], capture_output=True, text=True,
                       timeout=300, env=env, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AssertionError("go tool pprof %s failed (%d):\n%s%s" % (" ".join(args), p.returncode,
                                                                      p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


def parse_pprof_raw(text):
    """`go tool pprof -raw` -> (sample type header, [(values, [loc ids leaf first])],
    {loc id: (function, file, line, start line)})."""
    samples, locs, header = [], {}, None
    section = None
    for line in text.splitlines():
        if line.startswith("Samples:"):
            section = "samples"
            continue
        if line.startswith("Locations"):
            section = "locations"
            continue
        if line.startswith("Mappings"):
            section = None
            continue
        if section == "samples":
            if header is None:
                header = line.strip()
                continue
            m = re.match(r"^\s*([\d\s]+):((?:\s+\d+)*)\s*$", line)
            if m:
                samples.append(([int(v) for v in m.group(1).split()], [int(v) for v in m.group(2).split()]))
        elif section == "locations":
            m = re.match(r"^\s*(\d+): 0x[0-9a-f]+ M=\d+ (.*) (\S*):(\d+) s=(\d+)", line)
            if m:
                locs[int(m.group(1))] = (m.group(2), m.group(3), int(m.group(4)), int(m.group(5)))
    return header, samples, locs


marker_lines = harness.marker_lines

# Long enough for a few hundred samples even when the test machine is so
# loaded that the target gets a fraction of a CPU; fewer than MIN_SAMPLES
# would make the 7-point share check a coin toss.
SECONDS = 5
MIN_SAMPLES = 150


def record(pid, outs, seconds=SECONDS, hz=499, extra=()):
    """Records pid into each output path at the same time (one pyperf per
    output, so every format covers the same seconds); returns the stderrs."""
    procs = [subprocess.Popen([harness.PYPERF, "record", "-p", str(pid), "-d", str(seconds), "-F", str(hz),
                               "-o", o] + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for o in outs]
    errs = []
    for o, p in zip(outs, procs):
        out, err = p.communicate(timeout=120)
        if p.returncode != 0:
            raise AssertionError("pyperf record -o %s exited %d\n%s%s" % (o, p.returncode, out[-2000:], err[-3000:]))
        errs.append(err)
    return errs


def check_shares(shares, what, detail=""):
    for f, want in FUNCS.items():
        assert abs(shares.get(f, 0) - want) < TOLERANCE, "%s: share of %s is %.3f, want %.2f (all: %s)\n%s" % (
            what, f, shares.get(f, 0), want, shares, detail)


# ---- speedscope schema, by hand (FileFormat.File and friends) ----

def _number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def validate_speedscope(doc):
    """Checks doc against speedscope's file-format-schema.json (required keys,
    types, enums), plus what the schema cannot say: indexes within frames,
    one weight per sample, weights summing to endValue - startValue."""
    def need(cond, msg):
        if not cond:
            raise AssertionError("speedscope schema: " + msg)
    need(isinstance(doc, dict), "file is not an object")
    for k in ("$schema", "shared", "profiles"):
        need(k in doc, "missing required %r" % k)
    need(doc["$schema"] == SPEEDSCOPE_SCHEMA, "$schema is %r" % doc["$schema"])
    if "name" in doc:
        need(isinstance(doc["name"], str), "name is not a string")
    if "exporter" in doc:
        need(isinstance(doc["exporter"], str), "exporter is not a string")
    shared = doc["shared"]
    need(isinstance(shared, dict) and isinstance(shared.get("frames"), list), "shared.frames is not an array")
    frames = shared["frames"]
    for i, fr in enumerate(frames):
        need(isinstance(fr, dict), "frame %d is not an object" % i)
        need(isinstance(fr.get("name"), str), "frame %d has no string name" % i)
        if "file" in fr:
            need(isinstance(fr["file"], str), "frame %d file is not a string" % i)
        if "line" in fr:
            need(_number(fr["line"]), "frame %d line is not a number" % i)
        if "col" in fr:
            need(fr["col"] is None or _number(fr["col"]), "frame %d col is not a number" % i)
    profiles = doc["profiles"]
    need(isinstance(profiles, list) and profiles, "profiles is not a non-empty array")
    if "activeProfileIndex" in doc and doc["activeProfileIndex"] is not None:
        need(_number(doc["activeProfileIndex"]) and 0 <= doc["activeProfileIndex"] < len(profiles),
             "activeProfileIndex out of range")
    for pi, p in enumerate(profiles):
        need(isinstance(p, dict), "profile %d is not an object" % pi)
        # The writer only makes sampled profiles: check the SampledProfile branch.
        for k in ("type", "name", "unit", "startValue", "endValue", "samples", "weights"):
            need(k in p, "profile %d misses required %r" % (pi, k))
        need(p["type"] == "sampled", "profile %d type %r" % (pi, p["type"]))
        need(isinstance(p["name"], str), "profile %d name is not a string" % pi)
        need(p["unit"] in SPEEDSCOPE_UNITS, "profile %d unit %r" % (pi, p["unit"]))
        need(_number(p["startValue"]) and _number(p["endValue"]), "profile %d start/end not numbers" % pi)
        need(p["startValue"] <= p["endValue"], "profile %d ends before it starts" % pi)
        need(isinstance(p["samples"], list) and isinstance(p["weights"], list), "samples/weights not arrays")
        need(len(p["samples"]) == len(p["weights"]), "%d samples but %d weights"
             % (len(p["samples"]), len(p["weights"])))
        for s in p["samples"]:
            need(isinstance(s, list), "a sample is not an array")
            for x in s:
                need(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < len(frames),
                     "frame index %r out of range 0..%d" % (x, len(frames) - 1))
        for w in p["weights"]:
            need(_number(w) and w >= 0, "weight %r" % (w,))
        need(sum(p["weights"]) == p["endValue"] - p["startValue"], "weights do not sum to endValue - startValue")


def load_speedscope(path):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")  # strict: the writer must emit valid UTF-8

    def no_constant(name):
        raise AssertionError("speedscope file holds %s, which is not JSON" % name)
    doc = json.loads(text, parse_constant=no_constant)
    validate_speedscope(doc)
    return doc


# ---- a small profile.proto reader, independent of go ----

def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def _fields(b):
    i = 0
    while i < len(b):
        tag, i = _varint(b, i)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 2:
            n, i = _varint(b, i)
            v = b[i:i + n]
            i += n
        else:
            raise AssertionError("unexpected wire type %d" % wire)
        yield num, v


def read_pprof(path):
    """Gzipped profile.proto -> dict of strings, functions, locations, samples."""
    with open(path, "rb") as f:
        data = gzip.decompress(f.read())
    out = {"strings": [], "functions": {}, "locations": {}, "samples": []}
    for num, v in _fields(data):
        if num == 6:
            out["strings"].append(v.decode("utf-8"))  # strict: must be valid UTF-8
        elif num == 5:
            fn = dict(_fields(v))
            out["functions"][fn[1]] = fn
        elif num == 4:
            lo = {k: w for k, w in _fields(v) if k != 4}
            lo["lines"] = [dict(_fields(w)) for k, w in _fields(v) if k == 4]
            out["locations"][lo[1]] = lo
        elif num == 2:
            s = {1: [], 2: []}
            for k, w in _fields(v):
                vals = []
                j = 0
                while j < len(w):
                    x, j = _varint(w, j)
                    vals.append(x)
                s[k] += vals
            out["samples"].append(s)
    return out


# ---- tests ----

@params(VERSIONS)
def test_pprof_go_tool(version):
    argv = harness.need_interpreter(version)
    go_binary()
    target = os.path.join(harness.TARGETS, "split.py")
    lines = marker_lines(target)
    with tempfile.TemporaryDirectory() as d:
        out_gz = os.path.join(d, "out.pb.gz")
        out_pprof = os.path.join(d, "out.pprof")
        p = harness.start(argv + [target], ready_marker="ready")
        errs = record(p.pid, [out_gz, out_pprof])
        harness.stop(p)
        with open(out_gz, "rb") as f:
            assert f.read(2) == b"\x1f\x8b", "out.pb.gz is not gzip"
        home = os.path.join(d, "home")
        os.makedirs(os.path.join(home, "pprof"))
        for path in (out_gz, out_pprof):
            raw = go_pprof(["-raw"], path, home)
            header, samples, locs = parse_pprof_raw(raw)
            assert header and header.split() == ["samples/count", "cpu/nanoseconds[dflt]"], \
                "sample types: %r\n%s" % (header, raw[:2000])
            assert "PeriodType: cpu nanoseconds" in raw, raw[:2000]
            total = sum(v[0] for v, _ in samples)
            assert total >= MIN_SAMPLES, "only %d samples\n%s" % (total, errs)
            period = int(re.search(r"^Period: (\d+)$", raw, re.M).group(1))
            assert period == 1000000000 // 499, period
            for v, ids in samples:
                assert len(v) == 2 and v[1] == v[0] * period, "values %s" % v
                assert all(i in locs for i in ids), "sample refers to unknown location: %s" % ids
            # Leaf first: the first location of each sample is its leaf.
            shares = {}
            for v, ids in samples:
                fn = locs[ids[0]][0]
                shares[fn] = shares.get(fn, 0) + v[0] / total
            check_shares(shares, "pprof -raw %s" % os.path.basename(path), raw[:3000])
            for f in FUNCS:
                fl = [(locs[ids[0]], v[0]) for v, ids in samples if locs[ids[0]][0] == f]
                assert all(l[1] == target for l, _ in fl), "file of %s: %s" % (f, fl[:3])
                good = sum(c for l, c in fl if l[2] in (lines[f + "-for"], lines[f + "-body"]))
                assert good >= 0.95 * sum(c for _, c in fl), "%s leaf lines: %s" % (f, fl[:5])
                start = {l[3] for l, _ in fl}
                assert start == {lines[f + "-for"] - 2}, "%s start line %s" % (f, start)
                # Root last: the caller is main at the call line, the root <module>.
                rows = [ids for v, ids in samples if locs[ids[0]][0] == f]
                assert all(len(ids) >= 3 and locs[ids[1]][:3] == ("main", target, lines["call-" + f])
                           and locs[ids[-1]][0] == "<module>" for ids in rows), \
                    "callers of %s: %s" % (f, [[locs[i] for i in ids] for ids in rows[:3]])
            top = go_pprof(["-top"], path, home)
            assert "Type: cpu" in top, top
            flat = {}
            for line in top.splitlines():
                m = re.match(r"^\s*\S+\s+([\d.]+)%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+(.+?)\s*$", line)
                if m:
                    flat[m.group(2)] = float(m.group(1)) / 100
            check_shares(flat, "pprof -top %s" % os.path.basename(path), top)
            assert "<module>" in flat, "no <module> in -top:\n%s" % top
            # Counts as the sample index, too: the two sample types are both there.
            top2 = go_pprof(["-top", "-sample_index=samples"], path, home)
            assert "Type: samples" in top2 and "fifty" in top2, top2
            traces = go_pprof(["-traces"], path, home)
            assert re.search(r"fifty\n\s+main\n\s+<module>", traces), traces[:2000]


@params(VERSIONS)
def test_speedscope_matches_folded(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "split.py")
    lines = marker_lines(target)
    with tempfile.TemporaryDirectory() as d:
        ss = os.path.join(d, "out.speedscope.json")
        ss2 = os.path.join(d, "other-name")
        folded = os.path.join(d, "out.folded")
        p = harness.start(argv + [target], ready_marker="ready")
        errs = record(p.pid, [ss, folded])
        # --format speedscope whatever the extension.
        harness.run_pyperf(["record", "-p", str(p.pid), "-d", "1", "-F", "199", "--format", "speedscope",
                            "-o", ss2])
        harness.stop(p)
        doc = load_speedscope(ss)
        load_speedscope(ss2)
        with open(folded) as f:
            stacks = harness.parse_folded(f.read())
    prof = doc["profiles"][0]
    frames = doc["shared"]["frames"]
    assert prof["unit"] == "nanoseconds" and prof["startValue"] == 0, prof["unit"]
    assert doc.get("exporter") == "pyperf" and doc.get("activeProfileIndex") == 0
    period = 1000000000 // 499
    assert all(w % period == 0 for w in prof["weights"]), "weights are not whole samples"
    total = prof["endValue"]
    assert total // period >= MIN_SAMPLES, "only %d samples\n%s" % (total // period, errs)
    # Frames: one per label, with file and line; stacks root first.
    for fr in frames:
        assert fr.get("file") == target and isinstance(fr.get("line"), int), fr
    labels = ["%s (%s:%d)" % (fr["name"], fr["file"], fr["line"]) for fr in frames]
    assert len(set(labels)) == len(labels), "duplicate frames: %s" % labels
    for s in prof["samples"]:
        assert frames[s[0]]["name"] == "<module>", [frames[i] for i in s]
    ss_shares = {}
    for s, w in zip(prof["samples"], prof["weights"]):
        ss_shares[frames[s[-1]]["name"]] = ss_shares.get(frames[s[-1]]["name"], 0) + w / total
        if frames[s[-1]]["name"] in FUNCS:
            f = frames[s[-1]]["name"]
            assert frames[s[-2]]["name"] == "main" and frames[s[-2]]["line"] == lines["call-" + f], \
                [frames[i] for i in s]
    fo_shares = {}
    fo_total = sum(c for _, c in stacks)
    for fr, c in stacks:
        name = fr[-1].split(" (", 1)[0]
        fo_shares[name] = fo_shares.get(name, 0) + c / fo_total
    check_shares(ss_shares, "speedscope")
    check_shares(fo_shares, "folded")
    # Both recordings watched the same seconds of the same process, but each
    # took its own samples: the difference of two estimates spreads sqrt(2)
    # times wider than one, hence 10 points rather than 7.
    for f in FUNCS:
        assert abs(ss_shares[f] - fo_shares[f]) < 0.10, "speedscope %s vs folded %s" % (ss_shares, fo_shares)
    # Every frequent folded label is a speedscope frame, spelled the same.
    fo_labels = {}
    for fr, c in stacks:
        for label in fr:
            fo_labels[label] = fo_labels.get(label, 0) + c
    for label, c in fo_labels.items():
        if c >= 0.05 * fo_total:
            assert label in labels, "folded label %r not among speedscope frames %s" % (label, labels)


# A target whose function names are hostile: separators, newlines, quotes,
# markup, non-ASCII, a long name. co_qualname (3.11+) is what pyperf shows.
HOSTILE_TARGET = r'''
import sys

NAMES = %r


def make(name):
    def spin(n):
        total = 0
        for i in range(n):
            total += i * i
        return total
    spin.__code__ = spin.__code__.replace(co_name=name, co_qualname=name)
    return spin


fns = [make(n) for n in NAMES]
print("ready", flush=True)
while True:
    for f in fns:
        f(3000)
'''

HOSTILE_NAMES = [
    "semi;colon 12",
    "new\nline\r\ttab",
    "<script>alert(\"x\")</script>",
    "quote\"back\\slash'",
    "caf\u00e9 \U0001F40D \u2028",
    "ctl\x01\x7f",
    "long_" + "x" * 600,
]


@params(VERSIONS)
def test_hostile_names(version):
    argv = harness.need_interpreter(version)
    with tempfile.TemporaryDirectory() as d:
        target = os.path.join(d, "hostile.py")
        with open(target, "w") as f:
            f.write(HOSTILE_TARGET % (HOSTILE_NAMES,))
        pb = os.path.join(d, "out.pb.gz")
        ss = os.path.join(d, "out.speedscope.json")
        title = "t\u00edtle \"<x>\"\n;"
        p = harness.start(argv + [target], ready_marker="ready")
        errs = record(p.pid, [pb, ss], seconds=3, extra=["--title", title])
        harness.stop(p)
        doc = load_speedscope(ss)
        prof = read_pprof(pb)
        top = None
        if shutil.which("go") or os.access("/usr/lib/go/bin/go", os.X_OK):
            home = os.path.join(d, "home")
            os.makedirs(os.path.join(home, "pprof"))
            top = go_pprof(["-top"], pb, home)
    names = {fr["name"] for fr in doc["shared"]["frames"]}
    missing = [n for n in HOSTILE_NAMES if n not in names]
    assert not missing, "speedscope lost names %r; has %r\n%s" % (missing, names, errs)
    assert doc["name"] == title and doc["profiles"][0]["name"] == title, doc["name"]
    strings = prof["strings"]
    assert strings[0] == "", strings[:3]
    fnames = {strings[fn[2]] for fn in prof["functions"].values()}
    missing = [n for n in HOSTILE_NAMES if n not in fnames]
    assert not missing, "pprof lost names %r; has %r" % (missing, fnames)
    assert title in strings, "title not among pprof strings"
    for fn in prof["functions"].values():
        if strings[fn[2]] in HOSTILE_NAMES:
            assert strings[fn[4]] == target, strings[fn[4]]
    # Leaf first, every id known, values [count, ns].
    for s in prof["samples"]:
        assert all(i in prof["locations"] for i in s[1]) and len(s[2]) == 2, s
    if top is not None:
        assert "semi;colon 12" in top and "<script>" in top, top
