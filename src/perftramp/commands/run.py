"""perftramp run: run a Python program with perftramp's backend active.

    perftramp run [--backend NAME] -- script.py [args...]
    perftramp run [--backend NAME] -m module [args...]

NAME is any backend of the extension's registry (default: its first).

For 3.12+ users who want perftramp's backend rather than CPython's.
"""
import argparse
import runpy
import sys

import perftramp
from perftramp import _backends, _cpython
from perftramp.recording.errors import Failure


def add_parser(subparsers):
    p = subparsers.add_parser("run", help="run a Python program with perftramp's backend")
    p.add_argument("--backend", choices=_backends.names(), default=_backends.names()[0],
                   help="one of: %(choices)s (default: %(default)s)")
    p.add_argument("-m", dest="module", help="run a module, as python -m does")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="script and its arguments")
    p.set_defaults(func=main)


def main(args):
    argv = [a for a in args.argv]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if args.module is None and not argv:
        raise Failure("run: give a script or -m module")
    if _cpython.jit_enabled():
        # too late to switch the JIT off in this process
        raise Failure("run: %s: start Python without PYTHON_JIT=1 (`perftramp record` "
                       "switches the JIT off by itself)" % _cpython.JIT_REFUSAL)
    # as under `record`: the program's forked children keep whole chains
    perftramp.set_persist_after_fork(True)
    perftramp.activate_stack_trampoline(args.backend)
    if args.module is not None:
        sys.argv = [args.module] + argv
        runpy.run_module(args.module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")
    return 0
