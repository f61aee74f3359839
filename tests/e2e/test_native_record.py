"""pyperf record --native (#18): native frames merged with the Python ones.

Folded stacks are root first. Frame labels (see user/output/frametab.c):
  Python  "qualname (path/file.py:LINE)"
  native  "symbol (basename)" or "basename+0xHEX" (no symbol)
  kernel  "symbol [kernel]" (--kernel only)
  marks   "[gc]" (right after the innermost Python frame), "[unknown native]"
          (where a native unwind stopped), "[truncated...]"
Intermediate C frames differ between versions and builds, so the tests look
for the frames that matter and check their order, not whole lines.

Targets (tests/targets): native_work.py (zlib / sha256 / sorted(key=)),
native_cb/ (a C extension calling Python back, built here with the
interpreter's own Python.h), gc_heavy.py, embed/embed.c (a C program linking
libpython, built here).
"""
import json
import os
import random
import re
import shutil
import struct
import subprocess
import tempfile

import harness
from harness import Skip, params

# "debian3.11" is Debian's static 3.11. pyenv's 3.11 is left out to keep CI
# under its time: its shared libpython is the kind 3.12 and 3.13 test, and
# its entry marks (is_entry) are those of the static 3.11.
VERSIONS = ["debian3.11", "3.12", "3.13", "3.14", "3.15"]
# A mode refused or accepted is the same code on every version: two kinds.
MODE_VERSIONS = ["debian3.11", "3.14"]
HZ = 499
SECONDS = 2
CUT_NOTE = "native stacks cut short"
UNKNOWN = "[unknown native]"
GC = "[gc]"

# ------------------------------------------------------------------ frames

_LABEL = re.compile(r"^(.*) \((.*)\)$")
_NOSYM = re.compile(r"^\S+\+0x[0-9a-f]+$")


def kind(label):
    """'python', 'native', 'kernel' or 'mark' for a folded frame label."""
    if label.endswith(" [kernel]"):
        return "kernel"
    if label.startswith("["):
        return "mark"
    m = _LABEL.match(label)
    if m:
        inside = m.group(2)
        # Python frames name a path (or "<string>") with a line; native
        # frames name a file's basename.
        if re.search(r":-?\d+$", inside) or "/" in inside or inside.startswith("<"):
            return "python"
        return "native"
    if _NOSYM.match(label):
        return "native"
    return "other"


def is_py(label, func, path, line=None):
    """label is the Python frame func in path (at line, if given)."""
    want = "%s (%s:" % (func, path)
    if not label.startswith(want):
        return False
    return line is None or label == "%s%d)" % (want, line)


def index_of(frames, pred, start=0):
    for i in range(start, len(frames)):
        if pred(frames[i]):
            return i
    return -1


def python_indices(frames):
    return [i for i, f in enumerate(frames) if kind(f) == "python"]


marker_lines = harness.marker_lines

def show(stacks, pred=lambda fr: True, n=4):
    """A few of the heaviest matching stacks, for failure messages."""
    rows = sorted((s for s in stacks if pred(s[0])), key=lambda s: -s[1])[:n]
    return "\n".join("  %d  %s" % (c, ";".join(fr)) for fr, c in rows)


def samples(stacks, pred=lambda fr: True):
    return sum(c for fr, c in stacks if pred(fr))

# ------------------------------------------------------------------ record


def record(pid, seconds=SECONDS, native=True, extra=(), min_samples=200, tries=2):
    """pyperf record [--native] -p pid; records again (at most tries times)
    while fewer than min_samples came in (a loaded machine gives the target
    little CPU), each run checked on its own. Returns (stacks, the runs'
    stderr)."""
    merged, errs = {}, []
    for _ in range(tries):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.folded")
            args = ["record"] + (["--native"] if native else []) + [
                "-p", str(pid), "-d", str(seconds), "-F", str(HZ), "-f", "folded", "-o", out] + list(extra)
            p = harness.run_pyperf(args)
            with open(out) as f:
                stacks = harness.parse_folded(f.read())
        check_well_formed(stacks, p.stderr, native)
        errs.append(p.stderr)
        for fr, c in stacks:
            merged[tuple(fr)] = merged.get(tuple(fr), 0) + c
        if sum(merged.values()) >= min_samples:
            break
    return [(list(k), v) for k, v in merged.items()], "".join(errs)


def check_well_formed(stacks, err, native):
    """What holds for every profile: marks at most once per stack, the
    cut-short summary whenever a stack was cut, no native frame without
    --native."""
    assert "AddressSanitizer" not in err and "runtime error" not in err, err[-3000:]
    for fr, _ in stacks:
        assert all(fr), "empty frame label in %r" % (fr,)
        assert fr.count(GC) <= 1, "two [gc] marks: %s" % ";".join(fr)
        assert fr.count(UNKNOWN) <= 1, "two %s marks: %s" % (UNKNOWN, ";".join(fr))
        if not native:
            assert not any(kind(f) == "native" for f in fr), "native frame without --native: %s" % ";".join(fr)
    if any(UNKNOWN in fr for fr, _ in stacks):
        assert CUT_NOTE in err, "stacks end in %s but stderr has no '%s' line:\n%s" % (UNKNOWN, CUT_NOTE, err)


def cut(fr):
    return UNKNOWN in fr

# ------------------------------------------------------------------ builds


def interp_info(argv):
    """sysconfig facts of the interpreter argv runs."""
    code = ("import sysconfig, json; v = sysconfig.get_config_var; print(json.dumps({"
            "'include': sysconfig.get_paths()['include'], 'ext': v('EXT_SUFFIX'), 'libdir': v('LIBDIR'),"
            "'libpl': v('LIBPL'), 'ldversion': v('LDVERSION'), 'shared': v('Py_ENABLE_SHARED'),"
            "'libs': v('LIBS'), 'syslibs': v('SYSLIBS'), 'modlibs': v('MODLIBS'),"
            "'linkforshared': v('LINKFORSHARED')}))")
    p = subprocess.run(argv + ["-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "cannot query sysconfig of %s: %s" % (argv, p.stderr[-1000:])
    return json.loads(p.stdout)


def need_headers(version, info):
    h = os.path.join(info["include"], "Python.h")
    if not os.path.exists(h):
        how = ("tests/helpers/sid-python.sh fetch --refresh" if version in harness.SID_VERSIONS
               else "Debian: apt-get install python%s-dev" % version.replace("debian", ""))
        raise Skip("Python %s has no headers (%s missing; %s)" % (version, h, how))


def include_flags(info):
    # Debian's Python.h includes <x86_64-linux-gnu/python3.X/pyconfig.h>
    # from the include root (the unpacked sid tree is not on gcc's path).
    return ["-I" + info["include"], "-I" + os.path.dirname(info["include"])]


def gcc(args):
    p = subprocess.run(["gcc"] + args, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "gcc %s failed:\n%s" % (" ".join(args), p.stderr[-3000:])


def build_cbmod(version, argv, outdir):
    """Builds tests/targets/native_cb/cbmod.c for this interpreter into
    outdir; returns the module's path."""
    info = interp_info(argv)
    need_headers(version, info)
    so = os.path.join(outdir, "cbmod" + info["ext"])
    # Plain -O2: unwinding must work from .eh_frame, no frame pointers.
    gcc(["-O2", "-g0", "-shared", "-fPIC"] + include_flags(info)
        + [os.path.join(harness.TARGETS, "native_cb", "cbmod.c"), "-o", so])
    return so


def sid_root(info):
    """The unpacked sid tree: <root>/usr/include/python3.X."""
    return os.path.dirname(os.path.dirname(os.path.dirname(info["include"])))


def sid_loader(root):
    for d in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib64", "lib64"):
        path = os.path.join(root, d, "ld-linux-x86-64.so.2")
        if os.path.exists(path):
            return path
    raise Skip("no unpacked ld-linux-x86-64.so.2 under %s" % root)


def build_embed(version, argv, outdir):
    """Builds tests/targets/embed/embed.c against this version's libpython
    (pyenv: shared, rpath set; debian3.11: the static libpython3.11-pic.a;
    sid: shared, run with sid's loader). Returns (argv, env) to run it."""
    info = interp_info(argv)
    need_headers(version, info)
    src = os.path.join(harness.TARGETS, "embed", "embed.c")
    exe = os.path.join(outdir, "embed")  # frames read "main (embed)"
    flags = ["-O2", "-g0"] + include_flags(info)
    lib = "python" + info["ldversion"]
    if version.startswith("debian"):
        pic = os.path.join(info["libpl"], "lib%s-pic.a" % lib)
        static = os.path.join(info["libpl"], "lib%s.a" % lib)
        if os.path.exists(pic):
            archive, pie = pic, []
        elif os.path.exists(static):
            archive, pie = static, ["-no-pie"]
        else:
            raise Skip("no static libpython (%s or %s): apt-get install libpython%s-dev"
                       % (pic, static, info["ldversion"]))
        # Extension modules resolve Py* from the executable: export them.
        gcc(flags + pie + [src, archive] + info["linkforshared"].split() + info["modlibs"].split()
            + info["libs"].split() + info["syslibs"].split() + ["-o", exe])
        return [exe], None
    if version in harness.SID_VERSIONS:
        root = sid_root(info)
        libdir = root + info["libdir"]
        # sid's libpython needs a newer glibc than the host's: link without
        # checking its undefined symbols, run with sid's own loader and libc.
        gcc(flags + [src, "-L" + libdir, "-l" + lib, "-Wl,--allow-shlib-undefined", "-lm", "-o", exe])
        libs = ":".join([libdir, os.path.join(root, "lib/x86_64-linux-gnu"),
                         "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"])
        env = dict(os.environ, PYTHONHOME=os.path.join(root, "usr"))
        return [sid_loader(root), "--library-path", libs, "--argv0", exe, exe], env
    if not info["shared"]:
        raise Skip("Python %s has no shared libpython to link" % version)
    gcc(flags + [src, "-L" + info["libdir"], "-l" + lib, "-Wl,-rpath," + info["libdir"], "-lm", "-o", exe])
    return [exe], None

# ------------------------------------------------------------------ ELF damage


def elf_sections(data):
    """{name: (offset, size)} of a little-endian ELF64 file's sections."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise AssertionError("not a little-endian ELF64 file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    assert shentsize == 64 and 0 < shnum < 4096 and shstrndx < shnum, "odd section table"
    assert shoff + shnum * 64 <= len(data), "section table past the end"
    heads = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * 64) for i in range(shnum)]
    str_off, str_size = heads[shstrndx][4], heads[shstrndx][5]
    strtab = data[str_off:str_off + str_size]
    out = {}
    for h in heads:
        end = strtab.find(b"\0", h[0])
        name = strtab[h[0]:end if end >= 0 else None].decode("ascii", "replace")
        out[name] = (h[4], h[5])
    return out


def fde_offsets(data, off, size):
    """Offsets of the FDEs of an intact .eh_frame (32-bit lengths)."""
    out, pos, end = [], off, off + size
    while pos + 8 <= end and len(out) < 100000:
        length, cie_id = struct.unpack_from("<II", data, pos)
        if length == 0 or length == 0xFFFFFFFF or pos + 4 + length > end:
            break
        if cie_id != 0 and length >= 16:
            out.append(pos)
        pos += 4 + length
    return out


def damage_eh_frame(src, dst, seed=1818):
    """Copies src to dst with every FDE of .eh_frame damaged in one of three
    ways, in turn: a byte of its CFA program (wrong or unknown rules), its
    address range (it covers the wrong code), or, in the second half of the
    section only, its length (a parser walking the section loses its way
    there; one using .eh_frame_hdr loses that FDE). CIEs are kept. The build
    id changes too, so nothing cached for the intact file (tables are cached
    per build id) is used for this one. Returns the number of FDEs damaged."""
    with open(src, "rb") as f:
        data = bytearray(f.read())
    sec = elf_sections(bytes(data))
    assert ".eh_frame" in sec, "%s has no .eh_frame" % src
    off, size = sec[".eh_frame"]
    assert size > 64 and off + size <= len(data), (off, size)
    fdes = fde_offsets(bytes(data), off, size)
    rng = random.Random(seed)
    for k, pos in enumerate(fdes):
        length = struct.unpack_from("<I", data, pos)[0]
        how = k % 3
        if how == 2 and k < len(fdes) // 2:
            how = 0
        if how == 0:
            # length, CIE pointer, pc_begin, pc_range, augmentation size
            # (gcc's "zR" FDEs): the program follows.
            first = pos + 17
            last = pos + 4 + length
            if first < last:
                data[rng.randrange(first, last)] ^= rng.randrange(1, 256)
        elif how == 1:
            data[pos + 12 + rng.randrange(4)] ^= rng.randrange(1, 256)
        else:
            data[pos] ^= rng.randrange(1, 256)
    if ".note.gnu.build-id" in sec:
        noff, nsize = sec[".note.gnu.build-id"]
        namesz, descsz = struct.unpack_from("<II", data, noff)
        desc = noff + 12 + ((namesz + 3) & ~3)
        assert desc + descsz <= noff + nsize, "odd build-id note"
        for i in range(desc, desc + descsz):
            data[i] ^= 0x5A
    with open(dst, "wb") as f:
        f.write(data)
    os.chmod(dst, 0o755)
    return len(fdes)


def mapped_files(pid, needle):
    """Paths of pid's file mappings whose path contains needle."""
    out = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and needle in parts[5]:
                out.add(parts[5].strip())
    return out

# ------------------------------------------------------------------ tests


@params(VERSIONS)
def test_native_zlib_sha256_sorted(version):
    """Leaf frames in libz / libcrypto under the right Python line; the key
    function above the C sort above its caller; each phase about a third."""
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "native_work.py")
    lines = marker_lines(target)
    p = harness.start(argv + [target], ready_marker="ready")
    try:
        stacks, err = record(p.pid, min_samples=300)
    finally:
        harness.stop(p)
    total = samples(stacks)
    assert total >= 200, "only %d samples:\n%s" % (total, err)

    def under(func):
        return lambda fr: any(is_py(f, func, target) for f in fr)

    shares = {f: samples(stacks, under(f)) / total for f in ("phase_zlib", "phase_hash", "phase_sort")}
    for f, s in shares.items():
        # Calibrated to ~1/3 each (measured 0.28-0.44 on every version here).
        assert 0.15 <= s <= 0.55, "share of %s is %.3f (all: %s)\n%s" % (f, s, shares, err)

    # zlib: a libz frame leaf-ward of phase_zlib at the compress line, no
    # Python frame below it.
    zlib_n = samples(stacks, under("phase_zlib"))
    in_libz = 0
    for fr, c in stacks:
        z = index_of(fr, lambda f: "(libz" in f)
        if z < 0:
            continue
        py = python_indices(fr)
        assert py and max(py) < z, "Python frame leaf-ward of libz: %s" % ";".join(fr)
        caller = fr[max(py)]
        assert is_py(caller, "phase_zlib", target, lines["zlib-call"]) or cut(fr), \
            "libz not called from phase_zlib line %d: %s" % (lines["zlib-call"], ";".join(fr))
        if any(is_py(f, "phase_zlib", target) for f in fr):
            in_libz += c
    assert in_libz >= 0.6 * zlib_n, "%d of %d phase_zlib samples reach libz:\n%s" % (
        in_libz, zlib_n, show(stacks, under("phase_zlib")))

    # sha256: some native frame (libcrypto or the hash module, depending on
    # the build) leaf-ward of phase_hash at the hash line.
    hash_n = samples(stacks, under("phase_hash"))
    in_native = in_crypto = 0
    for fr, c in stacks:
        i = index_of(fr, lambda f: is_py(f, "phase_hash", target))
        if i < 0:
            continue
        below = [f for f in fr[i + 1:] if kind(f) == "native"]
        if not below:
            continue
        in_native += c
        assert max(python_indices(fr)) == i, "Python frame under sha256's C code: %s" % ";".join(fr)
        if any(re.search(r"libcrypto|_hashlib|_sha2|_sha256", f) for f in below):
            # the hashing itself is at the hash line (the loop's own line
            # has C frames too: range iteration, freeing the digest)
            assert is_py(fr[i], "phase_hash", target, lines["hash-call"]), "hash line: %s" % ";".join(fr)
            in_crypto += c
    assert in_native >= 0.6 * hash_n, "%d of %d phase_hash samples have native frames below:\n%s" % (
        in_native, hash_n, show(stacks, under("phase_hash")))
    assert in_crypto >= 0.5 * hash_n, "%d of %d phase_hash samples in libcrypto/_hashlib/_sha2:\n%s" % (
        in_crypto, hash_n, show(stacks, under("phase_hash")))

    # sorted(key=key_of): phase_sort (sort line) ; native (the C sort) ;
    # key_of, and no C frame between Python frames of one eval call.
    sort_n = samples(stacks, under("phase_sort"))
    key_n = samples(stacks, under("key_of"))
    # key_of is 0.54-0.70 of phase_sort's samples without --native here.
    assert key_n >= 0.3 * sort_n, "key_of in %d of %d phase_sort samples:\n%s" % (
        key_n, sort_n, show(stacks, under("phase_sort")))
    whole = 0
    for fr, c in stacks:
        k = index_of(fr, lambda f: is_py(f, "key_of", target))
        if k < 0 or cut(fr):
            continue
        whole += c
        s = index_of(fr, lambda f: is_py(f, "phase_sort", target))
        assert 0 <= s < k, "key_of not above phase_sort: %s" % ";".join(fr)
        assert is_py(fr[s], "phase_sort", target, lines["sort-call"]), "sort line: %s" % ";".join(fr)
        assert any(kind(f) == "native" for f in fr[s + 1:k]), "no C frame between phase_sort and key_of: %s" % ";".join(fr)
        assert all(kind(f) != "python" for f in fr[s + 1:k]), "Python frame inside the C sort: %s" % ";".join(fr)
        m = index_of(fr, lambda f: is_py(f, "main", target, lines["call-sort"]))
        mod = index_of(fr, lambda f: f.startswith("<module> (%s:" % target))
        assert 0 <= mod < m < s, "Python callers out of order: %s" % ";".join(fr)
        assert all(kind(f) == "python" for f in fr[mod:s + 1]), \
            "C frame between Python frames of one eval call: %s" % ";".join(fr)
    assert whole >= 0.8 * key_n, "%d of %d key_of samples cut short:\n%s" % (
        key_n - whole, key_n, show(stacks, lambda fr: cut(fr) and under("key_of")(fr)))
    # The zlib and sort phases run compiled C with unwind info: few cut stacks.
    plain = samples(stacks, lambda fr: under("phase_zlib")(fr) or under("phase_sort")(fr))
    cuts = samples(stacks, lambda fr: cut(fr) and (under("phase_zlib")(fr) or under("phase_sort")(fr)))
    assert cuts <= 0.1 * plain, "%d of %d zlib/sort samples cut short:\n%s\n%s" % (
        cuts, plain, show(stacks, cut), err)


@params(VERSIONS)
def test_native_c_extension_callbacks_nest(version):
    """Python -> C -> Python -> C -> Python, in that order."""
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "native_cb", "callback.py")
    lines = marker_lines(target)
    build = tempfile.mkdtemp(prefix="pyperf-cbmod-")
    try:
        build_cbmod(version, argv, build)
        p = harness.start(argv + [target, build], ready_marker="ready")
        try:
            stacks, err = record(p.pid, min_samples=200)
        finally:
            harness.stop(p)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    total = samples(stacks)
    inner = lambda fr: any(is_py(f, "inner", target) for f in fr)  # noqa: E731
    inner_n = samples(stacks, inner)
    assert inner_n >= 0.5 * total, "inner() in %d of %d samples:\n%s" % (inner_n, total, show(stacks))
    whole = 0
    for fr, c in stacks:
        if not inner(fr) or cut(fr):
            continue
        whole += c
        seq = []
        for f in fr:
            if is_py(f, "outer", target):
                assert is_py(f, "outer", target, lines["outer-call"]), "outer line: %s" % ";".join(fr)
                seq.append("outer")
            elif is_py(f, "middle", target):
                assert is_py(f, "middle", target, lines["middle-call"]), "middle line: %s" % ";".join(fr)
                seq.append("middle")
            elif is_py(f, "inner", target):
                seq.append("inner")
            elif kind(f) == "native" and "(cbmod" in f:
                if not seq or seq[-1] != "cbmod":
                    seq.append("cbmod")
        assert seq == ["outer", "cbmod", "middle", "cbmod", "inner"], \
            "order %s in %s" % (seq, ";".join(fr))
        # <module> runs outer() in the same eval call: no C frame between.
        o = index_of(fr, lambda f: is_py(f, "outer", target))
        mod = index_of(fr, lambda f: f.startswith("<module> (%s:" % target))
        assert 0 <= mod < o and all(kind(f) == "python" for f in fr[mod:o + 1]), \
            "<module> not right below outer: %s" % ";".join(fr)
    assert whole >= 0.9 * inner_n, "%d of %d inner() samples cut short:\n%s\n%s" % (
        inner_n - whole, inner_n, show(stacks, cut), err)


def check_gc(stacks, err, target, native):
    churn = lambda fr: any(is_py(f, "churn", target) for f in fr)  # noqa: E731
    spin = lambda fr: any(is_py(f, "spin", target) for f in fr)  # noqa: E731
    churn_n, spin_n = samples(stacks, churn), samples(stacks, spin)
    assert churn_n >= 50 and spin_n >= 50, "churn %d, spin %d samples:\n%s" % (churn_n, spin_n, err)
    for fr, _ in stacks:
        if GC not in fr:
            continue
        g = fr.index(GC)
        py = python_indices(fr)
        assert py and g == max(py) + 1, "[gc] not right after the innermost Python frame: %s" % ";".join(fr)
        if not native:
            assert g == len(fr) - 1, "[gc] not the leaf without --native: %s" % ";".join(fr)
    gc_share = samples(stacks, lambda fr: churn(fr) and GC in fr) / churn_n
    # gc.callbacks timing puts collections at 0.57-0.69 of churn()'s CPU
    # time on 3.11-3.15 here.
    assert 0.25 <= gc_share <= 0.90, "[gc] in %.3f of churn() samples (native=%s):\n%s" % (
        gc_share, native, show(stacks, churn))
    # spin() never collects; it cannot run while churn() collects (the
    # collector holds the GIL).
    spin_gc = samples(stacks, lambda fr: spin(fr) and GC in fr) / spin_n
    assert spin_gc <= 0.05, "[gc] in %.3f of spin() samples:\n%s" % (spin_gc, show(stacks, lambda fr: spin(fr) and GC in fr))


@params(VERSIONS)
def test_gc_marked_with_and_without_native(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "gc_heavy.py")
    p = harness.start(argv + [target], ready_marker="ready")
    try:
        plain, err = record(p.pid, native=False, min_samples=200)
        check_gc(plain, err, target, native=False)
        native, err = record(p.pid, native=True, min_samples=200)
        check_gc(native, err, target, native=True)
    finally:
        harness.stop(p)


@params(VERSIONS)
def test_native_embedded_interpreter(version):
    """main and the embedder's C frames below the Python ones."""
    argv = harness.need_interpreter(version)
    build = tempfile.mkdtemp(prefix="pyperf-embed-")
    try:
        run_argv, env = build_embed(version, argv, build)
        p = harness.start(run_argv, ready_marker="ready", env=env)
        try:
            stacks, err = record(p.pid, min_samples=200)
        finally:
            harness.stop(p)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    spin = lambda fr: any(f.startswith("embedded_spin (<string>:") for f in fr)  # noqa: E731
    spin_n = samples(stacks, spin)
    assert spin_n >= 0.8 * samples(stacks), "embedded_spin in %d of %d samples:\n%s" % (
        spin_n, samples(stacks), show(stacks))
    whole = 0
    for fr, c in stacks:
        if not spin(fr) or cut(fr):
            continue
        whole += c
        m = index_of(fr, lambda f: f == "main (embed)")
        r = index_of(fr, lambda f: f == "run_script (embed)")
        py = python_indices(fr)
        em = index_of(fr, lambda f: f.startswith("embedded_main (<string>:"))
        es = index_of(fr, lambda f: f.startswith("embedded_spin (<string>:"))
        assert 0 <= m < r < min(py), "main/run_script not below the Python frames: %s" % ";".join(fr)
        assert 0 <= em < es, "embedded_main not below embedded_spin: %s" % ";".join(fr)
        assert all(kind(f) == "native" for f in fr[:min(py)]), "not C below Python: %s" % ";".join(fr)
    assert whole >= 0.9 * spin_n, "%d of %d samples cut short:\n%s\n%s" % (
        spin_n - whole, spin_n, show(stacks, cut), err)


@params(VERSIONS)
def test_native_damaged_eh_frame(version):
    """libz with a damaged .eh_frame (and its own build id), preloaded:
    pyperf exits 0 with samples, libz frames are either under phase_zlib or
    cut with [unknown native], and no stack is impossible for the program."""
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "native_work.py")
    probe = harness.start(argv + ["-c", "import zlib, sys; print('ready', flush=True); sys.stdin.read()"],
                          ready_marker="ready", stdin=subprocess.PIPE)
    try:
        libz = sorted(mapped_files(probe.pid, "/libz.so"))
    finally:
        harness.stop(probe)
    assert len(libz) == 1, "expected one libz mapped, got %s" % libz
    work = tempfile.mkdtemp(prefix="pyperf-ehframe-")
    try:
        bad = os.path.join(work, os.path.basename(libz[0]))  # labels still read "(libz..."
        damaged = damage_eh_frame(libz[0], bad)
        assert damaged >= 20, "only %d FDEs in %s" % (damaged, libz[0])
        env = dict(os.environ, LD_PRELOAD=bad)
        p = harness.start(argv + [target], ready_marker="ready", env=env)
        try:
            maps = mapped_files(p.pid, "/libz.so")
            assert maps == {bad}, "the damaged copy is not the libz in use: %s" % maps
            stacks, err = record(p.pid, min_samples=200)
        finally:
            harness.stop(p)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = samples(stacks)
    assert total >= 100, "only %d samples:\n%s" % (total, err)
    for f in ("phase_zlib", "phase_hash", "phase_sort"):
        assert samples(stacks, lambda fr: any(is_py(x, f, target) for x in fr)) > 0, \
            "no %s samples (the Python frames do not depend on libz):\n%s" % (f, show(stacks))
    allowed = {"<module>", "main", "phase_zlib"}
    for fr, _ in stacks:
        z = index_of(fr, lambda f: "(libz" in f)
        if z < 0:
            continue
        py = python_indices(fr)
        assert all(i < z for i in py), "Python frame leaf-ward of libz: %s" % ";".join(fr)
        names = {fr[i].split(" (", 1)[0] for i in py}
        assert names <= allowed, "libz under %s: %s" % (names - allowed, ";".join(fr))
        right = any(is_py(fr[i], "phase_zlib", target) for i in py)
        assert right or cut(fr), "libz frames neither under phase_zlib nor cut: %s" % ";".join(fr)
        if right:
            root_py = [fr[i].split(" (", 1)[0] for i in py]
            assert root_py == [n for n in ("<module>", "main", "phase_zlib") if n in root_py], \
                "Python frames out of order: %s" % ";".join(fr)


@params(MODE_VERSIONS)
def test_native_with_unsupported_modes(version):
    """--native with a mode that may not support it: either refused (exit
    2, one line on stderr naming --native) or a valid profile."""
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "gc_heavy.py")
    p = harness.start(argv + [target], ready_marker="ready")
    try:
        for mode in ("offcpu", "wall", "gil-wait"):
            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "out.folded")
                r = harness.run_pyperf(["record", "--native", "--mode", mode, "-p", str(p.pid), "-d", "1",
                                        "-f", "folded", "-o", out], check=False)
                assert "AddressSanitizer" not in r.stderr, r.stderr[-3000:]
                if r.returncode == 2:
                    lines = r.stderr.strip().splitlines()
                    # About the mode: "unknown option '--native'" is no refusal.
                    assert len(lines) == 1 and "--native" in lines[0] and "mode" in lines[0], \
                        "--mode %s --native refused without one clear line: %r" % (mode, r.stderr)
                    assert not os.path.exists(out), "refused but wrote %s" % out
                    continue
                assert r.returncode == 0, "--mode %s --native: exit %d\n%s" % (mode, r.returncode, r.stderr)
                with open(out) as f:
                    stacks = harness.parse_folded(f.read())
                assert samples(stacks) > 0, "--mode %s --native: empty profile\n%s" % (mode, r.stderr)
                check_well_formed(stacks, r.stderr, native=True)
                assert any(any(is_py(f, fn, target) for f in fr) for fr, _ in stacks for fn in ("churn", "spin")), \
                    "--mode %s --native: no frames of the target:\n%s" % (mode, show(stacks))
    finally:
        harness.stop(p)
