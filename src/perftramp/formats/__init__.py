"""Report formats: one module per format, found by listing this package.

Every module here whose name does not start with "_" is a format named after
the module.  It defines

    DESCRIPTION   one line for `perftramp report --help`
    render(profile, options) -> str (bytes when the format is binary)
                  profile: a Profile (below); options: report's parsed
                  arguments (text reads options.top)

and may set

    SHOWS_TRUNCATION = True
                  when its output says truncation_advice() itself (text);
                  report says it on stderr for the others
    SPLITS = True  report --by renders it once per group (Profile.group);
                  the others get the group in each stack's first frame
    LABELS_THREADS = True
                  its samples carry their process and thread: --by changes
                  nothing (pprof)
    NEEDS_FRAMES = True
                  it names each frame's object and address (Profile.frames)
    FILE_NAME = "name"
                  where it goes, in the recording, instead of a terminal

so adding a format is adding a file: `perftramp report --format NAME` finds
it through pkgutil, with no table to edit.  Package data a format needs
(html's flamegraph.html) sits beside it.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Optional, Union

_CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f]")


#: The frames of a folded stack, by kind (frame_kind()):
#:   the first frame of every stack is the process's command (comm);
#:   "py::NAME:FILE"  a Python function;
#:   "NAME_[k]"       a kernel function (flamegraph.pl's convention);
#:   TRUNCATED        right after the comm, when perf could not unwind the
#:                    stack to its start (the frames after it are the
#:                    outermost ones it reached): the stack is cut;
#:   anything else    a native function ("[libz.so.1]": an unresolved
#:                    function of that object; "[unknown]": of none).
TRUNCATED = "[truncated]"
KERNEL_SUFFIX = "_[k]"


def frame_kind(frame):
    """"python", "kernel", "truncated", "offcpu" or "native"."""
    if frame.startswith("py::"):
        return "python"
    if frame.endswith(KERNEL_SUFFIX):
        return "kernel"
    if frame == TRUNCATED:
        return "truncated"
    if frame.startswith("[off-cpu"):  # OFFCPU_FRAME, "[off-cpu: preempted]"
        return "offcpu"
    return "native"


#: events whose period perf gives in nanoseconds of CPU time
TIME_EVENTS = ("cpu-clock", "task-clock")
#: the folder's event of off-CPU waits, and the innermost frame of their
#: stacks: blocked, or preempted (runnable, not running; src/report/fold.h)
OFFCPU = "offcpu"
OFFCPU_FRAME = "[off-cpu]"
PREEMPTED_FRAME = "[off-cpu: preempted]"


def base_event(event):
    """An event's name without perf's sampling terms ("cpu-clock/freq=999/")."""
    return event.split("/", 1)[0] if event.endswith("/") and "=" in event else event


class Profile:
    """Folded samples of one recording, of one event (the first one).

    stacks     {"frame;frame;...": count}, outermost frame first (see
               frame_kind() for the frames)
    samples    how many samples were read
    meta       the recording's perftramp.json ({} when it has none)
    truncated  how many of the samples have cut stacks (TRUNCATED)
    processes  [(pid, samples, truncated)] per process, pid -1 for samples
               perf gave none ([] when unknown)
    rows       [folded.Row]: every event's stacks per thread with their
               periods ([] when made from stacks alone)
    events     the recording's events, the first one the stacks' own
    frames     {frame: (object, address)} when the report asked for them
    objects    {object's path: build-id} with frames, of those perf has one of
    first_ns, last_ns  the first and last sample's times (0: unknown)
    group      what report --by made this profile of ("python 4242"), or None
    """

    group = None
    #: record --mode; "samples", or "ns" when stacks are weighted by time
    mode = "cpu"
    unit = "samples"
    rows: list = []
    events: list = []
    frames = None
    objects = None
    first_ns = last_ns = 0

    def __init__(self, stacks, samples, meta, truncated=0, processes=()):
        self.stacks = stacks
        self.samples = samples
        self.meta = meta
        self.truncated = truncated
        self.processes = list(processes)

    @classmethod
    def of_rows(cls, rows, meta, source=None):
        """The Profile of folded rows (folded.Row): the stacks, samples and
        processes of its first event, the one record sampled with first
        (perftramp.json's "events"), else the one with the most samples;
        for a recording of --mode offcpu or wall, of its waits (and its
        on-CPU samples), weighted by their nanoseconds (unit "ns").
        `source` (a folded.View or a Profile) gives the recording's frames,
        objects and times."""
        by_event: dict = {}
        for row in rows:
            by_event[row.event] = by_event.get(row.event, 0) + row.count
        mode = meta.get("mode", "cpu")
        first = [OFFCPU] if mode == "offcpu" else \
            [e for e in by_event if base_event(e) in TIME_EVENTS] + [OFFCPU] \
            if mode == "wall" else meta.get("events", [])
        recorded = [e for e in first if e in by_event]
        events = recorded + sorted((e for e in by_event if e not in recorded),
                                   key=lambda e: (-by_event[e], e))
        shown = set(recorded) if mode != "cpu" else set(events[:1])
        stacks: dict = {}
        processes: dict = {}
        for row in rows:
            if row.event not in shown:
                continue
            weight = row.period if mode != "cpu" else row.count
            stacks[row.stack] = stacks.get(row.stack, 0) + weight
            seen = processes.setdefault(row.pid, [0, 0])
            seen[0] += weight
            seen[1] += weight if is_cut(row.stack) else 0
        profile = cls(stacks, sum(stacks.values()), meta,
                      sum(cut for _, cut in processes.values()),
                      [(pid, n, cut) for pid, (n, cut) in sorted(processes.items())])
        profile.rows, profile.events = list(rows), events
        profile.mode, profile.unit = mode, "ns" if mode != "cpu" else "samples"
        if source is not None:
            profile.frames, profile.objects = source.frames, source.objects
            profile.first_ns, profile.last_ns = source.first_ns, source.last_ns
        return profile

    def value_type(self, event):
        """pprof's (type, unit) of an event's periods: ("cpu", "nanoseconds")
        for a time event, ("off-cpu", "nanoseconds") for waits, else (its
        name, "count")."""
        if event == OFFCPU:
            return ("off-cpu", "nanoseconds")
        return ("cpu", "nanoseconds") if base_event(event) in TIME_EVENTS else (event, "count")

    def amount(self, value):
        """A value of the stacks as said: "123 samples", "1.23 s"."""
        return "%.2f s" % (value / 1e9) if self.unit == "ns" else "%d samples" % value

    @property
    def command(self):
        """The profiled command as one string, or "", control characters
        escaped (\\xNN): it is shown on terminals and pages, and a recording
        may come from someone else."""
        return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()),
                            " ".join(self.meta.get("command", [])))


def is_cut(stack):
    """Whether a folded stack is cut (TRUNCATED right after its command)."""
    parts = stack.split(";", 2)
    return len(parts) > 1 and parts[1] == TRUNCATED


class _Facts:
    """What the advice needs to know beyond the profile: how the recording
    was unwound ("fp", "dwarf" or None), this kernel's perf_event_max_stack,
    perf's largest DWARF stack copy, and the backends to advise."""
    unwind: Optional[str] = None
    limit: Optional[int] = None
    largest: Union[int, str] = "LARGEST"
    fp_backend: str = "FP_BACKEND"
    dwarf_backend: str = "DWARF_BACKEND"


def _facts(meta):
    """Imported here, not at the top: the formats load without perftramp's
    C extension too (the flame graph's browser tests read them from the
    source tree), and then only placeholders are known."""
    facts = _Facts()
    try:
        from perftramp import _backends
        from perftramp.recording import perf, procfs
    except ImportError:
        return facts
    row = _backends.find(meta.get("backend"))
    facts.unwind = row.unwind if row else None
    facts.limit = procfs.read_int("kernel.perf_event_max_stack")
    facts.largest = perf.DWARF_STACK_MAX
    facts.fp_backend = _backends.auto(True).name
    facts.dwarf_backend = _backends.auto(False).name
    return facts


def truncation_advice(profile):
    """One paragraph saying how many samples have a cut stack and how to
    record them whole, or None when none has."""
    if not profile.truncated or not profile.samples:
        return None
    if profile.unit == "ns":
        amounts = "%.2f s of %.2f s" % (profile.truncated / 1e9, profile.samples / 1e9)
    else:
        amounts = "%d of %d samples" % (profile.truncated, profile.samples)
    said = ("%s (%.1f%%) have a cut stack, shown under %s: perf could not "
            "unwind them to their thread's start, so their outer callers are missing."
            % (amounts, 100.0 * profile.truncated / profile.samples, TRUNCATED))
    if len(profile.processes) > 1:
        pid, samples, cut = max(profile.processes, key=lambda p: (p[2], -p[0]))
        said += (" Most are in process %d: %s of its %s (%.1f%%)."
                 % (pid, profile.amount(cut).replace(" samples", ""), profile.amount(samples),
                    100.0 * cut / samples))
    facts = _facts(profile.meta)
    unwind, limit, largest = facts.unwind, facts.limit, facts.largest
    stack_size = profile.meta.get("stack_size")
    sysctl = "sudo sysctl kernel.perf_event_max_stack=%d" % max(1024, 4 * (limit or 256))
    dwarf = ("record again with a larger stack copy: perftramp record --stack-size %s "
             "-- %s (DWARF unwinding; %s is perf's maximum)"
             % (largest, profile.command or "...", largest))
    fp = "a frame-pointer build of Python with --backend %s" % facts.fp_backend
    if unwind == "fp":
        remedy = ("Frame-pointer unwinding stops at the kernel's limit of %s frames "
                  "(kernel.perf_event_max_stack): raise it while recording, %s; it also "
                  "stops at native code built without frame pointers: for that, record "
                  "with --backend %s --stack-size %s (DWARF)."
                  % (limit if limit else "127 (by default)", sysctl, facts.dwarf_backend,
                     largest))
    elif isinstance(stack_size, int) and isinstance(largest, int) and stack_size >= largest:
        remedy = ("The stack copy is at perf's maximum already (%d bytes): %s unwinds "
                  "stacks of any size (raise the kernel's limit for very deep ones: %s)."
                  % (stack_size, fp[0].upper() + fp[1:], sysctl))
    elif unwind == "dwarf":
        remedy = "To see them whole, %s, or use %s." % (dwarf, fp)
    else:
        remedy = ("To see them whole, %s, or use %s (and raise the kernel's frame limit: "
                  "%s)." % (dwarf, fp, sysctl))
    return said + " " + depth_note(profile.meta) + remedy


def depth_note(meta):
    """How deep a Python chain the recording's stack copy holds, from the C
    stack one Python call took; ends with a space.  Empty unless record
    measured both, which it does for DWARF unwinding only."""
    per_call, stack_size = meta.get("stack_per_call"), meta.get("stack_size")
    if not isinstance(per_call, int) or not isinstance(stack_size, int) or per_call <= 0:
        return ""
    return ("Each Python call took %d bytes of C stack in this interpreter, so the %d-byte "
            "stack copy holds about %d Python frames. "
            % (per_call, stack_size, stack_size // per_call))


def split_python(frame):
    """("foo", "/app.py") for "py::foo:/app.py"; None for other frames."""
    if not frame.startswith("py::"):
        return None
    name, _, filename = frame[4:].partition(":")
    return name, filename


def names():
    """Every format's name, sorted."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__)
                  if not info.name.startswith("_"))


def get(name):
    """The module of format `name`."""
    return importlib.import_module("%s.%s" % (__name__, name))
