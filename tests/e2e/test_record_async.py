"""record --async against real interpreters: samples in a task's code go
under 'task' frames (the chain of awaiting tasks, root first) in place of
the event loop's, a shielded task's under the task awaiting the shield; in
wall mode a task that only sleeps shows its whole
wait at its await line. Needs the asyncio task reader (user/python/
asyncio.c, issue #19): with the temporary stub these fail at attach."""
import os
import re
import tempfile

import harness
from harness import params
from test_record import marker_lines

VERSIONS = ["3.11", "debian3.11", "3.12", "3.13", "3.14", "3.15"]
TARGET = os.path.join(harness.TARGETS, "async_workers.py")
SECONDS = 2.0


def record(pid, mode, extra=()):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.folded")
        p = harness.run_pyperf(["record", "-p", str(pid), "-d", str(SECONDS), "--mode", mode, "--async",
                                "-F", "499", "-o", out] + list(extra))
        with open(out) as f:
            return harness.parse_folded(f.read()), p.stderr


def task_chain(fr):
    """The leading 'task NAME' frames of a stack and the index after them."""
    k = 0
    while k < len(fr) and fr[k].startswith("task "):
        k += 1
    return fr[:k], k


def at(func, line):
    rx = re.compile(r"^%s \(%s:%d\)$" % (re.escape(func), re.escape(TARGET), line))
    return lambda f: bool(rx.match(f))


@params(VERSIONS)
def test_async_cpu_workers(version):
    argv = harness.need_interpreter(version)
    lines = marker_lines(TARGET)
    p = harness.start(argv + [TARGET], ready_marker="ready")
    try:
        stacks, err = record(p.pid, "cpu")
    finally:
        harness.stop(p)
    def burn(f):  # any line of burn()
        return f.startswith("burn (%s:" % TARGET)
    shares = {}
    for i in (1, 2, 3):
        want = ["task parent", "task worker-%d" % i]
        mine = 0
        for fr, c in stacks:
            if not any(burn(f) for f in fr):
                continue
            # The logical stack: the task chain, root first (main's task
            # awaits parent, so it may come first), then the task's own
            # frames; no event-loop frames.
            chain, k = task_chain(fr)
            if chain[-2:] == want:
                assert chain[:-2] in ([], ["task Task-1"]), fr
                assert at("worker", lines["worker"])(fr[k]), fr
                assert at("crunch", lines["crunch"])(fr[k + 1]), fr
                assert not any("_run_once" in f or "run_forever" in f for f in fr), fr
                mine += c
        shares[i] = mine
    total = sum(c for fr, c in stacks if any(burn(f) for f in fr))
    assert total > 200, (total, err)
    in_tasks = sum(shares.values())
    assert in_tasks >= 0.9 * total, (shares, total, err)
    # 1:2:3, wide bands
    assert 0.08 <= shares[1] / in_tasks <= 0.28, (shares, err)
    assert 0.20 <= shares[2] / in_tasks <= 0.46, (shares, err)
    assert 0.35 <= shares[3] / in_tasks <= 0.65, (shares, err)
    assert shares[1] < shares[2] < shares[3], shares
    # asyncio.shield: the shielded task under the task awaiting the shield
    # (3.11-3.13 link them through shield's callback closure)
    spinning = [(fr, c) for fr, c in stacks if any(f.startswith("spin (%s:" % TARGET) for f in fr)]
    shielded = sum(c for fr, c in spinning if task_chain(fr)[0] == ["task shielder", "task shielded"]
                   and at("shielded", lines["shielded"])(fr[2]))
    assert shielded > 20 and shielded >= 0.9 * sum(c for _, c in spinning), (shielded, spinning[:10], err)
    assert "samples in asyncio tasks" in err, err


@params(VERSIONS)
def test_async_wall_sleeper(version):
    argv = harness.need_interpreter(version)
    lines = marker_lines(TARGET)
    p = harness.start(argv + [TARGET], ready_marker="ready")
    try:
        stacks, err = record(p.pid, "wall")
    finally:
        harness.stop(p)
    us = SECONDS * 1e6
    sleeping = sum(c for fr, c in stacks if task_chain(fr)[0] == ["task sleeper"]
                   and any(at("sleeper", lines["sleeper"])(f) for f in fr))
    assert sleeping >= 0.8 * us, (sleeping, us, err)
    assert sleeping <= 1.1 * us, (sleeping, us, err)
    # The workers' waits (their short sleeps) sit under their chain too.
    assert any(task_chain(fr)[0][-2:] == ["task parent", "task worker-3"] for fr, _ in stacks), stacks[:20]
    assert "waits of pending tasks sampled" in err, err


@params(["3.10"])
def test_async_refused_before_311(version):
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [TARGET], ready_marker="ready")
    try:
        r = harness.run_pyperf(["record", "-p", str(p.pid), "-d", "0.5", "--async", "-o", os.devnull + ".folded"],
                               check=False)
    finally:
        harness.stop(p)
    assert r.returncode != 0
    assert "--async needs 3.11 or later" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
