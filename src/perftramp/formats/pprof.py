"""pprof's profile.proto, gzip-compressed: what Grafana Pyroscope, Parca,
Google Cloud Profiler, Datadog and `go tool pprof` read.

Written here by hand, protobuf's wire format being five rules (varints,
length-delimited fields, packed repeated numbers): no protobuf library to
install, and little to write, since what is encoded are the folded stacks
of an event and a thread, not perf's samples (thousands of rows for a
100 MB recording; the work of reading perf.data is the C folder's).

What goes in (https://github.com/google/pprof/blob/main/proto/profile.proto):

  sample_type      samples/count, then one per event: cpu/nanoseconds for
                   cpu-clock and task-clock (perf's period is nanoseconds),
                   EVENT/count for the others (perf's estimate: the sum of
                   the samples' periods); default_sample_type: cpu, when
                   recorded
  sample           one per distinct stack of an event and a thread,
                   leaf first; labels pid, tid (numbers, as perf's own
                   converter writes them), comm, backend, and truncated=true
                   on a cut stack, which keeps its "[truncated]" frame
                   outermost
  function         one per frame name: a Python function's name and file
                   ("py::foo:/app.py": foo, /app.py; start line 0, which a
                   perf map does not give), a native or kernel function's
                   symbol (the kernel's with its "_[k]" suffix, as the other
                   formats mark it); system_name is the frame as folded
  location         one per function, with its object's mapping and the
                   function's start address as perf saw it first
  mapping          one per object perf named: path, build-id where perf has
                   one, the range of the addresses seen in it; the kernel's
                   is "[kernel.kallsyms]"
  time_nanos       when the recording started (perftramp.json's started_ns;
                   none for recordings made before record noted it);
                   duration_nanos, first to last sample
  period_type      cpu/nanoseconds, period 1e9 / the sampling frequency

A recording of record --mode offcpu has off-cpu/nanoseconds (each wait's
time, its stack ending in "[off-cpu]"), the default; --mode wall adds
wall/nanoseconds, on-CPU samples' and waits' time together, the default.
"""
import gzip
import os

from . import TRUNCATED, split_python

DESCRIPTION = ("pprof's profile.proto, gzip-compressed (go tool pprof, Pyroscope, Parca, "
               "Cloud Profiler); -o FILE")
LABELS_THREADS = True
NEEDS_FRAMES = True
FILE_NAME = "profile.pb.gz"

# profile.proto's field numbers
_PROFILE_SAMPLE_TYPE, _PROFILE_SAMPLE, _PROFILE_MAPPING, _PROFILE_LOCATION = 1, 2, 3, 4
_PROFILE_FUNCTION, _PROFILE_STRINGS, _PROFILE_TIME, _PROFILE_DURATION = 5, 6, 9, 10
_PROFILE_PERIOD_TYPE, _PROFILE_PERIOD, _PROFILE_DEFAULT_TYPE = 11, 12, 14

#: the frame the flame graph conventions give a kernel function
_KERNEL_OBJECT = "[kernel.kallsyms]"


def _varint(value):
    """A non-negative integer as a protobuf varint; a negative one as the
    two's complement 64-bit number protobuf's int64 takes; ValueError for
    one that fits neither (the folder caps what it counts)."""
    if not -(1 << 63) <= value < 1 << 64:
        raise ValueError("%d does not fit 64 bits" % value)
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _number(field, value):
    """A varint field; nothing for 0, protobuf's default."""
    return _varint(field << 3) + _varint(value) if value else b""


def _bytes(field, data):
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _packed(field, values):
    return _bytes(field, b"".join(_varint(v) for v in values)) if values else b""


class _Strings:
    """profile.proto's string table: "" first, each string once."""

    def __init__(self):
        self.table = [""]
        self.index = {"": 0}

    def __call__(self, text):
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.table)
            self.table.append(text)
        return i

    def encode(self):
        # protobuf strings are UTF-8: bytes perf gave that are not are
        # written \xNN
        return b"".join(_bytes(_PROFILE_STRINGS, s.encode("utf-8", "backslashreplace"))
                        for s in self.table)


def _value_type(strings, kind, unit):
    return _number(1, strings(kind)) + _number(2, strings(unit))


def _sample_types(profile):
    """[(type, unit)] after samples/count, one per event, and the events'
    order: a second time event keeps its own name."""
    types, seen = [], set()
    for event in profile.events:
        kind, unit = profile.value_type(event or "event")  # perf script named none
        if kind in seen or kind == "samples":
            kind = event
        seen.add(kind)
        types.append((kind, unit))
    return types


class _Objects:
    """Mappings and functions with their locations, one location per
    function."""

    def __init__(self, strings, frames, build_ids):
        self.strings = strings
        self.frames = frames or {}
        self.build_ids = build_ids or {}
        self.mappings = {}   # object: [id, low, high]
        self.locations = {}  # frame: location id (= its function's id)
        self.encoded = []    # (location bytes, function bytes)

    def location(self, frame):
        got = self.locations.get(frame)
        if got is not None:
            return got
        got = self.locations[frame] = len(self.locations) + 1
        dso, address = self.frames.get(frame, ("", 0))
        if frame.endswith("_[k]") and not dso.startswith("["):
            dso = _KERNEL_OBJECT
        mapping_id = 0
        if dso and dso != "[unknown]" and frame != TRUNCATED:
            mapping = self.mappings.get(dso)
            if mapping is None:
                mapping = self.mappings[dso] = [len(self.mappings) + 1, address, address]
            mapping[1], mapping[2] = min(mapping[1], address), max(mapping[2], address)
            mapping_id = mapping[0]
        python = split_python(frame)
        name, filename = python if python else (frame, "")
        function = (_number(1, got) + _number(2, self.strings(name))
                    + _number(3, self.strings(frame)) + _number(4, self.strings(filename)))
        line = _number(1, got)
        location = (_number(1, got) + _number(2, mapping_id)
                    + _number(3, address if mapping_id else 0) + _bytes(4, line))
        self.encoded.append((location, function))
        return got

    def encode(self, main):
        """The mappings, `main`'s first (pprof names a profile after its
        first mapping: the program's), then locations and functions."""
        out = []
        ordered = sorted(self.mappings.items(), key=lambda item: item[0] != main)
        for dso, (mapping_id, low, high) in ordered:
            out.append(_bytes(_PROFILE_MAPPING, (
                _number(1, mapping_id) + _number(2, low)
                + _number(3, min(high + 1, (1 << 64) - 1))
                + _number(5, self.strings(dso))
                + _number(6, self.strings(self.build_ids.get(dso, "")))
                + _number(7, 1))))
        for location, function in self.encoded:
            out.append(_bytes(_PROFILE_LOCATION, location))
            out.append(_bytes(_PROFILE_FUNCTION, function))
        return b"".join(out)


def _label(strings, key, text="", number=None):
    """A sample's label: a string, or a number (written even when 0: pid 0
    is the kernel's idle task, in record -a)."""
    if number is not None:
        return _bytes(3, _number(1, strings(key)) + _varint(3 << 3) + _varint(number))
    return _bytes(3, _number(1, strings(key)) + _number(2, strings(text)))


def _program(profile, objects):
    """The mapping of the recorded program: the interpreter's, whose name
    starts as the recorded command's does ("python3.12"), else "python"."""
    command = profile.meta.get("command") or ["python"]
    for start in (os.path.basename(command[0])[:6] or "python", "python"):
        for dso in objects.mappings:
            if os.path.basename(dso).startswith(start):
                return dso
    return ""


def encode(profile):
    """The profile as profile.proto's bytes, uncompressed."""
    strings = _Strings()
    objects = _Objects(strings, profile.frames, profile.objects)
    types = _sample_types(profile)
    column = {event: 1 + i for i, event in enumerate(profile.events)}
    # --mode wall: on-CPU samples and off-CPU waits, both nanoseconds, in
    # one more type, the profile's default
    wall = [e for e in profile.events if profile.value_type(e)[1] == "nanoseconds"] \
        if profile.mode == "wall" else []
    if wall:
        types.append(("wall", "nanoseconds"))
    out = [_bytes(_PROFILE_SAMPLE_TYPE, _value_type(strings, "samples", "count"))]
    out.extend(_bytes(_PROFILE_SAMPLE_TYPE, _value_type(strings, kind, unit))
               for kind, unit in types)
    backend = profile.meta.get("backend", "")
    packed_stacks = {}  # stack: (location ids, comm, cut)
    for row in profile.rows:
        got = packed_stacks.get(row.stack)
        if got is None:
            frames = row.stack.split(";")
            ids = [objects.location(frame) for frame in reversed(frames[1:])]
            got = packed_stacks[row.stack] = (_packed(1, ids), frames[0],
                                             len(frames) > 1 and frames[1] == TRUNCATED)
        locations, comm, cut = got
        values = [0] * (1 + len(types))
        values[0] = row.count
        values[column[row.event]] = row.period
        if row.event in wall:
            values[-1] = row.period
        labels = (_label(strings, "pid", number=row.pid) if row.pid >= 0 else b"") + \
            (_label(strings, "tid", number=row.tid) if row.tid >= 0 else b"") + \
            _label(strings, "comm", comm) + \
            (_label(strings, "backend", backend) if backend else b"") + \
            (_label(strings, "truncated", "true") if cut else b"")
        out.append(_bytes(_PROFILE_SAMPLE, locations + _packed(2, values) + labels))
    out.append(objects.encode(_program(profile, objects)))
    duration = max(0, profile.last_ns - profile.first_ns)
    freq = profile.meta.get("freq")
    cpu = ("cpu", "nanoseconds")
    out.append(_number(_PROFILE_TIME, profile.meta.get("started_ns", 0)))
    out.append(_number(_PROFILE_DURATION, duration))
    out.append(_bytes(_PROFILE_PERIOD_TYPE, _value_type(strings, *cpu)))
    out.append(_number(_PROFILE_PERIOD, 10**9 // freq if isinstance(freq, int) and freq > 0
                       else 0))
    default = "wall" if wall else "off-cpu" if profile.mode == "offcpu" else \
        "cpu" if cpu in types else None
    if default:
        out.append(_number(_PROFILE_DEFAULT_TYPE, strings(default)))
    out.append(strings.encode())
    return b"".join(out)


def render(profile, options):
    # mtime 0: the same profile gives the same bytes
    return gzip.compress(encode(profile), compresslevel=6, mtime=0)

