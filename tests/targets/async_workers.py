# record --async: a parent task gathering three named workers whose CPU
# work (in nested coroutines) is in the ratio 1:2:3, alternating with short
# sleeps, a task that only sleeps, and a task "shielder" awaiting
# asyncio.shield of a task "shielded" that spins (its own function, not
# burn) between short sleeps. Runs until killed.
import asyncio


def burn(n):
    x = 0
    for i in range(n):  # L:burn
        x += i * i
    return x


async def crunch(n):
    await asyncio.sleep(0)
    return burn(n)  # L:crunch


async def worker(share):
    while True:
        await crunch(20000 * share)  # L:worker
        await asyncio.sleep(0.001)


async def sleeper():
    while True:
        await asyncio.sleep(3600)  # L:sleeper


def spin(n):
    x = 0
    for i in range(n):
        x += i
    return x


async def shielded():
    while True:
        spin(20000)  # L:shielded
        await asyncio.sleep(0.001)


async def shielder():
    await asyncio.shield(asyncio.create_task(shielded(), name="shielded"))  # L:shield


async def parent():
    workers = [asyncio.create_task(worker(i), name="worker-%d" % i) for i in (1, 2, 3)]
    print("ready", flush=True)
    await asyncio.gather(*workers)  # L:gather


async def main():
    asyncio.create_task(sleeper(), name="sleeper")
    asyncio.create_task(shielder(), name="shielder")
    await asyncio.create_task(parent(), name="parent")


asyncio.run(main())
