# An asyncio program idle in its event loop: the main thread sits in the
# selector's epoll_wait, with tasks waiting on a queue and a sleep.
import asyncio
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dump_common  # noqa: E402


async def consumer(q):
    while True:
        await q.get()


async def main():
    q = asyncio.Queue()
    tasks = [asyncio.ensure_future(consumer(q)) for _ in range(3)]
    await asyncio.sleep(3600)  # L:await
    for t in tasks:
        t.cancel()


def announce(main_ident, main_tid):
    import selectors
    sel_cls = selectors.DefaultSelector
    # The line of the selector's blocking call, as the interpreter reports it.
    deadline = time.monotonic() + 20
    got = None
    while not (got and got[0] == "select"):
        if time.monotonic() > deadline:
            raise SystemExit("event loop never reached select: %r" % (got,))
        time.sleep(0.005)
        got = dump_common.innermost(main_ident)
    line = got[1]
    dump_common.wait_blocked([(main_tid, dump_common.at(main_ident, "select", line))])
    print("ready", sel_cls.__name__, flush=True)


threading.Thread(target=announce, args=(threading.get_ident(), dump_common.native_id())).start()
asyncio.run(main())  # L:run
