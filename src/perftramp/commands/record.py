"""perftramp record: profile a command, with the right perf flags, into one
directory.

    perftramp record [-F HZ] [--backend auto|perf|perf_jit] [-o DIR] -- CMD [ARGS...]

auto picks "perf" for an interpreter with frame pointers and "perf_jit"
otherwise.  Every Python process CMD starts (children too) gets perftramp's
backend through PERFTRAMP_ACTIVATE, and its jitdump goes into DIR through
PERFTRAMP_JITDUMP_DIR, so `perf inject --jit` writes its jitted-*.so files
there.  Perf maps must be in /tmp while perf reads them; they are moved into
DIR afterwards (perftramp report puts them back for as long as it runs).
DIR ends up holding perf.data, perf.jit.data (perf_jit), maps/, the dumps and
the jitted objects, and perftramp.json describing the run.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys

from ._common import has_frame_pointers, looks_like_python, perf_path, perf_version, say


def add_parser(subparsers):
    p = subparsers.add_parser("record", help="profile a command into a directory")
    p.add_argument("-F", "--freq", type=int, default=999, help="samples per second (999)")
    p.add_argument("--backend", choices=("auto", "perf", "perf_jit"), default="auto")
    p.add_argument("-o", "--output", help="directory (default ./perftramp-TIMESTAMP)")
    p.add_argument("--stack-size", type=int, default=16384,
                   help="bytes of stack perf copies per sample with perf_jit (16384)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    p.set_defaults(func=main)


def choose_backend(requested, command):
    if requested != "auto":
        return requested
    python = command[0] if looks_like_python(command[0]) else sys.executable
    return "perf" if has_frame_pointers(shutil.which(python) or python) else "perf_jit"


def recorded_pids(perf, data):
    out = subprocess.run([perf, "script", "-i", data, "-F", "pid"], capture_output=True,
                         text=True)
    return sorted({int(tok) for tok in out.stdout.split() if tok.isdigit()})


def gather_maps(pids, directory):
    """Moves /tmp/perf-PID.map of the recorded processes into DIR/maps."""
    maps = os.path.join(directory, "maps")
    moved = []
    for pid in pids:
        src = "/tmp/perf-%d.map" % pid
        if os.path.isfile(src) and not os.path.islink(src) and \
                os.stat(src).st_uid == os.geteuid():
            os.makedirs(maps, exist_ok=True)
            shutil.move(src, os.path.join(maps, os.path.basename(src)))
            moved.append(os.path.basename(src))
    return moved


def main(args):
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        say("record: give the command to profile after --")
        return 2
    if command[0].endswith(".py"):
        command = [sys.executable] + command
    perf = perf_path()
    if perf is None:
        say("perf is not installed (Debian/Ubuntu: apt-get install linux-perf); "
            "`perftramp check` tells what else is needed")
        return 2
    backend = choose_backend(args.backend, command)
    directory = os.path.abspath(args.output or "perftramp-%s" % datetime.datetime.now()
                                .strftime("%Y%m%d-%H%M%S"))
    os.makedirs(directory, exist_ok=True)
    data = os.path.join(directory, "perf.data")
    if backend == "perf":
        graph = ["-g"]
    else:
        graph = ["-k", "1", "--call-graph", "dwarf,%d" % args.stack_size]
    perf_cmd = [perf, "record", "-F", str(args.freq)] + graph + ["-o", data, "--"] + command
    env = dict(os.environ, PERFTRAMP_ACTIVATE=backend, PERFTRAMP_JITDUMP_DIR=directory)
    say("recording with the %s backend into %s" % (backend, directory))
    say("$ " + " ".join(perf_cmd))
    rec = subprocess.run(perf_cmd, env=env, stderr=subprocess.PIPE, text=True)
    if rec.stderr:
        sys.stderr.write(rec.stderr)
    if not os.path.exists(data):
        say("perf record wrote nothing; perf said so above.  Run `perftramp check` "
            "for what this machine lacks (perf_event_paranoid, perf's version, ...)")
        return rec.returncode or 1
    result = {"backend": backend, "command": command, "perf": perf_version(perf)[0],
              "python": sys.executable, "freq": args.freq, "exit_code": rec.returncode,
              "data": "perf.data"}
    pids = recorded_pids(perf, data)
    if backend == "perf_jit":
        jit = os.path.join(directory, "perf.jit.data")
        say("$ perf inject -i perf.data --jit -o perf.jit.data")
        inj = subprocess.run([perf, "inject", "-i", data, "--jit", "-o", jit], cwd=directory,
                             stderr=subprocess.PIPE, text=True)
        if inj.returncode != 0:
            sys.stderr.write(inj.stderr)
            say("perf inject --jit failed; perf older than 6.8 (or 6.7.2) cannot read "
                "jitdumps with unwinding data.  The frame-pointer backend needs no "
                "inject: --backend perf with a frame-pointer interpreter")
            return inj.returncode
        result["data"] = "perf.jit.data"
    result["maps"] = gather_maps(pids, directory)
    result["pids"] = pids
    with open(os.path.join(directory, "perftramp.json"), "w") as f:
        json.dump(result, f, indent=2)
    say("done: perftramp report %s" % os.path.relpath(directory))
    return rec.returncode


def newest_recording(where="."):
    runs = [d for d in os.listdir(where) if re.match(r"perftramp-\d{8}-\d{6}$", d)
            and os.path.isdir(os.path.join(where, d))]
    return os.path.join(where, max(runs)) if runs else None
