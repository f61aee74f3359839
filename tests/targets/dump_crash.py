# Crashes with SIGSEGV (reading address 0 through ctypes) while a second
# thread waits on an Event, leaving a core file for 'pyperf dump --core'.
import ctypes
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_common  # noqa: E402

never = threading.Event()
started = threading.Event()
waiter_tid = []


def waiter():
    dump_common.set_os_thread_name("waiter")
    waiter_tid.append(dump_common.native_id())
    started.set()
    never.wait()  # L:wait


def crash():
    ctypes.string_at(0)  # L:crash


def main():
    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    started.wait()
    # The waiter is provably blocked inside Event.wait before the crash.
    line = dump_common.marker_line("wait")
    dump_common.wait_blocked([(waiter_tid[0], dump_common.inside(t.ident, "waiter", line, "wait"))])
    print("crashing", waiter_tid[0], flush=True)
    crash()  # L:call-crash


main()  # L:call-main
