# Off-CPU target: five threads deadlocked for good, each holding its left
# lock and waiting at 'with right:' for the one its neighbour holds; the main
# thread waits in join. Prints "ready" once every thread provably blocks.
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_common  # noqa: E402

N = 5
locks = [threading.Lock() for _ in range(N)]
all_hold_left = threading.Barrier(N)
about_to_wait = [threading.Event() for _ in range(N)]
tids = [0] * N


def philosopher(i):
    dump_common.set_os_thread_name("phil-%d" % i)
    tids[i] = dump_common.native_id()
    left, right = locks[i], locks[(i + 1) % N]
    with left:
        all_hold_left.wait()
        about_to_wait[i].set()
        with right:  # L:with-right
            pass


threads = [threading.Thread(target=philosopher, args=(i,), name="phil-%d" % i, daemon=True)
           for i in range(N)]
for t in threads:
    t.start()
for e in about_to_wait:
    e.wait()
line = dump_common.marker_line("with-right")
dump_common.wait_blocked([(tids[i], dump_common.at(t.ident, "philosopher", line))
                          for i, t in enumerate(threads)])
print("ready", " ".join(str(t) for t in tids), flush=True)
threads[0].join()  # L:join
