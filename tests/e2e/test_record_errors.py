"""record's one-line errors, exit codes, and what happens when a run ends early."""
import os
import signal
import subprocess
import tempfile
import time

import harness
from harness import Skip


def assert_error(p, *needles, code=None):
    err = p.stderr.strip()
    assert p.returncode != 0, "exit 0 for an error case: %r" % err
    if code is not None:
        assert p.returncode == code, "exit %d, want %d: %r" % (p.returncode, code, err)
    assert len(err.splitlines()) == 1, "error is not one line: %r" % err
    for n in needles:
        assert n in err, "%r not in %r" % (n, err)
    assert "AddressSanitizer" not in p.stderr


def test_no_such_pid():
    for bad in ("0", "-5", "abc", "12x"):
        p = harness.run_pyperf(["record", "-p", bad, "-d", "1"], check=False)
        assert_error(p, "invalid PID", code=2)
    # A valid number that names no process.
    pid = 4194303  # above the default pid_max, never a live process here
    p = harness.run_pyperf(["record", "-p", str(pid), "-d", "1", "-o", "/tmp/x.svg"], check=False)
    assert_error(p, "no process with PID %d" % pid, code=1)


def test_not_python():
    sleeper = harness.start(["sleep", "100"])
    try:
        p = harness.run_pyperf(["record", "-p", str(sleeper.pid), "-d", "1", "-o", "/tmp/x.svg"], check=False)
    finally:
        harness.stop(sleeper)
    assert_error(p, "is not a Python process", code=1)


@harness.params(["2.7", "3.7"])
def test_unsupported_version_is_named(version):
    exe = None
    if version == "2.7":
        import glob
        found = glob.glob(os.path.join(harness.pyenv_root(), "versions", "2.7.*", "bin", "python2.7"))
        exe = found[0] if found else None
    else:
        exe = harness.pyenv_python(7)
    if not exe:
        raise Skip("Python %s is not installed here" % version)
    t = harness.start([exe, "-c", "import time\nprint('ready')\nimport sys; sys.stdout.flush()\ntime.sleep(60)"],
                      ready_marker="ready")
    try:
        p = harness.run_pyperf(["record", "-p", str(t.pid), "-d", "1", "-o", "/tmp/x.svg"], check=False)
    finally:
        harness.stop(t)
    assert_error(p, "does not support", code=1)
    assert ("Python 2" in p.stderr) if version == "2.7" else ("3.7" in p.stderr), p.stderr


def test_bad_arguments():
    cases = [
        (["record"], "give -p PID"),
        (["record", "-p", "1", "-F", "0"], "invalid frequency"),
        (["record", "-p", "1", "-F", "abc"], "invalid frequency"),
        (["record", "-p", "1", "-d", "-3"], "invalid duration"),
        (["record", "-p", "1", "-o", "out.pdf"], "cannot tell the format"),
        (["record", "-p", "1", "--format", "xml"], "unknown format"),
        (["record", "-p", "1", "stray"], "not both"),
        (["nosuchcommand"], "unknown command"),
    ]
    for args, needle in cases:
        p = harness.run_pyperf(args, check=False)
        assert_error(p, needle, code=2)


def test_help_is_true():
    p = harness.run_pyperf(["record", "--help"])
    for opt in ("--pid", "--frequency", "--duration", "--output", "--format", "--title"):
        assert opt in p.stdout, opt
    p = harness.run_pyperf(["--help"])
    assert "record" in p.stdout and "flamegraph" in p.stdout


def test_output_not_writable():
    t = harness.start([harness.need_interpreter("debian3.11")[0], os.path.join(harness.TARGETS, "split.py")],
                      ready_marker="ready")
    try:
        p = harness.run_pyperf(["record", "-p", str(t.pid), "-d", "1", "-o", "/nonexistent/dir/out.svg"],
                               check=False)
    finally:
        harness.stop(t)
    assert_error(p, "cannot write /nonexistent/dir/out.svg", code=1)


def test_not_root():
    if os.geteuid() != 0:
        raise Skip("needs root to drop to an unprivileged user")
    exe = harness.need_interpreter("debian3.11")[0]
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
    t = harness.start(drop + [exe, os.path.join(harness.TARGETS, "split.py")], ready_marker="ready")
    try:
        p = subprocess.run(drop + [harness.PYPERF, "record", "-p", str(t.pid), "-d", "1", "-o", "/tmp/np.svg"],
                           capture_output=True, text=True, timeout=60)
    finally:
        harness.stop(t)
    assert_error(p, "run as root", code=1)
    assert "CAP_BPF" in p.stderr, p.stderr


def _folded_total(path):
    with open(path) as f:
        return sum(c for _, c in harness.parse_folded(f.read()))


def test_target_exit_keeps_profile():
    exe = harness.need_interpreter("debian3.11")[0]
    t = harness.start([exe, os.path.join(harness.TARGETS, "busy_then_exit.py"), "1.5"], ready_marker="ready")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.folded")
        # No duration: only the target's exit ends the recording.
        p = harness.run_pyperf(["record", "-p", str(t.pid), "-F", "499", "-o", out], timeout=60)
        assert "the process exited" in p.stderr, p.stderr
        assert _folded_total(out) > 100, p.stderr
        assert os.listdir(d) == ["out.folded"], "temporary files left: %s" % os.listdir(d)


def test_sigint_keeps_profile():
    exe = harness.need_interpreter("debian3.11")[0]
    t = harness.start([exe, os.path.join(harness.TARGETS, "split.py")], ready_marker="ready")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.folded")
        p = subprocess.Popen([harness.PYPERF, "record", "-p", str(t.pid), "-F", "999", "-o", out],
                             stderr=subprocess.PIPE, text=True)
        try:
            line = p.stderr.readline()
            assert "sampling PID" in line, line
            time.sleep(1)  # let samples accumulate; asserted below (>100 at 999 Hz)
            p.send_signal(signal.SIGINT)
            rest = p.stderr.read()
            assert p.wait(timeout=30) == 0, rest
        finally:
            if p.poll() is None:
                p.kill()
            harness.stop(t)
        assert "interrupted" in rest, rest
        assert _folded_total(out) > 100, rest
        assert os.listdir(d) == ["out.folded"], os.listdir(d)


def test_kernel_without_btf():
    """A kernel without BTF, simulated by hiding /sys/kernel/btf in a private mount namespace."""
    exe = harness.need_interpreter("debian3.11")[0]
    t = harness.start([exe, os.path.join(harness.TARGETS, "split.py")], ready_marker="ready")
    try:
        p = subprocess.run(["unshare", "--mount", "sh", "-c",
                            "mount -t tmpfs none /sys/kernel/btf && exec \"$0\" \"$@\"",
                            harness.PYPERF, "record", "-p", str(t.pid), "-d", "1", "-o", "/tmp/nobtf.svg"],
                           capture_output=True, text=True, timeout=60)
    finally:
        harness.stop(t)
    if "unshare:" in p.stderr or "mount:" in p.stderr:
        raise Skip("cannot make a mount namespace here: " + p.stderr.strip().splitlines()[0])
    assert_error(p, "no BTF", "CONFIG_DEBUG_INFO_BTF", code=1)


def test_options_that_do_not_apply_are_refused():
    """An option that would change nothing in the mode or format asked for is
    an error, not silently ignored (issue #17)."""
    for args, needle in [(["--min-block", "1ms"], "--min-block drops short waits"),
                         (["--mode", "cpu", "--min-block", "0"], "--min-block drops short waits"),
                         (["--no-wait-reason"], "--no-wait-reason drops the leaf frame"),
                         (["--mode", "offcpu", "--gil"], "--gil filters CPU samples"),
                         (["--mode", "gil-wait", "--gil"], "--gil filters CPU samples"),
                         (["--mode", "offcpu", "--cpu-budget", "5"], "--cpu-budget lowers the sampling rate"),
                         (["--title", "t", "-o", "x.folded"], "--title names an SVG"),
                         (["--title", "t", "-f", "folded", "-o", "x.txt"], "--title names an SVG")]:
        p = harness.run_pyperf(["record", "-p", "1", "-d", "1"] + args, check=False)
        assert_error(p, needle, code=2)
    # Where they apply they stay accepted: the run goes on to look for the process.
    pid = "4194303"  # above the default pid_max, never a live process here
    for args in (["--mode", "offcpu", "--min-block", "1ms", "--no-wait-reason"], ["--mode", "wall", "--gil"],
                 ["--mode", "gil-wait", "--min-block", "1ms"], ["--title", "t", "-o", "/tmp/x.pb.gz"],
                 ["--title", "t", "-o", "/tmp/x.speedscope.json"]):
        p = harness.run_pyperf(["record", "-p", pid, "-d", "1"] + args, check=False)
        assert_error(p, "no process with PID " + pid, code=1)
    # -a --mode offcpu: no default --cpu-budget to refuse (off-CPU has no rate to lower).
    with tempfile.TemporaryDirectory() as d:
        p = harness.run_pyperf(["record", "-a", "--mode", "offcpu", "-d", "0.5", "-o", os.path.join(d, "x.pb.gz")],
                               check=False)
        assert p.returncode == 0 and "budget" not in p.stderr, p.stderr


LAUNCHED = """
import os, signal, sys, time
d = sys.argv[1]
if sys.argv[2] == "ignore":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
with open(os.path.join(d, "pid"), "w") as f:
    f.write(str(os.getpid()))
def spin_until_interrupted():
    end = time.monotonic() + 60
    x = 0
    while time.monotonic() < end:
        x += 1
try:
    spin_until_interrupted()
except KeyboardInterrupt:
    open(os.path.join(d, "got_sigint"), "w").close()
    sys.exit(7)
"""


def _launch_until_sampled(d, how):
    """pyperf record -- a spinning command, once the command has run 0.3 s of CPU."""
    script = os.path.join(d, "launched.py")
    with open(script, "w") as f:
        f.write(LAUNCHED)
    out, err = os.path.join(d, "out.folded"), open(os.path.join(d, "err"), "w+")
    argv = harness.need_interpreter("3.12")
    p = subprocess.Popen([harness.PYPERF, "record", "-F", "499", "-o", out, "--"] + argv + [script, d, how],
                         stderr=err, text=True)
    deadline = time.monotonic() + 30
    child = None
    while time.monotonic() < deadline and p.poll() is None:
        if child is None and os.path.exists(os.path.join(d, "pid")):
            with open(os.path.join(d, "pid")) as f:
                child = int(f.read() or 0) or None
        if child and _cpu_seconds(child) >= 0.3 and "sampling PID" in open(err.name).read():
            break
        time.sleep(0.05)
    assert child and p.poll() is None, "command not running under pyperf:\n" + open(err.name).read()
    return p, child, out, err


def _cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_launch_sigint_goes_on_to_the_command():
    """kill -INT to pyperf alone: the command gets it too, pyperf writes the
    profile and exits with the command's status, without waiting for the
    command to end by itself (issue #17)."""
    with tempfile.TemporaryDirectory() as d:
        p, child, out, err = _launch_until_sampled(d, "catch")
        try:
            p.send_signal(signal.SIGINT)
            rc = p.wait(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
            _kill(child)
        msgs = open(err.name).read()
        assert os.path.exists(os.path.join(d, "got_sigint")), "the command never got SIGINT:\n" + msgs
        assert rc == 7, "exit %d, want the command's 7:\n%s" % (rc, msgs)
        assert "interrupted" in msgs and _folded_total(out) > 0, msgs


def test_launch_second_sigint_stops_waiting():
    """A command that ignores SIGINT: the first one to pyperf writes the
    profile and waits; a second ends the wait (exit 130), the command left running."""
    with tempfile.TemporaryDirectory() as d:
        p, child, out, err = _launch_until_sampled(d, "ignore")
        try:
            p.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 20
            while not os.path.exists(out) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert os.path.exists(out) and p.poll() is None, open(err.name).read()
            p.send_signal(signal.SIGINT)
            rc = p.wait(timeout=20)
            still_running = _cpu_seconds(child) > 0
        finally:
            if p.poll() is None:
                p.kill()
            _kill(child)
        msgs = open(err.name).read()
        assert rc == 130, "exit %d:\n%s" % (rc, msgs)
        assert still_running and "stopped waiting" in msgs, msgs
        assert _folded_total(out) > 0, msgs


COUNTS_SIGINT = """
import os, signal, sys, time
d = sys.argv[1]
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])  # each one taken as it comes, none coalesced by a handler
with open(os.path.join(d, "pid"), "w") as f:
    f.write(str(os.getpid()))
got = []
end = time.monotonic() + 60
while time.monotonic() < end and not (got and time.monotonic() > got[0] + 1):
    if signal.sigtimedwait([signal.SIGINT], 0.05):
        got.append(time.monotonic())
sys.exit(len(got))
"""


def test_launch_terminal_ctrl_c_reaches_the_command_once():
    """A terminal's Ctrl-C reaches pyperf and the command (one foreground
    process group): pyperf does not send the command a second SIGINT."""
    import fcntl
    import pty
    import termios
    argv = harness.need_interpreter("3.12")
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "counts.py")
        with open(script, "w") as f:
            f.write(COUNTS_SIGINT)
        master, slave = pty.openpty()

        def own_terminal():  # a new session whose controlling terminal is the pty
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        with open(os.path.join(d, "err"), "w+") as err:
            p = subprocess.Popen([harness.PYPERF, "record", "-o", os.path.join(d, "out.folded"), "--"] + argv
                                 + [script, d], stdin=slave, stdout=err, stderr=err, preexec_fn=own_terminal)
            os.close(slave)
            try:
                deadline = time.monotonic() + 30
                while not (os.path.exists(os.path.join(d, "pid")) and "sampling PID" in open(err.name).read()) \
                        and time.monotonic() < deadline:
                    time.sleep(0.05)
                os.write(master, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground group
                rc = p.wait(timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                os.close(master)
            msgs = open(err.name).read()
    assert rc == 1, "the command got %d SIGINTs, want 1:\n%s" % (rc, msgs)
    assert "interrupted" in msgs, msgs
