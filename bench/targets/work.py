"""Slowdown target: a fixed amount of CPU-bound Python work per command.

Prints "ready", then for every line "run N" on stdin runs N units of work and
prints the CPU time they took (time.process_time(), seconds, this process
only); "stream SECONDS PATH" runs units for SECONDS of wall time, then
writes one line per unit to PATH, "MONO THREAD": time.monotonic() and
time.thread_time() as it ended, and prints "done" (bench/run.py's paused
benchmark times windows of it). One process serves every run of a benchmark, so unprofiled and
profiled runs share the same interpreter, memory layout and warm caches;
only whether pyperf is attached changes between them.

The work mixes what Python programs spend time on: calls (a recursive fib,
stacks ~25 frames deep), dict and list operations, and string formatting.
"""
import sys
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def words(n):
    counts = {}
    for i in range(n):
        w = "w%d" % (i % 97)
        counts[w] = counts.get(w, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]


def matrix(n):
    a = [[(i * j) % 7 for j in range(n)] for i in range(n)]
    return sum(sum(row[k] * a[k][0] for k in range(n)) for row in a)


def unit():
    """One unit: a few ms of CPU; bench/run.py calibrates how many to run."""
    return fib(18) + len(words(3000)) + matrix(24)


def stream(seconds, path):
    ends = []
    stop = time.monotonic() + seconds
    while True:
        unit()
        t = time.monotonic()
        ends.append((t, time.thread_time()))
        if t >= stop:
            break
    with open(path, "w") as f:
        f.writelines("%.9f %.9f\n" % e for e in ends)


def main():
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "run":
            n = int(cmd[1])
            t0 = time.process_time()
            for _ in range(n):
                unit()
            print("%.9f" % (time.process_time() - t0), flush=True)
        elif cmd[0] == "stream":
            stream(float(cmd[1]), cmd[2])
            print("done", flush=True)
        elif cmd[0] == "quit":
            break


if __name__ == "__main__":
    main()
