"""What a recording directory holds, and perftramp.json's schema.

    perf.data        perf record's samples (backends without inject)
    perf-jit.tar.xz  (PACK; backends with inject) perf.jit.data, the
                     samples after `perf inject --jit`, and jit/: the files
                     of backends with inject and a directory variable (their
                     dumps, and the thousands of jitted-PID-N.so perf inject
                     writes, one per function), written under a jitdir.py
                     directory while recording, then packed here (pack.py);
                     report unpacks them into a private temporary directory
                     and links the recorded path to it (staging.py)
    perf.data, perf.jit.data, jit/
                     the same unpacked: a recording whose packing failed,
                     or one made before packing
    files of other backends with a directory variable (dir_env): record
                     points the variable here
    maps/            files of backends without one (perf maps, in /tmp),
                     moved here after recording (maps.py); perf reads those
                     from their own directory only, so report stages them
                     back there
    buildid/         (record -p, -a) a build-id cache of the objects of
                     processes whose files report cannot reach by their
                     paths: containers' libraries, ELF images, jitted
                     objects written beside a container's jitdump
                     (buildids.py, collect.py)
    perftramp.json   how the recording was made (backend, command, pids,
                     "data": which of the two perf files to read, "maps",
                     "jit_dir": the /tmp path jit/ was recorded at, "pack",
                     and how perf was asked to unwind: "stack_size",
                     "max_stack", "max_stack_wanted"; "stack_per_call": the
                     C stack one Python call of the program's took (DWARF
                     unwinding); "active_pids": the
                     recorded processes where perftramp's backend wrote;
                     "buildid": the cache above; "cgroups": {cgroup: pids}
                     of the processes still running at the end)

`perftramp record` makes ./perftramp-YYYYmmdd-HHMMSS unless told otherwise;
`perftramp report` with no directory takes the newest of those.

A recording may come from someone else, so report trusts nothing in it:
perftramp.json must hold what record writes (FIELDS): "data" one of the two
perf files, "maps" only names of the files record moves there, "jit_dir"
only a path of the form jitdir.make() gives.  What else is read from a
recording is read as untrusted.py says.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import stat
from typing import Any, Callable, Dict, Optional, Tuple

from perftramp import _backends

from . import jitdir
from .errors import Failure
from .untrusted import NotReadable, read_untrusted

DATA = "perf.data"
JIT_DATA = "perf.jit.data"
JIT = "jit"
MAPS = "maps"
#: objects of processes beyond report's reach, by build-id (buildids.py)
BUILD_ID_CACHE = "buildid"
META = "perftramp.json"
#: perf.jit.data and jit/, packed (pack.py); xz, as Python has it built in
PACK = "perf-jit.tar.xz"

_NAME = re.compile(r"perftramp-\d{8}-\d{6}$")


def default_name() -> str:
    return "perftramp-%s" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def newest(where: str = ".") -> Optional[str]:
    """The newest ./perftramp-TIMESTAMP directory, or None."""
    runs = [d for d in os.listdir(where)
            if _NAME.match(d) and os.path.isdir(os.path.join(where, d))]
    return os.path.join(where, max(runs)) if runs else None


_BACKEND_NAME = re.compile(r"[A-Za-z0-9_]+")
#: a cgroup's path as /proc/PID/cgroup gives it: printable, absolute
_CGROUP = re.compile(r"/[\x21-\x7e]{0,4095}")
#: perftramp.json larger than this is not one record wrote
_META_LIMIT = 16 << 20


def is_cgroup(value: object) -> bool:
    return isinstance(value, str) and _CGROUP.fullmatch(value) is not None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_moved_file(name: object) -> bool:
    """Whether `name` is one a file moved into maps/ may have: the only
    files report writes outside DIR."""
    return isinstance(name, str) and re.fullmatch(_backends.moved_files_regex(), name) is not None


def _list_of(check: Any) -> Any:
    return lambda value: isinstance(value, list) and all(check(v) for v in value)


#: Every key record writes: what it must hold, and the test of it.  A key may
#: be missing (report then does without it); others are ignored.
FIELDS = {
    "backend": ("a backend name", lambda v: isinstance(v, str)
                and _BACKEND_NAME.fullmatch(v) is not None),
    "command": ("a list of strings", _list_of(lambda v: isinstance(v, str))),
    "perf": ("a string", lambda v: isinstance(v, str)),
    "python": ("a string", lambda v: isinstance(v, str)),
    "freq": ("an integer", _is_int),
    "exit_code": ("an integer", _is_int),
    "data": ('"%s" or "%s"' % (DATA, JIT_DATA), lambda v: v in (DATA, JIT_DATA)),
    "maps": ("a list of names of files moved into maps/", _list_of(is_moved_file)),
    "pids": ("a list of process ids", _list_of(lambda v: _is_int(v) and v > 0)),
    "jit_dir": ("a %s path record made" % jitdir.PATTERN, jitdir.is_jit_dir),
    "pack": ('"%s"' % PACK, lambda v: v == PACK),
    "stack_size": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "stack_per_call": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "max_stack": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "max_stack_wanted": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "active_pids": ("a list of process ids", _list_of(lambda v: _is_int(v) and v > 0)),
    "buildid": ('"%s"' % BUILD_ID_CACHE, lambda v: v == BUILD_ID_CACHE),
    "events": ("a list of event names", _list_of(
        lambda v: isinstance(v, str) and re.fullmatch(r"[\w.:/,=\-]{1,200}", v) is not None)),
    "mode": ('"cpu", "offcpu" or "wall"', lambda v: v in ("cpu", "offcpu", "wall")),
    "started_ns": ("a time in nanoseconds", lambda v: _is_int(v) and 0 <= v < 1 << 63),
    "cgroups": ("an object of cgroups (paths) and their process ids",
                lambda v: isinstance(v, dict) and all(
                    is_cgroup(k) and _list_of(lambda p: _is_int(p) and p > 0)(pids)
                    for k, pids in v.items())),
}


def read_meta(directory: str) -> Dict[str, Any]:
    """perftramp.json as a dict whose every field is what record writes
    (FIELDS); {} for a directory without one.  Anything else is a Failure
    naming the file and what is wrong with it."""
    path = os.path.join(directory, META)

    def invalid(why: Optional[str]) -> Failure:
        return Failure("%s is not a perftramp recording description: %s" % (path, why))

    try:
        raw = read_untrusted(path, _META_LIMIT)
    except NotReadable as exc:
        raise invalid(str(exc)) from None
    except OSError as exc:
        raise invalid(exc.strerror) from None
    if raw is None:
        return {}
    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid("not UTF-8 text") from None
    except ValueError as exc:
        raise invalid("not JSON (%s)" % exc) from None
    except RecursionError:
        raise invalid("JSON nested too deeply") from None
    if not isinstance(meta, dict):
        raise invalid("a JSON %s, not an object" % type(meta).__name__)
    for key, (what, valid) in FIELDS.items():
        if key in meta and not valid(meta[key]):
            raise invalid('"%s" must be %s' % (key, what))
    return meta


def write_meta(directory: str, meta: Dict[str, Any]) -> None:
    with open(os.path.join(directory, META), "w") as f:
        json.dump(meta, f, indent=2)


def files_and_size(directory: str) -> Tuple[int, int]:
    """(files, bytes on disk) under `directory`, as a user would count them
    (du, not ls: a backend's ELF image is a sparse file whose apparent size is
    its reserved capacity, some 200 MB, of which only what was written is on
    disk)."""
    files = size = 0
    for where, _, names in os.walk(directory):
        for name in names:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(where, name)).st_blocks * 512
                files += 1
    return files, size


def build_id_cache(directory: str, meta: Dict[str, Any],
                   warn: Optional[Callable[[str], None]] = None) -> Optional[str]:
    """The recording's build-id cache for perf (meta as read_meta checked
    it), or None: only a directory of its own that holds nothing but what
    record writes there (.build-id/XX/HEX, regular files: perf follows
    links, and blocks on a FIFO), else `warn` says why not."""
    if not meta.get("buildid"):
        return None
    path = os.path.join(directory, BUILD_ID_CACHE)
    why = _not_a_cache(path)
    if why is None:
        return path
    if warn is not None:
        warn("%s is not a build-id cache record wrote (%s): perf reads none" % (path, why))
    return None


_CACHE_ENTRIES_LIMIT = 1 << 20


def _not_a_cache(path: str) -> Optional[str]:
    entries = 0
    for where, dirs, files in os.walk(path):
        depth = os.path.relpath(where, path).count(os.sep) + (where != path)
        for name in dirs + files:
            entries += 1
            full = os.path.join(where, name)
            st = os.lstat(full)
            wanted = {0: r"\.build-id", 1: r"[0-9a-f]{2}", 2: r"[0-9a-f]{6,38}"}.get(depth)
            kind = stat.S_ISREG(st.st_mode) if depth == 2 else stat.S_ISDIR(st.st_mode)
            if wanted is None or not re.fullmatch(wanted, name) or not kind:
                return "%s is not one" % os.path.relpath(full, path)
        if entries > _CACHE_ENTRIES_LIMIT:
            return "more than %d entries" % _CACHE_ENTRIES_LIMIT
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return "not a directory"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def data_path(directory: str, meta: Dict[str, Any]) -> str:
    """The file of DIR that holds the perf data report reads (meta as
    read_meta checked it: a name in DIR): the pack when there is one."""
    return os.path.join(directory, meta.get("pack") or meta.get("data", DATA))
