# Two threads: churn() makes cyclic garbage and collects it (the collector
# runs a large part of its time, automatic and explicit collections), spin()
# does arithmetic that allocates no tracked object (never collects). The main
# thread waits. Prints "ready" once both run.
# Lines marked "# L:name" are looked up by the tests; keep the markers.
#
#   gc_heavy.py            run forever
#   gc_heavy.py --measure  print the share of churn()'s CPU time spent in
#                          collections (timed with gc.callbacks) and exit
import gc
import sys
import threading
import time


class Node:
    __slots__ = ("peer", "payload")


def make_cycles(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.peer, b.peer = b, a
        a.payload = [a, b, {}]  # L:churn-alloc
        b.payload = (a,)


def churn(rounds=None):
    done = 0
    while rounds is None or done < rounds:
        make_cycles(2000)  # L:churn-make
        gc.collect(0)  # L:churn-collect
        done += 1


def spin():
    x = 0
    while True:
        x = (x * 7 + 3) % 1000003  # L:spin-body


def measure(seconds=3.0):
    """As in the profiled run: churn() in a thread, spin() beside it."""
    threading.Thread(target=spin, daemon=True).start()
    in_gc = [0.0]
    started = [None]

    def callback(phase, info):
        now = time.thread_time()
        if phase == "start":
            started[0] = now
        elif started[0] is not None:
            in_gc[0] += now - started[0]
            started[0] = None

    def timed():
        gc.callbacks.append(callback)
        t0 = time.thread_time()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            churn(10)
        total[0] = time.thread_time() - t0
        gc.callbacks.remove(callback)

    total = [0.0]
    t = threading.Thread(target=timed)
    t.start()
    t.join()
    total = total[0]
    print("gc share %.3f of %.2f s (thresholds %s)" % (in_gc[0] / total, total, gc.get_threshold()))


def main():
    if "--measure" in sys.argv:
        measure()
        return
    churn(5)
    threads = [threading.Thread(target=f, name=f.__name__, daemon=True) for f in (churn, spin)]
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
