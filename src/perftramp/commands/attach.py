"""perftramp attach / detach: switch perftramp's backend on or off in a
running CPython 3.8+ process, from outside (recording/remote.py says how).

    perftramp attach PID [--backend auto|NAME] [--timeout S]
    perftramp detach PID
"""
from perftramp import _backends
from perftramp.recording import choice, perf, remote, target
from perftramp.recording.progress import say


def add_parser(subparsers):
    p = subparsers.add_parser("attach", help="activate perftramp in a running CPython 3.8+")
    p.add_argument("pid", type=int)
    p.add_argument("--backend", choices=("auto",) + _backends.names(), default="auto",
                   help="auto (as record chooses for the target's interpreter) or one of: "
                   "%(choices)s")
    p.add_argument("--timeout", type=float, default=remote.TIMEOUT,
                   help="seconds to wait for the target's safe point (%(default)g)")
    p.set_defaults(func=main_attach)
    p = subparsers.add_parser("detach", help="deactivate perftramp in a running process")
    p.add_argument("pid", type=int)
    p.add_argument("--timeout", type=float, default=remote.TIMEOUT,
                   help="seconds to wait for the target's safe point (%(default)g)")
    p.set_defaults(func=main_detach)


def main_attach(args):
    running = target.inspect(args.pid)
    target.require_attachable(running)
    perf_path = perf.require() if args.backend == "auto" else None
    row = choice.choose_backend(args.backend, [running.exe], perf_path,
                                False if running.process.foreign_root else None)
    remote.attach(running, row, {}, args.timeout)
    say("attached to %s, %s: %s backend active; it writes %s%s"
        % (running.process.describe(), running.label, row.name,
           _backends.file_path(row, running.process.nspid, {}),
           " in the container" if running.process.foreign_root else ""))
    return 0


def main_detach(args):
    running = target.inspect(args.pid)
    target.require_attachable(running)
    remote.detach(running, args.timeout)
    say("detached from %d: no new trampolines (those made stay named)" % running.pid)
    return 0
