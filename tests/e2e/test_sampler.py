"""Where sampling costs: timers on the target's threads only (-p, launch
mode), not on every CPU."""
import os
import re
import sys

import harness

BUSY = [sys.executable, "-c", "print('ready', flush=True)\nwhile True: pass"]
# Three threads started after pyperf attached, spinning for a second.
LATE_THREADS = """
import threading, time
def spin_late():
    end = time.monotonic() + 1
    while time.monotonic() < end:
        pass
ts = [threading.Thread(target=spin_late) for _ in range(3)]
for t in ts: t.start()
for t in ts: t.join()
"""


def runs(err):
    """(sampler runs, runs in sampled processes) from record -v's summary."""
    m = re.search(r"the timer sampler ran (\d+) times, (\d+) of them in sampled processes", err)
    assert m, "no run counts in:\n" + err[-2000:]
    return int(m.group(1)), int(m.group(2))


def test_bystander_takes_no_interrupt():
    """A CPU-bound bystander while pyperf -p samples a sleeping process at
    9,999 Hz: the sampler's program runs only for the target's threads (a
    timer per CPU ran it in the bystander ~10,000 times a second). Then
    launch mode: a thread the target creates later is sampled (inherited),
    still nothing elsewhere."""
    argv = harness.need_interpreter("3.12")
    sleeper = harness.start(argv + [os.path.join(harness.TARGETS, "dump_sleep.py")], ready_marker="ready")
    busy = harness.start(BUSY, ready_marker="ready")
    p = harness.run_pyperf(["record", "-v", "-p", str(sleeper.pid), "-F", "9999", "-d", "1", "-f", "folded",
                            "-o", os.devnull])
    total, mine = runs(p.stderr)
    assert total == mine and total < 200, "sampler ran %d times, %d in the target:\n%s" % (
        total, mine, p.stderr[-2000:])
    harness.stop(sleeper)
    p = harness.run_pyperf(["record", "-v", "-F", "999", "--threads", "-f", "folded", "-o", "-", "--"] + argv +
                           ["-c", LATE_THREADS])
    harness.stop(busy)
    total, mine = runs(p.stderr)
    stacks = harness.parse_folded(p.stdout)
    threads = {fr[1] for fr, _ in stacks if any(f.startswith("spin_late ") for f in fr)}
    assert len(threads) == 3, "threads sampled: %s\n%s" % (threads, p.stderr[-2000:])
    # outside a sampled process: only the command's start, before its interpreter is found
    assert total - mine < 100, "%d of %d runs outside the target\n%s" % (total - mine, total, p.stderr[-2000:])
