"""What a running process executes when perftramp attaches to it or
detaches from it (sys.remote_exec, PEP 768): this file's text, followed by
one call of perftramp_remote(PARAMS) (remote.script_text()).

It runs in the target's main thread, in a fresh namespace, with the
target's own interpreter, which may be older or newer than perftramp's: it
imports only the standard library at its top, keeps to names of its own,
catches every exception and warning, and writes what happened to the
result file named in PARAMS, which the caller waits for.

params: "action" ("attach" or "detach"), "backend", "env" (set in the
target's environment only while activating), "lend" (a directory holding a
perftramp the target may import when it has none of its own), "result".
"""
from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import warnings

#: the annotations' names, for the type checker only: nothing more is
#: imported into the target (typing included)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Dict


def perftramp_import(lend: str, result: Dict[str, Any]) -> ModuleType:
    """perftramp, from the target's own environment, or else lent from
    `lend` when its extension was built for this interpreter's ABI."""
    try:
        import perftramp

        result["from"] = "its own environment"
        return perftramp
    except ImportError:
        pass
    ext = [name for name in os.listdir(os.path.join(lend, "perftramp"))
           if name.startswith("_perftramp.")] if lend else []
    if not any(name[len("_perftramp"):] in importlib.machinery.EXTENSION_SUFFIXES
               for name in ext):
        raise ImportError("no perftramp for this interpreter")
    sys.path.insert(0, lend)
    try:
        import perftramp
    finally:
        sys.path.remove(lend)
    result["from"] = lend
    return perftramp


def perftramp_activate(perftramp: ModuleType, params: Dict[str, Any]) -> None:
    saved = {name: os.environ.get(name) for name in params["env"]}
    os.environ.update(params["env"])
    try:
        # children it forks from now on keep whole chains (an older
        # perftramp in the process's own environment has no such switch,
        # and keeps them always)
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


def perftramp_act(params: Dict[str, Any], result: Dict[str, Any]) -> None:
    if params["action"] == "detach":
        perftramp = sys.modules.get("perftramp")
        if perftramp is None:
            raise LookupError("perftramp was never attached to this process")
        perftramp.deactivate_stack_trampoline()
    else:
        perftramp = perftramp_import(params["lend"], result)
        # on already (started so, or attached to by someone else): left as it is
        result["was_active"] = perftramp.is_stack_trampoline_active()
        if not result["was_active"]:
            perftramp_activate(perftramp, params)
    result["active"] = perftramp.is_stack_trampoline_active()


def perftramp_remote(params: Dict[str, Any]) -> None:
    result = {"pid": os.getpid(), "warnings": []}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            perftramp_act(params, result)
        result["warnings"] = [str(w.message) for w in caught]
        result["ok"] = True
    except BaseException as exc:  # everything goes back to the caller
        result["ok"] = False
        result["error"] = "%s: %s" % (type(exc).__name__, exc)
        result["import_error"] = isinstance(exc, ImportError)
    fd = os.open(params["result"], os.O_WRONLY | os.O_NOFOLLOW | os.O_TRUNC)
    try:
        os.write(fd, json.dumps(result).encode())
    finally:
        os.close(fd)
