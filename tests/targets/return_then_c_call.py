# A short Python call, then a long call into C from the same caller: the
# caller stays at one instruction (the C call) long after its callee
# returned, whose frame memory stays as it was. A sampler that reads the
# thread while it runs must not show the returned callee under the C call.
# Lines marked "# L:name" are looked up by the tests; keep the markers.


def leaf():
    t = 0
    for i in range(200):
        t += i
    return t  # L:leaf-return


def main():
    print("ready", flush=True)
    r = range(3000)
    while True:
        leaf()  # L:call-leaf
        sum(r)  # L:c-call


main()
