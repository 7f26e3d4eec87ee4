"""How long a large recording takes to become a pprof profile, against
today's text report of it, both the first report of the recording (perf
script runs; nothing stored yet): the issue's bar is pprof in under twice
the text report's time on a 100 MB perf.data of 200,000 samples or more
(record compresses what perf writes: the records' size is perf's
"original" one, which perf script reads through).

    python benchmarks/pprof_speed.py --python build/venvs/fp-3.14.7/bin/python

A frame-pointer interpreter and the perf backend (-g: a few hundred bytes a
sample, so 100 MB is hundreds of thousands of samples), two processes busy
for --seconds at -F --freq in a real library's code (the standard library's
json, re and difflib).  Prints the recording's size and samples, each
report's time, and the ratio; -n runs each report that many times (the
stored folds removed before each text report) and takes the median.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

WORK = """\
import difflib, json, multiprocessing, re, sys, time


def parse(text):
    return json.loads(text)


def match(lines):
    return sum(1 for line in lines if re.search(r"k(\\d+)\\D+(\\d+)", line))


def compare(a, b):
    return difflib.SequenceMatcher(None, a, b).ratio()


def work(seconds):
    text = json.dumps([{"k%d" % i: list(range(i % 20))} for i in range(300)])
    lines = text.split("},")
    end = time.process_time() + seconds
    while time.process_time() < end:
        parse(text)
        match(lines)
        compare(lines[:40], lines[5:45])


if __name__ == "__main__":
    seconds = float(sys.argv[1])
    procs = [multiprocessing.get_context("fork").Process(target=work, args=(seconds,))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
"""


def timed(argv, cwd):
    start = time.monotonic()
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(argv), out.stderr))
    return time.monotonic() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True)
    parser.add_argument("--backend", default="perf")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--freq", type=int, default=10000)
    parser.add_argument("-n", type=int, default=3)
    args = parser.parse_args()
    cli = [args.python, "-m", "perftramp"]
    work = tempfile.mkdtemp(prefix="pprof-speed-")
    try:
        with open(os.path.join(work, "work.py"), "w") as f:
            f.write(WORK)
        _, recorded = timed(cli + ["record", "-F", str(args.freq), "--backend", args.backend,
                                   "-o", "rec", "--", args.python, "work.py",
                                   str(args.seconds)], work)
        # record compresses (perf record -z): perf says how large the records are
        original = re.search(r"original ([\d.]+) MB", recorded.stderr)
        rec = os.path.join(work, "rec")
        data = os.path.join(rec, "perf.data")
        size = os.path.getsize(data)
        text_times, pprof_times = [], []
        samples = 0
        for _ in range(args.n):
            for name in ("folded.txt", "folded-internal.txt"):
                if os.path.exists(os.path.join(rec, name)):
                    os.unlink(os.path.join(rec, name))
            took, out = timed(cli + ["report", "rec"], work)
            text_times.append(took)
            samples = int(re.match(r"perftramp report: (\d+) samples", out.stdout).group(1))
            took, _ = timed(cli + ["report", "rec", "--format", "pprof", "-o", "p.pb.gz"], work)
            pprof_times.append(took)
        text, pprof = statistics.median(text_times), statistics.median(pprof_times)
        print("perf.data %.1f MB on disk%s, %d samples (%s backend, -F %d)"
              % (size / 1e6, " (zstd; %s MB of records)" % original.group(1) if original else "",
                 samples, args.backend, args.freq))
        print("first text report %.1f s, pprof %.1f s (%d bytes): %.2fx  [medians of %d; "
              "text %s, pprof %s]" % (
                  text, pprof, os.path.getsize(os.path.join(work, "p.pb.gz")), pprof / text,
                  args.n, " ".join("%.1f" % t for t in text_times),
                  " ".join("%.1f" % t for t in pprof_times)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
