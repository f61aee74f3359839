# Spins for the number of seconds given (CPU time, not sleep), then exits 0.
import sys
import time

end = time.monotonic() + float(sys.argv[1])
print("ready", flush=True)
x = 0
while time.monotonic() < end:
    x += 1  # L:spin
