"""make install puts a working pyperf and a man page that documents every command."""
import os
import re
import subprocess
import tempfile

import harness


def test_make_install_destdir():
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run(["make", "-s", "install", "DESTDIR=" + d, "PREFIX=/opt/pp"], cwd=harness.ROOT,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        exe = os.path.join(d, "opt/pp/bin/pyperf")
        v = subprocess.run([exe, "--version"], capture_output=True, text=True)
        assert v.returncode == 0 and re.match(r"pyperf \d+\.\d+", v.stdout), v
        man = os.path.join(d, "opt/pp/share/man/man1/pyperf.1")
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", man], capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
        text = re.sub(r".\x08", "", r.stdout)  # drop overstrike bold/underline
        for word in ("record", "top", "dump", "flamegraph", "--frequency", "--threads", "--no-lines",
                     "EXIT STATUS", "FOLDED FORMAT"):
            assert word in text, word
        # Every record option in --help is in the man page.
        helptext = subprocess.run([exe, "record", "--help"], capture_output=True, text=True).stdout
        for opt in set(re.findall(r"^\s+(?:-\w, )?(--[a-z-]+)", helptext, re.M)) - {"--help"}:
            assert opt in text, "%s missing from the man page" % opt
