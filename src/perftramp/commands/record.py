"""perftramp record: profile a command, with the right perf flags, into one
directory.

    perftramp record [-F HZ] [--backend auto|NAME] [-o DIR] -- CMD [ARGS...]
    perftramp record -p PID [--duration S] [...]

With -p, a running CPython 3.14+ process is recorded instead: perftramp's
backend is switched on in it (attach.py), perf records it for S seconds or
until Ctrl-C, and the backend is switched off again; the process runs on.

auto picks the frame-pointer backend ("perf") for an interpreter with frame
pointers; without them, "perf_elf" (DWARF, no perf inject) where this perf
reads its image, else "perf_jit" (choose_backend); NAME is any backend of
the extension's registry, and its row says how perf must record (unwinding,
perf inject) and where the backend's files are.  Every Python process CMD
starts (children too) gets perftramp's backend through PERFTRAMP_ACTIVATE.
Backends whose directory can be chosen and that need perf inject (perf_jit:
PERFTRAMP_JITDUMP_DIR) write into a fresh /tmp/jitted-perftramp-* directory
(_recording.make_jit_dir() tells why that name: perf 7.x's libdw unwinder),
where `perf inject --jit` writes its jitted-*.so files beside the dumps; the
directory and perf inject's output are then packed into one file of DIR
(_recording.pack).  Other backends whose directory can be chosen write
straight into DIR; the others' files (perf maps, which must be in /tmp while
perf reads them) are moved into DIR/maps afterwards.  _recording.py
describes what DIR holds.

Whole stacks by default: DWARF unwinding copies perf's largest stack
(65528 bytes) per sample, and frame-pointer unwinding raises
kernel.perf_event_max_stack while recording where permitted (_sysctl.py),
then puts it back.  No perf command writes perf's build-id cache under
$HOME (_perf.py).  The program shares record's terminal: its output appears
as it writes it, and record exits with its status.
"""
import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys

from perftramp import _backends

from . import _perf, _recording, _sysctl
from ._common import has_frame_pointers, looks_like_python, say
from ._errors import CliError


def describe(row):
    how = "frame pointers" if row["unwind"] == "fp" else "DWARF"
    return "%s (%s%s)" % (row["name"], how, ", then perf inject --jit" if row["inject"] else "")


def add_parser(subparsers):
    rows = _backends.rows()
    p = subparsers.add_parser("record", help="profile a command into a directory")
    p.add_argument("-F", "--freq", type=int, default=999, help="samples per second (999)")
    p.add_argument("--backend", choices=("auto",) + _backends.names(), default="auto",
                   help="auto (%s with frame pointers; without, perf_elf where perf "
                   "reads it, else %s) or one of: %s"
                   % (_backends.auto(True)["name"], _backends.auto(False)["name"],
                      ", ".join(describe(row) for row in rows)))
    p.add_argument("-o", "--output", help="directory (default ./perftramp-TIMESTAMP)")
    p.add_argument("--stack-size", type=int, default=_perf.DWARF_STACK_MAX,
                   help="bytes of stack perf copies per sample with DWARF unwinding "
                   "(%d, perf's largest)" % _perf.DWARF_STACK_MAX)
    p.add_argument("-p", "--pid", type=int,
                   help="record this running Python 3.14+ process (attach, record, detach)")
    p.add_argument("--duration", type=float,
                   help="with -p: seconds to record (default: until Ctrl-C)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    p.set_defaults(func=main)


def choose_backend(requested, command, perf):
    """The backend row to record with.  Without frame pointers, perf_elf (DWARF
    unwinding with no perf inject: one file per process, not one per function)
    when this machine's perf is seen to read its image (check.elf_self_test, a
    run of a second or so); perf_jit, which any perf >= 6.8 reads, otherwise."""
    if requested != "auto":
        return _backends.find(requested)
    python = command[0] if looks_like_python(command[0]) else sys.executable
    if has_frame_pointers(shutil.which(python) or python):
        return _backends.auto(True)
    elf = _backends.find("perf_elf")
    if elf is not None:
        from . import check

        ok, detail = check.elf_self_test(perf)
        if ok:
            return elf
        say("perf_elf cannot be used here (%s); recording with perf_jit and perf inject"
            % detail)
    return _backends.auto(False)


def cannot_start(program, path):
    """Why `program` cannot be started with PATH `path` (as perf would exec
    it), or None when it can."""
    if os.sep not in program:
        found = shutil.which(program, path=path)
        if not found:
            return "not found on PATH"
        program = found
    if not os.path.exists(program):
        return "no such file"
    if os.path.isdir(program):
        return "it is a directory"
    if not os.access(program, os.X_OK):
        return "not executable"
    return _bad_interpreter(program)


def _bad_interpreter(program):
    """Why the #! interpreter of the script `program` cannot run, or None
    (also for a binary, or a file record cannot read)."""
    try:
        with open(program, "rb") as f:
            first = f.readline(4096)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].split()
    if not words:
        return "its #! line names no interpreter"
    interpreter = os.fsdecode(words[0])
    if not os.path.isfile(interpreter):
        return "its interpreter %s is not there" % interpreter
    if not os.access(interpreter, os.X_OK):
        return "its interpreter %s is not executable" % interpreter
    return None


def main(args):
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not 0 < args.stack_size <= _perf.DWARF_STACK_MAX:
        raise CliError("record: --stack-size must be from 8 to %d bytes (perf's largest)"
                       % _perf.DWARF_STACK_MAX)
    if args.pid is not None:
        if command:
            raise CliError("record: give -p PID or a command, not both")
        return main_attached(args)
    if args.duration is not None:
        raise CliError("record: --duration goes with -p PID")
    if not command:
        raise CliError("record: give the command to profile after --")
    if command[0].endswith(".py"):
        if not os.path.isfile(command[0]):
            raise CliError("record: cannot run %s: no such file" % command[0])
        command = [sys.executable] + command
    # perf record would start perf, fail to exec, and leave a recording of
    # nothing; say why here instead.
    why = cannot_start(command[0], os.environ.get("PATH", os.defpath))
    if why:
        raise CliError("record: cannot run %s: %s" % (command[0], why))
    perf = _perf.require()
    row = choose_backend(args.backend, command, perf)
    directory = os.path.abspath(args.output or _recording.default_name())
    os.makedirs(directory, exist_ok=True)
    data = os.path.join(directory, _recording.DATA)
    # perf inject cannot read a compressed recording (_perf.py)
    compress = not row["inject"] and _perf.has_zstd(perf)
    perf_cmd = _perf.record_command(perf, row, args.freq, data, command, args.stack_size,
                                    compress=compress)
    env = dict(os.environ, PERFTRAMP_ACTIVATE=row["name"])
    # As CPython's -X perf does with its JIT: off, with a message when it was
    # asked for.  (PYTHON_JIT=0 also beats a build whose JIT is on by default;
    # a JIT left on would make every PERFTRAMP_ACTIVATE refuse.)
    if os.environ.get("PYTHON_JIT", "0")[:1] not in ("", "0"):  # CPython reads 1 char
        say("JIT deactivated as perf profiling support is active (PYTHON_JIT=0)")
    env["PYTHON_JIT"] = "0"
    jit_rows = [other for other in _backends.rows() if other["dir_env"] and other["inject"]]
    jit_dir = _recording.make_jit_dir() if jit_rows else None
    env.update(backend_dirs(directory, jit_dir))
    say("recording with the %s backend into %s" % (row["name"], directory))
    result = {}
    try:
        return record(perf, perf_cmd, env, row, command, directory, data, jit_dir, args,
                      result)
    finally:
        finish(directory, jit_dir, result)


def finish(directory, jit_dir, result):
    # also when recording failed: nothing of the run stays in /tmp
    if jit_dir is not None and _recording.move_jit_dir(jit_dir, directory) and result:
        # where perf.jit.data names the jitted objects: report links it to jit/
        result["jit_dir"] = jit_dir
    if result:
        if result.get("data") == _recording.JIT_DATA:
            pack(directory, result)
        _recording.write_meta(directory, result)
        files, size = _recording.files_and_size(directory)
        say("recording: %d files, %.1f MB on disk in %s" % (files, size / 1e6,
                                                    os.path.relpath(directory)))
        say("done: perftramp report %s" % os.path.relpath(directory))


def backend_dirs(directory, jit_dir):
    """Each backend's directory variable: the jitdumps' directory for those
    that need inject, the recording for the others."""
    return {other["dir_env"]: jit_dir if other["inject"] else directory
            for other in _backends.rows() if other["dir_env"]}


def main_attached(args):
    """record -p PID: attach, perf record -p, detach, then as for a command."""
    from . import _target, attach

    if args.duration is not None and args.duration <= 0:
        raise CliError("record: --duration must be positive")
    target = _target.inspect(args.pid)
    perf = _perf.require()
    row = attach.choose_backend(args.backend, target, perf)
    directory = os.path.abspath(args.output or _recording.default_name())
    os.makedirs(directory, exist_ok=True)
    data = os.path.join(directory, _recording.DATA)
    compress = not row["inject"] and _perf.has_zstd(perf)
    sleep = ["sleep", "%g" % args.duration] if args.duration is not None else []
    perf_cmd = _perf.record_command(perf, row, args.freq, data, sleep, args.stack_size,
                                    compress=compress, pid=target.pid)
    jit_dir = _recording.make_jit_dir() if row["inject"] else None
    env = backend_dirs(directory, jit_dir or directory)
    command = [target.exe, "(process %d, attached)" % target.pid]
    say("recording %d (%s) with the %s backend into %s"
        % (target.pid, target.label, row["name"], directory))
    result = {}
    try:
        attach.attach(target, row, env, attach.TIMEOUT)
        return record(perf, perf_cmd, dict(os.environ, **env), row, command, directory, data,
                      jit_dir, args, result, attached=target)
    finally:
        finish(directory, jit_dir, result)


def pack(directory, result):
    """perf.jit.data and jit/ into one file (a recording of thousands of
    files otherwise); a recording that cannot be packed stays as it is."""
    try:
        result["pack"] = _recording.pack(directory)
    except OSError as exc:
        say("could not pack the recording (%s); it stays unpacked" % exc.strerror)


def run_perf(perf_cmd, env):
    """Runs perf record in the foreground and returns its exit status (the
    program's, as perf returns it; 128+N when perf ended on signal N).  The
    program shares this terminal.  Ctrl-C, SIGTERM and SIGHUP go to perf,
    which stops the program and still writes what it recorded, so that a
    recording of a server stopped that way is kept."""
    proc = subprocess.Popen(perf_cmd, env=env)

    def forward(signum, frame):
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


def active_pids(pids, env):
    """The recorded processes where some backend of perftramp wrote its file."""
    return [pid for pid in pids
            if any(os.path.exists(_backends.file_path(other, pid, env))
                   for other in _backends.rows())]


def detach_after_perf(target):
    from . import attach

    attach.detach(target, attach.TIMEOUT)
    say("detached from %d; it runs on" % target.pid)


def record(perf, perf_cmd, env, row, command, directory, data, jit_dir, args, result,
           attached=None):
    """Runs perf record (and inject), gathers the maps, and fills `result`,
    perftramp.json's fields, when all went well; returns the exit code.
    `attached`: the running process perf recorded (record -p), detached from
    once perf is done (or failed); its files are copied, not moved, since it
    runs on."""
    meta = {}
    with contextlib.ExitStack() as stack:
        if attached is not None:
            stack.callback(detach_after_perf, attached)
        if row["unwind"] == "fp":
            meta["max_stack"] = stack.enter_context(
                _sysctl.at_least(_sysctl.MAX_STACK, _perf.FP_MAX_STACK, say))
        else:
            meta["stack_size"] = args.stack_size
        say("$ " + " ".join(shlex.quote(arg) for arg in perf_cmd))
        returncode = run_perf(perf_cmd, env)
    if attached is not None:
        # perf's status when stopped by Ctrl-C is not the process's
        returncode = 0 if returncode in (0, 128 + signal.SIGINT) else returncode
    check_hint = ("Run `perftramp check` for what this machine lacks (perf_event_paranoid, "
                  "perf's version, ...)")
    if not os.path.exists(data) or os.path.getsize(data) == 0:
        raise CliError("perf record failed (exit %d) and wrote nothing; perf said why "
                       "above.  %s" % (returncode, check_hint), returncode or 1)
    version_text, version = _perf.version(perf)
    meta.update({"backend": row["name"], "command": command, "perf": version_text,
                 "python": sys.executable, "freq": args.freq, "exit_code": returncode,
                 "data": _recording.DATA, "max_stack_wanted": _perf.FP_MAX_STACK})
    pids = _perf.recorded_pids(perf, data)
    # perf exits with the program's status, so an error exit alone does not
    # say perf failed; an error exit without one process recorded does (the
    # program may not have started: perf said so above).
    if returncode != 0 and not pids:
        raise CliError("perf record failed (exit %d): no process was recorded (did %s "
                       "start?); perf said why above" % (returncode, command[0]),
                       returncode)
    meta["active_pids"] = active_pids(pids, env)
    if not meta["active_pids"]:
        python = command[0] if looks_like_python(command[0]) else "the program's Python"
        say("no recorded process had perftramp's backend active, so the report names no "
            "Python function: is perftramp installed for %s (`%s -m pip install perftramp`)?"
            % (python, python if python != "the program's Python" else "python"))
    if row["inject"]:
        jit = os.path.join(directory, _recording.JIT_DATA)
        inject_cmd = _perf.inject_command(perf, data, jit)
        say("$ " + " ".join(shlex.quote(arg) for arg in inject_cmd))
        inj = subprocess.run(inject_cmd, cwd=directory, stderr=subprocess.PIPE, text=True)
        if inj.returncode != 0:
            sys.stderr.write(inj.stderr)
            message = "perf inject --jit failed (exit %d); perf said why above" % inj.returncode
            if version is None or version < (6, 8):
                message += ("; perf older than 6.8 (or 6.7.2; this is %s) may not read "
                            "jitdumps with unwinding data" % (version_text or "unknown"))
            raise CliError("%s.  The frame-pointer backend needs no inject: --backend %s "
                           "with a frame-pointer interpreter"
                           % (message, _backends.auto(True)["name"]), inj.returncode)
        meta["data"] = _recording.JIT_DATA
    # Every backend's files of the recorded processes (a program may activate
    # another backend itself): those not already in DIR or the jitdumps'
    # directory (which becomes DIR/jit) are moved into maps/.
    kept = {directory, jit_dir}
    elsewhere = [path for other in _backends.rows() for pid in pids
                 for path in [_backends.file_path(other, pid, env)]
                 if os.path.dirname(os.path.abspath(path)) not in kept]
    meta["maps"] = _recording.gather_maps(elsewhere, directory, copy=attached is not None)
    meta["pids"] = pids
    result.update(meta)
    return returncode
