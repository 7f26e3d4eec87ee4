"""Switching perftramp's backend on or off in a running CPython 3.14+
process, from outside (`perftramp attach`, `detach`, `record -p`).

Through sys.remote_exec (PEP 768): the target runs remote_script.py at its
main thread's next safe point, which imports perftramp there and activates
(or deactivates) the backend, and writes what happened to a result file
this waits for.  The target's own output is not touched: the script
catches every exception and warning and hands them back here.

perftramp must be importable in the target: from its own environment, or
else this installed copy is lent to it (put on sys.path only for the
import) when its extension was built for the target's ABI; otherwise the
refusal says what to install where.  Functions already running when the
backend comes on have no trampoline until they are called again (README).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict

from perftramp._backends import Backend

from . import remote_script
from . import target as target_mod
from .errors import Failure
from .interpreter import this_is_free_threaded
from .progress import say
from .target import Target

#: seconds to wait for the target's main thread to reach a safe point
TIMEOUT = 10.0
#: the directory holding this perftramp package, lent to a target without one
_LEND = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def script_text(params: Dict[str, Any]) -> str:
    """remote_script.py's text, and its one call with `params`."""
    with open(remote_script.__file__, encoding="utf-8") as f:
        source = f.read()
    return "%s\n\nperftramp_remote(%r)\n" % (source, params)


def attach(target: Target, row: Backend, env: Dict[str, str], timeout: float) -> Dict[str, Any]:
    """Activates `row` in the target, with `env` (backend directories) set
    in its environment only while activating.  Returns the result dict."""
    # a container sees neither this perftramp nor the recording's directories
    foreign = target.process.foreign_root
    result = run_remote(target, {"action": "attach", "backend": row.name,
                                 "env": {} if foreign else env,
                                 "lend": "" if foreign else _LEND}, timeout)
    if not result.get("active"):
        raise Failure("attach %d: the backend did not come on (see the warning above)"
                       % target.pid, 1)
    return result


def detach(target: Target, timeout: float) -> Dict[str, Any]:
    result = run_remote(target, {"action": "detach"}, timeout)
    if result.get("active"):
        raise Failure("detach %d: a trampoline is still active there (another tool's?)"
                       % target.pid, 1)
    return result


def run_remote(target: Target, params: Dict[str, Any], timeout: float) -> Dict[str, Any]:
    """Runs the script with `params` in the target and returns its result,
    after saying the warnings it caught there; Failure on every failure, in
    one line."""
    result = _exchange(target, params, timeout)
    for warning in result.get("warnings", ()):
        say("in %d: %s" % (target.pid, warning))
    if result.get("ok"):
        return result
    if result.get("import_error") and target.process.foreign_root:
        raise Failure("%s, %s: perftramp is not importable in the container (its image needs "
                      "it: `%s -m pip install perftramp` there)"
                      % (target.process.describe(), target.label, target.exe))
    if result.get("import_error"):
        raise Failure("process %d (%s, %s): perftramp is not importable there, and this "
                      "perftramp (Python %d.%d%s) is not built for it: `%s -m pip install "
                      "perftramp` in its environment"
                      % (target.pid, target.label, target.exe, sys.version_info[0],
                         sys.version_info[1], "t" if this_is_free_threaded() else "",
                         target.exe))
    raise Failure("%s %d: %s" % (params["action"], target.pid, result.get("error")), 1)


def _exchange(target: Target, params: Dict[str, Any], timeout: float) -> Dict[str, Any]:
    """Sends the script and waits for its result file."""
    # The target may run as another user (we are root): it must read the
    # script and write the result, and no one else may plant either.
    # a container's own /tmp, where it can read them, for a target in one
    work = tempfile.mkdtemp(prefix="perftramp-attach-", dir=target.process.path("/tmp")
                            if target.process.foreign_root else None)
    os.chmod(work, 0o711)
    script = os.path.join(work, "a.py")
    result_path = os.path.join(work, "result.json")
    seen = os.path.join("/tmp", os.path.basename(work)) if target.process.foreign_root \
        else work
    params = dict(params, result=os.path.join(seen, "result.json"))
    sent = done = False
    try:
        fd = os.open(result_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        with open(script, "w") as f:
            f.write(script_text(params))
        os.chmod(script, 0o644)
        if os.geteuid() == 0 and target.uid != 0:
            os.chown(result_path, target.uid, -1)
        send(target, os.path.join(seen, "a.py"))
        sent = True
        result = wait_for(result_path, target, timeout, work)
        done = True
    finally:
        if done or not sent:
            shutil.rmtree(work, ignore_errors=True)
        else:
            defuse(work, script)
    return result


def send(target: Target, script: str) -> None:
    argv = target_mod.remote_exec_argv(target, script)
    if argv is None:
        try:
            # mypy checks as 3.10, whose sys has no remote_exec (3.14+, PEP 768);
            # argv is None only when this interpreter is of the target's version,
            # which target.require_attachable() makes 3.14+
            sys.remote_exec(target.pid, script)  # type: ignore[attr-defined]
        except (OSError, RuntimeError) as exc:
            raise Failure(target_mod.remote_exec_error(target, str(exc))) from None
        return
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        lines = (out.stderr or "").strip().splitlines() or ["exit %d" % out.returncode]
        raise Failure(target_mod.remote_exec_error(target, lines[-1]))


def wait_for(path: str, target: Target, timeout: float, work: str) -> Dict[str, Any]:
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
            raise Failure("process %d exited before it ran perftramp's script" % target.pid)
        if time.monotonic() > deadline:
            raise Failure("process %d did not reach a safe point in %g s (its main thread may "
                           "be blocked in C code, e.g. a join or a read); nothing was changed: "
                           "the script it would run later, in %s, is now a no-op"
                           % (target.pid, timeout, work))
        time.sleep(0.02)


def defuse(work: str, script: str) -> None:
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
