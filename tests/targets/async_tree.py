# asyncio tasks for 'pyperf dump --async': a task "parent" gathering three
# workers (worker-1..3, each in nested coroutines alternating a little CPU
# work and asyncio.sleep) awaited by the main task, a task "sleeper" that
# only sleeps, a TaskGroup, a shielded task, an eager task (3.12+) and a task
# awaiting a Future a thread would set. Prints "ready" once every task is
# suspended at its await.
#   async_tree.py [many N] [crash]
#     many N: N more pending tasks ("many-K")
#     crash:  once ready, dies by SIGSEGV from a loop callback (a core file)
import asyncio
import ctypes
import sys
import threading

args = sys.argv[1:]
MANY = int(args[args.index("many") + 1]) if "many" in args else 0
CRASH = "crash" in args
EXPECTED = 3 + 1 + 2 + 1 + (sys.version_info >= (3, 12)) + 1 + MANY
arrived = 0
all_arrived = None


def spin(n):
    x = 0
    for i in range(n):
        x += i
    return x


def arrive():
    global arrived
    arrived += 1
    if arrived == EXPECTED:
        all_arrived.set()


async def leaf(i):
    first = True
    while True:
        spin(2000)
        if first:
            first = False
            arrive()
        await asyncio.sleep(0.5 + i)  # L:leaf-sleep


async def middle(i):
    await leaf(i)  # L:middle-await


async def worker(i):
    await middle(i)  # L:worker-await


async def parent():
    tasks = [asyncio.create_task(worker(i), name="worker-%d" % i) for i in (1, 2, 3)]
    await asyncio.gather(*tasks)  # L:gather


async def sleeper():
    arrive()
    await asyncio.sleep(3600)  # L:sleeper-sleep


async def tg_child():
    arrive()
    await asyncio.sleep(3600)  # L:tg-child-sleep


async def tg_parent():
    async with asyncio.TaskGroup() as tg:  # L:taskgroup
        tg.create_task(tg_child(), name="tg-child-1")
        tg.create_task(tg_child(), name="tg-child-2")


async def shielded():
    arrive()
    await asyncio.sleep(3600)  # L:shielded-sleep


async def shielder():
    await asyncio.shield(asyncio.create_task(shielded(), name="shielded"))  # L:shield


async def future_waiter(fut):
    arrive()
    await fut  # L:future-await


async def eager():
    arrive()
    await asyncio.sleep(3600)  # L:eager-sleep


async def many():
    arrive()
    await asyncio.sleep(3600)


def crash():
    ctypes.string_at(0)


async def main():
    global all_arrived
    loop = asyncio.get_running_loop()
    all_arrived = asyncio.Event()
    fut = loop.create_future()
    never = threading.Event()

    def setter():
        never.wait()
        loop.call_soon_threadsafe(fut.set_result, None)
    threading.Thread(target=setter, daemon=True).start()
    keep = [asyncio.create_task(sleeper(), name="sleeper"),
            asyncio.create_task(tg_parent(), name="tg-parent"),
            asyncio.create_task(shielder(), name="shielder"),
            asyncio.create_task(future_waiter(fut), name="future-waiter")]
    if sys.version_info >= (3, 12):
        keep.append(asyncio.eager_task_factory(loop, eager(), name="eager"))
    keep += [asyncio.create_task(many(), name="many-%d" % k) for k in range(MANY)]
    p = asyncio.create_task(parent(), name="parent")

    async def reporter():
        await all_arrived.wait()
        print("ready", flush=True)
        if CRASH:
            loop.call_soon(crash)
    keep.append(asyncio.create_task(reporter(), name="reporter"))
    await p  # L:main-await


asyncio.run(main())
