"""Target of the `native` benchmark (bench/run.py): PYDEPTH Python frames,
then native_deep.run(CDEPTH, block) from bench/targets/native_deep.c:
CDEPTH C frames spinning ("spin") or blocked in pause() ("block").

usage: native_deep.py MODULE_DIR PYDEPTH CDEPTH spin|block
Prints "ready" just before entering the recursion."""
import sys

sys.path.insert(0, sys.argv[1])
import native_deep  # noqa: E402

PYDEPTH, CDEPTH, BLOCK = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "block"


def level(n):
    if n <= 1:
        native_deep.run(CDEPTH, BLOCK)
    else:
        level(n - 1)
    return n


print("ready", flush=True)
level(PYDEPTH - 1)  # <module> is the first Python frame
