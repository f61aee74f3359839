# Starts the command given as arguments, spins in Python until it exits,
# and exits with its status.
#   spawn_and_spin.py CMD [ARGS...]
import subprocess
import sys


def parent_spin(child):
    x = 0
    while child.poll() is None:
        x += 1


if __name__ == "__main__":
    child = subprocess.Popen(sys.argv[1:])
    parent_spin(child)
    sys.exit(child.returncode)
