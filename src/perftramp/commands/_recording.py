"""What a recording directory holds, in one place.

    perf.data        perf record's samples
    perf.jit.data    the same after `perf inject --jit` (backends with inject)
    jit-PID.dump, jitted-PID-N.so, ...
                     files of backends with a directory variable (dir_env):
                     record points the variable here, so they are written here
    maps/            files of backends without one (perf's /tmp/perf-PID.map),
                     moved here after recording; perf reads those from their
                     own directory only, so report stages them back there
    perftramp.json   how the recording was made (backend, command, pids,
                     "data": which of the two perf files to read, "maps")

`perftramp record` makes ./perftramp-YYYYmmdd-HHMMSS unless told otherwise;
`perftramp report` with no directory takes the newest of those.
"""
import contextlib
import datetime
import json
import os
import re
import shutil

DATA = "perf.data"
JIT_DATA = "perf.jit.data"
MAPS = "maps"
META = "perftramp.json"

_NAME = re.compile(r"perftramp-\d{8}-\d{6}$")


def default_name():
    return "perftramp-%s" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def newest(where="."):
    """The newest ./perftramp-TIMESTAMP directory, or None."""
    runs = [d for d in os.listdir(where)
            if _NAME.match(d) and os.path.isdir(os.path.join(where, d))]
    return os.path.join(where, max(runs)) if runs else None


def read_meta(directory):
    """perftramp.json as a dict; {} for a directory without one."""
    path = os.path.join(directory, META)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_meta(directory, meta):
    with open(os.path.join(directory, META), "w") as f:
        json.dump(meta, f, indent=2)


def data_path(directory, meta):
    """The perf data file report reads."""
    return os.path.join(directory, meta.get("data", DATA))


def gather_maps(paths, directory):
    """Moves the files at `paths` that exist, are regular, not links and ours
    into DIR/maps; returns the names moved."""
    moved = []
    for src in paths:
        if os.path.isfile(src) and not os.path.islink(src) and \
                os.stat(src).st_uid == os.geteuid():
            os.makedirs(os.path.join(directory, MAPS), exist_ok=True)
            shutil.move(src, os.path.join(directory, MAPS, os.path.basename(src)))
            moved.append(os.path.basename(src))
    return moved


@contextlib.contextmanager
def maps_staged(directory, names, home="/tmp"):
    """perf reads maps from `home` only: puts the recording's maps there for
    as long as the block runs (never over an existing file), then takes them
    away."""
    placed = []
    try:
        for name in names:
            src = os.path.join(directory, MAPS, name)
            dst = os.path.join(home, name)
            try:
                fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
                out.write(f.read())
            placed.append(dst)
        yield
    finally:
        for path in placed:
            with contextlib.suppress(OSError):
                os.unlink(path)
