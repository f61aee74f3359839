#!/usr/bin/env python3
"""Runs the libFuzzer targets built by `make fuzz-build` (build/fuzz/fuzz_*).

Usage: tests/fuzz/run.py [--time SECONDS] [--corpus DIR] [--seed N] [TARGET...]

Each target (pyline, pystr, folded, elfsym, layouts, core, cfi, unwtab,
pprof; all by default) runs for --time seconds on DIR/TARGET (default build/fuzz/corpus/TARGET, kept between
runs: new inputs are added to it) plus the seeds of tests/fuzz/seeds.py,
then every input in tests/fuzz/regressions/TARGET/ is run once. A crash
leaves its input in build/fuzz/artifacts/ and the script exits 1. The last
line per target gives its runs, executions per second and coverage.
tests/e2e/test_fuzz.py runs the same functions briefly on every make test.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ_BUILD = os.path.join(ROOT, "build", "fuzz")
REGRESSIONS = os.path.join(ROOT, "tests", "fuzz", "regressions")
TARGETS = ("pyline", "pystr", "folded", "elfsym", "layouts", "core", "cfi", "unwtab", "pprof")


def binary(target):
    return os.path.join(FUZZ_BUILD, "fuzz_" + target)


def missing():
    """Why the fuzz targets cannot run here, or None."""
    absent = [t for t in TARGETS if not os.access(binary(t), os.X_OK)]
    if not absent:
        return None
    probe = os.path.join(FUZZ_BUILD, ".probe")
    if os.path.exists(probe + ".failed"):
        return ("clang cannot link -fsanitize=fuzzer here (libFuzzer runtime missing: "
                "install libclang-rt-14-dev), so make fuzz-build built no fuzz target")
    return "fuzz targets not built (%s): run make fuzz-build" % ", ".join(absent)


_seeded = {}


def seeds_dir():
    """Seed corpora, generated once per process into build/fuzz/seeds."""
    if "dir" not in _seeded:
        d = os.path.join(FUZZ_BUILD, "seeds")
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fuzz", "seeds.py"), d],
                       check=True, timeout=300)
        _seeded["dir"] = d
    return _seeded["dir"]


def parse_stats(text):
    """runs, exec/s, coverage and corpus size from libFuzzer's output."""
    st = {}
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    if m:
        st["runs"] = int(m.group(1))
    m = re.search(r"stat::average_exec_per_sec:\s*(\d+)", text)
    if m:
        st["exec_per_sec"] = int(m.group(1))
    done = re.findall(r"#\d+\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/", text)
    if done:
        st["cov"], st["ft"], st["corpus"] = (int(x) for x in done[-1])
    return st


def crash_report(target, text):
    lines = text.splitlines()
    keep = [l for l in lines if re.search(r"ERROR|SUMMARY|fuzz_\w+:|#\d+ 0x|Test unit written|"
                                          r"runtime error|==\d+==", l)]
    return "fuzz_%s crashed:\n%s" % (target, "\n".join(keep[-60:]) or "\n".join(lines[-60:]))


def fuzz(target, seconds, corpus=None, seed=None, timeout_per_input=10):
    """Fuzzes one target; returns its stats dict, raises AssertionError on a
    crash (the message holds the stack trace and the saved input's path).
    corpus None: a fresh temporary corpus (the seeds only)."""
    artifacts = os.path.join(FUZZ_BUILD, "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    tmp = None
    if corpus is None:
        tmp = tempfile.mkdtemp(prefix="pyperf-fuzz-%s-" % target)
        corpus = tmp
    os.makedirs(corpus, exist_ok=True)
    seeds = os.path.join(seeds_dir(), target)
    os.makedirs(seeds, exist_ok=True)
    argv = [binary(target), "-max_total_time=%d" % seconds, "-timeout=%d" % timeout_per_input,
            "-print_final_stats=1", "-artifact_prefix=%s/%s-" % (artifacts, target), corpus, seeds]
    if seed is not None:
        argv.insert(1, "-seed=%d" % seed)
    try:
        p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, errors="replace",
                           timeout=seconds + 300)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    st = parse_stats(p.stderr)
    if p.returncode != 0:
        raise AssertionError(crash_report(target, p.stderr) +
                             "\nminimize with: %s -minimize_crash=1 -runs=10000 ARTIFACT, then add it "
                             "to tests/fuzz/regressions/%s/" % (binary(target), target))
    return st


def regressions(target):
    """Runs every file in tests/fuzz/regressions/TARGET/ once; returns how many."""
    files = sorted(f for f in glob.glob(os.path.join(REGRESSIONS, target, "*")) if os.path.isfile(f))
    if not files:
        return 0
    p = subprocess.run([binary(target), "-timeout=10"] + files, cwd=ROOT, capture_output=True,
                       text=True, errors="replace", timeout=600)
    if p.returncode != 0:
        raise AssertionError("a regression input fails again:\n" + crash_report(target, p.stderr))
    return len(files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time", type=int, default=60, help="seconds per target (60)")
    ap.add_argument("--corpus", default=os.path.join(FUZZ_BUILD, "corpus"),
                    help="corpus root, one directory per target (build/fuzz/corpus)")
    ap.add_argument("--seed", type=int, default=None, help="libFuzzer -seed (random by default)")
    ap.add_argument("targets", nargs="*", default=list(TARGETS))
    args = ap.parse_args()
    why = missing()
    if why:
        print("fuzz: " + why, file=sys.stderr)
        return 1
    failed = []
    for t in args.targets:
        if t not in TARGETS:
            ap.error("unknown target %s (one of %s)" % (t, ", ".join(TARGETS)))
        try:
            st = fuzz(t, args.time, os.path.join(args.corpus, t), args.seed)
            n = regressions(t)
            print("fuzz_%-8s %8s runs %7s exec/s  cov %5s  corpus %5s  %d regression inputs pass"
                  % (t, st.get("runs", "?"), st.get("exec_per_sec", "?"), st.get("cov", "?"),
                     st.get("corpus", "?"), n), flush=True)
        except AssertionError as e:
            failed.append(t)
            print("FAIL %s\n%s" % (t, e), flush=True)
    if failed:
        print("fuzz: crashes in " + " ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
