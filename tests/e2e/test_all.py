"""record -a: every Python process on the host, several versions at once, periods."""
import contextlib
import os
import re
import tempfile
import time

import harness
from harness import Skip

VERSIONS = ["3.8", "debian3.11", "3.12", "3.13"]


def test_all_processes_several_versions():
    procs = {}
    for v in VERSIONS:
        argv = harness.interpreter(v)
        if argv is None:
            continue
        name = "spin_" + re.sub(r"\W", "_", v)
        procs[name] = harness.start(argv + [os.path.join(harness.TARGETS, "named_spin.py"), name],
                                    ready_marker="ready")
    if len(procs) < 2:
        raise Skip("fewer than two Python versions installed here")
    hz = 199
    try:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "all.folded")
            cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
            r = harness.run_pyperf(["record", "-a", "-F", str(hz), "-d", "3", "-o", out], timeout=120)
            cpu = {name: cpu_seconds(p.pid) - cpu0[name] for name, p in procs.items()}
            with open(out) as f:
                stacks = harness.parse_folded(f.read())
    finally:
        for p in procs.values():
            harness.stop(p)
    for name, p in procs.items():
        mine = [(fr, c) for fr, c in stacks if any(x.startswith(name + " (") for x in fr)]
        assert mine, "%s (pid %d) missing:\n%s" % (name, p.pid, r.stderr)
        roots = {fr[0] for fr, _ in mine}
        assert roots == {"process %d" % p.pid}, (name, roots)
        # Samples follow the CPU each spinner got, whatever the machine's
        # load; pyperf's start-up is inside the CPU window, hence 40%.
        got = sum(c for _, c in mine)
        assert got >= 0.4 * cpu[name] * hz and got > 0, (name, got, cpu[name])


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_every_period_files_and_late_start():
    argv = harness.need_interpreter("3.12")
    with tempfile.TemporaryDirectory() as d:
        spool = os.path.join(d, "spool") + "/"
        import subprocess
        # A period with nothing sampled writes no file: a spinner from the
        # start makes one a second.
        with spinner("early_starter"):
            rec = subprocess.Popen([harness.PYPERF, "record", "-a", "-F", "99", "--every", "1s", "--keep", "3",
                                    "-d", "6", "-o", spool, "-f", "folded"],
                                   stderr=subprocess.PIPE, text=True)
            # Start a process once the first period file exists: it must show up
            # in a later period, found by the once-a-second scan.
            deadline = time.monotonic() + 30
            while not (os.path.isdir(spool) and os.listdir(spool)) and time.monotonic() < deadline:
                time.sleep(0.1)
            late = harness.start(argv + [os.path.join(harness.TARGETS, "named_spin.py"), "late_starter"],
                                 ready_marker="ready")
            try:
                err = rec.communicate(timeout=60)[1]
            finally:
                harness.stop(late)
        assert rec.returncode == 0, err
        files = sorted(os.listdir(spool))
        assert len(files) == 3, "--keep 3 left %s\n%s" % (files, err)
        assert all(re.match(r"^pyperf-\d{8}T\d{6}\.\d{3}Z\.folded$", f) for f in files), files
        hits = 0
        for f in files:
            with open(os.path.join(spool, f)) as fh:
                for fr, c in harness.parse_folded(fh.read()):
                    if any(x.startswith("late_starter (") for x in fr):
                        assert fr[0] == "process %d" % late.pid, fr[0]
                        hits += c
        assert hits > 10, "late process not in the last periods:\n" + err
        # A period ends each second: with a file, or "nothing sampled" when
        # the host ran no Python code then (no empty files). The last one
        # runs on to -d's end rather than leaving a sliver, so a late
        # boundary under load makes 5.
        assert len(re.findall(r"samples from \d+ processes|nothing sampled in", err)) >= 5, err


def test_every_keep_1_keeps_a_period_with_samples():
    """-d a multiple of --every: no empty period file after the last full one,
    so --keep 1 keeps a profile with samples (issue #17)."""
    argv = harness.need_interpreter("3.12")
    t = harness.start(argv + [os.path.join(harness.TARGETS, "named_spin.py"), "keep_spin"], ready_marker="ready")
    try:
        with tempfile.TemporaryDirectory() as d:
            spool = os.path.join(d, "spool") + "/"
            r = harness.run_pyperf(["record", "-a", "-F", "99", "--every", "1s", "-d", "3", "--keep", "1",
                                    "-o", spool, "-f", "folded"], timeout=60)
            files = os.listdir(spool)
            assert len(files) == 1 and files[0].endswith(".folded"), (files, r.stderr)
            with open(os.path.join(spool, files[0])) as f:
                stacks = harness.parse_folded(f.read())
    finally:
        harness.stop(t)
    mine = sum(c for fr, c in stacks if any(x.startswith("keep_spin (") for x in fr))
    assert mine > 0, "kept period has %d samples of the spinner\n%s" % (mine, r.stderr)
    # Every file written had samples: an empty one would have been pruning's pick.
    written = re.findall(r"(\d+) samples from \d+ processes \((\d+) distinct stacks\) in \d+s -> ", r.stderr)
    assert written and all(int(n) > 0 and int(k) > 0 for n, k in written), r.stderr


def test_every_summary_counts_the_run():
    """The last line's figures cover the run, not its last period (issue #17)."""
    argv = harness.need_interpreter("3.12")
    t = harness.start(argv + [os.path.join(harness.TARGETS, "named_spin.py"), "sum_spin"], ready_marker="ready")
    try:
        with tempfile.TemporaryDirectory() as d:
            spool = os.path.join(d, "spool") + "/"
            r = harness.run_pyperf(["record", "-a", "-F", "99", "--every", "1s", "-d", "3", "-o", spool,
                                    "-f", "folded"], timeout=60)
            periods = []
            for f in sorted(os.listdir(spool)):
                with open(os.path.join(spool, f)) as fh:
                    periods.append(harness.parse_folded(fh.read()))
    finally:
        harness.stop(t)
    m = re.search(r"pyperf: (\d+) samples, (\d+) period files, at most (\d+) distinct stacks in one \(", r.stderr)
    assert m, r.stderr
    assert int(m.group(2)) == len(periods) >= 2, (len(periods), r.stderr)
    assert int(m.group(3)) == max(len(p) for p in periods) > 0, ([len(p) for p in periods], r.stderr)
    assert int(m.group(1)) >= sum(c for p in periods for _, c in p) > 0, r.stderr


SHORT_SCRIPT = """
import time
def short_%s():
    t = time.process_time()
    while time.process_time() - t < 0.4:
        pass
short_%s()
"""


def test_short_lived_processes_caught_at_exec():
    """A process living less than the 1 s between /proc scans is looked at
    as it execs: most of its samples are kept, for each one of several."""
    import subprocess
    kinds = [v for v in ["3.12", "debian3.11", "3.9"] if harness.interpreter(v)]
    if not kinds:
        raise Skip("none of Python 3.12, Debian's 3.11, 3.9 installed here")
    hz = 199
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "all.folded")
        rec = subprocess.Popen([harness.PYPERF, "record", "-a", "-F", str(hz), "--cpu-budget", "100",
                                "-d", "60", "-o", out], stderr=subprocess.PIPE, text=True)
        try:
            line = rec.stderr.readline()
            assert "sampling every Python process" in line, line
            pids = {}
            for round_ in range(2):
                for v in kinds:
                    name = "%s_%d" % (re.sub(r"\W", "_", v), round_)
                    p = subprocess.run(harness.interpreter(v) + ["-c", SHORT_SCRIPT % (name, name)], timeout=60)
                    assert p.returncode == 0
                    pids[name] = p
        finally:
            rec.send_signal(2)
            err = line + rec.communicate(timeout=60)[1]
        assert rec.returncode == 0, err
        with open(out) as f:
            stacks = harness.parse_folded(f.read())
    expected = 0.4 * hz
    for name in pids:
        got = sum(c for fr, c in stacks if any(x.startswith("short_%s (" % name) for x in fr))
        # Found only by the once-a-second scan, a 0.4 s process loses about
        # half of its samples on average, and all of them often.
        assert got >= 0.6 * expected, "short_%s: %d samples of ~%d expected\n%s" % (name, got, expected, err)


def test_all_argument_errors():
    for args, needle in [(["record", "-a", "-p", "1"], "not both"),
                         (["record", "-a", "--every", "10s", "-o", "x.pb.gz"], "give a directory"),
                         (["record", "-a", "--every", "0.1s", "-o", "/tmp/d/"], "invalid period"),
                         (["record", "-a", "--keep", "3", "-o", "x.pb.gz"], "apply to --every"),
                         (["record", "-a", "--max-disk", "lots", "-o", "x.pb.gz"], "invalid --max-disk")]:
        p = harness.run_pyperf(args, check=False)
        assert p.returncode == 2 and needle in p.stderr, (args, p.stderr)


def test_all_pprof_periods_with_labels():
    import test_formats  # go_pprof: go tool pprof run offline
    procs = {}
    for v in ("3.9", "debian3.11", "3.13"):
        argv = harness.interpreter(v)
        if argv:
            name = "lab_" + re.sub(r"\W", "_", v)
            procs[name] = harness.start(argv + [os.path.join(harness.TARGETS, "named_spin.py"), name],
                                        ready_marker="ready")
    if len(procs) < 2:
        raise Skip("fewer than two Python versions installed here")
    with tempfile.TemporaryDirectory() as d:
        spool = os.path.join(d, "spool") + "/"
        try:
            r = harness.run_pyperf(["record", "-a", "-F", "199", "--every", "2s", "-d", "6.5", "-o", spool],
                                   timeout=120)
        finally:
            for p in procs.values():
                harness.stop(p)
        files = sorted(os.listdir(spool))
        assert len(files) >= 3 and all(f.endswith(".pb.gz") for f in files), files
        home = os.path.join(d, "home")
        os.makedirs(home)
        for f in files[:3]:  # the full periods
            path = os.path.join(spool, f)
            tags = test_formats.go_pprof(["-tags"], path, home)
            for name, p in procs.items():
                assert str(p.pid) in tags, "pid %d not a label in %s:\n%s" % (p.pid, f, tags)
                # Only this process's samples: its own function dominates.
                top = test_formats.go_pprof(["-top", "-tagfocus=cmdline=" + name], path, home)
                focused = float(re.search(r"accounting for \S+, ([\d.]+)% of", top).group(1))
                m = re.search(r"^\s*\S+\s+([\d.]+)%\s+\S+%\s+\S+\s+\S+%\s+(\S+)", top.split("flat%")[1], re.M)
                assert m and m.group(2) == name and float(m.group(1)) >= 0.9 * focused > 0, (name, f, top[-1500:])


def test_cpu_budget_lowers_the_rate():
    argv = harness.need_interpreter("3.12")
    t = harness.start(argv + [os.path.join(harness.TARGETS, "threads.py")], ready_marker="ready")
    try:
        with tempfile.TemporaryDirectory() as d:
            r = harness.run_pyperf(["record", "-a", "-F", "2999", "--cpu-budget", "0.0001", "-d", "6",
                                    "-o", os.path.join(d, "x.pb.gz")], timeout=60)
    finally:
        harness.stop(t)
    m = re.search(r"over the CPU budget \(([\d.]+)% used, 0\.00% allowed\): sampling at (\d+) Hz now", r.stderr)
    assert m and int(m.group(2)) < 2999 and float(m.group(1)) > 0.0001, r.stderr


@contextlib.contextmanager
def spinner(name):
    """A process spinning in function name while the block runs."""
    t = harness.start(harness.need_interpreter("3.12") + [os.path.join(harness.TARGETS, "named_spin.py"), name],
                      ready_marker="ready")
    try:
        yield t
    finally:
        harness.stop(t)


def test_log_file_and_sighup_reopen():
    import signal
    import subprocess
    with spinner("log_spin"):  # a period with nothing sampled writes no file
        _log_file_and_sighup_reopen(signal, subprocess)


def _log_file_and_sighup_reopen(signal, subprocess):
    with tempfile.TemporaryDirectory() as d:
        log, spool = os.path.join(d, "pyperf.log"), os.path.join(d, "spool") + "/"
        p = subprocess.Popen([harness.PYPERF, "record", "-a", "--every", "1s", "-d", "4", "-o", spool,
                              "--log", log], stderr=subprocess.PIPE, text=True)
        _wait_for_text(log, "samples from")
        os.rename(log, log + ".1")          # what logrotate does
        p.send_signal(signal.SIGHUP)
        err = p.communicate(timeout=60)[1]
        assert p.returncode == 0, err
        assert err == "", "messages went to stderr despite --log: %r" % err
        with open(log + ".1") as f:
            old = f.read()
        with open(log) as f:
            new = f.read()
        assert "sampling every Python process" in old and "samples from" in old, old
        assert "wrote" in new and "samples from" in new, "nothing in the reopened log: %r" % new


def test_systemd_unit_installed():
    import subprocess
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run(["make", "-s", "install", "DESTDIR=" + d, "PREFIX=/opt/pp"], cwd=harness.ROOT,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        with open(os.path.join(d, "opt/pp/lib/systemd/system/pyperf.service")) as f:
            unit = f.read()
    m = re.search(r"^ExecStart=(\S+) (.*)$", unit, re.M)
    assert m and m.group(1) == "/opt/pp/bin/pyperf", unit
    args = m.group(2).split()
    assert args[:2] == ["record", "-a"] and "--every" in args and "StateDirectory=pyperf" in unit, unit
    # The unit's own command line is valid: the same arguments pass pyperf's parser
    # (checked with --help appended, which parses everything before it).
    p = harness.run_pyperf(args + ["--help"], check=False)
    assert p.returncode == 0 and "usage" in p.stdout, p.stderr



def _wait_for_text(path, needle, after="", timeout=30):
    """Waits until needle is in the file at path, past the first occurrence of after."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = open(path).read() if os.path.exists(path) else ""
        if after in text and needle in (text.split(after, 1)[1] if after else text):
            return text
        time.sleep(0.1)
    raise AssertionError("%r never appeared in %s: %r" % (needle, path, text))


def test_log_reopen_failure_keeps_the_old_log():
    # logrotate moved the log's directory away: SIGHUP cannot open a new log.
    # The old log says so and keeps the messages; recording goes on.
    import signal
    import subprocess
    with spinner("log_spin"):  # a period with nothing sampled writes no file
        _log_reopen_failure(signal, subprocess)


def _log_reopen_failure(signal, subprocess):
    with tempfile.TemporaryDirectory() as d:
        logdir, spool = os.path.join(d, "logs"), os.path.join(d, "spool") + "/"
        os.makedirs(logdir)
        log, moved = os.path.join(logdir, "x.log"), os.path.join(d, "logs.gone", "x.log")
        p = subprocess.Popen([harness.PYPERF, "record", "-a", "--every", "1s", "-o", spool, "--log", log],
                             stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_text(log, "samples from")
            os.rename(logdir, os.path.dirname(moved))
            p.send_signal(signal.SIGHUP)
            _wait_for_text(moved, "cannot reopen log %s: No such file or directory" % log)
            # Still recording: a period written after the failure, into the old log.
            _wait_for_text(moved, "samples from", after="cannot reopen log")
            assert p.poll() is None, "pyperf stopped after the failed reopen"
            p.send_signal(signal.SIGINT)
            err = p.communicate(timeout=60)[1]
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 0, err
        assert err == "", "messages went to stderr despite --log: %r" % err
        assert not os.path.exists(logdir), "a new log directory appeared"
        with open(moved) as f:
            after = f.read().split("cannot reopen log", 1)[1]
        assert "samples from" in after and "wrote" in after, after
        assert len(os.listdir(spool)) >= 2, os.listdir(spool)

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_churn_memory_flat_no_period_lost_no_misattribution():
    """-a --every 1s while short-lived Python processes come and go."""
    import subprocess
    seconds = float(os.environ.get("PYPERF_CHURN_SECONDS", "20"))
    argv = harness.need_interpreter("debian3.11")
    plain = os.path.join(harness.BUILD, "pyperf")  # ASan's quarantine would hide a flat RSS
    with tempfile.TemporaryDirectory() as d:
        spool = os.path.join(d, "spool") + "/"
        rec = subprocess.Popen([plain, "record", "-a", "-F", "499", "--cpu-budget", "50", "--every", "1s", "-d", str(seconds),
                                "-o", spool, "-f", "folded"], stderr=subprocess.PIPE, text=True)
        names, live, rss = {}, [], []
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds - 1:
            name = "churn_%d" % n
            # Each lives 1.5 s: /proc is scanned once a second, so it is alive
            # at some scan (shorter-lived processes may be missed by design).
            p = subprocess.Popen(argv + [os.path.join(harness.TARGETS, "named_spin.py"), name, "1.5"],
                                 stdout=subprocess.DEVNULL)
            names[p.pid] = name
            live.append(p)
            n += 1
            time.sleep(0.3)
            live = [q for q in live if q.poll() is None]
            if rec.poll() is None:
                rss.append((time.monotonic() - start, rss_kb(rec.pid)))
        for q in live:
            q.wait()
        err = rec.communicate(timeout=60)[1]
        assert rec.returncode == 0, err
        files = sorted(os.listdir(spool))
        # One file a second, none lost; a period less than half long at
        # the end joins the one before (no sliver file), so one fewer.
        assert len(files) >= int(seconds) - 2, (len(files), err)
        seen = {}
        for f in files:
            with open(os.path.join(spool, f)) as fh:
                for fr, c in harness.parse_folded(fh.read()):
                    churn = [x for x in fr if x.startswith("churn_")]
                    if not churn:
                        continue
                    name = churn[-1].split(" ")[0]
                    pid = int(fr[0].split()[1])
                    assert names.get(pid) == name, "%s counted under pid %d (%s)" % (name, pid, names.get(pid))
                    seen[name] = seen.get(name, 0) + c
    assert len(seen) >= 0.9 * n, "only %d of %d short-lived processes seen\n%s" % (len(seen), n, err[-2000:])
    warm = [kb for t, kb in rss if t >= seconds / 4]
    assert warm, rss
    # Flat after warm-up: the end is within 25% (or 4 MiB) of the warm-up level.
    assert warm[-1] <= max(warm[0] * 1.25, warm[0] + 4096), "RSS grew: %s" % rss
