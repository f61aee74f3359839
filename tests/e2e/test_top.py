"""pyperf top in a real terminal (tmux): live rows, q and Ctrl-C quit cleanly
and leave the terminal echoing typed keys again."""
import os
import re
import shutil
import subprocess
import time

import harness
from harness import Skip

SESSION = "pyperf-test-top"
# Typed at the terminal after top quits; shown only if it echoes them.
TYPED = "typed-after-top"


def tmux(*args):
    return subprocess.run(["tmux"] + list(args), capture_output=True, text=True, timeout=10)


def pane():
    return tmux("capture-pane", "-p", "-t", SESSION).stdout


def wait_pane(pred, timeout=30, what="what was expected"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = pane()
        if pred(text):
            return text
        time.sleep(0.2)
    raise AssertionError("terminal never showed %s:\n%s" % (what, pane()))


def run_top(quit_keys):
    if not shutil.which("tmux"):
        raise Skip("tmux is not installed")
    argv = harness.need_interpreter("3.12")
    target = os.path.join(harness.TARGETS, "split.py")
    p = harness.start(argv + [target], ready_marker="ready")
    tmux("kill-session", "-t", SESSION)
    cmd = "%s top -p %d -F 499; echo EXIT=$?; sleep 60" % (harness.PYPERF, p.pid)
    tmux("new-session", "-d", "-s", SESSION, "-x", "150", "-y", "30", cmd)
    try:
        # Live rows: all three hot functions, and main's TOTAL at 100%.
        text = wait_pane(lambda t: all(("%s (%s)" % (f, target)) in t for f in ("fifty", "thirty", "twenty")))
        assert "OWN%" in text and "TOTAL%" in text, text
        rows = {m.group(3): (float(m.group(1)), float(m.group(2)))
                for m in re.finditer(r"^\s*([\d.]+)%\s+([\d.]+)%\s+[\d.]+\s+[\d.]+\s+(\w+) \(", text, re.M)}
        assert rows.get("main", (0, 0))[1] >= 90, rows
        tmux("send-keys", "-t", SESSION, *quit_keys)
        text = wait_pane(lambda t: "EXIT=" in t, timeout=15)
        assert "EXIT=0" in text, text
        assert "AddressSanitizer" not in text
        # The terminal is usable again: keys typed now (sleep reads nothing)
        # echo, which they do only if top undid its raw, no-echo mode.
        tmux("send-keys", "-t", SESSION, "-l", TYPED)
        wait_pane(lambda t: TYPED in t, timeout=5,
                  what="the keys typed after quitting (echo still off: raw mode not undone)")
    finally:
        tmux("kill-session", "-t", SESSION)
        harness.stop(p)


def test_top_quits_on_q():
    run_top(["q"])


def test_top_quits_on_ctrl_c():
    run_top(["C-c"])


def test_top_errors():
    p = harness.run_pyperf(["top"], check=False)
    assert p.returncode == 2 and "give -p PID" in p.stderr, p.stderr
    p = harness.run_pyperf(["top", "-p", "4194303"], check=False)
    assert p.returncode == 1 and "no process with PID 4194303" in p.stderr, p.stderr
    p = harness.run_pyperf(["top", "--help"])
    assert "--rows" in p.stdout and "--frequency" in p.stdout


def test_top_keys_and_header():
    """Keys: t/o sort, l lines, n one thread, a all, p pause; the header's
    GIL share and active threads, on three threads spinning in Python."""
    if not shutil.which("tmux"):
        raise Skip("tmux is not installed")
    argv = harness.need_interpreter("3.12")
    target = os.path.join(harness.TARGETS, "threads.py")
    lines = harness.marker_lines(target)
    p = harness.start(argv + [target], ready_marker="ready")
    tmux("kill-session", "-t", SESSION)
    cmd = "%s top -p %d -F 499; echo EXIT=$?; sleep 60" % (harness.PYPERF, p.pid)
    tmux("new-session", "-d", "-s", SESSION, "-x", "160", "-y", "40", cmd)

    def keys(*k):
        tmux("send-keys", "-t", SESSION, *k)

    def spins(text):
        return {m.group(1) for m in re.finditer(r"  (spin_\w+) \(", text)}

    try:
        text = wait_pane(lambda t: len(spins(t)) == 3 and "3 threads active" in t,
                         what="three spin_ rows and 3 threads active")
        # Pure Python spinning: the sampled thread holds the GIL nearly always.
        gil = int(re.search(r"GIL held in (\d+)% of samples", text).group(1))
        assert gil >= 80, text
        assert "sorted by OWN%" in text and "per function" in text, text
        keys("t")
        text = wait_pane(lambda t: "sorted by TOTAL%" in t, what="sorted by TOTAL%")
        first = re.search(r"^\s*[\d.]+%\s+([\d.]+)%", text, re.M)
        assert first and float(first.group(1)) >= 90, text  # a thread's root frame: (nearly) all samples
        keys("l")
        text = wait_pane(lambda t: "LINE" in t and "per line" in t, what="rows per line")
        for name in ("alpha", "beta", "gamma"):
            assert re.search(r"spin_%s \(%s:(%d|%d)\)" % (name, re.escape(target), lines[name], lines[name] - 1),
                             text), text
        keys("n")
        text = wait_pane(lambda t: re.search(r"^thread \d+ only", t, re.M) and len(spins(t)) == 1,
                         what="one thread's rows")
        keys("a")
        wait_pane(lambda t: "all threads" in t and len(spins(t)) == 3, what="all threads again")
        keys("p")
        wait_pane(lambda t: "PAUSED" in t, what="PAUSED")
        keys("q")
        text = wait_pane(lambda t: "EXIT=" in t, timeout=15)
        assert "EXIT=0" in text and "AddressSanitizer" not in text, text
    finally:
        tmux("kill-session", "-t", SESSION)
        harness.stop(p)


def top_rows(block):
    """{function: cumulative OWN seconds} of one rendered view."""
    return {m.group(2): float(m.group(1))
            for m in re.finditer(r"^\s*[\d.]+%\s+[\d.]+%\s+([\d.]+)\s+[\d.]+\s+(\w+) \(", block, re.M)}


def test_top_sampler_remote():
    """--sampler remote, output not a terminal: every header names the remote
    sampler, split.py's fifty leads with about half of the samples, and the
    line on stderr says it was asked for. Without --sampler, auto chooses
    (the line says what it measured)."""
    argv = harness.need_interpreter("3.12")
    target = os.path.join(harness.TARGETS, "split.py")
    p = harness.start(argv + [target], ready_marker="ready")
    try:
        r = harness.run_pyperf(["top", "-p", str(p.pid), "--sampler", "remote", "-F", "499", "-d", "2"],
                               stdin=subprocess.DEVNULL)
        headers = re.findall(r"^pyperf top: PID %d .*$" % p.pid, r.stdout, re.M)
        assert headers and all(", 499 Hz, sampler remote, " in h for h in headers), r.stdout
        assert "pyperf top: sampler: remote (asked)" in r.stderr, r.stderr
        # The last view's cumulative OWN seconds: about 1 s of samples.
        own = top_rows(r.stdout.rsplit("pyperf top: PID", 1)[1])
        split = sum(own.get(f, 0) for f in ("fifty", "thirty", "twenty"))
        assert split >= 0.5 and max(own, key=own.get) == "fifty", r.stdout
        assert abs(own["fifty"] / split - 0.5) < 0.1, own

        r = harness.run_pyperf(["top", "-p", str(p.pid), "-d", "1"], stdin=subprocess.DEVNULL)
        m = re.search(r"^pyperf top: sampler: (timer|remote) \((.*)\)$", r.stderr, re.M)
        assert m and m.group(2).startswith(("a timer interrupt costs", "the cost of an interrupt could not")), \
            r.stderr
        assert ", sampler %s, " % m.group(1) in r.stdout, r.stdout
        assert "AddressSanitizer" not in r.stderr
    finally:
        harness.stop(p)


def test_top_sampler_errors():
    """A bad --sampler and --native with remote are refused as record refuses
    them: the same one line, exit 2, before anything is opened."""
    for cmd in ("top", "record"):
        r = harness.run_pyperf([cmd, "-p", "1", "--sampler", "bogus"], check=False)
        assert r.returncode == 2, (cmd, r.returncode, r.stderr)
        assert r.stderr == "pyperf %s: invalid --sampler 'bogus': give auto, timer or remote\n" % cmd, r.stderr
        r = harness.run_pyperf([cmd, "-p", "1", "--native", "--sampler", "remote"], check=False)
        assert r.returncode == 2, (cmd, r.returncode, r.stderr)
        assert r.stderr == ("pyperf %s: --native unwinds from a thread's registers, which only interrupting "
                            "it gives: use --sampler timer (or auto)\n" % cmd), r.stderr
    r = harness.run_pyperf(["top", "--help"])
    assert "--sampler KIND" in r.stdout and "default auto" in r.stdout, r.stdout
