#!/usr/bin/env python3
"""SVG speed: pyperf flamegraph on a 1,000,000-line folded file, side by side
with two baselines, with wall time and peak RSS of each.

  baseline A: LC_ALL=C sort | awk   -- only merges identical lines (no trie,
              no SVG): a floor for "read and aggregate the text" in shell tools
  baseline B: bench/flamegraph_baseline.py -- the same job done the simple
              way (dict trie + SVG rects) in Python

The input models a server: every stack starts in the same 6-frame event
loop, enters one of many handlers (zipf-ish), then walks 3..30 calls through
a made-up program of 4,000 functions in user code, the standard library and
site-packages, each calling a few others. Labels are pyperf's
"qualname (path:LINE)"; a caller shows the line of its call, the leaf any
line of its function. Nearly every line is a distinct stack.

usage: bench/flamegraph_bench.py [--lines N] [--keep DIR] [--pyperf PATH]
Not a test: prints a table; nothing is asserted.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USER_FILES = ["app.py", "server/handlers.py", "server/models.py", "server/views.py", "jobs/worker.py",
              "jobs/tasks.py", "util/text.py", "util/cache.py"]
STDLIB_FILES = ["/usr/lib/python3.11/%s" % f for f in (
    "json/decoder.py", "json/encoder.py", "threading.py", "socket.py", "re/_compiler.py",
    "collections/__init__.py", "logging/__init__.py", "selectors.py", "ssl.py", "typing.py",
    "http/client.py", "email/parser.py", "asyncio/base_events.py", "asyncio/events.py")]
LIB_FILES = ["/srv/venv/lib/python3.11/site-packages/%s" % f for f in (
    "requests/sessions.py", "urllib3/connectionpool.py", "sqlalchemy/orm/query.py",
    "sqlalchemy/engine/base.py", "jinja2/environment.py", "numpy/core/fromnumeric.py",
    "django/core/handlers/base.py", "django/db/models/query.py")]
VERBS = ["get", "handle", "parse", "load", "render", "send", "recv", "query", "compile", "encode",
         "decode", "validate", "dispatch", "wait", "format", "resolve", "update", "fetch"]
NOUNS = ["request", "row", "template", "payload", "header", "token", "session", "cache", "batch",
         "item", "node", "message", "frame", "record", "value", "chunk"]
FUNCTIONS = 4000
PREFIX = ["<module> (app.py:1)", "main (app.py:40)",
          "run_forever (/usr/lib/python3.11/asyncio/base_events.py:607)",
          "_run_once (/usr/lib/python3.11/asyncio/base_events.py:1922)",
          "_run (/usr/lib/python3.11/asyncio/events.py:80)",
          "handle (/srv/venv/lib/python3.11/site-packages/django/core/handlers/base.py:181)"]


def h32(*parts):
    return zlib.crc32(repr(parts).encode())


class Program:
    """A made-up program: FUNCTIONS functions in user, stdlib and library
    files, each calling 1..6 others from a few call sites."""

    def __init__(self):
        self.name = []
        self.first_line = []
        for f in range(FUNCTIONS):
            h = h32("f", f)
            pick = h % 10
            files = USER_FILES if pick < 5 else STDLIB_FILES if pick < 8 else LIB_FILES
            path = files[(h >> 4) % len(files)]
            cls = NOUNS[(h >> 9) % len(NOUNS)].capitalize()
            func = "%s_%s" % (VERBS[(h >> 13) % len(VERBS)], NOUNS[(h >> 18) % len(NOUNS)])
            self.name.append("%s.%s%d (%s:" % (cls, func, f, path))
            self.first_line.append(1 + (h >> 22) % 2000)
        self.callees = [[h32("c", f, i) % FUNCTIONS for i in range(1 + f % 6)] for f in range(FUNCTIONS)]

    def label(self, f, offset):
        return "%s%d)" % (self.name[f], self.first_line[f] + offset)


def generate(path, lines, seed=1):
    rng = random.Random(seed)
    prog = Program()
    with open(path, "w") as out:
        for _ in range(lines):
            # every stack starts in the same server loop, then one of a
            # few hundred request handlers, then a random walk of calls
            frames = list(PREFIX)
            f = 1 + min(int(rng.paretovariate(0.7)), FUNCTIONS - 2)
            frames.append(None)
            for _ in range(rng.randint(3, 30)):
                callees = prog.callees[f]
                i = min(int(rng.paretovariate(1.0)) - 1, len(callees) - 1)
                frames[-1] = prog.label(f, i * 3)  # a caller shows the line of its call
                f = callees[i]
                frames.append(None)
            frames[-1] = prog.label(f, rng.randint(0, 40))  # the leaf: any line of it
            out.write(";".join(frames))
            out.write(" %d\n" % rng.randint(1, 50))


def run(cmd, stdin_path=None, stdout_path=os.devnull, shell=False):
    """Runs cmd; returns (wall s, CPU s = user + sys, peak RSS MiB) of the
    command and its children. CPU time is the number to compare on a busy
    machine; wall time includes waiting for a core."""
    with open(stdin_path or os.devnull, "rb") as fin, open(stdout_path, "wb") as fout:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=fin, stdout=fout, shell=shell)
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("benchmark command failed (exit %d): %s" % (code, cmd))
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--keep", help="keep the input and outputs in this directory")
    ap.add_argument("--pyperf", default=os.path.join(ROOT, "build", "pyperf"))
    args = ap.parse_args()
    if not os.access(args.pyperf, os.X_OK):
        sys.exit("no %s: run 'make' first" % args.pyperf)

    work = args.keep or tempfile.mkdtemp(prefix="pyperf-fg-bench-")
    os.makedirs(work, exist_ok=True)
    try:
        folded = os.path.join(work, "in.folded")
        if args.keep and os.path.exists(folded):  # --keep DIR reuses its input
            how = "reused from %s" % folded
        else:
            t0 = time.monotonic()
            generate(folded, args.lines)
            how = "generated in %.0f s" % (time.monotonic() - t0)
        size = os.path.getsize(folded)
        sorted_folded = os.path.join(work, "sorted.folded")
        subprocess.run("LC_ALL=C sort -o %s %s" % (sorted_folded, folded), shell=True, check=True)
        distinct = int(subprocess.run("LC_ALL=C awk '{sub(/ [0-9]+$/, \"\")} 1' %s | uniq | wc -l"
                                      % sorted_folded, shell=True, check=True, capture_output=True,
                                      text=True).stdout)
        lines = int(subprocess.run(["wc", "-l", folded], check=True, capture_output=True,
                                   text=True).stdout.split()[0])
        print("input: %d lines, %d distinct stacks, %.0f MiB (%s)" % (lines, distinct, size / 2**20, how))

        svg = os.path.join(work, "out.svg")
        rows = []

        def measure(name, cmd, out=None, **kw):
            subprocess.run(["sync"])  # no writeback of earlier files inside a timing
            wall, cpu, rss = run(cmd, stdout_path=out or os.devnull, **kw)
            rows.append((name, wall, cpu, rss, os.path.getsize(out) if out else None))
            return cpu

        pyperf_cpu = measure("pyperf flamegraph (unsorted input)",
                             [args.pyperf, "flamegraph", folded], out=svg)
        measure("pyperf flamegraph (sorted input)", [args.pyperf, "flamegraph", sorted_folded], out=svg)
        measure("pyperf flamegraph --minwidth 1", [args.pyperf, "flamegraph", "--minwidth", "1", folded],
                out=svg)
        awk_cpu = measure("baseline A: sort | awk (aggregation only)",
                          "LC_ALL=C sort %s | awk '{n=$NF; sub(/ [0-9]+$/, \"\"); if ($0 != k) "
                          "{ if (NR > 1) print k, c; k = $0; c = 0 } c += n } END { print k, c }'"
                          % folded, shell=True)
        python_cpu = measure("baseline B: simple Python trie + SVG",
                             [sys.executable, os.path.join(ROOT, "bench", "flamegraph_baseline.py")],
                             out=os.path.join(work, "baseline.svg"), stdin_path=folded)

        print("%-42s %8s %8s %10s %10s" % ("command", "wall s", "CPU s", "peak RSS", "SVG"))
        for name, wall, cpu, rss, out_size in rows:
            print("%-42s %8.2f %8.2f %6.0f MiB %10s" % (
                name, wall, cpu, rss, "%.1f MiB" % (out_size / 2**20) if out_size else "-"))
        print("CPU time ratio (unsorted input): baseline A / pyperf = %.1fx, baseline B / pyperf = %.1fx"
              % (awk_cpu / pyperf_cpu, python_cpu / pyperf_cpu))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
