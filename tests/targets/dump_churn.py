# Threads whose stacks change all the time: random recursion through three
# functions, up and down. dump must print either a consistent stack or one
# marked as changing, and never a frame that is not one of these.
import sys
import threading


def f(n):
    return g(n - 1) if n > 0 else 0


def g(n):
    return h(n - 1) if n > 0 else 1


def h(n):
    return f(n - 1) if n > 0 else 2


def churn(seed):
    x = seed
    while True:
        x = (x * 1103515245 + 12345) % 2147483648  # no library frames
        f(x % 60)


sys.setrecursionlimit(10000)
threads = [threading.Thread(target=churn, args=(i,), daemon=True) for i in range(3)]
for t in threads:
    t.start()
print("ready", flush=True)
for t in threads:
    t.join()
