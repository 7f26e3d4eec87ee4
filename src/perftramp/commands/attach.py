"""perftramp attach / detach: switch perftramp's backend on or off in a
running CPython 3.14+ process, from outside.

    perftramp attach PID [--backend auto|NAME] [--timeout S]
    perftramp detach PID

Through sys.remote_exec (PEP 768): the target runs a small script at its
main thread's next safe point, which imports perftramp there and activates
(or deactivates) the backend, and writes what happened to a result file
this command waits for.  The target's own output is not touched: the script
catches every exception and warning and hands them back here.

perftramp must be importable in the target: from its own environment, or
else this command's installed copy is lent to it (put on sys.path only for
the import) when its extension was built for the target's ABI; otherwise
the refusal says what to install where.  Functions already running when the
backend comes on have no trampoline until they are called again (README).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from perftramp import _backends

from . import _target
from ._common import say
from ._errors import CliError

#: seconds to wait for the target's main thread to reach a safe point
TIMEOUT = 10.0
#: What the target runs.  PARAMS is filled in by script_text(); the script
#: keeps to names of its own in a fresh namespace (CPython runs it in one).
_SCRIPT = r'''
def _perftramp_remote(params):
    import importlib.machinery, json, os, sys, warnings
    result = {"pid": os.getpid(), "warnings": []}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if params["action"] == "detach":
                perftramp = sys.modules.get("perftramp")
                if perftramp is None:
                    raise LookupError("perftramp was never attached to this process")
                perftramp.deactivate_stack_trampoline()
            else:
                try:
                    import perftramp
                    result["from"] = "its own environment"
                except ImportError:
                    lent = params["lend"]
                    ext = [name for name in os.listdir(os.path.join(lent, "perftramp"))
                           if name.startswith("_perftramp.")] if lent else []
                    if not any(name[len("_perftramp"):] in importlib.machinery.EXTENSION_SUFFIXES
                               for name in ext):
                        raise ImportError("no perftramp for this interpreter")
                    sys.path.insert(0, lent)
                    try:
                        import perftramp
                    finally:
                        sys.path.remove(lent)
                    result["from"] = lent
                saved = {name: os.environ.get(name) for name in params["env"]}
                os.environ.update(params["env"])
                try:
                    # children it forks from now on keep whole chains (an
                    # older perftramp in the process's own environment has
                    # no such switch, and keeps them always)
                    persist = getattr(perftramp, "set_persist_after_fork", None)
                    if persist is not None:
                        persist(True)
                    perftramp.activate_stack_trampoline(params["backend"])
                finally:
                    for name, value in saved.items():
                        if value is None:
                            os.environ.pop(name, None)
                        else:
                            os.environ[name] = value
            result["active"] = perftramp.is_stack_trampoline_active()
        result["warnings"] = [str(w.message) for w in caught]
        result["ok"] = True
    except BaseException as exc:
        result["ok"] = False
        result["error"] = "%s: %s" % (type(exc).__name__, exc)
        result["import_error"] = isinstance(exc, ImportError)
    fd = os.open(params["result"], os.O_WRONLY | os.O_NOFOLLOW | os.O_TRUNC)
    try:
        os.write(fd, json.dumps(result).encode())
    finally:
        os.close(fd)

_perftramp_remote(PARAMS)
'''


def script_text(params):
    return _SCRIPT.replace("PARAMS", repr(params))


def add_parser(subparsers):
    p = subparsers.add_parser("attach", help="activate perftramp in a running Python 3.14+")
    p.add_argument("pid", type=int)
    p.add_argument("--backend", choices=("auto",) + _backends.names(), default="auto",
                   help="auto (as record chooses for the target's interpreter) or one of: "
                   "%(choices)s")
    p.add_argument("--timeout", type=float, default=TIMEOUT,
                   help="seconds to wait for the target's safe point (%(default)g)")
    p.set_defaults(func=main_attach)
    p = subparsers.add_parser("detach", help="deactivate perftramp in a running process")
    p.add_argument("pid", type=int)
    p.add_argument("--timeout", type=float, default=TIMEOUT,
                   help="seconds to wait for the target's safe point (%(default)g)")
    p.set_defaults(func=main_detach)


def choose_backend(requested, target, perf):
    from . import record

    return record.choose_backend(requested, [target.exe], perf)


def main_attach(args):
    target = _target.inspect(args.pid)
    perf = None
    if args.backend == "auto":
        from . import _perf

        perf = _perf.require()
    row = choose_backend(args.backend, target, perf)
    attach(target, row, {}, args.timeout)
    say("attached to %d (%s): %s backend active; it writes %s"
        % (target.pid, target.label, row["name"], _backends.file_path(row, target.pid, {})))
    return 0


def main_detach(args):
    target = _target.inspect(args.pid)
    detach(target, args.timeout)
    say("detached from %d: no new trampolines (those made stay named)" % target.pid)
    return 0


def attach(target, row, env, timeout):
    """Activates `row` in the target, with `env` (backend directories) set
    in its environment only while activating.  Returns the result dict."""
    import perftramp

    lend = os.path.dirname(os.path.dirname(os.path.abspath(perftramp.__file__)))
    result = run_remote(target, {"action": "attach", "backend": row["name"], "env": env,
                                 "lend": lend}, timeout)
    if not result.get("active"):
        raise CliError("attach %d: the backend did not come on (see the warning above)"
                       % target.pid, 1)
    return result


def detach(target, timeout):
    result = run_remote(target, {"action": "detach"}, timeout)
    if result.get("active"):
        raise CliError("detach %d: a trampoline is still active there (another tool's?)"
                       % target.pid, 1)
    return result


def run_remote(target, params, timeout):
    """Runs the script with `params` in the target and returns its result,
    after saying the warnings it caught there; CliError on every failure, in
    one line."""
    # The target may run as another user (we are root): it must read the
    # script and write the result, and no one else may plant either.
    work = tempfile.mkdtemp(prefix="perftramp-attach-")
    os.chmod(work, 0o711)
    script = os.path.join(work, "a.py")
    result_path = os.path.join(work, "result.json")
    params = dict(params, result=result_path)
    sent = done = False
    try:
        fd = os.open(result_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        with open(script, "w") as f:
            f.write(script_text(params))
        os.chmod(script, 0o644)
        if os.geteuid() == 0 and target.uid != 0:
            os.chown(result_path, target.uid, -1)
        send(target, script)
        sent = True
        result = wait_for(result_path, target, timeout, work)
        done = True
    finally:
        if done or not sent:
            shutil.rmtree(work, ignore_errors=True)
        else:
            defuse(work, script)
    for warning in result.get("warnings", ()):
        say("in %d: %s" % (target.pid, warning))
    if not result.get("ok"):
        if result.get("import_error"):
            raise CliError("process %d (%s, %s): perftramp is not importable there, and this "
                           "perftramp (Python %d.%d%s) is not built for it: `%s -m pip install "
                           "perftramp` in its environment"
                           % (target.pid, target.label, target.exe, sys.version_info[0],
                              sys.version_info[1],
                              "t" if _target.this_is_free_threaded() else "",
                              target.exe))
        raise CliError("%s %d: %s" % (params["action"], target.pid, result.get("error")), 1)
    return result


def send(target, script):
    argv = _target.remote_exec_argv(target, script)
    if argv is None:
        try:
            sys.remote_exec(target.pid, script)
        except (OSError, RuntimeError) as exc:
            raise CliError(_target.remote_exec_error(target, str(exc)))
        return
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        lines = (out.stderr or "").strip().splitlines() or ["exit %d" % out.returncode]
        raise CliError(_target.remote_exec_error(target, lines[-1]))


def wait_for(path, target, timeout, work):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            text = ""
        if text:
            try:
                return json.loads(text)
            except ValueError:
                pass  # still being written
        if not os.path.exists("/proc/%d" % target.pid):
            raise CliError("process %d exited before it ran perftramp's script" % target.pid)
        if time.monotonic() > deadline:
            raise CliError("process %d did not reach a safe point in %g s (its main thread may "
                           "be blocked in C code, e.g. a join or a read); nothing was changed: "
                           "the script it would run later, in %s, is now a no-op"
                           % (target.pid, timeout, work))
        time.sleep(0.02)


def defuse(work, script):
    """The target may still run the script at a later safe point: make it a
    no-op (atomically), and leave it there, since a missing script would make
    the target print an error of its own."""
    try:
        spare = script + ".new"
        with open(spare, "w") as f:
            f.write("pass\n")
        os.chmod(spare, 0o644)
        os.replace(spare, script)
    except OSError:
        pass
