"""`perftramp` / `python -m perftramp`: check, run, record, report."""
import argparse
import sys

import perftramp
from perftramp.commands import check, record, report, run


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="perftramp",
        description="Python support for the Linux perf profiler.",
    )
    parser.add_argument("--version", action="version", version=perftramp.__version__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (check, run, record, report):
        module.add_parser(subparsers)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
