# Spins in a function whose name is given on the command line, for the given
# seconds (default: forever). Lets a test tell processes apart by function.
import sys
import time

NAME = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 1e9


def spin():
    end = time.monotonic() + SECONDS
    x = 0
    while time.monotonic() < end:
        x += 1


code = spin.__code__.replace(co_name=NAME)
if sys.version_info >= (3, 11):
    code = code.replace(co_qualname=NAME)
f = type(spin)(code, globals(), NAME)
print("ready", flush=True)
f()
