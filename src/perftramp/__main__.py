"""`perftramp` / `python -m perftramp`: check, run, record, report, diff,
attach, detach.

A subcommand that cannot go on raises recording.errors.Failure; main prints
it here, once, as "perftramp: MESSAGE" on stderr and returns its exit code.
"""
import argparse
import sys

import perftramp
from perftramp.commands import attach, check, diff, record, report, run
from perftramp.recording.errors import Failure


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="perftramp",
        description="Python support for the Linux perf profiler.",
    )
    parser.add_argument("--version", action="version", version=perftramp.__version__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (check, run, record, report, diff, attach):
        module.add_parser(subparsers)
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            parser.print_help()
            raise Failure("give a command: check, run, record, report, diff, attach or detach")
        return args.func(args)
    except Failure as error:
        sys.stderr.write("perftramp: %s\n" % error.message)
        sys.stderr.flush()
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
