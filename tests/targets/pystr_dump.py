"""Dump str objects as they sit in this interpreter's memory.

For tests/unit/test_pystr.c --check: measures the PyASCIIObject layout of
the running interpreter from its own strings (no headers needed), then
prints each test string's bytes at id(s) with the UTF-8 that
pystr_to_utf8() must produce for it, at several buffer sizes and read
lengths:

    V <sys.hexversion in hex>
    L <state_off> <length_off> <ascii_size> <compact_size> <kind_shift> <compact_shift> <ascii_shift>
    S <label> ok <kind> <length> <ascii> <memory hex> <cap>,<chars read>,<utf8 hex> ...
    S <label> bad <memory hex>

Self-checks (the characters found at the measured offset are the string's
own) go to stderr as "TRUTH ..." and make the exit status 3.
"""
import ctypes
import struct
import sys
import warnings

errors = []


def mem(s, n):
    return ctypes.string_at(id(s), n)


def fresh(s):
    # A new object with the same characters: not interned, no cached hash or
    # UTF-8 (concatenation builds a new compact string; the slice drops the
    # extra character again).
    t = (s + "\x00")[:-1]
    assert t == s
    return t


def kind_of(s):
    m = max(map(ord, s)) if s else 0
    return 1 if m < 256 else 2 if m < 65536 else 4


# ---------------------------------------------------------------- layout

def measure_layout():
    # Several strings of each kind and of varied sizes: the state word's
    # unused bits are not cleared by CPython (they hold whatever the
    # allocator left), so only many samples single out the real bits.
    samples = []
    for i in range(1, 25):
        samples.append((fresh("measure_ascii_" * i), 1, True))
        samples.append((fresh("mesur\xe9_latin1_" * i), 1, False))
        samples.append((fresh("\u6f22\u5b57_ucs2_" * i), 2, False))
        samples.append((fresh("\U0001f600_ucs4_" * i), 4, False))
    a = samples[0][0]

    # sizeof(PyASCIIObject) / sizeof(PyCompactUnicodeObject) from getsizeof:
    # header + (length + 1) characters for fresh strings (no UTF-8 cache).
    ascii_size = sys.getsizeof(a) - (len(a) + 1)
    compact = {sys.getsizeof(s) - (len(s) + 1) * k for s, k, asc in samples if not asc}
    if len(compact) != 1:
        errors.append("compact header sizes disagree: %r" % sorted(compact))
    compact_size = min(compact)

    # length: the 8-byte word equal to len() in every sample.
    lens = [fresh("x" * 70001), fresh("\xe9" * 333), fresh("\u6f22" * 11)] + [s for s, _, _ in samples]
    offs = [o for o in range(0, ascii_size - 7, 8)
            if all(struct.unpack_from("<q", mem(s, ascii_size), o)[0] == len(s) for s in lens)]
    if len(offs) != 1:
        errors.append("length offset not unique: %r" % offs)
    length_off = offs[0]

    # state: the 32-bit word and shift where 3 bits read each sample's kind.
    cands = []
    for o in range(0, ascii_size - 3, 4):
        if length_off <= o < length_off + 8:
            continue
        words = [struct.unpack_from("<I", mem(s, ascii_size), o)[0] for s, _, _ in samples]
        for sh in range(0, 30):
            if all((w >> sh) & 7 == k for w, (_, k, _) in zip(words, samples)):
                cands.append((o, sh, words))
    if len(cands) != 1:
        errors.append("state word / kind shift not unique: %r" % [(o, sh) for o, sh, _ in cands])
    state_off, kind_shift, words = cands[0]
    kind_bits = set(range(kind_shift, kind_shift + 3))

    # ascii: the one bit set in the ASCII sample only.
    asc = [b for b in range(32) if b not in kind_bits and
           all((w >> b) & 1 == int(is_ascii) for w, (_, _, is_ascii) in zip(words, samples))]
    if len(asc) != 1:
        errors.append("ascii bit not unique: %r" % asc)

    # compact: set in all of these, clear in a str subclass instance (whose
    # characters live in a separate block).
    class Sub(str):
        pass
    subs = [Sub(s) for s, _, _ in samples]
    wsubs = [struct.unpack_from("<I", mem(sub, ascii_size), state_off)[0] for sub in subs]
    comp = [b for b in range(32) if b not in kind_bits and b not in asc and
            all((w >> b) & 1 for w in words) and not any((w >> b) & 1 for w in wsubs)]
    if len(comp) != 1:
        errors.append("compact bit not unique: %r" % comp)
    return (state_off, length_off, ascii_size, compact_size, kind_shift, comp[0], asc[0])


# ---------------------------------------------------------------- strings

def naive_函数():  # a non-ASCII identifier: co_name is a compact UCS2 str
    pass


def strings():
    code = naive_函数.__code__
    out = [
        ("empty", ""),
        ("ascii", fresh("hello_world")),
        ("interned", sys.intern(fresh("interned_name"))),
        ("co_name", code.co_name),
        ("co_filename", code.co_filename),
        ("co_qualname", getattr(code, "co_qualname", code.co_name)),
        ("dunder_init", "__init__"),
        ("single_ascii", "a"),
        ("latin1", fresh("caf\xe9")),
        ("latin1_edges", fresh("\x80\xff\xa0")),
        ("latin1_long", fresh("\xff" * 40)),
        ("ucs2", fresh("\u6f22\u5b57")),
        ("ucs2_mixed", fresh("\xe9\u6f22a")),
        ("ucs2_edges", fresh("\u07ff\u0800\uffff\u0100")),
        ("ucs2_lone_surrogates", fresh("a\ud800b\udfff")),
        ("ucs2_surrogate_pair_chars", fresh("\ud83d\ude00")),
        ("ucs4", fresh("\U0001f600")),
        ("ucs4_mixed", fresh("a\U0001f600\xe9\u6f22")),
        ("ucs4_edges", fresh("\U00010000\U0010ffff\x7f")),
        ("ucs4_lone_surrogate", fresh("\U0001f600\udfff")),
        ("nul_ascii", fresh("a\x00b")),
        ("nul_only", "\x00"),
        ("nul_latin1", fresh("\xe9\x00")),
        ("nul_ucs2", fresh("\u6f22\x00")),
        ("nul_ucs4", fresh("\U0001f600\x00")),
        ("long_ascii", fresh("x" * 5000)),
        ("long_ucs2", fresh("\u6f22" * 3000 + "z")),
        ("long_ucs4", fresh("\U0001f600" * 1000)),
    ]
    return out


def expected(s, cap, nread):
    """What pystr_to_utf8 must give: NUL and surrogates as U+FFFD; cut on a
    character boundary with "..." when the read or the buffer is short."""
    enc = [("\ufffd" if c == "\x00" or 0xd800 <= ord(c) <= 0xdfff else c).encode("utf-8")
           for c in s[:nread]]
    room = cap - 1
    total = sum(map(len, enc))
    short_read = nread < len(s)
    if total <= room and (not short_read or total + 3 <= room):
        return b"".join(enc) + (b"..." if short_read else b"")
    limit = room - 3 if room >= 3 else 0
    outb = b""
    for e in enc:
        if len(outb) + len(e) > limit:
            break
        outb += e
    return outb + b"." * min(3, room - len(outb))


def cases(s):
    full = expected(s, 1 << 30, len(s))
    n = len(s)
    cs = {(len(full) + 1, n), (len(full) + 100, n), (len(full) + 3, max(n - 1, 0))}
    for cap in range(1, min(len(full) + 5, 24)):
        cs.add((cap, n))
    for r in {0, 1, n // 2, n - 1}:
        if 0 <= r <= n:
            cs.add((len(full) + 8, r))
            cs.add((8, r))
    return sorted(cs)


def main():
    layout = measure_layout()
    state_off, length_off, ascii_size, compact_size, kind_shift, compact_shift, ascii_shift = layout
    lines = ["V %x" % sys.hexversion, "L %d %d %d %d %d %d %d" % layout]
    keep = []
    for label, s in strings():
        keep.append(s)
        k = kind_of(s)
        is_ascii = all(ord(c) < 128 for c in s)
        data_off = ascii_size if is_ascii else compact_size
        m = mem(s, data_off + (len(s) + 1) * k)
        # Self-check: the characters are where the measured layout says.
        codec = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[k]
        raw = s.encode(codec, "surrogatepass") if k > 1 else s.encode(codec)
        if m[data_off:data_off + len(raw)] != raw or m[data_off + len(raw):] != b"\x00" * k:
            errors.append("%s: characters not at offset %d" % (label, data_off))
        recs = " ".join("%d,%d,%s" % (cap, r, expected(s, cap, r).hex() or "-") for cap, r in cases(s))
        lines.append("S %s ok %d %d %d %s %s" % (label, k, len(s), int(is_ascii), m.hex(), recs))

    # Strings whose characters are not inline: pystr must refuse them.
    class Sub(str):
        pass
    bad = [("str_subclass", Sub("abc")), ("str_subclass_ucs2", Sub("\u6f22\u5b57"))]
    if sys.version_info < (3, 12) and hasattr(ctypes.pythonapi, "PyUnicode_FromUnicode"):
        # 3.8-3.11 legacy string, not ready: kind 0 (wchar_t), not compact.
        warnings.simplefilter("ignore", DeprecationWarning)
        f = ctypes.pythonapi.PyUnicode_FromUnicode
        f.restype = ctypes.py_object
        f.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
        bad.append(("legacy_not_ready", f(None, 3)))
    for label, s in bad:
        keep.append(s)
        lines.append("S %s bad %s" % (label, mem(s, compact_size).hex()))

    sys.stdout.write("\n".join(lines) + "\n")
    for e in errors:
        sys.stderr.write("TRUTH %s\n" % e)
    return 3 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
