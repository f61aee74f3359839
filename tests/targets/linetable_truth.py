"""Dump line tables and the interpreter's own answer for every instruction.

Runs on any CPython 3.8+. Compiles linetable_sample.py and generated
sources (very long functions, far and wandering line numbers, syntax of
newer versions), walks every code object through co_consts and prints, for
tests/unit/test_pyline.c --check:

    V <sys.hexversion in hex>
    C <co_firstlineno> <table hex or -> <name> <offset>:<line> ...
    F <co_firstlineno> <table hex or -> <name> <f_lasti>:<f_lineno>

The table is co_lnotab before 3.10 and co_linetable after. The truth for an
offset is PyCode_Addr2Line() called through ctypes: the function CPython
itself uses for frame.f_lineno and tracebacks; on 3.10+ it is also checked
against co_lines() here. F records come from live frames (running, suspended
and not-started generators, coroutines), pairing f_lasti with f_lineno, and
this script first checks PyCode_Addr2Line agrees with them. Inconsistencies
in the ground truth itself go to stderr as "TRUTH ..." lines and make the
exit status 3.
"""
import ast
import ctypes
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
V = sys.version_info[:2]

addr2line = ctypes.pythonapi.PyCode_Addr2Line
addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
addr2line.restype = ctypes.c_int

truth_errors = []
out = []


def table_of(code):
    return code.co_lnotab if V < (3, 10) else code.co_linetable


def name_of(code):
    n = getattr(code, "co_qualname", code.co_name)
    return "%s@%d" % (n.replace(" ", "_") or "?", code.co_firstlineno)


def record(tag, code, pairs):
    t = table_of(code)
    out.append("%s %d %s %s %s" % (tag, code.co_firstlineno, t.hex() or "-", name_of(code),
                                   " ".join("%d:%d" % p for p in pairs)))


def walk(code):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from walk(c)


def dump_code(code):
    n = len(code.co_code)
    past = [n, n + 1, n + 2, n + 100, 1 << 20]
    if V < (3, 10):
        # PyCode_Addr2Line walks co_lnotab from the start for each offset,
        # cheap at these sizes; it is defined for any offset, also past the
        # end (last line) and negative (co_firstlineno).
        pairs = [(off, addr2line(code, off)) for off in list(range(-2, n)) + past]
        record("C", code, pairs)
        return
    # 3.10+: co_lines() (PEP 626) gives the line of every offset in one pass.
    # PyCode_Addr2Line also walks the table per call (quadratic on the long
    # function), so it is asked for every offset of small code objects and,
    # on large ones, at every 64th offset and the first and last offset of
    # every 16th range; both must agree. Past the code, PyCode_Addr2Line asserts: the
    # table covers exactly the code (checked here), so there is no line.
    truth = {}
    for start, end, line in code.co_lines():
        for off in range(start, end):
            if off in truth:
                truth_errors.append("co_lines %s offset %d listed twice" % (name_of(code), off))
            truth[off] = -1 if line is None else line
    if sorted(truth) != list(range(n)):
        truth_errors.append("co_lines %s does not cover exactly the %d bytes of code"
                            % (name_of(code), n))
    probe = set(range(n)) if n <= 4096 else set(range(0, n, 64))
    if n > 4096:
        for i, (start, end, line) in enumerate(code.co_lines()):
            if i % 16 == 0:
                probe.update((start, end - 1))
    for off in sorted(probe):
        got = addr2line(code, off)
        if truth.get(off) != got:
            truth_errors.append("co_lines %s offset %d: %r vs PyCode_Addr2Line %r"
                                % (name_of(code), off, truth.get(off), got))
    pairs = [(off, addr2line(code, off)) for off in (-2, -1)]
    pairs += sorted(truth.items())
    pairs += [(off, -1) for off in past]
    record("C", code, pairs)


# ---------------------------------------------------------------- sources

def sample_source():
    path = os.path.join(HERE, "linetable_sample.py")
    with open(path) as f:
        return path, f.read()


def long_function_source(nstmts=7000):
    # One loop body over 64 KiB of bytecode (backward jump needs two
    # EXTENDED_ARGs), thousands of constants (EXTENDED_ARG on LOAD_CONST),
    # thousands of lines, an if/else whose branches are both huge.
    lines = ["def long_function(n, v):", "    total = 0", "    for i in range(n):",
             "        if i % 2:"]
    for k in range(nstmts // 2):
        lines.append("            total += v * %d" % (k + 1000))
    lines.append("        else:")
    for k in range(nstmts // 2):
        lines.append("            total -= (v +")
        lines.append("                      %d)" % (k + 5000))
    lines.append("    return total")
    return "\n".join(lines) + "\n"


def far_source():
    # Lines far from co_firstlineno, and a function defined a million lines in.
    return ("def far():\n"
            "    a = 1\n" + "\n" * 200000 +
            "    b = 2\n" + "\n" * 70000 +
            "    return (a +\n" + "\n" * 300 + "            b)\n" +
            "\n" * 1000000 +
            "def very_late(x):\n"
            "    y = x\n" + "\n" * 129 +
            "    return y\n")


WANDER_DELTAS = [0, 1, -1, 2, 3, 127, -127, 128, -128, 129, -129, 254, -254, 255, -255,
                 256, -256, 1000, -1000, 100000, -100000, 65536, -65536, 7, -7, 0, 63, 64,
                 -63, -64, 4095, 4096, -4096, 262143, -262143, 9000000, -9000000, 5]


def wander_tree():
    # Statement lines follow WANDER_DELTAS around a far start line, forward
    # and backward: every boundary of the encodings (+-127/128 per lnotab
    # pair, -128 reserved in 3.10, varint chunk sizes in 3.11+).
    nst = len(WANDER_DELTAS)
    src = "def wander(a):\n" + "".join("    x%d = a + %d\n" % (i, i) for i in range(nst)) + \
          "    return x0\n"
    tree = ast.parse(src)
    fn = tree.body[0]
    line = 300000
    fn.lineno = line
    if hasattr(fn, "end_lineno"):
        fn.end_lineno = None
    lines = []
    for d in WANDER_DELTAS:
        line += d
        lines.append(line)
    lines.append(line + 3)
    for stmt, ln in zip(fn.body, lines):
        for node in ast.walk(stmt):
            if hasattr(node, "lineno"):
                node.lineno = ln
                if hasattr(node, "end_lineno"):
                    node.end_lineno = ln
    # The def spans everything so positions validate on 3.11+.
    if hasattr(fn, "end_lineno"):
        fn.end_lineno = max(lines + [fn.lineno])
    tree.body[0] = fn
    return tree


VERSION_SOURCES = [
    ((3, 10), """
def matcher(x):
    match x:
        case [1, 2,
              *rest]:
            return rest
        case {"k": v} if v > (
                3):
            return v
        case Point(x=0) | None:
            return 0
        case _:
            pass
    return None
"""),
    ((3, 11), """
def groups():
    try:
        raise ExceptionGroup("g", [ValueError(1),
                                   TypeError(2)])
    except* ValueError as e:
        a = e
    except* (TypeError,
             KeyError):
        b = 2
    return a
"""),
    ((3, 12), """
class Generic[T, *Ts, **P]:
    def method[U](self, x: T) -> U:
        return [y for y in
                x]
type Alias[K] = list[
    K]
def inlined(xs):
    return {k: v for k, v in xs}, [z for z in xs
                                   if z]
"""),
]


# ---------------------------------------------------------------- live frames

frames = []


def note(f):
    # f_lineno is only PyCode_Addr2Line(f_code, f_lasti) while not tracing.
    if sys.gettrace() is not None:
        truth_errors.append("tracing is on; f_lineno would not be the table's answer")
    line = f.f_lineno
    line = -1 if line is None else line
    frames.append((f.f_code, f.f_lasti, line))
    expect = addr2line(f.f_code, f.f_lasti) if f.f_lasti < 0 or f.f_lasti < len(f.f_code.co_code) else None
    if expect is not None and expect != line:
        truth_errors.append("frame %s f_lasti %d: f_lineno %d, PyCode_Addr2Line %d"
                            % (name_of(f.f_code), f.f_lasti, line, expect))


def note_stack():
    f = sys._getframe(1)
    while f is not None:
        note(f)
        f = f.f_back


def live_a(n):
    total = 0
    for i in range(n):
        total += (i
                  *
                  (note_stack() or 1))
        if i == n - 1:
            data = [
                note_stack(),
                1,
            ]
    return total, data


def live_gen():
    x = yield 1
    y = (yield
         x)
    note_stack()
    yield y


async def live_coro():
    note_stack()
    return 1


def live_frames():
    live_a(3)
    g = live_gen()
    note(g.gi_frame)          # not started
    next(g)
    note(g.gi_frame)          # suspended at the first yield
    g.send(5)
    note(g.gi_frame)          # suspended inside a multi-line expression
    g.send(6)
    note(g.gi_frame)
    c = live_coro()
    note(c.cr_frame)          # not started coroutine
    try:
        c.send(None)
    except StopIteration:
        pass
    try:
        raise KeyError(1)
    except KeyError:
        tb = sys.exc_info()[2]
        while tb is not None:
            # tb_lineno is PyCode_Addr2Line(tb_frame.f_code, tb_lasti)
            line = tb.tb_lineno
            frames.append((tb.tb_frame.f_code, tb.tb_lasti, -1 if line is None else line))
            tb = tb.tb_next


def main():
    codes = []
    path, src = sample_source()
    codes.append(compile(src, path, "exec"))
    codes.append(compile(long_function_source(), "<long>", "exec"))
    codes.append(compile(far_source(), "<far>", "exec"))
    codes.append(compile(wander_tree(), "<wander>", "exec"))
    for since, vsrc in VERSION_SOURCES:
        if V >= since:
            codes.append(compile(vsrc, "<since %d.%d>" % since, "exec"))
    # This very file, too: real-world code with live-frame helpers.
    with open(os.path.abspath(__file__)) as f:
        codes.append(compile(f.read(), __file__, "exec"))

    out.append("V %x" % sys.hexversion)
    longest = 0
    for top in codes:
        for code in walk(top):
            longest = max(longest, len(code.co_code))
            dump_code(code)
    if longest <= 65536:
        truth_errors.append("longest code object is only %d bytes" % longest)

    live_frames()
    for code, lasti, line in frames:
        record("F", code, [(lasti, line)])

    sys.stdout.write("\n".join(out) + "\n")
    for e in truth_errors[:50]:
        sys.stderr.write("TRUTH %s\n" % e)
    return 3 if truth_errors else 0


if __name__ == "__main__":
    sys.exit(main())
