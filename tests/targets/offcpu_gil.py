# Three threads spinning in pure Python: at any moment one holds the GIL and
# the others wait to take it. The main thread waits on an event.
import threading


def spin():
    n = 0
    while True:
        n += 1  # L:spin


for _ in range(3):
    threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()  # L:main-wait
