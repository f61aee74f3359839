# The main thread sleeps inside a closure called from a function with known
# arguments and locals, for 'pyperf dump --locals'. Prints "ready PID" once it
# provably sleeps at the marked line; the test knows every value below.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_common  # noqa: E402


class Custom:
    pass


def target(count, ratio, *rest, flag=True, **opts):
    big = 3 ** 200  # 96 digits
    neg = -12345678901234567890
    text = "tab\there\nbell\x07 quote' caf\u00e9 \u4e2d\U0001f600 del\x7f"
    long_text = "ab" * 2500
    data = b"\x00\x01bin\xff'\"\\"
    items = [1, "two", 3.5, None, [4, [5, 6]], True, 7]
    table = {"a": 1, "b": [2, 3], 4: None}
    members = {42}
    obj = Custom()
    nothing = None
    captured = "in a cell"

    def parked(depth):
        seen = captured if count else None  # free variables here, cells in target
        time.sleep(3600)  # L:sleep
        return seen, depth

    parked(1)  # L:call-parked
    unset = 1
    return unset


def announce(main_ident, main_tid):
    line = dump_common.marker_line("sleep")
    dump_common.wait_blocked([(main_tid, dump_common.at(main_ident, "parked", line))])
    print("ready", os.getpid(), flush=True)


threading.Thread(target=announce, args=(threading.get_ident(), dump_common.native_id())).start()
target(3, 0.1, "extra", 2.5e-07, flag=False, mode="fast")  # L:call-target
