"""The files of backends whose directory cannot be chosen (perf maps, which
perf reads from /tmp only), taken into a recording's maps/ once perf is
done."""
from __future__ import annotations

import os
import shutil
from typing import Iterable, List

from .layout import MAPS


def gather(paths: Iterable[str], directory: str, copy: bool = False) -> List[str]:
    """Moves the files at `paths` that exist, are regular, not links and ours
    into DIR/maps (copies them, for a process that runs on and keeps writing
    its own); returns the names moved.  A moved map loses the unused rest of
    its last window (trim_unused_window)."""
    moved = []
    for src in paths:
        if os.path.isfile(src) and not os.path.islink(src) and \
                os.stat(src).st_uid == os.geteuid():
            os.makedirs(os.path.join(directory, MAPS), exist_ok=True)
            dst = os.path.join(directory, MAPS, os.path.basename(src))
            if copy:
                shutil.copyfile(src, dst)
            else:
                shutil.move(src, dst)
                trim_unused_window(dst)
            moved.append(os.path.basename(src))
    return moved


def trim_unused_window(path: str, step: int = 1 << 16) -> None:
    """Truncates a perf map after its last whole line.  A process that ends
    without closing its map (os._exit: every multiprocessing and gunicorn
    worker) leaves the rest of the window it had reserved, up to 1 MiB of
    NUL bytes with real blocks; perf skips them, and 200 workers' maps took
    200 MiB.  A line another thread was writing when it ended is cut short
    (seen on free-threaded 3.14t: "ADDR 8 " and nothing after): it goes too."""
    with open(path, "r+b") as f:
        end = f.seek(0, os.SEEK_END)
        at = end
        while at > 0:
            start = max(0, at - step)
            f.seek(start)
            chunk = f.read(at - start).rstrip(b"\0")
            if chunk:
                at = start + len(chunk)
                break
            at = start
        start = max(0, at - step)
        f.seek(start)
        tail = f.read(at - start)
        if tail and not tail.endswith(b"\n") and b"\n" in tail:
            at = start + tail.rindex(b"\n") + 1
        if at < end:
            f.truncate(at)
