"""Spins in before_exec, re-executes itself (same PID, new image), then
spins in after_exec: a profiler attached by PID must follow the exec."""
import os
import sys
import time


def spin(seconds):
    t = time.process_time()
    while time.process_time() - t < seconds:
        pass


def before_exec():
    spin(float(sys.argv[1]))


def after_exec():
    spin(float(sys.argv[1]))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print("ready", flush=True)
        before_exec()
        os.execv(sys.executable, [sys.executable, __file__, sys.argv[1], "again"])
    after_exec()
