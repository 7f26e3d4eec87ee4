"""Top Python functions by self and total samples, with their files; then the
native functions (C extensions, libraries, the kernel) by self samples, each
with the Python function it runs under, so that time spent in native code is
seen where it is, not only as its Python caller's.

A Python function's self samples are those whose innermost Python frame it
is: the native code it calls directly is in them, and the native table says
which native functions that time was in.  The lines fit in WIDTH columns:
long names are cut, files under the working directory are shown relative to
it.  Names come from the recording, so characters that would drive a
terminal are escaped.
"""
import os
import re
import textwrap

from . import (
    KERNEL_SUFFIX,
    OFFCPU,
    TIME_EVENTS,
    base_event,
    frame_kind,
    split_python,
    truncation_advice,
)

DESCRIPTION = "top Python functions by self and total samples, with files; native ones by self"
SHOWS_TRUNCATION = True
SPLITS = True
WIDTH = 100

# C0 and C1 controls, and the lone surrogates of names that were not UTF-8
_UNPRINTABLE = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\ud800-\\udfff]")


def _clean(text):
    return _UNPRINTABLE.sub(lambda m: "\\x%02x" % (ord(m.group()) & 0xff), text)


def _fit(text, width, tail=False):
    """`text` in at most `width` columns: its head, or with tail its end
    (a file's name is at its end), "..." marking the cut."""
    if len(text) <= width:
        return text
    return "..." + text[len(text) - width + 3:] if tail else text[:width - 3] + "..."


def _short_path(path):
    """A file as the report shows it: relative to the working directory when
    it is inside it."""
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path)
        except ValueError:
            return path
        if not rel.startswith(os.pardir + os.sep) and rel != os.pardir:
            return rel
    return path


def _python_name(frame, width):
    name, filename = split_python(frame)
    shown_file = _fit(_clean(os.path.basename(filename)), (width - 3) // 2)
    return "%s (%s)" % (_fit(_clean(name), width - 3 - len(shown_file)), shown_file)


def _process_lines(processes, top, cgroups, amount=None):
    """The table of processes, when there is more than one: samples, and the
    share whose stacks are whole, so that a process perf could not unwind
    (a broken worker) shows at once; and each one's cgroup (its container)
    where the recording knows it.  The least whole come first, then the
    busiest."""
    processes = [p for p in processes if p[1] > 0]  # a process of waits of 0 ns
    if len(processes) < 2:
        return []
    cgroup_of = {pid: cgroup for cgroup, pids in cgroups.items() for pid in pids}
    lines = ["", "Processes: %d; samples, and how many have whole stacks:" % len(processes),
             "%8s %8s %7s%s" % ("pid", "seconds" if amount else "samples", "whole",
                                "  cgroup" if cgroup_of else "")]
    ordered = sorted(processes, key=lambda p: ((p[1] - p[2]) / p[1], -p[1], p[0]))
    for pid, samples, truncated in ordered[:top]:
        lines.append(("%8s %8s %6.1f%%" % (pid if pid >= 0 else "?",
                                           amount(samples) if amount else samples,
                                           100.0 * (samples - truncated) / samples)
                      + ("  " + _clean(cgroup_of.get(pid, "?")) if cgroup_of else "")))
    if len(ordered) > top:
        lines.append("%8s (%d more)" % ("", len(ordered) - top))
    return lines


def _native_leaf(frames):
    """The native function a stack's time is in, or None: its innermost
    frame; for a wait off the CPU (its innermost frame OFFCPU_FRAME, under
    the scheduler's), the innermost native frame of user space inner to its
    Python frames, where the program blocked (a lock's wait, a system
    call's wrapper), else the system call's own kernel function, else the
    kernel's outermost (an interrupt that preempted it)."""
    if not frames:
        return None
    if frame_kind(frames[-1]) == "offcpu":
        kinds = [frame_kind(f) for f in frames]
        inner = len(kinds) - 1 - kinds[::-1].index("python") if "python" in kinds else -1
        native = [f for f, k in zip(frames[inner + 1:-1], kinds[inner + 1:-1]) if k == "native"]
        if native:
            return native[-1]
        kernel = [f for f, k in zip(frames[inner + 1:-1], kinds[inner + 1:-1]) if k == "kernel"]
        # the system call the thread blocked in, else how it left (an interrupt)
        entry = [i for i, f in enumerate(kernel) if f.startswith("do_syscall_64")]
        return kernel[entry[0] + 1] if entry and entry[0] + 1 < len(kernel) else \
            kernel[0] if kernel else None
    return frames[-1] if frame_kind(frames[-1]) in ("native", "kernel") else None


def _count(stacks):
    """(py_self, py_total, native_self, native_under) of the folded stacks:
    samples per Python function innermost and anywhere, per native leaf, and
    per native leaf by its innermost Python caller."""
    py_self: dict = {}
    py_total: dict = {}
    native_self: dict = {}
    native_under: dict = {}
    for stack, count in stacks.items():
        frames = stack.split(";")[1:]  # the first is the command
        py = [f for f in frames if f.startswith("py::")]
        if py:
            py_self[py[-1]] = py_self.get(py[-1], 0) + count
            for frame in set(py):
                py_total[frame] = py_total.get(frame, 0) + count
        leaf = _native_leaf(frames)
        if leaf is not None:
            native_self[leaf] = native_self.get(leaf, 0) + count
            under = native_under.setdefault(leaf, {})
            caller = py[-1] if py else None
            under[caller] = under.get(caller, 0) + count
    return py_self, py_total, native_self, native_under


def _python_lines(py_self, py_total, samples, top):
    name_width = 36
    file_width = WIDTH - 19 - name_width - 1
    lines = []
    for title, counts in (("by self samples", py_self), ("by total samples", py_total)):
        if not counts:
            continue
        lines.append("")
        lines.append("Python functions %s:" % title)
        lines.append("%8s %8s  %-*s %s" % ("self", "total", name_width, "function", "file"))
        for frame in sorted(counts, key=lambda f: (-counts[f], f))[:top]:
            name, filename = split_python(frame)
            lines.append("%7.2f%% %7.2f%%  %-*s %s" % (
                100.0 * py_self.get(frame, 0) / samples,
                100.0 * py_total.get(frame, 0) / samples, name_width,
                _fit(_clean(name), name_width),
                _fit(_clean(_short_path(filename)), file_width, tail=True)))
    return lines


def _native_lines(native_self, native_under, samples, top):
    if not native_self:
        return []
    name_width = 40
    under_width = WIDTH - 18 - name_width - 1
    lines = ["", "Native functions by self samples (C extensions, libraries, kernel):",
             "%8s  %-6s  %-*s %s" % ("self", "kind", name_width, "function",
                                     "under Python function")]
    for frame in sorted(native_self, key=lambda f: (-native_self[f], f))[:top]:
        under = native_under[frame]
        caller = max(under, key=lambda f: (under[f], f or ""))
        kind = frame_kind(frame)
        name = frame[:-len(KERNEL_SUFFIX)] if kind == "kernel" else frame
        lines.append("%7.2f%%  %-6s  %-*s %s" % (
            100.0 * native_self[frame] / samples, kind, name_width,
            _fit(_clean(name), name_width),
            _python_name(caller, under_width) if caller else "(no Python frame)"))
    return lines


def _amount(value, event=""):
    """An event's count in four or five columns: 987, 12.3K, 4.56M, 7.89G;
    a time event's nanoseconds as seconds: 1.23s."""
    if event == OFFCPU or base_event(event) in TIME_EVENTS:
        return "%.2fs" % (value / 1e9)
    for scale, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if value >= scale:
            return "%.3g%s" % (value / scale, suffix)
    return "%d" % value


def _per_event(rows, events):
    """{event: ({function: self}, {function: total})} of the periods (perf's
    estimated counts) of each event's samples."""
    out: dict = {event: ({}, {}) for event in events}
    for row in rows:
        self_of, total_of = out[row.event]
        py = [f for f in row.stack.split(";")[1:] if f.startswith("py::")]
        if py:
            self_of[py[-1]] = self_of.get(py[-1], 0) + row.period
            for frame in set(py):
                total_of[frame] = total_of.get(frame, 0) + row.period
    return out


def _event_lines(profile, top):
    """With events beyond time (record -e): per Python function, each
    event's estimated count, self and total, and instructions per cycle
    where both were recorded; ranked by the first event's self count."""
    events = profile.events
    if not profile.rows or len(events) < 2 and not profile.meta.get("events"):
        return []
    counts = _per_event(profile.rows, events)
    ipc = "cycles" in counts and "instructions" in counts
    widths = [max(15, len(event) + 2) for event in events]
    name_width = max(24, WIDTH - sum(widths) - (6 if ipc else 0))
    ranked = counts[events[0]][0]
    ranked_by = "self %s" % events[0]
    if not ranked:
        ranked, ranked_by = counts[events[0]][1], "total %s" % events[0]
    lines = ["", "Events per Python function (perf's estimated counts, self/total), by %s:"
             % ranked_by,
             "%-*s" % (name_width, "function") + "".join(
                 "%*s" % (width, _clean(event)) for width, event in zip(widths, events))
             + (" %5s" % "IPC" if ipc else "")]
    for frame in sorted(ranked, key=lambda f: (-ranked[f], f))[:top]:
        line = "%-*s" % (name_width, _python_name(frame, name_width - 1))
        for width, event in zip(widths, events):
            self_of, total_of = counts[event]
            line += "%*s" % (width, "%s/%s" % (_amount(self_of.get(frame, 0), event),
                                               _amount(total_of.get(frame, 0), event)))
        if ipc:
            cycles = counts["cycles"][0].get(frame, 0)
            line += " %5s" % ("%.2f" % (counts["instructions"][0].get(frame, 0) / cycles)
                              if cycles else "-")
        lines.append(line)
    return lines


def _what(profile):
    """What the report counts: "1234 samples", "1234 samples of page-faults",
    "1.51 s off the CPU (88 waits)", "3.02 s of wall-clock time (...)"."""
    if profile.unit != "ns":
        return "%d samples%s" % (profile.samples, " of %s" % _clean(profile.events[0])
                                 if profile.meta.get("events") or len(profile.events) > 1
                                 else "")
    off = sum(r.period for r in profile.rows if r.event == OFFCPU)
    waits = sum(r.count for r in profile.rows if r.event == OFFCPU)
    if profile.mode == "offcpu":
        return "%.2f s off the CPU (%d waits)" % (off / 1e9, waits)
    return "%.2f s of wall-clock time (%.2f s on the CPU, %.2f s off it in %d waits)" % (
        profile.samples / 1e9, (profile.samples - off) / 1e9, off / 1e9, waits)


def _thread_lines(profile, top):
    """With --mode wall: each thread's time on and off the CPU, which add up
    to the time it lived through the recording."""
    if profile.mode != "wall" or not profile.rows:
        return []
    threads: dict = {}
    for row in profile.rows:
        if row.event == OFFCPU or base_event(row.event) in TIME_EVENTS:
            on_off = threads.setdefault((row.pid, row.tid), [0, 0])
            on_off[row.event == OFFCPU] += row.period
    duration = max(1, profile.last_ns - profile.first_ns)
    lines = ["", "Threads: time on and off the CPU (the recording lasted %.2f s):"
             % (duration / 1e9), "%8s %8s %9s %9s %9s %8s" % (
                 "pid", "tid", "on CPU", "off CPU", "total", "of rec.")]
    ordered = sorted(threads.items(), key=lambda t: (-sum(t[1]), t[0]))
    for (pid, tid), (on, off) in ordered[:top]:
        lines.append("%8s %8s %8.2fs %8.2fs %8.2fs %7.1f%%" % (
            pid if pid >= 0 else "?", tid if tid >= 0 else "?", on / 1e9, off / 1e9,
            (on + off) / 1e9, 100.0 * (on + off) / duration))
    if len(ordered) > top:
        lines.append("%8s (%d more)" % ("", len(ordered) - top))
    return lines


def render(profile, options):
    top = getattr(options, "top", 25)
    samples = profile.samples
    py_self, py_total, native_self, native_under = _count(profile.stacks)
    meta = profile.meta
    lines = ["perftramp report%s: %s%s" % (
        " (%s)" % _clean(profile.group) if profile.group else "", _what(profile),
        ", %s backend, command: %s" % (meta["backend"], profile.command)
        if meta.get("backend") else "")]
    advice = truncation_advice(profile)
    if advice:
        lines.append("")
        lines.extend(textwrap.wrap(advice, WIDTH, break_on_hyphens=False))
    if not samples:
        lines.append("no samples in this recording")
        return "\n".join(lines) + "\n"
    if not py_total:
        lines.append("")
        lines.append("no Python frames in this recording")
    lines.extend(_python_lines(py_self, py_total, samples, top))
    lines.extend(_event_lines(profile, top))
    lines.extend(_thread_lines(profile, top))
    lines.extend(_process_lines(profile.processes, top, meta.get("cgroups", {}),
                                (lambda ns: "%.2f" % (ns / 1e9)) if profile.unit == "ns"
                                else None))
    lines.extend(_native_lines(native_self, native_under, samples, top))
    return "\n".join(lines) + "\n"
