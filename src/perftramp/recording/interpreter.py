"""Asking interpreters about themselves: this one, or another by its path."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from typing import Optional

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
#: workload measures it against the floor.
STUB_FRAME_BYTES = 16

#: How many bytes of C stack one Python-to-Python call takes with the hook
#: on, run in this interpreter or (as source) in another: the same chain read
#: at two depths, with the benchmarks' no-op hook installed (no files, nothing
#: named) plus STUB_FRAME_BYTES, or through perftramp's own hook when it is
#: already active here.  Prints nothing but the number; "None" when it cannot
#: be measured (perftramp not importable there, a hook of someone else's).
_STACK_TEST = (
    "def _descend(n, read):\n"
    "    return read() if n == 0 else _descend(n - 1, read)\n"
    "def _bytes_per_call(depth=200):\n"
    "    try:\n"
    "        from perftramp import _perftramp\n"
    "    except ImportError:\n"
    "        return None\n"
    "    read = _perftramp._stack_address\n"
    "    floor = not _perftramp.is_active()\n"
    "    if floor:\n"
    "        try:\n"
    "            _perftramp._floor(True)\n"
    "        except RuntimeError:\n"
    "            return None\n"
    "    try:\n"
    "        _descend(depth, read)\n"
    "        got = (_descend(0, read) - _descend(depth, read)) // depth\n"
    "    finally:\n"
    "        if floor:\n"
    "            _perftramp._floor(False)\n"
    "    return got + (%d if floor else 0)\n"
    "result = _bytes_per_call()\n" % STUB_FRAME_BYTES
)


def stack_bytes_per_call(python: Optional[str] = None) -> Optional[int]:
    """C stack bytes per Python-to-Python call with perftramp's hook on, in
    this interpreter or another (by path); None when it cannot be told.  What
    decides how deep a chain DWARF unwinding sees: perf copies at most 65,528
    bytes of stack per sample."""
    if python is None or os.path.realpath(python) == os.path.realpath(sys.executable):
        namespace: dict = {}
        exec(_STACK_TEST, namespace)
        return namespace["result"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PERFTRAMP_ACTIVATE")}
    try:
        out = subprocess.run([python, "-c", _STACK_TEST + "print(result)"], env=env,
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return int(text) if out.returncode == 0 and text.isdigit() else None


def looks_like_python(program: str) -> bool:
    return os.path.basename(program).startswith("python")


def this_is_free_threaded() -> bool:
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
