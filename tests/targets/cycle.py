# Corrupts its own frame chain (CPython 3.12 layout), then spins forever:
# argv[1] == "self": the leaf frame's `previous` points at itself;
# argv[1] == "pair": the caller's `previous` points back at the leaf.
import ctypes
import sys

assert sys.version_info[:2] == (3, 12), "offsets below are 3.12's"
F_FRAME = 24      # offsetof(PyFrameObject, f_frame)
PREVIOUS = 8      # offsetof(_PyInterpreterFrame, previous)


def iframe(frame):
    return ctypes.c_void_p.from_address(id(frame) + F_FRAME).value


def leaf():
    me = sys._getframe()
    here, caller = iframe(me), iframe(me.f_back)
    if sys.argv[1] == "self":
        ctypes.c_void_p.from_address(here + PREVIOUS).value = here
    else:
        ctypes.c_void_p.from_address(caller + PREVIOUS).value = here
    print("ready", flush=True)
    x = 0
    while True:
        x += 1


def caller():
    leaf()


caller()
