"""Busy multi-threaded target: N threads (argv[1], default 4) on the CPU
all the time, walking many different stacks.

Each thread repeatedly descends a chain of calls picked from a fixed set of
PATHS paths (argv[2], default 256; depth 4 to 40, through 8 different
functions, spinning a short while at one of three lines in the leaf). With
the default a profile sees thousands of distinct stacks, as a real server
would, rather than one stack over and over; with PATHS=1 each thread has a
handful of stacks, all known after the first second.
Prints "ready" once every thread runs; runs until killed.
"""
import random
import sys
import threading

NTHREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 4
PATHS = int(sys.argv[2]) if len(sys.argv) > 2 else 256  # call paths per thread


def leaf(k):
    x = 0
    if k % 3 == 0:
        for i in range(200):
            x += i
    elif k % 3 == 1:
        for i in range(200):
            x ^= i
    else:
        for i in range(200):
            x -= i
    return x


def f0(path, i): return step(path, i)
def f1(path, i): return step(path, i)
def f2(path, i): return step(path, i)
def f3(path, i): return step(path, i)
def f4(path, i): return step(path, i)
def f5(path, i): return step(path, i)
def f6(path, i): return step(path, i)
def f7(path, i): return step(path, i)


FUNCS = (f0, f1, f2, f3, f4, f5, f6, f7)


def step(path, i):
    if i == len(path):
        return leaf(i)
    return FUNCS[path[i]](path, i + 1)


def worker(seed):
    rng = random.Random(seed)
    paths = [[rng.randrange(8) for _ in range(rng.randrange(4, 41))] for _ in range(PATHS)]
    while True:
        for p in paths:
            step(p, 0)


threads = [threading.Thread(target=worker, args=(t,), name="busy-%d" % t, daemon=True)
           for t in range(NTHREADS)]
for t in threads:
    t.start()
print("ready", flush=True)
for t in threads:
    t.join()
