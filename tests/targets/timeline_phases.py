"""A run in two phases for record --timeline: 1 s computing (compute), then
1 s sleeping (rest, in time.sleep). Launched by pyperf record; exits when
done."""
import time


def compute(seconds):
    end = time.monotonic() + seconds
    n = 0
    # One line, calling only C: the stack is this one frame at this one line
    # (function and line make a frame) all along.
    while time.monotonic() < end: n += sum(map(abs, range(-100, 100)))  # noqa: E701  # MARK compute
    return n


def rest(seconds):
    time.sleep(seconds)  # MARK rest


def main():
    compute(1.0)
    rest(1.0)


if __name__ == "__main__":
    main()
