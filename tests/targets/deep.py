# Recurses to the depth given on the command line, then spins in the leaf.
import sys

DEPTH = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
sys.setrecursionlimit(DEPTH + 1000)


def leaf():
    x = 0
    print("ready", flush=True)
    while True:
        x += 1  # L:leaf


def recurse(n):
    if n <= 1:
        leaf()
    else:
        recurse(n - 1)  # L:recurse


recurse(DEPTH)
