"""One recording: perf record of a command (or of a running process, with
perftramp's backend switched on in it and off again), perf inject where the
backend needs it, the backends' files gathered, the result packed and
described in perftramp.json (layout.py).

Backends whose directory can be chosen and that need perf inject write
into a fresh jitdir.py directory (perf inject writes its jitted-*.so files
beside the dumps), taken into the recording afterwards and packed with perf
inject's output (pack.py).  Other backends whose directory can be chosen
write straight into the recording; the others' files (perf maps, which must
be in /tmp while perf reads them) are moved into its maps/ afterwards.

Whole stacks by default: DWARF unwinding copies perf's largest stack per
sample, and frame-pointer unwinding raises kernel.perf_event_max_stack
while recording where permitted (sysctl.py), then puts it back.  The
program shares this terminal: its output appears as it writes it, and the
exit status is the program's.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional

from perftramp import _backends
from perftramp._backends import Backend

from . import buildids, collect, events, jitdir, layout, pack, perf, remote, sysctl
from .choice import HowToRecord
from .errors import Failure
from .interpreter import looks_like_python, stack_bytes_per_call
from .perf import Sampling
from .progress import say
from .target import Target


@dataclass
class Plan:
    """Everything one recording needs, decided before perf starts."""
    perf: str
    row: Backend
    #: what perftramp.json says was profiled
    command: List[str]
    directory: str
    # (Sampling, not perf.Sampling: in this class body `perf` is the field above)
    sampling: Sampling
    #: the environment perf and the program run with
    env: Dict[str, str]
    #: each backend's directory variable (what an attached process is given)
    dirs: Dict[str, str]
    perf_cmd: List[str] = field(default_factory=list)
    jit_dir: Optional[str] = None
    #: the running process recorded (record -p), None for a command
    target: Optional[Target] = None
    #: whether perftramp is switched on in `target` for the recording (and off after)
    attach: bool = False
    #: with attach: the target's backend file is there, so it is on already
    #: unless detached since; one that does not answer is recorded as it runs
    maybe_on: bool = False
    #: whether the recording takes into its build-id cache what report needs
    #: of processes outside this one's reach (record -p and -a: buildids.py)
    keep_objects: bool = False

    @property
    def attached(self) -> Optional[Target]:
        return self.target if self.attach else None

    @property
    def data(self) -> str:
        return os.path.join(self.directory, layout.DATA)


def backend_dirs(directory: str, jit_dir: Optional[str]) -> Dict[str, str]:
    """Each backend's directory variable: the jitdumps' directory for those
    that need inject, the recording for the others."""
    return {row.dir_env: (jit_dir or directory) if row.inject else directory
            for row in _backends.rows() if row.dir_env}


def _needs_jit_dir(rows: List[Backend]) -> bool:
    return any(row.dir_env and row.inject for row in rows)


def _new_directory(output: Optional[str]) -> str:
    directory = os.path.abspath(output or layout.default_name())
    os.makedirs(directory, exist_ok=True)
    return directory


def _perf_command(plan: Plan, command: List[str], pid: Optional[int] = None,
                  system_wide: bool = False) -> List[str]:
    # perf inject cannot read a compressed recording (perf.py); the caller's
    # Sampling stays as it was given
    sampling = replace(
        plan.sampling, compress=not plan.row.inject and perf.has_zstd(plan.perf))
    # perf inject --jit drops the build-ids of samples (--buildid-mmap) and
    # lists every object's in the header instead, its jitted ones too
    scope = perf.scope_flags(pid, system_wide,
                             build_ids=plan.keep_objects and not plan.row.inject)
    return perf.record_command(plan.perf, plan.row, sampling, plan.data, command, scope=scope)


def plan_command(perf_path: str, row: Backend, command: List[str], output: Optional[str],
                 sampling: perf.Sampling) -> Plan:
    """A recording of `command`: every Python process it starts (children
    too) gets the backend through PERFTRAMP_ACTIVATE, with CPython's JIT
    off, as CPython's -X perf does (a JIT left on would make every
    activation refuse)."""
    directory = _new_directory(output)
    # any process may activate any backend: every jitdump goes to the jitdir
    jit_dir = jitdir.make() if _needs_jit_dir(list(_backends.rows())) else None
    env = dict(os.environ, PERFTRAMP_ACTIVATE=row.name)
    if os.environ.get("PYTHON_JIT", "0")[:1] not in ("", "0"):  # CPython reads 1 char
        say("JIT deactivated as perf profiling support is active (PYTHON_JIT=0)")
    # PYTHON_JIT=0 also beats a build whose JIT is on by default
    env["PYTHON_JIT"] = "0"
    dirs = backend_dirs(directory, jit_dir)
    env.update(dirs)
    plan = Plan(perf_path, row, list(command), directory, sampling, env, dirs, jit_dir=jit_dir)
    plan.perf_cmd = _perf_command(plan, command)
    return plan


def _sleep(duration: Optional[float]) -> List[str]:
    return ["sleep", "%g" % duration] if duration is not None else []


def plan_attached(perf_path: str, how: HowToRecord, target: Target, output: Optional[str],
                  sampling: perf.Sampling, duration: Optional[float]) -> Plan:
    """A recording of the running process `target`, for `duration` seconds
    or until Ctrl-C, as `how` says: with perftramp switched on in it for the
    while (unless on already), or as it runs, its backend already on."""
    row, attach, maybe_on = how
    directory = _new_directory(output)
    # a container writes into its own directories (collect.py takes them)
    give_dirs = attach and not target.process.foreign_root
    jit_dir = jitdir.make() if give_dirs and _needs_jit_dir([row]) else None
    command = [target.exe, "(process %d%s)"
               % (target.pid, ", attached" if attach and not maybe_on else "")]
    dirs = backend_dirs(directory, jit_dir) if give_dirs else {}
    plan = Plan(perf_path, row, command, directory, sampling, dict(os.environ, **dirs), dirs,
                jit_dir=jit_dir, target=target, attach=attach, maybe_on=maybe_on,
                keep_objects=True)
    plan.perf_cmd = _perf_command(plan, _sleep(duration), pid=target.pid)
    return plan


def plan_system(perf_path: str, row: Backend, output: Optional[str], sampling: perf.Sampling,
                duration: Optional[float]) -> Plan:
    """A recording of every process of this machine (every container's
    too), for `duration` seconds or until Ctrl-C; `row` says how perf
    unwinds (active.prevailing() chooses it)."""
    directory = _new_directory(output)
    plan = Plan(perf_path, row, ["(every process)"], directory, sampling, dict(os.environ), {},
                keep_objects=True)
    plan.perf_cmd = _perf_command(plan, _sleep(duration), system_wide=True)
    return plan


def run(plan: Plan) -> int:
    """Records as `plan` says and returns the exit code; perftramp.json is
    written when all went well.  Nothing of the run stays in /tmp, also
    when recording failed."""
    result: Dict[str, Any] = {}
    try:
        if plan.attached is not None:
            _attach(plan)
        return _record(plan, result)
    finally:
        _finish(plan, result)


def _finish(plan: Plan, result: Dict[str, Any]) -> None:
    moved = plan.jit_dir is not None and jitdir.move(
        plan.jit_dir, os.path.join(plan.directory, layout.JIT))
    if not result:
        return
    if moved:
        # where perf.jit.data names the jitted objects: report links it to jit/
        result["jit_dir"] = plan.jit_dir
    if result.get("data") == layout.JIT_DATA:
        _pack(plan.directory, result)
    layout.write_meta(plan.directory, result)
    files, size = layout.files_and_size(plan.directory)
    say("recording: %d files, %.1f MB on disk in %s"
        % (files, size / 1e6, os.path.relpath(plan.directory)))
    say("done: perftramp report %s" % os.path.relpath(plan.directory))


def _pack(directory: str, result: Dict[str, Any]) -> None:
    """A recording that cannot be packed stays as it is."""
    try:
        result["pack"] = pack.pack(directory)
    except OSError as exc:
        say("could not pack the recording (%s); it stays unpacked" % exc.strerror)


def run_perf(perf_cmd: List[str], env: Dict[str, str]) -> int:
    """Runs perf record in the foreground and returns its exit status (the
    program's, as perf returns it; 128+N when perf ended on signal N).  The
    program shares this terminal.  Ctrl-C, SIGTERM and SIGHUP go to perf,
    which stops the program and still writes what it recorded, so that a
    recording of a server stopped that way is kept."""
    proc = subprocess.Popen(perf_cmd, env=env)

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    handlers = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):  # not the main thread
                handlers[signum] = signal.signal(signum, forward)
        status = proc.wait()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return 128 - status if status < 0 else status


def _attach(plan: Plan) -> None:
    """Switches the backend on in the target for the recording; a backend
    on already stays on afterwards (no detach)."""
    assert plan.attached is not None  # the caller's test
    try:
        answer = remote.attach(plan.attached, plan.row, plan.dirs, remote.TIMEOUT)
    except Failure as exc:
        if not plan.maybe_on:
            raise
        say("could not ask process %d whether its backend is on (%s); recording it as it "
            "runs" % (plan.attached.pid, exc))
        plan.attach = False
        return
    if answer.get("was_active"):
        say("process %d has its backend on already: it stays on" % plan.attached.pid)
        plan.attach = False


def _detach_after_perf(target: Target) -> None:
    remote.detach(target, remote.TIMEOUT)
    say("detached from %d; it runs on" % target.pid)


def _run_perf_record(plan: Plan, meta: Dict[str, Any]) -> int:
    """perf record, with the kernel's frame limit raised for frame-pointer
    unwinding, and an attached process detached from once perf is done (or
    failed)."""
    with contextlib.ExitStack() as stack:
        if plan.attached is not None:
            stack.callback(_detach_after_perf, plan.attached)
        if plan.row.unwind == "fp":
            meta["max_stack"] = stack.enter_context(
                sysctl.at_least(sysctl.MAX_STACK, perf.FP_MAX_STACK, say))
        else:
            meta["stack_size"] = plan.sampling.stack_size
        say("$ " + " ".join(shlex.quote(arg) for arg in plan.perf_cmd))
        returncode = run_perf(plan.perf_cmd, plan.env)
    if plan.target is not None or plan.keep_objects:
        # perf's status when stopped by Ctrl-C is not the process's
        returncode = 0 if returncode in (0, 128 + signal.SIGINT) else returncode
    if not os.path.exists(plan.data) or os.path.getsize(plan.data) == 0:
        raise Failure("perf record failed (exit %d) and wrote nothing; perf said why "
                      "above.  Run `perftramp check` for what this machine lacks "
                      "(perf_event_paranoid, perf's version, ...)" % returncode,
                      returncode or 1)
    return returncode


def _inject(plan: Plan, version_text: str, version: Optional[tuple]) -> None:
    jit = os.path.join(plan.directory, layout.JIT_DATA)
    inject_cmd = perf.inject_command(plan.perf, plan.data, jit)
    say("$ " + " ".join(shlex.quote(arg) for arg in inject_cmd))
    inj = subprocess.run(inject_cmd, cwd=plan.directory, stderr=subprocess.PIPE, text=True)
    if inj.returncode == 0:
        return
    sys.stderr.write(inj.stderr)
    message = "perf inject --jit failed (exit %d); perf said why above" % inj.returncode
    if version is None or version < (6, 8):
        message += ("; perf older than 6.8 (or 6.7.2; this is %s) may not read "
                    "jitdumps with unwinding data" % (version_text or "unknown"))
    raise Failure("%s.  The frame-pointer backend needs no inject: --backend %s "
                  "with a frame-pointer interpreter"
                  % (message, _backends.auto(True).name), inj.returncode)


def _injected(plan: Plan, version_text: str, version: Optional[tuple]) -> bool:
    """perf inject --jit, and whether it made perf.jit.data.  A running
    process's recording (record -p, -a) is kept without it when it fails:
    perf inject gives up on the whole when one jitdump perf.data names
    cannot be read (a process that ended, its container's /tmp gone)."""
    try:
        _inject(plan, version_text, version)
        return True
    except Failure as exc:
        if not plan.keep_objects:
            raise
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(plan.directory, layout.JIT_DATA))
        say("%s; the recording keeps perf record's data, in which jitdumps' functions stay "
            "unnamed" % str(exc).split(".  ")[0])
        return False


def _say_if_nothing_active(command: List[str]) -> None:
    python = command[0] if looks_like_python(command[0]) else "the program's Python"
    say("no recorded process had perftramp's backend active, so the report names no "
        "Python function: is perftramp installed for %s (`%s -m pip install perftramp`)?"
        % (python, python if python != "the program's Python" else "python"))


def _record(plan: Plan, result: Dict[str, Any]) -> int:
    """Runs perf record (and inject), gathers the backends' files
    (collect.py), and fills `result`, perftramp.json's fields, when all went
    well; returns the exit code."""
    meta: Dict[str, Any] = {"started_ns": time.time_ns()}
    if plan.sampling.events:
        meta["events"] = [events.script_name(event) for event in plan.sampling.events]
    if plan.sampling.mode != "cpu":
        meta["mode"] = plan.sampling.mode
    returncode = _run_perf_record(plan, meta)
    version_text, version = perf.version(plan.perf)
    meta.update({"backend": plan.row.name, "command": plan.command, "perf": version_text,
                 "python": sys.executable, "freq": plan.sampling.freq,
                 "exit_code": returncode, "data": layout.DATA,
                 "max_stack_wanted": perf.FP_MAX_STACK})
    pids = perf.recorded_pids(plan.perf, plan.data)
    # perf exits with the program's status, so an error exit alone does not
    # say perf failed; an error exit without one process recorded does (the
    # program may not have started: perf said so above).
    if returncode != 0 and not pids:
        raise Failure("perf record failed (exit %d): no process was recorded (did %s "
                      "start?); perf said why above" % (returncode, plan.command[0]),
                      returncode)
    recorded = collect.find(pids, plan.env)
    meta["active_pids"] = [one.pid for one in recorded if one.files]
    if not meta["active_pids"]:
        _say_if_nothing_active(plan.command)
    # those in the recording or the jitdumps' directory (its jit/) stay;
    # the others are taken before perf inject (minutes, maybe), while their
    # processes still run, but for the objects inject writes
    kept = [plan.directory] + ([plan.jit_dir] if plan.jit_dir else [])
    # a command's processes have ended: their maps are the recording's
    meta["maps"] = collect.take_maps(recorded, plan.directory, kept,
                                     move_ended=plan.target is None and not plan.keep_objects)
    size = collect.take_objects(recorded, plan.directory, kept) if plan.keep_objects else 0
    dumps = collect.dump_dirs(recorded, kept) if plan.row.inject else []
    before = collect.jitted_in(dumps)
    if plan.row.inject and _injected(plan, version_text, version):
        meta["data"] = layout.JIT_DATA
    if plan.keep_objects:
        size += collect.take_jitted(dumps, plan.directory, before)
        _note_objects(plan, recorded, size, meta)
    meta["pids"] = pids
    per_call = _stack_per_call(plan)
    if per_call:
        meta["stack_per_call"] = per_call
    result.update(meta)
    return returncode


def _stack_per_call(plan: Plan) -> Optional[int]:
    """For DWARF unwinding of a command run by a Python (python...): the C
    stack one of its Python calls takes, which with the stack copy says how
    deep a chain the samples can show (report's advice on cut stacks)."""
    if plan.row.unwind == "fp" or not plan.command or not looks_like_python(plan.command[0]):
        return None
    return stack_bytes_per_call(shutil.which(plan.command[0], path=plan.env.get("PATH"))
                                or plan.command[0])


def _note_objects(plan: Plan, recorded: List[collect.Recorded], size: int,
                  meta: Dict[str, Any]) -> None:
    if os.path.isdir(buildids.cache_dir(plan.directory)):
        meta["buildid"] = buildids.CACHE
        say("kept %.1f MB of objects report needs from beyond this filesystem (containers) "
            "or from files the processes may remove, in %s/" % (size / 1e6, buildids.CACHE))
    meta["cgroups"] = collect.cgroups(recorded)
