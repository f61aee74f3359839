# Spends its time in system calls: reads of /dev/zero (the kernel clears
# the buffer) and os.stat of this file, in turn, forever, from one thread.
# Lines marked "# L:name" are looked up by the tests; keep the markers.
import os
import sys

BUF = 1 << 16


def phase_read(fd, n):
    for _ in range(n):
        os.read(fd, BUF)  # L:read-call


def phase_stat(n):
    for _ in range(n):
        os.stat(__file__)  # L:stat-call


def main():
    fd = os.open("/dev/zero", os.O_RDONLY)
    phase_read(fd, 100)
    phase_stat(100)
    print("ready", flush=True)
    while True:
        phase_read(fd, 2000)
        phase_stat(2000)


if __name__ == "__main__":
    sys.exit(main())
