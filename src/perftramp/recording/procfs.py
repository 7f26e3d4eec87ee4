"""Reading the kernel's settings: the one reader of /proc/sys."""
from __future__ import annotations

import os
from typing import Optional


def sysctl_path(name: str) -> str:
    """/proc/sys/kernel/perf_event_max_stack for "kernel.perf_event_max_stack"."""
    return os.path.join("/proc/sys", *name.split("."))


def read_text(name: str) -> Optional[str]:
    """The setting `name` as the kernel prints it, stripped; None when it
    cannot be read (no such setting, no /proc)."""
    try:
        with open(sysctl_path(name)) as f:
            return f.read().strip()
    except OSError:
        return None


def read_int(name: str) -> Optional[int]:
    """The setting's (first) integer value, or None."""
    text = read_text(name)
    try:
        return int(text.split()[0]) if text else None
    except ValueError:
        return None
