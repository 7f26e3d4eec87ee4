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


def looks_like_python(program: str) -> bool:
    return os.path.basename(program).startswith("python")


def this_is_free_threaded() -> bool:
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
