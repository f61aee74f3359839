# Starts the command given as arguments, waits for it, and exits with its
# status.
#   spawn_and_wait.py CMD [ARGS...]
import subprocess
import sys


def parent_wait():
    return subprocess.call(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(parent_wait())
