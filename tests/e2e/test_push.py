"""--push: profiles reach a Pyroscope-compatible receiver, late or slow."""
import gzip
import http.server
import os
import re
import socket
import tempfile
import threading
import time
import urllib.parse

import harness


class Receiver:
    """A local /ingest endpoint the test starts itself; records what arrives."""

    def __init__(self, delay=0.0, port=0):
        self.got = []
        self.delay = delay
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                u = urllib.parse.urlparse(self.path)
                time.sleep(outer.delay)
                outer.got.append((u.path, urllib.parse.parse_qs(u.query), body, time.monotonic()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_ingest(path, q, body, d):
    import test_formats
    assert path == "/ingest", path
    assert q["format"] == ["pprof"] and q["spyName"] == ["pyperf"], q
    assert re.match(r"^pyperf\.cpu\{host=[^,}]+(,pid=\d+)?\}$", q["name"][0]), q["name"]
    assert int(q["until"][0]) >= int(q["from"][0]) > 1.7e9, q
    assert int(q["sampleRate"][0]) > 0
    gzip.decompress(body)  # a gzip-compressed protobuf, as pprof files are
    f = os.path.join(d, "got-%d.pb.gz" % time.monotonic_ns())
    with open(f, "wb") as fh:
        fh.write(body)
    home = os.path.join(d, "home")
    os.makedirs(home, exist_ok=True)
    return test_formats.go_pprof(["-top"], f, home)


def test_push_single_record():
    argv = harness.need_interpreter("3.12")
    t = harness.start(argv + [os.path.join(harness.TARGETS, "named_spin.py"), "pushed_spin"], ready_marker="ready")
    rcv = Receiver()
    try:
        with tempfile.TemporaryDirectory() as d:
            r = harness.run_pyperf(["record", "-p", str(t.pid), "-d", "2", "-F", "199", "-o",
                                    os.path.join(d, "x.pb.gz"), "--push", "http://127.0.0.1:%d" % rcv.port])
            assert len(rcv.got) == 1, r.stderr
            path, q, body, _ = rcv.got[0]
            top = check_ingest(path, q, body, d)
            assert "pushed_spin" in top, top
            assert q["name"][0].endswith(",pid=%d}" % t.pid), q["name"]
            assert "pushed 1 profiles" in r.stderr and "0 dropped, 0 not delivered" in r.stderr, r.stderr
    finally:
        rcv.close()
        harness.stop(t)


def spinner():
    """Something to sample in every period: a period with nothing writes no file."""
    argv = harness.need_interpreter("3.12")
    return harness.start(argv + [os.path.join(harness.TARGETS, "named_spin.py"), "push_spin"], ready_marker="ready")


def test_push_receiver_down_then_up():
    port = free_port()
    t = spinner()
    with tempfile.TemporaryDirectory() as d:
        spool = os.path.join(d, "spool") + "/"
        import subprocess
        rec = subprocess.Popen([harness.PYPERF, "record", "-a", "--every", "1s", "-d", "5", "-o", spool,
                                "--push", "http://127.0.0.1:%d/" % port], stderr=subprocess.PIPE, text=True)
        # Nothing listens until two period files exist: those must arrive later.
        deadline = time.monotonic() + 30
        while (not os.path.isdir(spool) or len(os.listdir(spool)) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        rcv = Receiver(port=port)
        try:
            err = rec.communicate(timeout=60)[1]
        finally:
            rcv.close()
            harness.stop(t)
        files = os.listdir(spool)
        assert rec.returncode == 0, err
        assert len(rcv.got) == len(files) >= 5, (len(rcv.got), files, err)
        assert re.search(r"pushed %d profiles .* 0 dropped, 0 not delivered, [1-9]\d* retries" % len(files),
                         err), err
        check_ingest(*rcv.got[0][:3], d)


def test_slow_receiver_does_not_delay_recording():
    t = spinner()
    rcv = Receiver(delay=1.5)
    try:
        with tempfile.TemporaryDirectory() as d:
            spool = os.path.join(d, "spool") + "/"
            r = harness.run_pyperf(["record", "-a", "--every", "1s", "-d", "3.5", "-o", spool,
                                    "--push", "http://127.0.0.1:%d" % rcv.port], timeout=60)
            # Periods were written on time although each push took 1.5 s.
            assert len(os.listdir(spool)) >= 3, (os.listdir(spool), r.stderr)
            stamps = re.findall(r"in (\d+)s -> ", r.stderr)
            assert all(int(s) <= 2 for s in stamps), r.stderr
    finally:
        rcv.close()
        harness.stop(t)


def test_push_bad_url():
    p = harness.run_pyperf(["record", "-a", "-d", "1", "--push", "ftp://x"], check=False)
    assert p.returncode == 1 and "must start with http" in p.stderr, p.stderr
    p = harness.run_pyperf(["record", "-p", "1", "-o", "x.svg", "--push", "http://x"], check=False)
    assert p.returncode == 2 and "--push sends pprof" in p.stderr, p.stderr
