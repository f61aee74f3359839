"""pyperf flamegraph: folded stacks in, SVG out, checked by parsing the SVG.

The helpers here (fold_escape, render, parse_svg, tree_of) are also used by
test_flamegraph_browser.py.
"""
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import harness

SVG = "{http://www.w3.org/2000/svg}"
XPAD = 10
TITLE_RE = re.compile(r"^(.*) \(([\d,]+) (\S+), (\d+\.\d\d)%\)$", re.S)


def fold_escape(name):
    """A name as pyperf writes it in folded text (see flamegraph/folded.h)."""
    data = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
    out = bytearray()
    for b in data:
        if b == 0x5C:
            out += b"\\\\"
        elif b == 0x3B:
            out += b"\\;"
        elif b == 0x0A:
            out += b"\\n"
        elif b == 0x0D:
            out += b"\\r"
        elif b == 0x09:
            out += b"\\t"
        elif b < 0x20 or b == 0x7F:
            out += b"\\x%02x" % b
        else:
            out.append(b)
    return bytes(out)


def folded_bytes(stacks):
    """[(frames, count)] -> folded file contents."""
    return b"".join(b";".join(fold_escape(f) for f in frames) + b" %d\n" % count
                    for frames, count in stacks)


def workdir():
    return tempfile.mkdtemp(prefix="pyperf-fg-")


def render(stacks_or_bytes, args=(), check=True):
    """Runs pyperf flamegraph on folded input; returns (CompletedProcess, svg text)."""
    data = stacks_or_bytes if isinstance(stacks_or_bytes, bytes) else folded_bytes(stacks_or_bytes)
    d = workdir()
    try:
        src = os.path.join(d, "in.folded")
        out = os.path.join(d, "out.svg")
        with open(src, "wb") as f:
            f.write(data)
        p = harness.run_pyperf(["flamegraph"] + list(args) + ["-o", out, src], check=check)
        svg = None
        if os.path.exists(out):
            with open(out, encoding="utf-8") as f:
                svg = f.read()
        return p, svg
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Frame:
    def __init__(self, g):
        title = g.find(SVG + "title").text
        m = TITLE_RE.match(title)
        assert m, "title not 'name (N unit, P%%)': %r" % title
        self.title = title
        self.name = m.group(1)
        self.count = int(m.group(2).replace(",", ""))
        self.unit = m.group(3)
        self.pct = float(m.group(4))
        self.s = int(g.get("data-s"))
        self.n = int(g.get("data-n"))
        rect = g.find(SVG + "rect")
        self.x = float(rect.get("x"))
        self.y = int(rect.get("y"))
        self.width = float(rect.get("width"))
        self.fill = rect.get("fill")
        text = g.find(SVG + "text")
        self.label = (text.text or "") if text is not None else None
        self.depth = None
        self.path = None


def parse_svg(svg):
    """Parses the SVG as XML; returns (root element, [Frame])."""
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == SVG + "svg"
    group = root.find(".//%sg[@id='frames']" % SVG)
    assert group is not None, "no <g id=frames>"
    frames = [Frame(g) for g in group.findall(SVG + "g")]
    return root, frames


def tree_of(frames, icicle=False, frame_height=16):
    """Gives each frame its depth and root-first path, from geometry alone:
    the parent is the frame one level nearer the root whose sample range
    holds it. Returns {path tuple: Frame} (the root's path is ())."""
    roots = [f for f in frames if f.name == "all" and f.s == 0 and f.n == max(x.n for x in frames)]
    assert len(roots) >= 1, "no root frame"
    root = roots[0]
    by_depth = {}
    for f in frames:
        delta = (f.y - root.y) if icicle else (root.y - f.y)
        assert delta % frame_height == 0, "frame %r off the level grid" % f.name
        f.depth = delta // frame_height
        by_depth.setdefault(f.depth, []).append(f)
    root.path = ()
    paths = {(): root}
    for depth in sorted(by_depth):
        if depth == 0:
            continue
        for f in by_depth[depth]:
            parents = [p for p in by_depth.get(depth - 1, []) if p.s <= f.s and f.s + f.n <= p.s + p.n]
            assert len(parents) == 1, "frame %r has %d parents" % (f.name, len(parents))
            f.path = parents[0].path + (f.name,)
            assert f.path not in paths, "frame path drawn twice: %r" % (f.path,)
            paths[f.path] = f
    return paths


def expected_tree(stacks):
    """{path: samples} for every prefix of every stack."""
    tree = {(): 0}
    for frames, count in stacks:
        if count == 0:
            continue
        tree[()] += count
        for i in range(1, len(frames) + 1):
            tree[tuple(frames[:i])] = tree.get(tuple(frames[:i]), 0) + count
    return tree


def check_geometry(frames, total, width=1200):
    """x and width of each frame follow its sample range; label is a prefix of the name."""
    scale = (width - 2 * XPAD) / total
    for f in frames:
        assert f.count == f.n, "title count %d != data-n %d for %r" % (f.count, f.n, f.name)
        assert abs(f.width - f.n * scale) <= 0.051, "%r: width %.1f for %d samples (%.3f px each)" % (
            f.name, f.width, f.n, scale)
        assert abs(f.x - (XPAD + f.s * scale)) <= 0.051, "%r: x %.1f for first sample %d" % (f.name, f.x, f.s)
        assert abs(f.pct - 100.0 * f.n / total) <= 0.005 + 1e-9, "%r: %.2f%%" % (f.name, f.pct)
        if f.label:
            shown = f.label[:-2] if f.label.endswith("..") and f.label != f.name else f.label
            assert f.name.startswith(shown), "label %r is not a prefix of %r" % (f.label, f.name)


# ---- tests -----------------------------------------------------------------

PY_STACKS = [
    (["<module> (app.py:1)", "main (app.py:30)", "load (app.py:12)",
      "loads (/usr/lib/python3.11/json/__init__.py:346)",
      "decode (/usr/lib/python3.11/json/decoder.py:337)"], 400),
    (["<module> (app.py:1)", "main (app.py:30)", "load (app.py:12)"], 100),
    (["<module> (app.py:1)", "main (app.py:30)", "fetch (app.py:20)",
      "get (/venv/lib/python3.11/site-packages/requests/api.py:73)"], 300),
    (["<module> (app.py:1)", "main (app.py:30)", "[truncated: 1200 frames]"], 50),
    (["<module> (app.py:1)", "_find_and_load (<frozen importlib._bootstrap>:1176)"], 150),
]


def test_titles_and_widths_match_counts():
    p, svg = render(PY_STACKS)
    root, frames = parse_svg(svg)
    total = sum(c for _, c in PY_STACKS)
    paths = tree_of(frames)
    want = expected_tree(PY_STACKS)
    assert set(paths) == set(want), "frames differ:\nmissing %r\nextra %r" % (
        set(want) - set(paths), set(paths) - set(want))
    for path, samples in want.items():
        f = paths[path]
        assert f.n == samples, "%r: %d samples drawn, %d in the input" % (path, f.n, samples)
        assert f.title == "%s (%s samples, %.2f%%)" % (
            path[-1] if path else "all", "{:,}".format(samples), 100.0 * samples / total), f.title
    check_geometry(frames, total)
    # children sit side by side from the parent's left edge, sorted by name
    for path, f in paths.items():
        kids = sorted((k for k in paths.values() if k.path and k.path[:-1] == path), key=lambda k: k.s)
        if kids:
            assert kids[0].s == f.s
            assert [k.name.encode() for k in kids] == sorted(k.name.encode() for k in kids)
            for a, b in zip(kids, kids[1:]):
                assert a.s + a.n == b.s
    # the flame grows upwards: callees above callers
    assert paths[("<module> (app.py:1)",)].y < paths[()].y
    assert "AddressSanitizer" not in p.stderr
    # title, footer with the total, the chrome the script needs
    texts = {t.get("id"): "".join(t.itertext()) for t in root.iter(SVG + "text") if t.get("id")}
    assert texts["title"] == "Flame Graph"
    assert texts["footer"].startswith("1,000 samples"), texts["footer"]
    for needed in ("unzoom", "search", "details", "matched"):
        assert needed in texts, needed


HOSTILE = [
    "<script>alert(1)</script>",
    "</title><script>alert(2)</script>",
    "a & b &amp; &#x3c; &lt;",
    "x\" onload=\"alert(3)",
    "it's 'quoted'",
    "semi;colon;s",
    "back\\slash\\;not-escape\\x41",
    "]]><!-- -->",
    "café — 日本語 😀 Ω",
    "ends with space ",
    "ends with a number 42",
    "<module> (/tmp/<evil>&.py:1)",
    "new\nline\ttab\rcr\x01bell\x7f",
]


def display(name):
    """What a title shows for a name: control characters escaped as in folded text."""
    out = []
    for ch in name:
        o = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    return "".join(out)


def test_hostile_names_round_trip():
    stacks = [(["main (app.py:1)", name], 10 + i) for i, name in enumerate(HOSTILE)]
    stacks.append((HOSTILE[:4], 5))
    p, svg = render(stacks, ["--title", "<b>&title\"</b>", "--subtitle", "sub'<i>"])
    root, frames = parse_svg(svg)  # well-formed XML despite the names
    names = sorted(f.name for f in frames)
    want = sorted(["all", "main (app.py:1)"] + [display(n) for n in HOSTILE] + [display(n) for n in HOSTILE[:4]])
    assert names == want, "names differ:\n%r\n%r" % (names, want)
    paths = tree_of(frames)
    for frames_in, count in stacks:
        path = tuple(display(n) for n in frames_in)
        assert path in paths, "stack %r not drawn" % (path,)
    # nothing from the input became markup: the only elements and attributes are ours
    allowed_tags = {"svg", "defs", "linearGradient", "stop", "style", "rect", "text", "g", "title", "script"}
    scripts = 0
    for el in root.iter():
        tag = el.tag.replace(SVG, "")
        assert tag in allowed_tags, "unexpected element <%s>" % tag
        scripts += tag == "script"
        for attr in el.attrib:
            assert not attr.lower().startswith("on"), "event attribute %s on <%s>" % (attr, tag)
    assert scripts == 1
    script = root.find(SVG + "script").text
    for n in HOSTILE:
        assert n not in script
    texts = {t.get("id"): "".join(t.itertext()) for t in root.iter(SVG + "text") if t.get("id")}
    assert texts["title"] == "<b>&title\"</b>"
    assert texts["subtitle"] == "sub'<i>"
    check_geometry(frames, sum(c for _, c in stacks))


def test_invalid_utf8_and_control_bytes_keep_the_xml_valid():
    data = b"main (app.py:1);bad \xff\xfe utf8 \xc3( \xed\xa0\x80 3\nmain (app.py:1);nul\\x00 and \\x01 2\n"
    p, svg = render(data)
    root, frames = parse_svg(svg)
    names = {f.name for f in frames}
    assert "bad \\xff\\xfe utf8 \\xc3( \\xed\\xa0\\x80" in names, names
    assert "nul\\x00 and \\x01" in names, names


def test_malformed_lines_are_skipped_and_counted():
    data = (b"a;b 10\n"
            b"this line has no count\n"
            b"\n"
            b"a;c 5\n"
            b"a;c 1.5\n"
            b"   \n"
            b"a;d 99999999999999999999999\n"
            b"a;b 3\r\n")
    p, svg = render(data)
    assert p.returncode == 0
    assert "skipped 3 of 8 lines" in p.stderr and "(first: line 2)" in p.stderr, p.stderr
    root, frames = parse_svg(svg)
    paths = tree_of(frames)
    assert paths[()].n == 18
    assert paths[("a", "b")].n == 13
    assert paths[("a", "c")].n == 5


def test_differential_and_other_tools_input():
    # flamegraph.pl's differential form and stackcollapse-perf style names
    data = (b"java;start_thread;read_[k] 3 7\n"
            b"java;start_thread;write_[k] 5\n"
            b"C:\\Program Files\\x.dll;f 2\n")
    p, svg = render(data, ["--colors", "hot"])
    assert "1 lines in" in p.stderr and "differential" in p.stderr, p.stderr
    root, frames = parse_svg(svg)
    paths = tree_of(frames)
    # sized by the last count, as flamegraph.pl does; the first stays in the name
    assert paths[("java", "start_thread", "read_[k] 3")].n == 7
    assert paths[("java",)].n == 12
    # a backslash that is no pyperf escape stays as written
    assert paths[("C:\\Program Files\\x.dll", "f")].n == 2


def test_stdin_to_stdout():
    data = folded_bytes(PY_STACKS)
    for args in (["flamegraph"], ["flamegraph", "-"]):
        p = subprocess.run([harness.PYPERF] + args, input=data, capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stderr == b"", p.stderr
        root, frames = parse_svg(p.stdout.decode("utf-8"))
        assert max(f.n for f in frames) == 1000


def test_options():
    p, svg = render(PY_STACKS, ["--title", "My run", "--subtitle", "pid 42", "--width", "800",
                                "--icicle", "--colors", "gray", "--count-name", "ms"])
    root, frames = parse_svg(svg)
    assert root.get("width") == "800"
    texts = {t.get("id"): "".join(t.itertext()) for t in root.iter(SVG + "text") if t.get("id")}
    assert texts["title"] == "My run" and texts["subtitle"] == "pid 42"
    assert all(f.unit == "ms" for f in frames)
    paths = tree_of(frames, icicle=True)
    assert paths[("<module> (app.py:1)",)].y > paths[()].y  # icicle: callees below
    check_geometry(frames, 1000, width=800)
    assert all(re.match(r"rgb\((\d+),\1,\1\)$", f.fill) for f in frames if f.name != "all")
    # --reverse is the same as --icicle
    _, svg2 = render(PY_STACKS, ["--reverse"])
    assert 'data-icicle="1"' in svg2
    assert ">Icicle Graph</text>" in svg2


def test_python_colors_tell_user_code_from_libraries():
    p, svg = render(PY_STACKS)
    root, frames = parse_svg(svg)
    fills = {f.name: tuple(int(v) for v in re.findall(r"\d+", f.fill)) for f in frames}
    r, g, b = fills["main (app.py:30)"]
    assert r > 200 and b < 100, "user code should be warm: %r" % (fills["main (app.py:30)"],)
    r, g, b = fills["decode (/usr/lib/python3.11/json/decoder.py:337)"]
    assert b > r + 50, "stdlib should be blue"
    r, g, b = fills["_find_and_load (<frozen importlib._bootstrap>:1176)"]
    assert b > r + 50, "frozen modules are the stdlib"
    r, g, b = fills["get (/venv/lib/python3.11/site-packages/requests/api.py:73)"]
    assert g > r + 40 and g > b + 40, "site-packages should be green"
    r, g, b = fills["[truncated: 1200 frames]"]
    assert abs(r - g) < 10 and abs(g - b) < 10, "pyperf pseudo-frames should be grey"
    assert root.find(".//%sg[@id='legend']" % SVG) is not None


def test_minwidth_drops_narrow_frames_and_bounds_the_size():
    rng = random.Random(7)
    stacks = [(["main (app.py:1)", "hot (app.py:2)"], 100000)]
    for i in range(20000):
        stacks.append((["main (app.py:1)", "f%d (app.py:%d)" % (i % 500, i), "g%d (lib.py:%d)" % (i, rng.randint(1, 9))], 1))
    # default 0.1 px: a single sample is 1180/120000 px, too narrow
    p, svg = render(stacks)
    root, frames = parse_svg(svg)
    assert len(frames) < 600, len(frames)
    assert "frames narrower than 0.1 px not drawn" in svg
    # 0 draws everything
    p, svg_all = render(stacks, ["--minwidth", "0"])
    _, frames_all = parse_svg(svg_all)
    assert len(frames_all) == 3 + 20000 + 20000 - 0  # all, main, hot + 20000 f + 20000 g
    # a percentage of the width
    p, svg_pct = render(stacks, ["--minwidth", "10%"])
    _, frames_pct = parse_svg(svg_pct)
    assert sorted(f.name for f in frames_pct) == ["all", "hot (app.py:2)", "main (app.py:1)"]
    # every drawn frame is at least minwidth wide (up to rounding)
    p, svg_one = render(stacks, ["--minwidth", "1"])
    _, frames_one = parse_svg(svg_one)
    assert all(f.width >= 0.95 for f in frames_one)
    # levels x width / minwidth bounds the number of frames
    assert len(frames_one) <= 4 * 1180


def test_output_is_renamed_into_place():
    d = workdir()
    try:
        src = os.path.join(d, "in.folded")
        out = os.path.join(d, "out.svg")
        with open(src, "wb") as f:
            f.write(folded_bytes(PY_STACKS))
        with open(out, "w") as f:
            f.write("old contents")
        ino_before = os.stat(out).st_ino
        old_umask = os.umask(0o022)
        try:
            harness.run_pyperf(["flamegraph", "-o", out, src])
        finally:
            os.umask(old_umask)
        assert sorted(os.listdir(d)) == ["in.folded", "out.svg"], os.listdir(d)
        assert os.stat(out).st_ino != ino_before, "the old file was overwritten in place"
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o644, oct(os.stat(out).st_mode)
        with open(out, encoding="utf-8") as f:
            parse_svg(f.read())
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_as_nobody_kwargs():
    return {"user": 65534} if os.geteuid() == 0 else {}


def test_unwritable_output_dir_is_an_error_and_leaves_nothing():
    d = workdir()
    try:
        src = os.path.join(d, "in.folded")
        with open(src, "wb") as f:
            f.write(folded_bytes(PY_STACKS))
        os.chmod(src, 0o644)
        locked = os.path.join(d, "locked")
        os.mkdir(locked, 0o555)
        os.chmod(d, 0o755)
        out = os.path.join(locked, "out.svg")
        p = subprocess.run([harness.PYPERF, "flamegraph", "-o", out, src], capture_output=True, text=True,
                           timeout=60, **run_as_nobody_kwargs())
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert p.stderr.strip() == "pyperf flamegraph: failed to create %s: Permission denied" % out, p.stderr
        assert os.listdir(locked) == []
        # a directory that does not exist
        missing = os.path.join(d, "no", "such", "dir", "x.svg")
        p = harness.run_pyperf(["flamegraph", "-o", missing, src], check=False)
        assert p.returncode == 1
        assert p.stderr.strip() == "pyperf flamegraph: failed to create %s: No such file or directory" % missing
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_write_error_is_reported():
    p = subprocess.run("%s flamegraph > /dev/full" % harness.PYPERF, shell=True, input=folded_bytes(PY_STACKS),
                       capture_output=True, timeout=60)
    assert p.returncode == 1
    assert p.stderr.decode().strip() == "pyperf flamegraph: failed to write standard output: No space left on device"


def test_input_errors():
    p = harness.run_pyperf(["flamegraph", "/no/such/file.folded"], check=False)
    assert p.returncode == 1
    assert p.stderr.strip() == "pyperf flamegraph: failed to open /no/such/file.folded: No such file or directory"
    assert p.stdout == ""
    # a directory: open works, read fails
    p = harness.run_pyperf(["flamegraph", "/tmp"], check=False)
    assert p.returncode == 1 and "failed to read /tmp: Is a directory" in p.stderr, p.stderr
    # nothing usable in the input: an error, and -o leaves no file
    d = workdir()
    try:
        out = os.path.join(d, "x.svg")
        p = subprocess.run([harness.PYPERF, "flamegraph", "-o", out], input=b"garbage\n\n",
                           capture_output=True, timeout=60)
        assert p.returncode == 1
        assert b"no samples in standard input" in p.stderr, p.stderr
        assert os.listdir(d) == []
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_usage_errors_and_help():
    bad = [
        (["--width", "50"], "--width takes whole pixels"),
        (["--width", "12px"], "--width takes whole pixels"),
        (["--minwidth", "-1"], "--minwidth takes pixels"),
        (["--minwidth", "nan"], "--minwidth takes pixels"),
        (["--minwidth", "200%"], "--minwidth takes pixels"),
        (["--colors", "rainbow"], "unknown colour scheme 'rainbow'; choose one of: python, hot, cold, gray"),
        (["--bogus"], "unknown option '--bogus'"),
        (["--title"], "option '--title' needs a value"),
        (["a.folded", "b.folded"], "at most one input file"),
        (["--count-name", "x (y"], "--count-name"),
    ]
    for args, msg in bad:
        p = harness.run_pyperf(["flamegraph"] + args, check=False)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pyperf flamegraph: ") and msg in lines[0], (args, p.stderr)
    p = harness.run_pyperf(["flamegraph", "--help"])
    assert p.stdout.startswith("usage: pyperf flamegraph")
    for opt in ("--output", "--title", "--subtitle", "--width", "--minwidth", "--icicle", "--reverse",
                "--colors", "--count-name", "--help", "python", "hot", "cold", "gray"):
        assert opt in p.stdout, opt


def test_sigint_while_writing_leaves_no_file():
    # A graph big enough that writing it takes a while; SIGINT as soon as
    # the temporary file appears must leave neither it nor a partial OUT.
    stacks = [(["main (app.py:1)", "f%d (app.py:%d)" % (i % 1000, i), "g%d (x.py:1)" % i], 1)
              for i in range(150000)]
    d = workdir()
    try:
        src = os.path.join(d, "in.folded")
        out = os.path.join(d, "out.svg")
        with open(src, "wb") as f:
            f.write(folded_bytes(stacks))
        p = subprocess.Popen([harness.PYPERF, "flamegraph", "--minwidth", "0", "-o", out, src],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while p.poll() is None and time.monotonic() < deadline:
                if any(n.startswith("out.svg.") for n in os.listdir(d)):
                    p.send_signal(signal.SIGINT)
                    break
                time.sleep(0.001)
            p.wait(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        if p.returncode == 0:
            raise AssertionError("the write finished before the test could interrupt it; "
                                 "make the input bigger")
        assert p.returncode == -signal.SIGINT, (p.returncode, p.stderr.read())
        assert sorted(os.listdir(d)) == ["in.folded"], os.listdir(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_random_bytes_always_give_well_formed_svg():
    # Property: whatever bytes the names hold, the SVG parses as XML, has
    # only our one script, and every accepted sample is drawn.
    rng = random.Random(20240)
    alphabet = b";\\\\;<>&\"'x n\t\r\x00\x01\x1b\x7f\x80\xbf\xc3\xa9\xe2\x82\xac\xed\xa0\x80\xef\xbf\xbe\xf4\x90]]>0123456789 "
    lines = []
    for _ in range(3000):
        name = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 40))).replace(b"\n", b"")
        lines.append(name + b" %d\n" % rng.randint(0, 9))
    p, svg = render(b"".join(lines))
    root, frames = parse_svg(svg)
    assert len(root.findall(".//" + SVG + "script")) == 1
    m = re.search(r"skipped (\d+) of (\d+) lines", p.stderr)
    assert m and int(m.group(2)) == 3000, p.stderr
    total = max(f.n for f in frames)
    assert total > 0
    tree_of(frames)  # consistent geometry: every frame has exactly one parent
