# Threads whose stacks are almost never the same twice: each recursion
# level calls one of four functions at random.
import random
import threading


def a(n):
    return step(n)


def b(n):
    return step(n)


def c(n):
    return step(n)


def d(n):
    return step(n)


FUNCS = (a, b, c, d)


def step(n):
    if n == 0:
        x = 0
        for i in range(50):
            x += i
        return x
    return random.choice(FUNCS)(n - 1)


def work():
    while True:
        step(30)


for _ in range(3):
    threading.Thread(target=work, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
