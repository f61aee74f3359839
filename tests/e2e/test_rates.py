"""Sampling rates the kernel does not deliver, and -d kept under load."""
import gzip
import os
import re
import signal
import subprocess
import tempfile
import time

import harness
from test_formats import _fields

MAX_RATE = "/proc/sys/kernel/perf_event_max_sample_rate"
VERSION = "3.12"


def pprof_meta(path):
    """duration_nanos (field 10) and period (field 12) of a gzipped profile.proto,
    and the sum of its samples' first values (counts)."""
    with open(path, "rb") as f:
        data = gzip.decompress(f.read())
    meta, count = {}, 0
    for num, v in _fields(data):
        if num in (10, 12):
            meta[num] = v
        elif num == 2:
            for k, w in _fields(v):
                if k == 2:  # packed values: the first is the count
                    count += _first_varint(w)
    return meta.get(10), meta.get(12), count


def _first_varint(b):
    v = shift = 0
    for c in b:
        v |= (c & 0x7f) << shift
        shift += 7
        if not c & 0x80:
            break
    return v


def start_record(args, **kw):
    """pyperf record args; returns (process, monotonic time its 'sampling PID' line came)."""
    p = subprocess.Popen([harness.PYPERF, "record"] + args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, **kw)
    lines = []
    while True:
        line = p.stderr.readline()
        if not line:
            p.wait()
            raise AssertionError("pyperf exited %s before sampling: %s" % (p.returncode, "".join(lines)))
        lines.append(line)
        if "sampling PID" in line:
            return p, time.monotonic(), lines


def finish_record(p, lines, timeout):
    """Waits for the end; (exit code, all of stderr, monotonic time of the end)."""
    try:
        rest = p.communicate(timeout=timeout)[1]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, "".join(lines) + rest, time.monotonic()


def target_cpu_s(pid):
    """CPU time (user + system) of a process's threads so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_duration_kept_under_load():
    """-d 1 at the kernel's highest rate against three threads whose stacks
    are almost never the same twice (manystacks.py), pyperf stopped (SIGSTOP)
    from 0.1 s to 0.95 s as a busy host may leave it without a CPU: it
    resumes behind, with records coming faster than it reads them. Before
    the fix the read went on while they came and -d 1 ran 5-7 s here.
    Asserted: the profile's duration_nanos within 150 ms of 1 s (the issue
    asks 100 ms; 50 more for a 2-CPU VM shared with other work), and the run
    over within 2.5 s of the start of sampling: past the 100 ms of the
    deadline and the last read, that margin is for writing thousands of
    distinct stacks in the sanitizer build and its exit (1.5-1.7 s in all
    measured here)."""
    argv = harness.need_interpreter(VERSION)
    with open(MAX_RATE) as f:
        hz = f.read().strip()
    target = harness.start(argv + [os.path.join(harness.TARGETS, "manystacks.py")], ready_marker="ready")
    try:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.pb.gz")
            p, t0, lines = start_record(["-p", str(target.pid), "-F", hz, "-d", "1", "-o", out])
            try:
                time.sleep(0.1)  # a schedule, not a wait for a condition: when the host takes pyperf away
                p.send_signal(signal.SIGSTOP)
                time.sleep(0.85)
            finally:
                p.send_signal(signal.SIGCONT)
            rc, err, t1 = finish_record(p, lines, timeout=120)
            assert rc == 0, "exit %d: %s" % (rc, err[-3000:])
            assert "(duration reached)" in err, err[-3000:]
            duration_ns, _, _ = pprof_meta(out)
            assert abs(duration_ns - 1e9) <= 150e6, "duration_nanos %d\n%s" % (duration_ns, err[-3000:])
            assert t1 - t0 < 2.5, "-d 1 ended %.2f s after sampling started\n%s" % (t1 - t0, err[-3000:])
    finally:
        harness.stop(target)


def set_max_rate(value):
    with open(MAX_RATE, "w") as f:
        f.write(str(value))


def test_rate_above_kernel_maximum():
    """The kernel's maximum lowered to 1000 Hz (restored whatever happens: other
    tests run after this one): -F 5000 is clamped to 1000 with a one-line warning
    naming the sysctl, and the profile's period is 1 ms (or that of the rate
    achieved, when the summary reports one). Then, the maximum lowered
    while sampling at 5000 Hz (what the kernel does itself when perf interrupts
    take too long): the kernel throttles the events to a few samples per tick,
    the summary reports the rate achieved next to the one asked, and pprof's
    period is that of the achieved rate (samples over the target's CPU time),
    so count x period is the CPU time the target used while sampled: within
    15% of what /proc says it used from just after the start to just after
    the end (/proc counts in 10 ms ticks and includes the moments before the
    first and after the last reading)."""
    argv = harness.need_interpreter(VERSION)
    with open(MAX_RATE) as f:
        original = f.read().strip()
    if int(original) < 5000:
        raise harness.Skip("%s is %s here, below the 5000 Hz this test asks" % (MAX_RATE, original))
    target = harness.start(argv + [os.path.join(harness.TARGETS, "threads.py")], ready_marker="ready")
    try:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.pb.gz")
            set_max_rate(1000)
            try:
                p = harness.run_pyperf(["record", "-p", str(target.pid), "-F", "5000", "-d", "1", "--sampler", "timer", "-o", out],
                                       check=False)
            finally:
                set_max_rate(original)
            assert p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr[-3000:])
            warn = [l for l in p.stderr.splitlines() if "warning" in l]
            assert len(warn) == 1 and "perf_event_max_sample_rate" in warn[0] and "1000 Hz" in warn[0], \
                p.stderr
            assert "at 1000 Hz" in p.stderr, p.stderr
            # At exactly the maximum the kernel may still throttle (a tick
            # with one expiry too many): then the rate achieved is reported.
            m = re.search(r"samples came at ~(\d+) Hz of the 1000 Hz asked", p.stderr)
            _, period, _ = pprof_meta(out)
            expected = 1e9 / int(m.group(1)) if m else 1e6
            assert abs(period - expected) <= 0.01 * expected, "period %d\n%s" % (period, p.stderr)

            rp, t0, lines = start_record(["-p", str(target.pid), "-F", "5000", "-d", "2", "--sampler", "timer", "-o", out])
            cpu0 = target_cpu_s(target.pid)
            try:
                set_max_rate(1000)
                rc, err, t1 = finish_record(rp, lines, timeout=120)
            finally:
                set_max_rate(original)
            cpu = target_cpu_s(target.pid) - cpu0
            assert rc == 0, "exit %d: %s" % (rc, err[-3000:])
            m = re.search(r"samples came at ~(\d+) Hz of the 5000 Hz asked \(the kernel throttled", err)
            assert m, err[-3000:]
            achieved = int(m.group(1))
            assert achieved < 4000, err[-3000:]
            _, period, count = pprof_meta(out)
            assert abs(period - 1e9 / achieved) <= 0.01 * period, "period %d for ~%d Hz" % (period, achieved)
            assert 0.85 * cpu <= count * period / 1e9 <= 1.15 * cpu, \
                "pprof total %.2f s, target used %.2f s of CPU\n%s" % (count * period / 1e9, cpu, err[-3000:])
    finally:
        harness.stop(target)
