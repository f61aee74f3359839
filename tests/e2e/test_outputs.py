"""Where output goes: '-' is standard output, a symlink's target is replaced
(the link kept), character devices and FIFOs are written in place, a write
error there is an error, odd types are refused. Devices are made with mknod
in a temporary directory, never the system's own /dev entries."""
import os
import select
import stat
import subprocess
import tempfile
import threading
import time

import harness
import test_flamegraph as fg

SPIN = ("def spin():\n"
        "    x = 0\n"
        "    for i in range(4000000):\n"
        "        x += i\n"
        "spin()\n")


def small_folded(d):
    path = os.path.join(d, "small.folded")
    with open(path, "wb") as f:
        f.write(fg.folded_bytes(fg.PY_STACKS))
    return path


def mknod_or_skip(path, major, minor):
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    except PermissionError as e:
        raise harness.Skip("cannot make device nodes here: %s" % e)


def one_error_line(p, needle):
    assert p.returncode != 0, "exit 0: %r" % p.stderr
    lines = [ln for ln in p.stderr.splitlines() if needle in ln]
    assert len(lines) == 1, "want one %r line: %r" % (needle, p.stderr)
    assert "AddressSanitizer" not in p.stderr
    return lines[0]


def svg_total(svg_text):
    root, frames = fg.parse_svg(svg_text)
    return max(f.n for f in frames)


def test_flamegraph_to_symlink_replaces_its_target():
    with tempfile.TemporaryDirectory() as d:
        src = small_folded(d)
        real = os.path.join(d, "real.svg")
        with open(real, "w") as f:
            f.write("old")
        os.mkdir(os.path.join(d, "sub"))
        link = os.path.join(d, "sub", "l.svg")
        os.symlink("../real.svg", link)  # relative to the link's directory
        p = harness.run_pyperf(["flamegraph", src, "-o", link])
        assert p.stderr == "", p.stderr
        assert os.path.islink(link), "the link was replaced by a file"
        with open(real) as f:
            assert svg_total(f.read()) == 1000
        assert sorted(os.listdir(d)) == ["real.svg", "small.folded", "sub"], os.listdir(d)


def test_flamegraph_to_devices_writes_in_place():
    with tempfile.TemporaryDirectory() as d:
        src = small_folded(d)
        null, full = os.path.join(d, "null"), os.path.join(d, "full")
        mknod_or_skip(null, 1, 3)
        mknod_or_skip(full, 1, 7)
        p = harness.run_pyperf(["flamegraph", src, "-o", null])
        assert p.stderr == "", p.stderr
        p = harness.run_pyperf(["flamegraph", src, "-o", full], check=False)
        line = one_error_line(p, "failed to write")
        assert p.returncode == 1, p.returncode
        assert line == "pyperf flamegraph: failed to write %s: No space left on device" % full, line
        for dev in (null, full):
            assert stat.S_ISCHR(os.lstat(dev).st_mode), "%s is no longer a device" % dev
        assert sorted(os.listdir(d)) == ["full", "null", "small.folded"], os.listdir(d)


def test_flamegraph_refuses_directories_and_block_devices():
    with tempfile.TemporaryDirectory() as d:
        src = small_folded(d)
        p = harness.run_pyperf(["flamegraph", src, "-o", d], check=False)
        assert one_error_line(p, "failed to create").endswith("Is a directory"), p.stderr
        blk = os.path.join(d, "blk")
        try:
            os.mknod(blk, 0o600 | stat.S_IFBLK, os.makedev(7, 0))
        except PermissionError as e:
            raise harness.Skip("cannot make device nodes here: %s" % e)
        p = harness.run_pyperf(["flamegraph", src, "-o", blk], check=False)
        assert "not a regular file, character device or FIFO" in one_error_line(p, "failed to create")
        assert stat.S_ISBLK(os.lstat(blk).st_mode)
        os.symlink("loop2", os.path.join(d, "loop1"))
        os.symlink("loop1", os.path.join(d, "loop2"))
        p = harness.run_pyperf(["flamegraph", src, "-o", os.path.join(d, "loop1")], check=False)
        assert "symbolic links" in one_error_line(p, "failed to create"), p.stderr


def read_fifo(path, into):
    with open(path, "rb") as f:
        into.append(f.read())


def test_flamegraph_to_fifo_waits_for_a_reader():
    """Like `cat > fifo`: with no reader it says so and waits; once one
    opens the FIFO it gets the whole graph, and the FIFO stays a FIFO."""
    with tempfile.TemporaryDirectory() as d:
        src = small_folded(d)
        fifo = os.path.join(d, "f")
        os.mkfifo(fifo)
        p = subprocess.Popen([harness.PYPERF, "flamegraph", src, "-o", fifo], stderr=subprocess.PIPE,
                             text=True)
        try:
            ready, _, _ = select.select([p.stderr], [], [], 30)
            assert ready, "no word about waiting within 30 s"
            line = p.stderr.readline()
            assert line == "pyperf: waiting for a reader on FIFO %s\n" % fifo, line
            got = []
            reader = threading.Thread(target=read_fifo, args=(fifo, got))
            reader.start()
            assert p.wait(timeout=60) == 0, p.stderr.read()
            reader.join(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.stderr.read() == ""
        assert svg_total(got[0].decode()) == 1000
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
        assert sorted(os.listdir(d)) == ["f", "small.folded"], os.listdir(d)


def test_flamegraph_dash_is_stdout():
    with tempfile.TemporaryDirectory() as d:
        src = small_folded(d)
        p = subprocess.run([harness.PYPERF, "flamegraph", src, "-o", "-"], capture_output=True, text=True,
                           cwd=d, timeout=60)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert svg_total(p.stdout) == 1000
        assert os.listdir(d) == ["small.folded"], os.listdir(d)


def test_flamegraph_to_proc_fd_link_writes_the_pipe():
    """/dev/stdout is a link to /proc/self/fd/1, which names "pipe:[N]"
    for a pipe: a link like it, made here, writes into the pipe."""
    with tempfile.TemporaryDirectory() as d:
        src = small_folded(d)
        link = os.path.join(d, "stdout")
        os.symlink("/proc/self/fd/1", link)
        p = subprocess.run([harness.PYPERF, "flamegraph", src, "-o", link], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert svg_total(p.stdout) == 1000
        assert os.path.islink(link)
        assert sorted(os.listdir(d)) == ["small.folded", "stdout"], os.listdir(d)


def spin_script(d):
    path = os.path.join(d, "spin.py")
    with open(path, "w") as f:
        f.write(SPIN)  # prints nothing: its stdout is pyperf's
    return path


def record_launch(d, out_args, interp="3.12"):
    argv = harness.need_interpreter(interp)
    return subprocess.run([harness.PYPERF, "record", "-F", "499"] + out_args + ["--"] + argv
                          + [spin_script(d)], capture_output=True, text=True, cwd=d, timeout=120)


@harness.params(["auto", "folded"])
def test_record_dash_is_stdout(fmt):
    """Without -f, '-' means folded text; the status lines stay on stderr."""
    with tempfile.TemporaryDirectory() as d:
        p = record_launch(d, ["-o", "-"] + ([] if fmt == "auto" else ["-f", fmt]))
        assert p.returncode == 0, p.stderr
        stacks = harness.parse_folded(p.stdout)
        spin = sum(c for fr, c in stacks if any(x.startswith("spin (") for x in fr))
        assert spin > 0, stacks[:5]
        assert p.stderr.splitlines()[-1] == "pyperf: wrote standard output", p.stderr
        assert "pyperf:" not in p.stdout
        assert sorted(os.listdir(d)) == ["spin.py"], os.listdir(d)  # no file named '-'


def test_record_dash_other_formats_and_errors():
    with tempfile.TemporaryDirectory() as d:
        p = record_launch(d, ["-o", "-", "-f", "svg"])
        assert p.returncode == 0, p.stderr
        assert svg_total(p.stdout) > 0
        p = harness.run_pyperf(["record", "-o", "-", "--every", "1s", "-a"], check=False)
        assert p.returncode == 2 and "give a directory" in one_error_line(p, "--every"), p.stderr
        p = harness.run_pyperf(["record", "-o", "-", "-f", "pprof", "--push", "http://127.0.0.1:1/",
                                "-a"], check=False)
        assert p.returncode == 1 and "not -" in one_error_line(p, "--push"), p.stderr
        assert sorted(os.listdir(d)) == ["spin.py"], os.listdir(d)
        # Standard output that cannot take the profile: a failure, said once.
        full = os.path.join(d, "full")
        mknod_or_skip(full, 1, 7)
        argv = harness.need_interpreter("3.12")
        with open(full, "wb") as out:
            p = subprocess.run([harness.PYPERF, "record", "-o", "-", "--"] + argv + [spin_script(d)],
                               stdout=out, stderr=subprocess.PIPE, text=True, cwd=d, timeout=120)
        line = one_error_line(p, "failed to write")
        assert line == "pyperf record: failed to write standard output: No space left on device", line
        assert p.returncode == 1, p.returncode


def test_record_to_full_device_fails_and_to_symlink_replaces_target():
    with tempfile.TemporaryDirectory() as d:
        full = os.path.join(d, "full")
        mknod_or_skip(full, 1, 7)
        p = record_launch(d, ["-f", "folded", "-o", full])
        line = one_error_line(p, "failed to write")
        assert p.returncode == 1, p.returncode
        assert line == "pyperf record: failed to write %s: No space left on device" % full, line
        assert "wrote" not in p.stderr.replace("failed to write", "")
        assert stat.S_ISCHR(os.lstat(full).st_mode)
        real, link = os.path.join(d, "real.folded"), os.path.join(d, "l.folded")
        with open(real, "w") as f:
            f.write("old 1\n")
        os.symlink("real.folded", link)
        p = record_launch(d, ["-o", link])
        assert p.returncode == 0, p.stderr
        assert os.path.islink(link)
        with open(real) as f:
            stacks = harness.parse_folded(f.read())
        assert any(x.startswith("spin (") for fr, _ in stacks for x in fr), stacks[:5]
        assert sorted(os.listdir(d)) == ["full", "l.folded", "real.folded", "spin.py"], os.listdir(d)


def test_long_names_are_cut_as_the_readme_says():
    """README's Known limits gives the length at which names are cut; a
    recorded function with a longer name shows exactly that many bytes and
    '...'."""
    import re
    with open(os.path.join(harness.ROOT, "README.md")) as f:
        m = re.search(r"name longer than ([\d,]+) bytes of UTF-8[^.]*cut[^.]*ends in `\.\.\.`", f.read())
    assert m, "README's Known limits does not say where long names are cut"
    limit = int(m.group(1).replace(",", ""))
    name = "n" * (limit + 500)
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "long.py")
        with open(script, "w") as f:
            f.write(SPIN.replace("spin", name))
        argv = harness.need_interpreter("3.12")
        p = subprocess.run([harness.PYPERF, "record", "-F", "499", "-o", "-", "--"] + argv + [script],
                           capture_output=True, text=True, cwd=d, timeout=120)
    assert p.returncode == 0, p.stderr
    frames = {x for fr, _ in harness.parse_folded(p.stdout) for x in fr if x.startswith("nnn")}
    assert frames, "the long-named function was not sampled"
    for x in frames:
        assert x.startswith("n" * limit + "... ("), x[:60] + "..." + x[limit - 20:limit + 40]
