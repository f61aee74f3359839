"""pyperf --native (#18) beyond one process's folded stacks (those are in
test_native_record.py, whose helpers these tests use): record -a and
--subprocesses, --kernel, the pprof / speedscope / SVG outputs, a library
loaded after pyperf attached, --native-memory at its smallest, and top.

Targets (tests/targets): native_work.py (zlib / sha256 / sorted(key=)),
native_family.py (forked and exec'd children compressing with zlib),
syscall_loop.py (os.read of /dev/zero, os.stat), late_load.py (imports _bz2
when told to).
"""
import gzip
import json
import os
import re
import subprocess
import tempfile

import harness
from harness import Skip, params
import test_flamegraph as fg
import test_formats as tf
import test_native_record as nr
from test_native_record import UNKNOWN, index_of, is_py, kind, python_indices, samples, show

VERSIONS = ["3.12", "debian3.11", "3.14"]
HZ = nr.HZ
WORK = os.path.join(harness.TARGETS, "native_work.py")
LIBZ = re.compile(r"\(libz\.so[\d.]*\)$")
LIBC = re.compile(r"\(libc\.so[\d.]*\)$|^libc\.so[\d.]*\+0x[0-9a-f]+$")
INTERP = re.compile(r"\((?:lib)?python3\.(\d+)")


def under(func, target):
    return lambda fr: any(is_py(f, func, target) for f in fr)


def libz_leafward_of(fr, func, target):
    """fr reaches a libz frame leaf-ward of func, with no Python frame
    leaf-ward of that libz frame (assert)."""
    i = index_of(fr, lambda f: is_py(f, func, target))
    z = index_of(fr, lambda f: LIBZ.search(f) is not None)
    if i < 0 or z < 0:
        return False
    py = python_indices(fr)
    assert max(py) < z, "Python frame leaf-ward of libz: %s" % ";".join(fr)
    return i < z


def check_native_root(stacks, what):
    """Whole (not cut) stacks start with native frames (the interpreter's
    start-up code): the native stack was walked and merged, not only the
    Python one."""
    whole = [(fr, c) for fr, c in stacks if UNKNOWN not in fr]
    rooted = samples(whole, lambda fr: kind(fr[0]) == "native")
    assert rooted >= 0.9 * samples(whole) > 0, "%s: %d of %d whole stacks start with a native frame:\n%s" % (
        what, rooted, samples(whole), show(whole, lambda fr: kind(fr[0]) != "native"))


def minor_of(version):
    return version.replace("debian", "").split(".")[1]


def check_own_interpreter(stacks, version, what):
    """No frame names another interpreter's executable or libpython: each
    process is unwound and named with its own mappings."""
    for fr, _ in stacks:
        for f in fr:
            m = INTERP.search(f)
            if m and kind(f) == "native":
                assert m.group(1) == minor_of(version), "%s (Python %s) has frame %r: %s" % (
                    what, version, f, ";".join(fr))


def check_every_stack_native(stacks, what):
    """With --native every sample of a Python thread has native frames or
    says where they ended ([unknown native]): a stack of Python frames alone
    means the native walk was skipped without a mark."""
    bare = [(fr, c) for fr, c in stacks if not any(kind(f) in ("native", "kernel") or f == UNKNOWN for f in fr)]
    assert not bare, "%s: %d samples with neither native frames nor %s:\n%s" % (
        what, samples(bare), UNKNOWN, show(bare))

# ------------------------------------------------------------------ -a


def test_all_native_each_process_under_its_root():
    procs = {}
    try:
        for v in VERSIONS:
            argv = harness.interpreter(v)
            if argv is not None:
                procs[v] = harness.start(argv + [WORK], ready_marker="ready")
        if len(procs) < 2:
            raise Skip("fewer than two of %s installed here" % VERSIONS)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "all.folded")
            r = harness.run_pyperf(["record", "-a", "--native", "-d", "2", "-F", str(HZ), "-f", "folded",
                                    "-o", out])
            with open(out) as f:
                stacks = harness.parse_folded(f.read())
    finally:
        for p in procs.values():
            harness.stop(p)
    nr.check_well_formed(stacks, r.stderr, native=True)
    for v, p in procs.items():
        root = "process %d" % p.pid
        mine = [(fr[1:], c) for fr, c in stacks if fr[0] == root]
        what = "Python %s (PID %d)" % (v, p.pid)
        assert samples(mine) >= 100, "%s: %d samples\n%s" % (what, samples(mine), r.stderr)
        assert not any(fr[0].startswith("process ") for fr, _ in mine), "%s: two process roots" % what
        check_native_root(mine, what)
        check_own_interpreter(mine, v, what)
        zlib_n = samples(mine, under("phase_zlib", WORK))
        in_libz = samples(mine, lambda fr: libz_leafward_of(fr, "phase_zlib", WORK))
        assert zlib_n >= 20 and in_libz >= 0.5 * zlib_n, "%s: %d of %d phase_zlib samples reach libz:\n%s" % (
            what, in_libz, zlib_n, show(mine, under("phase_zlib", WORK)))

# ------------------------------------------------------------------ --subprocesses


@params(VERSIONS)
def test_subprocesses_native_children(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "native_family.py")
    env = dict(os.environ, NATIVE_FAMILY_ARGV=json.dumps(argv))
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.folded")
        r = harness.run_pyperf(["record", "--native", "--subprocesses", "-F", str(HZ), "-f", "folded", "-o", out,
                                "--"] + argv + [target, "1.5"], timeout=120, env=env)
        with open(out) as f:
            stacks = harness.parse_folded(f.read())
    nr.check_well_formed(stacks, r.stderr, native=True)
    roots = {}
    for func in ("forked_zlib", "execed_zlib", "parent_spin"):
        by_root = {}
        for fr, c in stacks:
            if under(func, target)(fr):
                by_root[fr[0]] = by_root.get(fr[0], 0) + c
        assert by_root, "no %s samples:\n%s" % (func, r.stderr)
        roots[func] = max(by_root, key=by_root.get)
        assert re.match(r"^process \d+$", roots[func]) and by_root[roots[func]] >= 0.95 * sum(by_root.values()), \
            (func, by_root)
    assert len(set(roots.values())) == 3, roots
    for func in ("forked_zlib", "execed_zlib"):
        mine = [(fr[1:], c) for fr, c in stacks if fr[0] == roots[func]]
        what = "%s child (%s)" % (func.split("_")[0], roots[func])
        n = samples(mine, under("compress_for", target))
        in_libz = samples(mine, lambda fr: libz_leafward_of(fr, "compress_for", target))
        assert n >= 50 and in_libz >= 0.5 * n, "%s: %d of %d compress_for samples reach libz:\n%s\n%s" % (
            what, in_libz, n, show(mine, under("compress_for", target)), r.stderr)
        check_native_root(mine, what)
        check_own_interpreter(mine, version, what)
    for func, root in roots.items():
        check_every_stack_native([(fr, c) for fr, c in stacks if fr[0] == root], "%s (%s)" % (func, root))

# ------------------------------------------------------------------ --kernel


@params(VERSIONS)
def test_kernel_frames_after_the_syscall_wrapper(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "syscall_loop.py")
    p = harness.start(argv + [target], ready_marker="ready")
    try:
        with_k, err = nr.record(p.pid, extra=["--kernel"], min_samples=200)
        without, _ = nr.record(p.pid, seconds=1, min_samples=100, tries=1)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.folded")
            bad = harness.run_pyperf(["record", "--kernel", "-p", str(p.pid), "-d", "1", "-o", out], check=False)
            assert not os.path.exists(out), "refused but wrote %s" % out
        bad_top = harness.run_pyperf(["top", "--kernel", "-p", str(p.pid), "-d", "1"], check=False)
    finally:
        harness.stop(p)
    for who, b in (("record", bad), ("top", bad_top)):
        lines = b.stderr.strip().splitlines()
        assert b.returncode == 2 and len(lines) == 1 and "--native" in lines[0], \
            "%s --kernel without --native: exit %d, %r" % (who, b.returncode, b.stderr)
    assert not any(f.endswith("[kernel]") for fr, _ in without for f in fr), \
        "kernel frames without --kernel:\n%s" % show(without, lambda fr: any(f.endswith("[kernel]") for f in fr))
    total = samples(with_k)
    in_syscall = 0
    for fr, c in with_k:
        k = index_of(fr, lambda f: kind(f) == "kernel")
        if k < 0:
            continue
        assert all(kind(f) == "kernel" for f in fr[k:]), "kernel frames not the leaf end: %s" % ";".join(fr)
        py = python_indices(fr)
        assert py and max(py) < k, "no Python frame root-ward of the kernel: %s" % ";".join(fr)
        # An interrupt can come in anywhere (the eval loop, merged into the
        # Python frame); a system call only from libc's wrapper (named or
        # not: sid's libc keeps only exported symbols).
        if fr[k].startswith("entry_SYSCALL"):
            in_syscall += c
            assert LIBC.search(fr[k - 1]), "system call not right after a libc frame: %s" % ";".join(fr)
    # The target is in system calls most of its time (0.6-0.8 here).
    assert in_syscall >= 0.3 * total, "%d of %d samples in system calls:\n%s\n%s" % (
        in_syscall, total, show(with_k), err)
    read_n = samples(with_k, under("phase_read", target))
    read_k = samples(with_k, lambda fr: under("phase_read", target)(fr)
                     and any(kind(f) == "kernel" and "read" in f for f in fr))
    assert read_k >= 0.3 * read_n > 0, "%d of %d phase_read samples in a kernel read function:\n%s" % (
        read_k, read_n, show(with_k, under("phase_read", target)))
    stat_k = samples(with_k, lambda fr: under("phase_stat", target)(fr) and any(kind(f) == "kernel" for f in fr))
    assert stat_k > 0, "no kernel frames under phase_stat:\n%s" % show(with_k, under("phase_stat", target))

# ------------------------------------------------------------------ outputs


def read_mappings(path):
    """{id: {'file': name, 'build_id': hex}} of a gzipped profile.proto."""
    with open(path, "rb") as f:
        data = gzip.decompress(f.read())
    strings = [v.decode("utf-8") for num, v in tf._fields(data) if num == 6]
    out = {}
    for num, v in tf._fields(data):
        if num == 3:
            m = dict(tf._fields(v))
            out[m[1]] = {"file": strings[m.get(5, 0)], "build_id": strings[m.get(6, 0)]}
    return out


def check_pprof(path, target):
    prof = tf.read_pprof(path)
    maps = read_mappings(path)
    strings = prof["strings"]
    funcs = {i: strings[f.get(2, 0)] for i, f in prof["functions"].items()}
    libz_maps = {i for i, m in maps.items() if re.search(r"/libz\.so[\d.]*$", m["file"])}
    assert libz_maps, "no libz mapping: %s" % [m["file"] for m in maps.values()]
    assert all(maps[i]["file"].startswith("/") for i in libz_maps), maps
    libz_locs, named = set(), set()
    for lid, lo in prof["locations"].items():
        assert len(lo["lines"]) == 1, "location %d has %d lines" % (lid, len(lo["lines"]))
        name = funcs[lo["lines"][0][1]]
        if lo.get(2) in libz_maps:
            libz_locs.add(lid)
            assert lo.get(3, 0) != 0, "libz location %d (%s) has no address" % (lid, name)
            assert not lo["lines"][0].get(2), "libz location %d (%s) has a line" % (lid, name)
            assert " (" not in name, "native function named with its file: %r" % name
            if not re.search(r"\+0x[0-9a-f]+$", name):
                named.add(name)
        if LIBZ.search(name) or name.startswith("phase_zlib ("):
            raise AssertionError("function name is a folded label: %r" % name)
    assert "deflate" in named, "libz functions: %s" % sorted(named)
    zlib_locs = {lid for lid, lo in prof["locations"].items()
                 if funcs[lo["lines"][0][1]] == "phase_zlib" and not lo.get(3)}
    assert zlib_locs, "no phase_zlib location: %s" % sorted(set(funcs.values()))[:50]
    zlib_n = in_libz = 0
    for s in prof["samples"]:
        locs = s[1]  # leaf first
        zi = [i for i, lid in enumerate(locs) if lid in zlib_locs]
        if not zi:
            continue
        zlib_n += s[2][0]
        if any(lid in libz_locs for lid in locs[:zi[0]]):
            in_libz += s[2][0]
    assert zlib_n >= 20 and in_libz >= 0.5 * zlib_n, "pprof: %d of %d phase_zlib samples reach libz" % (
        in_libz, zlib_n)


def check_speedscope(path, target):
    doc = tf.load_speedscope(path)
    frames = doc["shared"]["frames"]
    native = [i for i, f in enumerate(frames) if re.search(r"\.so[\d.]*$|/python3\.\d+$", f.get("file", ""))]
    assert native, "no frame of a .so or executable: %s" % frames[:20]
    for i in native:
        f = frames[i]
        assert f["file"].startswith("/") and "line" not in f, "native frame %r" % f
        assert " (" not in f["name"], "native frame named with its file: %r" % f
    libz = {i for i in native if re.search(r"/libz\.so[\d.]*$", frames[i]["file"])}
    assert any(frames[i]["name"] == "deflate" for i in libz), [frames[i] for i in libz]
    zlib = {i for i, f in enumerate(frames) if f["name"] == "phase_zlib" and f.get("file") == target}
    assert zlib and all(isinstance(frames[i].get("line"), int) for i in zlib), [frames[i] for i in zlib]
    prof = doc["profiles"][0]
    zlib_n = in_libz = 0
    for st, w in zip(prof["samples"], prof["weights"]):  # root first
        zi = [k for k, i in enumerate(st) if i in zlib]
        if not zi:
            continue
        zlib_n += w
        if any(i in libz for i in st[zi[0] + 1:]):
            in_libz += w
    assert zlib_n >= 20 and in_libz >= 0.5 * zlib_n, "speedscope: %d of %d phase_zlib samples reach libz" % (
        in_libz, zlib_n)


# flamegraph/colors.c, fg_kind_color and nudge: channel base + span, +-8.
NATIVE_FILL = ((195 - 8, 240 + 8), (35 - 8, 75 + 8), (70 - 8, 110 + 8))
USER_FILL = ((225 - 8, 255), (95 - 8, 205 + 8), (20 - 8, 65 + 8))


def in_box(rgb, box):
    return all(lo <= c <= hi for c, (lo, hi) in zip(rgb, box))


def check_svg(path, target):
    with open(path, encoding="utf-8") as f:
        _, frames = fg.parse_svg(f.read())
    n_native = n_libz = n_user = 0
    for f in frames:
        rgb = tuple(int(v) for v in re.findall(r"\d+", f.fill))
        k = kind(f.name)
        if k == "native":
            n_native += 1
            n_libz += LIBZ.search(f.name) is not None
            assert in_box(rgb, NATIVE_FILL), "native frame %r filled %r" % (f.name, f.fill)
        elif k == "python" and f.name.startswith(("phase_", "main (", "key_of (")):
            n_user += 1
            assert in_box(rgb, USER_FILL), "Python frame %r filled %r" % (f.name, f.fill)
        else:
            assert not in_box(rgb, NATIVE_FILL) or k == "other", "%s frame %r in native colours %r" % (
                k, f.name, f.fill)
    assert n_libz and n_native > n_libz and n_user, (n_native, n_libz, n_user)


@params(VERSIONS)
def test_native_outputs_pprof_speedscope_svg(version):
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [WORK], ready_marker="ready")
    try:
        with tempfile.TemporaryDirectory() as d:
            outs = [os.path.join(d, n) for n in ("out.pb.gz", "out.speedscope.json", "out.svg")]
            errs = tf.record(p.pid, outs, seconds=2, hz=HZ, extra=["--native"])
            for e in errs:
                assert "AddressSanitizer" not in e and "runtime error" not in e, e[-3000:]
            check_pprof(outs[0], WORK)
            check_speedscope(outs[1], WORK)
            check_svg(outs[2], WORK)
    finally:
        harness.stop(p)

# ------------------------------------------------------------------ late load


def mapped(pid, needle):
    with open("/proc/%d/maps" % pid) as f:
        return any(needle in line for line in f)


@params(VERSIONS)
def test_library_loaded_after_attach_is_unwound(version):
    argv = harness.need_interpreter(version)
    target = os.path.join(harness.TARGETS, "late_load.py")
    lines = nr.marker_lines(target)
    p = harness.start(argv + [target], ready_marker="ready", stdin=subprocess.PIPE)
    try:
        assert not mapped(p.pid, "libbz2"), "libbz2 mapped before the test asked for it"
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.folded")
            rec = subprocess.Popen([harness.PYPERF, "record", "--native", "-p", str(p.pid), "-d", "3", "-F", str(HZ),
                                    "-f", "folded", "-o", out], stderr=subprocess.PIPE, text=True)
            try:
                head = []
                for line in rec.stderr:  # pyperf read the mappings before this line
                    head.append(line)
                    if "sampling PID" in line:
                        break
                assert head and "sampling PID" in head[-1], "pyperf never started sampling: %s" % "".join(head)
                p.stdin.write("go\n")
                p.stdin.flush()
                assert "loaded" in p.stdout.readline(), "target did not load _bz2"
                assert mapped(p.pid, "libbz2"), "libbz2 not mapped after import _bz2"
                err = "".join(head) + rec.stderr.read()
                rec.wait(timeout=60)
            finally:
                if rec.poll() is None:
                    rec.kill()
                    rec.wait()
            assert rec.returncode == 0, "pyperf exited %d:\n%s" % (rec.returncode, err)
            with open(out) as f:
                stacks = harness.parse_folded(f.read())
    finally:
        harness.stop(p)
    nr.check_well_formed(stacks, err, native=True)
    check_every_stack_native(stacks, "late_load")
    bz = under("phase_bz2", target)
    bz_n = samples(stacks, bz)
    reached = 0
    for fr, c in stacks:
        if not bz(fr):
            continue
        i = index_of(fr, lambda f: is_py(f, "phase_bz2", target))
        named = [j for j, f in enumerate(fr) if kind(f) == "native" and "(libbz2.so" in f]
        if not named:
            continue
        assert max(python_indices(fr)) == i and i < min(named), "Python frame under libbz2: %s" % ";".join(fr)
        assert any(is_py(fr[i], "phase_bz2", target, lines[m]) for m in ("bz2-call", "bz2-flush", "bz2-new")), \
            "phase_bz2 line: %s" % ";".join(fr)
        # Called through the _bz2 module, whose file also came after attach.
        if UNKNOWN not in fr and any(re.search(r"(^|\()_bz2\.", f) for f in fr[i + 1:min(named)]):
            reached += c
    assert bz_n >= 100, "only %d phase_bz2 samples:\n%s" % (bz_n, err)
    assert reached >= 0.5 * bz_n, "%d of %d phase_bz2 samples reach named libbz2 frames through _bz2:\n%s\n%s" % (
        reached, bz_n, show(stacks, bz), err)

# ------------------------------------------------------------------ --native-memory


@params(["3.12", "3.14"])
def test_native_memory_smallest_marks_unknown(version):
    """1M holds the tables of a few files; the rest (libpython or the big
    executable, maybe libcrypto) get none: their stacks stop at
    [unknown native], never at a made-up caller."""
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [WORK], ready_marker="ready")
    try:
        assert mapped(p.pid, "libcrypto"), "target maps no libcrypto"
        stacks, err = nr.record(p.pid, extra=["--native-memory", "1M"], min_samples=200)
    finally:
        harness.stop(p)
    m = re.search(r"unwind tables of (\d+) files, ([\d.]+) MiB \(full: raise --native-memory\)", err)
    assert m and float(m.group(2)) <= 1.0, "no full-tables summary within 1 MiB:\n%s" % err
    assert "in a file without unwind information" in err, err
    allowed = [["<module>", "main", "phase_zlib"], ["<module>", "main", "phase_hash"],
               ["<module>", "main", "phase_sort"], ["<module>", "main", "phase_sort", "key_of"]]
    crypto_n = 0
    for fr, c in stacks:
        names = [fr[i].split(" (", 1)[0] for i in python_indices(fr)]
        unreadable = any(f.startswith(("[unreadable", "[broken")) for f in fr)
        assert any(names == a[:len(names)] for a in allowed) and (names or unreadable), \
            "Python frames %s: %s" % (names, ";".join(fr))
        # named "symbol (libcrypto.so.3)" or, no symbol, "libcrypto.so.3+0x..."
        z = index_of(fr, lambda f: re.search(r"(^|\()libcrypto\.so", f) is not None)
        if z < 0:
            continue
        crypto_n += c
        assert names[-1:] == ["phase_hash"] and max(python_indices(fr) or [-1]) < z, "libcrypto misplaced: %s" % ";".join(fr)
        if UNKNOWN in fr:
            u = fr.index(UNKNOWN)
            assert u < z, "%s leaf-ward of libcrypto: %s" % (UNKNOWN, ";".join(fr))
            # What the walk got past the mark came from where sha256 runs.
            assert all(re.search(r"(^|\()(libcrypto|_hashlib|libc\.so)", f) for f in fr[u + 1:]), \
                "frames of other files after %s: %s" % (UNKNOWN, ";".join(fr))
        else:
            assert kind(fr[0]) == "native", "not cut, yet no native root: %s" % ";".join(fr)
    assert crypto_n > 0, "no libcrypto frames:\n%s" % show(stacks)

# ------------------------------------------------------------------ top


TOP_ROW = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+([\d.]+)\s+([\d.]+)  (.*)$")


@params(VERSIONS)
def test_top_native_shows_c_functions(version):
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [WORK], ready_marker="ready")
    try:
        r = harness.run_pyperf(["top", "--native", "-p", str(p.pid), "-d", "2", "-F", str(HZ), "-n", "200"],
                               stdin=subprocess.DEVNULL)
    finally:
        harness.stop(p)
    assert "AddressSanitizer" not in r.stderr and "\033[" not in r.stdout, r.stderr[-2000:]
    views = r.stdout.split("pyperf top: PID %d" % p.pid)
    assert len(views) >= 2, r.stdout[-3000:]
    rows = {}
    for line in views[-1].splitlines():
        m = TOP_ROW.match(line)
        if m:
            rows[m.group(5)] = float(m.group(4))  # TOTAL(s)
    deflate = {f: t for f, t in rows.items() if f.startswith("deflate (")}
    # top names a Python function by its file, without a line
    zlib = [t for f, t in rows.items() if f == "phase_zlib (%s)" % WORK]
    assert zlib and zlib[0] > 0, "no phase_zlib row:\n%s" % views[-1][:4000]
    assert len(deflate) == 1 and 0 < max(deflate.values()) <= zlib[0] + 0.05, \
        "deflate rows %s, phase_zlib %s:\n%s" % (deflate, zlib, views[-1][:4000])
    # As top --help says and record writes: 'symbol (library)', the file's
    # name, not its path (which a 100-column view cuts short).
    label = next(iter(deflate))
    assert LIBZ.search(label), "deflate's row reads %r, not 'deflate (libz.so...)'" % label
