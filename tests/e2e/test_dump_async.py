"""pyperf dump --async against real interpreters (3.11-3.15, Debian's static
3.11): the task tree of tests/targets/async_tree.py (gather, TaskGroup,
shield, an eager task, a Future a thread would set), each task's coroutine
stack down to its await, 5,000 pending tasks, a core file, and a version
without tasks."""
import json
import os
import re
import tempfile
import time

import harness
import test_dump
from harness import Skip, params

VERSIONS = ["3.11", "3.12", "3.13", "debian3.11", "3.14", "3.15"]
TREE = os.path.join(harness.TARGETS, "async_tree.py")


def lines():
    return test_dump.marker_lines(TREE)


def dump_json(args):
    return json.loads(harness.run_pyperf(["dump", "--async", "--json"] + args).stdout)


def minor(version):
    return int(version.split(".")[-1])


def check_tree(doc, version, many=0):
    L = lines()
    by_name = {}
    for t in doc["tasks"]:
        by_name.setdefault(t["name"], t)
    by_addr = {t["address"]: t for t in doc["tasks"]}

    def parents(name):
        return sorted(by_addr[a]["name"] for a in by_name[name]["awaited_by"])

    def own(name):
        """(function, line) of the frames in the target, innermost first."""
        return [(f["function"], f["line"]) for f in by_name[name]["frames"] if f["file"] == TREE]

    def awaits_sleep(name):
        t = by_name[name]
        if t["state"] == "running" or not t["consistent"]:
            return  # caught between two sleeps: its stack is not at an await
        top = t["frames"][0]
        assert top["function"] == "sleep" and top["file"].endswith("asyncio/tasks.py"), t["frames"]
        assert top["source"] == "return await future", top

    names = set(by_name)
    want = {"Task-1", "parent", "worker-1", "worker-2", "worker-3", "sleeper", "tg-parent", "tg-child-1",
            "tg-child-2", "shielder", "shielded", "future-waiter"}
    if minor(version) >= 12:
        want.add("eager")
    assert want <= names, sorted(names - {"many-%d" % k for k in range(many)})
    assert sum(n.startswith("many-") for n in (t["name"] for t in doc["tasks"])) == many
    assert parents("parent") == ["Task-1"], by_name["parent"]
    assert own("Task-1") == [("main", L["main-await"])], by_name["Task-1"]
    assert own("parent") == [("parent", L["gather"])], by_name["parent"]
    for i in (1, 2, 3):
        w = "worker-%d" % i
        assert parents(w) == ["parent"], by_name[w]
        if by_name[w]["state"] != "running" and by_name[w]["consistent"]:
            assert own(w) == [("leaf", L["leaf-sleep"]), ("middle", L["middle-await"]),
                              ("worker", L["worker-await"])], by_name[w]["frames"]
            awaits_sleep(w)
    assert parents("sleeper") == [] and own("sleeper") == [("sleeper", L["sleeper-sleep"])]
    awaits_sleep("sleeper")
    for c in ("tg-child-1", "tg-child-2"):
        assert parents(c) == ["tg-parent"], by_name[c]
        assert own(c) == [("tg_child", L["tg-child-sleep"])]
    assert own("tg-parent") == [("tg_parent", L["taskgroup"])], by_name["tg-parent"]
    # shield: 3.14+ record the awaiting task; 3.11-3.13 are linked through
    # the closure of shield's done callback on the future shielder awaits.
    assert parents("shielded") == ["shielder"], by_name["shielded"]
    assert parents("shielder") == [], by_name["shielder"]
    assert own("shielder") == [("shielder", L["shield"])]
    assert own("future-waiter") == [("future_waiter", L["future-await"])]
    assert by_name["future-waiter"]["state"] == "pending"
    if minor(version) >= 12:
        assert own("eager") == [("eager", L["eager-sleep"])]
        awaits_sleep("eager")
    for t in doc["tasks"]:
        if t["name"] in want:
            assert t["state"] in ("pending", "running"), t
    return by_name


def text_indent(text, name):
    for line in text.splitlines():
        m = re.match(r"( *)task (\S+) \[(\w+)\]", line)
        if m and m.group(2) == name:
            return len(m.group(1))
    raise AssertionError("no task %s in:\n%s" % (name, text))


@params(VERSIONS)
def test_tree(version):
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [TREE], ready_marker="ready")
    try:
        doc = dump_json(["-p", str(p.pid)])
        text = harness.run_pyperf(["dump", "--async", "-p", str(p.pid)]).stdout
    finally:
        harness.stop(p)
    by_name = check_tree(doc, version)
    # 3.14+ from the thread's own task list; 3.11-3.13 from the loop's
    # _thread_id (a pthread id) mapped to the TID through the thread states
    assert by_name["parent"]["tid"] == p.pid, by_name["parent"]
    assert "Thread %d " % p.pid in text, text[:500]
    assert "thread not known" not in text and "tasks may be missing" not in text, text[:500]
    # the text tree: children two columns under their parent
    assert text_indent(text, "Task-1") == 0 and text_indent(text, "parent") == 2
    for w in ("worker-1", "worker-2", "worker-3"):
        assert text_indent(text, w) == 4, text
    assert text_indent(text, "tg-child-1") == 2 and text_indent(text, "sleeper") == 0
    assert text_indent(text, "shielder") == 0 and text_indent(text, "shielded") == 2, text
    # coroutine stack lines: outermost first, innermost (asyncio.sleep) last
    block = text[text.index("task sleeper ["):].splitlines()
    assert block[1].strip() == "sleeper (%s:%d)" % (TREE, lines()["sleeper-sleep"]), block[:3]
    assert block[2].strip().startswith("sleep (") and "asyncio/tasks.py:" in block[2], block[:3]


@params(["3.12", "3.14"])
def test_many_tasks(version):
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [TREE, "many", "5000"], ready_marker="ready", timeout=60)
    try:
        doc = dump_json(["-p", str(p.pid)])
    finally:
        harness.stop(p)
    assert len(doc["tasks"]) >= 5000 and not doc["tasks_truncated"], len(doc["tasks"])
    check_tree(doc, version, many=5000)


@params(["3.12", "3.14", "debian3.11"])
def test_core_file(version):
    argv = harness.need_interpreter(version)
    with tempfile.TemporaryDirectory() as tmp:
        # make_core appends its own crash script to argv: async_tree.py
        # ignores it and crashes by itself ("crash") once ready.
        pid, core, out = test_dump.make_core(argv + [TREE, "crash"], tmp)
        assert "ready" in out, out
        exe = test_dump.python_exe(version, argv)
        doc = dump_json(["--core", core, "--exe", exe])
    assert doc["core"] == core
    by_name = check_tree(doc, version)
    assert by_name["parent"]["tid"] == pid, by_name["parent"]


def test_unsupported_version():
    argv = harness.need_interpreter("3.10")
    p = harness.start(argv + [os.path.join(harness.TARGETS, "dump_sleep.py")], ready_marker="ready")
    try:
        r = harness.run_pyperf(["dump", "--async", "-p", str(p.pid)], check=False)
    finally:
        harness.stop(p)
    assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout)
    assert r.stderr.count("\n") == 1 and "3.11" in r.stderr and "CPython 3.10" in r.stderr, r.stderr


def test_not_imported():
    argv = harness.need_interpreter("3.12")
    p = harness.start(argv + [os.path.join(harness.TARGETS, "dump_sleep.py")], ready_marker="ready")
    try:
        r = harness.run_pyperf(["dump", "--async", "-p", str(p.pid)], check=False)
    finally:
        harness.stop(p)
    assert r.returncode == 1 and "asyncio is not imported" in r.stderr, r.stderr
