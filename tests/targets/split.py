# Three functions burning about 50%, 30% and 20% of one CPU, forever.
# Lines marked "# L:name" are looked up by the tests; keep the markers.
import sys


def fifty(n):
    total = 0
    for i in range(n):  # L:fifty-for
        total += i * i  # L:fifty-body
    return total


def thirty(n):
    total = 0
    for i in range(n):  # L:thirty-for
        total += i * i  # L:thirty-body
    return total


def twenty(n):
    total = 0
    for i in range(n):  # L:twenty-for
        total += i * i  # L:twenty-body
    return total


def main():
    unit = 2000
    print("ready", flush=True)
    while True:
        fifty(5 * unit)  # L:call-fifty
        thirty(3 * unit)  # L:call-thirty
        twenty(2 * unit)  # L:call-twenty


if __name__ == "__main__":
    main()
