#!/usr/bin/env python3
"""Seed corpora for the fuzz targets in tests/fuzz/ (see each fuzz_*.c).

Usage: tests/fuzz/seeds.py OUTDIR
Writes OUTDIR/<target>/seed-* for every target, from what this machine has:
  pyline   real line tables of every installed interpreter (pyenv 3.8+,
           python3), plus a few hand-made ones
  pystr    str headers of a CPython 3.12-like layout, every kind
  folded   folded lines: plain, escaped, differential, CRLF, malformed
  elfsym   the seed ELF files the Makefile builds (build/fuzz/seed_elf*)
           and /bin/true
  layouts  the head of .PyRuntime (_Py_DebugOffsets) of every 3.13+
           interpreter found (pyenv, build/sid)
  core     small x86_64 ELF cores synthesized here (NT_PRSTATUS,
           NT_PRPSINFO, NT_AUXV, NT_FILE, PT_LOADs): one naming no real file,
           and ones mapping a libpython found here (pyenv), so the lookup
           reaches the version and the layout
  cfi      the .eh_frame sections of the seed ELF files and /bin/true, and
           hand-written CFA instruction sequences
  unwtab   the seed ELF files, their .eh_frame sections and a hand-made
           .debug_frame
  pprof    profile.proto messages encoded here: pyperf's shape (CPU and
           off-CPU, Python, native, kernel and pseudo frames, sample
           labels), another tool's (inlined lines, an unsymbolized
           location, several sample types), and gzip-compressed copies
Existing files are overwritten; nothing else in OUTDIR is touched.
"""
import glob
import hashlib
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")


def put(outdir, target, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def interpreters():
    """(minor, argv) of the interpreters installed here."""
    found = {}
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for minor in range(8, 16):
        for d in sorted(glob.glob(os.path.join(root, "versions", "3.%d.*" % minor)), reverse=True):
            exe = os.path.join(d, "bin", "python3.%d" % minor)
            if os.access(exe, os.X_OK):
                found[minor] = exe
                break
    found.setdefault(sys.version_info[1], sys.executable)
    return sorted(found.items())


# Prints firstlineno, a few offsets and the table of every code object in
# a varied piece of source, one "first offs... hex" line each.
TABLES = r'''
import sys
src = """
def f(a, b=1, *c, **d):
    x = [i * 2 for i in range(10)
         if i % 3]
    try:
        y = {k: v for k, v in d.items()}
    except KeyError as e:
        raise ValueError("no") from e
    finally:
        pass
    while a:
        a -= 1
        if a > 100000:
            break
    return lambda q: (q,
                      x,
                      y)

class C:
    def m(self):
        async def g():
            async with self as s:
                await s
        return g
""" + "\n" * 300 + "def far():\n    return 1\n"
def walk(co):
    yield co
    for c in co.co_consts:
        if hasattr(c, "co_code"):
            yield from walk(c)
for co in walk(compile(src, "seed.py", "exec")):
    t = co.co_linetable if sys.version_info >= (3, 10) else co.co_lnotab
    n = len(co.co_code)
    print(co.co_firstlineno, 0, n // 2 & ~1, max(n - 2, 0), t.hex())
'''


def pyline_seeds(outdir):
    for minor, exe in interpreters():
        fmt = 0 if minor < 10 else 1 if minor == 10 else 2
        try:
            out = subprocess.run([exe, "-c", TABLES], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            parts = line.split()
            if len(parts) != 5:
                continue
            first, offs, table = int(parts[0]), parts[1:4], bytes.fromhex(parts[4])
            for off in offs:
                put(outdir, "pyline", bytes([fmt]) + struct.pack("<ii", first, int(off)) + table)
    # Hand-made: lnotab with a big jump, 3.10 with "no line", 3.11 long form.
    put(outdir, "pyline", bytes([0]) + struct.pack("<ii", 1, 8) + bytes([0, 1, 4, 127, 0, 127, 2, 0x80]))
    put(outdir, "pyline", bytes([1]) + struct.pack("<ii", 10, 4) + bytes([2, 0, 2, 0x80, 4, 3]))
    put(outdir, "pyline", bytes([2]) + struct.pack("<ii", 5, 2) +
        bytes([0xF0 | 1, 0x2A, 0x00, 0x02, 0x04, 0x80 | (10 << 3), 0, 4, 0xF8]))


def pystr_seeds(outdir):
    # CPython 3.12 (x86_64): length at 16, state at 32, PyASCIIObject 40
    # bytes, PyCompactUnicodeObject 56; state: interned 2 bits, kind 3,
    # compact 1, ascii 1.
    layout = struct.pack("<HHHHBBB", 32, 16, 40, 56, 2, 5, 6)

    def header(text, kind, ascii):
        state = (kind << 2) | (1 << 5) | (int(ascii) << 6)
        h = bytearray(56 if not ascii else 40)
        struct.pack_into("<q", h, 16, len(text))
        struct.pack_into("<I", h, 32, state)
        enc = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
        return bytes(h) + text.encode(enc, "surrogatepass") + b"\0" * kind

    for text, kind, ascii in (("main", 1, True), ("caf\xe9", 1, False), ("\u20ac\ud800x", 2, False),
                              ("\U0001f600\0z", 4, False), ("", 1, True)):
        h = header(text, kind, ascii)
        for cap in (0, 3, 8, 200):
            put(outdir, "pystr", bytes([0]) + layout + bytes([cap]) + h)
        for idx in range(12):
            put(outdir, "pystr", bytes([1, idx, 200]) + h)
        data = h[56 if not ascii else 40:]
        for nchars in (len(text), len(text) + 2):
            put(outdir, "pystr", bytes([2, kind]) + struct.pack("<qH", nchars, 6) + data)


FOLDED = [
    b"main (app.py:10);work (app.py:4);parse (json/decoder.py:353) 1234\n",
    b"a;b;c 1\na;b 2\na;b;d 3\nx 18446744073709551615\n",
    b"esc\\\\aped;semi\\;colon;nl\\n cr\\r tab\\t;hex\\x01\\x7f\\x41 5\n",
    b"diff;stack 10 20\r\nother 1\t2\r\n",
    b"\n   \n\t\nno count\n;;empty;; 3\ntrailing space  4\n1.5 2\na\\x00b 1\n",
    b"process 7;thread main (7);[truncated: deeper than 1024 frames];f (a.py:1) 9\n",
    "unicode \u00e9\u20ac\U0001f600;invalid \xff\xfe 2\n".encode("utf-8", "surrogateescape"),
    b"a;b 99999999999999999999\nlast line without newline 7",
]


def folded_seeds(outdir):
    for text in FOLDED:
        put(outdir, "folded", text)


def elfsym_seeds(outdir):
    for path in sorted(glob.glob(os.path.join(BUILD, "fuzz", "seed_elf*"))) + ["/bin/true"]:
        if os.path.isfile(path) and not path.endswith((".c", ".o")):
            d = os.path.join(outdir, "elfsym")
            os.makedirs(d, exist_ok=True)
            shutil.copyfile(path, os.path.join(d, "seed-" + os.path.basename(path)))


def section(path, name):
    """Bytes of an ELF64 little-endian file's section, or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if not shoff or shstrndx >= shnum:
        return None

    def shdr(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)

    stroff = shdr(shstrndx)[4]
    for i in range(shnum):
        h = shdr(i)
        end = data.index(b"\0", stroff + h[0])
        if data[stroff + h[0]:end].decode("latin-1") == name:
            return data[h[4]:h[4] + h[5]] if h[1] != 8 else None  # not SHT_NOBITS
    return None


def layouts_seeds(outdir):
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    files = sorted(glob.glob(os.path.join(root, "versions", "3.1[3-9]*", "lib", "libpython3.*.so.1.0")))
    files += sorted(glob.glob(os.path.join(BUILD, "sid", "root", "usr", "bin", "python3.1[3-9]")))
    for path in files:
        sec = section(path, ".PyRuntime")
        if sec and sec[:8] == b"xdebugpy":
            head = sec[:2048]
            put(outdir, "layouts", bytes([6]) + head)  # as is, a full error buffer
            put(outdir, "layouts", bytes([7]) + head)  # head rewritten per table entry
    # Without a real one: a cookie and zeros, for each mode.
    for mode in range(8):
        put(outdir, "layouts", bytes([mode]) + b"xdebugpy" + bytes(600))


# ---------------------------------------------------------------- core
# x86_64 Linux core files as fs/binfmt_elf.c writes them, reduced: one
# PT_NOTE, then one PT_LOAD per mapping (anonymous memory dumped, file
# mappings left out: p_filesz 0).
PAGE = 4096
PF_X, PF_W, PF_R = 1, 2, 4


def _note(ntype, desc):
    name = b"CORE\0"
    pad = lambda b: b + bytes(-len(b) % 4)
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def _prstatus(tid, sig, rip, rsp, fs_base):
    regs = [0] * 27
    regs[16], regs[19], regs[21], regs[4] = rip, rsp, fs_base, rsp + 64  # RIP, RSP, FS_BASE, RBP
    head = struct.pack("<iii h2x QQ iiii", sig, 0, 0, sig, 0, 0, tid, 1, tid, tid) + bytes(64)
    return head + struct.pack("<27Q", *regs) + struct.pack("<i4x", 0)   # pr_fpvalid


def _prpsinfo(pid, fname, args):
    return (struct.pack("<bbbb4xQIIiiii", 0, ord("R"), 0, 0, 0, 0, 0, pid, 1, pid, pid)
            + fname.encode()[:15].ljust(16, b"\0") + args.encode()[:79].ljust(80, b"\0"))


def _nt_file(maps):
    """maps: (start, end, file offset, path)."""
    body = struct.pack("<QQ", len(maps), PAGE)
    body += b"".join(struct.pack("<QQQ", s, e, off // PAGE) for s, e, off, _ in maps)
    return body + b"".join(p.encode() + b"\0" for _, _, _, p in maps)


def synth_core(maps, threads, entry=0):
    """maps: (start, end, file offset, path or None, flags, data); data is
    what the core holds for it (b"" for a file mapping left out).
    threads: (tid, signal, rip, rsp, fs_base); the first one dumped."""
    notes = b"".join(_note(1, _prstatus(*t)) for t in threads)
    notes += _note(3, _prpsinfo(threads[0][0], "python3", "python3 -c crash()"))
    notes += _note(6, struct.pack("<4Q", 9, entry, 0, 0))  # AT_ENTRY, AT_NULL
    notes += _note(0x46494C45, _nt_file([(s, e, off, p) for s, e, off, p, _, _ in maps if p]))
    nph = 1 + len(maps)
    off = 64 + 56 * nph
    phdrs = struct.pack("<IIQQQQQQ", 4, 0, off, 0, 0, len(notes), 0, 4)
    body = notes
    for s, e, _, _, flags, data in maps:
        off = 64 + 56 * nph + len(body)
        phdrs += struct.pack("<IIQQQQQQ", 1, flags, off, s, 0, len(data), e - s, PAGE)
        body += data
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, nph, 64, 0, 0)
    return ehdr + phdrs + body


def _elf_loads(path):
    """(vaddr, memsz, offset, flags) of an ELF64 file's PT_LOADs, or []."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:
                return []
            phoff, = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
    except OSError:
        return []
    loads = []
    for i in range(phnum):
        ptype, flags, off, vaddr, _, _, memsz, _ = struct.unpack_from("<IIQQQQQQ", ph, i * phentsize)
        if ptype == 1:
            loads.append((vaddr, memsz, off, flags))
    return loads


def core_seeds(outdir):
    stack = (0x7ffd00000000, 0x7ffd00002000)
    stack_data = bytes(range(256)) * 32
    anon = (stack[0], stack[1], 0, None, PF_R | PF_W, stack_data)
    threads = [(100, 11, 0x401000, stack[0] + 0x1000, 0x7f00000f0000),
               (101, 0, 0x401010, stack[0] + 0x1800, 0x7f00000f1000)]
    # No real file: the lookup finds nothing.
    maps = [(0x400000, 0x402000, 0, "/nonexistent/libpython3.12.so.1.0", PF_R | PF_X, b""), anon]
    put(outdir, "core", synth_core(maps, threads, entry=0x401000))
    put(outdir, "core", synth_core([anon], threads[:1]))
    # A libpython found here, mapped as the dynamic loader would: the
    # lookup opens it, reads the version and the layout from the file.
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    libs = sorted(glob.glob(os.path.join(root, "versions", "3.*", "lib", "libpython3.*.so.1.0")))
    picked = [p for p in libs if "3.12" in os.path.basename(p) or "3.13" in os.path.basename(p)][:2]
    for lib in picked:
        base = 0x7f1000000000
        maps = []
        for vaddr, memsz, off, flags in _elf_loads(lib):
            start = base + (vaddr & ~(PAGE - 1))
            end = base + ((vaddr + memsz + PAGE - 1) & ~(PAGE - 1))
            maps.append((start, end, off & ~(PAGE - 1), lib, flags, b""))
        if maps:
            put(outdir, "core", synth_core(maps + [anon], threads, entry=0x401000))
# CFA programs (DW_CFA_* bytes) for fuzz_cfi's odd modes: the x86_64
# prologue, state save/restore, expressions, every register rule kind.
CFA_PROGRAMS = [
    bytes([0x41, 0x0e, 16, 0x86, 2, 0x43, 0x0d, 6, 0x4d, 0x0c, 7, 8]),
    bytes([0x0e, 16, 0x0a, 0x44, 0x0e, 8, 0x41, 0x0b, 0xc6, 0x2e, 0x10]),
    bytes([0x0f, 2, 0x77, 8, 0x10, 6, 2, 0x40, 0x1c, 0x16, 3, 3, 0x08, 24, 0x1c]),
    bytes([0x05, 3, 3, 0x11, 12, 0x7e, 0x14, 13, 2, 0x15, 14, 0x7f, 0x09, 15, 6,
           0x07, 3, 0x08, 12, 0x06, 13, 0x2f, 14, 1, 0x12, 7, 0x7e, 0x13, 0x7f]),
    bytes([0x02, 1, 0x03, 1, 0, 0x04, 1, 0, 0, 0, 0x01, 0, 0, 0, 0, 0x0c, 6, 16]),
    bytes([0x0f, 12, 0x77, 0, 0x06, 0x12, 0x13, 0x23, 8, 0x14, 0x16, 0x1a, 0x92, 7, 0]),
]


def cfi_seeds(outdir):
    files = sorted(glob.glob(os.path.join(BUILD, "fuzz", "seed_elf*"))) + ["/bin/true"]
    for path in files:
        if not os.path.isfile(path) or path.endswith((".c", ".o")):
            continue
        sec = section(path, ".eh_frame")
        if sec:
            put(outdir, "cfi", bytes([0]) + sec)
            put(outdir, "cfi", bytes([0]) + sec[:4096])  # a smaller one to mutate
    for i, prog in enumerate(CFA_PROGRAMS):
        for mode in (1 + 2 * i, 9 + 2 * i):
            put(outdir, "cfi", bytes([mode]) + prog)


def debug_frame():
    """A .debug_frame: a version 4 CIE (CFA rsp+8, return address at CFA-8)
    and two FDEs, a push-rbp prologue and a plain function."""
    def entry(body):
        body += bytes(-len(body) % 4)
        return struct.pack("<I", len(body)) + body
    cie = entry(struct.pack("<I", 0xffffffff) + bytes([4, 0, 8, 0, 1, 0x78, 16, 0x0c, 7, 8, 0x90, 1]))
    prologue = bytes([0x41, 0x0e, 16, 0x86, 2, 0x43, 0x0d, 6, 0x4d, 0x0c, 7, 8])
    fdes = entry(struct.pack("<IQQ", 0, 0x401000, 0x40) + prologue)
    fdes += entry(struct.pack("<IQQ", 0, 0x401040, 0x10))
    return cie + fdes


def unwtab_seeds(outdir):
    for path in sorted(glob.glob(os.path.join(BUILD, "fuzz", "seed_elf*"))) + ["/bin/true"]:
        if not os.path.isfile(path) or path.endswith((".c", ".o")):
            continue
        with open(path, "rb") as f:
            put(outdir, "unwtab", bytes([3]) + f.read())
        sec = section(path, ".eh_frame")
        if sec:
            put(outdir, "unwtab", bytes([0]) + sec[:4096])
            put(outdir, "unwtab", bytes([2 + 4 * 16]) + sec[:256].ljust(256, b"\0") + debug_frame())
    put(outdir, "unwtab", bytes([1]) + debug_frame())


def _varint(v):
    out = bytearray()
    v &= (1 << 64) - 1
    while v >= 0x80:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _pb(field, value):
    """One field: an int as a varint, bytes as length-delimited, a list of
    ints packed."""
    if isinstance(value, int):
        return _varint(field << 3) + _varint(value)
    if isinstance(value, list):
        value = b"".join(_varint(v) for v in value)
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def _msg(*fields):
    return b"".join(_pb(f, v) for f, v in fields)


def _profile(strings, types, funcs, maps, locs, samples, period=10000000, extra=b""):
    ids = {s: i for i, s in enumerate(strings)}
    out = b"".join(_pb(1, _msg((1, ids[t]), (2, ids[u]))) for t, u in types)
    for locs_, values, labels in samples:
        lab = b"".join(_pb(3, _msg((1, ids[k]), (2, ids[v]) if isinstance(v, str) else (3, v)))
                       for k, v in labels)
        out += _pb(2, _msg((1, locs_), (2, values)) + lab)
    for mid, fname, build in maps:
        out += _pb(3, _msg((1, mid), (5, ids[fname]), (6, ids[build]), (7, 1)))
    for lid, mid, addr, lines in locs:
        body = _msg((1, lid), (2, mid)) + (_pb(3, addr) if addr else b"")
        body += b"".join(_pb(4, _msg((1, f), (2, ln))) for f, ln in lines)
        out += _pb(4, body)
    for fid, name, fname, start in funcs:
        out += _pb(5, _msg((1, fid), (2, ids[name]), (4, ids[fname]), (5, start)))
    out += b"".join(_pb(6, s.encode()) for s in strings)
    out += _pb(9, 1796180645000000000) + _pb(10, 60000000000) + _pb(12, period)
    return out + extra


def pprof_seeds(outdir):
    import gzip
    s = ["", "samples", "count", "cpu", "nanoseconds", "[python]", "[kernel.kallsyms]", "main", "/app/x.py",
         "work", "deflate", "/usr/lib/libz.so.1", "abcd", "vfs_read", "[gc]", "pid", "tid", "process",
         "python3", "thread", "MainThread", "container", "c0ffee", "off_cpu", "libz.so.1+0x10"]
    funcs = [(1, "main", "/app/x.py", 10), (2, "work", "/app/x.py", 20), (3, "deflate", "/usr/lib/libz.so.1", 0),
             (4, "vfs_read", "", 0), (5, "[gc]", "", 0), (6, "libz.so.1+0x10", "/usr/lib/libz.so.1", 0)]
    maps = [(1, "[python]", ""), (2, "/usr/lib/libz.so.1", "abcd"), (3, "[kernel.kallsyms]", "")]
    locs = [(1, 1, 0, [(1, 12)]), (2, 1, 0, [(2, 22)]), (3, 2, 0x4a10, [(3, 0)]), (4, 3, 0x81000000, [(4, 0)]),
            (5, 1, 0, [(5, 0)]), (6, 2, 0x10, [(6, 0)])]
    labels = [("pid", 42), ("tid", 43), ("process", "python3"), ("thread", "MainThread"), ("container", "c0ffee")]
    samples = [([2, 1], [7, 70000000], labels), ([4, 3, 6, 1], [3, 30000000], labels), ([5, 2, 1], [1, 10000000], [])]
    cpu = _profile(s, [("samples", "count"), ("cpu", "nanoseconds")], funcs, maps, locs, samples)
    off = _profile(s, [("off_cpu", "nanoseconds")], funcs, maps, locs,
                   [(l, [v[1]], lab) for l, v, lab in samples], period=1000)
    # another tool's: inlined lines in one location, one without lines or mapping
    go = ["", "alloc_space", "bytes", "inuse_objects", "count", "main.f", "main.g", "/src/m.go", "/bin/app", ""]
    go_prof = _profile(go[:-1], [("alloc_space", "bytes"), ("inuse_objects", "count")],
                       [(1, "main.f", "/src/m.go", 3), (2, "main.g", "/src/m.go", 9)], [(1, "/bin/app", "")],
                       [(1, 1, 0x401000, [(1, 5), (2, 11)]), (2, 0, 0x402000, [])],
                       [([1, 2], [4096, 2], []), ([2], [10, 1], [])], extra=_pb(14, 3))
    for data in (cpu, off, go_prof):
        put(outdir, "pprof", data)
        put(outdir, "pprof", gzip.compress(data, mtime=0))
    put(outdir, "pprof", b"")
    put(outdir, "pprof", b"a;b 3\nc 1\n")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    pyline_seeds(outdir)
    pystr_seeds(outdir)
    folded_seeds(outdir)
    elfsym_seeds(outdir)
    layouts_seeds(outdir)
    core_seeds(outdir)
    cfi_seeds(outdir)
    unwtab_seeds(outdir)
    pprof_seeds(outdir)


if __name__ == "__main__":
    main()
