"""Symbolization target: a generated module of N distinct functions
(argv[1], default 10000), each with its own name, a few lines of body and
so its own line table, compiled under its own file name.

Writes one line per function to the file argv[2]: the code object's
address (id(f.__code__)) and an instruction index inside its body (the last
instruction, always past any prologue), the two halves of a frame as the
sampler packs it. Then prints "ready" and sleeps until killed, so the code
objects stay where they are while they are read.
"""
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
OUT = sys.argv[2] if len(sys.argv) > 2 else "/dev/stdout"

src = []
for i in range(N):
    src.append(
        "def handler_%05d_%s(request, n=%d):\n"
        "    total = n\n"
        "    for item in request:\n"
        "        total += item * %d\n"
        "    return total\n" % (i, "abcdefgh"[i % 8] * (1 + i % 5), i, i % 13 + 1))
mod = {}
exec(compile("\n".join(src), "/srv/app/generated/handlers_%d.py" % N, "exec"), mod)
funcs = [v for k, v in mod.items() if k.startswith("handler_")]
assert len(funcs) == N and len({id(f.__code__) for f in funcs}) == N

with open(OUT, "w") as out:
    for f in funcs:
        units = len(f.__code__.co_code) // 2
        out.write("%d %d\n" % (id(f.__code__), units - 1))
print("ready", flush=True)
while True:
    time.sleep(3600)
