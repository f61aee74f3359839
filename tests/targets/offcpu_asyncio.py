# An asyncio program idle in its event loop: the main thread waits in the
# selector (epoll_wait) for a future nobody sets.
import asyncio


async def serve():
    print("ready", flush=True)
    await asyncio.get_running_loop().create_future()  # L:await


asyncio.run(serve())
