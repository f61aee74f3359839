# Named threads, each blocked in one kind of wait, for 'pyperf dump' to
# describe: queue.get, Event.wait, Lock.acquire, RLock.acquire (an RLock a
# named thread owns), time.sleep, Thread.join, socket recv, select; two
# threads deadlocked on two RLocks. Prints one line:
#   ready KEY=VALUE ...  (role=TID for each thread, plus lock ids and ports)
# then, on a line "spin" on stdin, starts four threads contending for the
# GIL and prints "spinning TID TID TID TID".
import os
import queue
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_common  # noqa: E402

q = queue.Queue()
never = threading.Event()
lock = threading.Lock()
lock.acquire()
rlock = threading.RLock()
rlock_held = threading.Event()
dl_a, dl_b = threading.RLock(), threading.RLock()
dl_barrier = threading.Barrier(2)
tids = {}
info = {}

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
cli = socket.create_connection(srv.getsockname())
conn, _ = srv.accept()


def run(role, fn):
    tids[role] = dump_common.native_id()
    fn()


def w_queue():
    q.get()  # L:queue


def w_event():
    never.wait()  # L:event


def w_lock():
    lock.acquire()  # L:lock


def w_rlock_owner():
    with rlock:
        rlock_held.set()
        never.wait()  # L:rlock-owner


def w_rlock():
    rlock_held.wait()
    rlock.acquire()  # L:rlock


def w_sleep():
    time.sleep(3600)  # L:sleep


def w_join():
    threads["w-event"].join()  # L:join


def w_recv():
    conn.recv(10)  # L:recv


def w_select():
    select.select([cli], [], [])  # L:select


def w_dl_a():
    with dl_a:
        dl_barrier.wait()
        with dl_b:  # L:dl-a
            pass


def w_dl_b():
    with dl_b:
        dl_barrier.wait()
        with dl_a:  # L:dl-b
            pass


def spin():
    tids.setdefault("spin", []).append(dump_common.native_id())
    n = 0
    while True:
        n += 1  # L:spin


ROLES = [("w-event", w_event), ("w-queue", w_queue), ("w-lock", w_lock), ("w-rlock-owner", w_rlock_owner),
         ("w-rlock", w_rlock), ("w-sleep", w_sleep), ("w-join", w_join), ("w-recv", w_recv),
         ("w-select", w_select), ("dl-a", w_dl_a), ("dl-b", w_dl_b)]
threads = {}
for role, fn in ROLES:
    threads[role] = threading.Thread(target=run, args=(role, fn), name=role, daemon=True)
for role, _ in ROLES:
    threads[role].start()
    if role == "w-rlock-owner":
        rlock_held.wait()
for role, _ in ROLES:
    while role not in tids:
        time.sleep(0.001)
# Every thread blocked in its wait (innermost frame anywhere below the
# line, the OS state sleeping) before "ready".
lines = {role: dump_common.marker_line(role[2:] if role.startswith("w-") else role) for role, _ in ROLES}


def blocked_at(role):
    ident, line = threads[role].ident, lines[role]

    def check():
        frame = sys._current_frames().get(ident)
        while frame is not None:
            if frame.f_lineno == line and frame.f_code.co_filename == __file__:
                return True
            frame = frame.f_back
        return False
    return check


dump_common.wait_blocked([(tids[role], blocked_at(role)) for role, _ in ROLES])
fields = ["%s=%d" % (role, tids[role]) for role, _ in ROLES]
fields += ["lock=0x%x" % id(lock), "rlock=0x%x" % id(rlock), "dl_a=0x%x" % id(dl_a), "dl_b=0x%x" % id(dl_b),
           "conn=%s:%d->%s:%d" % (conn.getsockname() + conn.getpeername()),
           "cli=%s:%d->%s:%d" % (cli.getsockname() + cli.getpeername())]
print("ready " + " ".join(fields), flush=True)
for cmd in sys.stdin:
    if cmd.strip() == "spin":
        spinners = [threading.Thread(target=spin, name="spin-%d" % i, daemon=True) for i in range(4)]
        for t in spinners:
            t.start()
        while len(tids.get("spin", [])) < 4:
            time.sleep(0.001)
        print("spinning " + " ".join(str(t) for t in tids["spin"]), flush=True)
