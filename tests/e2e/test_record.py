"""pyperf record against real interpreters: shares, lines, threads, depth."""
import os
import re
import subprocess
import tempfile

import harness
from harness import Skip, params

VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "debian3.11", "3.14", "3.15"]


marker_lines = harness.marker_lines

def record(pid, seconds=3, hz=499, extra=()):
    """Records pid for seconds (None: until it exits); (stacks, stderr)."""
    duration = ["-d", str(seconds)] if seconds is not None else []
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.folded")
        p = harness.run_pyperf(["record", "-p", str(pid)] + duration + ["-F", str(hz), "-o", out]
                               + list(extra))
        with open(out) as f:
            text = f.read()
    return harness.parse_folded(text), p.stderr


def record_enough(pid, min_samples, seconds=3, hz=999, extra=(), tries=5):
    """Records again until min_samples are in (a loaded machine gives the
    target little CPU); returns the merged stacks and the last stderr."""
    merged, err = {}, ""
    for _ in range(tries):
        stacks, err = record(pid, seconds, hz, extra)
        for fr, c in stacks:
            merged[tuple(fr)] = merged.get(tuple(fr), 0) + c
        if sum(merged.values()) >= min_samples:
            break
    return [(list(k), v) for k, v in merged.items()], err


def frame_re(func, path, line=None):
    """Regex for a frame label 'func (path:line)'."""
    line_part = r"\d+" if line is None else str(line)
    return re.compile(r"^%s \(%s:%s\)$" % (re.escape(func), re.escape(path), line_part))


def leaf_is(func, path):
    rx = frame_re(func, path)
    return lambda frames: bool(rx.match(frames[-1]))


@params(VERSIONS)
def test_split_shares_and_lines(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "split.py")
    lines = marker_lines(target)
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record_enough(p.pid, 600)
    harness.stop(p)
    total = sum(c for _, c in stacks)
    assert total >= 600, "only %d samples:\n%s" % (total, err)
    shares = {f: harness.share(stacks, leaf_is(f, target)) for f in ("fifty", "thirty", "twenty")}
    expect = {"fifty": 0.5, "thirty": 0.3, "twenty": 0.2}
    for f, want in expect.items():
        assert abs(shares[f] - want) < 0.07, "share of %s is %.3f, want %.2f (all: %s)\n%s" % (
            f, shares[f], want, shares, err)
    # The leaf line is the loop: its 'for' or its body, never the def line.
    for f in expect:
        ok_lines = {lines[f + "-for"], lines[f + "-body"]}
        leafs = [(fr[-1], c) for fr, c in stacks if frame_re(f, target).match(fr[-1])]
        good = sum(c for l, c in leafs if int(l.rsplit(":", 1)[1].rstrip(")")) in ok_lines)
        assert good >= 0.95 * sum(c for _, c in leafs), "%s leaf lines wrong: %s" % (f, leafs[:10])
    # The caller frame points at the call line of the function below it.
    for f in expect:
        want = frame_re("main", target, lines["call-" + f])
        rows = [fr for fr, c in stacks if frame_re(f, target).match(fr[-1])]
        assert rows and all(len(fr) >= 2 and want.match(fr[-2]) for fr in rows), \
            "caller of %s not at line %d: %s" % (f, lines["call-" + f], rows[:3])
        assert all(fr[0].startswith("<module> (%s:" % target) for fr in rows), rows[:3]


@params(VERSIONS)
def test_threads_all_sampled(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "threads.py")
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record_enough(p.pid, 300, seconds=2)
    harness.stop(p)
    for f in ("spin_alpha", "spin_beta", "spin_gamma"):
        s = harness.share(stacks, leaf_is(f, target))
        # Three threads share the GIL: each gets roughly a third.
        assert s > 0.15, "thread %s has %.3f of the samples\n%s" % (f, s, err)
        rows = [fr for fr, _ in stacks if leaf_is(f, target)(fr)]
        assert all("threading.py" in fr[0] for fr in rows), "thread root is not threading: %s" % rows[:2]


@params(VERSIONS)
def test_deep_recursion_whole(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "deep.py")
    p = harness.start(argv + [target, "1000"], ready_marker="ready")
    stacks, err = record(p.pid, seconds=1.5)
    harness.stop(p)
    leafs = [(fr, c) for fr, c in stacks if leaf_is("leaf", target)(fr)]
    total = sum(c for _, c in stacks)
    assert sum(c for _, c in leafs) >= 0.9 * total, "leaf not on top: %s" % err
    for fr, _ in leafs:
        assert sum(1 for x in fr if x.startswith("recurse (")) == 1000, "recursion not whole: %d frames" % len(fr)
        assert fr[0].startswith("<module> (%s:" % target), fr[0]
        assert not any(x.startswith("[truncated") for x in fr)


@params(VERSIONS)
def test_deeper_than_limit_is_marked(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "deep.py")
    p = harness.start(argv + [target, "1500"], ready_marker="ready")
    stacks, err = record(p.pid, seconds=1.5)
    harness.stop(p)
    leafs = [fr for fr, _ in stacks if leaf_is("leaf", target)(fr)]
    assert leafs, "no samples in leaf:\n%s" % err
    for fr in leafs:
        assert fr[0].startswith("[truncated"), "no truncation marker at the root: %s" % fr[0]
        assert len(fr) == 1024 + 1, "expected 1024 frames + marker, got %d" % len(fr)
    assert "truncated" in err


@params(["3.10", "3.12", "debian3.11", "3.14"])
def test_launch_mode_from_start_with_exit_status(version):
    argv = harness.need_interpreter(version)
    code = ("import sys\n"
            "def early():\n"
            "    return sum(i * i for i in range(2000000))\n"
            "early()\n"
            "sys.exit(7)\n")
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "early.py")
        with open(script, "w") as f:
            f.write(code)
        out = os.path.join(d, "out.folded")
        p = harness.run_pyperf(["record", "-F", "999", "-o", out, "--"] + argv + [script], check=False)
        assert p.returncode == 7, "exit status not forwarded: %d\n%s" % (p.returncode, p.stderr)
        with open(out) as f:
            stacks = harness.parse_folded(f.read())
    # The only user function runs first thing, for ~0.2 s: it must be there.
    early = [c for fr, c in stacks if any(x.startswith("early (%s:3)" % script) for x in fr)]
    assert sum(early) > 20, "early() missing: %s" % stacks[:5]


def test_launch_mode_duration_ends_first():
    """-d ends before the launched command: the profile is written at once,
    pyperf says it waits for the command, and returns its status."""
    argv = harness.need_interpreter("3.12")
    code = "import time, sys\nend = time.monotonic() + 1.5\nwhile time.monotonic() < end: pass\nsys.exit(5)\n"
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.folded")
        p = harness.run_pyperf(["record", "-F", "999", "-d", "0.3", "-o", out, "--"] + argv + ["-c", code],
                               check=False)
        assert p.returncode == 5, "exit status not forwarded: %d\n%s" % (p.returncode, p.stderr)
        assert re.search(r"wrote .*\n.*waiting for \S*python3.12 to exit \(its status is pyperf's\)", p.stderr), \
            p.stderr
        with open(out) as f:
            total = sum(c for _, c in harness.parse_folded(f.read()))
        # 0.3 s at 999 Hz of a thread always on a CPU, not the 1.5 s it ran
        assert 150 <= total <= 400, "%d samples\n%s" % (total, p.stderr)


@params(["3.9", "3.12", "debian3.11"])
def test_follows_exec_of_the_target(version):
    """A target that re-executes itself keeps being sampled: its new image
    is looked at as it execs, both images' functions are in the profile."""
    argv = harness.need_interpreter(version)
    # 2 s a phase: the remote sampler (if auto takes it on a slow VM)
    # takes ~0.5 s to load, all of it in the first phase
    seconds, hz = 2.0, 499
    target = harness.start(argv + [os.path.join(harness.TARGETS, "reexec.py"), str(seconds)],
                           ready_marker="ready")
    try:
        stacks, err = record(target.pid, seconds=None, hz=hz)
    finally:
        harness.stop(target)
    assert "PID %d exec'd" % target.pid in err, err
    assert "(the process exited)" in err, err
    got = {}
    for func in ("before_exec", "after_exec"):
        got[func] = sum(c for fr, c in stacks if any(x.startswith(func + " (") for x in fr))
    # before_exec is joined after start-up, after_exec once the new
    # interpreter is up: most of each second is sampled.
    for func, n in got.items():
        assert n >= 0.6 * seconds * hz, (func, got, err)


def test_launch_mode_errors():
    p = harness.run_pyperf(["record", "-o", "/tmp/x.svg", "--", "/nonexistent/prog"], check=False)
    assert p.returncode == 127, p.returncode
    assert "failed to run /nonexistent/prog" in p.stderr, p.stderr
    p = harness.run_pyperf(["record", "-o", "/tmp/x.svg", "--", "true"], check=False)
    assert p.returncode == 1 and "without running a CPython interpreter" in p.stderr, p.stderr
    p = harness.run_pyperf(["record", "-p", "1", "-o", "/tmp/x.svg", "--", "true"], check=False)
    assert p.returncode == 2 and "not both" in p.stderr, p.stderr


@params(["3.9", "3.12"])
def test_threads_roots(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "threads.py")
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record(p.pid, seconds=2, extra=["--threads"])
    tids = set(os.listdir("/proc/%d/task" % p.pid))
    harness.stop(p)
    assert all(fr[0] == "process %d" % p.pid for fr, _ in stacks), stacks[0][0][:2]
    seen = {}
    for fr, c in stacks:
        m = re.match(r"^thread (.*) \((\d+)\)$", fr[1])
        assert m, fr[1]
        assert m.group(2) in tids, "%s is not a thread of %d" % (m.group(2), p.pid)
        for f in ("spin_alpha", "spin_beta", "spin_gamma"):
            if frame_re(f, target).match(fr[-1]):
                seen.setdefault(f, set()).add(m.group(2))
    # Each worker function runs in exactly one thread, each in its own.
    assert len(seen) == 3 and all(len(v) == 1 for v in seen.values()), seen
    assert len(set.union(*seen.values())) == 3, seen


def test_no_lines_aggregates_per_function():
    argv = harness.need_interpreter("3.12")
    target = os.path.join(harness.TARGETS, "split.py")
    p = harness.start(argv + [target], ready_marker="ready")
    stacks, err = record(p.pid, seconds=2, extra=["--no-lines"])
    harness.stop(p)
    labels = {x for fr, _ in stacks for x in fr}
    assert "fifty (%s)" % target in labels, labels
    assert not any(re.search(r":\d+\)$", x) for x in labels), labels
    for f in ("fifty", "thirty", "twenty"):  # one stack per function, whatever the line
        assert len([fr for fr, _ in stacks if fr[-1] == "%s (%s)" % (f, target)]) == 1, stacks


def test_idle_is_refused():
    p = harness.run_pyperf(["record", "-p", "1", "--idle"], check=False)
    assert p.returncode == 2 and "CPU sampling" in p.stderr, p.stderr


# Not 3.14/3.15: sid's interpreters re-executed through sys.executable need
# their own loader, which a plain subprocess does not use.
@params(["3.9", "3.12", "debian3.11"])
def test_subprocesses_each_under_own_root(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "family.py")
    lines = marker_lines(target)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.folded")
        p = harness.run_pyperf(["record", "--subprocesses", "-F", "999", "-o", out, "--"] + argv + [target],
                               timeout=120)
        with open(out) as f:
            stacks = harness.parse_folded(f.read())
    by_func = {}
    for fr, c in stacks:
        assert re.match(r"^process \d+$", fr[0]), fr[0]
        for func in ("forked_child", "execed_child", "parent"):
            want = "%s (%s:%d)" % (func, target, lines[func.split("_")[0]])
            if want in fr:
                by_func.setdefault(func, {}).setdefault(fr[0], 0)
                by_func[func][fr[0]] += c
    assert set(by_func) == {"forked_child", "execed_child", "parent"}, (by_func, p.stderr)
    roots = {func: max(v, key=v.get) for func, v in by_func.items()}
    # Three processes, each function under its own process's root.
    assert len(set(roots.values())) == 3, roots
    for func, v in by_func.items():
        assert v[roots[func]] >= 0.95 * sum(v.values()), (func, v)
        assert v[roots[func]] > 20, (func, v, p.stderr)


def test_subprocesses_child_that_loads_python_late():
    """A child whose executable is not Python when first looked at, and
    stays the same when it loads libpython a moment later (as for a program
    started by naming the dynamic loader, or an embedder), is looked at
    again and sampled."""
    argv = harness.need_interpreter("3.12")
    info = subprocess.run(argv + ["-c", "import sys, sysconfig as c; print(c.get_config_var('LIBDIR') + '/' + "
                                  "c.get_config_var('LDLIBRARY')); print(sys.base_prefix)"],
                          capture_output=True, text=True, check=True).stdout.split("\n")
    libpython, home = info[0], info[1]
    if not libpython.endswith(".so") and ".so." not in libpython:
        raise Skip("Python 3.12 here has no shared libpython (%s)" % libpython)
    hz = 499
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "late_python")
        b = subprocess.run(["gcc", "-O1", "-o", exe, os.path.join(harness.TARGETS, "late_python", "late_python.c"),
                            "-ldl"], capture_output=True, text=True)
        assert b.returncode == 0, b.stderr
        out = os.path.join(d, "out.folded")
        p = harness.run_pyperf(["record", "--subprocesses", "-F", str(hz), "-f", "folded", "-o", out, "--"] + argv
                               + [os.path.join(harness.TARGETS, "spawn_and_wait.py"), exe, libpython, "300", "2"],
                               timeout=120, env=dict(os.environ, PYTHONHOME=home))
        with open(out) as f:
            stacks = harness.parse_folded(f.read())
    m = re.search(r"late_cpu ([\d.]+)", p.stdout)
    assert m, "the child did not finish: %s\n%s" % (p.stdout, p.stderr)
    cpu = float(m.group(1))
    parent = re.search(r"sampling PID (\d+)", p.stderr).group(1)
    late = {}
    for fr, c in stacks:
        if any(x.startswith("late_spin (<string>:") for x in fr):
            late[fr[0]] = late.get(fr[0], 0) + c
    assert late, "no late_spin samples:\n%s" % p.stderr
    assert len(late) == 1 and list(late)[0] != "process " + parent, (late, parent)
    # Found within a few looks (0.1, 0.3, 0.7 s after the first) of
    # libpython being mapped: most of its CPU time is sampled.
    assert sum(late.values()) >= 0.5 * cpu * hz, (late, cpu, p.stderr)


@params(["3.9", "3.12", "debian3.11"])
def test_reused_code_addresses_keep_their_names(version):
    """Functions compiled and dropped in a loop, each at the address the
    one before was freed from: each keeps its own name, with its own
    samples (a code object known by address alone lends the next one the
    first one's name, stack and all)."""
    argv = harness.need_interpreter(version)
    seconds, hz, n = 0.3, 499, 6
    target = harness.start(argv + [os.path.join(harness.TARGETS, "dyncode.py"), str(seconds)],
                           ready_marker="ready")
    try:
        stacks, err = record(target.pid, seconds=None, hz=hz)
        target.wait(timeout=30)
        addrs = re.findall(r"^code (dyn_\d) (0x[0-9a-f]+)$", target.stdout.read(), re.M)
    finally:
        harness.stop(target)
    assert len(addrs) == n, addrs
    got = {"dyn_%d" % i: 0 for i in range(n)}
    for fr, c in stacks:
        for x in fr:
            m = re.match(r"^(dyn_\d) \(", x)
            if m:
                got[m.group(1)] += c
    want = seconds * hz
    reused = len(addrs) - len(set(a for _, a in addrs))
    for func, k in got.items():
        assert 0.5 * want <= k <= 1.5 * want, (func, got, "want ~%d each" % want, addrs, err)
    assert reused, "no address was reused: the test proves nothing (%s)" % addrs
