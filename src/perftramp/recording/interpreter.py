"""Asking interpreters about themselves: this one, or another by its path."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from typing import Callable, Optional

#: One test, run in this interpreter or (as source) in another.
_FRAME_POINTER_TEST = (
    "import sysconfig\n"
    "flags = (sysconfig.get_config_var('CFLAGS') or '') + "
    "(sysconfig.get_config_var('PY_CFLAGS') or '')\n"
    "result = 'no-omit-frame-pointer' in flags\n"
)


def has_frame_pointers(python: Optional[str] = None) -> bool:
    """Whether an interpreter was built with frame pointers."""
    if python is None or os.path.realpath(python) == os.path.realpath(sys.executable):
        namespace: dict = {}
        exec(_FRAME_POINTER_TEST, namespace)
        return bool(namespace["result"])
    out = subprocess.run([python, "-c", _FRAME_POINTER_TEST + "print(result)"],
                         capture_output=True, text=True)
    return out.stdout.strip() == "True"


#: The C stack a trampoline adds to each Python call, beyond what any PEP 523
#: hook costs: the return address into the stub and the frame pointer it
#: saves (x86_64; on aarch64 the x29/x30 pair), which also keeps the stack
#: 16-byte aligned for the call into the evaluator.  The hook itself
#: tail-calls the stub and leaves nothing.  benchmarks/run.py's stack
#: workload measures it against the floor (and test_api.py holds it).
STUB_FRAME_BYTES = 16

def _descend(n: int, read: Callable[[], int]) -> int:
    return read() if n == 0 else _descend(n - 1, read)


def c_stack_per_call(depth: int = 200) -> int:
    """C stack bytes one Python-to-Python call takes here, through whatever
    hook is installed now: the stack's address read `depth` calls apart (each
    call made once before, so that a first call's path is not measured)."""
    from perftramp import _perftramp

    read = _perftramp._stack_address
    _descend(depth, read)
    return (_descend(0, read) - _descend(depth, read)) // depth


def _stack_bytes_per_call_here() -> Optional[int]:
    """stack_bytes_per_call() in this interpreter: through perftramp's own hook
    when it is active, else through the benchmarks' no-op hook (no files,
    nothing named) plus STUB_FRAME_BYTES; None under a hook of someone
    else's."""
    from perftramp import _perftramp

    if _perftramp.is_active():
        return c_stack_per_call()
    try:
        _perftramp._floor(True)
    except RuntimeError:
        return None
    try:
        return c_stack_per_call() + STUB_FRAME_BYTES
    finally:
        _perftramp._floor(False)


def stack_bytes_per_call(python: Optional[str] = None) -> Optional[int]:
    """C stack bytes per Python-to-Python call with perftramp's hook on, in
    this interpreter or another (by path: its own perftramp measures); None
    when it cannot be told.  What decides how deep a chain DWARF unwinding
    sees: perf copies at most 65,528 bytes of stack per sample."""
    if python is None or os.path.realpath(python) == os.path.realpath(sys.executable):
        return _stack_bytes_per_call_here()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PERFTRAMP_ACTIVATE")}
    try:
        out = subprocess.run([python, "-c", "from perftramp.recording.interpreter import "
                              "stack_bytes_per_call; print(stack_bytes_per_call())"],
                             env=env, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return int(text) if out.returncode == 0 and text.isdigit() else None


def looks_like_python(program: str) -> bool:
    return os.path.basename(program).startswith("python")


def this_is_free_threaded() -> bool:
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
