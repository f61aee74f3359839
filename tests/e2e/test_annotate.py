"""pyperf annotate on real recordings: a function whose one line does 80% of
the work and another 20% (tests/targets/hot_lines.py) gets those lines at
the top with those shares; a source file gone is listed by line number with
a note; --source-root finds it again. The --html page in headless chromium
(tests/browser/annotate.test.js): list sorted by share, a click shows the
file's listing with the hot line highlighted, hostile names stay text."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import harness
from harness import params
import test_flamegraph_browser as browser

# the listing's columns: mark, own%, total%, line, source
ROW = re.compile(r"^([* ])([ \d.]{6})  ([ \d.]{6})  ([ \d]{5}\d)(?:  (.*))?$")


def rows(text):
    """Listing rows of annotate's text: [(hot, own, total, line, source)]."""
    out = []
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            out.append((m.group(1) == "*", float(m.group(2).strip() or 0), float(m.group(3).strip() or 0),
                        int(m.group(4)), m.group(5)))
    return out


@params(["3.12", "debian3.11"])
def test_annotate_hot_line(version):
    argv = harness.need_interpreter(version)
    d = tempfile.mkdtemp(prefix="pyperf-annotate-")
    try:
        src = os.path.join(d, "src")
        os.makedirs(src)
        script = os.path.join(src, "hot_lines.py")
        shutil.copy(os.path.join(harness.TARGETS, "hot_lines.py"), script)
        marks = harness.marker_lines(script)
        prof = os.path.join(d, "run.pb.gz")
        harness.run_pyperf(["record", "-F", "499", "-o", prof, "--"] + argv + [script, "1.5"], timeout=60)

        out = harness.run_pyperf(["annotate", prof, "--function", "work"]).stdout
        assert "work (%s:" % script in out, out
        listing = rows(out)
        by_line = {r[3]: r for r in listing}
        top = max(listing, key=lambda r: r[1])
        assert top[3] == marks["hot80"], (marks, out)
        hot80, hot20 = by_line[marks["hot80"]], by_line[marks["hot20"]]
        # shares of all samples; the work function is nearly all of them
        assert abs(hot80[1] - 80) <= 7 and abs(hot20[1] - 20) <= 7, out
        assert hot80[0] and hot20[0] and hot80[2] >= hot80[1], out
        assert "for i in range(8000)" in hot80[4], out
        assert re.search(r"hottest lines: %d \(own [\d.]+%%\), %d " % (marks["hot80"], marks["hot20"]), out), out

        # by default the hottest functions by total: main's call line carries work's share
        out = harness.run_pyperf(["annotate", prof, "-n", "3"]).stdout
        names = re.findall(r"^(\S+) \(.*\): total", out, re.M)
        assert set(names) == {"work", "main", "<module>"}, out
        call = [r for r in rows(out) if r[3] == marks["call"] and r[4] and "work(20)" in r[4]]
        assert call and call[0][1] <= 1 and call[0][2] >= hot80[1] + hot20[1] - 1, out

        # the source gone: lines with samples by number, and a note
        moved = os.path.join(d, "moved")
        os.rename(src, moved)
        out = harness.run_pyperf(["annotate", prof, "--function", "work"]).stdout
        assert "source not found: %s" % script in out, out
        listing = rows(out)
        assert {r[3] for r in listing} >= {marks["hot80"], marks["hot20"]} and all(r[4] is None for r in listing), out
        assert max(listing, key=lambda r: r[1])[3] == marks["hot80"], out

        # --source-root OLD=NEW finds it again; NEW alone is put before the path
        out = harness.run_pyperf(["annotate", prof, "--function", "work", "--source-root",
                                  src + "=" + moved]).stdout
        assert "source read from %s" % os.path.join(moved, "hot_lines.py") in out, out
        assert "for i in range(8000)" in {r[3]: r for r in rows(out)}[marks["hot80"]][4], out
        chroot = os.path.join(d, "root")
        os.makedirs(os.path.dirname(chroot + script))
        shutil.copy(os.path.join(moved, "hot_lines.py"), chroot + script)
        out = harness.run_pyperf(["annotate", prof, "--file", "hot_lines.py", "--function", "work", "--source-root",
                                  chroot]).stdout
        assert "source read from %s" % (chroot + script) in out and "for i in range(2000)" in out, out

        r = harness.run_pyperf(["annotate", prof, "--function", "no_such"], check=False)
        assert r.returncode == 1 and "no function named 'no_such'" in r.stderr, r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


HOSTILE_NAME = "<b class=\"evil\">x'&.py"
HOSTILE_SRC = "s = '</td></tr><img src=x onerror=alert(1)><script>alert(2)</script>'"


def test_annotate_html_in_chromium():
    node = browser.need_browser()
    d = tempfile.mkdtemp(prefix="pyperf-annotate-html-")
    try:
        a, b, evil = os.path.join(d, "app.py"), os.path.join(d, "lib", "util.py"), os.path.join(d, HOSTILE_NAME)
        os.makedirs(os.path.dirname(b))
        with open(a, "w") as f:
            f.write("".join("x%d = %d\n" % (i, i) for i in range(1, 200)))
        with open(b, "w") as f:
            f.write("def helper():\n    pass\n" + "".join("# filler %d\n" % i for i in range(300)) +
                    "    total = sum(range(10 ** 6))  # hot\n" + "# after\n" * 50)
        with open(evil, "w") as f:
            f.write("def bad():\n    " + HOSTILE_SRC + "\n")
        hot_b = 2 + 300 + 1
        # app.py 60% (main calls into util), util.py 30% own (line hot_b), evil 10%
        folded = "\n".join([
            "main (%s:5);spin (%s:40) 60" % (a, a),
            "main (%s:5);helper (%s:%d) 30" % (a, b, hot_b),
            "main (%s:5);bad (%s:2) 10" % (a, evil),
        ]) + "\n"
        prof = os.path.join(d, "in.folded")
        with open(prof, "w") as f:
            f.write(folded)
        html = os.path.join(d, "out.html")
        r = harness.run_pyperf(["annotate", prof, "--html", html])
        assert "wrote" in r.stderr, r.stderr
        spec = {"chromium": browser.CHROMIUM, "files": [a, b, evil], "click": 1, "hotLine": hot_b,
                "hotText": "    total = sum(range(10 ** 6))  # hot",
                "hostile": [HOSTILE_NAME, HOSTILE_SRC.strip()]}
        spec_path = os.path.join(d, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        env = dict(os.environ)
        p = subprocess.run([node, os.path.join(browser.BROWSER_DIR, "annotate.test.js"), html, spec_path],
                           cwd=browser.BROWSER_DIR, capture_output=True, text=True, timeout=240, env=env)
        if p.returncode != 0 or not p.stdout.rstrip().endswith("PASS"):
            raise AssertionError("browser test failed (exit %d)\n%s\n%s" % (p.returncode, p.stdout[-6000:],
                                                                             p.stderr[-3000:]))
    finally:
        shutil.rmtree(d, ignore_errors=True)
