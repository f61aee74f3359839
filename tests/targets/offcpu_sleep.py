# Wall-clock target: the main thread sleeps at one line for good. A helper
# thread prints "ready" once the main thread provably sleeps there, and ends.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_common  # noqa: E402

main_tid = dump_common.native_id()
main_ident = threading.get_ident()


def announce():
    line = dump_common.marker_line("sleep")
    dump_common.wait_blocked([(main_tid, dump_common.at(main_ident, "snooze", line))])
    print("ready", flush=True)


def snooze():
    time.sleep(100000)  # L:sleep


threading.Thread(target=announce, daemon=True).start()
snooze()  # L:call
