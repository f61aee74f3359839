#!/usr/bin/env python3
"""Soak test (make soak; not part of make test).

Records tests/soak/churn.py -- a program that starts and ends threads without
pause, each doing a little CPU work -- with
    build/pyperf record -p PID -F 999 -d SOAK_SECONDS -o OUT.folded
and checks that pyperf's memory stays bounded and that nothing is lost
beyond what pyperf reports.

Environment:
  SOAK_SECONDS   recording length (600)
  SOAK_INTERVAL  seconds between RSS samples (5)
  SOAK_ARGS      extra record options, e.g. "--threads"
  SOAK_PYTHON    interpreter for the target (this script's python3)
  PYPERF         the pyperf binary (build/pyperf)
  SOAK_KEEP      directory to keep the folded file, pyperf's stderr and the
                 RSS curve (rss.tsv) in

Memory. pyperf's RSS (/proc/PID/status VmRSS) is sampled every
SOAK_INTERVAL seconds and split with /proc/PID/smaps into the BPF map
mappings (the 4 MB ring buffer: its pages become resident as the producer
first goes round it, which takes a minute or more at this rate, and then
stay; bounded by the map sizes by construction) and the rest (heap, stacks,
the binary: what could leak). After a warm-up (a fifth of the run, at least
60 s, at most half the run) the rest must stay within
    baseline + max(8 MB, 20% of baseline)
where the baseline is its largest value during the warm-up. Why this
bound: with a fixed program, everything pyperf keeps (stacks, counts,
labels, code objects) stops growing once every stack was seen, i.e. during
the warm-up; what may still move is malloc's arenas and a hash map doubling
(a u64map of 16k entries grows by 256 kB at once), far below 8 MB. A leak
per thread or per sample is not: ~1000 threads/s and ~1000 samples/s over
10 minutes are 600k each, so even 16 bytes apiece passes 8 MB. The trend
over the post-warm-up samples is printed too (KB/min).

Accounting. pyperf's summary line "N samples" counts the samples that
reached userspace; those it could not turn into a stack are reported as
"stacks not resolved" within "lost L samples: R ring buffer full, U
stacks not resolved". Ring-buffer-full and "not in Python code" samples
never reach userspace, so
they are not part of N: they are reported next to it. Hence the check:
    sum of the counts in the folded file + U == N
(any difference is a sample pyperf dropped without saying so). Also: pyperf
exits 0, the file names churn.py's functions, and losses are printed as a
share of every sample the kernel took (N + R + not-in-Python).
Prints a PASS/FAIL report; exits 0 on PASS.
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYPERF = os.environ.get("PYPERF", os.path.join(ROOT, "build", "pyperf"))
CHURN = os.path.join(ROOT, "tests", "soak", "churn.py")
MB = 1024 * 1024


# Seen on 3.11: a new thread sampled while its only frames have not reached
# their first traceable instruction. The symbolizer hides such frames, so the
# stack has no label left and session_profile() skips it, while handle_event()
# already counted the sample in "N samples".
HIDDEN_HINT = ("; a likely cause: stacks whose every frame is hidden (3.11+ frames before their first "
               "traceable instruction, e.g. a thread just starting) are counted in N but neither written "
               "nor reported (user/sampler/session.c session_profile skips stacks with no label)")


def rss_parts(pid):
    """(total RSS, RSS of BPF map mappings) in bytes, or None once gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            total = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024
        bpf = 0
        in_bpf = False
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    in_bpf = "anon_inode:bpf" in line or "[bpf" in line
                elif in_bpf and line.startswith("Rss:"):
                    bpf += int(line.split()[1]) * 1024
        return total, bpf
    except (OSError, AttributeError, ValueError):
        return None


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def parse_summary(text):
    s = {}
    m = re.search(r"^pyperf: (\d+) samples, (\d+) distinct stacks", text, re.M)
    if m:
        s["samples"], s["stacks"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"^pyperf: lost (\d+) samples(?:: (\d+) ring buffer full, (\d+) stacks not resolved)?",
                  text, re.M)
    if m:
        s["lost"] = int(m.group(1))
        s["ringbuf"], s["unresolved"] = (int(g or 0) for g in m.group(2, 3))
    m = re.search(r"^pyperf: (\d+) samples not in Python code", text, re.M)
    s["not_python"] = int(m.group(1)) if m else 0
    m = re.search(r"^pyperf: (\d+) samples only in functions not yet started", text, re.M)
    s["hidden"] = int(m.group(1)) if m else 0
    return s


def folded_sum(path):
    total = lines = 0
    names = set()
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line:
                continue
            stack, _, count = line.rpartition(b" ")
            total += int(count)
            lines += 1
            for frame in stack.split(b";"):
                names.add(frame.split(b" (")[0].decode("utf-8", "replace"))
    return total, lines, names


def trend_kb_per_min(points):
    """Least-squares slope of (seconds, bytes) points, in KB per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    if den == 0:
        return 0.0
    return sum((t - mx) * (v - my) for t, v in points) / den * 60 / 1024


def main():
    seconds = float(os.environ.get("SOAK_SECONDS", "600"))
    interval = float(os.environ.get("SOAK_INTERVAL", "5"))
    extra = shlex.split(os.environ.get("SOAK_ARGS", ""))
    python = os.environ.get("SOAK_PYTHON", sys.executable)
    warmup = min(max(60.0, seconds / 5), seconds / 2)
    if not os.access(PYPERF, os.X_OK):
        print("soak: FAIL: %s not built (make all)" % PYPERF)
        return 1

    keep = os.environ.get("SOAK_KEEP")
    work = keep or tempfile.mkdtemp(prefix="pyperf-soak-")
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "soak.folded")
    errpath = os.path.join(work, "pyperf.stderr")
    status = os.path.join(work, "churn.status")

    target = subprocess.Popen([python, CHURN, status], stdout=subprocess.PIPE, text=True)
    failures = []
    try:
        if target.stdout.readline().strip() != "ready":
            print("soak: FAIL: the target did not start")
            return 1
        print("soak: target PID %d (%s), recording %.0f s at 999 Hz%s; warm-up %.0f s; RSS every %.0f s"
              % (target.pid, python, seconds, (" with " + " ".join(extra)) if extra else "", warmup,
                 interval), flush=True)
        threads0 = read_int(status)
        with open(errpath, "w") as err:
            rec = subprocess.Popen([PYPERF, "record", "-p", str(target.pid), "-F", "999", "-d", str(seconds),
                                    "-o", out] + extra, stdout=subprocess.DEVNULL, stderr=err)
        t0 = time.monotonic()
        last_cpu = None
        curve = []  # (seconds, total, bpf)
        next_at = t0 + interval
        print("     time    VmRSS   BPF maps   rest    threads run", flush=True)
        while rec.poll() is None:
            time.sleep(max(0.0, min(0.5, next_at - time.monotonic())))
            if time.monotonic() < next_at:
                continue
            next_at += interval
            parts = rss_parts(rec.pid)
            if parts is None:
                continue
            t = time.monotonic() - t0
            curve.append((t, parts[0], parts[1]))
            print("  %6.0fs %6.1f MB %6.1f MB %6.1f MB %10d" % (t, parts[0] / MB, parts[1] / MB,
                                                                   (parts[0] - parts[1]) / MB,
                                                                   read_int(status) - threads0),
                  flush=True)
            cpu = cpu_seconds(rec.pid)
            if cpu is not None:
                last_cpu = cpu
            if t > seconds + 120:
                failures.append("pyperf did not stop after -d %.0f" % seconds)
                rec.send_signal(signal.SIGINT)
                rec.wait(timeout=60)
                break
        rc = rec.wait()
        threads = read_int(status) - threads0
        elapsed = time.monotonic() - t0
    finally:
        target.kill()
        target.wait()

    with open(errpath) as f:
        stderr = f.read()
    print("soak: pyperf exited %d after %.0f s; its summary:" % (rc, elapsed))
    for line in stderr.splitlines():
        print("    " + line)
    if rc != 0:
        failures.append("pyperf exited %d" % rc)

    with open(os.path.join(work, "rss.tsv"), "w") as f:
        f.write("seconds\tvmrss_bytes\tbpf_maps_bytes\n")
        for t, total, bpf in curve:
            f.write("%.1f\t%d\t%d\n" % (t, total, bpf))

    # Memory.
    rest = [(t, total - bpf) for t, total, bpf in curve]
    warm = [v for t, v in rest if t <= warmup]
    after = [(t, v) for t, v in rest if t > warmup]
    if not warm or not after:
        failures.append("too few RSS samples (%d) for a warm-up of %.0f s" % (len(rest), warmup))
    else:
        base = max(warm)
        bound = base + max(8 * MB, base // 5)
        peak = max(v for _, v in after)
        slope = trend_kb_per_min(after)
        bpf_max = max(b for _, _, b in curve)
        print("soak: memory (without BPF maps): %.1f MB after warm-up, peak %.1f MB after it, bound %.1f MB; "
              "trend after warm-up %+.0f KB/min; BPF map pages resident: up to %.1f MB"
              % (base / MB, peak / MB, bound / MB, slope, bpf_max / MB))
        if peak > bound:
            failures.append("memory grew past the bound: %.1f MB > %.1f MB (trend %+.0f KB/min)"
                            % (peak / MB, bound / MB, slope))
    print("soak: pyperf used %s of CPU over %.0f s; the target ran %d threads (%.0f/s)"
          % ("%.1f s" % last_cpu if last_cpu is not None else "? s", elapsed, threads,
             threads / max(elapsed, 1)))

    # Accounting.
    s = parse_summary(stderr)
    if "samples" not in s or "lost" not in s:
        failures.append("no sample summary in pyperf's output")
    elif not os.path.exists(out):
        failures.append("no output file")
    else:
        total, lines, names = folded_sum(out)
        kernel = s["samples"] + s["ringbuf"] + s["not_python"]
        print("soak: folded file: %d stacks, %d samples; summary: %d samples, %d lost (%d ring buffer full, "
              "%d not resolved), %d not in Python code"
              % (lines, total, s["samples"], s["lost"], s["ringbuf"], s["unresolved"],
                 s["not_python"]))
        print("soak: of %d samples the kernel took in the target: %.2f%% written, %.2f%% lost, %.2f%% not in Python"
              % (kernel, 100.0 * total / max(kernel, 1), 100.0 * s["lost"] / max(kernel, 1),
                 100.0 * s["not_python"] / max(kernel, 1)))
        if total + s["unresolved"] + s["hidden"] != s["samples"]:
            failures.append("accounting: %d in the file + %d unreadable != %d samples (%+d unreported)%s"
                            % (total, s["unresolved"], s["samples"], s["samples"] - total - s["unresolved"],
                               HIDDEN_HINT if total + s["unresolved"] < s["samples"] else ""))
        if s["stacks"] != lines:
            failures.append("summary says %d distinct stacks, the file has %d lines" % (s["stacks"], lines))
        for fn in ("spin", "level", "worker"):
            if fn not in names:
                failures.append("the profile never names churn.py's %s()" % fn)
        if s["samples"] < seconds * 100:
            failures.append("only %d samples in %.0f s" % (s["samples"], seconds))

    if failures:
        print("soak: FAIL")
        for f in failures:
            print("  - " + f)
        print("soak: files kept in %s" % work)
        return 1
    print("soak: PASS")
    if not keep:
        for p in (out, errpath, status, os.path.join(work, "rss.tsv")):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
