# The main thread sleeps inside a key function that the C function sorted()
# calls: Python -> C -> Python, for dump --native's merge of the two stacks.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_common  # noqa: E402


def leaf():
    time.sleep(3600)  # L:sleep


def key(x):
    leaf()  # L:call-leaf
    return x


def outer():
    return sorted([2, 1], key=key)  # L:call-sorted


def main():
    outer()  # L:call-outer


def announce(main_ident, main_tid):
    # Runs in a helper thread: says "ready" once the main thread provably
    # sleeps at the marked line, then ends.
    line = dump_common.marker_line("sleep")
    dump_common.wait_blocked([(main_tid, dump_common.at(main_ident, "leaf", line))])
    print("ready", flush=True)


threading.Thread(target=announce, args=(threading.get_ident(), dump_common.native_id())).start()
main()  # L:call-main
