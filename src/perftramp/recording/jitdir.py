"""The directory the jitdumps of a recording are written in while perf
records: /tmp/jitted-perftramp-<16 hex digits> (make() says why that name),
taken into the recording afterwards (move())."""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil

from .errors import Failure

#: where and under which name record writes the jitdumps; the path must
#: begin with "/tmp/jitted-", whatever perf's map directory
HOME = "/tmp"
PREFIX = "jitted-perftramp-"
PATTERN = os.path.join(HOME, PREFIX) + "*"
#: exactly the paths make() makes, the only link report writes
_NAME = re.compile(re.escape(os.path.join(HOME, PREFIX)) + r"[0-9a-f]{16}")


def is_jit_dir(path: object) -> bool:
    return isinstance(path, str) and _NAME.fullmatch(path) is not None


def make() -> str:
    """A new directory of ours, /tmp/jitted-perftramp-<16 hex digits>, for
    the jitdumps of a recording.

    perf built with libdw's DWARF unwinder and without libunwind (Debian's
    perf 7.x) loads perf inject's jitted-PID-N.so at the right address only
    when their path begins with "/tmp/jitted-" (tools/perf/util/unwind-libdw.c,
    __report_module: for any other DSO the module base is the mapping's start
    minus its file offset, and a jitted object maps its code at offset 0x80).
    Anywhere else each object is placed 0x80 bytes low, the address of a
    sample's trampoline is not inside its own module, and the unwinder drops
    the sample's whole call chain: no Python frame at all.  perf inject names
    the objects after the dump's directory, so the dump must be written under
    such a path; move() takes it into the recording afterwards."""
    for _ in range(100):
        path = os.path.join(HOME, PREFIX + secrets.token_hex(8))
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise Failure("record: cannot make %s for the jitdumps: %s"
                          % (path, exc.strerror)) from None
        return path
    raise Failure("record: cannot make a new %s directory for the jitdumps" % PATTERN)


def move(path: str, target: str) -> bool:
    """Moves make()'s `path` to `target` (a recording's jit/; an earlier
    run's is replaced) and returns True; an empty one (no process wrote
    there) is removed instead, and gives False."""
    try:
        os.rmdir(path)
        return False
    except OSError:
        pass
    if os.path.islink(target) or not os.path.isdir(target):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
    else:
        shutil.rmtree(target)
    shutil.move(path, target)
    return True
