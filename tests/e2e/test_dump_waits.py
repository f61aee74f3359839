"""pyperf dump: what each thread waits on (live and from a core), the GIL
holder and its waiters, deadlocks on RLocks named, dump -a. One target per
version (tests/targets/dump_waits.py) serves every check."""
import json
import os
import re
import signal
import subprocess
import tempfile

import harness
from harness import Skip, params
from test_dump import cores_into, core_limits, dump_json, wait_core

VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "debian3.11", "3.14", "3.15"]
TARGET = os.path.join(harness.TARGETS, "dump_waits.py")


def by_tid(doc):
    return {t["tid"]: t for t in doc["threads"]}


def read_line(p, prefix):
    while True:
        line = p.stdout.readline()
        if not line:
            raise AssertionError("target exited before '%s': %s" % (prefix, p.stderr.read()[-2000:]))
        if line.startswith(prefix + " "):
            return line.split()[1:]


def abort_to_core(p, tmp):
    """Kills p (started with core_limits) with SIGABRT, its core written into
    tmp (the system's core pattern restored afterwards). Returns the core's
    path."""
    with cores_into(tmp):
        os.kill(p.pid, signal.SIGABRT)
        p.wait(timeout=60)
        return wait_core(tmp, p.pid)


def check_blocked(version, doc, text, info, lines, core):
    """The descriptions of the blocked threads (core: what the registers say)."""
    th = by_tid(doc)
    t = {role: th[int(info[role])] for role in info if role.startswith(("w-", "dl-"))}

    def wait(role):
        w = t[role]["wait"]
        assert w, "%s: no wait: %s" % (role, t[role])
        return w

    for role, kind, txt in (("w-queue", "queue", "waiting on queue.get"), ("w-event", "event", "waiting on an event"),
                            ("w-rlock-owner", "event", "waiting on an event"),
                            ("w-join", "join", 'joining thread %s "w-event"' % info["w-event"])):
        assert (wait(role)["kind"], wait(role)["text"]) == (kind, txt), (role, wait(role))
    assert wait("w-join")["waits_for_tid"] == int(info["w-event"]), wait("w-join")
    w = wait("w-lock")
    assert w["kind"] == "lock" and w["lock"] == info["lock"] and w["lock_type"] == "Lock", w
    assert w["text"] == "waiting on a lock (Lock at %s; a Lock records no owner)" % info["lock"], w
    w = wait("w-rlock")
    owner = int(info["w-rlock-owner"])
    assert w["text"] == "waiting on a lock (RLock at %s, owned by thread %d)" % (info["rlock"], owner), w
    assert w["lock"] == info["rlock"] and w["lock_type"] == "RLock" and w["waits_for_tid"] == owner, w
    w = wait("w-sleep")
    assert w["kind"] == "sleep", w
    if version in ("3.8", "3.9", "3.10"):
        # select(0, ..., timeout): the time asked for this call
        assert re.match(r"^sleeping \(\d+\.\d s requested\)$", w["text"]) and 3000 < w["seconds_requested"] <= 3600, w
    elif core:
        assert w["text"] == "sleeping", w  # the deadline is absolute; a core has no clock
    else:
        assert re.match(r"^sleeping \(\d+\.\d s left\)$", w["text"]) and 3000 < w["seconds_left"] <= 3600, w
    w = wait("w-recv")
    assert w["kind"] == "read", w
    if core:
        assert re.match(r"^reading from fd \d+ \(descriptors are not in a core\)$", w["text"]), w
    else:
        assert w["text"] == "reading from TCP socket " + info["conn"].replace("->", " -> "), w
    w = wait("w-select")
    assert w["kind"] == "select" and w["fds"] == 1, w
    if not core:
        assert w["text"] == "waiting in select on 1 fd: TCP socket " + info["cli"].replace("->", " -> "), w
    main = th[doc["pid"]]["wait"]
    if core:
        # back from reading "spin": it may wait for the GIL the spinners hold
        assert main["kind"] in ("read", "gil"), main
    else:
        assert main["text"] == "reading from pipe", main  # the target reads its stdin
    # Two threads each own one RLock and wait for the other's.
    a, b = int(info["dl-a"]), int(info["dl-b"])
    assert wait("dl-a")["waits_for_tid"] == b and wait("dl-b")["waits_for_tid"] == a, (wait("dl-a"), wait("dl-b"))
    assert sorted(map(sorted, ([c["tid"], c["waits_for"]] for cyc in doc["deadlocks"] for c in cyc))) == \
        [sorted([a, b])] * 2, doc["deadlocks"]
    names = {tid: th[tid]["name"] for tid in (a, b)}
    ref = {tid: 'thread %d "%s"' % (tid, names[tid]) if names[tid] else "thread %d" % tid for tid in (a, b)}
    want = "deadlock: %s waits for %s (%s:%d) -> %s waits for %s (%s:%d)" % (
        ref[a], ref[b], TARGET, lines["dl-a"], ref[b], ref[a], TARGET, lines["dl-b"])
    assert want in text.splitlines(), "no '%s' in:\n%s" % (want, text)
    # Text: the description follows the thread's header.
    hdr = [l for l in text.splitlines() if re.match(r"Thread %s\b" % info["w-queue"], l)]
    assert hdr and hdr[0].endswith(": waiting on queue.get"), hdr


def check_gil(p, version):
    """Four threads spin: dumps name the holder, and the waiters wait for it."""
    p.stdin.write("spin\n")
    p.stdin.flush()
    spinners = {int(x) for x in read_line(p, "spinning")}
    seen = []
    for _ in range(30):
        doc = dump_json(["-p", str(p.pid)])
        th = by_tid(doc)
        holders = [tid for tid in spinners if th[tid]["holds_gil"]]
        waiters = [th[tid]["wait"] for tid in spinners if th[tid]["wait"] and th[tid]["wait"]["kind"] == "gil"]
        if len(holders) == 1 and any(w.get("waits_for_tid") == holders[0] for w in waiters):
            w = [w for w in waiters if w.get("waits_for_tid") == holders[0]][0]
            assert w["text"] == "waiting for the GIL (held by thread %d)" % holders[0], w
            return
        seen.append((holders, waiters))
    raise AssertionError("no dump showed a GIL waiter and its holder: %s" % seen[-3:])


@params(VERSIONS)
def test_waits(version):
    argv = harness.need_interpreter(version)
    lines = harness.marker_lines(TARGET)
    p = harness.start(argv + [TARGET], stdin=subprocess.PIPE, preexec_fn=core_limits)
    try:
        info = dict(kv.split("=", 1) for kv in read_line(p, "ready"))
        doc = dump_json(["-p", str(p.pid)])
        text = harness.run_pyperf(["dump", "-p", str(p.pid)]).stdout
        check_blocked(version, doc, text, info, lines, core=False)
        check_gil(p, version)
        with tempfile.TemporaryDirectory() as tmp:
            core = abort_to_core(p, tmp)
            doc = dump_json(["--core", core])
            text = harness.run_pyperf(["dump", "--core", core]).stdout
        check_blocked(version, doc, text, info, lines, core=True)
    finally:
        harness.stop(p)


def test_dump_all():
    """dump -a: processes of three versions, each under its header."""
    have = []
    for v in ("3.9", "3.12", "debian3.11", "3.14", "3.11", "3.13"):
        argv = harness.interpreter(v)
        if argv and len(have) < 3:
            have.append((v, argv))
    if len(have) < 3:
        raise Skip("fewer than three Python versions installed")
    procs = [harness.start(argv + ["-c", "import time; print('ready', flush=True); time.sleep(600)"],
                           ready_marker="ready") for _, argv in have]
    try:
        text = harness.run_pyperf(["dump", "-a"]).stdout
        doc = harness.run_pyperf(["dump", "-a", "--json"]).stdout
    finally:
        for p in procs:
            harness.stop(p)
    docs = {d["pid"]: d for d in json.loads(doc)}
    versions = set()
    for (v, _), p in zip(have, procs):
        d = docs.get(p.pid)
        assert d, "PID %d (%s) not in dump -a --json: %s" % (p.pid, v, sorted(docs))
        versions.add(d["python_version"][:4])
        main = by_tid(d)[p.pid]
        assert main["wait"]["kind"] == "sleep" and main["frames"][0]["function"] == "<module>", main
        m = re.search(r"^Process %d: .*\(CPython (3\.\d+)\.\d+\)\n\nThread %d .*: sleeping" % (p.pid, p.pid), text, re.M)
        assert m, "no header and thread for %d in:\n%s" % (p.pid, text[:3000])
    assert len(versions) == 3, versions
    p = harness.run_pyperf(["dump", "-a", "-p", "1"], check=False)
    assert p.returncode == 2 and "give one of -p PID, -a or --core CORE" in p.stderr, p.stderr
