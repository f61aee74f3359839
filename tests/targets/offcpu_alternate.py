# One thread alternating 50 ms of computing with 50 ms of sleeping: wall
# mode should split its time 50/50, cpu mode show only the computing, offcpu
# only the sleeping. The main thread waits in join.
import threading
import time


def compute(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:  # L:compute
        n += 1
    return n


def worker():
    while True:
        compute(0.05)  # L:call-compute
        time.sleep(0.05)  # L:sleep


t = threading.Thread(target=worker, daemon=True)
t.start()
print("ready", flush=True)
t.join()
