"""Target of bench/run.py's `async` benchmark.

usage: async_chain.py chain [DEPTH]   a task "chain" whose coroutine awaits
                                      DEPTH nested coroutines down to a leaf
                                      that burns CPU, plus 3 other tasks
                                      that sleep in a loop
       async_chain.py pending [N]     N tasks pending on one event, the
                                      main task waiting for them (nothing
                                      runs)

Prints "ready" once the work to be sampled is going, then runs until
killed.
"""
import asyncio
import sys


def burn(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


async def level(depth):
    # One coroutine frame per level: the task's stack is DEPTH of these
    # (plus the chain's own coroutine) above the leaf.
    if depth == 0:
        return await leaf()
    return await level(depth - 1)


async def leaf():
    # Nearly all CPU time is here, under the full await chain; a yield
    # every ~10 ms lets the other tasks exist and run a little, as in a
    # real loop, without moving the samples elsewhere.
    while True:
        burn(100_000)
        await asyncio.sleep(0)


async def chain(depth):
    await level(depth - 1)


async def sleeper():
    while True:
        await asyncio.sleep(0.05)


async def run_chain(depth):
    tasks = [asyncio.create_task(sleeper(), name="sleeper-%d" % i) for i in range(3)]
    tasks.append(asyncio.create_task(chain(depth), name="chain"))
    await asyncio.sleep(0)  # every task started before "ready"
    print("ready", flush=True)
    await asyncio.gather(*tasks)


async def waiter(event):
    await event.wait()


async def run_pending(n):
    event = asyncio.Event()
    tasks = [asyncio.create_task(waiter(event), name="waiter-%d" % i) for i in range(n)]
    await asyncio.sleep(0)  # every task reaches its await before "ready"
    print("ready", flush=True)
    await asyncio.gather(*tasks)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "chain"
    if mode == "chain":
        asyncio.run(run_chain(int(sys.argv[2]) if len(sys.argv) > 2 else 10))
    elif mode == "pending":
        asyncio.run(run_pending(int(sys.argv[2]) if len(sys.argv) > 2 else 5000))
    else:
        sys.exit("async_chain.py: unknown mode %r (chain or pending)" % mode)


if __name__ == "__main__":
    main()
