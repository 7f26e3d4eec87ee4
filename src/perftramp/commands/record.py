"""perftramp record: profile a command, with the right perf flags, into one
directory.

    perftramp record [-F HZ] [-e EVENT,...] [--backend auto|NAME] [-o DIR] -- CMD [ARGS...]
    perftramp record -p PID [--duration S] [...]
    perftramp record -a [--duration S] [...]

With -p, a running process is recorded instead, for S seconds or until
Ctrl-C, and runs on: one whose backend is on already (started with
PERFTRAMP_ACTIVATE, any CPython, in a container too) as it is; a CPython
3.8+ without one with perftramp's backend switched on in it for the while.
With -a, every process of the machine (every container's too).  Both keep
in the recording what report needs of processes whose files are beyond
its reach once they end (recording/collect.py).

auto picks the best backend for the interpreter (recording/choice.py); NAME
is any backend of the extension's registry.  recording/session.py says how
a recording is made, recording/layout.py what DIR holds.

-e samples on those events instead of perf's default (cycles, or cpu-clock
without hardware counters), each at -F; the first is the one report's flame
graphs show, every one gets its columns in the text report and its sample
type in pprof.  Each is asked of perf before recording
(recording/events.py): one this machine lacks is a one-line error.

--mode offcpu charges each thread's time off the CPU (sleeping, blocked in
a system call or on a lock, waiting for the GIL, preempted) to the stack
it left with: perf samples every switch-out (sched:sched_switch, with the
backend's call chains) and records when each thread runs again
(--switch-events); the report pairs them (src/report/waits.h).  --mode
wall adds on-CPU samples (cpu-clock at -F), so that both are nanoseconds
of wall-clock time.  Every switch is a sample: on a busy server that is
thousands a second, each with its stack copy under DWARF unwinding, so
these modes of -p and -a stop at --max-size (OFFCPU_MAX_SIZE by default; a
command is given none unless asked: perf would end it).
"""
import argparse
import os
import re
import sys

from perftramp import _backends
from perftramp.recording import choice, events, perf, session, target
from perftramp.recording.errors import Failure
from perftramp.recording.progress import say

#: perf record --max-size for --mode offcpu and wall unless given
OFFCPU_MAX_SIZE = "1G"


def add_parser(subparsers):
    rows = _backends.rows()
    fp, dwarf = _backends.candidates(True), _backends.candidates(False)
    p = subparsers.add_parser("record", help="profile a command into a directory")
    p.add_argument("-F", "--freq", type=int, default=999, help="samples per second (999)")
    p.add_argument("--backend", choices=("auto",) + _backends.names(), default="auto",
                   help="auto (with frame pointers: %s; without: %s, the first this perf "
                   "is seen to unwind) or one of: %s"
                   % (" or ".join(r.name for r in fp) or "none",
                      " or ".join(r.name for r in dwarf) or "none",
                      ", ".join(row.describe() for row in rows)))
    p.add_argument("-e", "--event", type=_events, default=(),
                   help="sample on these events (EVENT[,EVENT...], as perf names them: "
                   "cpu-clock, page-faults, context-switches, cycles, instructions, ...; "
                   "perftramp check lists this machine's); the first is the flame graph's")
    p.add_argument("--mode", choices=tuple(perf.MODES), default="cpu",
                   help="cpu: time on the CPU (perf's samples); offcpu: time off it, charged "
                   "to the stack each thread left the CPU with; wall: both, in nanoseconds "
                   "of wall-clock time (root: the scheduler's tracepoint)")
    p.add_argument("--max-size", type=_size,
                   help="stop recording at this size (perf record --max-size: 500M, 2G; a "
                   "command is ended then); default %s for -p/-a with --mode offcpu or wall"
                   % OFFCPU_MAX_SIZE)
    p.add_argument("-o", "--output", help="directory (default ./perftramp-TIMESTAMP)")
    p.add_argument("--stack-size", type=int, default=perf.DWARF_STACK_MAX,
                   help="bytes of stack perf copies per sample with DWARF unwinding "
                   "(%d, perf's largest)" % perf.DWARF_STACK_MAX)
    p.add_argument("-p", "--pid", type=int,
                   help="record this running process: any CPython with perftramp's backend "
                   "on (PERFTRAMP_ACTIVATE), in a container too; a CPython 3.8+ without "
                   "is attached to for the while")
    p.add_argument("-a", "--all", action="store_true",
                   help="record every process of this machine, containers' too (root)")
    p.add_argument("--duration", type=float,
                   help="with -p or -a: seconds to record (default: until Ctrl-C)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    p.set_defaults(func=main)


def _size(text):
    if re.fullmatch(r"[1-9][0-9]{0,12}[KMG]?", text) is None:
        raise argparse.ArgumentTypeError("not a size (a number of bytes, or with K, M or G): "
                                         "%r" % text)
    return text


def _events(text):
    try:
        return events.parse(text)
    except Failure as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("record: ", "")) from None


def _command(args):
    """The command to profile, checked: perf record would start perf, fail
    to exec, and leave a recording of nothing; this says why instead."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise Failure("record: give the command to profile after --")
    if command[0].endswith(".py"):
        if not os.path.isfile(command[0]):
            raise Failure("record: cannot run %s: no such file" % command[0])
        command = [sys.executable] + command
    why = choice.cannot_start(command[0], os.environ.get("PATH", os.defpath))
    if why:
        raise Failure("record: cannot run %s: %s" % (command[0], why))
    return command


def _say_if_waits_lose_callers(mode, row):
    """A running process's backend is the one it has on: with frame-pointer
    unwinding its waits in the C library lose their Python callers."""
    if mode != "cpu" and row.unwind == "fp":
        say("note: the %s backend unwinds by frame pointers, which the C library lacks: "
            "waits in it (locks, the GIL, polls) may lose their Python callers; a process "
            "started with PERFTRAMP_ACTIVATE=perf_elf keeps them" % row.name)


def _running(args, sampling):
    """The Plan of record -p or -a."""
    if args.command and args.command != ["--"]:
        raise Failure("record: give -p PID, -a or a command, not two of them")
    if args.pid is not None and args.all:
        raise Failure("record: give -p PID or -a, not both")
    if args.duration is not None and args.duration <= 0:
        raise Failure("record: --duration must be positive")
    perf_path = perf.require()
    if args.all:
        row = choice.for_system(args.backend, perf_path)
        _say_if_waits_lose_callers(args.mode, row)
        plan = session.plan_system(perf_path, row, args.output, sampling, args.duration)
        say("recording every process (perf unwinding as the %s backend needs) into %s"
            % (row.name, plan.directory))
        return plan
    running = target.inspect(args.pid)
    how = choice.for_running(args.backend, running, perf_path)
    _say_if_waits_lose_callers(args.mode, how.row)
    plan = session.plan_attached(perf_path, how, running, args.output, sampling, args.duration)
    say("recording %s, %s, %s the %s backend into %s"
        % (running.process.describe(), running.label,
           "attaching" if how.attach and not how.maybe_on else "with", how.row.name,
           plan.directory))
    return plan


def main(args):
    if not 0 < args.stack_size <= perf.DWARF_STACK_MAX:
        raise Failure("record: --stack-size must be from 8 to %d bytes (perf's largest)"
                      % perf.DWARF_STACK_MAX)
    if args.mode != "cpu" and args.event:
        raise Failure("record: --mode %s samples its own events; -e goes with --mode cpu"
                      % args.mode)
    # a running process's recording stops at the size; a command's would be
    # ended by perf (it sends the command SIGTERM), so gets none unless asked
    running = args.pid is not None or args.all
    max_size = args.max_size or (OFFCPU_MAX_SIZE if args.mode != "cpu" and running else None)
    sampling = perf.Sampling(args.freq, args.stack_size, events=args.event, mode=args.mode,
                             max_size=max_size)
    if args.event:
        events.check(perf.require(), args.event)
    if args.mode != "cpu":
        events.check(perf.require(), ("sched:sched_switch",), "--mode %s" % args.mode)
    if args.pid is not None or args.all:
        return session.run(_running(args, sampling))
    if args.duration is not None:
        raise Failure("record: --duration goes with -p PID or -a")
    command = _command(args)
    perf_path = perf.require()
    # A wait sits in the C library (a futex, a poll), built without frame
    # pointers, where a frame-pointer walk loses the Python callers: auto
    # picks a DWARF backend for waits, whatever the interpreter.
    waits_need_dwarf = args.mode != "cpu" and args.backend == "auto"
    row = choice.choose_backend(args.backend, command, perf_path,
                                frame_pointers=False if waits_need_dwarf else None)
    plan = session.plan_command(perf_path, row, command, args.output, sampling)
    say("recording with the %s backend into %s" % (row.name, plan.directory))
    return session.run(plan)
