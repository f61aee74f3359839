#!/usr/bin/env python3
"""pyperf test runner: C unit test binaries, then end-to-end tests.

Unit tests: every executable build/tests/test_* (each prints its own
checks and exits non-zero on failure).
End-to-end: every function test_* in tests/e2e/test_*.py. A test skips by
raising harness.Skip("why"), fails by raising anything else.

Usage: tests/run.py [-k SUBSTRING] [-v]
The last line is the summary: "N passed, N failed, N skipped".
"""
import argparse
import glob
import importlib.util
import os
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import harness  # noqa: E402


def unit_tests():
    for path in sorted(glob.glob(os.path.join(ROOT, "build", "tests", "test_*"))):
        if os.access(path, os.X_OK) and not path.endswith((".o", ".d")):
            name = "unit/" + os.path.basename(path)

            def run(path=path):
                p = subprocess.run([path], cwd=ROOT, capture_output=True, text=True, timeout=300)
                if p.returncode != 0:
                    raise AssertionError("exit %d\n%s%s" % (p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
            yield name, run


def e2e_tests():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "e2e", "test_*.py"))):
        modname = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            err = traceback.format_exc()

            def broken(err=err):
                raise AssertionError("import failed\n" + err)
            yield modname + "/<import>", broken
            continue
        for attr in sorted(vars(mod)):
            fn = getattr(mod, attr)
            if attr.startswith("test_") and callable(fn):
                params = getattr(fn, "params", None)
                if params is None:
                    yield "%s/%s" % (modname, attr), fn
                else:
                    for p in params:
                        yield "%s/%s[%s]" % (modname, attr, p), (lambda fn=fn, p=p: fn(p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", default=[], help="run tests whose name contains this")
    ap.add_argument("-v", action="store_true", help="print output of passing tests too")
    args = ap.parse_args()
    passed = failed = skipped = 0
    failures = []
    for name, fn in list(unit_tests()) + list(e2e_tests()):
        if args.k and not any(k in name for k in args.k):
            continue
        t0 = time.monotonic()
        try:
            try:
                fn()
            finally:
                harness.cleanup()
        except harness.Skip as s:
            skipped += 1
            print("SKIP %s: %s" % (name, s), flush=True)
            continue
        except Exception as e:  # noqa: BLE001 - any error is a failure
            failed += 1
            detail = str(e) if isinstance(e, AssertionError) and str(e) else traceback.format_exc()
            failures.append(name)
            print("FAIL %s (%.1fs)\n    %s" % (name, time.monotonic() - t0,
                                            detail.strip().replace("\n", "\n    ")), flush=True)
            continue
        passed += 1
        print("PASS %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
    harness.cleanup()
    if failures:
        print("\nfailed: " + " ".join(failures))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
