"""record --mode offcpu and --mode wall against real interpreters: blocked
time at the line that waits, wall-clock shares, wait reasons, units."""
import os
import re
import tempfile

import harness
from harness import params
from test_record import marker_lines

VERSIONS = ["3.8", "3.9", "3.12", "debian3.11", "3.14"]
SECONDS = 1.5


def record(pid, mode, seconds=SECONDS, extra=(), ext="folded"):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out." + ext)
        p = harness.run_pyperf(["record", "-p", str(pid), "-d", str(seconds), "--mode", mode, "-o", out]
                               + list(extra))
        if ext != "folded":
            with open(out, "rb") as f:
                return f.read(), p.stderr
        with open(out) as f:
            text = f.read()
    return harness.parse_folded(text), p.stderr


def py_frames(frames):
    """Frames without pseudo-frames ([lock], process/thread roots)."""
    return [f for f in frames if not f.startswith("[") and not f.startswith("process ")
            and not f.startswith("thread ")]


def at_line(func, path, line):
    rx = re.compile(r"^%s \(%s:%d\)$" % (re.escape(func), re.escape(path), line))
    return lambda frames: bool(py_frames(frames)) and bool(rx.match(py_frames(frames)[-1]))


def has_func(func):
    rx = re.compile(r"^(\w+\.)?%s \(" % re.escape(func))
    return lambda frames: any(rx.match(f) for f in frames)


@params(VERSIONS)
def test_deadlock_offcpu(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "offcpu_deadlock.py")
    lines = marker_lines(target)
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record(p.pid, "offcpu", extra=["--threads"])
    harness.stop(p)
    us = SECONDS * 1e6
    # Every philosopher waited the whole recording at its lock line.
    for i in range(5):
        mine = [(fr, c) for fr, c in stacks if any(f.startswith("thread phil-%d " % i) for f in fr)]
        at_lock = sum(c for fr, c in mine if at_line("philosopher", target, lines["with-right"])(fr))
        assert at_lock >= 0.9 * us, "phil-%d: %d us at its lock line of %d (%s)\n%s" % (
            i, at_lock, us, mine, err)
        assert at_lock >= 0.98 * sum(c for _, c in mine), mine
        assert all(fr[-1] == "[lock]" for fr, _ in mine), mine
    # The main thread waits in join, under its own line.
    main = [(fr, c) for fr, c in stacks if any(f.startswith("thread ") and "phil-" not in f for f in fr)]
    assert sum(c for _, c in main) >= 0.9 * us, main
    assert all(any(":%d)" % lines["join"] in f for f in fr) for fr, _ in main), main
    assert "microseconds of off-CPU" in err, err


@params(VERSIONS)
def test_sleep_wall(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "offcpu_sleep.py")
    lines = marker_lines(target)
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record(p.pid, "wall", extra=["-F", "199"])
    harness.stop(p)
    total = sum(c for _, c in stacks)
    at_sleep = harness.share(stacks, at_line("snooze", target, lines["sleep"]))
    assert total >= 0.9 * SECONDS * 1e6, "only %d us\n%s" % (total, err)
    assert at_sleep >= 0.97, "%.3f at the sleep line: %s\n%s" % (at_sleep, stacks, err)
    assert all(fr[-1] == "[sleep]" for fr, c in stacks if at_line("snooze", target, lines["sleep"])(fr)
               and c > 0.5 * total), stacks
    assert "microseconds of wall time" in err, err


@params(VERSIONS)
def test_alternate_modes(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "offcpu_alternate.py")
    lines = marker_lines(target)
    p = harness.start(argv + [target], ready_marker="ready")
    try:
        results = {m: record(p.pid, m, seconds=1.5, extra=["-F", "499"]) for m in ("wall", "cpu", "offcpu")}
    finally:
        harness.stop(p)
    computing, sleeping = has_func("compute"), at_line("worker", target, lines["sleep"])
    for mode, (stacks, err) in results.items():
        mine = [(fr, c) for fr, c in stacks if has_func("worker")(fr)]
        assert mine, "%s: no worker stacks\n%s" % (mode, err)
        c = harness.share(mine, computing)
        s = harness.share(mine, sleeping)
        want = {"wall": 0.5, "cpu": 1.0, "offcpu": 0.0}[mode]
        tol = 0.08 if mode == "wall" else 0.05
        assert abs(c - want) <= tol, "%s: compute share %.3f, want %.2f\n%s\n%s" % (mode, c, want, mine, err)
        assert abs(c + s - 1) <= 0.05, "%s: compute %.3f + sleep %.3f\n%s" % (mode, c, s, mine)


@params(VERSIONS)
def test_asyncio_offcpu(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "offcpu_asyncio.py")
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record(p.pid, "offcpu")
    harness.stop(p)
    total = sum(c for _, c in stacks)
    assert total >= 0.9 * SECONDS * 1e6, "only %d us\n%s" % (total, err)
    polling = harness.share(stacks, lambda fr: fr[-1] == "[poll]" and has_func("select")(fr)
                            and has_func("run_forever")(fr))
    assert polling >= 0.95, "%.3f in the selector: %s\n%s" % (polling, stacks, err)


@params(VERSIONS)
def test_gil_wait(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "offcpu_gil.py")
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record(p.pid, "offcpu")
    harness.stop(p)
    spinning = [(fr, c) for fr, c in stacks if has_func("spin")(fr)]
    total = sum(c for _, c in spinning)
    # Three threads, one GIL: most of their blocked time is GIL waits.
    assert total >= 0.5 * SECONDS * 1e6, "only %d us\n%s\n%s" % (total, spinning, err)
    gil = sum(c for fr, c in spinning if fr[-1] == "[gil]")
    assert gil >= 0.9 * total, "%d of %d us in [gil]: %s" % (gil, total, spinning)
    main = [(fr, c) for fr, c in stacks if not has_func("spin")(fr)]
    assert main and all(fr[-1] == "[lock]" for fr, _ in main), main


def test_no_wait_reason_and_pprof():
    argv = harness.need_interpreter("3.12")
    target = os.path.join(harness.TARGETS, "offcpu_sleep.py")
    p = harness.start(argv + [target], ready_marker="ready")
    try:
        stacks, _ = record(p.pid, "offcpu", seconds=1, extra=["--no-wait-reason"])
        pb, _ = record(p.pid, "wall", seconds=1, ext="pb.gz")
        svg, _ = record(p.pid, "offcpu", seconds=1, ext="svg")
    finally:
        harness.stop(p)
    assert stacks and not any(f.startswith("[") for fr, _ in stacks for f in fr), stacks
    import gzip
    raw = gzip.decompress(pb)
    assert b"\x04wall" in raw and b"nanoseconds" in raw, raw[:300]
    import test_formats
    with tempfile.TemporaryDirectory() as home:
        path = os.path.join(home, "wall.pb.gz")
        with open(path, "wb") as f:
            f.write(pb)
        out = test_formats.go_pprof(["-raw"], path, home)
        assert re.search(r"wall/nanoseconds", out), out[:2000]
        top = test_formats.go_pprof(["-top", "-nodefraction=0"], path, home)
        # About a second of wall time, nearly all at the sleep line.
        m = re.search(r"of ([\d.]+)(ms|s) total", top)
        assert m, top[:2000]
        total_s = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        assert 0.8 <= total_s <= 1.5, top[:2000]
        assert "snooze" in top, top[:2000]
    assert "s of off-CPU time" in svg.decode(), svg[-2000:]


def test_min_block():
    argv = harness.need_interpreter("3.12")
    target = os.path.join(harness.TARGETS, "offcpu_alternate.py")
    p = harness.start(argv + [target], ready_marker="ready")
    try:
        stacks, err = record(p.pid, "offcpu", seconds=1.5, extra=["--min-block", "1s"])
    finally:
        harness.stop(p)
    # The worker's 50 ms sleeps are dropped in the kernel; the main thread's
    # join (blocked all along) is longer than 1 s and stays.
    assert not any(has_func("worker")(fr) for fr, _ in stacks), stacks
    assert sum(c for _, c in stacks) >= 1.3e6, stacks
    assert re.search(r"\d+ waits shorter than --min-block dropped", err), err


def test_mode_errors():
    p = harness.run_pyperf(["record", "--mode", "gpu", "-p", "1"], check=False)
    assert p.returncode == 2 and "unknown mode" in p.stderr, p.stderr
    p = harness.run_pyperf(["record", "--mode", "offcpu", "--min-block", "fast", "-p", "1"], check=False)
    assert p.returncode == 2 and "--min-block" in p.stderr, p.stderr


@params(["3.9", "3.12", "debian3.11", "3.14"])
def test_gil_only_samples_the_holder(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "threads.py")
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record(p.pid, "cpu", seconds=2, extra=["--gil", "-F", "499"])
    harness.stop(p)
    total = sum(c for _, c in stacks)
    assert total > 100, err
    shares = {f: sum(c for fr, c in stacks if has_func(f)(fr)) / total
              for f in ("spin_alpha", "spin_beta", "spin_gamma")}
    # One GIL, three spinning threads: each holds it about a third of the time.
    assert all(0.18 < s < 0.5 for s in shares.values()), (shares, err)
    assert sum(shares.values()) > 0.97, shares


@params(["3.9", "3.12", "debian3.11", "3.14"])
def test_gil_wait_mode(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "offcpu_gil.py")
    lines = marker_lines(target)
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record(p.pid, "gil-wait")
    harness.stop(p)
    total = sum(c for _, c in stacks)
    assert total >= 0.5 * SECONDS * 1e6, "only %d us\n%s" % (total, err)
    # Only GIL waits, each in the loop that needed the GIL (its body, or its
    # `while` line, where 3.11+ checks for a GIL drop request at the jump
    # back); the main thread's wait on an event is left out and counted.
    loop = (lines["spin"] - 1, lines["spin"])
    assert all(fr[-1] == "[gil]" and any(fr[-2].endswith("offcpu_gil.py:%d)" % n) for n in loop)
               for fr, _ in stacks), stacks[:3]
    m = re.search(r"waiting to take the GIL \((\d+) other waits left out\)", err)
    assert m and int(m.group(1)) >= 1, err
