"""user/python/pystr.c on strings read out of the interpreters' own memory.

tests/targets/pystr_dump.py measures the str header layout of the running
interpreter from its own objects, dumps the bytes at id(s) of strings of
every kind (ASCII, Latin-1, UCS-2, UCS-4, surrogates, NULs, long ones, code
object names) and the UTF-8 Python says they hold, plus strings that are not
compact; build/tests/test_pystr --check parses and encodes each and compares
the measured layout with the generated layouts table.
"""
import os
import re

import harness
from test_pyline import VERSIONS, check, expected_minor, field, run_target

SOURCES = ["tests/unit/test_pystr.c", "user/python/pystr.c", "user/python/pystr.h"]


@harness.params(VERSIONS)
def test_strings_match_interpreter(name):
    dump = run_target(name, "pystr_dump.py")
    try:
        with open(dump) as f:
            head = [f.readline().split() for _ in range(2)]
        report = check("test_pystr", SOURCES, dump)
    finally:
        os.unlink(dump)
    assert head[0][0] == "V" and head[1][0] == "L", head
    version = int(head[0][1], 16)
    minor = expected_minor(name)
    assert (version >> 24, (version >> 16) & 0xff) == (3, minor), head
    # The measured layout is CPython's: PyObject_HEAD, length, hash, state;
    # 3.12 dropped wstr (and wstr_length from the compact header).
    state_off, length_off, ascii_size, compact_size, kind_shift, compact_shift, ascii_shift = \
        map(int, head[1][1:])
    assert (state_off, length_off, kind_shift, compact_shift, ascii_shift) == (32, 16, 2, 5, 6), head
    assert (ascii_size, compact_size) == ((48, 72) if minor <= 11 else (40, 56)), head

    assert field(report, "mismatches") == 0, report
    assert field(report, "strings") >= 30, report
    for kind in ("kind1", "kind2", "kind4"):
        assert field(report, kind) >= 5, report
    # str subclass instances (and 3.8-3.11 legacy strings) were refused.
    assert field(report, "refused") == (3 if minor <= 11 else 2), report
    assert field(report, "cases") >= 500, report
    # The profiler's generated table agrees with what was measured here.
    m = re.search(r"^table-layout (\S+)", report, re.M)
    assert m and m.group(1) == "match", "layouts table vs measured:\n" + report
