"""layouts/: the generated table against the headers and the live interpreters.

- generate.sh --check: the committed table equals what the probe gives for
  every interpreter installed here.
- every installed interpreter's exact version has an entry.
- _Py_DebugOffsets (3.13+), read from the ELF file that defines _PyRuntime,
  gives the same offsets as the committed table (build/tests/test_layouts
  --blob does the parsing, with the same code pyperf uses).
- a walk of the running interpreter's own memory with the table's offsets
  (runtime -> interpreter -> thread state -> frames -> code -> strings)
  matches what Python itself reports.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import harness
from harness import Skip, params

ROOT = harness.ROOT
TABLE = os.path.join(ROOT, "layouts", "layouts_table.c")
SIDPY = os.path.join(ROOT, "tests", "helpers", "sid-python.sh")
TEST_BIN = os.path.join(ROOT, "build", "tests", "test_layouts")

_sid_state = {}


def sid_fetch():
    """Runs sid-python.sh fetch once; returns (ok, message)."""
    if "ok" not in _sid_state:
        p = subprocess.run([SIDPY, "fetch"], capture_output=True, text=True, timeout=900)
        _sid_state["ok"] = p.returncode == 0
        _sid_state["msg"] = (p.stderr.strip().splitlines() or [p.stdout.strip()])[-1:] or [""]
    return _sid_state["ok"], _sid_state["msg"][0]


def sid_versions():
    ok, _ = sid_fetch()
    if not ok:
        return []
    p = subprocess.run([SIDPY, "versions"], capture_output=True, text=True)
    return p.stdout.split()


def interp_argv(name):
    """argv prefix for '3.12' (pyenv), 'debian3.11' or 'sid3.14'; Skip if absent."""
    if name.startswith("sid"):
        v = name[3:]
        ok, msg = sid_fetch()
        if not ok or v not in sid_versions():
            raise Skip("Python %s from Debian sid is not available here (%s)" % (v, msg or "not fetched"))
        return [SIDPY, "run", v]
    return harness.need_interpreter(name)


def elf_file(name):
    """The ELF file that defines _PyRuntime for interpreter name."""
    if name.startswith("sid"):
        p = subprocess.run([SIDPY, "exe", name[3:]], capture_output=True, text=True, check=True)
        return p.stdout.strip()
    exe = os.path.realpath(interp_argv(name)[0])
    minor = name.replace("debian", "").split(".")[1]
    lib = os.path.join(os.path.dirname(os.path.dirname(exe)), "lib", "libpython3.%s.so.1.0" % minor)
    return lib if os.path.exists(lib) else exe


def parse_table():
    """{version_hex: {field: value}} from layouts_table.c (None for PY_OFF_NONE)."""
    with open(TABLE) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r"\{ \.version_hex = 0x([0-9a-f]{8}), \.flags = 0x([0-9a-f]+),(.*?)\n\t\},",
                         text, re.S):
        entry = {"version_hex": int(m.group(1), 16), "flags": int(m.group(2), 16)}
        for f, v in re.findall(r"\.(\w+) = (PY_OFF_NONE|0x[0-9a-f]+|\d+),", m.group(3)):
            entry[f] = None if v == "PY_OFF_NONE" else int(v, 0)
        g = re.search(r"_PyRuntime\.ceval\.gil at \+(\d+)", text[text.rfind("/* CPython", 0, m.start()):m.start()])
        entry["runtime_ceval_gil"] = int(g.group(1)) if g else None
        out[entry["version_hex"]] = entry
    assert out, "no entries parsed from %s" % TABLE
    return out


def pyruntime_bytes(path, n):
    """First n bytes of _PyRuntime as stored in the ELF file (its .data image)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "%s: not ELF64 LE" % path
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    # (name, type, flags, addr, offset, size, link, info, align, entsize)
    value = None
    for s in secs:
        if s[1] not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            continue
        strtab = secs[s[6]]
        for k in range(s[5] // 24):
            st_name, _, _, _, st_value, _ = struct.unpack_from("<IBBHQQ", data, s[4] + k * 24)
            o = strtab[4] + st_name
            if data[o:o + 11] == b"_PyRuntime\0":
                value = st_value
                break
        if value is not None:
            break
    assert value is not None, "%s: no _PyRuntime symbol" % path
    names = secs[shstrndx]
    for s in secs:
        if s[1] == 1 and s[3] <= value < s[3] + s[5]:  # SHT_PROGBITS holding it
            nm = data[names[4] + s[0]:data.index(b"\0", names[4] + s[0])].decode()
            off = s[4] + value - s[3]
            return nm, data[off:off + n]
    raise AssertionError("%s: _PyRuntime is not in a PROGBITS section" % path)


def test_generate_check():
    sid_fetch()  # so the sid versions are checked too when they can be had
    p = subprocess.run([os.path.join(ROOT, "layouts", "gen", "generate.sh"), "--check", "--no-fetch"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, "generate.sh --check exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr[-6000:])


ALL = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "debian3.11", "sid3.13", "sid3.14", "sid3.15"]


def version_hex(argv):
    p = subprocess.run(argv + ["-c", "import sys; print(sys.hexversion)"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return int(p.stdout.strip())


@params(ALL)
def test_table_has_version(name):
    argv = interp_argv(name)
    v = version_hex(argv)
    table = parse_table()
    assert v in table, "Python 0x%08x (%s) has no entry in layouts_table.c: run layouts/gen/generate.sh" % (v, name)


@params(["3.13", "sid3.13", "sid3.14", "sid3.15"])
def test_debug_offsets_match_table(name):
    interp_argv(name)
    if not os.access(TEST_BIN, os.X_OK):
        subprocess.run(["make", "-s", "-C", ROOT, "build/tests/test_layouts"], check=True,
                       capture_output=True, timeout=600)
    path = elf_file(name)
    section, blob = pyruntime_bytes(path, 2048)
    assert blob[:8] == b"xdebugpy", "%s: _PyRuntime starts with %r" % (path, blob[:8])
    # 3.10+ builds put _PyRuntime in a section of its own.
    assert section == ".PyRuntime", "%s: _PyRuntime in %s" % (path, section)
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(blob)
        f.flush()
        p = subprocess.run([TEST_BIN, "--blob", f.name], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "test_layouts --blob: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
    kv = dict(line.split("=", 1) for line in p.stdout.splitlines())
    assert kv["exact"] == "1", "%s (%s) is not in the table: %s" % (name, kv["version"], p.stdout)
    fields = sorted(k[6:] for k in kv if k.startswith("debug."))
    assert len(fields) >= 29, fields
    table = parse_table()[int(kv["version"], 16)]
    bad = ["%s: debug offsets %s, table %s" % (f, kv["debug." + f], table[f]) for f in fields
           if int(kv["debug." + f]) != table[f]]
    assert not bad, "%s (%s):\n%s" % (name, path, "\n".join(bad))


# Runs inside the interpreter under test: walks its own memory with the
# table's offsets (ctypes) and compares with what Python reports.
WALKER = r'''
import ctypes, json, sys, threading

L = json.loads(sys.argv[1])
N = L.get
minor = sys.version_info[1]
rt = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
def u64(a): return ctypes.c_uint64.from_address(a).value
def i32(a): return ctypes.c_int32.from_address(a).value
def u32(a): return ctypes.c_uint32.from_address(a).value
def u8(a): return ctypes.c_uint8.from_address(a).value
def check(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)

def read_str(addr):
    """A str object at addr, decoded with the table's unicode offsets."""
    check(u64(addr + L["object_type"]) == id(str), "str ob_type")
    n = u64(addr + L["unicode_length"])
    st = u32(addr + L["unicode_state"])
    kind = (st >> L["unicode_kind_shift"]) & 7
    compact = (st >> L["unicode_compact_shift"]) & 1
    ascii = (st >> L["unicode_ascii_shift"]) & 1
    check(compact == 1 and kind in (1, 2, 4), "unicode state 0x%x" % st)
    data = addr + (L["unicode_ascii_size"] if ascii else L["unicode_compact_size"])
    raw = ctypes.string_at(data, n * kind)
    return raw.decode({1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind])

def read_bytes(addr):
    check(u64(addr + L["object_type"]) == id(bytes), "bytes ob_type")
    n = u64(addr + L["bytes_size"])
    return ctypes.string_at(addr + L["bytes_sval"], n)

def my_tstate():
    interp = u64(rt + L["runtime_interpreters_head"])
    check(interp != 0, "no interpreter")
    t = u64(interp + L["interp_threads_head"])
    seen = 0
    while t and seen < 1000:
        if u64(t + L["tstate_thread_id"]) == threading.get_ident():
            check(u64(t + L["tstate_interp"]) == interp, "tstate->interp")
            if L["tstate_native_thread_id"] is not None:
                check(u64(t + L["tstate_native_thread_id"]) == threading.get_native_id(), "native_thread_id")
            return interp, t
        t = u64(t + L["tstate_next"])
        seen += 1
    raise SystemExit("FAIL: no thread state with this thread's id among %d" % seen)

def frame_codes(t):
    """Code object addresses from the leaf, shim frames skipped."""
    out = []
    if L["flags"] & 1:  # PYL_FRAME_OBJECT
        f = u64(t + L["tstate_frame"])
        while f and len(out) < 200:
            out.append((f, u64(f + L["frame_code"])))
            f = u64(f + L["frame_previous"])
        return out
    f = u64(t + L["tstate_frame"])
    if L["cframe_current_frame"] is not None:
        f = u64(f + L["cframe_current_frame"])
    while f and len(out) < 200:
        owner = u8(f + L["frame_owner"])
        code = u64(f + L["frame_code"])
        if L["flags"] & 16:  # PYL_CODE_TAGGED
            code &= ~3
        if L["owner_first_skipped"] == 0xff or owner < L["owner_first_skipped"]:
            out.append((f, code))
        f = u64(f + L["frame_previous"])
    return out

def check_code(code_addr, co):
    check(u64(code_addr + L["object_type"]) == id(type(co)), "code ob_type")
    check(read_str(u64(code_addr + L["code_name"])) == co.co_name, "co_name")
    check(read_str(u64(code_addr + L["code_filename"])) == co.co_filename, "co_filename")
    if L["code_qualname"] is not None:
        check(read_str(u64(code_addr + L["code_qualname"])) == co.co_qualname, "co_qualname")
    check(i32(code_addr + L["code_firstlineno"]) == co.co_firstlineno, "co_firstlineno")
    lt = co.co_lnotab if minor < 10 else co.co_linetable
    check(read_bytes(u64(code_addr + L["code_linetable"])) == lt, "line table")
    if L["code_firsttraceable"] is not None:
        ft = i32(code_addr + L["code_firsttraceable"])
        check(0 <= ft < len(co.co_code) // 2, "_co_firsttraceable %d" % ft)

def walk(expect_leaf_line):
    interp, t = my_tstate()
    # The chain is read while u64() and frame_codes() run: they are its two
    # leaf frames; from there on it is walk()'s stack.
    chain = frame_codes(t)[2:]
    py = []
    f = sys._getframe()
    while f is not None:
        py.append(f)
        f = f.f_back
    check([c for _, c in chain] == [id(f.f_code) for f in py],
          "frame chain %s != %s" % ([hex(c) for _, c in chain], [hex(id(f.f_code)) for f in py]))
    for (fa, ca), pf in zip(chain, py):
        check_code(ca, pf.f_code)
    # The caller's instruction position (it is suspended in the call to
    # walk(), whose own position moved on) lies on the line of that call.
    fa, ca = chain[1]
    caller = py[1]
    if L["flags"] & 1:  # f_lasti: bytes (3.8, 3.9), code units (3.10)
        lasti = i32(fa + L["frame_instr"])
        check(lasti * (1 if L["flags"] & 2 else 2) == caller.f_lasti,
              "f_lasti %d vs %d" % (lasti, caller.f_lasti))
    else:
        ip = u64(fa + L["frame_instr"])
        base = ca + L["code_code_adaptive"]
        check(base <= ip < base + len(caller.f_code.co_code) + 2, "instr pointer outside the code")
        # 3.11/3.12 prev_instr: the CALL being executed; 3.13+ instr_ptr:
        # that CALL or the unit after it (its last inline cache entry).
        off = ip - base
        lines = set(l for s, e, l in caller.f_code.co_lines() if s <= off < e or s <= off - 2 < e)
        check(expect_leaf_line in lines, "caller line %s, want %d" % (lines, expect_leaf_line))
    # GIL: this thread holds it.
    if L["runtime_gilstate_tstate_current"] is not None:
        check(u64(rt + L["runtime_gilstate_tstate_current"]) == t, "gilstate.tstate_current")
    if L.get("runtime_ceval_gil") is not None:  # 3.8-3.11: the GIL state in _PyRuntime
        gil = rt + L["runtime_ceval_gil"]
        check(i32(gil + L["gil_locked"]) == 1, "_PyRuntime.ceval.gil.locked")
        check(u64(gil + L["gil_last_holder"]) == t, "_PyRuntime.ceval.gil.last_holder")
    if L["interp_gil"] is not None:
        gil = u64(interp + L["interp_gil"])
        check(i32(gil + L["gil_locked"]) == 1, "gil locked")
        check(u64(gil + L["gil_last_holder"]) == t, "gil last_holder")
    return len(chain)

class Klass:
    def méthode_ü(self):          # latin-1 qualname: compact, not ASCII
        return self.метод()
    def метод(self):              # 2-byte kind
        return 函数_𠀀()

def 函数_𠀀():                    # 4-byte kind (U+20000)
    return walk(sys._getframe().f_lineno)

def run():
    n = Klass().méthode_ü()
    res = {}
    def thread_body():
        res["n"] = Klass().méthode_ü()
    th = threading.Thread(target=thread_body)
    th.start()
    th.join()
    check(res.get("n", 0) >= 3, "walk in a second thread")
    print("ok frames=%d %s" % (n, sys.version.split()[0]))

run()
'''


@params(ALL)
def test_live_walk(name):
    argv = interp_argv(name)
    v = version_hex(argv)
    table = parse_table()
    if v not in table:
        raise AssertionError("0x%08x (%s) not in the table" % (v, name))
    with tempfile.NamedTemporaryFile("w", suffix=".py", encoding="utf-8") as f:
        f.write(WALKER)
        f.flush()
        p = subprocess.run(argv + [f.name, json.dumps(table[v])], capture_output=True, text=True,
                           timeout=120)
    assert p.returncode == 0 and p.stdout.startswith("ok"), "%s: exit %d\n%s%s" % (
        name, p.returncode, p.stdout, p.stderr[-3000:])
