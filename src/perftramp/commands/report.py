"""perftramp report: what a recording shows, for Python programmers.

    perftramp report [DIR] [--format FORMAT] [-o FILE] [--keep-internal]

Runs `perf script` over DIR's data and folds the samples in C
(perftramp._perftramp.fold): the interpreter's own frames between Python
frames are folded away unless --keep-internal; native frames of other
libraries stay.  The folded stacks go to one of the formats of
perftramp/formats/ (text, collapsed, html, speedscope, ...: one module
each).
"""
import os
import stat
import subprocess
import sys

from perftramp import formats

from . import _perf, _recording
from ._common import say
from ._errors import CliError


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
    p.set_defaults(func=main)


def fold(directory, keep_internal):
    """The recording in `directory`, folded into a formats.Profile."""
    from perftramp import _perftramp

    if not os.path.exists(directory):
        raise CliError("report: no such directory: %s" % directory)
    if not os.path.isdir(directory):
        raise CliError("report: %s is not a directory" % directory)
    meta = _recording.read_meta(directory)
    data = _recording.data_path(directory, meta)
    if not os.path.lexists(data):
        raise CliError("no %s: is %s a perftramp record directory?"
                       % (os.path.basename(data), directory))
    if not stat.S_ISREG(os.lstat(data).st_mode):
        raise CliError("%s is not a regular file (a recording's perf data is)" % data)
    perf = _perf.require()
    with _recording.staged(directory, meta, say) as data:
        proc = subprocess.Popen(_perf.script_command(perf, data, "comm,tid,ip,sym,dso"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=directory)
        try:
            stacks, samples = _perftramp.fold(proc.stdout.fileno(), keep_internal=keep_internal)
        finally:
            proc.stdout.close()
            err = proc.stderr.read().decode(errors="replace")
            proc.wait()
    if proc.returncode != 0:
        sys.stderr.write(err)
        raise CliError("perf script failed", 1)
    return formats.Profile(stacks, samples, meta)


def main(args):
    directory = args.directory or _recording.newest()
    if directory is None:
        raise CliError("report: no perftramp-* directory here; give one, or run "
                       "perftramp record")
    profile = fold(os.path.abspath(directory), args.keep_internal)
    out = formats.get(args.format).render(profile, args)
    if args.output:
        with open(args.output, "w") as f:
            f.write(out)
        say("wrote %s" % args.output)
    else:
        sys.stdout.write(out)
    return 0
