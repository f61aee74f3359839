# Short calls in a tight loop and a generator expression run from C (sum),
# forever: the stack changes every microsecond or so. Used by the sampler
# tests (a stack read while it changes; a generator's frame being entered).
def leaf(x):
    return x + 1


def middle(x):
    return leaf(x) * 2


def calls(n):
    total = 0
    for i in range(n):
        total += middle(i)
    return total


def compute(n):
    return sum(x for x in range(n))


def main():
    print("ready", flush=True)
    while True:
        calls(2000)
        compute(2000)


if __name__ == "__main__":
    main()
