# One function whose first loop line does 80% of the work and the second
# 20% (the same statement, 8000 vs 2000 iterations a round), called from
# main for the given seconds (default: forever). For pyperf annotate.
import sys
import time


def work(rounds):
    x = 0
    for _ in range(rounds):
        for i in range(8000): x += i  # L:hot80
        for i in range(2000): x += i  # L:hot20
    return x


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1e9
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        work(20)  # L:call


main()
