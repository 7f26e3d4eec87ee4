"""perftramp report: what a recording shows, for Python programmers.

    perftramp report [DIR] [--format FORMAT] [-o FILE] [--keep-internal]
                     [--pid PID,...] [--tid TID,...] [--comm NAME,...]
                     [--cgroup CGROUP] [--start S] [--end S] [--by pid|tid|comm]

The first report of a recording runs `perf script` over DIR's data once and
folds the samples in C (perftramp._perftramp.fold) into two views: the
interpreter's own frames folded away, and (for --keep-internal) every
frame; native frames of other libraries and the kernel's stay in both.
Both are stored in DIR (recording/folded.py), so every later report, in any format,
reads them without perf.  The folded stacks go to one of the formats of
perftramp/formats/ (text, collapsed, html, speedscope, ...: one module
each).  When some stacks are cut, every format says so (formats.
truncation_advice()): the text report in its output, the others on stderr.

The stored folds keep each stack per event and thread, so --pid, --tid,
--comm, --cgroup and --by are chosen on them; a time window (--start,
--end) and a format that names objects and addresses (pprof:
NEEDS_FRAMES) fold with perf script again.  --by splits the report: the
text report gets one per process, thread or command; the other formats
name each one in the stacks' first frame ("python 4242", "python
4242/4243"), so that a flame graph has a tower each.
"""
import argparse
import os
import sys

from perftramp import formats
from perftramp.recording import folded, layout
from perftramp.recording.errors import Failure
from perftramp.recording.progress import say
from perftramp.recording.selection import Selection

#: report --by: what names a group of rows (folded.Row)
BY = {
    "pid": lambda row: row.pid,
    "tid": lambda row: (row.pid, row.tid),
    "comm": lambda row: row.stack.split(";", 1)[0],
}


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
    p.add_argument("--tid", type=_pids, default=[],
                   help="only these threads (TID[,TID...], as the host numbers them)")
    p.add_argument("--start", type=_seconds,
                   help="only samples from this many seconds after the first one")
    p.add_argument("--end", type=_seconds,
                   help="only samples until this many seconds after the first one")
    p.add_argument("--by", choices=BY,
                   help="one report per process, thread or command")
    p.add_argument("--unwinder", choices=folded.UNWINDERS, default="perf",
                   help="who reads the samples: perf (perf script, the default) or own "
                   "(perftramp's reader in C, no perf script: faster; falls back to perf "
                   "script where it cannot read a recording)")
    p.set_defaults(func=main)


def _pids(text):
    try:
        pids = [int(word) for word in text.split(",") if word]
    except ValueError:
        raise argparse.ArgumentTypeError("not a list of process ids: %r" % text) from None
    if not pids or any(pid <= 0 for pid in pids):
        raise argparse.ArgumentTypeError("not a list of process ids: %r" % text)
    return pids


#: the longest --start/--end: a year (its nanoseconds fit 64 bits)
LONGEST = 365 * 86400.0


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= LONGEST:
        raise argparse.ArgumentTypeError("not a number of seconds from 0 to %d: %r"
                                         % (LONGEST, text))
    return value


def _names(text):
    names = [name for name in text.split(",") if name]
    if not names:
        raise argparse.ArgumentTypeError("no command names in %r" % text)
    return names


def _nonempty(text):
    if not text:
        raise argparse.ArgumentTypeError("an empty cgroup (give / for the root)")
    return text


def fold(directory, keep_internal, selection=None, frames=False, unwinder="perf"):
    """The recording in `directory`, folded into a formats.Profile."""
    meta, got = folded.of_recording(directory, keep_internal, selection, frames, unwinder)
    return formats.Profile.of_rows(got.rows, meta, got)


def _group_name(by, key, rows):
    """How --by names a group: "python 4242", "python 4242/4243", "python"."""
    comm = max(rows, key=lambda row: row.count).stack.split(";", 1)[0]
    if by == "pid":
        return "%s %s" % (comm, key if key >= 0 else "?")
    if by == "tid":
        return "%s %s/%s" % (comm, key[0] if key[0] >= 0 else "?", key[1])
    return key


def _like(profile, rows):
    """A Profile of `rows` from the same recording as `profile`."""
    return formats.Profile.of_rows(rows, profile.meta, profile)


def split(profile, by):
    """[(name, Profile)]: one per group of `by`, the busiest first."""
    groups: dict = {}
    for row in profile.rows:
        groups.setdefault(BY[by](row), []).append(row)
    parts = [(_group_name(by, key, rows), _like(profile, rows)) for key, rows in groups.items()]
    return sorted(parts, key=lambda part: (-part[1].samples, part[0]))


def relabel(profile, by):
    """The profile with each stack's first frame naming its group."""
    rows = []
    for row in profile.rows:
        name = _group_name(by, BY[by](row), [row]).replace(";", ":")
        rows.append(row._replace(stack=name + row.stack[len(row.stack.split(";", 1)[0]):]))
    return _like(profile, rows)


def render(module, profile, args):
    """The format's output (str, or bytes for a binary format) of the
    profile, split --by as the format takes it: one report per group
    (SPLITS), the group in the stacks' first frame, or, for a format whose
    samples carry their threads (LABELS_THREADS), as it is."""
    if not args.by or getattr(module, "LABELS_THREADS", False):
        return module.render(profile, args)
    if getattr(module, "SPLITS", False):
        parts = []
        for name, part in split(profile, args.by):
            part.group = "%s %s" % (args.by, name) if args.by == "comm" else name
            parts.append(module.render(part, args))
        return "\n".join(parts)
    return module.render(relabel(profile, args.by), args)


def write_file(output, out, args):
    try:
        if isinstance(out, bytes):
            with open(output, "wb") as f:
                f.write(out)
        else:
            with open(output, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(out)
    except OSError as exc:
        raise Failure("report: cannot write %s: %s%s" % (
            output, exc.strerror or exc, "; give -o FILE" if args.output is None else "")) from None
    say("wrote %s%s" % (output, "; open it in a web browser" if args.format == "html" else
                        "; go tool pprof -http=: %s" % output if args.format == "pprof" else ""))


def print_out(out):
    """The bytes perf gave, names that are not UTF-8 too (the folder
    decodes with surrogateescape)."""
    raw = getattr(sys.stdout, "buffer", None)
    if raw is None:
        sys.stdout.write(out)
    else:
        sys.stdout.flush()
        raw.write(out if isinstance(out, bytes) else out.encode("utf-8", "surrogateescape"))
        raw.flush()


def main(args):
    directory = args.directory or layout.newest()
    if directory is None:
        raise Failure("report: no perftramp-* directory here; give one, or run "
                       "perftramp record")
    directory = os.path.abspath(directory)
    if args.end is not None and args.end <= (args.start or 0):
        raise Failure("report: --end %g is not after --start %g" % (args.end, args.start or 0))
    selection = Selection(args.pid, args.comm, args.cgroup, args.tid, args.start, args.end)
    module = formats.get(args.format)
    profile = fold(directory, args.keep_internal, selection,
                   getattr(module, "NEEDS_FRAMES", False), args.unwinder)
    out = render(module, profile, args)
    output = args.output
    file_name = getattr(module, "FILE_NAME", None)
    if output is None and file_name and sys.stdout.isatty():
        # megabytes of HTML, or binary data, are no use on a terminal
        output = os.path.join(directory, file_name)
    advice = formats.truncation_advice(profile)
    if advice and (output or not getattr(module, "SHOWS_TRUNCATION", False)):
        say(advice)
    if output:
        write_file(output, out, args)
    else:
        print_out(out)
    return 0
