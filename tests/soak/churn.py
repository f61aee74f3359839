"""Soak target: starts and ends threads without pause, each doing a little
CPU work at one of a few stack depths, so a recording sees a steady stream
of short-lived threads (new thread states, new TIDs) over a bounded set of
stacks. Writes how many threads it has run to the file named by argv[1]
about once a second; prints "ready" once the first batch ran."""
import os
import sys
import threading
import time

STATUS = sys.argv[1] if len(sys.argv) > 1 else None
BATCH = 4  # threads alive at once


def spin(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


def level(depth, n):
    if depth == 0:
        return spin(n)
    return level(depth - 1, n)


def worker(k):
    level(k % 4, 3000 + 500 * (k % 7))


def write_status(n):
    tmp = STATUS + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % n)
    os.replace(tmp, STATUS)


def main():
    started = 0
    last = 0.0
    while True:
        threads = [threading.Thread(target=worker, args=(started + j,), name="churn-%d" % (started + j))
                   for j in range(BATCH)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        started += BATCH
        if started == BATCH:
            print("ready", flush=True)
        now = time.monotonic()
        if STATUS and now - last >= 1.0:
            write_status(started)
            last = now


if __name__ == "__main__":
    main()
