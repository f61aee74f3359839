# The main thread sleeps in time.sleep, two calls deep.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_common  # noqa: E402


def sleep_forever():
    time.sleep(3600)  # L:sleep


def main():
    sleep_forever()  # L:call-sleep


def announce(main_ident, main_tid):
    # Runs in a helper thread: says "ready" once the main thread provably
    # sleeps at the marked line, then ends.
    line = dump_common.marker_line("sleep")
    dump_common.wait_blocked([(main_tid, dump_common.at(main_ident, "sleep_forever", line))])
    print("ready", flush=True)


threading.Thread(target=announce, args=(threading.get_ident(), dump_common.native_id())).start()
main()  # L:call-main
