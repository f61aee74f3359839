# Code objects whose names and file name are hostile to every output format.
# Each hostile function spins for a slice of time in turn, forever.
import sys
import time

NAMES = [
    "semi;colon",
    "new\nline",
    "<script>alert(1)</script>",
    "quo\"te's",
    "na\u00efve_\u6f22\u5b57_\U0001F600",
    "back\\slash",
    "trailing 123",
    "amp&lt;&amp;",
    "L" * 3000,
]
FILENAME = "/tmp/evil;dir/<b>\"x\"\n.py"


def spin():
    end = time.monotonic() + 0.01
    while time.monotonic() < end:
        pass


def make(name):
    code = spin.__code__
    kw = {"co_name": name, "co_filename": FILENAME}
    if sys.version_info >= (3, 11):
        kw["co_qualname"] = name
    return type(spin)(code.replace(**kw), globals(), name)


funcs = [make(n) for n in NAMES]
print("ready", flush=True)
while True:
    for f in funcs:
        f()
