"""The flame graph in a real browser: headless Debian chromium driven by
playwright-core (tests/browser/flamegraph.test.js) hovers, zooms, searches
and resets an SVG written by pyperf flamegraph."""
import json
import os
import shutil
import subprocess
import tempfile

import harness
import test_flamegraph as fg

CHROMIUM = "/usr/bin/chromium"
BROWSER_DIR = os.path.join(harness.ROOT, "tests", "browser")
INSTALL_HINT = "run tests/helpers/install-browser.sh as root (make deps does)"

LONG = "parse_rather_long_function_name_x (app.py:9)"  # 44 chars: fits after the zoom only
HOSTILE = "<script>alert(1)</script> & 'x\" (evil.py:1)"
STACKS = [
    (["main (app.py:1)", "work (app.py:5)", LONG], 400),
    (["main (app.py:1)", "work (app.py:5)", "loads (/usr/lib/python3.11/json/__init__.py:346)"], 200),
    (["main (app.py:1)", "idle (app.py:7)"], 300),
    (["main (app.py:1)", HOSTILE], 100),
]


def need_browser():
    if not os.access(CHROMIUM, os.X_OK):
        raise harness.Skip("chromium is not installed (%s missing); %s" % (CHROMIUM, INSTALL_HINT))
    node = shutil.which("node")
    if not node:
        raise harness.Skip("node is not installed; %s" % INSTALL_HINT)
    if not os.path.exists(os.path.join(BROWSER_DIR, "node_modules", "playwright-core", "package.json")):
        raise harness.Skip("playwright-core is not installed in tests/browser (npm registry unreachable?); "
                           + INSTALL_HINT)
    return node


def test_zoom_search_reset_in_chromium():
    node = need_browser()
    d = tempfile.mkdtemp(prefix="pyperf-fg-browser-")
    try:
        src = os.path.join(d, "in.folded")
        svg = os.path.join(d, "flame.svg")
        with open(src, "wb") as f:
            f.write(fg.folded_bytes(STACKS))
        harness.run_pyperf(["flamegraph", "--width", "600", "-o", svg, src])
        spec = {
            "chromium": CHROMIUM,
            "xpad": 10,
            "usable": 580,
            "zoom": "work (app.py:5)",
            "zoomTitle": "work (app.py:5) (600 samples, 60.00%)",
            "zoomSamples": 600,
            # the first child must be too long for its frame before the zoom
            "zoomChildren": [{"name": LONG, "samples": 400},
                             {"name": "loads (/usr/lib/python3.11/json/__init__.py:346)", "samples": 200}],
            "sibling": "idle (app.py:7)",
            "search": "json|^idle",
            "searchHits": ["loads (/usr/lib/python3.11/json/__init__.py:346)", "idle (app.py:7)"],
            "matched": "Matched: 50.0%",  # (200 + 300) / 1000
            "hostile": [HOSTILE],
        }
        spec_path = os.path.join(d, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        env = dict(os.environ)
        if os.environ.get("PYPERF_SCREENSHOT"):
            env["PYPERF_SCREENSHOT"] = os.environ["PYPERF_SCREENSHOT"]
        p = subprocess.run([node, os.path.join(BROWSER_DIR, "flamegraph.test.js"), svg, spec_path],
                           cwd=BROWSER_DIR, capture_output=True, text=True, timeout=240, env=env)
        if p.returncode != 0 or not p.stdout.rstrip().endswith("PASS"):
            raise AssertionError("browser test failed (exit %d)\n%s\n%s" % (p.returncode, p.stdout[-6000:],
                                                                             p.stderr[-3000:]))
    finally:
        shutil.rmtree(d, ignore_errors=True)
