"""perftramp report: what a recording shows, for Python programmers.

    perftramp report [DIR] [--format FORMAT] [-o FILE] [--keep-internal]
                     [--pid PID,...] [--comm NAME,...] [--cgroup CGROUP]

The first report of a recording runs `perf script` over DIR's data once and
folds the samples in C (perftramp._perftramp.fold) into two views: the
interpreter's own frames folded away, and (for --keep-internal) every
frame; native frames of other libraries and the kernel's stay in both.
Both are stored in DIR (recording/folded.py), so every later report, in any format,
reads them without perf.  The folded stacks go to one of the formats of
perftramp/formats/ (text, collapsed, html, speedscope, ...: one module
each).  When some stacks are cut, every format says so (formats.
truncation_advice()): the text report in its output, the others on stderr.
"""
import argparse
import os
import sys

from perftramp import formats
from perftramp.recording import folded, layout
from perftramp.recording.errors import Failure
from perftramp.recording.progress import say
from perftramp.recording.selection import Selection

#: where --format html goes when it would go to a terminal
HTML_NAME = "flamegraph.html"


def add_parser(subparsers):
    names = formats.names()
    p = subparsers.add_parser("report", help="show a recording")
    p.add_argument("directory", nargs="?", help="a perftramp record directory (default: "
                   "the newest ./perftramp-* one)")
    p.add_argument("--format", choices=names, default="text",
                   help="; ".join("%s: %s" % (n, formats.get(n).DESCRIPTION) for n in names))
    p.add_argument("-o", "--output", help="write here instead of stdout")
    p.add_argument("--keep-internal", action="store_true",
                   help="keep the interpreter's frames between Python frames")
    p.add_argument("--top", type=int, default=25, help="functions in the text report (25)")
    p.add_argument("--pid", type=_pids, default=[],
                   help="only these processes (PID[,PID...], as the host numbers them)")
    p.add_argument("--comm", type=_names, default=[],
                   help="only processes of these commands (NAME[,NAME...], as perf names them)")
    p.add_argument("--cgroup", type=_nonempty,
                   help="only processes of this cgroup (a container): its path, its last "
                   "components, or a container's id (record -p and -a note each process's)")
    p.set_defaults(func=main)


def _pids(text):
    try:
        pids = [int(word) for word in text.split(",") if word]
    except ValueError:
        raise argparse.ArgumentTypeError("not a list of process ids: %r" % text) from None
    if not pids or any(pid <= 0 for pid in pids):
        raise argparse.ArgumentTypeError("not a list of process ids: %r" % text)
    return pids


def _names(text):
    names = [name for name in text.split(",") if name]
    if not names:
        raise argparse.ArgumentTypeError("no command names in %r" % text)
    return names


def _nonempty(text):
    if not text:
        raise argparse.ArgumentTypeError("an empty cgroup (give / for the root)")
    return text


def fold(directory, keep_internal, selection=None):
    """The recording in `directory`, folded into a formats.Profile."""
    meta, got = folded.of_recording(directory, keep_internal, selection)
    return formats.Profile(got.stacks, got.samples, meta, got.truncated, got.processes)


def _write(output, out, args):
    try:
        with open(output, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(out)
    except OSError as exc:
        raise Failure("report: cannot write %s: %s%s" % (
            output, exc.strerror or exc, "; give -o FILE" if args.output is None else "")) from None
    say("wrote %s%s" % (output, "; open it in a web browser" if args.format == "html" else ""))


def _print(out):
    """The bytes perf gave, names that are not UTF-8 too (the folder
    decodes with surrogateescape)."""
    raw = getattr(sys.stdout, "buffer", None)
    if raw is None:
        sys.stdout.write(out)
    else:
        sys.stdout.flush()
        raw.write(out.encode("utf-8", "surrogateescape"))
        raw.flush()


def main(args):
    directory = args.directory or layout.newest()
    if directory is None:
        raise Failure("report: no perftramp-* directory here; give one, or run "
                       "perftramp record")
    directory = os.path.abspath(directory)
    selection = Selection(args.pid, args.comm, args.cgroup)
    profile = fold(directory, args.keep_internal, selection)
    module = formats.get(args.format)
    out = module.render(profile, args)
    output = args.output
    if output is None and args.format == "html" and sys.stdout.isatty():
        # megabytes of HTML are no use on a terminal
        output = os.path.join(directory, HTML_NAME)
    advice = formats.truncation_advice(profile)
    if advice and (output or not getattr(module, "SHOWS_TRUNCATION", False)):
        say(advice)
    if output:
        _write(output, out, args)
    else:
        _print(out)
    return 0
