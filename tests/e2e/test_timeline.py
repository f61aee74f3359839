"""record --timeline: speedscope's evented format, one profile per thread in
time order. A program computes for 1 s (compute) then sleeps for 1 s (rest,
in time.sleep), recorded in wall mode; the file must be what speedscope
accepts (events in order, every frame closed in the order opened) and,
loaded into speedscope itself in headless chromium
(tests/browser/speedscope.test.js), its Time Order view must draw compute
then rest, each about 1 s."""
import json
import os
import shutil
import subprocess
import tempfile

import harness
import test_flamegraph_browser as fgb

TARGET = os.path.join(harness.TARGETS, "timeline_phases.py")
VERSIONS = ["3.12", "debian3.11"]
PHASES = [{"name": "compute", "seconds": 1.0}, {"name": "rest", "seconds": 1.0}]
TOLERANCE = 0.25


def bars(profile, frames):
    """An evented profile's frames as (depth, name, start s, length s),
    checking what speedscope's importer requires on the way."""
    stack, out, last = [], [], 0
    for ev in profile["events"]:
        assert ev["at"] >= last, "event out of order: %r after %d" % (ev, last)
        last = ev["at"]
        if ev["type"] == "O":
            stack.append((ev["frame"], ev["at"]))
        else:
            assert ev["type"] == "C" and stack, "close with nothing open: %r" % ev
            f, at = stack.pop()
            assert f == ev["frame"], "frame %d closed while %d is open" % (ev["frame"], f)
            out.append((len(stack), frames[f]["name"], at / 1e9, (ev["at"] - at) / 1e9))
    assert not stack, "frames left open: %r" % stack
    assert last <= profile["endValue"]
    return out


def check_file(path):
    """The JSON itself; returns the name of the thread profile to view."""
    with open(path) as f:
        doc = json.load(f)
    frames = doc["shared"]["frames"]
    profs = doc["profiles"]
    assert [p["type"] for p in profs] == ["evented", "sampled"], [p["type"] for p in profs]
    assert profs[1]["name"].endswith("all threads, aggregated")
    assert doc["activeProfileIndex"] == 0 and profs[0]["unit"] == "nanoseconds"
    got = bars(profs[0], frames)
    longest = {}
    for depth, name, start, length in got:
        if length > longest.get(name, (0, 0, 0))[2]:
            longest[name] = (depth, start, length)
    for ph in PHASES:
        assert ph["name"] in longest, "no %s bar: %r" % (ph["name"], sorted(longest))
        assert abs(longest[ph["name"]][2] - ph["seconds"]) <= ph["seconds"] * TOLERANCE, longest[ph["name"]]
    assert longest["compute"][1] < longest["rest"][1]
    # The sleep is an interval off the CPU with its wait leaf, right under rest.
    sleep = longest.get("[sleep]")
    assert sleep and sleep[0] == longest["rest"][0] + 1 and abs(sleep[2] - longest["rest"][2]) < 0.05, sleep
    return profs[0]["name"]


def need_speedscope():
    node = fgb.need_browser()
    if not os.path.exists(os.path.join(fgb.BROWSER_DIR, "node_modules", "speedscope", "package.json")):
        raise harness.Skip("speedscope is not installed in tests/browser (npm registry unreachable?); "
                           + fgb.INSTALL_HINT)
    return node


def test_timeline_usage_errors():
    pid = str(os.getpid())
    p = harness.run_pyperf(["record", "-p", pid, "--timeline", "-o", "x.svg"], check=False)
    assert p.returncode == 2 and "--timeline writes speedscope's evented profiles" in p.stderr, p.stderr
    p = harness.run_pyperf(["record", "-a", "--every", "10s", "-o", "/tmp/none/", "--timeline"], check=False)
    assert p.returncode == 2 and "--timeline puts the whole run" in p.stderr, p.stderr


def test_timeline_phases_in_speedscope():
    d = tempfile.mkdtemp(prefix="pyperf-timeline-")
    try:
        runs, missing = [], []
        for version in VERSIONS:
            argv = harness.interpreter(version)
            if argv is None:
                missing.append(version)
                continue
            out = os.path.join(d, "run-%s.speedscope.json" % version)
            p = harness.run_pyperf(["record", "--mode", "wall", "--timeline", "-o", out, "--"] + argv + [TARGET],
                                   timeout=60)
            assert "timeline of 1 threads" in p.stderr, p.stderr
            runs.append({"profile": out, "title": check_file(out)})
        if not runs:
            raise harness.Skip("none of %s installed" % ", ".join(VERSIONS))
        node = need_speedscope()
        spec_path = os.path.join(d, "spec.json")
        with open(spec_path, "w") as f:
            json.dump({"chromium": fgb.CHROMIUM, "runs": runs, "phases": PHASES, "tolerance": TOLERANCE}, f)
        p = subprocess.run([node, os.path.join(fgb.BROWSER_DIR, "speedscope.test.js"), spec_path],
                           cwd=fgb.BROWSER_DIR, capture_output=True, text=True, timeout=120)
        if p.returncode != 0 or not p.stdout.rstrip().endswith("PASS"):
            raise AssertionError("speedscope test failed (exit %d)\n%s\n%s" % (p.returncode, p.stdout[-6000:],
                                                                               p.stderr[-3000:]))
        if missing:
            raise harness.Skip("checked on %s; not installed: %s" % (", ".join(r["profile"] for r in runs),
                                                                     ", ".join(missing)))
    finally:
        shutil.rmtree(d, ignore_errors=True)
