# Python -> C -> Python -> C -> Python: outer() calls cbmod.call(middle),
# middle() calls cbmod.call(inner), inner() spins. argv[1]: the directory
# holding the built cbmod extension. Prints "ready" once the nest has run.
# Lines marked "# L:name" are looked up by the tests; keep the markers.
import sys

sys.path.insert(0, sys.argv[1])
import cbmod  # noqa: E402


def inner(n):
    total = 0
    for i in range(n):
        total += i * i  # L:inner-body
    return total


def middle(n):
    return cbmod.call(inner, n)  # L:middle-call


def outer(n):
    return cbmod.call(middle, n)  # L:outer-call


assert outer(10) == sum(i * i for i in range(10))
print("ready", flush=True)
while True:
    outer(20000)  # L:call-outer
