# Helpers for the dump targets: name OS threads, and prove that threads are
# blocked where the test expects them before printing "ready".
import ctypes
import os
import sys
import threading
import time

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15


def set_os_thread_name(name):
    """Set this thread's name as /proc/PID/task/TID/comm shows it (15 bytes max)."""
    _libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def native_id():
    if hasattr(threading, "get_native_id"):
        return threading.get_native_id()
    return _libc.syscall(186)  # gettid on x86_64


def os_state(tid):
    with open("/proc/%d/task/%d/stat" % (os.getpid(), tid)) as f:
        data = f.read()
    return data[data.rindex(")") + 2]


def innermost(ident):
    """(function name, line) of a thread's innermost Python frame, or None."""
    frame = sys._current_frames().get(ident)
    if frame is None:
        return None
    return frame.f_code.co_name, frame.f_lineno


def at(ident, func, line):
    """Check: thread ident's innermost frame is func at line."""
    return lambda: innermost(ident) == (func, line)


def inside(ident, func, line, leaf):
    """Check: thread ident runs func at line somewhere on its stack, and its
    innermost frame is the function named leaf."""
    def check():
        frame = sys._current_frames().get(ident)
        if frame is None or frame.f_code.co_name != leaf:
            return False
        while frame is not None:
            if (frame.f_code.co_name, frame.f_lineno) == (func, line):
                return True
            frame = frame.f_back
        return False
    return check


def wait_blocked(checks, timeout=20.0):
    """checks: list of (native tid, check()). Returns once every check holds
    and the OS says every thread sleeps; raises after timeout (a bounded
    poll, not a hopeful sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        pending = [c for c in checks if not c[1]() or os_state(c[0]) != "S"]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise SystemExit("threads never blocked: %r" % [(c[0], os_state(c[0])) for c in pending])
        time.sleep(0.005)


def marker_line(name):
    """Line of the '# L:name' marker in the calling script."""
    path = sys._getframe(1).f_code.co_filename
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.rstrip().endswith("# L:" + name):
                return n
    raise KeyError(name)
