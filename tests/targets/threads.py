# Three worker threads, each spinning in its own function; the main thread waits.
import threading


def spin_alpha():
    x = 0
    while True:
        x += 1  # L:alpha


def spin_beta():
    x = 0
    while True:
        x += 1  # L:beta


def spin_gamma():
    x = 0
    while True:
        x += 1  # L:gamma


threads = [threading.Thread(target=f, name=f.__name__, daemon=True)
           for f in (spin_alpha, spin_beta, spin_gamma)]
for t in threads:
    t.start()
print("ready", flush=True)
for t in threads:
    t.join()
