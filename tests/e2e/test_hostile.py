"""Hostile targets: names that attack every writer, and corrupted frame chains."""
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import harness
from harness import params

HOSTILE = [
    "semi;colon", "new\nline", "<script>alert(1)</script>", "quo\"te's",
    "na\u00efve_\u6f22\u5b57_\U0001F600", "back\\slash", "trailing 123", "amp&lt;&amp;",
]
FILENAME = "/tmp/evil;dir/<b>\"x\"\n.py"


def record_hostile(version, out_name):
    argv = harness.need_interpreter(version)
    p = harness.start(argv + [os.path.join(harness.TARGETS, "hostile.py")], ready_marker="ready")
    d = tempfile.mkdtemp()
    out = os.path.join(d, out_name)
    try:
        r = harness.run_pyperf(["record", "-p", str(p.pid), "-d", "2", "-F", "999", "-o", out])
    finally:
        harness.stop(p)
    return out, r.stderr


def leaf_names(frames_list):
    names = set()
    for fr in frames_list:
        m = re.match(r"^(.*) \((.*):(\d+)\)$", fr, re.S)
        if m and m.group(2) == FILENAME:
            names.add(m.group(1))
    return names


@params(["3.9", "3.11", "3.12", "debian3.11", "3.14"])
def test_hostile_names_folded(version):
    out, err = record_hostile(version, "out.folded")
    with open(out, encoding="utf-8") as f:
        text = f.read()
    # Line structure survives: every line ends in a count, no raw newline in a name.
    assert all(re.search(r" \d+$", l) for l in text.split("\n") if l), text[:500]
    stacks = harness.parse_folded_escaped(text)
    names = leaf_names(fr[-1] for fr, _ in stacks)
    for h in HOSTILE:
        assert h in names, "%r missing; got %r\n%s" % (h, sorted(names)[:20], err)
    # The 3000-character name is cut on a character boundary, never garbled.
    longs = [n for n in names if n.startswith("LLLL")]
    assert longs and all(set(n.rstrip(".")) == {"L"} and len(n) <= 1100 for n in longs), longs[:1]


@params(["3.12", "debian3.11"])
def test_hostile_names_svg(version):
    out, err = record_hostile(version, "out.svg")
    tree = ET.parse(out)  # well-formed XML, whatever the names
    ns = "{http://www.w3.org/2000/svg}"
    scripts = tree.getroot().findall(".//%sscript" % ns)
    assert len(scripts) == 1, "names became script elements: %d" % len(scripts)
    titles = [t.text or "" for t in tree.getroot().iter(ns + "title")]
    texts = "\n".join(titles)
    for h in HOSTILE:
        # Control characters are shown escaped, as folded files write them.
        shown = h.replace("\n", "\\n")
        assert shown in texts, "%r not in any tooltip" % shown
    assert "alert(1)" not in (scripts[0].text or "")


def test_cycle_does_not_hang():
    for mode in ("self", "pair"):
        argv = harness.need_interpreter("3.12")
        p = harness.start(argv + [os.path.join(harness.TARGETS, "cycle.py"), mode], ready_marker="ready")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.folded")
            try:
                r = harness.run_pyperf(["record", "-p", str(p.pid), "-d", "1.5", "-F", "499", "-o", out],
                                       timeout=60)
            finally:
                harness.stop(p)
            with open(out) as f:
                stacks = harness.parse_folded(f.read())
        total = sum(c for _, c in stacks)
        assert total > 50, r.stderr
        if mode == "self":
            assert "broken frame chain" in r.stderr, r.stderr
            assert all(fr[0] == "[broken frame chain]" for fr, _ in stacks), stacks[:2]
            assert all(len(fr) == 2 and fr[1].startswith("leaf (") for fr, _ in stacks), stacks[:2]
        else:
            # leaf -> caller -> leaf ... until the depth limit: marked, never endless.
            assert all(fr[0].startswith("[truncated") and len(fr) == 1025 for fr, _ in stacks), \
                [(len(fr), fr[0]) for fr, _ in stacks[:3]]
