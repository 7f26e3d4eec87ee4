"""Switching perftramp's backend on or off in a running CPython 3.8+
process, from outside (`perftramp attach`, `detach`, `record -p`).

Through sys.remote_exec (PEP 768) on 3.14+, and on 3.8-3.13 through a
pending call queued with ptrace (ptrace_exec.py): either way the target
runs remote_script.py at its main thread's next safe point, which imports
perftramp there and activates (or deactivates) the backend, and writes what
happened to a result file this waits for.  The target's own output is not touched: the script
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
import subprocess
import sys
import time
from typing import Any, Dict, Optional

from perftramp._backends import Backend

from . import exchange, mountns, ptrace_exec, remote_script
from . import target as target_mod
from .errors import Failure
from .exchange import Exchange
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
    """Sends the script and waits for its result file (exchange.py: in the
    /tmp the target sees, handled only through file descriptors)."""
    try:
        work = Exchange(target.process)
    except OSError as exc:
        raise Failure("%s: cannot make perftramp's exchange directory in the /tmp it sees: %s"
                      % (target.process.describe(), exc.strerror or exc)) from None
    params = dict(params, result=work.seen + "/" + exchange.RESULT)
    sent = done = False
    page = None
    try:
        work.make_result(target.uid if os.geteuid() == 0 and target.uid != 0 else None)
        work.write_script(script_text(params))
        page = send(target, work.seen + "/" + exchange.SCRIPT)
        sent = True
        result = wait_for(work, target, timeout)
        done = True
    finally:
        if done or not sent:
            work.remove()
        else:
            work.defuse()
    if page is not None:
        # the text that ran the script is no longer read: it was parsed first
        ptrace_exec.release(target, page)
    return result


def send(target: Target, script: str) -> Optional[ptrace_exec.Page]:
    """Has the target run `script` (its path as the target sees it) soon;
    the page ptrace_exec.send() made, to release once it has run."""
    if not target_mod.uses_remote_exec(target):
        return ptrace_exec.send(target, script)
    argv = target_mod.remote_exec_argv(target, script)
    if argv is None and target.process.foreign_root:
        failed = mountns.remote_exec(target.pid, script)
        if failed:
            raise Failure(target_mod.remote_exec_error(target, failed))
        return None
    if argv is None:
        try:
            # mypy checks as 3.10, whose sys has no remote_exec (3.14+, PEP 768);
            # argv is None only when this interpreter is of the target's version,
            # which target.uses_remote_exec() makes 3.14+
            sys.remote_exec(target.pid, script)  # type: ignore[attr-defined]
        except (OSError, RuntimeError) as exc:
            raise Failure(target_mod.remote_exec_error(target, str(exc))) from None
        return None
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        lines = (out.stderr or "").strip().splitlines() or ["exit %d" % out.returncode]
        raise Failure(target_mod.remote_exec_error(target, lines[-1]))
    return None


def wait_for(work: Exchange, target: Target, timeout: float) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        text = work.read_result()
        if text:
            try:
                result = json.loads(text)
                if isinstance(result, dict):
                    return result
            except ValueError:
                pass  # still being written
        if not os.path.exists("/proc/%d" % target.pid):
            raise Failure("process %d exited before it ran perftramp's script" % target.pid)
        if time.monotonic() > deadline:
            raise Failure("process %d did not reach a safe point in %g s (its main thread may "
                           "be blocked in C code, e.g. a join or a read); nothing was changed: "
                           "the script it would run later, in %s, is now a no-op"
                           % (target.pid, timeout, work.shown))
        time.sleep(0.02)
