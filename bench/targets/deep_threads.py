# N threads (default 2000), each parked DEPTH (default 50) calls deep in a
# function with a few locals of common types, for the dump benchmarks.
# Prints "ready" once every thread waits.
import sys
import threading

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
DEPTH = int(sys.argv[2]) if len(sys.argv) > 2 else 50
threading.stack_size(512 * 1024)
release = threading.Event()
parked = threading.Semaphore(0)


def level(i, depth, tag):
    count = depth * 7
    name = "level-%d-%d" % (i, depth)
    ratio = depth / 3.0
    items = [depth, name, ratio]
    info = {"depth": depth, "tag": tag}
    if depth == 0:
        parked.release()
        release.wait()
        return count
    return level(i, depth - 1, tag) + len(items) + len(info)


threads = [threading.Thread(target=level, args=(i, DEPTH - 2, "t%d" % i), daemon=True) for i in range(N)]
for t in threads:
    t.start()
for _ in threads:
    parked.acquire()
print("ready", flush=True)
release.wait()
