"""pyperf report on a directory written by a real `record -a --every 1s`
over several Python processes: label filters and time ranges select exactly
the samples the same files hold for them (read here with an independent
pprof reader, tests/e2e/test_formats.py's); a corrupted and a half-written
file are skipped with a warning; --group-by gives one root per process; an
empty selection writes nothing."""
import collections
import datetime
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile

import harness
from harness import Skip
import test_formats

SPINNERS = [("rep_alpha", "3.12"), ("rep_beta", "3.12"), ("rep_gamma", "debian3.11")]


def period_samples(path):
    """A period file's samples: [{'count', 'leaf', 'labels': {key: value}}]."""
    with open(path, "rb") as f:
        data = gzip.decompress(f.read())
    strings, funcs, locs, raw = [], {}, {}, []
    for num, v in test_formats._fields(data):
        if num == 6:
            strings.append(v.decode("utf-8"))
        elif num == 5:
            fn = dict(test_formats._fields(v))
            funcs[fn[1]] = fn
        elif num == 4:
            lo = dict((k, w) for k, w in test_formats._fields(v) if k != 4)
            lo["lines"] = [dict(test_formats._fields(w)) for k, w in test_formats._fields(v) if k == 4]
            locs[lo[1]] = lo
        elif num == 2:
            raw.append(v)
    out = []
    for v in raw:
        ids, values, labels = [], [], {}
        for k, w in test_formats._fields(v):
            if k in (1, 2):
                j, vals = 0, []
                while j < len(w):
                    x, j = test_formats._varint(w, j)
                    vals.append(x)
                (ids if k == 1 else values).extend(vals)
            elif k == 3:
                lab = dict(test_formats._fields(w))
                labels[strings[lab[1]]] = strings[lab[2]] if lab.get(2) else str(lab.get(3, 0))
        leaf_line = locs[ids[0]]["lines"][-1]  # the innermost of the leaf location's lines
        out.append({"count": values[0], "leaf": strings[funcs[leaf_line[1]][2]], "labels": labels})
    return out


def folded_counts(path):
    """{leaf function name: samples} and {root: samples} of a folded file."""
    with open(path) as f:
        stacks = harness.parse_folded(f.read())
    leaves, roots = collections.Counter(), collections.Counter()
    for frames, c in stacks:
        leaves[frames[-1].rsplit(" (", 1)[0]] += c
        roots[frames[0]] += c
    return leaves, roots


def by_hand(samples, **want):
    """{leaf: samples} of the samples whose labels have every wanted value."""
    out = collections.Counter()
    for s in samples:
        if all(s["labels"].get(k) == v for k, v in want.items()):
            out[s["leaf"]] += s["count"]
    return out


def report(args, check=True):
    return harness.run_pyperf(["report"] + args, check=check)


def test_report_directory_of_a_real_run():
    procs = {}
    for name, v in SPINNERS:
        argv = harness.interpreter(v)
        if argv:
            procs[name] = harness.start(argv + [os.path.join(harness.TARGETS, "named_spin.py"), name, "30"],
                                        ready_marker="ready")
    if len(procs) < 2:
        raise Skip("fewer than two of Python 3.12 and Debian's 3.11 here")
    d = tempfile.mkdtemp(prefix="pyperf-report-")
    try:
        spool = os.path.join(d, "spool") + "/"
        try:
            harness.run_pyperf(["record", "-a", "-F", "99", "--every", "1s", "-d", "3.5", "-o", spool], timeout=120)
        finally:
            for p in procs.values():
                harness.stop(p)
        files = sorted(os.listdir(spool))
        assert len(files) >= 3 and all(f.startswith("pyperf-") and f.endswith(".pb.gz") for f in files), files
        per_file = [period_samples(os.path.join(spool, f)) for f in files]
        every = [s for ss in per_file for s in ss]
        pids = {name: str(p.pid) for name, p in procs.items()}
        out = os.path.join(d, "out.folded")

        # one process by pid: exactly its samples, file by file
        name, pid = next(iter(pids.items()))
        want = by_hand(every, pid=pid)
        assert want[name] > 0, (name, want)
        report([spool, "--label", "pid=" + pid, "-o", out])
        assert folded_counts(out)[0] == want, (folded_counts(out)[0], want)

        # process name (a pattern) and thread: all must match
        comm = next(s["labels"]["process"] for s in every if s["labels"].get("pid") == pid)
        thread = next(s["labels"]["thread"] for s in every if s["labels"].get("pid") == pid)
        report([spool, "--label", "process=" + comm[:-1] + "*", "--label", "thread=" + thread, "-o", out])
        assert folded_counts(out)[0] == by_hand(every, process=comm, thread=thread)
        report([spool, "--label", "process=" + comm, "--label", "pid=" + pid, "-o", out])
        assert folded_counts(out)[0] == want

        # a time range inside the second period: that file only, whatever the zone it is written in
        start = [re.match(r"pyperf-(\d{8}T\d{6}\.\d{3})Z", f).group(1) for f in files]

        def iso(s, ms):
            t = datetime.datetime.strptime(s, "%Y%m%dT%H%M%S.%f") + datetime.timedelta(milliseconds=ms)
            return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        since, until = iso(start[1], 1), iso(start[2], -1)
        report([spool, "--since", since, "--until", until, "--label", "pid=" + pid, "-o", out])
        assert folded_counts(out)[0] == by_hand(per_file[1], pid=pid)
        # the same instants as local times (no zone) of a zone 5:30 east
        east = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

        def local(z):
            t = datetime.datetime.strptime(z, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
            return t.astimezone(east).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        subprocess.run([harness.PYPERF, "report", spool, "--since", local(since), "--until", local(until),
                        "--label", "pid=" + pid, "-o", out], env=dict(os.environ, TZ="<+0530>-5:30"), check=True,
                       capture_output=True)
        assert folded_counts(out)[0] == by_hand(per_file[1], pid=pid)
        # every period: the whole directory's samples
        report([spool, "--since", "-10m", "-o", out])
        assert sum(folded_counts(out)[0].values()) == sum(s["count"] for s in every)

        # a corrupted and a half-written period file among them: skipped with a warning
        bad = os.path.join(d, "bad") + "/"
        shutil.copytree(spool, bad)
        with open(os.path.join(bad, "pyperf-20200101T000000.000Z.pb.gz"), "wb") as f:
            f.write(b"\x1f\x8b\x08\x00garbage" * 20)
        with open(os.path.join(spool, files[0]), "rb") as f:
            whole = f.read()
        with open(os.path.join(bad, "pyperf-20200101T000001.000Z.pb.gz"), "wb") as f:
            f.write(whole[:len(whole) // 2])
        r = report([bad, "--label", "pid=" + pid, "-o", out])
        assert r.stderr.count("; skipped\n") == 2 and "pyperf-20200101T000001.000Z" in r.stderr, r.stderr
        assert "cut short" in r.stderr and "(2 unreadable skipped)" in r.stderr, r.stderr
        assert folded_counts(out)[0] == want

        # one root per process, each with its own samples
        report([spool, "--label", "cmdline=*rep_*", "--group-by", "pid", "-o", out])
        roots = folded_counts(out)[1]
        assert roots == {"process " + p: sum(by_hand(every, pid=p).values()) for p in pids.values()}, roots
        report([spool, "--label", "cmdline=*rep_*", "--group-by", "process", "-o", out])
        comms = {s["labels"]["process"] for s in every if s["labels"].get("pid") in pids.values()}
        assert set(folded_counts(out)[1]) == {"process " + c for c in comms}

        # other formats: pprof read back gives the same, SVG and speedscope written
        pb, svg, ss = os.path.join(d, "o.pb.gz"), os.path.join(d, "o.svg"), os.path.join(d, "o.speedscope.json")
        report([spool, "--label", "pid=" + pid, "-o", pb])
        assert by_hand(period_samples(pb), pid=pid) == want
        report([pb, "-o", out])
        assert folded_counts(out)[0] == want
        report([spool, "--group-by", "process", "--label", "pid=" + pid, "-o", svg])
        with open(svg) as f:
            text = f.read()
        assert "pyperf report" in text and ("process " + comm) in text and "pid=" + pid in text
        report([spool, "--label", "pid=" + pid, "-o", ss])
        with open(ss) as f:
            assert json.load(f)["profiles"]

        # nothing selected: an error, nothing written
        none = os.path.join(d, "none.svg")
        r = report([spool, "--label", "pid=1", "-o", none], check=False)
        assert r.returncode == 1 and "nothing to report" in r.stderr and not os.path.exists(none), r.stderr
        r = report([spool, "--since", "2001-01-01", "--until", "2001-01-02", "-o", none], check=False)
        assert r.returncode == 1 and "time range" in r.stderr and not os.path.exists(none), r.stderr
        r = report([spool, "--since", "yesterday", "-o", none], check=False)
        assert r.returncode == 2 and "invalid time" in r.stderr, r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)
