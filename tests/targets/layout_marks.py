# For tests/e2e/test_layout_marks.py: stops twice, each time printing one JSON
# line (the stack, innermost first, as [name, id(code)]) and waiting for a
# line on stdin: first inside a key function sorted() calls (Python -> C ->
# Python, no collection running), then inside a gc callback (a collection
# running).
import gc
import json
import sys
import threading


def report(phase):
    frames = []
    f = sys._getframe(0)
    while f is not None:
        frames.append([f.f_code.co_name, id(f.f_code)])
        f = f.f_back
    print(json.dumps({"phase": phase, "ident": threading.get_ident(), "frames": frames}), flush=True)
    if not sys.stdin.readline():
        raise SystemExit("stdin closed")


def key(x):
    if x == 1:
        report("sorted")
    return x


def outer():
    return sorted([2, 1], key=key)


stopped = []


def callback(phase, info):
    if phase == "start" and not stopped:
        stopped.append(1)
        report("gc")


def collect():
    gc.collect()


gc.disable()  # only the collection below, no automatic one in between
outer()
gc.callbacks.append(callback)
collect()
gc.callbacks.remove(callback)
report("after")
