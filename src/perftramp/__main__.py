"""`perftramp` / `python -m perftramp`: the command line (grows in issue 5)."""
import argparse
import sys

import perftramp


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="perftramp",
        description="Python support for the Linux perf profiler.",
    )
    parser.add_argument("--version", action="version", version=perftramp.__version__)
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
