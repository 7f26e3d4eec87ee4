"""The folded stacks of a recording, stored in it: perf script runs once per
recording, and every later report, in any format, renders from the stored
folds in seconds.

    DIR/folded.txt            the default view (the interpreter's own frames
                              folded away: src/report/fold.h)
    DIR/folded-internal.txt   every frame (report --keep-internal)

Each file is a header line, then one line per distinct stack of an event
and a thread: the event, pid and tid, the sum of its samples' periods
(perf's estimate of the event's count: nanoseconds for cpu-clock), then the
stack and its samples as the collapsed format has them:

    # perftramp-folded 4 view=default samples=1234 truncated=5 max_stack=8192 \
data=perf.jit.data size=1048576 mtime_ns=1700000000000000000 \
first_ns=35206367792000 last_ns=35216367792000
    cpu-clock 4242 4242 1201201200 python;py::<module>:/app.py;py::foo:/app.py 1200

The header counts the samples and how many of them are cut, the times of
the first and last sample, and says what
the file was folded from: the perf data file's name,
size and modification time, and the folder's version (FORMAT); a file whose
header does not match the recording as it is now is stale and folded again,
quietly.  Both files are written whole to a temporary name and renamed, so
a reader sees either the old file or the new one.

A recording may come from someone else, so a stored fold is read as
untrusted input: a regular file reached without a link, at most LIMIT
bytes, every line a stack without control characters and a count, the
counts adding up to the header's samples.  A file that is not so is folded
again, with a one-line warning.  A directory that cannot be written to
(read-only, someone else's) still gets its report: the folds stay in memory.
"""
from __future__ import annotations

import collections
import contextlib
import os
import re
import stat
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

from perftramp import _perftramp

from . import layout, perf, staging, untrusted
from .errors import Failure
from .progress import say
from .selection import Selection

#: formats/__init__.py's marker of a cut stack (src/report/fold.h)
TRUNCATED = "[truncated]"

#: the folder's version: a change in what fold() gives makes every stored
#: fold stale
FORMAT = 4
#: what perf script prints for the folder (src/report/fold.h)
FIELDS = "comm,pid,tid,time,period,event,ip,sym,symoff,dso"
VIEWS = ("default", "internal")
FILES = {"default": "folded.txt", "internal": "folded-internal.txt"}
#: perf script's --max-stack: far above its default (127, the kernel's
#: perf_event_max_stack), so that deep DWARF-unwound stacks come whole; a
#: sample this deep counts as truncated
MAX_STACK = 8192
#: a stored fold larger than this is not one report wrote for a recording
#: (distinct stacks of hours of samples take a few MiB)
LIMIT = 256 << 20

_N = r"(\d{1,19})"  # every number the folder gives fits an int64
_HEADER = re.compile(
    r"# perftramp-folded (\d{1,9}) view=(\w+) samples=%s truncated=%s max_stack=%s "
    r"data=(\S+) size=%s mtime_ns=%s first_ns=%s last_ns=%s" % ((_N,) * 3 + (_N,) * 4))
_LINE = re.compile(r"([!-~]+) (-1|\d{1,9}) (-1|\d{1,9}) (\d{1,19}) "
                   r"([^\x00-\x08\x0a-\x1f\x7f]*) ([1-9][0-9]{0,18})")
INT64_MAX = (1 << 63) - 1
#: the event of a stack perf script named none (an empty name)
NO_EVENT = "-"


class Invalid(Exception):
    """A stored fold that is not what report writes (the message says why)."""


#: One view of a recording, as report renders it: rows is [Row], one per
#: distinct stack of an event and a thread; samples and truncated count
#: samples (each view has them all); first_ns and last_ns are the first and
#: last sample's times (perf's clock; 0 when unknown); frames, when asked
#: for, is {frame: (object, function address)} and objects {path: build-id}
#: of the objects perf has one of.
View = collections.namedtuple("View",
                              "rows samples truncated first_ns last_ns frames objects")
#: event: perf's name for it, without modifiers ("cpu-clock"); pid, tid -1
#: when unknown; stack outermost first (formats.frame_kind); count samples;
#: period the sum of their periods.
Row = collections.namedtuple("Row", "event pid tid stack count period")
#: Both views at once ("folds" below) are a View whose rows is
#: {view: [Row]}.


def view_of(folds: View, view: str) -> View:
    """The View `view` of both views' `folds`."""
    return folds._replace(rows=folds.rows[view])


def truncated_in(rows: List[Row]) -> int:
    """How many of the rows' samples have a cut stack."""
    marker = ";%s" % TRUNCATED
    return sum(row.count for row in rows if marker in row.stack
               and row.stack.split(";", 2)[1] == TRUNCATED)


def stamp(data: str) -> Dict[str, Any]:
    """What a fold of the perf data file `data` is valid for, and the mode
    its stored folds get (as readable as the data they come from)."""
    st = os.lstat(data)
    return {"data": os.path.basename(data), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "mode": stat.S_IMODE(st.st_mode) & 0o666}


def _header(view: str, folds: View, data_stamp: Dict[str, Any]) -> str:
    return ("# perftramp-folded %d view=%s samples=%d truncated=%d max_stack=%d "
            "data=%s size=%d mtime_ns=%d first_ns=%d last_ns=%d\n"
            % (FORMAT, view, folds.samples, folds.truncated, MAX_STACK, data_stamp["data"],
               data_stamp["size"], data_stamp["mtime_ns"], folds.first_ns, folds.last_ns))


def _read_text(path: str) -> Optional[str]:
    """The file at `path` as text, or None when there is none; Invalid when
    it is not a regular file of at most LIMIT bytes."""
    try:
        raw = untrusted.read_untrusted(path, LIMIT)
    except untrusted.NotReadable as exc:
        raise Invalid(str(exc)) from None
    except OSError as exc:
        raise Invalid("cannot be read (%s)" % (
            "a symbolic link" if os.path.islink(path) else exc.strerror)) from None
    if raw is None:
        return None
    return raw.decode("utf-8", "surrogateescape")


def load(directory: str, view: str, data_stamp: Dict[str, Any]) -> Optional[View]:
    """The View of `view` stored in `directory`, or None
    when there is none or it is stale (folded from other data, by another
    version); Invalid when the file is not what store() writes."""
    text = _read_text(os.path.join(directory, FILES[view]))
    if text is None:
        return None
    first, _, body = text.partition("\n")
    m = _HEADER.fullmatch(first)
    if m is None:
        if first.startswith("# perftramp-folded ") and \
                not first.startswith("# perftramp-folded %d " % FORMAT):
            return None  # another version's: stale, not broken
        raise Invalid("its first line is not a perftramp-folded header")
    version, got_view, samples, truncated, max_stack, data, size, mtime_ns, first_ns, \
        last_ns = m.groups()
    if any(int(n) > INT64_MAX for n in m.groups() if n.isdigit()):
        raise Invalid("its header has a number beyond 64 bits")
    if int(version) != FORMAT or int(max_stack) != MAX_STACK or data != data_stamp["data"] \
            or int(size) != data_stamp["size"] or int(mtime_ns) != data_stamp["mtime_ns"]:
        return None
    if got_view != view:
        raise Invalid("its header says view=%s, not %s" % (got_view, view))
    samples, truncated = int(samples), int(truncated)
    rows, seen, total = [], set(), 0
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 2):
        m = _LINE.fullmatch(line)
        if m is None:
            raise Invalid("line %d is not an event, a thread, a stack and a count" % number)
        event, pid, tid, period, stack, count = m.groups()
        if int(period) > INT64_MAX or int(count) > INT64_MAX:
            raise Invalid("line %d has a number beyond 64 bits" % number)
        row = Row("" if event == NO_EVENT else event, int(pid), int(tid), stack, int(count),
                  int(period))
        if row[:4] in seen:
            raise Invalid("line %d repeats a stack" % number)
        seen.add(row[:4])
        rows.append(row)
        total += row.count
    if total != samples:
        raise Invalid("its counts add up to %d, not to the %d samples of its header"
                      % (total, samples))
    if truncated_in(rows) != truncated:
        raise Invalid("its cut stacks do not add up to the %d of its header" % truncated)
    return View(rows, samples, truncated, int(first_ns), int(last_ns), None, None)


def store(directory: str, folds: View, data_stamp: Dict[str, Any]) -> None:
    """Writes both views into `directory`, each to a temporary file renamed
    over the old one; OSError when the directory cannot take them."""
    for view in VIEWS:
        fd, tmp = tempfile.mkstemp(prefix=".%s." % FILES[view], dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                os.fchmod(f.fileno(), data_stamp["mode"])
                f.write(_header(view, folds, data_stamp))
                f.writelines("%s %d %d %d %s %d\n" % (row.event or NO_EVENT, row.pid, row.tid,
                                                       row.period, row.stack, row.count)
                             for row in sorted(folds.rows[view]))
            os.replace(tmp, os.path.join(directory, FILES[view]))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


#: how report reads a recording's samples: "perf" (perf script, folded here)
#: or "own" (read and unwound in C: src/report/readout.h), falling back to
#: perf script where that cannot read the recording
UNWINDERS = ("perf", "own")


def fold_with_perf(directory: str, meta: Dict[str, Any], only: Sequence[str] = (),
                   window: Tuple[int, int] = (0, 0), frames: bool = False,
                   unwinder: str = "perf") -> View:
    """Reads the recording's samples once and folds both views: with
    perf script (perftramp._perftramp.fold), or with unwinder "own" by
    perftramp's own reader (fold_data) where it can; `only`: perf script's
    filter flags; `window`: (start_ns, end_ns) after the first sample, end 0
    for none; `frames`: keep each frame's object and address."""
    perf_path = perf.require()
    with staging.staged(directory, meta, say) as data:
        cache = layout.build_id_cache(directory, meta, say)
        offcpu = meta.get("mode") in ("offcpu", "wall")
        got = None
        if unwinder == "own" and not only:
            got = _fold_own(perf_path, data, offcpu, cache, window, frames)
        if got is None:
            say("folding %s with perf script (once: later reports read %s)"
                % (os.path.basename(data), FILES["default"])
                if not (only or any(window) or frames)
                else "folding %s with perf script" % os.path.basename(data))
            command = perf.script_command(perf_path, data, FIELDS, cache) + [
                "--max-stack", str(MAX_STACK)] + list(only) + (
                # waits are timed to the nanosecond (perf script prints
                # microseconds by default)
                ["--show-switch-events", "--ns"] if offcpu else [])
            got = _fold_script(command, directory, window, frames, offcpu)
        objects = perf.build_ids(perf_path, data, cache) if frames else None
    return View({view: [Row(*row) for row in got[view]] for view in VIEWS}, got["samples"],
                got["truncated"], got["first_ns"], got["last_ns"], got["frames"], objects)


#: perf names PLT entries anew from this version on (elffile.h)
NEW_PLT_NAMES = (6, 3)
#: perf lists inlined functions through libdw from here on (readout.h): 7.2
#: does, 6.1 (addr2line) does not; releases between are not known here
LIBDW_INLINES = (7, 0)


def _fold_own(perf_path: str, data: str, offcpu: bool, cache: Optional[str],
              window: Tuple[int, int], frames: bool) -> Optional[Dict[str, Any]]:
    """fold_data()'s folds of `data`, or None (said why) where it cannot
    read them (`offcpu`: a recording of waits): perf script folds them
    then.  Frames are named as this machine's perf names them."""
    if offcpu:
        say("perftramp's own reader does not read switch events yet: folding with perf script")
        return None
    say("reading %s with perftramp's own unwinder" % os.path.basename(data))
    try:
        release = perf.version(perf_path)[1] or NEW_PLT_NAMES
        return _perftramp.fold_data(data, max_stack=MAX_STACK, start_ns=window[0],
                                    end_ns=window[1], frames=frames, build_id_dir=cache,
                                    legacy_plt=release < NEW_PLT_NAMES,
                                    libdw_inlines=release >= LIBDW_INLINES)
    except NotImplementedError as exc:
        say("perftramp's own reader cannot read %s (%s): folding with perf script"
            % (os.path.basename(data), exc))
        return None
    except OSError as exc:
        raise Failure("cannot read %s: %s" % (data, exc.strerror or exc), 1) from None


def _fold_script(command: List[str], directory: str, window: Tuple[int, int],
                 frames: bool, offcpu: bool) -> Dict[str, Any]:
    """perf script's samples (`command` runs it, in `directory`), folded."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=directory)
    # both are pipes (PIPE above), never None
    assert proc.stdout is not None and proc.stderr is not None
    try:
        got = _perftramp.fold(proc.stdout.fileno(), max_stack=MAX_STACK,
                              start_ns=window[0], end_ns=window[1], frames=frames,
                              offcpu=offcpu)
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.wait()
    if proc.returncode != 0:
        sys.stderr.write(err)
        raise Failure("perf script failed", 1)
    return got


def get(directory: str, meta: Dict[str, Any], view: str) -> View:
    """The View of `view` for the recording in
    `directory` (meta as layout.read_meta checked it): the stored fold
    when it is there and current, otherwise perf script's, stored for the
    next report when the directory takes it."""
    data = layout.data_path(directory, meta)
    data_stamp = stamp(data)
    try:
        stored = load(directory, view, data_stamp)
    except Invalid as exc:
        say("%s %s; folding the samples again"
            % (os.path.join(directory, FILES[view]), exc))
        stored = None
    if stored is not None:
        return stored
    folds = fold_with_perf(directory, meta)
    try:
        store(directory, folds, data_stamp)
    except OSError as exc:
        say("cannot store the folded stacks in %s (%s): every report folds again"
            % (directory, exc.strerror or exc))
    return view_of(folds, view)


def of_recording(directory: str, keep_internal: bool,
                 selection: Optional[Selection] = None,
                 frames: bool = False, unwinder: str = "perf") -> Tuple[Dict[str, Any], View]:
    """(meta, View): the recording in `directory`, checked, and its folded
    stacks (every frame with `keep_internal`, else the default view), of
    the samples `selection` chooses.  A time window, or `frames` (each
    frame's object and address), is folded each time, not stored; the
    other choices are made on the stored folds.  Unwinder "own" folds the
    samples anew with perftramp's own reader, neither reading nor storing
    the folds perf script gave."""
    if not os.path.exists(directory):
        raise Failure("report: no such directory: %s" % directory)
    if not os.path.isdir(directory):
        raise Failure("report: %s is not a directory" % directory)
    meta = layout.read_meta(directory)
    data = layout.data_path(directory, meta)
    if not os.path.lexists(data):
        raise Failure("no %s: is %s a perftramp record directory?"
                      % (os.path.basename(data), directory))
    if not stat.S_ISREG(os.lstat(data).st_mode):
        raise Failure("%s is not a regular file (a recording's perf data is)" % data)
    view = "internal" if keep_internal else "default"
    selection = selection or Selection()
    window = selection.window_ns()
    if any(window) or frames or unwinder != "perf":
        got = view_of(fold_with_perf(directory, meta, (), window, frames, unwinder), view)
    else:
        got = get(directory, meta, view)
    if not selection.chooses_threads():
        return meta, got
    rows = selection.keep(got.rows, meta)
    return meta, got._replace(rows=rows, samples=sum(row.count for row in rows),
                              truncated=truncated_in(rows))
