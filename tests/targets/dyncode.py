"""Compiles, runs and drops a fresh function dyn_<i> six times, each named
differently, each spinning ~0.3 s of CPU. The code objects are alike in
size, so a freed one's address is usually reused by the next: a profiler
that knows code objects by address must not lend dyn_1 the name dyn_0.
Prints each function's code object address (id) on stdout."""
import gc
import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3

SRC = """
def dyn_%d(seconds):
    t = process_time()
    while process_time() - t < seconds:
        pass
"""

print("ready", flush=True)
time.sleep(0.5)  # the profiler attaches
for i in range(6):
    ns = {"process_time": time.process_time}
    exec(SRC % i, ns)
    f = ns["dyn_%d" % i]
    f(SECONDS)
    print("code dyn_%d 0x%x" % (i, id(f.__code__)), flush=True)
    del f, ns
    gc.collect()
