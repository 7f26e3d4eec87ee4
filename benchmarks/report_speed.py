"""The first report of a real recording: perf script's reading against
perftramp's own reader (report --unwinder own), side by side in one run.

    python benchmarks/report_speed.py [--python PATH] [--seconds 10]
        [--append TITLE]

A venv build/report-speed/VENV of the interpreter gets the pinned deep
workload's packages (benchmarks/real/requirements.txt: sympy, networkx) and
perftramp from this tree.  `perftramp record` (defaults: perf_elf and
DWARF on an interpreter without frame pointers) records benchmarks/real/
deep.py for --seconds; then, each from a copy of the recording with no
stored folds, the first `report --format collapsed` by perf script and by
the own reader are timed (and the peak resident memory of the report or
of the perf script it ran: the own reader holds the decompressed records),
and their stacks compared: the share of perf
script's whole (not cut) stacks the own reader gives as often, and how
many samples each reader cut.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(ROOT, "build", "report-speed")
GARBAGE_OUTERMOST = re.compile(r"^([^;]*;\[truncated\]);\[unknown\](?=;)")


def venv_for(python):
    name = re.sub(r"[^\w.-]", "_", os.path.realpath(python).strip("/"))
    venv = os.path.join(WORK, name)
    exe = os.path.join(venv, "bin", "python")
    if not os.path.exists(exe):
        subprocess.run([python, "-m", "venv", venv], check=True)
        subprocess.run([exe, "-m", "pip", "install", "-q", "-r",
                        os.path.join(HERE, "real", "requirements.txt")], check=True)
    subprocess.run([exe, "-m", "pip", "install", "-q", ROOT], check=True)
    return exe


def collapsed(text):
    out = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        stack = GARBAGE_OUTERMOST.sub(r"\1", stack)
        out[stack] = out.get(stack, 0) + int(count)
    return out


def timed_report(exe, rec, unwinder):
    copy = rec + "-" + unwinder
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(rec, copy, symlinks=True)
    for name in ("folded.txt", "folded-internal.txt"):
        if os.path.exists(os.path.join(copy, name)):
            os.unlink(os.path.join(copy, name))
    start = time.monotonic()
    # GNU time's -o: the peak resident memory of the report or of a process
    # it waited for (perf script), whichever is larger
    peak = os.path.join(WORK, "peak-kb")
    out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak, exe, "-m", "perftramp",
                          "report", copy, "--format", "collapsed", "--unwinder", unwinder],
                         capture_output=True, text=True, check=True)
    seconds = time.monotonic() - start
    with open(peak) as f:
        peak_mb = int(f.read().split()[-1]) / 1024
    shutil.rmtree(copy)
    return seconds, peak_mb, collapsed(out.stdout)


def cut(stacks):
    return sum(c for s, c in stacks.items() if s.split(";", 2)[1:2] == ["[truncated]"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default="/root/.pyenv/versions/3.12.1/bin/python3.12")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--append", help="append the table to RESULTS.md under this title")
    args = ap.parse_args()
    exe = venv_for(args.python)
    where = os.path.join(WORK, "run")
    shutil.rmtree(where, ignore_errors=True)
    os.makedirs(where)
    env = dict(os.environ, RP_SECONDS=str(args.seconds),
               PYTHONPATH=os.path.join(HERE, "real"))
    subprocess.run([exe, "-m", "perftramp", "record", "-o", "rec", "--", exe,
                    os.path.join(HERE, "real", "deep.py")], cwd=where, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    rec = os.path.join(where, "rec")
    size = os.path.getsize(os.path.join(rec, "perf.data")) if os.path.exists(
        os.path.join(rec, "perf.data")) else 0
    perf_s, perf_mb, theirs = timed_report(exe, rec, "perf")
    own_s, own_mb, ours = timed_report(exe, rec, "own")
    counted = [s for s in theirs if s.split(";", 2)[1:2] != ["[truncated]"]]
    total = sum(theirs[s] for s in counted)
    same = sum(min(theirs[s], ours.get(s, 0)) for s in counted)
    rows = [
        "| interpreter | seconds recorded | perf.data MB | samples | first report, perf script "
        "| first report, own reader | speed-up | peak RSS: perf script / own "
        "| whole stacks agreeing | cut: perf / own |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| %s | %.0f | %.1f | %d | %.1f s | %.1f s | %.1fx | %.0f / %.0f MB | %.2f%% | %d / %d |"
        % (os.path.basename(args.python), args.seconds, size / 1e6, sum(theirs.values()),
           perf_s, own_s, perf_s / own_s, perf_mb, own_mb, 100.0 * same / max(total, 1),
           cut(theirs), cut(ours)),
    ]
    text = "\n".join(rows)
    print(text)
    if args.append:
        with open(os.path.join(HERE, "RESULTS.md"), "a") as f:
            f.write("\n## %s\n\nGenerated by `python benchmarks/report_speed.py` on %s.\n\n%s\n"
                    % (args.append, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), text))
    shutil.rmtree(where, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
