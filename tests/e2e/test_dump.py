"""pyperf dump against real interpreters: deadlocked threads, a sleeping main
thread, an asyncio loop, the GIL holder, core files, errors."""
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import harness
from harness import Skip, params

VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "debian3.11", "3.14", "3.15"]
PHIL = os.path.join(harness.TARGETS, "dump_philosophers.py")
SLEEP = os.path.join(harness.TARGETS, "dump_sleep.py")
ASYNC = os.path.join(harness.TARGETS, "dump_asyncio.py")
CRASH = os.path.join(harness.TARGETS, "dump_crash.py")
SPIN = os.path.join(harness.TARGETS, "threads.py")


marker_lines = harness.marker_lines

def source_of(path, line):
    with open(path) as f:
        return f.read().splitlines()[line - 1].strip()


def dump_json(args):
    p = harness.run_pyperf(["dump", "--json"] + list(args))
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise AssertionError("dump --json is not JSON (%s):\n%s" % (e, p.stdout[-3000:]))


def dump_text(args):
    return harness.run_pyperf(["dump"] + list(args)).stdout


def thread_by_tid(doc, tid):
    got = [t for t in doc["threads"] if t["tid"] == tid]
    assert len(got) == 1, "thread %d: %d entries in %s" % (tid, len(got), [t["tid"] for t in doc["threads"]])
    return got[0]


def text_block(text, tid):
    """Lines of the text output that belong to thread tid (header first)."""
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if l.startswith("Thread %d " % tid) or l == "Thread %d" % tid:
            block = [l]
            for m in lines[i + 1:]:
                if not m.startswith("    "):
                    break
                block.append(m)
            return block
    raise AssertionError("no 'Thread %d' in:\n%s" % (tid, text))


@params(VERSIONS)
def test_philosophers_deadlock(version):
    argv = harness.need_interpreter(version)
    lines = marker_lines(PHIL)
    p = harness.start(argv + [PHIL], ready_marker=None)
    ready = p.stdout.readline().split()
    assert ready and ready[0] == "ready", "target did not get ready: %r %s" % (ready, p.stderr.read()[-2000:])
    tids = [int(t) for t in ready[1:]]
    assert len(tids) == 5
    doc = dump_json(["-p", str(p.pid)])
    ldoc = dump_json(["-p", str(p.pid), "--locals"])
    text = dump_text(["-p", str(p.pid)])
    harness.stop(p)
    assert doc["pid"] == p.pid
    want_line = lines["with-right"]
    for i, tid in enumerate(tids):
        th = thread_by_tid(doc, tid)
        assert th["name"] == "phil-%d" % i, th["name"]
        assert th["state"] == "sleeping", (tid, th["state"])
        assert th["consistent"] and not th["truncated"], th
        top = th["frames"][0]
        assert (top["function"], top["file"], top["line"]) == ("philosopher", PHIL, want_line), \
            "phil-%d innermost frame is %s, want philosopher at line %d" % (i, top["label"], want_line)
        assert top["label"] == "philosopher (%s:%d)" % (PHIL, want_line)
        assert top["source"] == source_of(PHIL, want_line)
        assert "threading.py" in th["frames"][-1]["file"], th["frames"][-1]
        assert th["holds_gil"] is False, th
        # The same in text: header with name and state, frame, its source line.
        block = text_block(text, tid)
        assert block[0].startswith('Thread %d "phil-%d" (sleeping' % (tid, i)), block[0]
        assert block[1] == "    philosopher (%s:%d)" % (PHIL, want_line), block[:3]
        assert block[2] == "        " + source_of(PHIL, want_line), block[:3]
    # Each waits on its right fork: five plain Locks, named by address
    # (a Lock records no owner, so no cycle can be named).
    # The variable naming it: 'right' of philosopher; the same lock is the
    # neighbour's 'left' (what it holds), as --locals shows.
    forks = [thread_by_tid(doc, tid)["wait"] for tid in tids]
    assert all(w["kind"] == "lock" and w["lock_type"] == "Lock" and w["text"] ==
               "waiting on a lock (Lock at %s, 'right' of philosopher; a Lock records no owner)" % w["lock"]
               and (w["lock_var"], w["lock_var_function"]) == ("right", "philosopher") for w in forks), forks
    assert len({w["lock"] for w in forks}) == 5 and doc["deadlocks"] == [], (forks, doc["deadlocks"])
    for i, tid in enumerate(tids):
        neighbour = thread_by_tid(ldoc, tids[(i + 1) % 5])
        left = [v for v in neighbour["frames"][0]["locals"] if v["name"] == "left"]
        assert left and left[0]["value"] == "<_thread.lock at %s>" % forks[i]["lock"], (i, left, forks[i])
    main = thread_by_tid(doc, p.pid)
    mods = [f for f in main["frames"] if f["function"] == "<module>"]
    assert mods and mods[-1]["line"] == lines["join"], main["frames"]
    assert main["frames"][-1]["function"] == "<module>"
    assert text.startswith("Process %d: " % p.pid), text[:200]


@params(VERSIONS)
def test_sleeping_main_thread(version):
    argv = harness.need_interpreter(version)
    lines = marker_lines(SLEEP)
    p = harness.start(argv + [SLEEP], ready_marker="ready")
    doc = dump_json(["-p", str(p.pid)])
    text = dump_text(["-p", str(p.pid)])
    harness.stop(p)
    main = thread_by_tid(doc, p.pid)
    assert main["state"] == "sleeping", main
    got = [(f["function"], f["line"]) for f in main["frames"]]
    assert got == [("sleep_forever", lines["sleep"]), ("main", lines["call-sleep"]),
                   ("<module>", lines["call-main"])], got
    assert all(f["file"] == SLEEP for f in main["frames"])
    block = text_block(text, p.pid)
    assert block[0].startswith("Thread %d " % p.pid) and "(sleeping" in block[0], block[0]
    assert block[1:] == [
        "    sleep_forever (%s:%d)" % (SLEEP, lines["sleep"]),
        "        time.sleep(3600)  # L:sleep",
        "    main (%s:%d)" % (SLEEP, lines["call-sleep"]),
        "        sleep_forever()  # L:call-sleep",
        "    <module> (%s:%d)" % (SLEEP, lines["call-main"]),
        "        main()  # L:call-main",
    ], "\n".join(block)


@params(VERSIONS)
def test_asyncio_event_loop(version):
    argv = harness.need_interpreter(version)
    lines = marker_lines(ASYNC)
    p = harness.start(argv + [ASYNC], ready_marker="ready")
    doc = dump_json(["-p", str(p.pid)])
    harness.stop(p)
    main = thread_by_tid(doc, p.pid)
    labels = [f["label"] for f in main["frames"]]
    assert re.match(r"^(\w+Selector\.)?select \(.*/selectors\.py:\d+\)$", labels[0]), labels
    assert main["frames"][0]["source"], main["frames"][0]
    runs = [i for i, l in enumerate(labels) if re.match(r"^(BaseEventLoop\.)?run_forever \(.*/base_events\.py:\d+\)$", l)]
    assert runs, "no run_forever frame: %s" % labels
    assert any(l.startswith("_run_once (") or l.startswith("BaseEventLoop._run_once (") for l in labels[:runs[0]])
    assert labels[-1] == "<module> (%s:%d)" % (ASYNC, lines["run"]), labels[-1]
    assert main["state"] == "sleeping"
    # the selector's epoll set: the loop's self-pipe at least
    assert main["wait"]["kind"] == "epoll" and main["wait"]["fds"] >= 1, main["wait"]
    assert re.match(r"^waiting in epoll on \d+ fds?$", main["wait"]["text"]), main["wait"]


@params(VERSIONS)
def test_gil_holder(version):
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [SPIN], ready_marker="ready")
    seen_holder = dumps = 0
    try:
        # Up to 30 dumps until three name a holder: a loaded machine can
        # catch the GIL between holders now and then.
        while dumps < 30 and seen_holder < 3:
            dumps += 1
            doc = dump_json(["-p", str(p.pid)])
            holders = [t for t in doc["threads"] if t["holds_gil"]]
            assert all(t["holds_gil"] is not None for t in doc["threads"]), "GIL unknown on %s" % version
            assert len(holders) <= 1, "several GIL holders: %s" % holders
            if holders:
                seen_holder += 1
                top = holders[0]["frames"][0]["function"] if holders[0]["frames"] else None
                assert top in ("spin_alpha", "spin_beta", "spin_gamma"), holders[0]
            assert thread_by_tid(doc, p.pid)["holds_gil"] is False
    finally:
        harness.stop(p)
    # Three threads spin: the GIL is nearly always held by one of them.
    assert seen_holder >= 3, "a GIL holder in only %d of %d dumps" % (seen_holder, dumps)


def test_errors():
    # A PID that cannot exist (PIDs stay below pid_max, at most 4194304).
    p = harness.run_pyperf(["dump", "-p", "4194304"], check=False)
    assert p.returncode == 1 and p.stderr.strip() == "pyperf dump: no process with PID 4194304", p.stderr
    assert p.stdout == ""
    s = subprocess.Popen(["sleep", "100"])
    try:
        p = harness.run_pyperf(["dump", "-p", str(s.pid)], check=False)
    finally:
        s.kill()
        s.wait()
    assert p.returncode == 1, p
    assert p.stderr.startswith("pyperf dump: PID %d (sleep) is not a Python process" % s.pid), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    for args, msg in ((["dump"], "which process?"), (["dump", "-p", "x"], "invalid PID 'x'"),
                      (["dump", "-p", "1", "--core", "c"], "give one of -p PID, -a or --core CORE"),
                      (["dump", "-p", "1", "--exe", "python"], "--exe goes with --core"),
                      (["dump", "-p", "1", "extra"], "unexpected argument 'extra'")):
        p = harness.run_pyperf(args, check=False)
        assert p.returncode == 2 and msg in p.stderr, (args, p.returncode, p.stderr)
    p = harness.run_pyperf(["dump", "--help"])
    for opt in ("-p, --pid", "--core", "--exe", "--json", "--native"):
        assert opt in p.stdout, opt
    p = harness.run_pyperf(["--help"])
    assert re.search(r"^  dump ", p.stdout, re.M), p.stdout


def test_core_errors():
    with tempfile.TemporaryDirectory() as d:
        p = harness.run_pyperf(["dump", "--core", os.path.join(d, "nope")], check=False)
        assert p.returncode == 1 and "pyperf dump: " in p.stderr and "nope" in p.stderr, p.stderr
        notcore = os.path.join(d, "notcore")
        with open(notcore, "wb") as f:
            f.write(b"hello" * 100)
        p = harness.run_pyperf(["dump", "--core", notcore], check=False)
        assert p.returncode == 1 and "not an ELF core file" in p.stderr, p.stderr
        # An ELF file that is not a core.
        p = harness.run_pyperf(["dump", "--core", "/bin/sleep"], check=False)
        assert p.returncode == 1 and "not an ELF core file" in p.stderr, p.stderr


CORE_PATTERN = "/proc/sys/kernel/core_pattern"


@contextlib.contextmanager
def cores_into(tmp):
    """Cores of crashing processes go to tmp/core.PID meanwhile (the core
    pattern is restored afterwards); start them with core_limits."""
    try:
        with open(CORE_PATTERN) as f:
            old = f.read()
        with open(CORE_PATTERN, "w") as f:
            f.write(os.path.join(tmp, "core.%p"))
    except OSError as e:
        raise Skip("cannot set %s (%s): needs root outside a container" % (CORE_PATTERN, e))
    try:
        yield
    finally:
        with open(CORE_PATTERN, "w") as f:
            f.write(old)


def core_limits():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def wait_core(tmp, pid):
    core = os.path.join(tmp, "core.%d" % pid)
    deadline = time.monotonic() + 30
    # The kernel writes the core before the parent sees the exit, but a
    # pipe pattern or a slow disk may lag: poll briefly for it.
    while not os.path.exists(core) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not os.path.exists(core):
        raise AssertionError("no core file at %s; files: %s" % (core, os.listdir(tmp)))
    return core


def make_core(argv, tmp, env=None):
    """Runs the crash target with cores enabled and the core pattern pointing
    into tmp (restored afterwards), in env (default: ours). Returns (pid,
    core path, stdout)."""
    with cores_into(tmp):
        env = dict(os.environ if env is None else env)
        env.pop("PYTHONFAULTHANDLER", None)
        p = subprocess.Popen(argv + [CRASH], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=core_limits, env=env)
        out, err = p.communicate(timeout=60)
        assert p.returncode == -signal.SIGSEGV, "target exited %d, not by SIGSEGV: %s" % (p.returncode, err[-2000:])
        return p.pid, wait_core(tmp, p.pid), out


def python_exe(version, argv):
    """The interpreter's ELF executable (sid's run through their loader)."""
    if version in harness.SID_VERSIONS:
        return subprocess.check_output([harness.SID_PYTHON, "exe", version], text=True).strip()
    return os.path.realpath(argv[0])


@params(VERSIONS)
def test_core_file(version):
    argv = harness.need_interpreter(version)
    lines = marker_lines(CRASH)
    with tempfile.TemporaryDirectory() as tmp:
        pid, core, out = make_core(argv, tmp)
        waiter_tid = int(out.split()[1])
        exe = python_exe(version, argv)
        doc = dump_json(["--core", core, "--exe", exe])
        text = dump_text(["--core", core, "--exe", exe])
        # --exe is optional: the core names the executable.
        doc2 = dump_json(["--core", core])
    assert doc["pid"] == pid and doc["core"] == core and doc["signal"] == signal.SIGSEGV, doc
    assert doc["core_truncated"] is False, doc
    main = thread_by_tid(doc, pid)
    got = [(f["function"], f["line"]) for f in main["frames"] if f["file"] == CRASH]
    assert got == [("crash", lines["crash"]), ("main", lines["call-crash"]), ("<module>", lines["call-main"])], \
        main["frames"]
    # ctypes.string_at is Python code calling the C function that faulted.
    top = main["frames"][0]
    assert top["function"] == "string_at" and top["file"].endswith("/ctypes/__init__.py"), top
    assert main["frames"][1]["function"] == "crash", main["frames"][:2]
    assert main["frames"][1]["source"] == source_of(CRASH, lines["crash"])
    waiter = thread_by_tid(doc, waiter_tid)
    wfuncs = [f["function"] for f in waiter["frames"]]
    assert "waiter" in wfuncs and [f["line"] for f in waiter["frames"] if f["function"] == "waiter"] == \
        [lines["wait"]], waiter["frames"]
    assert [t["frames"] for t in doc2["threads"]] == [t["frames"] for t in doc["threads"]]
    assert text.startswith("Core file %s: PID %d" % (core, pid)), text[:300]
    block = text_block(text, pid)
    assert block[3] == "    crash (%s:%d)" % (CRASH, lines["crash"]), block


def core_notes_extent(core):
    """(offset, size) of the core's PT_NOTE segment, from its program headers."""
    with open(core, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", ph, i * phentsize)
        if p_type == 4:  # PT_NOTE
            return p_offset, p_filesz
    raise AssertionError("no PT_NOTE in %s" % core)


def cut_core(core, length, tmp):
    """A copy of the first length bytes of core (as `head -c` makes it)."""
    cut = os.path.join(tmp, "cut.%d" % length)
    with open(core, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(length))
    return cut


def test_core_truncated():
    """A core cut short says so first, with its size and the size it should
    have: exit 1 when too little is left for any stack, else 0 with the
    stacks that could be read and the cut marked in text and JSON."""
    argv = harness.need_interpreter("debian3.11")
    with tempfile.TemporaryDirectory() as tmp:
        pid, core, _ = make_core(argv, tmp)
        size = os.path.getsize(core)
        notes_off, notes_len = core_notes_extent(core)
        assert dump_json(["--core", core])["core_truncated"] is False
        head = "pyperf dump: the core is truncated (%d of %d bytes): "
        # Inside the ELF header, the program headers, at the start of the
        # notes, inside them.
        for length, want in ((40, "pyperf dump: the core is truncated (40 bytes): it ends inside its ELF header"),
                             (1000, "pyperf dump: the core is truncated (1000 of at least "),
                             (notes_off + 8, head % (notes_off + 8, size)),
                             (notes_off + notes_len // 2, head % (notes_off + notes_len // 2, size))):
            p = harness.run_pyperf(["dump", "--core", cut_core(core, length, tmp)], check=False)
            assert p.returncode == 1, (length, p.returncode, p.stderr)
            lines = p.stderr.splitlines()
            assert len(lines) == 1 and want in lines[0], (length, p.stderr)
        # Inside the memory segments, past the interpreter's state.
        length = size * 9 // 10
        cut = cut_core(core, length, tmp)
        p = harness.run_pyperf(["dump", "--core", cut], check=False)
        assert p.returncode == 0, p.stderr
        assert p.stderr.splitlines()[0] == (head % (length, size)) + \
            "frames in the missing part show as unreadable", p.stderr
        assert "(the core is truncated (%d of %d bytes)" % (length, size) in p.stdout.splitlines()[1], p.stdout
        assert "Thread %d " % pid in p.stdout, p.stdout
        doc = dump_json(["--core", cut])
        assert doc["core_truncated"] is True and doc["pid"] == pid, doc


def build_id(path):
    """The GNU build id of an ELF file, as readelf prints it."""
    out = subprocess.check_output(["readelf", "-n", path], text=True)
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    assert m, "no build id in %s" % path
    return m.group(1)


@params(["debian3.11", "3.12"])
def test_core_wrong_exe(version):
    """--exe that is not the program that dumped the core (another Python,
    /bin/ls) is named as such, with both build ids; the right one works."""
    argv = harness.need_interpreter(version)
    exe = python_exe(version, argv)
    others = [p for p in (harness.pyenv_python(m) for m in (11, 10, 12, 13)) if p and os.path.realpath(p) != exe]
    if not others:
        raise Skip("no other Python installed to give as a wrong --exe")
    with tempfile.TemporaryDirectory() as tmp:
        pid, core, _ = make_core(argv, tmp)
        for wrong in (others[0], "/bin/ls"):
            p = harness.run_pyperf(["dump", "--core", core, "--exe", wrong], check=False)
            want = "pyperf dump: --exe %s is not the program that dumped this core, which ran %s (build id %s, " \
                "the core's is %s)" % (wrong, exe, build_id(wrong), build_id(exe))
            assert p.returncode == 1 and p.stderr.strip() == want and not p.stdout, (wrong, p.returncode, p.stderr)
        doc = dump_json(["--core", core, "--exe", exe])
        assert thread_by_tid(doc, pid)["frames"], doc


def test_core_library_replaced():
    """A library replaced since the crash (here libpython, loaded from a copy
    that is then overwritten by another version's) is named, not read."""
    argv = harness.need_interpreter("3.12")
    other = harness.pyenv_python(11)
    if not other:
        raise Skip("Python 3.11 (pyenv) is not installed")
    real = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(argv[0]))), "lib", "libpython3.12.so.1.0")
    with tempfile.TemporaryDirectory() as tmp:
        lib = os.path.join(tmp, "lib")
        os.mkdir(lib)
        copy = os.path.join(lib, "libpython3.12.so.1.0")
        shutil.copy(real, copy)
        pid, core, _ = make_core(argv, tmp, env=dict(os.environ, LD_LIBRARY_PATH=lib))
        assert thread_by_tid(dump_json(["--core", core]), pid)["frames"]
        replacement = os.path.join(os.path.dirname(os.path.dirname(other)), "lib", "libpython3.11.so.1.0")
        shutil.copy(replacement, copy)
        p = harness.run_pyperf(["dump", "--core", core], check=False)
    want = "pyperf dump: %s is not the file the core mapped (build id %s, the core's is %s), so it is left out" \
        % (copy, build_id(replacement), build_id(real))
    assert p.returncode == 1 and p.stderr.startswith(want), p.stderr


# Python frames are matched with the evaluation loop's native frames where the
# interpreter marks each C-level evaluation call (3.8-3.10: one per frame;
# 3.11: the frame's is_entry flag; 3.12+: entry frames), not in a build
# without the _PyEval_EvalFrameDefault symbol.
MERGES = {"3.8", "3.9", "3.10", "3.11", "debian3.11", "3.12", "3.13"}
# Stripped builds without debug files here: Debian's python3.11 keeps only
# exported symbols; sid's interpreters and libraries (3.14, 3.15) none we use.
STRIPPED = {"debian3.11", "3.14", "3.15"}


def check_native(th, version, innermost_any, where):
    nat = th.get("native")
    assert nat, "%s: no native frames: %s" % (where, th.get("native_error"))
    syms = [n["symbol"] or "" for n in nat]
    if version in {"3.14", "3.15"}:
        assert "/libc.so" in (nat[0]["file"] or ""), "%s: innermost native frame %s" % (where, nat[0])
    else:
        assert any(s in innermost_any for s in syms[:3]), "%s: innermost native frames %s" % (where, syms[:6])
    # The whole stack, down to the thread's start (where the C library
    # marks the end of the call frame information).
    assert syms[-1] in ("_start", "__clone3", "__GI___clone3", "clone3", "__clone") or \
        (version in {"3.14", "3.15"} and "/libc.so" in (nat[-1]["file"] or "") and not th.get("native_error")), \
        "%s: outermost native frame %s (%s)" % (where, nat[-1], th.get("native_error"))
    if version in MERGES:
        assert th["native_merged"], "%s: Python frames not matched: %s" % (where, syms)
        covered = []
        for n in nat:
            if "python_frames" in n and n["python_frames"][1]:
                first, count = n["python_frames"]
                assert n["symbol"] == "_PyEval_EvalFrameDefault", n
                covered.extend(range(first, first + count))
        assert covered == list(range(len(covered))) and covered, covered
    else:
        assert not th["native_merged"]


@params(VERSIONS)
def test_native_frames(version):
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [SLEEP], ready_marker="ready")
    try:
        doc = dump_json(["-p", str(p.pid), "--native"])
        text = dump_text(["-p", str(p.pid), "--native"])
    finally:
        harness.stop(p)
    main = thread_by_tid(doc, p.pid)
    if version == "3.15":
        # sid's 3.15 keeps frame pointers: its frames' CFI needs rbp, which
        # the kernel does not show for a live thread it has not stopped.
        assert main["native"] and "register not recovered (6)" in main["native_error"], main
        return
    # time.sleep waits in clock_nanosleep (3.11+) or select (before).
    check_native(main, version, ("clock_nanosleep", "select", "__select"), "sleeping main thread")
    # Python frames are unchanged by --native.
    assert [f["function"] for f in main["frames"]] == ["sleep_forever", "main", "<module>"]
    assert re.search(r"^    \[native\] 0x[0-9a-f]+ (clock_nanosleep|select|__select)\+0x[0-9a-f]+ \(/", text, re.M), text
    assert re.search(r"^    \[native\] 0x[0-9a-f]+ _start\+0x[0-9a-f]+ \(/", text, re.M), text
    if version not in MERGES:
        assert "  native frames:\n" in text, text


@params(VERSIONS)
def test_native_frames_core(version):
    argv = harness.need_interpreter(version)
    with tempfile.TemporaryDirectory() as tmp:
        pid, core, out = make_core(argv, tmp)
        waiter_tid = int(out.split()[1])
        doc = dump_json(["--core", core, "--native"])
    main = thread_by_tid(doc, pid)
    # The fault is in the C library's strlen, called by ctypes' string_at.
    check_native(main, version, ("strlen", "__strlen_avx2", "__strlen_sse2", "__strlen_evex"), "crashed thread")
    syms = [n["symbol"] or "" for n in main["native"]]
    if version not in STRIPPED:
        assert "string_at" in syms[:3], syms[:6]
    check_native(thread_by_tid(doc, waiter_tid), version,
                 ("__futex_abstimed_wait_common", "futex_wait", "__GI___futex_abstimed_wait_cancelable64",
                  "do_futex_wait", "__new_sem_wait_slow64.constprop.0"), "waiting thread")


SORTED = os.path.join(harness.TARGETS, "dump_sorted.py")


def merged_sequence(th):
    """The thread's frames as dump prints them merged, innermost first:
    ("c", symbol) for a native frame, ("py", function) for a Python one,
    each evaluation loop's Python frames just before its native frame."""
    out = []
    for n in th["native"]:
        first, count = n.get("python_frames") or (0, 0)
        out.extend(("py", f["function"]) for f in th["frames"][first:first + count])
        out.append(("c", n["symbol"] or ""))
    return out


@params(sorted(MERGES))
def test_native_merge_order(version):
    """Python -> C -> Python: a key function called by sorted() sleeps. The
    merged stack is leaf, key, their evaluation loop, sorted()'s C frames,
    then outer, main, <module> and theirs (sid's 3.14 and 3.15 have no
    symbols here to find the evaluation loop by: not merged, see MERGES)."""
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [SORTED], ready_marker="ready")
    try:
        doc = dump_json(["-p", str(p.pid), "--native"])
        text = dump_text(["-p", str(p.pid), "--native"])
    finally:
        harness.stop(p)
    main = thread_by_tid(doc, p.pid)
    assert [f["function"] for f in main["frames"]] == ["leaf", "key", "outer", "main", "<module>"], main["frames"]
    assert main["native_merged"], "not merged: %s" % [n["symbol"] for n in main["native"]]
    seq = merged_sequence(main)
    assert [x for k, x in seq if k == "py"] == ["leaf", "key", "outer", "main", "<module>"], seq
    i_key, i_outer = seq.index(("py", "key")), seq.index(("py", "outer"))
    between = [x for k, x in seq[i_key + 1:i_outer] if k == "c"]
    # key's evaluation loop, then C frames (the call into key, sorted()'s
    # own) up to the loop running outer: nothing Python in between.
    assert between and between[0] == "_PyEval_EvalFrameDefault", (between, seq)
    assert [k for k, _ in seq[i_key + 1:i_outer]] == ["c"] * len(between), seq
    assert len(between) >= 3, between
    if version not in STRIPPED:
        assert "builtin_sorted" in between, between
    # Each Python frame sits right before the loop that runs it (3.11:
    # leaf and key share one, outer, main and <module> another).
    evals = [i for i, (k, x) in enumerate(seq) if x == "_PyEval_EvalFrameDefault"]
    assert all(i > 0 and seq[i - 1][0] == "py" for i in evals), seq
    assert seq[evals[-1] - 1] == ("py", "<module>"), seq
    want = 5 if version in {"3.8", "3.9", "3.10"} else 2
    assert len(evals) == want, "%d evaluation loops, want %d: %s" % (len(evals), want, seq)
    # The text output in the same order.
    lines = [l.strip() for l in text.splitlines()]
    pos = [next(i for i, l in enumerate(lines) if l.startswith(w)) for w in
           ("leaf (", "key (", "outer (", "main (", "<module> (")]
    assert pos == sorted(pos), text
    key_to_outer = lines[pos[1]:pos[2]]
    assert any(l.startswith("[native] ") and "_PyEval_EvalFrameDefault+" in l for l in key_to_outer), text
    if version not in STRIPPED:
        assert any("builtin_sorted+" in l for l in key_to_outer), text


CHURN = os.path.join(harness.TARGETS, "dump_churn.py")


@params(VERSIONS)
def test_changing_stacks_never_garbage(version):
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [CHURN], ready_marker="ready")
    allowed = {"f", "g", "h", "churn"}
    changing = 0
    try:
        for _ in range(15):
            doc = dump_json(["-p", str(p.pid)])
            for th in doc["threads"]:
                if th["tid"] == p.pid:
                    continue
                funcs = [fr["function"] for fr in th["frames"]]
                ours = [fn for fn in funcs if fn is not None and not fn.endswith(("run", "_bootstrap", "_bootstrap_inner"))]
                # Whatever the timing: no frame that is not one of these.
                assert None not in funcs and set(ours) <= allowed, "unexpected frames: %s" % funcs
                assert all(fr["file"] == CHURN for fr in th["frames"] if fr["function"] in allowed)
                flagged = th["broken_chain"] or th["read_fault"] or th["truncated"]
                if th["consistent"] and not flagged:
                    # A stack given as consistent is whole: down to the thread's start.
                    assert funcs and funcs[-1].endswith("_bootstrap"), th
                    assert funcs[-2].endswith("_bootstrap_inner") and funcs[-3].endswith("run"), funcs
                    assert funcs[-4] == "churn", funcs
                changing += not th["consistent"]
    finally:
        harness.stop(p)


@params(["debian3.11", "3.12", "3.14", "3.15"])
def test_native_running_thread(version):
    """A thread on a CPU cannot be unwound from /proc without stopping it:
    dump --native samples it with record --native's in-kernel unwinder and
    shows that stack, Python frames in place among the native ones."""
    argv = harness.need_interpreter(version)
    lines = marker_lines(SPIN)
    p = harness.start(argv + [SPIN], ready_marker="ready")
    try:
        # The GIL holder runs, so nearly every dump finds one thread on a
        # CPU; a few tries cover the rare dump that reads it off one.
        sampled, block = [], None
        for _ in range(5):
            doc = dump_json(["-p", str(p.pid), "--native"])
            sampled = sampled or [t for t in doc["threads"] if t.get("sampled")]
            text = dump_text(["-p", str(p.pid), "--native"])
            running = [t["tid"] for t in doc["threads"]] and re.findall(
                r"^Thread (\d+) .*\n    \(running: sampled on its CPU", text, re.M)
            block = block or (text_block(text, int(running[0])) if running else None)
            if sampled and block:
                break
    finally:
        harness.stop(p)
    assert sampled and block, "no running thread sampled in 5 dumps: %s" % [
        (t["name"], t["state"], t.get("native_error")) for t in doc["threads"]]
    for th in sampled:
        frames = th["sampled"]
        py = [(f["function"], f.get("line")) for f in frames if f["kind"] == "python"]
        assert py and py[0][0].startswith("spin_"), "%s: innermost Python frame: %s" % (th["name"], py)
        fn, line = py[0]
        # the loop's body, or its `while True:` (the jump back)
        assert line in (lines[fn[len("spin_"):]], lines[fn[len("spin_"):]] - 1), (fn, line, lines)
        assert [f for f, _ in py[1:]] == ["Thread.run", "Thread._bootstrap_inner", "Thread._bootstrap"], py
        kinds = [f["kind"] for f in frames]
        # The interpreter's and the thread start's C frames below (outside)
        # the Python ones.
        assert kinds[-1] == "native" and kinds[kinds.index("python"):].count("native") >= 3, kinds
        assert "native_error" not in th, th
    # Text: the note, the spinning function with its source, native frames.
    assert re.match(r"    spin_\w+ \(", block[2]) or re.match(r"    \[native\] ", block[2]), block[:4]
    assert any(l.startswith("    spin_") for l in block) and any(l.startswith("    [native] ") for l in block), block


NAMES = os.path.join(harness.TARGETS, "dump_names.py")
PYOBJ_READ = os.path.join(harness.BUILD, "tests", "pyobj_read")


def os_name(pid, tid):
    with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
        return f.read().rstrip("\n")


def check_names(doc, text, want, os_names=None):
    """want: tid -> Python name; os_names: tid -> OS name (None: not checked)."""
    for tid, name in want.items():
        th = thread_by_tid(doc, tid)
        assert th["name"] == name, (tid, th["name"], name)
        header = text_block(text, tid)[0]
        assert header.startswith('Thread %d "%s"' % (tid, name)), header
        if os_names is None:
            continue
        assert th["os_name"] == os_names[tid], (th, os_names[tid])
        shown = 'os name "%s"' % os_names[tid]
        assert (shown in header) == (os_names[tid] != name), header


@params(VERSIONS)
def test_thread_names_and_objects(version):
    """Python thread names (threading.Thread.name) in dump, text and JSON,
    live and from a core, and in record --threads; a thread with only a
    _DummyThread keeps its OS name. The same target's objects read by
    pyobj.c (tests/helpers/pyobj_read) match what the target says."""
    argv = harness.need_interpreter(version)
    if not os.access(PYOBJ_READ, os.X_OK):
        raise AssertionError("%s is missing: run make unit" % PYOBJ_READ)
    with tempfile.TemporaryDirectory() as tmp, cores_into(tmp):
        env = dict(os.environ)
        env.pop("PYTHONFAULTHANDLER", None)
        p = harness.start(argv + [NAMES], stdin=subprocess.PIPE, preexec_fn=core_limits, env=env)
        ready = p.stdout.readline().split()
        assert ready and ready[0] == "ready", "target did not get ready: %r %s" % (ready, p.stderr.read()[-2000:])
        worker, pool, cthread = (int(t) for t in ready[1:4])
        objs = p.stdout.readline().split()
        expect = json.loads(p.stdout.readline().split(" ", 1)[1])
        want = {p.pid: "MainThread", worker: "request-worker", pool: "db-pool-1", cthread: "c-thread"}
        os_names = {tid: os_name(p.pid, tid) for tid in want}
        doc = dump_json(["-p", str(p.pid)])
        text = dump_text(["-p", str(p.pid)])
        rec = os.path.join(tmp, "threads.folded")
        harness.run_pyperf(["record", "-p", str(p.pid), "-d", "1", "--mode", "offcpu", "--threads", "-o", rec])

        def read(*args):
            r = subprocess.run([PYOBJ_READ, str(p.pid)] + list(args), capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, (args, r.stderr)
            return r.stdout.strip()
        got_values = json.loads(read("value", objs[1]))
        got_attrs = [json.loads(read("attr", objs[2], "label")), json.loads(read("attr", objs[2], "count")),
                     json.loads(read("attr", objs[3], "a39"))]
        got_module = read("module", "threading")
        p.stdin.write("crash\n")
        p.stdin.flush()
        p.wait(timeout=60)
        assert p.returncode == -signal.SIGSEGV, "target exited %d, not by SIGSEGV" % p.returncode
        core = wait_core(tmp, p.pid)
        exe = python_exe(version, argv)
        cdoc = dump_json(["--core", core, "--exe", exe])
        ctext = dump_text(["--core", core, "--exe", exe])
        with open(rec) as f:
            stacks = harness.parse_folded(f.read())
    assert os_names[worker] != "request-worker" or version in ("3.14", "3.15"), os_names
    check_names(doc, text, want, os_names)
    # A core keeps no OS thread names (only the process's): the C thread
    # has none there, and never its _DummyThread's "Dummy-N".
    check_names(cdoc, ctext, {tid: n for tid, n in want.items() if tid != cthread})
    assert thread_by_tid(cdoc, cthread)["name"] in (None, "c-thread"), thread_by_tid(cdoc, cthread)
    roots = {fr[1] for fr, _ in stacks}
    for tid, name in want.items():
        assert "thread %s (%d)" % (name, tid) in roots, (name, roots)
    assert got_values == expect, "pyobj read:\n%s\nthe target says:\n%s" % (got_values, expect)
    assert got_attrs == ["plain", {"int": "42"}, {"int": "39"}], got_attrs
    assert int(got_module, 16) == int(objs[4], 16), (got_module, objs[4])
