"""perftramp diff: what changed between two recordings of a program.

    perftramp diff BASE NEW [--format text|html|collapsed] [-o FILE]
                   [--keep-internal] [--top N]

Each recording is folded as report folds it (stored folds are read, the
first report of a recording folds it once); formats/_diff.py compares
them: shares of each recording's own samples, so runs of other lengths
compare fairly.
"""
import os
import sys

from perftramp.commands import report
from perftramp.formats import _diff
from perftramp.recording.errors import Failure


def add_parser(subparsers):
    p = subparsers.add_parser("diff", help="compare two recordings")
    p.add_argument("base", help="the recording to compare against (a record directory)")
    p.add_argument("new", help="the recording to show (a record directory)")
    p.add_argument("--format", choices=_diff.FORMATS, default="text",
                   help="text: functions whose share grew or shrank most, self and total; "
                   "html: a differential flame graph; collapsed: \"stack BASE NEW\" lines "
                   "(flamegraph.pl's difffolded)")
    p.add_argument("-o", "--output", help="write here instead of stdout")
    p.add_argument("--keep-internal", action="store_true",
                   help="keep the interpreter's frames between Python frames")
    p.add_argument("--top", type=int, default=25, help="functions per table (25)")
    p.set_defaults(func=main, by=None)


def main(args):
    profiles = []
    for directory in (args.base, args.new):
        directory = os.path.abspath(directory)
        if not os.path.isdir(directory):
            raise Failure("diff: %s is not a directory (give two perftramp record "
                          "directories)" % directory)
        profiles.append(report.fold(directory, args.keep_internal))
    out = _diff.render(args.format, profiles[0], profiles[1], args)
    output = args.output
    if output is None and args.format == "html" and sys.stdout.isatty():
        output = os.path.join(os.path.abspath(args.new), "diff.html")
    if output:
        report.write_file(output, out, args)
    else:
        report.print_out(out)
    return 0
