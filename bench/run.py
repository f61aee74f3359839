#!/usr/bin/env python3
"""pyperf benchmarks (issue #8, and the CPython 3.15 comparison of #9).

usage: bench/run.py [--quick] [--only NAME[,NAME...]] [--python CMD]
                    [--pyperf PATH] [--json FILE] [--write-results]
       bench/run.py --results-from FILE.json

Benchmarks (NAME for --only):
  headline    the user-facing overhead (#22): a chunk of work.py timed
              alone (A) and with a profiler attached (P), A P1 A P2 ... A,
              shuffled, each P against its two A's; pyperf timer and
              remote next to austin on pyenv 3.12 and to CPython 3.15's
              profiling.sampling on sid's 3.15, at 99/999/9999 Hz: target
              slowdown, profiler CPU per sample, rate reached, A/A noise;
              a bare timer wakeup's CPU, a bystander's slowdown, what
              --sampler auto picks at each rate; a matrix per target in
              the output and in bench/RESULTS.md
  paused      the target slowdown at 9999 Hz under pyperf remote, austin
              (3.12) and profiling.sampling (3.15), and under a bare
              wakeup: all attached to one target working without a
              break, all stopped (SIGSTOP) but one at a time, 0.3 s
              windows off/on for 150 s: hundreds of pairs, mean and
              median, each against pyperf remote cycle by cycle; then a
              bystander's slowdown so, while pyperf remote and timer
              sample another, idle process (~8 minutes in all)
  slowdown    a fixed amount of Python work, CPU time inside the target,
              unprofiled vs pyperf at 99/999/9999 Hz, interleaved rounds,
              median ratio; an unprofiled A/A pair shows the noise floor
  bpf         BPF run time per sample at stack depth 10/100/1000
              (kernel.bpf_stats_enabled), ns per sample and per frame
  self        pyperf's own CPU per 1000 samples and peak RSS, 1 and 8
              target threads
  lost        samples lost at 9999 Hz over 30 s on a busy 4-thread target
  symbolize   time to resolve 10,000 distinct code objects
  flamegraph  bench/flamegraph_bench.py (1,000,000-line folded file), if present
  cpython315  python3.15 -m profiling.sampling vs pyperf on the same 3.15
              target: profiler CPU per sample and achieved rate
  native      record --native vs record on one target (10 Python frames
              calling ~20 C frames, bench/targets/native_deep.c): BPF ns
              per sample and per native frame, pyperf CPU per sample;
              unwind table build time and size (libpython, libc, static
              python3.11); dump --native's userspace unwinder per stack
              (bench/native_bench.c) against the BPF cost
  async       record --async vs record on a task 10 coroutines deep
              (bench/targets/async_chain.py): BPF ns and pyperf CPU per
              sample; dump --async of 5,000 pending tasks (3.12, 3.14):
              wall time and peak RSS; python3.15 -m profiling.sampling
              --async-aware vs record --async on one 3.15 process
  locals      dump and dump --locals (text, --json) of 2,000 threads
              parked 50 frames deep, 8 variables a frame
              (bench/targets/deep_threads.py): CPU (utime+stime), wall,
              peak RSS, median of alternating runs
  report      pyperf report over a day of period files (1,440 one-minute
              pprof files of 50 processes, bench/report_gen.c): CPU and
              peak RSS of the whole day, of a quarter of it (memory must
              not follow the files) and of a 15-minute window of one
              process

Every number is a ratio or a cost per unit measured side by side in one run:
the machines are noisy, so no lone absolute wall time is reported. The final
table lists each number with its target and PASS/MISS. --quick shrinks
every benchmark (a few minutes in all); a full run is long: headline
alone takes ~10 minutes, paused ~5, so run them with --only.
--write-results replaces the generated part of bench/RESULTS.md (the text
before it is kept); --results-from redoes that from a saved --json file.

Needs root (BPF, ptrace, sysctl), bpftool, and `make` done (build/pyperf,
build/libpyperf.a). Uses a private copy of build/pyperf, so a rebuild by
someone else during the run changes nothing.
"""
import argparse
import datetime
import glob
import gzip
import json
import math
import os
import platform
import queue
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
TARGETS = os.path.join(BENCH, "targets")
DEEP = os.path.join(ROOT, "tests", "targets", "deep.py")
SID = os.path.join(ROOT, "tests", "helpers", "sid-python.sh")
RESULTS_MD = os.path.join(BENCH, "RESULTS.md")
STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
ALL = ["headline", "paused", "slowdown", "bpf", "self", "lost", "symbolize", "flamegraph", "cpython315", "native",
       "async", "locals", "report", "all"]


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------------------
# Child processes: every one is registered so that an error or Ctrl-C never
# leaves a spinning target or a sampler behind.

_children = []


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _children.append(p)
    return p


def reap(p, sig=signal.SIGKILL):
    """Ends a child started by spawn() (by its PID only) and reaps it."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in _children:
        _children.remove(p)


def reap_all():
    for p in list(_children):
        reap(p)


class Target:
    """A benchmark target: a Python script that prints "ready" once it runs
    the code to be sampled. Stdin and stdout are pipes (work.py takes
    commands)."""

    def __init__(self, argv, ready_timeout=60):
        self.proc = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.pid = self.proc.pid
        line = self.readline(ready_timeout)
        if line.strip() != "ready":
            reap(self.proc)
            raise RuntimeError("target %s did not start (said %r)" % (argv, line))

    def readline(self, timeout):
        q = queue.Queue()
        threading.Thread(target=lambda: q.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            return q.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError("target PID %d: no answer within %d s" % (self.pid, timeout))

    def ask(self, line, timeout=600):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.readline(timeout)

    def stop(self):
        reap(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# What the kernel knows about a process and a BPF program.

def schedstat_ns(pid):
    """CPU time of a process (all threads) in ns: the sum of its threads'
    /proc/PID/task/TID/schedstat run times (ns resolution, unlike utime)."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def fdinfo(pid, fd):
    out = {}
    with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def counter_indices():
    """enum pyperf_counter from bpf/pyperf.h: name -> index (kept in sync
    with the header rather than copied)."""
    with open(os.path.join(ROOT, "bpf", "pyperf.h")) as f:
        text = f.read()
    body = re.search(r"enum\s+pyperf_counter\s*{(.*?)}", text, re.S).group(1)
    names = re.findall(r"^\s*(CNT_\w+)\s*(?:=\s*(\d+))?\s*,?", body, re.M)
    idx, out = 0, {}
    for name, val in names:
        idx = int(val) if val else idx
        out[name] = idx
        idx += 1
    return out


def bpf_name(kind, obj_id):
    """Name of a BPF map or program by id ("map"/"prog"), through bpftool."""
    out = subprocess.run(["bpftool", "-j", kind, "show", "id", str(obj_id)], capture_output=True, text=True).stdout
    return json.loads(out or "{}").get("name")


# Read once, when the pyperf binary is copied (see Env): the header and the
# binary must agree, and others may edit the header during a long run.
COUNTERS = None


class BpfHandles:
    """The sampler program and its counters map, found through the file
    descriptors of one pyperf process (other pyperf runs on the machine
    have their own)."""

    def __init__(self, pyperf_pid):
        self.pid = pyperf_pid
        self.prog_fd = None
        self.counters_id = None
        self.cnt = COUNTERS
        progs = {}  # fd -> prog id, perf_event programs only (pyperf has tracing ones too)
        for fd in os.listdir("/proc/%d/fd" % pyperf_pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pyperf_pid, fd))
            except OSError:
                continue
            if link == "anon_inode:bpf-prog":
                info = fdinfo(pyperf_pid, fd)
                if info.get("prog_type") == "7":  # BPF_PROG_TYPE_PERF_EVENT
                    progs[fd] = info["prog_id"]
            elif link == "anon_inode:bpf-map" and self.counters_id is None:
                info = fdinfo(pyperf_pid, fd)
                if info.get("map_type") == "6" and bpf_name("map", info["map_id"]) == "counters":
                    self.counters_id = info["map_id"]  # a BPF_MAP_TYPE_PERCPU_ARRAY
        for fd, prog_id in progs.items():
            if len(progs) == 1 or bpf_name("prog", prog_id) == "pyperf_sample":
                self.prog_fd = fd
        if self.prog_fd is None or self.counters_id is None:
            raise RuntimeError("pyperf PID %d: sampler program or counters map not found" % pyperf_pid)

    def prog_stats(self):
        info = fdinfo(self.pid, self.prog_fd)
        return int(info.get("run_time_ns", 0)), int(info.get("run_cnt", 0))

    def counters(self):
        """Sums over CPUs of the counters map: {CNT_NAME: value}."""
        out = subprocess.run(["bpftool", "-j", "map", "dump", "id", self.counters_id],
                             capture_output=True, text=True, check=True).stdout
        vals = {}
        for entry in json.loads(out):
            f = entry.get("formatted")
            if f:
                key, total = f["key"], sum(v["value"] for v in f["values"])
            else:  # no BTF: little-endian byte lists
                key = int.from_bytes(bytes(int(b, 16) for b in entry["key"]), "little")
                total = sum(int.from_bytes(bytes(int(b, 16) for b in v["value"]), "little")
                            for v in entry["values"])
            vals[key] = total
        return {name: vals.get(i, 0) for name, i in self.cnt.items() if name != "CNT__MAX"}


class BpfStats:
    """kernel.bpf_stats_enabled=1 for the duration of a with block; the old
    value comes back whatever happens."""

    def __enter__(self):
        with open(STATS_SYSCTL) as f:
            self.old = f.read().strip()
        with open(STATS_SYSCTL, "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc):
        with open(STATS_SYSCTL, "w") as f:
            f.write(self.old)


# ---------------------------------------------------------------------------
# pyperf record, watched from outside.

SUMMARY_RE = re.compile(r"pyperf: (\d+) samples, (\d+) distinct stacks")
LOST_RE = re.compile(r"pyperf: lost (\d+) samples")
NOTPY_RE = re.compile(r"pyperf: (\d+) samples not in Python code")


class Recording:
    """`pyperf record -p PID` in the background. start() returns once it says
    it is sampling; snapshot() reads its costs so far; stop() sends SIGINT
    (pyperf writes its profile and summary) and returns the summary and the
    process's rusage."""

    def __init__(self, env, pid, hz, output=None, duration=None, extra=()):
        self.env = env
        self.output = output or os.path.join(env.tmp, "rec.folded")
        argv = [env.pyperf, "record", "-p", str(pid), "-F", str(hz), "-o", self.output]
        if duration:
            argv += ["-d", str(duration)]
        argv += list(extra)
        self.target_pid = pid
        self.proc = spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self._sampling = threading.Event()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self.bpf = None

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("pyperf: sampling PID"):
                self._sampling.set()
        self._sampling.set()  # ended: do not wait forever

    def start(self, timeout=60):
        if not self._sampling.wait(timeout) or self.proc.poll() is not None:
            raise RuntimeError("pyperf did not start sampling:\n  " + "\n  ".join(self.lines))
        return self

    def snapshot(self, want_counters=True):
        """Costs so far: pyperf CPU, target CPU, BPF run time/count, counters."""
        if self.bpf is None:
            self.bpf = BpfHandles(self.proc.pid)
        run_ns, run_cnt = self.bpf.prog_stats()
        return {
            "t": time.monotonic(),
            "pyperf_cpu_ns": schedstat_ns(self.proc.pid),
            "target_cpu_ns": schedstat_ns(self.target_pid),
            "bpf_run_ns": run_ns,
            "bpf_run_cnt": run_cnt,
            "cnt": self.bpf.counters() if want_counters else {},
        }

    def wait(self, timeout=None):
        """Waits for pyperf to end by itself; returns the summary."""
        return self._finish(timeout)

    def stop(self, timeout=120):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self._finish(timeout)

    def _finish(self, timeout):
        deadline = time.monotonic() + (timeout or 1e9)
        while True:  # os.wait4 gives the rusage Popen.wait throws away
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                reap(self.proc)
                raise RuntimeError("pyperf did not stop:\n  " + "\n  ".join(self.lines))
            time.sleep(0.02)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.proc in _children:
            _children.remove(self.proc)
        self._reader.join(10)
        text = "\n".join(self.lines)
        s = {"rc": self.proc.returncode, "stderr": text,
             "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kib": ru.ru_maxrss}
        m = SUMMARY_RE.search(text)
        s["samples"] = int(m.group(1)) if m else None
        s["stacks"] = int(m.group(2)) if m else None
        m = LOST_RE.search(text)
        s["lost"] = int(m.group(1)) if m else None
        m = NOTPY_RE.search(text)
        s["not_python"] = int(m.group(1)) if m else 0
        if s["samples"] is None:
            raise RuntimeError("pyperf gave no summary (exit %d):\n  %s" % (s["rc"], text.replace("\n", "\n  ")))
        return s


def delta(a, b):
    d = {k: b[k] - a[k] for k in ("t", "pyperf_cpu_ns", "target_cpu_ns", "bpf_run_ns", "bpf_run_cnt")}
    d["cnt"] = {k: b["cnt"][k] - a["cnt"].get(k, 0) for k in b["cnt"]}
    return d


def record_window(env, pid, hz, seconds, settle=0.5, extra=()):
    """Runs pyperf on pid and measures a steady-state window of `seconds`,
    after `settle` seconds of warm-up (start-up, BPF verification and the
    first symbolizations stay outside). Returns (window deltas, summary)."""
    rec = Recording(env, pid, hz, extra=extra).start()
    try:
        time.sleep(settle)
        a = rec.snapshot()
        time.sleep(seconds)
        b = rec.snapshot()
    finally:
        summary = rec.stop()
    return delta(a, b), summary


def folded_frames(path):
    """Average frames per sample in a folded file (weighted by count)."""
    frames = samples = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not n.isdigit():
                continue
            depth = len(re.split(r"(?<!\\);", stack))
            frames += depth * int(n)
            samples += int(n)
    return frames / samples if samples else float("nan")


# ---------------------------------------------------------------------------
# Results: every benchmark adds rows (name, value, unit, target, verdict)
# and free-form details.

class Results:
    def __init__(self):
        self.rows = []
        self.details = {}
        self.notes = []

    def add(self, bench, name, value, unit, target=None, ok=None, fmt="%.3g"):
        """ok: True PASS, False MISS, None no verdict, or a string shown as is."""
        verdict = "" if ok is None else ok if isinstance(ok, str) else ("PASS" if ok else "MISS")
        if isinstance(value, str):
            shown = value
        elif value is None or value != value:  # None or NaN: no verdict either
            shown, verdict = "n/a", ""
        else:
            shown = fmt % value
        self.rows.append({"bench": bench, "name": name, "value": value, "shown": shown,
                          "unit": unit, "target": target or "", "verdict": verdict})

    def table(self, markdown=False):
        cols = ["benchmark", "measure", "value", "unit", "target", ""]
        data = [[r["bench"], r["name"], r["shown"], r["unit"], r["target"], r["verdict"]] for r in self.rows]
        if markdown:
            out = ["| " + " | ".join(c or "verdict" for c in cols) + " |",
                   "|" + "|".join(["---"] * len(cols)) + "|"]
            out += ["| " + " | ".join(str(x).replace("|", "\\|") for x in d) + " |" for d in data]
            return "\n".join(out)
        widths = [max(len(str(x)) for x in [c] + [d[i] for d in data]) for i, c in enumerate(cols)]
        line = lambda d: "  ".join(str(x).ljust(w) for x, w in zip(d, widths)).rstrip()
        return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(d) for d in data])


# ---------------------------------------------------------------------------
# The benchmarks.

def bench_slowdown(env, res):
    """Target slowdown: the CPU time (time.process_time() inside the target)
    of a fixed chunk of Python work (bench/targets/work.py), with and
    without pyperf.

    Two identical target processes (twins X and Y) run the same chunk at
    the same time, so both see the same machine: on a shared, busy machine
    the CPU time of one chunk drifts by 5-10% from one second to the next,
    far more than the effect measured, but much less between two processes
    running side by side. A measurement is two passes: pyperf on X (ratio
    X/Y), then pyperf on Y (ratio Y/X); their geometric mean cancels any
    difference between the twins themselves. The configurations (no
    profiler at all, which gives the noise floor; pyperf at 99, 999 and
    9999 Hz) run in a shuffled order in every round; the table gives the
    median over rounds. pyperf attaches with -p and is sampling before the
    chunk starts, so its start-up and profile writing are not in the
    target's time (they are in pyperf's own, see "self").

    The sampler's per-sample cost in the target is also derived from the
    9999 Hz runs and scaled to 99 and 999 Hz ("implied"): the direct 99 Hz
    figure cannot resolve 0.5% on a noisy machine, the scaled one can, if
    the cost per sample does not depend on the rate. When even 9999 Hz is
    inside the noise, the median is marked so, and the verdicts use the
    upper quartile of the 9999 Hz ratios scaled the same way."""
    import random
    q = env.quick
    rounds = 4 if q else 20
    chunk_cpu = 0.12 if q else 0.3
    freqs = [99, 999, 9999]
    configs = ["A/A"] + freqs
    with Target(env.python + [os.path.join(TARGETS, "work.py")]) as x, \
            Target(env.python + [os.path.join(TARGETS, "work.py")]) as y:
        float(x.ask("run 20"))  # warm-up
        per_unit = float(x.ask("run 50")) / 50
        n = max(10, int(chunk_cpu / per_unit))
        log("slowdown: %d units per chunk (%.2f s CPU), %d rounds" % (n, n * per_unit, rounds))

        def both(profiled, hz):
            """Runs the chunk in both twins at once; returns (CPU time of
            `profiled`, CPU time of the other, pyperf's sample count)."""
            other = y if profiled is x else x
            rec = Recording(env, profiled.pid, hz).start() if hz else None
            try:
                for t in (x, y):
                    t.proc.stdin.write("run %d\n" % n)
                    t.proc.stdin.flush()
                tp, to = float(profiled.readline(600)), float(other.readline(600))
            finally:
                s = rec.stop() if rec else None
            return tp, to, s["samples"] if s else 0

        both(x, None)  # warm-up of both
        ratios = {c: [] for c in configs}
        rates = {f: [] for f in freqs}
        base = []
        rng = random.Random(8)
        for r in range(rounds):
            order = list(configs)
            rng.shuffle(order)
            for c in order:
                hz = None if c == "A/A" else c
                tx, ty, nx = both(x, hz)
                ty2, tx2, ny = both(y, hz)
                ratios[c].append(((tx / ty) * (ty2 / tx2)) ** 0.5)
                base.append((ty + tx2) / 2)
                if hz:
                    rates[hz].append((nx + ny) / (tx + ty2))
            log("slowdown round %d/%d: %s" % (r + 1, rounds, " ".join(
                "%s=%+.2f%%" % (c, 100 * (ratios[c][-1] - 1)) for c in configs)))
    noise = median([abs(v - 1) for v in ratios["A/A"]])
    spread = lambda c: (statistics.quantiles(ratios[c], n=4) if len(ratios[c]) >= 4 else [float("nan")] * 3)
    res.details["slowdown"] = {"units": n, "unit_cpu_s": per_unit, "ratios": ratios,
                               "samples_per_cpu_s": rates, "unprofiled_chunk_s": median(base)}
    res.add("slowdown", "no profiler, A/A: ratio - 1 (median)", 100 * (median(ratios["A/A"]) - 1), "%",
            fmt="%+.2f")
    res.add("slowdown", "no profiler, A/A: median |ratio - 1| (noise)", 100 * noise, "%", fmt="%.2f")
    limits = {99: 0.5, 999: 2.0}
    for f in freqs:
        slow = 100 * (median(ratios[f]) - 1)
        q1, _, q3 = spread(f)
        lim = limits.get(f)
        ok = None
        if lim:
            # Below the noise floor a median says nothing either way.
            ok = "noise" if 100 * noise > lim else slow <= lim
        res.add("slowdown", "%d Hz: CPU time ratio - 1 (median; IQR %+.1f..%+.1f)"
                % (f, 100 * (q1 - 1), 100 * (q3 - 1)), slow, "%",
                "<= %.1f%%" % lim if lim else None, ok, fmt="%+.2f")
    # Cost of one sample to the target, from the 9999 Hz runs, scaled. Once
    # that cost is small even 9999 Hz sits inside the noise: the median then
    # says little, so the verdict rests on the upper quartile of the 9999 Hz
    # ratios, scaled the same way (a pessimistic bound).
    rate = median(rates[9999])
    _, _, q3 = spread(9999)
    per_sample = (median(ratios[9999]) - 1) / rate if rate else float("nan")
    per_sample_hi = (q3 - 1) / rate if rate else float("nan")
    resolved = abs(median(ratios[9999]) - 1) > noise
    res.details["slowdown"]["target_cpu_per_sample_s"] = per_sample
    res.details["slowdown"]["target_cpu_per_sample_q3_s"] = per_sample_hi
    res.add("slowdown", "target CPU per sample (from 9999 Hz, median%s)" % ("" if resolved else "; inside the noise"),
            per_sample * 1e6, "us", fmt="%.1f")
    res.add("slowdown", "target CPU per sample (from 9999 Hz, upper quartile)", per_sample_hi * 1e6, "us",
            fmt="%.1f")
    for f in (99, 999):
        implied = 100 * per_sample * median(rates[f])
        upper = 100 * per_sample_hi * median(rates[f])
        res.add("slowdown", "%d Hz: implied slowdown (median per-sample cost x %.0f samples/s)"
                % (f, median(rates[f])), implied, "%", fmt="%+.2f")
        res.add("slowdown", "%d Hz: implied slowdown, upper quartile" % f,
                upper, "%", "<= %.1f%%" % limits[f], upper <= limits[f], fmt="%+.2f")


def nontarget_cost(env):
    """BPF ns per run for a sample outside any target (the procs lookup
    miss): the program runs on every CPU's timer, target or not. Measured
    with the target asleep, so every run is a miss. Cached per session."""
    if env.nontarget_ns is None:
        with Target(env.python + ["-c", "import time; print('ready', flush=True); time.sleep(1e6)"]) as t:
            d, _ = record_window(env, t.pid, 9999, 1.5 if env.quick else 3)
        env.nontarget_ns = d["bpf_run_ns"] / max(1, d["bpf_run_cnt"])
        env.nontarget_runs = d["bpf_run_cnt"]
    return env.nontarget_ns


def bpf_per_sample(env, d):
    """BPF ns per emitted sample from a window: total run time, minus the
    runs that were not in the target (each at the non-target cost)."""
    if d["cnt"]["CNT_SAMPLES"] and not (d["bpf_run_cnt"] and d["bpf_run_ns"]):
        raise RuntimeError("no BPF run time: kernel.bpf_stats_enabled went off during the measurement")
    target_runs = d["cnt"]["CNT_SAMPLES"]
    other = d["bpf_run_cnt"] - target_runs
    ns = d["bpf_run_ns"] - other * nontarget_cost(env)
    emitted = max(1, d["cnt"]["CNT_EMITTED"])
    return ns / emitted, d["bpf_run_ns"] / emitted


def bench_bpf(env, res):
    """BPF cost per sample: kernel.bpf_stats_enabled on, the sampler's
    run_time_ns/run_cnt (from fdinfo of pyperf's program fd) and its own
    counters (CNT_SAMPLES, CNT_EMITTED) read at both ends of a window, on a
    target spinning at the bottom of a recursion of depth 10, 100, 1000,
    and on a busy target whose samples keep finding new stacks.
    The program also runs (briefly) for every timer tick on a CPU where the
    target is not running; that cost, measured separately, is subtracted,
    and the raw quotient is kept in the details."""
    secs = 2 if env.quick else 5
    out = {}
    with BpfStats():
        nt = nontarget_cost(env)
        res.add("bpf", "non-target run (procs lookup miss)", nt, "ns/run", fmt="%.0f")
        # deep.py spins in one loop: a handful of stack ids, all known after
        # the first samples. busy.py (one thread, 256 call paths) keeps
        # bringing stack ids the sampler has not stored yet: a stack id
        # covers each frame's instruction offset, not only its line.
        cases = [(10, DEEP, ["10"]), (100, DEEP, ["100"]), (1000, DEEP, ["1000"]),
                 ("busy", os.path.join(TARGETS, "busy.py"), ["1", "256"])]
        for depth, script, argv in cases:
            with Target(env.python + [script] + argv) as t:
                d, s = record_window(env, t.pid, 9999, secs)
                frames = folded_frames(os.path.join(env.tmp, "rec.folded"))
            per_sample, raw = bpf_per_sample(env, d)
            out[depth] = {"ns_per_sample": per_sample, "raw_ns_per_sample": raw, "frames": frames,
                          "emitted": d["cnt"]["CNT_EMITTED"], "runs": d["bpf_run_cnt"],
                          "run_ns": d["bpf_run_ns"], "counters": d["cnt"]}
            log("bpf depth %s: %d samples, %.1f frames, %.0f ns/sample (raw %.0f)"
                % (depth, d["cnt"]["CNT_EMITTED"], frames, per_sample, raw))
    res.details["bpf"] = {"nontarget_ns": nt, "depths": out}
    for depth, o in out.items():
        per_frame = o["ns_per_sample"] / o["frames"]
        if depth == "busy":
            res.add("bpf", "busy.py, new stack ids: per sample (%.0f frames)" % o["frames"], o["ns_per_sample"],
                    "ns", fmt="%.0f")
            res.add("bpf", "busy.py, new stack ids: per frame", per_frame, "ns", "< 150", per_frame < 150,
                    fmt="%.1f")
            continue
        res.add("bpf", "depth %d: per sample" % depth, o["ns_per_sample"], "ns",
                "< 2000" if depth == 10 else None, o["ns_per_sample"] < 2000 if depth == 10 else None,
                fmt="%.0f")
        # At depth 10 this is mostly the fixed cost spread over a few frames
        # (the 2 us per-sample target covers it): no per-frame verdict.
        res.add("bpf", "depth %d: per frame (%.0f frames)" % (depth, o["frames"]), per_frame, "ns",
                "< 150" if depth != 10 else None, per_frame < 150 if depth != 10 else None, fmt="%.1f")
    if 10 in out and 1000 in out:
        slope = (out[1000]["ns_per_sample"] - out[10]["ns_per_sample"]) / (out[1000]["frames"] - out[10]["frames"])
        fixed = out[10]["ns_per_sample"] - slope * out[10]["frames"]
        res.add("bpf", "marginal per frame (depth 10 -> 1000)", slope, "ns", "< 150", slope < 150, fmt="%.1f")
        res.add("bpf", "fixed per sample (intercept)", fixed, "ns", fmt="%.0f")


def bench_self(env, res):
    """pyperf's own CPU and memory, on bench/targets/busy.py with 1 and 8
    threads, each thread either on a few stacks (1 call path: every stack
    known after the first second, the steady state of a long profile) or on
    many (256 paths per thread: thousands of distinct stacks, so many
    samples bring a stack pyperf has not seen, which it copies from the
    kernel map and symbolizes).

    CPU: pyperf's CPU time (schedstat, ns) over a window after a warm-up,
    divided by the samples the sampler emitted in that window. The whole
    run's utime+stime over all samples (start-up, BPF load and
    verification, writing the profile included) is in the details. Peak
    RSS: wait4's ru_maxrss."""
    secs = 3 if env.quick else 10
    out = {}
    configs = [(1, 1, 999), (8, 1, 999), (1, 256, 999), (8, 256, 999), (8, 256, 9999)]
    for nthreads, paths, hz in configs:
        with Target(env.python + [os.path.join(TARGETS, "busy.py"), str(nthreads), str(paths)]) as t:
            d, s = record_window(env, t.pid, hz, secs, settle=1.5)
        emitted = max(1, d["cnt"]["CNT_EMITTED"])
        steady = d["pyperf_cpu_ns"] / 1e6 / emitted * 1000
        whole = s["cpu_s"] * 1e3 / max(1, s["samples"]) * 1000
        kind = "few stacks" if paths == 1 else "many stacks"
        name = "%d thr, %s, %d Hz" % (nthreads, kind, hz)
        out[name] = {"steady_ms_per_1000": steady, "whole_ms_per_1000": whole, "window_samples": emitted,
                     "maxrss_kib": s["maxrss_kib"], "samples": s["samples"], "stacks": s["stacks"],
                     "cpu_s": s["cpu_s"]}
        log("self %s: %d samples, %d stacks, %.2f ms/1000 steady, %.2f whole, %d KiB"
            % (name, s["samples"], s["stacks"], steady, whole, s["maxrss_kib"]))
        res.add("self", "%s: CPU per 1000 samples" % name, steady, "ms", fmt="%.2f")
        res.add("self", "%s: peak RSS (%d stacks)" % (name, s["stacks"]), s["maxrss_kib"] / 1024, "MiB",
                fmt="%.1f")
    res.details["self"] = out


def bench_all(env, res):
    """record -a (defaults: 19 Hz, --cpu-budget 1) over 10 and 50 Python
    processes, idle (sleeping) and busy (spinning), for 60 s (10 s quick):
    pyperf's CPU time (wait4 rusage, its whole life: start, /proc scans,
    BPF load, writing) as a share of the host's CPUs over the run, and its
    peak RSS. The BPF program's own time is in 'bpf' (per sample)."""
    secs = 10 if env.quick else 60
    ncpu = os.cpu_count() or 1
    out = {}
    for n in (10, 50):
        for busy in (False, True):
            argv = env.python + ([os.path.join(TARGETS, "busy.py"), "1"] if busy else
                                 ["-c", "import time\nprint('ready', flush=True)\ntime.sleep(1e6)"])
            targets = []
            try:
                for _ in range(n):
                    targets.append(Target(argv))
                out_file = os.path.join(env.tmp, "all.pb.gz")
                t0 = time.monotonic()
                p = spawn([env.pyperf, "record", "-a", "-d", str(secs), "-o", out_file],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                err = p.stderr.read()
                _, status, ru = os.wait4(p.pid, 0)
                wall = time.monotonic() - t0
            finally:
                for t in targets:
                    t.stop()
            cpu = ru.ru_utime + ru.ru_stime
            share = 100.0 * cpu / (wall * ncpu)
            m = re.search(r"^pyperf: (\d+) samples", err, re.M)
            name = "%d processes, %s" % (n, "busy" if busy else "idle")
            out[name] = {"cpu_s": cpu, "wall_s": wall, "share_pct": share, "maxrss_kib": ru.ru_maxrss,
                         "samples": int(m.group(1)) if m else None, "status": status, "stderr": err[-2000:]}
            log("all %s: %.3f s CPU in %.1f s (%.3f%% of %d CPUs), %d KiB" % (name, cpu, wall, share, ncpu,
                                                                             ru.ru_maxrss))
            res.add("all", "-a, %s: pyperf CPU share of the host" % name, share, "%", "< 1%", share < 1.0,
                    fmt="%.3f")
            res.add("all", "-a, %s: peak RSS" % name, ru.ru_maxrss / 1024, "MiB", fmt="%.1f")
    res.details["all"] = out


def bench_lost(env, res):
    """Lost samples: pyperf record -F 9999 -d 30 on bench/targets/busy.py
    with 4 threads; the count comes from pyperf's summary line."""
    secs = 8 if env.quick else 30
    with Target(env.python + [os.path.join(TARGETS, "busy.py"), "4"]) as t:
        s = Recording(env, t.pid, 9999, duration=secs).start().wait(timeout=secs + 120)
    res.details["lost"] = {k: s[k] for k in ("samples", "stacks", "lost", "not_python", "stderr")}
    log("lost: %s samples, %s stacks, lost %s" % (s["samples"], s["stacks"], s["lost"]))
    res.add("lost", "9999 Hz, %d s, 4 threads: samples lost" % secs, s["lost"], "", "0", s["lost"] == 0,
            fmt="%d")
    res.add("lost", "  of samples taken", s["samples"], "", fmt="%d")


def bench_symbolize(env, res):
    """Symbolization: bench/symbolize_bench.c (linked with libpyperf.a)
    resolves the 10,000 code objects of a generated module
    (bench/targets/many_codes.py) in a live target, through the same
    symbolizer_frame() call `pyperf record` makes at a frame's first
    sight: the code object, its name and file strings and its line table
    are read with process_vm_readv and the line computed. A second pass
    over the same frames shows the cached cost."""
    ncodes = 10000
    frames_file = os.path.join(env.tmp, "codes.txt")
    runs = []
    with Target(env.python + [os.path.join(TARGETS, "many_codes.py"), str(ncodes), frames_file]) as t:
        for _ in range(3 if env.quick else 5):  # a new symbolizer each time: all cold
            out = subprocess.run([env.symbolize_bench, str(t.pid), frames_file],
                                 capture_output=True, text=True, check=True).stdout
            kv = dict(x.split("=", 1) for x in out.split("\n")[0].split())
            runs.append({k: int(v) for k, v in kv.items()})
            first = out.split("\n")[1]
    cold = median([r["cold_cpu_ns"] for r in runs])
    warm = median([r["warm_cpu_ns"] for r in runs])
    bad = max(r["unknown"] for r in runs) + max(ncodes - r["labels"] for r in runs)
    res.details["symbolize"] = {"runs": runs, "example": first}
    log("symbolize: %s ... %.1f ms cold, %.2f ms warm" % (first, cold / 1e6, warm / 1e6))
    res.add("symbolize", "10,000 code objects, first sight (CPU)", cold / 1e6, "ms", fmt="%.1f")
    res.add("symbolize", "  per code object", cold / ncodes / 1e3, "us", fmt="%.1f")
    read = median([r["read_cpu_ns"] for r in runs])
    res.add("symbolize", "  per code object, in 64-byte process_vm_readv calls", cold / ncodes / read, "reads",
            fmt="%.1f")
    res.add("symbolize", "  cached lookup per frame", warm / ncodes, "ns", fmt="%.0f")
    res.add("symbolize", "  frames not resolved", bad, "", "0", bad == 0, fmt="%d")


def bench_flamegraph(env, res):
    """Flame graph writer: runs bench/flamegraph_bench.py (another
    engineer's; 1,000,000 lines in a full run) and keeps its table."""
    script = os.path.join(BENCH, "flamegraph_bench.py")
    if not os.path.exists(script):
        res.add("flamegraph", "bench/flamegraph_bench.py", "absent", "")
        return
    lines = 20000 if env.quick else 1000000
    p = subprocess.run([sys.executable, script, "--lines", str(lines), "--pyperf", env.pyperf],
                       capture_output=True, text=True)
    res.details["flamegraph"] = {"lines": lines, "stdout": p.stdout, "rc": p.returncode}
    if p.returncode != 0:
        res.add("flamegraph", "flamegraph_bench.py failed", "exit %d" % p.returncode, "")
        log("flamegraph_bench.py failed:\n" + p.stdout + p.stderr)
        return
    # Its table: a header of columns separated by 2+ spaces, one row per command.
    rows = p.stdout.splitlines()
    head = next((i for i, l in enumerate(rows) if l.startswith("command")), None)
    if head is None:
        res.add("flamegraph", "(table not recognised; see details)", "", "")
        return
    cols = re.split(r"\s{2,}", rows[head].strip())
    for l in rows[head + 1:]:
        cells = re.split(r"\s{2,}", l.strip())
        if len(cells) != len(cols) or not cells[0].startswith("pyperf flamegraph (unsorted"):
            continue
        for c, v in zip(cols[1:], cells[1:]):
            num, _, unit = v.partition(" ")
            if not unit and c.endswith(" s"):  # "wall s", "CPU s"
                c, unit = c[:-2], "s"
            if c == "wall":
                continue  # no lone wall times: CPU time and the ratios below

            res.add("flamegraph", "%d lines, pyperf: %s" % (lines, c), num, unit)
    for who in ("A", "B"):
        m = re.search(r"baseline %s / pyperf = ([\d.]+)x" % who, p.stdout)
        if m:
            res.add("flamegraph", "baseline %s / pyperf (%s)" % (who, "sort|awk" if who == "A" else "Python"),
                    m.group(1), "x")


def sid_python(env):
    """tests/helpers/sid-python.sh fetch; True if 3.15 can run."""
    p = subprocess.run([SID, "fetch"], capture_output=True, text=True)
    if p.returncode != 0:
        env.sid_error = (p.stderr.strip().splitlines() or ["fetch failed"])[-1]
        return False
    return "3.15" in subprocess.run([SID, "versions"], capture_output=True, text=True).stdout.split()


CAPTURED_RE = re.compile(r"Captured (\d+) samples in ([\d.]+) seconds")


def run_profiling_sampling(env, pid, rate, seconds):
    """One `python3.15 -m profiling.sampling attach` run; returns (CPU s of
    the whole run, samples, seconds it says it sampled, target CPU s)."""
    out = os.path.join(env.tmp, "ps.collapsed")
    t0 = schedstat_ns(pid)
    p = spawn([SID, "run", "3.15", "-m", "profiling.sampling", "attach", "-r", str(rate), "-d", str(seconds),
               "--collapsed", "-o", out, str(pid)],
              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    _children.remove(p)
    t1 = schedstat_ns(pid)
    m = CAPTURED_RE.search(text)
    if not m:
        raise RuntimeError("profiling.sampling said:\n" + text)
    return ru.ru_utime + ru.ru_stime, int(m.group(1)), float(m.group(2)), (t1 - t0) / 1e9


HEADLINE_RATES = (99, 999, 9999)
HEADLINE_LABEL = {"timer": "pyperf --sampler timer", "remote": "pyperf --sampler remote",
                  "austin": "austin (Debian sid)", "tachyon": "CPython 3.15 profiling.sampling"}
SAMPLER_RE = re.compile(r"^pyperf: sampler: (\w+) \((.*?)\)(?:;|$)", re.M)
AUSTIN_DURATION_RE = re.compile(r"^# duration: (\d+)", re.M)
# python3.15 -m profiling.sampling, with one line printed as its sampling
# loop begins (SampleProfiler.sample, entered right after the target is
# attached): the benchmark starts the chunk only then. Everything else is
# the module's own code, run as -m runs it.
PS_SAMPLING = "bench: sampling"
PS_WRAPPER = """
import runpy
import profiling.sampling.sample as s
_orig = s.SampleProfiler.sample
def _sample(self, *a, **k):
    print(%r, flush=True)
    return _orig(self, *a, **k)
s.SampleProfiler.sample = _sample
runpy.run_module("profiling.sampling", run_name="__main__", alter_sys=True)
""" % PS_SAMPLING


def quartiles(xs):
    """(25th percentile, median, 75th percentile); NaNs if xs is empty."""
    xs = [x for x in xs if x == x]
    if not xs:
        return (float("nan"),) * 3
    if len(xs) == 1:
        return (xs[0],) * 3
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[1], q[2]


class AttachedProfiler:
    """One profiler attached to a running target around one chunk of work:
    started and sampling before the chunk, stopped after it. kind: "timer"
    or "remote" (pyperf record --sampler KIND), "austin" (Debian sid's
    package, tests/helpers/sid-python.sh fetch-austin) or "tachyon"
    (python3.15 -m profiling.sampling attach, run for `seconds`, which must
    outlast the chunk). Its CPU is read from schedstat (all its threads)
    just around the chunk."""

    def __init__(self, env, kind, pid, rate, seconds=None):
        self.kind, self.rate, self.seconds = kind, rate, seconds
        self.out = os.path.join(env.tmp, "headline.%s" % kind)
        self.proc = None
        t0 = time.monotonic()
        if os.path.exists(self.out):
            os.unlink(self.out)
        try:
            self._start(env, pid)
        except BaseException:
            # a half-started profiler must not sit on the target during the next chunks
            if self.proc is not None:
                reap(self.proc)
            raise
        self.startup_s = time.monotonic() - t0

    def _start(self, env, pid):
        kind, rate, seconds = self.kind, self.rate, self.seconds
        if kind == "austin":
            # its default wall mode: -s (idle samples dropped) wrote nothing here
            self.proc = spawn([SID, "austin", "-i", str(max(1, 1000000 // rate)), "-p", str(pid), "-o", self.out],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, SID_DIR=env.austin_sid))
            deadline = time.monotonic() + 30
            # the header ("# mode: wall") is written as it starts sampling
            while not (os.path.exists(self.out) and "# mode" in open(self.out).read(200)):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("austin did not start: " + self.proc.stderr.read()[-300:])
                time.sleep(0.005)
            self.pid = self.proc.pid
        elif kind == "tachyon":
            self.lines, self._ready, self.t_sampled = [], threading.Event(), 0.0
            self.proc = spawn([SID, "run", "3.15", "-c", PS_WRAPPER, "attach", "-r", str(rate), "-d", str(seconds),
                               "--collapsed", "-o", self.out, str(pid)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, SID_DIR=env.sid_dir))
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
            if not self._ready.wait(60) or self.proc.poll() is not None:
                raise RuntimeError("profiling.sampling did not start sampling: " + " | ".join(self.lines[-5:]))
            self.pid = self.proc.pid
        else:
            self.rec = Recording(env, pid, rate, output=self.out, extra=["--sampler", kind, "-f", "folded"])
            self.proc = self.rec.proc
            self.rec.start()
            self.pid = self.rec.proc.pid

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith(PS_SAMPLING):
                self._ready.set()
            elif CAPTURED_RE.search(line):  # printed as its sampling loop ends (the profile is written after)
                self.t_sampled = time.monotonic()
        self._ready.set()

    def begin(self):
        self.c0, self.w0 = schedstat_ns(self.pid), time.monotonic()

    def end(self):
        self.c1, self.w1 = schedstat_ns(self.pid), time.monotonic()

    def stop(self, target_cpu_s):
        """Stops it; returns what it did over the chunk: samples, its own
        rate (rate_hz; pyperf: per second of the target's CPU time),
        samples in the chunk, CPU per sample there (us), and valid (False
        if it was not sampling for the whole chunk)."""
        cpu = (self.c1 - self.c0) / 1e9
        wall = self.w1 - self.w0
        out = {"kind": self.kind, "startup_s": self.startup_s, "prof_cpu_s": cpu, "valid": True}
        if self.kind == "austin":
            self.proc.send_signal(signal.SIGINT)
            err = self.proc.stderr.read()
            os.wait4(self.proc.pid, 0)
            _children.remove(self.proc)
            with open(self.out) as f:
                text = f.read()
            n = sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))
            m = AUSTIN_DURATION_RE.search(text)
            if not m:
                raise RuntimeError("austin wrote no duration: " + err[-300:])
            secs = int(m.group(1)) / 1e6
            v = re.search(r"^# austin: (\S+)", text, re.M)
            out["version"] = v.group(1) if v else None
            out.update(samples=n, seconds=secs, rate_hz=n / secs, in_chunk=n / secs * wall)
        elif self.kind == "tachyon":
            try:
                self.proc.wait(timeout=self.seconds + 120)
            except subprocess.TimeoutExpired:
                reap(self.proc)
                raise RuntimeError("profiling.sampling did not end after -d %d" % self.seconds)
            self._reader.join(10)
            _children.remove(self.proc)
            text = "\n".join(self.lines)
            m = CAPTURED_RE.search(text)
            if not m:
                raise RuntimeError("profiling.sampling said: " + " | ".join(self.lines[-5:]))
            n, secs = int(m.group(1)), float(m.group(2))
            # it stops by itself: it must have been sampling until the chunk ended
            out["valid"] = self.t_sampled >= self.w1
            out.update(samples=n, seconds=secs, rate_hz=n / secs, in_chunk=n / secs * wall)
        else:
            s = self.rec.stop()
            m = SAMPLER_RE.search(s["stderr"])
            if not m or m.group(1) != self.kind:
                raise RuntimeError("pyperf did not use the %s sampler: %s" % (self.kind, m.group(0) if m else
                                                                              s["stderr"][-300:]))
            n = s["samples"]
            # CPU mode: samples only while the target runs, which is only
            # during the chunk: all of them are the chunk's
            out.update(samples=n, seconds=target_cpu_s, rate_hz=n / target_cpu_s if target_cpu_s else 0.0,
                       in_chunk=n, rate_per_wall_hz=n / wall)
        out["prof_us_per_sample"] = cpu / out["in_chunk"] * 1e6 if out["in_chunk"] > 0 else float("nan")
        return out


def wakeup_cost_us(env, rate, seconds):
    """CPU per wakeup of a thread doing nothing but clock_nanosleep at
    rate (bench/wakeup_cost.c), as the remote sampler's thread sleeps."""
    exe = os.path.join(env.tmp, "wakeup_cost")
    if not os.path.exists(exe):
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-Wall", os.path.join(BENCH, "wakeup_cost.c"), "-o", exe],
                       check=True)
    out = subprocess.run([exe, str(rate), str(seconds)], capture_output=True, text=True, check=True).stdout.split()
    return int(out[3]) / 1e3 / int(out[1]), int(out[1]) / seconds


def timed_chunk(t, n):
    """Runs n units of work.py in target t: (its CPU s, wall s seen from here)."""
    w0 = time.monotonic()
    cpu = float(t.ask("run %d" % n))
    return cpu, time.monotonic() - w0


def calibrate(t, chunk_cpu):
    """Units of work.py for about chunk_cpu s of CPU in target t (after a
    warm-up); (units, CPU s per unit)."""
    float(t.ask("run 20"))
    per_unit = float(t.ask("run 50")) / 50
    return max(10, int(chunk_cpu / per_unit)), per_unit


def alternation_round(configs, chunk, attach):
    """One round of the alternation: A P1 A P2 ... A, configs shuffled.
    chunk() -> (cpu, wall) runs the chunk; attach(cfg, prev_wall) -> an
    object with begin/end/stop(target_cpu) around it, or raises. Returns
    the entries in order: A at even positions, P at odd ones."""
    import random
    order = list(configs)
    random.shuffle(order)
    cpu, wall = chunk()
    seq = [{"cfg": None, "cpu": cpu, "wall": wall}]
    for cfg in order:
        e = {"cfg": cfg}
        try:
            prof = attach(cfg, seq[-1]["wall"])
        except Exception as ex:  # the chunk still runs (unprofiled, not counted): the spacing stays
            log("headline: %s: %s" % (cfg, str(ex).splitlines()[0][:200]))
            prof, e["error"] = None, str(ex)[:300]
        if prof:
            prof.begin()
        e["cpu"], e["wall"] = chunk()
        if prof:
            prof.end()
            try:
                e.update(prof.stop(e["cpu"]))
            except Exception as ex:
                log("headline: %s: %s" % (cfg, str(ex).splitlines()[0][:200]))
                e["error"] = str(ex)[:300]
        e["valid"] = "error" not in e and e.get("valid", True)
        seq.append(e)
        cpu, wall = chunk()
        seq.append({"cfg": None, "cpu": cpu, "wall": wall})
    return seq


def alternation_analyse(rounds, configs):
    """Per config: ratios P / mean(A before, A after), the target's extra
    CPU per sample (us), the profiler's CPU per sample (us), its rate (%
    of asked); and the A/A ratios: each interior A / mean(the A's on each
    side of it, two chunks away)."""
    per = {c: {"ratio": [], "extra_us": [], "prof_us": [], "rate_pct": [], "wall_rate_pct": [], "invalid": 0,
               "startup_s": [], "round_ratio": {}} for c in configs}
    aa = []
    for rnd, seq in enumerate(rounds):
        for i, e in enumerate(seq):
            if e["cfg"] is None:
                if 2 <= i <= len(seq) - 3:
                    aa.append(e["cpu"] / ((seq[i - 2]["cpu"] + seq[i + 2]["cpu"]) / 2))
                continue
            d = per[e["cfg"]]
            if not e["valid"]:
                d["invalid"] += 1
                continue
            base = (seq[i - 1]["cpu"] + seq[i + 1]["cpu"]) / 2
            d["ratio"].append(e["cpu"] / base)
            d["round_ratio"].setdefault(rnd, e["cpu"] / base)
            if e.get("in_chunk"):
                d["extra_us"].append((e["cpu"] - base) / e["in_chunk"] * 1e6)
                d["prof_us"].append(e["prof_us_per_sample"])
            if e.get("rate_hz") is not None and len(e["cfg"]) > 1:
                d["rate_pct"].append(e["rate_hz"] / e["cfg"][1] * 100)
                if e.get("rate_per_wall_hz") is not None:
                    d["wall_rate_pct"].append(e["rate_per_wall_hz"] / e["cfg"][1] * 100)
            if e.get("startup_s") is not None:
                d["startup_s"].append(e["startup_s"])
    return per, aa


def sign_test_p(wins, n):
    """Two-sided sign test: the chance of a split at least as uneven as
    wins of n with no difference."""
    k = max(wins, n - wins)
    tail = sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n
    return min(1.0, 2 * tail)


# Two-sided 5% critical values of Student's t, by degrees of freedom.
T_CRIT_05 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23, 11: 2.20,
             12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13}


def paired_t(diffs):
    """Student's t of the mean of paired differences, and whether it is
    significant at 5% (two-sided); (0, False) for fewer than 3 pairs."""
    n = len(diffs)
    if n < 3:
        return 0.0, False
    sd = statistics.stdev(diffs)
    if sd == 0:
        return float("inf"), True
    t = statistics.mean(diffs) / (sd / math.sqrt(n))
    return t, abs(t) >= T_CRIT_05.get(n - 1, 2.0)


def headline_better(table, rate, spread):
    """The sampler the table shows as better at rate: the lower target
    slowdown if the two differ by more than spread (the A/A 25-75% width
    of one ratio) or, round by round (the two measured in the same round,
    on the same machine), if one is lower by a paired t-test on the
    rounds' log ratios or a sign test (p <= 0.05 each; a median of nine
    rounds is far surer than one ratio); else the lower total CPU per
    sample, the target's extra plus the profiler's, the target's extra
    taken at 9999 Hz (see bench_headline). (name, why)."""
    t, r = table[("timer", rate)], table[("remote", rate)]
    rounds = sorted(set(t.get("round_ratio", {})) & set(r.get("round_ratio", {})))
    timer_lower = sum(t["round_ratio"][i] < r["round_ratio"][i] for i in rounds)
    p = sign_test_p(timer_lower, len(rounds)) if rounds else 1.0
    tstat, t_sig = paired_t([math.log(t["round_ratio"][i] / r["round_ratio"][i]) for i in rounds])
    rounds_say = "the timer's lower in %d of %d rounds, paired t %.2f" % (timer_lower, len(rounds), tstat)
    if abs(t["slowdown"] - r["slowdown"]) > spread or p <= 0.05 or t_sig:
        best = "timer" if t["slowdown"] < r["slowdown"] else "remote"
        return best, "slowdown %.3fx vs %.3fx (%s)" % (t["slowdown"], r["slowdown"], rounds_say)
    tot = {k: table[(k, 9999)]["extra_us"] + table[(k, rate)]["prof_us"] for k in ("timer", "remote")}
    best = "timer" if tot["timer"] < tot["remote"] else "remote"
    return best, ("slowdowns within the A/A spread (%s); CPU per sample all in %.1f vs %.1f us" % (
        rounds_say, tot["timer"], tot["remote"]))


def bench_headline(env, res):
    """The user-facing slowdown (issue #22), pyperf's samplers next to the
    other sampling profilers, each attached to a running target.

    Targets: bench/targets/work.py (a chunk of CPU-bound Python work on
    request; its CPU time from time.process_time() inside the target) on
    pyenv's 3.12 and on Debian sid's python3.15. Profilers: pyperf record
    -p --sampler timer and --sampler remote on both; austin (sid's 3.7,
    its default wall mode) on 3.12; python3.15 -m profiling.sampling
    attach (its default wall mode) on 3.15; each at 99, 999 and 9999 Hz.

    Alternation: per target process, rounds of A P1 A P2 ... P9 A (A: the
    chunk alone; Pk: the chunk with configuration k attached, started and
    sampling before the chunk starts and stopped after it ends), configs
    shuffled each round. A P's ratio is its CPU time over the mean of the
    A just before and the A just after: the machine's speed drifts by
    +-20% over seconds but slowly, so neighbours see the same machine. The
    table gives the median over rounds and the 25-75% spread. The A/A
    noise: each interior A over the mean of the A's on each side of it
    (two chunks away, twice a P's spacing: if anything it overstates the
    noise), median and 25-75%. The two targets take rounds in turn, until
    the time budget is spent (full mode: 1 s chunks, 420 s of rounds, at
    least 3 each: a pair of rounds took 46 s at a load average of 3, so
    ~9 each; the count is in the output; --quick: 2 rounds of 0.2 s
    chunks). The whole benchmark: ~8-9 minutes, --quick ~1.

    Knowing when a profiler samples: pyperf prints "sampling PID"; austin
    writes its output header; profiling.sampling is run through a few
    lines (PS_WRAPPER) that print one line as its sampling loop is entered,
    with -d whole seconds covering 1.5x the previous A's wall time plus
    0.3 s; a P where its "Captured N samples" line (printed as its loop
    ends) came before the chunk ended is not counted.

    Columns: target slowdown (median ratio); profiler CPU per sample: its
    schedstat CPU, all threads, over the chunk, divided by the samples it
    took in the chunk (pyperf: all its samples, as the target runs only
    during the chunk and pyperf samples CPU time; austin and
    profiling.sampling: their rate x the chunk's wall time), so the remote
    sampler's BPF run time (in pyperf's thread) is in, the timer's (in the
    target's interrupt) is in the slowdown instead; rate reached: austin
    and profiling.sampling, their own count over their own seconds (wall
    mode: the thread is sampled whether it runs or not); pyperf, samples
    per second of the target's CPU time in the chunk (CPU mode: a thread
    is sampled while it runs, so on a loaded host the wall rate is the
    target's CPU share times this; it is in the list; the remote
    sampler also samples a target its own wakeup has just preempted,
    so it can pass 100% on a loaded host).

    Also: one timer wakeup's CPU (bench/wakeup_cost.c: a thread sleeping
    to absolute times at 9999 Hz, nothing else), at the start and end of
    the benchmark, and the remote sampler's CPU per sample beyond it. The
    bystander: work.py on 3.12, not profiled, timed alone and while pyperf
    record -p X -F 9999 --sampler S samples another work.py idling on its
    stdin, for S timer and remote, alternating in the same way (each
    twice a round; 4 rounds, 2 in --quick). auto: for
    each rate, pyperf record --sampler auto -F R -d 1 on the 3.12 target
    while it runs a chunk: what it picked and why (its summary line),
    against what the 3.12 table shows as better: the sampler with the
    lower target slowdown, or, when the two slowdowns are within the A/A
    25-75% spread and neither is lower round by round (a paired t-test on
    the rounds' log ratios or a sign test, p <= 0.05), the one with the
    lower CPU per sample all in (the
    target's extra CPU per sample, (P - mean of its A's) / samples, plus
    the profiler's). Within the spread the rate's own target figure is
    noise, so the target's extra per sample is the one measured at 9999
    Hz, where it stands out (a per-sample cost, assumed not to depend on
    the rate). The load average at the start and the end is kept."""
    q = env.quick
    chunk_cpu = 0.2 if q else 1.0
    min_rounds, max_rounds = (2, 2) if q else (3, 12)
    budget = 0 if q else 420  # seconds of alternation rounds, both targets together
    rates = list(HEADLINE_RATES)
    load0 = os.getloadavg()
    details = {"rates": rates, "chunk_cpu_s": chunk_cpu, "load_start": load0, "targets": []}
    res.details["headline"] = details

    env.sid_dir = os.environ.get("SID_DIR", os.path.join(ROOT, "build", "sid"))
    env.austin_sid = os.environ.get("AUSTIN_SID_DIR", env.sid_dir)
    peers_missing = {}
    p = subprocess.run([SID, "fetch-austin"], capture_output=True, text=True,
                       env=dict(os.environ, SID_DIR=env.austin_sid))
    if p.returncode != 0:
        peers_missing["austin"] = "no austin: " + (p.stderr.strip().splitlines() or ["fetch failed"])[-1][:150]
    py312 = glob_first(os.path.join(pyenv_root(), "versions", "3.12*", "bin", "python3.12"))
    if not py312:
        raise RuntimeError("no pyenv 3.12")
    have315 = sid_python(env)
    work = os.path.join(TARGETS, "work.py")
    specs = [("3.12", "CPython %s (pyenv)" % os.path.basename(os.path.dirname(os.path.dirname(py312))), [py312],
              ["timer", "remote"] + ([] if "austin" in peers_missing else ["austin"]))]
    if have315:
        specs.append(("3.15", "CPython 3.15 (Debian sid)", [SID, "run", "3.15"], ["timer", "remote", "tachyon"]))
    else:
        peers_missing["tachyon"] = "no python3.15: " + env.sid_error

    wake = [wakeup_cost_us(env, 9999, 1 if q else 3)]
    log("headline: a bare wakeup at 9999 Hz costs %.1f us of CPU (%.0f wakeups/s)" % wake[0])

    targets = []
    try:
        for name, label, interp, kinds in specs:
            ver = subprocess.run(interp + ["-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                                 text=True).stdout.strip()
            label = re.sub(r"CPython [\d.]+\S*", "CPython " + ver, label) if ver else label
            t = Target(interp + [work])
            targets.append(t)
            n, per_unit = calibrate(t, chunk_cpu)
            configs = [(k, r) for k in kinds for r in rates]
            details["targets"].append({"name": name, "label": label, "pid": t.pid, "units": n,
                                       "unit_cpu_s": per_unit, "kinds": kinds, "rounds": []})
            log("headline %s: %d units per chunk (%.2f s CPU), configs %s" % (name, n, n * per_unit, kinds))

        def attach_for(t):
            def attach(cfg, prev_wall):
                secs = int(math.ceil(1.5 * prev_wall + 0.3)) if cfg[0] == "tachyon" else None
                return AttachedProfiler(env, cfg[0], t.pid, cfg[1], seconds=secs)
            return attach

        t_rounds = time.monotonic()
        last_pair = 0.0
        rnd = 0
        while rnd < max_rounds and (rnd < min_rounds or time.monotonic() - t_rounds + last_pair <= budget):
            t0 = time.monotonic()
            for t, d in zip(targets, details["targets"]):
                configs = [(k, r) for k in d["kinds"] for r in rates]
                seq = alternation_round(configs, lambda: timed_chunk(t, d["units"]), attach_for(t))
                d["rounds"].append(seq)
                base = [e["cpu"] for e in seq if e["cfg"] is None]
                log("headline %s round %d: A %.3f-%.3f s; %s" % (
                    d["name"], rnd + 1, min(base), max(base),
                    " ".join("%s@%d %.3f" % (seq[i]["cfg"][0], seq[i]["cfg"][1],
                                             seq[i]["cpu"] / ((seq[i - 1]["cpu"] + seq[i + 1]["cpu"]) / 2))
                             for i in range(1, len(seq), 2) if seq[i]["valid"])))
            last_pair = time.monotonic() - t0
            rnd += 1
        details["rounds_s"] = time.monotonic() - t_rounds

        # auto's choice, on the 3.12 target while it works
        t, d = targets[0], details["targets"][0]
        details["auto"] = {}
        busy_units = max(d["units"], int(2.5 / d["unit_cpu_s"]))
        for rate in rates:
            t.proc.stdin.write("run %d\n" % busy_units)
            t.proc.stdin.flush()
            try:
                s = Recording(env, t.pid, rate, duration=1, extra=["--sampler", "auto"]).start().wait(timeout=120)
            finally:
                t.readline(600)
            m = SAMPLER_RE.search(s["stderr"])
            details["auto"][str(rate)] = {"picked": m.group(1) if m else None, "why": m.group(2) if m else
                                          s["stderr"][-300:]}
            log("headline: auto at %d Hz: %s" % (rate, m.group(0) if m else "no sampler line"))
    finally:
        for t in targets:
            t.stop()

    # The bystander: a CPU-bound process nobody profiles.
    bys = {"rounds": []}
    details["bystander"] = bys
    with Target([py312, work]) as x, Target([py312, work]) as b:
        n, per_unit = calibrate(b, chunk_cpu)
        bys["units"] = n

        def attach_x(cfg, prev_wall):
            rec = Recording(env, x.pid, 9999, extra=["--sampler", cfg[0]]).start()

            class P:
                def begin(self):
                    self.c0 = schedstat_ns(rec.proc.pid)

                def end(self):
                    self.c1 = schedstat_ns(rec.proc.pid)

                def stop(self, target_cpu):
                    s = rec.stop()
                    m = SAMPLER_RE.search(s["stderr"])
                    if not m or m.group(1) != cfg[0]:
                        raise RuntimeError("pyperf did not use the %s sampler" % cfg[0])
                    return {"pyperf_cpu_s": (self.c1 - self.c0) / 1e9, "x_samples": s["samples"]}
            return P()

        for rnd in range(2 if q else 4):
            seq = alternation_round([("timer",), ("remote",)] * 2, lambda: timed_chunk(b, n), attach_x)
            bys["rounds"].append(seq)
            log("headline bystander round %d: %s" % (rnd + 1, " ".join(
                "%s %.3f" % (seq[i]["cfg"][0], seq[i]["cpu"] / ((seq[i - 1]["cpu"] + seq[i + 1]["cpu"]) / 2))
                for i in range(1, len(seq), 2) if seq[i]["valid"])))

    wake.append(wakeup_cost_us(env, 9999, 1 if q else 3))
    details["wakeup_us"] = [w[0] for w in wake]
    details["wakeup_rate"] = [w[1] for w in wake]
    details["load_end"] = os.getloadavg()
    headline_summarise(details)
    headline_rows(res, details, peers_missing)


def headline_summarise(d):
    """Medians and spreads from the raw rounds in d (details["headline"]),
    stored back into it: per target "table" {"kind@rate": {...}} and "aa";
    bystander ratios; the remote sampler beyond a wakeup; auto's verdicts."""
    wake = sum(d["wakeup_us"]) / len(d["wakeup_us"])
    d["wakeup_mean_us"] = wake
    d["austin_version"] = next((e["version"] for tg in d["targets"] for seq in tg["rounds"] for e in seq
                                if e.get("version")), None)
    for tg in d["targets"]:
        configs = [(k, r) for k in tg["kinds"] for r in d["rates"]]
        rounds = [[dict(e, cfg=tuple(e["cfg"]) if e["cfg"] else None) for e in seq] for seq in tg["rounds"]]
        per, aa = alternation_analyse(rounds, configs)
        q25, med, q75 = quartiles(aa)
        tg["aa"] = {"median": med, "q25": q25, "q75": q75, "n": len(aa)}
        table = {}
        for (k, r), v in per.items():
            s25, smed, s75 = quartiles(v["ratio"])
            table["%s@%d" % (k, r)] = {"slowdown": smed, "q25": s25, "q75": s75, "n": len(v["ratio"]),
                                       "invalid": v["invalid"], "extra_us": median(v["extra_us"]),
                                       "prof_us": median(v["prof_us"]), "rate_pct": median(v["rate_pct"]),
                                       "wall_rate_pct": median(v["wall_rate_pct"]),
                                       "startup_s": median(v["startup_s"]),
                                       "round_ratio": {str(i): x for i, x in v["round_ratio"].items()}}
        tg["table"] = table
        rem = table.get("remote@9999")
        if rem:
            rem["beyond_wakeup_us"] = rem["prof_us"] - wake
    if d.get("bystander"):
        rounds = [[dict(e, cfg=tuple(e["cfg"]) if e["cfg"] else None) for e in seq] for seq in d["bystander"]["rounds"]]
        per, aa = alternation_analyse(rounds, [("timer",), ("remote",)])
        b = d["bystander"]
        q25, med, q75 = quartiles(aa)
        b["aa"] = {"median": med, "q25": q25, "q75": q75, "n": len(aa)}
        b["table"] = {}
        for (k,), v in per.items():
            s25, smed, s75 = quartiles(v["ratio"])
            b["table"][k] = {"slowdown": smed, "q25": s25, "q75": s75, "n": len(v["ratio"])}
    if d.get("auto") and d["targets"]:
        tg = d["targets"][0]
        table = {tuple((k.split("@")[0], int(k.split("@")[1]))): v for k, v in tg["table"].items()}
        spread = tg["aa"]["q75"] - tg["aa"]["q25"]
        for r, a in d["auto"].items():
            if ("timer", int(r)) in table and ("remote", int(r)) in table and ("timer", 9999) in table:
                a["better"], a["better_why"] = headline_better(table, int(r), spread)


def prof_label(kind, d):
    """A profiler's name in the headline, austin with its version."""
    if kind == "austin" and d.get("austin_version"):
        return "austin %s (Debian sid)" % d["austin_version"]
    return HEADLINE_LABEL[kind]


def fmt_x(v):
    return "n/a" if v is None or v != v else "%.3fx" % v


def headline_rows(res, d, peers_missing):
    """The headline as rows of the generic results list."""
    for name, why in peers_missing.items():
        res.add("headline", "%s left out: %s" % (HEADLINE_LABEL[name], why), "", "")
    res.add("headline", "load average at start / end", "%.1f %.1f %.1f / %.1f %.1f %.1f" % (
        tuple(d["load_start"]) + tuple(d["load_end"])), "")
    wake = d["wakeup_mean_us"]
    res.add("headline", "one timer wakeup (bare clock_nanosleep loop at 9999 Hz, start/end %s): CPU" % " / ".join(
        "%.1f" % w for w in d["wakeup_us"]), wake, "us", fmt="%.1f")
    for tg in d["targets"]:
        if "tachyon" in tg["kinds"]:
            res.add("headline", "%s profiling.sampling start-up (spawn to its sampling loop, median)" % tg["name"],
                    median([c["startup_s"] for k, c in tg["table"].items() if k.startswith("tachyon@")]), "s",
                    fmt="%.2f")
        nr = len(tg["rounds"])
        pre = "%s" % tg["name"]
        for k in tg["kinds"]:
            for r in d["rates"]:
                c = tg["table"]["%s@%d" % (k, r)]
                lab = "%s %s %d Hz" % (pre, prof_label(k, d), r)
                tgt = ok = None
                if k == "remote" and r == 9999:
                    tgt, ok = "<= 1.05x", c["slowdown"] <= 1.05
                res.add("headline", "%s: target slowdown (median of %d; 25-75%% %.3f-%.3f)" % (
                    lab, c["n"], c["q25"], c["q75"]), c["slowdown"], "x", tgt, ok, fmt="%.3f")
                res.add("headline", "%s: profiler CPU per sample" % lab, c["prof_us"], "us", fmt="%.1f")
                tgt = ok = None
                if k == "remote" and r == 9999:
                    tgt, ok = ">= 95%", c["rate_pct"] >= 95
                res.add("headline", "%s: rate reached%s" % (lab, " (per target CPU s)" if k in ("timer", "remote")
                                                            else ""), c["rate_pct"], "% of asked", tgt, ok, fmt="%.1f")
                if k in ("timer", "remote"):
                    res.add("headline", "%s: rate per wall s of the chunk" % lab, c["wall_rate_pct"], "% of asked",
                            fmt="%.1f")
                if c["invalid"]:
                    res.add("headline", "%s: chunks not counted (profiler failed or stopped early)" % lab,
                            c["invalid"], "", fmt="%d")
        aa = tg["aa"]
        res.add("headline", "%s A/A noise (%d rounds, %d pairs; 25-75%% %.3f-%.3f)" % (
            pre, nr, aa["n"], aa["q25"], aa["q75"]), aa["median"], "x", fmt="%.3f")
        rem = tg["table"].get("remote@9999")
        if rem:
            res.add("headline", "%s pyperf remote 9999 Hz: CPU per sample beyond one wakeup" % pre,
                    rem["beyond_wakeup_us"], "us", "<= 10 us", rem["beyond_wakeup_us"] <= 10, fmt="%.1f")
            for peer in ("austin", "tachyon"):
                pc = tg["table"].get("%s@9999" % peer)
                if pc:
                    res.add("headline", "%s pyperf remote 9999 Hz: CPU per sample / %s's" % (pre, prof_label(peer, d)),
                            rem["prof_us"] / pc["prof_us"], "x", "< 1", rem["prof_us"] < pc["prof_us"], fmt="%.2f")
    b = d.get("bystander")
    if b and b.get("table"):
        for k in ("timer", "remote"):
            c = b["table"][k]
            res.add("headline", "bystander while pyperf --sampler %s samples another (sleeping) process at 9999 Hz "
                    "(median of %d; 25-75%% %.3f-%.3f)" % (k, c["n"], c["q25"], c["q75"]), c["slowdown"], "x",
                    "<= 1.02x", c["slowdown"] <= 1.02, fmt="%.3f")
        res.add("headline", "bystander A/A noise (%d pairs; 25-75%% %.3f-%.3f)" % (
            b["aa"]["n"], b["aa"]["q25"], b["aa"]["q75"]), b["aa"]["median"], "x", fmt="%.3f")
    for r, a in (d.get("auto") or {}).items():
        better = a.get("better")
        res.add("headline", "auto at %s Hz: picked %s; table's better: %s" % (r, a["picked"], better or "n/a"),
                "", "", "= table's better", None if better is None else a["picked"] == better)


def headline_markdown(d):
    """The headline as a markdown matrix per target, the A/A noise line
    under each, then the wakeup, bystander and auto lines."""
    if not d or not d.get("targets") or "table" not in d["targets"][0]:
        return ""
    rates = d["rates"]
    out = ["#### Headline (issue #22): the target's slowdown with each profiler attached", ""]
    out.append("Chunk of bench/targets/work.py ~%.2f s CPU; A P1 A P2 ... A rounds, configs shuffled; slowdown = "
               "P / mean(A before, A after), median over rounds (25-75%%). CPU per sample: the profiler's, all its "
               "threads, over the chunk. Rate: %% of asked (pyperf per second of the target's CPU time, as it samples "
               "CPU time; the remote sampler also counts a target its own wakeup preempted, so it can pass 100%% on "
               "a loaded host; the peers, wall mode, their own count over their own seconds). Load average at "
               "start %s, at end %s." % (
                   d["chunk_cpu_s"], " ".join("%.1f" % x for x in d["load_start"]),
                   " ".join("%.1f" % x for x in d["load_end"])))
    for tg in d["targets"]:
        out += ["", "**%s**, %d rounds:" % (tg["label"], len(tg["rounds"])), ""]
        head = ["profiler (sampler)"]
        for r in rates:
            head += ["%s Hz slowdown" % format(r, ","), "CPU/sample", "rate"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|---|" + "---:|" * (3 * len(rates)))
        for k in tg["kinds"]:
            row = [prof_label(k, d)]
            for r in rates:
                c = tg["table"]["%s@%d" % (k, r)]
                row += ["%s (%.2f-%.2f)" % (fmt_x(c["slowdown"]), c["q25"], c["q75"]) if c["n"] else "n/a",
                        "n/a" if c["prof_us"] != c["prof_us"] else "%.1f us" % c["prof_us"],
                        "n/a" if c["rate_pct"] != c["rate_pct"] else "%.0f%%" % c["rate_pct"]]
            out.append("| " + " | ".join(row) + " |")
        aa = tg["aa"]
        out += ["", "A/A noise: median %s, 25-75%% %.3f-%.3f (%d interior A's against their neighbours)" % (
            fmt_x(aa["median"]), aa["q25"], aa["q75"], aa["n"])]
    out.append("")
    wake = d["wakeup_mean_us"]
    out.append("- one timer wakeup (a thread sleeping to absolute times at 9,999 Hz, nothing else): %.1f us of CPU "
               "(start %s)" % (wake, ", end ".join("%.1f" % w for w in d["wakeup_us"])))
    for tg in d["targets"]:
        rem = tg["table"].get("remote@9999")
        if rem:
            v = rem["beyond_wakeup_us"]
            out.append("- %s, pyperf remote 9,999 Hz: CPU per sample beyond one wakeup: %.1f us (target <= 10 us): "
                       "%s" % (tg["name"], v, "PASS" if v <= 10 else "MISS"))
    b = d.get("bystander")
    if b and b.get("table"):
        out.append("- bystander (CPU-bound, not profiled) while pyperf -p samples another, sleeping process at 9,999 "
                   "Hz: " + "; ".join("--sampler %s %s (25-75%% %.3f-%.3f) %s" % (
                       k, fmt_x(b["table"][k]["slowdown"]), b["table"][k]["q25"], b["table"][k]["q75"],
                       "PASS" if b["table"][k]["slowdown"] <= 1.02 else "MISS") for k in ("timer", "remote"))
                   + " (target <= 1.02x; its A/A: %s, 25-75%% %.3f-%.3f)" % (
                       fmt_x(b["aa"]["median"]), b["aa"]["q25"], b["aa"]["q75"]))
    for r, a in (d.get("auto") or {}).items():
        better = a.get("better")
        out.append("- auto at %s Hz: picked %s (%s); table's better: %s (%s): %s" % (
            format(int(r), ","), a["picked"], a["why"], better or "n/a", a.get("better_why", ""),
            "n/a" if better is None else "PASS" if a["picked"] == better else "MISS"))
    return "\n".join(out)


def paused_analyse(units, edges, skip):
    """Per window (edges: (start, kind or None for off), the last one a
    bare end time), the target's mean CPU per unit of work over the units
    that ended in it, its first `skip` seconds left out (a profiler just
    resumed, or just stopped). Returns {kind: [ratio to the mean of the two
    off windows beside it]}, per cycle {kind: ratio} (the kinds' order
    within one cycle), and the A/A ratios: each interior off window over
    the mean of the off windows two windows away on each side."""
    wins, j = [], 1
    for (a, kind), (b, _) in zip(edges, edges[1:]):
        while j < len(units) and units[j - 1][0] < a + skip:
            j += 1
        cpu, k = [], j
        while k < len(units) and units[k][0] <= b:
            cpu.append(units[k][1] - units[k - 1][1])
            k += 1
        wins.append((kind, sum(cpu) / len(cpu) if cpu else None))
    ratios, cycles, aa = {}, [], []
    for i in range(1, len(wins) - 1):
        kind, c = wins[i]
        left, right = wins[i - 1][1], wins[i + 1][1]
        if c is None or left is None or right is None:
            continue
        if kind is None:
            if i >= 2 and i + 2 < len(wins) and wins[i - 2][1] and wins[i + 2][1]:
                aa.append(c / ((wins[i - 2][1] + wins[i + 2][1]) / 2))
            continue
        r = c / ((left + right) / 2)
        ratios.setdefault(kind, []).append(r)
        if not cycles or kind in cycles[-1]:
            cycles.append({})
        cycles[-1][kind] = r
    return ratios, cycles, aa


def geometric_mean(xs):
    """Of ratios: a mean of ratios is biased upward by their noise (an A/A
    of identical windows came out at 1.005-1.014x by the arithmetic mean)."""
    xs = [x for x in xs if x > 0]
    return math.exp(statistics.mean(math.log(x) for x in xs)) if xs else None


def bench_paused(env, res):
    """The target's slowdown at 9999 Hz under the profilers that sample from
    their own process (pyperf --sampler remote, austin, CPython 3.15's
    profiling.sampling), measured finely: many short pairs instead of
    headline's few long ones.

    One work.py target (pyenv 3.12; sid 3.15) runs units of work without a
    break for SECONDS (full 150, --quick 20) and records when each ended
    (time.monotonic) and the thread's CPU time then. The profilers are all
    attached to it at 9999 Hz and sampling before it starts, then stopped
    with SIGSTOP; a control is too: bench/wakeup_cost.c at 9999 Hz, a
    thread that only wakes (what a wakeup alone costs the target here).
    Windows of 0.3 s: off, one of them resumed (SIGCONT), off, the next,
    ..., the kinds shuffled per cycle. Each on window's CPU per unit over
    the mean of the two off windows beside it is one ratio (the first 30
    ms of every window left out); the A/A noise: an off window against the
    off windows two away. A stopped profiler takes no samples (each samples
    from its own threads), so off is the target alone but for memory
    already mapped; the timer sampler cannot be paused so (its events run
    in the target) and is measured by headline alone.

    Then the same with a bystander (#22: at most 1.02x): the work.py that
    streams is not profiled; pyperf --sampler remote and --sampler timer
    are attached to another work.py, idle on its stdin, and paused so, next
    to the wakeup control. Finer than headline's bystander line (8 pairs of
    1 s chunks, which this host's phases swing by +-8%).

    Reported per kind: the geometric mean of the ratios (what a long run
    pays: the machine here has phases where a profiler costs the target
    5-15% and phases where it costs nothing, so it is above the median;
    the arithmetic mean of ratios, also given, is biased upward by their
    noise), median, 25-75%, n; and
    per cycle, pyperf remote against each other kind measured in the same
    cycle: how often it was the lower and the sign test's p."""
    q = env.quick
    secs = 20 if q else 150
    win, skip = 0.3, 0.03
    work = os.path.join(TARGETS, "work.py")
    env.sid_dir = os.environ.get("SID_DIR", os.path.join(ROOT, "build", "sid"))
    env.austin_sid = os.environ.get("AUSTIN_SID_DIR", env.sid_dir)
    py312 = glob_first(os.path.join(pyenv_root(), "versions", "3.12*", "bin", "python3.12"))
    specs = []
    if py312:
        have_austin = subprocess.run([SID, "fetch-austin"], capture_output=True,
                                     env=dict(os.environ, SID_DIR=env.austin_sid)).returncode == 0
        specs.append(("3.12", [py312], ["remote"] + (["austin"] if have_austin else []) + ["wakeup"], False))
    if sid_python(env):
        specs.append(("3.15", [SID, "run", "3.15"], ["remote", "tachyon", "wakeup"], False))
    if py312:
        # a bystander: the pyperfs sample another work.py, idle on its stdin
        specs.append(("bystander 3.12", [py312], ["remote", "timer", "wakeup"], True))
    wake_exe = os.path.join(env.tmp, "wakeup_cost")
    wakeup_cost_us(env, 9999, 0.2)  # builds it
    details = {"seconds": secs, "window_s": win, "skip_s": skip, "targets": {}}
    res.details["paused"] = details
    for name, interp, kinds, bystander in specs:
        t = Target(interp + [work])
        sampled = Target(interp + [work]) if bystander else t
        paused = {}
        try:
            for k in kinds:
                if k == "wakeup":
                    paused[k] = spawn([wake_exe, "9999", str(secs + 120)], stdout=subprocess.DEVNULL)
                else:
                    ap = AttachedProfiler(env, k, sampled.pid, 9999, seconds=secs + 120 if k == "tachyon" else None)
                    paused[k] = ap.proc
                paused[k].send_signal(signal.SIGSTOP)
            path = os.path.join(env.tmp, "paused.units")
            t.proc.stdin.write("stream %.3f %s\n" % (secs + 2 * win, path))
            t.proc.stdin.flush()
            edges = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < secs:
                order = list(kinds)
                random.shuffle(order)
                for k in order:
                    edges.append((time.monotonic(), None))
                    time.sleep(win)
                    paused[k].send_signal(signal.SIGCONT)
                    edges.append((time.monotonic(), k))
                    time.sleep(win)
                    paused[k].send_signal(signal.SIGSTOP)
            edges.append((time.monotonic(), None))
            time.sleep(win)
            edges.append((time.monotonic(), "end"))
            if t.readline(secs + 60).strip() != "done":
                raise RuntimeError("target %s did not finish its stream" % name)
            with open(path) as f:
                units = [tuple(map(float, line.split())) for line in f]
        finally:
            for p in paused.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGCONT)
                reap(p)
            t.stop()
            if bystander:
                sampled.stop()
        ratios, cycles, aa = paused_analyse(units, edges, skip)
        aa_mean = statistics.mean(aa) if aa else None
        d = {"units": len(units), "windows": len(edges) - 1, "aa": list(quartiles(aa)) + [aa_mean],
             "aa_gmean": geometric_mean(aa), "kinds": {}}
        details["targets"][name] = d
        for k in kinds:
            r = ratios.get(k, [])
            d["kinds"][k] = {"n": len(r), "mean": statistics.mean(r) if r else None, "gmean": geometric_mean(r),
                             "quartiles": quartiles(r), "ratios": r}
        for k in kinds:
            if k == "remote" or "remote" not in kinds:
                continue
            both = [c for c in cycles if "remote" in c and k in c]
            lower = sum(c["remote"] < c[k] for c in both)
            d["kinds"][k]["remote_lower"] = [lower, len(both), sign_test_p(lower, len(both)) if both else 1.0]
        label = {"remote": "pyperf remote", "austin": "austin", "tachyon": "profiling.sampling",
                 "timer": "pyperf timer", "wakeup": "a bare wakeup thread (control)"}
        if bystander:
            label.update(remote="pyperf remote -p another, idle process",
                         timer="pyperf timer -p another, idle process")
        log("paused %s: %d units, A/A geometric mean %.3fx (mean %.3fx), median %.3fx (%.3f-%.3f)" % (
            name, len(units), d["aa_gmean"] or float("nan"), d["aa"][3], d["aa"][1], d["aa"][0], d["aa"][2]))
        for k in kinds:
            v = d["kinds"][k]
            qs = v["quartiles"]
            extra = ""
            if "remote_lower" in v:
                lo, n, p = v["remote_lower"]
                extra = "; pyperf remote lower in %d of %d cycles (sign test p=%.2g)" % (lo, n, p)
            log("paused %s %s: geometric mean %.3fx (mean %.3fx), median %.3fx (%.3f-%.3f), n=%d%s" % (
                name, label[k], v["gmean"] or float("nan"), v["mean"] or float("nan"), qs[1], qs[0], qs[2], v["n"],
                extra))
            target, ok = None, None
            bound = 1.02 if bystander else 1.05
            if k == "remote" or (bystander and k == "timer"):
                target, ok = "<= %.2fx" % bound, v["gmean"] is not None and v["gmean"] <= bound
            res.add("paused", "%s %s 9999 Hz, 0.3 s windows: %s slowdown, geometric mean of %d (median %.3f)%s" % (
                name, label[k], "bystander's" if bystander else "target", v["n"], qs[1], extra.replace("; ", ", ")),
                v["gmean"], "x", target, ok, fmt="%.3f")
        res.add("paused", "%s A/A (off window vs off windows two away): geometric mean (median %.3f)" % (
            name, d["aa"][1]), d["aa_gmean"], "x", fmt="%.3f")


def bench_cpython315(env, res):
    """CPython 3.15's own sampler against pyperf, on one 3.15 process
    spinning in tests/targets/deep.py 10 (one thread, always runnable).

    profiling.sampling is a separate process that reads the target's
    memory; its cost is all in its own CPU time. Its per-sample CPU comes
    from two runs of different lengths (difference of CPU over difference
    of samples: start-up and output cancel), median of three such pairs. pyperf's cost per sample is
    its own process's CPU in a steady-state window plus the BPF program's
    run time per sample (charged to the target's CPU, not to pyperf).

    Achieved rate: samples per wall second. profiling.sampling (default
    wall mode) samples the thread whether it runs or not; pyperf samples it
    only when it is on a CPU, so its rate is also shown per second of
    target CPU time: on a busy machine the target does not have a CPU all
    the time."""
    if not sid_python(env):
        res.add("cpython315", "skipped: " + env.sid_error, "", "")
        return
    short, long_ = (1, 3) if env.quick else (2, 8)
    secs = 3 if env.quick else 8
    out = {}
    with BpfStats(), Target([SID, "run", "3.15", DEEP, "10"]) as t:
        for rate in (1000, 10000):
            pairs = []
            for _ in range(1 if env.quick else 3):  # the difference of two runs is noisy: median of pairs
                c1, n1, s1, _ = run_profiling_sampling(env, t.pid, rate, short)
                c2, n2, s2, tcpu = run_profiling_sampling(env, t.pid, rate, long_)
                pairs.append(((c2 - c1) / max(1, n2 - n1), n2 / s2, n2 / tcpu if tcpu else None))
            ps_cpu = median([p[0] for p in pairs])
            ps_rate = median([p[1] for p in pairs])
            d, s = record_window(env, t.pid, rate, secs)
            emitted = max(1, d["cnt"]["CNT_EMITTED"])
            pp_user = d["pyperf_cpu_ns"] / emitted
            pp_bpf, _ = bpf_per_sample(env, d)
            pp_rate = emitted / d["t"]
            pp_rate_cpu = emitted / (d["target_cpu_ns"] / 1e9)
            out[rate] = {"ps_cpu_per_sample_us": ps_cpu * 1e6, "ps_pairs": pairs,
                         "ps_rate": ps_rate,
                         "pp_user_ns": pp_user, "pp_bpf_ns": pp_bpf, "pp_rate": pp_rate,
                         "pp_rate_per_target_cpu_s": pp_rate_cpu, "pp_samples": emitted}
            total = (pp_user + pp_bpf) / 1e3
            log("3.15 @%d Hz: profiling.sampling %.1f us/sample %.0f/s; pyperf %.2f us/sample (user %.2f + bpf %.2f)"
                " %.0f/s (%.0f per target CPU s)" % (rate, ps_cpu * 1e6, ps_rate, total, pp_user / 1e3,
                                                     pp_bpf / 1e3, pp_rate, pp_rate_cpu))
            res.add("cpython315", "%d Hz: profiling.sampling CPU per sample" % rate, ps_cpu * 1e6, "us", fmt="%.1f")
            res.add("cpython315", "%d Hz: pyperf CPU per sample (user+BPF)" % rate, total, "us", fmt="%.2f")
            res.add("cpython315", "%d Hz: CPU per sample, profiling.sampling / pyperf" % rate,
                    ps_cpu * 1e6 / total, "x", fmt="%.1f")
            res.add("cpython315", "%d Hz: profiling.sampling achieved rate" % rate, ps_rate / rate * 100,
                    "% of asked", fmt="%.1f")
            res.add("cpython315", "%d Hz: pyperf achieved rate per wall s" % rate, pp_rate / rate * 100,
                    "% of asked", fmt="%.1f")
            res.add("cpython315", "%d Hz: pyperf achieved rate per target CPU s" % rate, pp_rate_cpu / rate * 100,
                    "% of asked", fmt="%.1f")
    res.details["cpython315"] = out


NATIVE_PYDEPTH = 10  # Python frames of the target, <module> included
NATIVE_CDEPTH = 7    # C recursion levels: ~20 native frames in all with the interpreter's own
UNWTAB_RE = re.compile(r"pyperf: unwind tables of (\d+) files, ([\d.]+) MiB")


def build_native_deep(env):
    """bench/targets/native_deep.c built for the target interpreter (its
    own Python.h and extension suffix) into a directory of its own."""
    out = subprocess.run(env.python + ["-c", "import json, sysconfig; print(json.dumps("
                                       "[sysconfig.get_paths()['include'], sysconfig.get_config_var('EXT_SUFFIX')]))"],
                         capture_output=True, text=True, check=True).stdout
    include, ext = json.loads(out)
    if not os.path.exists(os.path.join(include, "Python.h")):
        raise RuntimeError("no Python.h in %s: install the interpreter's headers (python3.X-dev)" % include)
    moddir = os.path.join(env.tmp, "native_deep")
    os.makedirs(moddir, exist_ok=True)
    # Plain -O2 and no frame pointers, as distributions build extensions.
    p = subprocess.run([os.environ.get("CC", "cc"), "-O2", "-g0", "-shared", "-fPIC", "-I" + include,
                        os.path.join(TARGETS, "native_deep.c"), "-o", os.path.join(moddir, "native_deep" + ext)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("cc native_deep.c failed: " + p.stderr.strip()[-200:])
    return moddir


def folded_kinds(path):
    """Average Python and native frames per sample in a folded file
    (weighted by count): a Python frame is labelled "name (file.py:LINE)",
    anything else is native."""
    py = nat = samples = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not n.isdigit():
                continue
            frames = re.split(r"(?<!\\);", stack)
            p = sum(1 for fr in frames if re.search(r"\.py:\d+\)$", fr))
            py += p * int(n)
            nat += (len(frames) - p) * int(n)
            samples += int(n)
    return (py / samples, nat / samples) if samples else (float("nan"), float("nan"))


def bench_native(env, res):
    """record --native against record on one target, side by side.

    Target: bench/targets/native_deep.py, 10 Python frames (<module> and a
    recursion) calling native_deep.run(), which recurses 7 levels in C
    (bench/targets/native_deep.c) and spins: with the interpreter's own
    frames (_start .. PyEval_EvalCode, the call into the extension) about
    20 native frames. The frame counts printed are those of the folded
    output, averaged over samples; the _PyEval_EvalFrameDefault frame the
    unwinder also walks is shown as the Python frames it runs.

    BPF: kernel.bpf_stats_enabled on, as in `bpf`: run_time_ns/run_cnt of
    pyperf_sample and its CNT_* counters over a window at 9999 Hz, the
    non-target runs subtracted, divided by samples emitted. Rounds
    alternate the order of the two modes on the same target process; the
    ratio is the median of the per-round ratios. Cost per native frame:
    (native - Python-only) / native frames. One more --native window on a
    copy of the target 50 C frames deeper gives the marginal cost per
    native frame (the slope) and the fixed extra cost of --native per
    sample (the intercept minus the Python-only cost).

    pyperf's own CPU per sample: its schedstat CPU over the same windows
    (after a 1 s warm-up: table building stays outside) divided by the
    samples emitted; the whole run's rusage per sample is in the details.

    Tables: bench/native_bench.c builds the unwind table of libpython 3.12
    (pyenv), libc and the static /usr/bin/python3.11 with unwtab_build_fd
    (what record --native does per mapped file), median CPU of 3-5 builds
    in one process, the table's size, and the peak RSS growth of the
    first build.

    Userspace unwinding: a second copy of the target blocked in pause() at
    the same depth; bench/native_bench.c unwinds it with dump --native's
    unwinder (native_unwind: registers from /proc/PID/task/TID/syscall,
    .eh_frame CFI interpreted per frame, frames symbolized), reading target
    memory with one process_vm_readv per read ("read") or copying 64 KiB of
    stack at once and unwinding from the copy ("copy", perf
    --call-graph=dwarf style), median CPU per stack of the unwinding
    process, against the BPF cost per --native sample above."""
    if not env.native_bench:
        raise RuntimeError(env.native_bench_error)
    moddir = build_native_deep(env)
    script = os.path.join(TARGETS, "native_deep.py")
    argv = env.python + [script, moddir, str(NATIVE_PYDEPTH), str(NATIVE_CDEPTH)]
    rounds = 2 if env.quick else 5
    secs = 2 if env.quick else 5
    hz = 9999
    runs = {"python": [], "native": []}
    with BpfStats():
        nt = nontarget_cost(env)
        with Target(argv + ["spin"]) as t:
            for r in range(rounds):
                order = ("python", "native") if r % 2 == 0 else ("native", "python")
                for mode in order:
                    extra = ["--native"] if mode == "native" else []
                    d, s = record_window(env, t.pid, hz, secs, settle=1.0, extra=extra)
                    py, nat = folded_kinds(os.path.join(env.tmp, "rec.folded"))
                    per_sample, raw = bpf_per_sample(env, d)
                    emitted = max(1, d["cnt"]["CNT_EMITTED"])
                    m = UNWTAB_RE.search(s["stderr"])
                    o = {"round": r, "bpf_ns": per_sample, "raw_bpf_ns": raw, "py_frames": py, "native_frames": nat,
                         "emitted": d["cnt"]["CNT_EMITTED"], "pyperf_ns": d["pyperf_cpu_ns"] / emitted,
                         "whole_cpu_s": s["cpu_s"], "whole_samples": s["samples"],
                         "maxrss_kib": s["maxrss_kib"], "counters": d["cnt"],
                         "tables": (int(m.group(1)), float(m.group(2))) if m else None}
                    runs[mode].append(o)
                    log("native round %d %s: %d samples, %.1f Python + %.1f native frames, BPF %.0f ns/sample "
                        "(raw %.0f), pyperf %.0f ns/sample" % (r, mode, o["emitted"], py, nat, per_sample, raw,
                                                                o["pyperf_ns"]))
        # The same target with 50 more C frames, --native only: splits the
        # extra cost into a part per native frame and a fixed part.
        with Target(env.python + [script, moddir, str(NATIVE_PYDEPTH), str(NATIVE_CDEPTH + 50), "spin"]) as t:
            d, s = record_window(env, t.pid, hz, secs, settle=1.0, extra=["--native"])
            py, nat = folded_kinds(os.path.join(env.tmp, "rec.folded"))
            deep = {"bpf_ns": bpf_per_sample(env, d)[0], "py_frames": py, "native_frames": nat,
                    "emitted": d["cnt"]["CNT_EMITTED"]}
            log("native deeper: %d samples, %.1f Python + %.1f native frames, BPF %.0f ns/sample"
                % (deep["emitted"], py, nat, deep["bpf_ns"]))
    pyo, nao = runs["python"], runs["native"]
    bpf_py = median([o["bpf_ns"] for o in pyo])
    bpf_nat = median([o["bpf_ns"] for o in nao])
    bpf_ratio = median([n["bpf_ns"] / p["bpf_ns"] for p, n in zip(pyo, nao)])
    nframes = median([o["native_frames"] for o in nao])
    pyframes = median([o["py_frames"] for o in nao])
    per_native = (bpf_nat - bpf_py) / nframes
    self_py = median([o["pyperf_ns"] for o in pyo])
    self_nat = median([o["pyperf_ns"] for o in nao])
    self_ratio = median([n["pyperf_ns"] / p["pyperf_ns"] for p, n in zip(pyo, nao)])
    res.add("native", "non-target run (procs lookup miss)", nt, "ns/run", fmt="%.0f")
    res.add("native", "stack shown with --native: Python frames", pyframes, "", fmt="%.1f")
    res.add("native", "stack shown with --native: native frames", nframes, "", fmt="%.1f")
    res.add("native", "BPF per sample, Python only (record)", bpf_py, "ns", fmt="%.0f")
    res.add("native", "BPF per sample, --native", bpf_nat, "ns", fmt="%.0f")
    res.add("native", "BPF per sample, --native / Python only (median of %d rounds)" % rounds, bpf_ratio, "x",
            "<= 3x", bpf_ratio <= 3.0, fmt="%.2f")
    res.add("native", "BPF per native frame ((native - Python only) / native frames)", per_native, "ns", fmt="%.1f")
    slope = (deep["bpf_ns"] - bpf_nat) / (deep["native_frames"] - nframes)
    res.add("native", "BPF --native, %.0f native frames: per sample" % deep["native_frames"], deep["bpf_ns"], "ns",
            fmt="%.0f")
    res.add("native", "BPF marginal per native frame (%.0f -> %.0f frames)" % (nframes, deep["native_frames"]), slope,
            "ns", fmt="%.1f")
    res.add("native", "BPF --native fixed extra per sample (intercept - Python only)",
            bpf_nat - slope * nframes - bpf_py, "ns", fmt="%.0f")
    res.add("native", "pyperf CPU per sample at %d Hz, Python only" % hz, self_py / 1e3, "us", fmt="%.2f")
    res.add("native", "pyperf CPU per sample at %d Hz, --native" % hz, self_nat / 1e3, "us", fmt="%.2f")
    res.add("native", "pyperf CPU per sample, --native / Python only", self_ratio, "x", "<= 2x", self_ratio <= 2.0,
            fmt="%.2f")
    tabs = [o["tables"] for o in nao if o["tables"]]
    if tabs:
        res.add("native", "record --native: tables loaded (%d files)" % tabs[0][0], tabs[0][1] * 1024, "KiB",
                fmt="%.0f")
    details = {"runs": runs, "deeper": deep, "nontarget_ns": nt, "pydepth": NATIVE_PYDEPTH, "cdepth": NATIVE_CDEPTH, "hz": hz}

    # Unwind tables, each file in a fresh process (clean peak RSS).
    files = [("libpython3.12 (pyenv)", glob_first(os.path.join(pyenv_root(), "versions", "3.12*", "lib",
                                                               "libpython3.12.so.1.0"))),
             ("libc", os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6")),
             ("static /usr/bin/python3.11", "/usr/bin/python3.11")]
    details["tables"] = {}
    for label, path in files:
        if not path or not os.path.exists(path):
            res.add("native", "table of %s" % label, "absent", "")
            continue
        p = subprocess.run([env.native_bench, "tables", path, "3" if env.quick else "5"], capture_output=True,
                           text=True)
        if p.returncode != 0:
            res.add("native", "table of %s: %s" % (label, p.stderr.strip()[:60]), "failed", "")
            continue
        kv = {k: int(v) for k, v in (x.split("=", 1) for x in p.stdout.split())}
        details["tables"][label] = dict(kv, path=path)
        log("native table %s (%s): %s" % (label, path, p.stdout.strip()))
        res.add("native", "table of %s: build CPU (%d FDEs)" % (label, kv["fdes"]), kv["build_cpu_ns"] / 1e6, "ms",
                fmt="%.1f")
        res.add("native", "table of %s: size (%d rows)" % (label, kv["rows"]), kv["table_bytes"] / 1024, "KiB",
                fmt="%.0f")
        res.add("native", "table of %s: peak RSS growth while building" % label, kv["peak_rss_growth_kib"], "KiB",
                fmt="%d")

    # Userspace unwinding of the same stack, blocked.
    n = 300 if env.quick else 1000
    with Target(argv + ["block"]) as t:
        deadline = time.monotonic() + 10
        while not open("/proc/%d/syscall" % t.pid).read().startswith("34 "):  # pause(2): at the bottom
            if time.monotonic() > deadline:
                raise RuntimeError("native_deep.py block: not in pause() after 10 s")
            time.sleep(0.01)
        p = subprocess.run([env.native_bench, "unwind", str(t.pid), str(t.pid), str(n)], capture_output=True,
                           text=True)
    if p.returncode != 0:
        raise RuntimeError("native_bench unwind: " + p.stderr.strip()[:200])
    ways = {}
    for line in p.stdout.splitlines():
        kv = dict(x.split("=", 1) for x in line.split(" ", 6)[:6] if "=" in x)
        why = line.partition("why=")[2]
        ways[kv["way"]] = dict(kv, why=why)
    details["userspace"] = ways
    log("native userspace unwind: " + p.stdout.strip().replace("\n", " | "))
    for way, what in (("read", "one process_vm_readv per read"), ("copy", "64 KiB stack copy, then local reads")):
        w = ways[way]
        ns = float(w["cpu_ns"])
        res.add("native", "userspace unwind (%s): %s frames, %s reads" % (what, w["frames"], w["reads"]), ns / 1e3,
                "us/stack", fmt="%.1f")
        res.add("native", "  / BPF per --native sample", ns / bpf_nat, "x", fmt="%.1f")
    res.add("native", "  of which /proc/PID/task/TID/syscall read (registers)", float(ways["regs"]["cpu_ns"]) / 1e3,
            "us", fmt="%.1f")
    res.details["native"] = details


ASYNC_SCRIPT = os.path.join(TARGETS, "async_chain.py")
ASYNC_DEPTH = 10     # coroutines between the task's own and the burning leaf
ASYNC_PENDING = 5000
TASK_LINE_RE = re.compile(r"^\s*task \S", re.M)


def async_window(env, pid, hz, secs, extra=(), settle=1):
    """One `pyperf record -d` run of settle+secs+1 s: a steady-state window
    of `secs` after `settle` s (BPF run time, counters, pyperf's schedstat
    CPU), then the run's own end; its rusage (utime+stime of the whole
    run, start-up included) comes with the summary."""
    rec = Recording(env, pid, hz, duration=settle + secs + 1, extra=extra).start()
    try:
        time.sleep(settle)
        a = rec.snapshot()
        time.sleep(secs)
        b = rec.snapshot()
    except BaseException:
        rec.stop()
        raise
    return delta(a, b), rec.wait(timeout=60)


def timed_run(argv, out_path):
    """Runs argv to its end, stdout to out_path: (exit code, wall s, CPU s,
    peak RSS KiB, stderr)."""
    with open(out_path, "w") as out:
        t0 = time.monotonic()
        p = spawn(argv, stdout=out, stderr=subprocess.PIPE, text=True)
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
    _children.remove(p)
    return os.waitstatus_to_exitcode(status), wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, err


def sid_versions():
    """The sid interpreters tests/helpers/sid-python.sh can run (fetched if
    need be); the reason as a string if none."""
    p = subprocess.run([SID, "fetch"], capture_output=True, text=True)
    if p.returncode != 0:
        return (p.stderr.strip().splitlines() or ["sid-python.sh fetch failed"])[-1]
    return subprocess.run([SID, "versions"], capture_output=True, text=True).stdout.split()


def bench_async(env, res):
    """asyncio (issue #19): what --async costs, what a dump of many tasks
    costs, and CPython 3.15's own async-aware sampler on the same process.

    1. record --async against record, side by side: target
    bench/targets/async_chain.py chain on pyenv's 3.12 (env.python if
    absent): a task "chain" whose coroutine awaits 10 nested coroutines
    (level), the innermost awaiting a leaf that burns CPU (yielding with
    sleep(0) every ~10 ms), and 3 tasks sleeping 50 ms in a loop. Nearly
    every sample is 13 Python frames deep in the chain; with --async its
    stack is "task Task-1;task chain;chain;level x10;leaf;burn". Each round
    runs `record -d` and `record --async -d` on the same target process,
    order swapped every round, at 9999 Hz. BPF: kernel.bpf_stats_enabled,
    run_time_ns/run_cnt of pyperf_sample over a window after 1 s of
    warm-up, non-target runs subtracted, per sample emitted (as `bpf` and
    `native`). pyperf's own CPU per sample: its schedstat CPU over the same
    window per sample emitted, and the whole -d run's utime+stime (rusage,
    start-up and task-table reads included) per sample. Ratios: median of
    the per-round ratios.

    2. dump --async of 5,000 tasks: async_chain.py pending 5000 (5,000 tasks
    pending on one asyncio.Event, plus the main task) on pyenv's 3.12 and
    sid's 3.14; `pyperf dump --async -p PID` run to its end, wall time and
    peak RSS (ru_maxrss) of pyperf, median of 3 (quick) or 5 runs,
    alternating with a plain `pyperf dump -p PID` of the same process (the
    cost of attaching and reading the threads alone). Each run's output
    must list every task, or the benchmark fails.

    3. python3.15 -m profiling.sampling attach --async-aware (its async
    mode "running": the running task's stack, as record --async in CPU
    mode) against record --async, on one 3.15 process (sid) running the
    chain target, at 1000 Hz (and 10000 Hz in full mode) for the same
    duration, alternating. CPU per sample: the profiler process's whole
    utime+stime (rusage) over the samples it reports ("Captured N
    samples"); pyperf's the same way (utime+stime over its summary's
    samples), plus the BPF run time per sample, which the kernel charges
    to the target rather than to pyperf. Both include start-up, which
    weighs on a short run; so a second pair leaves it out: profiling.
    sampling's CPU minus that of starting python3.15 and importing
    profiling.sampling.cli (median of 3), and pyperf's schedstat CPU over
    a window after 1 s, plus BPF. Achieved rate: samples per second of
    the asked duration; pyperf samples the thread only when it is on a
    CPU (profiling.sampling reads it whether it runs or not), so its rate
    per second of target CPU time is shown too. If profiling.sampling cannot attach, its
    row says why, in its own words."""
    py312 = glob_first(os.path.join(pyenv_root(), "versions", "3.12*", "bin", "python3.12"))
    chain_py = [py312] if py312 else env.python
    rounds = 2 if env.quick else 5
    secs = 2 if env.quick else 5
    hz = 9999
    details = {"chain_python": chain_py, "depth": ASYNC_DEPTH, "hz": hz}
    runs = {"plain": [], "async": []}
    with BpfStats():
        nt = nontarget_cost(env)
        with Target(chain_py + [ASYNC_SCRIPT, "chain", str(ASYNC_DEPTH)]) as t:
            for r in range(rounds):
                order = ("plain", "async") if r % 2 == 0 else ("async", "plain")
                for mode in order:
                    extra = ["--async"] if mode == "async" else []
                    d, s = async_window(env, t.pid, hz, secs, extra=extra)
                    emitted = max(1, d["cnt"]["CNT_EMITTED"])
                    bpf, raw = bpf_per_sample(env, d)
                    o = {"round": r, "bpf_ns": bpf, "raw_bpf_ns": raw, "emitted": d["cnt"]["CNT_EMITTED"],
                         "pyperf_ns": d["pyperf_cpu_ns"] / emitted,
                         "whole_cpu_s": s["cpu_s"], "whole_samples": s["samples"],
                         "whole_ns": s["cpu_s"] * 1e9 / max(1, s["samples"]),
                         "frames": folded_frames(os.path.join(env.tmp, "rec.folded")),
                         "maxrss_kib": s["maxrss_kib"], "counters": d["cnt"]}
                    runs[mode].append(o)
                    log("async round %d %s: %d samples, %.1f frames, BPF %.0f ns/sample (raw %.0f), pyperf %.0f "
                        "ns/sample in the window, %.0f over the whole run" % (
                            r, mode, o["emitted"], o["frames"], bpf, raw, o["pyperf_ns"], o["whole_ns"]))
    pl, asy = runs["plain"], runs["async"]
    res.add("async", "non-target run (procs lookup miss)", nt, "ns/run", fmt="%.0f")
    res.add("async", "frames per sample, record / record --async",
            "%.1f / %.1f" % (median([o["frames"] for o in pl]), median([o["frames"] for o in asy])), "")
    for key, what, unit, scale, fmt in (("bpf_ns", "BPF per sample", "ns", 1, "%.0f"),
                                        ("pyperf_ns", "pyperf CPU per sample, steady window", "us", 1e3, "%.2f"),
                                        ("whole_ns", "pyperf utime+stime per sample, whole -d run", "us", 1e3,
                                         "%.2f")):
        res.add("async", "%s at %d Hz, record" % (what, hz), median([o[key] for o in pl]) / scale, unit, fmt=fmt)
        res.add("async", "%s at %d Hz, record --async" % (what, hz), median([o[key] for o in asy]) / scale, unit,
                fmt=fmt)
        res.add("async", "%s, --async / plain (median of %d rounds)" % (what, rounds),
                median([a[key] / p[key] for p, a in zip(pl, asy)]), "x", fmt="%.2f")
    details["record"] = runs

    # 2. dump --async of many pending tasks.
    n_dump = 3 if env.quick else 5
    targets = [("3.12 (pyenv)", [py312] if py312 else None)]
    vers = sid_versions()
    targets.append(("3.14 (sid)", [SID, "run", "3.14"] if isinstance(vers, list) and "3.14" in vers else None))
    details["dump"] = {}
    out_path = os.path.join(env.tmp, "dump.txt")
    for label, interp in targets:
        if not interp:
            res.add("async", "dump --async, %d tasks, %s: skipped: %s" % (
                ASYNC_PENDING, label, vers if isinstance(vers, str) else "interpreter absent"), "", "")
            continue
        got = {"async": [], "plain": []}
        with Target(interp + [ASYNC_SCRIPT, "pending", str(ASYNC_PENDING)]) as t:
            for i in range(n_dump):
                for mode in (("async", "plain") if i % 2 == 0 else ("plain", "async")):
                    argv = [env.pyperf, "dump", "-p", str(t.pid)] + (["--async"] if mode == "async" else [])
                    rc, wall, cpu, rss, err = timed_run(argv, out_path)
                    with open(out_path, encoding="utf-8", errors="replace") as f:
                        tasks = len(TASK_LINE_RE.findall(f.read()))
                    if rc != 0 or (mode == "async" and tasks < ASYNC_PENDING):
                        raise RuntimeError("dump %s on %s: exit %d, %d tasks listed: %s" % (
                            mode, label, rc, tasks, err.strip()[:200]))
                    got[mode].append({"wall_s": wall, "cpu_s": cpu, "maxrss_kib": rss, "tasks": tasks})
        details["dump"][label] = got
        a, p = got["async"], got["plain"]
        log("async dump %s: --async %s s, %s KiB; plain %s s, %s KiB; %d tasks" % (
            label, [round(x["wall_s"], 3) for x in a], [x["maxrss_kib"] for x in a],
            [round(x["wall_s"], 3) for x in p], [x["maxrss_kib"] for x in p], a[0]["tasks"]))
        res.add("async", "dump --async, %d tasks listed, %s: wall (median of %d)" % (a[0]["tasks"], label, n_dump),
                median([x["wall_s"] for x in a]) * 1e3, "ms", fmt="%.0f")
        res.add("async", "  its CPU (utime+stime)", median([x["cpu_s"] for x in a]) * 1e3, "ms", fmt="%.0f")
        res.add("async", "  its peak RSS", median([x["maxrss_kib"] for x in a]) / 1024, "MiB", fmt="%.1f")
        res.add("async", "  plain dump of the same process: wall / peak RSS",
                "%.0f ms / %.1f MiB" % (median([x["wall_s"] for x in p]) * 1e3,
                                        median([x["maxrss_kib"] for x in p]) / 1024), "")

    # 3. CPython 3.15's sampler, --async-aware, on the same 3.15 process.
    if not (isinstance(vers, list) and "3.15" in vers):
        res.add("async", "3.15 comparison skipped: %s" % (vers if isinstance(vers, str) else "no sid 3.15"), "", "")
        res.details["async"] = details
        return
    secs15 = 3 if env.quick else 5
    rates = (1000,) if env.quick else (1000, 10000)
    ps_out = os.path.join(env.tmp, "ps.collapsed")
    details["cpython315"] = {}
    # What profiling.sampling's CPU holds besides sampling: the start of
    # python3.15 and the import of the module (median of 3).
    starts = [timed_run([SID, "run", "3.15", "-c", "import profiling.sampling.cli"], os.devnull)
              for _ in range(3)]
    ps_start = median([x[2] for x in starts if x[0] == 0])
    details["ps_start_cpu_s"] = ps_start
    with BpfStats(), Target([SID, "run", "3.15", ASYNC_SCRIPT, "chain", str(ASYNC_DEPTH)]) as t:
        for rate in rates:
            ps, pp = [], []
            for i in range(1 if env.quick else 2):
                for who in (("ps", "pp") if i % 2 == 0 else ("pp", "ps")):
                    if who == "ps":
                        rc, wall, cpu, rss, err = timed_run(
                            [SID, "run", "3.15", "-m", "profiling.sampling", "attach", "--async-aware",
                             "-r", str(rate), "-d", str(secs15), "--collapsed", "-o", ps_out, str(t.pid)],
                            os.path.join(env.tmp, "ps.stdout"))
                        with open(os.path.join(env.tmp, "ps.stdout")) as f:
                            text = f.read() + err
                        m = CAPTURED_RE.search(text)
                        if rc != 0 or not m:
                            why = " ".join(text.strip().splitlines()[-2:])[:150] or "exit %d" % rc
                            res.add("async", "3.15 %d Hz: profiling.sampling --async-aware could not run: %s"
                                    % (rate, why), "", "", "runs", False)
                            ps = None
                            break
                        ps.append({"cpu_s": cpu, "samples": int(m.group(1)), "secs": float(m.group(2)),
                                   "wall_s": wall, "maxrss_kib": rss})
                    else:
                        d, s = async_window(env, t.pid, rate, secs15 - 2, extra=["--async"])
                        emitted = max(1, d["cnt"]["CNT_EMITTED"])
                        pp.append({"cpu_s": s["cpu_s"], "samples": s["samples"], "secs": secs15,
                                   "bpf_ns": bpf_per_sample(env, d)[0], "maxrss_kib": s["maxrss_kib"],
                                   "window_ns": d["pyperf_cpu_ns"] / emitted,
                                   "rate_per_target_cpu_s": emitted / (d["target_cpu_ns"] / 1e9)})
                if ps is None:
                    break
            details["cpython315"][rate] = {"profiling.sampling": ps, "pyperf": pp}
            if not ps or not pp:
                continue
            ps_us = median([x["cpu_s"] / max(1, x["samples"]) for x in ps]) * 1e6
            ps_rate = median([x["samples"] / secs15 for x in ps])
            pp_user = median([x["cpu_s"] / max(1, x["samples"]) for x in pp]) * 1e6
            pp_bpf = median([x["bpf_ns"] for x in pp]) / 1e3
            pp_rate = median([x["samples"] / x["secs"] for x in pp])
            pp_window = median([x["window_ns"] for x in pp]) / 1e3
            pp_rate_cpu = median([x["rate_per_target_cpu_s"] for x in pp])
            ps_steady = median([(x["cpu_s"] - ps_start) / max(1, x["samples"]) for x in ps]) * 1e6
            log("async 3.15 @%d Hz: profiling.sampling --async-aware %.1f us/sample %.0f/s; pyperf --async %.2f "
                "us/sample (user %.2f + BPF %.2f) %.0f/s" % (rate, ps_us, ps_rate, pp_user + pp_bpf, pp_user,
                                                             pp_bpf, pp_rate))
            res.add("async", "3.15 %d Hz: profiling.sampling --async-aware CPU per sample" % rate, ps_us, "us",
                    fmt="%.1f")
            res.add("async", "3.15 %d Hz: pyperf --async CPU per sample (utime+stime + BPF)" % rate,
                    pp_user + pp_bpf, "us", fmt="%.2f")
            res.add("async", "3.15 %d Hz: CPU per sample, profiling.sampling / pyperf" % rate,
                    ps_us / (pp_user + pp_bpf), "x", fmt="%.1f")
            res.add("async", "3.15 %d Hz: start-up left out: profiling.sampling (- %.0f ms) / pyperf steady "
                    "window + BPF" % (rate, ps_start * 1e3), "%.1f / %.2f us" % (ps_steady, pp_window + pp_bpf), "")
            res.add("async", "3.15 %d Hz: ... ratio" % rate, ps_steady / (pp_window + pp_bpf), "x", fmt="%.1f")
            res.add("async", "3.15 %d Hz: profiling.sampling achieved rate" % rate, ps_rate / rate * 100,
                    "% of asked", fmt="%.1f")
            res.add("async", "3.15 %d Hz: pyperf --async achieved rate" % rate, pp_rate / rate * 100,
                    "% of asked", fmt="%.1f")
            res.add("async", "3.15 %d Hz: pyperf --async achieved rate per target CPU s" % rate,
                    pp_rate_cpu / rate * 100, "% of asked", fmt="%.1f")
    res.details["async"] = details


LOCALS_SCRIPT = os.path.join(TARGETS, "deep_threads.py")
LOCALS_THREADS, LOCALS_DEPTH = 2000, 50
VAR_LINE_RE = re.compile(r"^        (arg  |local|cell |free ) \S+ = ", re.M)


def bench_locals(env, res):
    """dump --locals (issue #20): the process of the issue's target, 2,000
    threads with 50-frame stacks (deep_threads.py: 48 frames of a function
    with 3 arguments and 5 locals (int, str, float, list, dict) under the
    thread's own frames), dumped plain, with --locals and with --locals
    --json, in alternating order; each run to its end with its output in a
    file. CPU is the dump's utime+stime (rusage), the figure the issue's
    targets are stated in."""
    n = 3 if env.quick else 5
    out_path = os.path.join(env.tmp, "locals.txt")
    modes = (("plain", []), ("locals", ["--locals"]), ("json", ["--locals", "--json"]))
    got = {m: [] for m, _ in modes}
    with Target(env.python + [LOCALS_SCRIPT, str(LOCALS_THREADS), str(LOCALS_DEPTH)], ready_timeout=180) as t:
        for i in range(n):
            for mode, extra in (modes if i % 2 == 0 else modes[::-1]):
                rc, wall, cpu, rss, err = timed_run([env.pyperf, "dump", "-p", str(t.pid)] + extra, out_path)
                # Counted line by line: a forked child's peak RSS starts
                # from ours, so this process must stay small.
                threads = nvars = 0
                with open(out_path, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        threads += line.startswith("Thread ") or line.startswith('    {"tid": ')
                        nvars += bool(VAR_LINE_RE.match(line)) or line.count('"kind": ')
                if rc != 0 or threads < LOCALS_THREADS:
                    raise RuntimeError("dump %s: exit %d, %d threads: %s" % (mode, rc, threads, err.strip()[:200]))
                got[mode].append({"wall_s": wall, "cpu_s": cpu, "maxrss_kib": rss, "threads": threads,
                                  "variables": nvars, "bytes": os.path.getsize(out_path)})
    res.details["locals"] = got
    log("locals: %s" % {m: [round(x["cpu_s"], 2) for x in got[m]] for m in got})
    label = "%d threads x %d frames, %s" % (LOCALS_THREADS, LOCALS_DEPTH, env.version)
    cpu = {m: median([x["cpu_s"] for x in got[m]]) for m in got}
    res.add("locals", "dump, %s: CPU (median of %d)" % (label, n), cpu["plain"], "s", "< 1 s", cpu["plain"] < 1,
            fmt="%.2f")
    res.add("locals", "dump --locals, same process: CPU (%d variables)" % got["locals"][0]["variables"],
            cpu["locals"], "s", "< 3 s", cpu["locals"] < 3, fmt="%.2f")
    res.add("locals", "dump --locals --json, same process: CPU", cpu["json"], "s", "< 3 s", cpu["json"] < 3,
            fmt="%.2f")
    for m in ("plain", "locals", "json"):
        res.add("locals", "  %s: wall / peak RSS / output" % m, "%.2f s / %.1f MiB / %.0f MiB" % (
            median([x["wall_s"] for x in got[m]]), median([x["maxrss_kib"] for x in got[m]]) / 1024,
            got[m][0]["bytes"] / 2**20), "")


def bench_report(env, res):
    """pyperf report over a day of `record -a --every 60s`: bench/report_gen.c
    (linked with libpyperf.a, pyperf's own pprof writer) writes 1,440
    one-minute period files of 50 processes (3 threads each, 19 Hz, each
    busy 10% of the time: 114 samples a process a minute over its own 300
    stacks 8-40 frames deep, Zipf-distributed; labels as record -a writes
    them). Then `pyperf report DIR -o day.pb.gz` (the whole day), the same
    on 360 of the files (peak RSS must stay that of the distinct stacks,
    not grow with the files), and a 15-minute --since/--until window with
    --label process=celery --group-by pid into an SVG. CPU (utime+stime)
    and peak RSS from wait4, median of 3 runs (1 in --quick)."""
    gen = os.path.join(env.tmp, "report_gen")
    lib = os.path.join(env.tmp, "libpyperf.a")
    if not os.path.exists(lib):
        shutil.copy2(os.path.join(ROOT, "build", "libpyperf.a"), lib)
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-I" + os.path.join(ROOT, "build"),
                    "-I" + os.path.join(ROOT, "bpf"), "-I" + os.path.join(ROOT, "user"),
                    "-I" + os.path.join(ROOT, "flamegraph"), os.path.join(BENCH, "report_gen.c"), lib, "-lbpf",
                    "-lelf", "-lz", "-lcurl", "-lpthread", "-o", gen], check=True)
    nfiles = 1440
    day, quarter = os.path.join(env.tmp, "day"), os.path.join(env.tmp, "quarter")
    t0 = time.monotonic()
    info = subprocess.run([gen, day, str(nfiles), "50", "0.1"], capture_output=True, text=True,
                          check=True).stdout.split()
    os.makedirs(quarter)
    for f in sorted(os.listdir(day))[:nfiles // 4]:
        os.link(os.path.join(day, f), os.path.join(quarter, f))
    log("report: generated %s in %.0f s" % (" ".join(info), time.monotonic() - t0))
    runs = 1 if env.quick else 3
    cases = [("day", [day, "-o", os.path.join(env.tmp, "day.pb.gz")]),
             ("quarter", [quarter, "-o", os.path.join(env.tmp, "quarter.pb.gz")]),
             ("window", [day, "--since", "2026-12-01T12:00:00Z", "--until", "2026-12-01T12:15:00Z", "--label",
                         "process=celery", "--group-by", "pid", "-o", os.path.join(env.tmp, "window.svg")])]
    got = {}
    for name, args in cases:
        got[name] = []
        for _ in range(runs):
            code, wall, cpu, rss, err = timed_run([env.pyperf, "report"] + args, os.path.join(env.tmp, "report.out"))
            if code != 0:
                raise RuntimeError("pyperf report %s: %s" % (name, err.strip()[-200:]))
            got[name].append({"cpu_s": cpu, "wall_s": wall, "maxrss_kib": rss, "summary": err.strip()})
        log("report %s: %s" % (name, [(round(x["cpu_s"], 2), x["maxrss_kib"]) for x in got[name]]))
    res.details["report"] = {"generated": info, "runs": got}
    cpu = {n: median([x["cpu_s"] for x in got[n]]) for n in got}
    rss = {n: median([x["maxrss_kib"] for x in got[n]]) / 1024 for n in got}
    res.add("report", "a day: 1,440 files x 50 processes, CPU", cpu["day"], "s", "< 10 s", cpu["day"] < 10,
            fmt="%.1f")
    res.add("report", "  per file", cpu["day"] / nfiles * 1e3, "ms", fmt="%.1f")
    res.add("report", "  peak RSS", rss["day"], "MiB", fmt="%.1f")
    res.add("report", "a quarter (360 files): peak RSS", rss["quarter"], "MiB", "within 1.5x of the day's",
            rss["day"] <= 1.5 * rss["quarter"], fmt="%.1f")
    res.add("report", "15-minute window, one process name, --group-by pid: CPU", cpu["window"], "s", fmt="%.2f")


def pyenv_root():
    p = subprocess.run(["pyenv", "root"], capture_output=True, text=True) if shutil.which("pyenv") else None
    return p.stdout.strip() if p and p.returncode == 0 else os.path.expanduser("~/.pyenv")


def glob_first(pattern):
    found = sorted(glob.glob(pattern))
    return found[-1] if found else None


# ---------------------------------------------------------------------------

def machine():
    def first(path, key):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"
    irq_acct = "?"
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            irq_acct = "y" if "CONFIG_IRQ_TIME_ACCOUNTING=y" in f.read() else "n"
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h (%cs)"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--", "bpf", "user"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "nproc": os.cpu_count(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "kernel": platform.release(),
        "mem": first("/proc/meminfo", "MemTotal"),
        "load": "%.1f %.1f %.1f" % os.getloadavg(),
        "irq_time_accounting": irq_acct,
        "commit": commit + (" (+ uncommitted changes in bpf/ user/)" if dirty else ""),
    }


class Env:
    def __init__(self, args):
        self.quick = args.quick
        self.python = shlex.split(args.python)  # a command: may be a wrapper with arguments
        self.tmp = tempfile.mkdtemp(prefix="pyperf-bench-")
        self.nontarget_ns = None
        self.sid_error = ""
        # Private copies: a rebuild during the run must not change the binary.
        src = args.pyperf
        if not os.access(src, os.X_OK):
            sys.exit("bench: no %s: run 'make' first" % src)
        self.pyperf = os.path.join(self.tmp, "pyperf")
        shutil.copy2(src, self.pyperf)
        global COUNTERS
        COUNTERS = counter_indices()
        self.symbolize_bench = None
        self.native_bench = None
        self.native_bench_error = "not built"
        self.version = subprocess.run(self.python + ["-c", "import sys; print(sys.version.split()[0])"],
                                      capture_output=True, text=True).stdout.strip()

    def build_symbolize_bench(self):
        lib = os.path.join(self.tmp, "libpyperf.a")
        shutil.copy2(os.path.join(ROOT, "build", "libpyperf.a"), lib)
        exe = os.path.join(self.tmp, "symbolize_bench")
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-I" + os.path.join(ROOT, "build"),
                        "-I" + os.path.join(ROOT, "bpf"), "-I" + os.path.join(ROOT, "user"),
                        os.path.join(BENCH, "symbolize_bench.c"), lib, "-lbpf", "-lelf", "-lz", "-o", exe],
                       check=True)
        self.symbolize_bench = exe

    def build_native_bench(self):
        """bench/native_bench.c, linked like symbolize_bench; a build
        failure is the `native` benchmark's, reported in its row."""
        lib = os.path.join(self.tmp, "libpyperf.a")
        if not os.path.exists(lib):
            shutil.copy2(os.path.join(ROOT, "build", "libpyperf.a"), lib)
        exe = os.path.join(self.tmp, "native_bench")
        cc = os.environ.get("CC", "cc")
        p = subprocess.run([cc, "-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-I" + os.path.join(ROOT, "build"),
                            "-I" + os.path.join(ROOT, "bpf"), "-I" + os.path.join(ROOT, "user"),
                            os.path.join(BENCH, "native_bench.c"), lib, "-lbpf", "-lelf", "-lz", "-lcurl",
                            "-lpthread", "-o", exe], capture_output=True, text=True)
        if p.returncode == 0:
            self.native_bench = exe
        else:
            self.native_bench_error = "cc native_bench.c failed: " + p.stderr.strip().splitlines()[-1][:200]


GEN_BEGIN = "<!-- bench/run.py --write-results: generated, do not edit below -->"
GEN_END = "<!-- end of generated part -->"


def write_results(res, mach):
    gen = [GEN_BEGIN, "", "### Last run of bench/run.py", "",
           "Run of %s (%s mode, %.0f s): `%s`" % (mach["date"], mach.get("mode", "full"), mach.get("elapsed", 0),
                                                 mach.get("argv", "bench/run.py")),
           "",
           "- machine: %d CPUs, %s, kernel %s, %s RAM, load average at start %s" % (
               mach["nproc"], mach["cpu"], mach["kernel"], mach["mem"], mach["load"]),
           "- kernel IRQ time accounting: %s (n: BPF time in the timer interrupt is charged to the "
           "interrupted task, so the target's CPU time includes it)" % mach["irq_time_accounting"],
           "- pyperf at %s; target interpreter %s %s" % (mach["commit"], mach.get("python_cmd", "/usr/bin/python3"),
                                                               mach["python"]),
           ""]
    head_md = headline_markdown(res.details.get("headline"))
    if head_md:
        gen += [head_md, "", "#### Every number of the run", ""]
    gen += [res.table(markdown=True), "", GEN_END]
    text = ""
    if os.path.exists(RESULTS_MD):
        with open(RESULTS_MD) as f:
            text = f.read()
    if GEN_BEGIN in text and GEN_END in text:
        head, rest = text.split(GEN_BEGIN, 1)
        tail = rest.split(GEN_END, 1)[1]
    else:
        head, tail = text or "# pyperf benchmark results\n\n", ""
    with open(RESULTS_MD, "w") as f:
        f.write(head.rstrip("\n") + "\n\n" + "\n".join(gen) + "\n"
                + ("\n" + tail.lstrip("\n") if tail.strip() else ""))
    log("wrote " + RESULTS_MD)


def on_sigterm(sig, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--quick", action="store_true", help="short runs, a few minutes in all")
    ap.add_argument("--only", help="comma-separated benchmarks: " + ",".join(ALL))
    ap.add_argument("--python", default="/usr/bin/python3", help="target interpreter, a command (default %(default)s; e.g. "
                    "'tests/helpers/sid-python.sh run 3.15')")
    ap.add_argument("--pyperf", default=os.path.join(ROOT, "build", "pyperf"),
                    help="pyperf binary to measure (default build/pyperf), e.g. an experimental build")
    ap.add_argument("--json", help="write every number and detail to this file")
    ap.add_argument("--write-results", action="store_true", help="update the generated part of bench/RESULTS.md")
    ap.add_argument("--results-from", metavar="JSON",
                    help="only rewrite bench/RESULTS.md from the --json file of an earlier run")
    args = ap.parse_args()
    if args.results_from:
        with open(args.results_from) as f:
            saved = json.load(f)
        res = Results()
        res.rows = saved["rows"]
        res.details = saved.get("details", {})
        write_results(res, saved["machine"])
        return 0
    which = args.only.split(",") if args.only else ALL
    for w in which:
        if w not in ALL:
            ap.error("unknown benchmark %r (have: %s)" % (w, ", ".join(ALL)))
    if os.geteuid() != 0:
        sys.exit("bench: needs root (BPF, ptrace, kernel.bpf_stats_enabled)")

    env = Env(args)
    mach = machine()
    mach["python"] = env.version
    res = Results()
    # SIGTERM ends the run like Ctrl-C: children reaped, sysctl restored.
    signal.signal(signal.SIGTERM, on_sigterm)
    started = time.monotonic()
    log("%s: %d CPUs, %s, kernel %s, load %s; target %s %s" % (
        mach["date"], mach["nproc"], mach["cpu"], mach["kernel"], mach["load"], args.python, env.version))
    funcs = {"slowdown": bench_slowdown, "bpf": bench_bpf, "self": bench_self, "lost": bench_lost,
             "symbolize": bench_symbolize, "flamegraph": bench_flamegraph, "cpython315": bench_cpython315,
             "headline": bench_headline, "paused": bench_paused,
             "native": bench_native, "async": bench_async, "locals": bench_locals, "report": bench_report,
             "all": bench_all}
    try:
        if "symbolize" in which:
            env.build_symbolize_bench()
        if "native" in which:
            env.build_native_bench()
        for w in which:
            t0 = time.monotonic()
            try:
                funcs[w](env, res)
            except Exception as e:  # one broken benchmark does not stop the others
                log("%s failed: %s" % (w, e))
                res.add(w, "FAILED: %s" % str(e).splitlines()[0][:70], "", "", "runs", False)
            log("%s done in %.0f s" % (w, time.monotonic() - t0))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        reap_all()
        shutil.rmtree(env.tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    mach.update(mode="quick" if args.quick else "full", elapsed=elapsed, python_cmd=args.python,
                argv=" ".join(["bench/run.py"] + sys.argv[1:]))
    print()
    print("pyperf benchmarks, %s mode, %.0f s; %d CPUs, %s, kernel %s, load %s at start" % (
        "quick" if args.quick else "full", elapsed, mach["nproc"], mach["cpu"], mach["kernel"], mach["load"]))
    print(res.table())
    head_md = headline_markdown(res.details.get("headline"))
    if head_md:
        print()
        print(head_md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": mach, "rows": res.rows, "details": res.details}, f, indent=1, default=str)
    if args.write_results:
        write_results(res, mach)
    # Misses are results, not errors; a benchmark that could not run is one.
    return 1 if any(r["name"].startswith("FAILED") for r in res.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
