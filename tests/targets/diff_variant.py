# Two functions on one CPU: steady() does twice the work of grow(); with the
# argument "triple", grow() does three times its usual work, so its share
# goes from about 1/3 to 3/5 (pyperf diff's test compares the two runs).
import sys


def steady(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def grow(n):
    total = 0
    for i in range(n):
        total += i ^ 3
    return total


def main():
    factor = 3 if "triple" in sys.argv[1:] else 1
    print("ready", flush=True)
    while True:
        steady(4000)
        grow(2000 * factor)


if __name__ == "__main__":
    main()
