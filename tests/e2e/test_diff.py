"""pyperf diff: folded inputs built by hand for the exact cases (identical
profiles all neutral, a share doubled flagged with both shares right, a
function gone or new marked, unequal sample counts normalised, a small change
within noise), the SVG checked in headless chromium (colours, dashed new
frames, hover shows both values, the gone list), errors; and two real
recordings of a target whose grow() triples its work, read back from pprof
and from a directory of --every period files."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import harness
import test_flamegraph as fg
import test_flamegraph_browser as fgb
from harness import params

BEFORE = [
    (["main (app.py:1)", "work (app.py:5)"], 200),
    (["main (app.py:1)", "idle (app.py:9)"], 500),
    (["main (app.py:1)", "stable (app.py:12)"], 100),
    (["main (app.py:1)", "old (app.py:20)"], 150),
    (["main (app.py:1)", "small (app.py:30)"], 50),
]
# twice the samples: work's share doubles (20% -> 40%), idle's falls (50% ->
# 30%), stable's stays (10%: 100 -> 200 samples), small moves within noise
# (5% -> 5.2%), old is gone, fresh is new; work moved a line (same function)
AFTER = [
    (["main (app.py:1)", "work (app.py:6)"], 800),
    (["main (app.py:1)", "idle (app.py:9)"], 600),
    (["main (app.py:1)", "stable (app.py:12)"], 200),
    (["main (app.py:1)", "small (app.py:30)"], 104),
    (["main (app.py:1)", "fresh (app.py:40)"], 296),
]

ROW = re.compile(r"^\s*([-+\d.%]+)\s+([-+\d.%]+)\s+([-+\d.]+)\s+([-+\d.%]+)\s+([-+\d.%]+)\s+([-+\d.]+)\s+"
                 r"(grew|shrank|new|gone|noise)\s+(.*)$")


def table(text):
    """The text output's rows: function -> (self before, after, change, total
    before, after, change, verdict), values as numbers (shares in %)."""
    rows = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            vals = [float(v.rstrip("%")) for v in m.groups()[:6]]
            rows[m.group(8)] = tuple(vals) + (m.group(7),)
    return rows


def write(d, name, stacks):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(fg.folded_bytes(stacks))
    return path


def test_diff_folded_cases():
    d = tempfile.mkdtemp(prefix="pyperf-diff-")
    try:
        before = write(d, "before.folded", BEFORE)
        after = write(d, "after.folded", AFTER)

        # identical inputs: every function within noise
        p = harness.run_pyperf(["diff", before, before])
        rows = table(p.stdout)
        assert len(rows) == 6, p.stdout
        assert all(r[6] == "noise" and r[2] == 0 and r[5] == 0 for r in rows.values()), p.stdout
        assert "0 grew, 0 shrank, 0 new, 0 gone, 6 within noise" in p.stdout, p.stdout
        assert "two-proportion z-test" in p.stdout and "99% confidence" in p.stdout, p.stdout

        p = harness.run_pyperf(["diff", before, after, "--top", "0"])
        rows = table(p.stdout)
        assert rows["work (app.py)"] == (20.0, 40.0, 20.0, 20.0, 40.0, 20.0, "grew"), p.stdout
        assert rows["idle (app.py)"] == (50.0, 30.0, -20.0, 50.0, 30.0, -20.0, "shrank"), p.stdout
        assert rows["stable (app.py)"][:6] == (10.0, 10.0, 0, 10.0, 10.0, 0), p.stdout
        assert rows["stable (app.py)"][6] == "noise", p.stdout
        assert rows["small (app.py)"][6] == "noise", p.stdout
        assert rows["old (app.py)"] == (15.0, 0, -15.0, 15.0, 0, -15.0, "gone"), p.stdout
        assert rows["fresh (app.py)"] == (0, 14.8, 14.8, 0, 14.8, 14.8, "new"), p.stdout
        assert rows["main (app.py)"][3:] == (100.0, 100.0, 0, "noise"), p.stdout
        # significant first, the largest change first
        names = [n for n in rows]
        assert names.index("idle (app.py)") < names.index("small (app.py)"), p.stdout
        # --top and -o FILE.txt
        out = os.path.join(d, "diff.txt")
        harness.run_pyperf(["diff", "--top", "2", before, after, "-o", out])
        with open(out) as f:
            text = f.read()
        assert len(table(text)) == 2 and "... 5 more functions" in text, text
        # --lines: work at line 5 is gone and work at line 6 is new
        rows = table(harness.run_pyperf(["diff", "--lines", "--top", "0", before, after]).stdout)
        assert rows["work (app.py:5)"][6] == "gone" and rows["work (app.py:6)"][6] == "new", rows

        # errors: one line each, exit 1 (2 for usage)
        p = harness.run_pyperf(["diff", "--per-second", before, after], check=False)
        assert p.returncode == 1 and "--per-second needs" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        svg = os.path.join(d, "x.svg")
        harness.run_pyperf(["flamegraph", "-o", svg, before])
        p = harness.run_pyperf(["diff", before, svg], check=False)
        assert p.returncode == 1 and "SVG" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        p = harness.run_pyperf(["diff", before], check=False)
        assert p.returncode == 2, p.stderr
        p = harness.run_pyperf(["diff", "--confidence", "42", before, after], check=False)
        assert p.returncode == 2, p.stderr

        # the SVG, in a browser when there is one
        svg = os.path.join(d, "diff.svg")
        harness.run_pyperf(["diff", before, after, "-o", svg])
        with open(svg) as f:
            text = f.read()
        assert "two-proportion z-test on shares at 99% confidence" in text, text[:2000]
        assert "old (app.py): 15.00% in BEFORE (significant)" in text, text[-3000:]
        try:
            node = fgb.need_browser()
        except harness.Skip:
            return
        spec = {
            "chromium": fgb.CHROMIUM,
            "subtitle": ["two-proportion z-test on shares at 99% confidence", "red grew", "blue shrank"],
            "notes": ["Gone since BEFORE", "old (app.py): 15.00% in BEFORE"],
            "frames": [
                {"name": "work (app.py)", "colour": "red", "added": False,
                 "hover": ["BEFORE 20.00%", "AFTER 40.00%", "+20.00 pts", "grew"]},
                {"name": "idle (app.py)", "colour": "blue", "added": False,
                 "hover": ["BEFORE 50.00%", "AFTER 30.00%", "-20.00 pts", "shrank"]},
                {"name": "stable (app.py)", "colour": "grey", "added": False,
                 "hover": ["BEFORE 10.00%", "AFTER 10.00%", "noise"]},
                {"name": "fresh (app.py)", "colour": "red", "added": True,
                 "hover": ["new: not in BEFORE", "AFTER 14.80%"]},
                {"name": "main (app.py)", "colour": "grey", "added": False, "hover": ["BEFORE 100.00%"]},
            ],
        }
        spec_path = os.path.join(d, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        p = subprocess.run([node, os.path.join(fgb.BROWSER_DIR, "diff.test.js"), svg, spec_path],
                           cwd=fgb.BROWSER_DIR, capture_output=True, text=True, timeout=240)
        if p.returncode != 0 or not p.stdout.rstrip().endswith("PASS"):
            raise AssertionError("browser test failed (exit %d)\n%s\n%s" % (p.returncode, p.stdout[-6000:],
                                                                             p.stderr[-3000:]))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def record(pid, out, *extra):
    return subprocess.Popen([harness.PYPERF, "record", "-p", str(pid), "-F", "499", "-d", "2", "-o", out]
                            + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p):
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, "pyperf record exited %d: %s" % (p.returncode, err[-3000:])


@params(["3.12", "3.14"])
def test_diff_recorded(version):
    argv = harness.need_interpreter(version)
    script = os.path.join(harness.TARGETS, "diff_variant.py")
    d = tempfile.mkdtemp(prefix="pyperf-diff-rec-")
    base = triple = None
    try:
        base = harness.start(argv + [script], ready_marker="ready")
        triple = harness.start(argv + [script, "triple"], ready_marker="ready")
        before = os.path.join(d, "before.pb.gz")
        after = os.path.join(d, "after.pb.gz")
        periods = os.path.join(d, "periods") + "/"
        # both runs at once (the machine's load is the same for both); the
        # triple run twice more: one file, and a directory of 1 s periods
        recs = [record(base.pid, before), record(triple.pid, after),
                record(triple.pid, periods, "--every", "1s", "--format", "pprof")]
        for r in recs:
            finish(r)
        p = harness.run_pyperf(["diff", before, after])
        rows = table(p.stdout)
        grow = next(v for k, v in rows.items() if k.startswith("grow ("))
        steady = next(v for k, v in rows.items() if k.startswith("steady ("))
        # grow: about 1/3 of the samples before, 3/5 after
        assert grow[6] == "grew" and 20 < grow[0] < 45 and 48 < grow[1] < 72, p.stdout
        assert steady[6] == "shrank", p.stdout
        # the same run against itself, from pprof and from its period files
        p = harness.run_pyperf(["diff", "--per-second", after, periods])
        rows = table(p.stdout)
        grow = next(v for k, v in rows.items() if k.startswith("grow ("))
        assert grow[6] == "noise", p.stdout
        svg = os.path.join(d, "diff.svg")
        harness.run_pyperf(["diff", "--per-second", before, periods, "-o", svg])
        with open(svg) as f:
            text = f.read()
        m = re.search(r"<title>(grow \([^<]*)</title>", text)
        assert m and "grew" in m.group(1) and " s/s" in m.group(1), m and m.group(1)
    finally:
        for t in (base, triple):
            if t:
                harness.stop(t)
        shutil.rmtree(d, ignore_errors=True)
