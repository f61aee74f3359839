# Threads named by Python (OS names left as they are), a thread started
# from _thread that only has a _DummyThread, and objects of known values
# for the object reader. Prints "ready TID..." then "objects ADDR ADDR",
# then crashes (SIGSEGV, for a core file) when told "crash" on stdin.
import _thread
import ctypes
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_common  # noqa: E402

NAMES = ["request-worker", "db-pool-1"]
never = threading.Event()
tids = {}
started = threading.Semaphore(0)


def worker():
    tids[threading.current_thread().name] = dump_common.native_id()
    started.release()
    never.wait()  # L:wait


def c_thread():
    dump_common.set_os_thread_name("c-thread")
    threading.current_thread()  # registers a _DummyThread
    tids["c-thread"] = dump_common.native_id()
    started.release()
    never.wait()


threads = [threading.Thread(target=worker, name=n, daemon=True) for n in NAMES]
for t in threads:
    t.start()
_thread.start_new_thread(c_thread, ())
for _ in range(len(NAMES) + 1):
    started.acquire()
line = dump_common.marker_line("wait")
dump_common.wait_blocked([(tids[t.name], dump_common.inside(t.ident, "worker", line, "wait")) for t in threads])


class Plain:
    def __init__(self):
        self.label = "plain"
        self.count = 42


class Slotted:
    __slots__ = ("x",)


plain = Plain()
many = Plain()
for i in range(40):  # more attributes than a shared-key table holds inline
    setattr(many, "a%d" % i, i)
values = {
    "none": None, "true": True, "false": False, "small": 7, "neg": -123456789,
    "big": 2 ** 100, "bigneg": -(10 ** 40) - 1, "float": 3.25, "str": "caf\u00e9 \u2603 \U0001f600",
    "ascii": "hello", "bytes": b"\x00\xffab", "list": [1, "two", None], "tuple": (1.5, b"x"),
    "dict": {1: "one", "k": [2]}, "set": {7}, "frozenset": frozenset({"f"}), "slotted": Slotted(),
}
del values["dict"][1]  # a deleted entry in the walk
values["dict"][3] = "three"


def render(v):
    """What tests/helpers/pyobj_read.c prints for v (its JSON form)."""
    if v is None or isinstance(v, (bool, float, str)):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, list):
        return [render(x) for x in v]
    if isinstance(v, tuple):
        return {"tuple": [render(x) for x in v]}
    if isinstance(v, dict):
        return {"dict": [[render(k), render(x)] for k, x in v.items()]}
    if isinstance(v, (set, frozenset)):
        return {"set": [render(x) for x in v]}
    return {"type": type(v).__name__}


print("ready", " ".join(str(tids[n]) for n in NAMES + ["c-thread"]), flush=True)
print("objects", hex(id(values)), hex(id(plain)), hex(id(many)), hex(id(sys.modules["threading"])), flush=True)
print("expect", json.dumps(render(values)), flush=True)
if sys.stdin.readline().strip() == "crash":
    ctypes.string_at(0)
