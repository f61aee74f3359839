"""Fuzz targets (tests/fuzz/fuzz_*.c), briefly: each runs FUZZ_TEST_TIME
seconds (default 4) from its seed corpus with a fixed libFuzzer seed
(FUZZ_SEED, default 1), then every input that once crashed it
(tests/fuzz/regressions/TARGET/) runs once. Longer runs: make fuzz.
Skips when clang could not link libFuzzer (make fuzz-build says so), and
a target's regressions when it has none."""
import importlib.util
import os

import harness

_spec = importlib.util.spec_from_file_location(
    "fuzz_run", os.path.join(harness.ROOT, "tests", "fuzz", "run.py"))
fuzz_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz_run)

SECONDS = int(os.environ.get("FUZZ_TEST_TIME", "4"))
SEED = int(os.environ.get("FUZZ_SEED", "1"))


def _need_targets():
    why = fuzz_run.missing()
    if why:
        raise harness.Skip(why)


@harness.params(fuzz_run.TARGETS)
def test_fuzz(target):
    _need_targets()
    st = fuzz_run.fuzz(target, SECONDS, corpus=None, seed=SEED)
    # A target that stopped early or never ran is broken even without a crash.
    assert st.get("runs", 0) >= 100, "fuzz_%s ran only %s inputs: %s" % (target, st.get("runs"), st)


@harness.params(fuzz_run.TARGETS)
def test_fuzz_regressions(target):
    _need_targets()
    # A target with nothing to replay ran nothing: say so, do not pass.
    if fuzz_run.regressions(target) == 0:
        raise harness.Skip("no regression inputs for %s" % target)
