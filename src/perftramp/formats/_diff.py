"""Two recordings compared (perftramp diff): what changed from BASE to NEW.

Shares, not samples: each function's samples as a share of its own
recording's, so that a longer or shorter run of the same program compares
fairly; a change is in percentage points of all samples.  A function that
was made slower grows in self share where the time is its own, in total
share where it is in what it calls (a helper shared with others, whose
self share says little); its callers' total shares stay where they were
when they were ~100% before.  So Python functions are ranked by the larger
of their two changes, grown or shrunk.

    text       Python functions by the larger change of self or total
               share, both shown; native functions by self share change
    html       a differential flame graph: NEW's shape, coloured by each
               frame's change against the same frames of BASE (html.py)
    collapsed  flamegraph.pl's difffolded format, "stack BASE NEW" a line
               (samples), for flamegraph.pl and other tools of that family

Two runs of a program are often of two checkouts or two virtual
environments, so a Python function is matched by its name and its file as
seen from where it lives (where_from()): from site-packages/ or
dist-packages/ on, <stdlib>/ for the standard library, relative to the
recorded script's directory for the program's own files; other paths stay
whole.
"""
import os
import re

from . import KERNEL_SUFFIX, frame_kind, html, text

_PACKAGES = re.compile(r".*?/((?:site|dist)-packages/.*)")
_STDLIB = re.compile(r".*?/lib/python3(?:\.\d+)?t?/(.*)")

FORMATS = ("text", "html", "collapsed")


def _script_directory(meta):
    """The directory of the recorded script, or None."""
    for arg in meta.get("command", [])[1:]:
        if arg.endswith(".py"):
            return os.path.dirname(os.path.abspath(arg))
        if not arg.startswith("-"):
            return None
    return None


def where_from(filename, script_directory):
    """The file of a Python function as diff matches it."""
    m = _PACKAGES.fullmatch(filename)
    if m:
        return m.group(1)
    m = _STDLIB.fullmatch(filename)
    if m:
        return "<stdlib>/" + m.group(1)
    if script_directory and filename.startswith(script_directory + "/"):
        return filename[len(script_directory) + 1:]
    return filename


def comparable(profile):
    """The profile's stacks with each Python frame's file as where_from()
    gives it (stacks that become the same add up)."""
    directory = _script_directory(profile.meta)
    seen: dict = {}
    stacks: dict = {}
    for stack, count in profile.stacks.items():
        frames = stack.split(";")
        for i, frame in enumerate(frames):
            if i and frame.startswith("py::"):
                got = seen.get(frame)
                if got is None:
                    name, filename = text.split_python(frame)
                    got = seen[frame] = "py::%s:%s" % (name, where_from(filename, directory))
                frames[i] = got
        key = ";".join(frames)
        stacks[key] = stacks.get(key, 0) + count
    out = type(profile)(stacks, profile.samples, profile.meta, profile.truncated,
                        profile.processes)
    out.unit = getattr(profile, "unit", "samples")
    return out


def _changes(base_counts, base_samples, new_counts, new_samples):
    """[(change, base share, new share, function)], in points of all
    samples, largest change first."""
    out = []
    for frame in set(base_counts) | set(new_counts):
        before = 100.0 * base_counts.get(frame, 0) / base_samples if base_samples else 0.0
        after = 100.0 * new_counts.get(frame, 0) / new_samples if new_samples else 0.0
        out.append((after - before, before, after, frame))
    return sorted(out, key=lambda c: (-abs(c[0]), c[3]))


def _name(frame, width):
    python = text.split_python(frame)
    if python:
        return text._python_name(frame, width)
    kind = frame_kind(frame)
    name = frame[:-len(KERNEL_SUFFIX)] if kind == "kernel" else frame
    return text._fit(text._clean(name), width) + (" [k]" if kind == "kernel" else "")


def _table(title, changes, top):
    width = text.WIDTH - 28
    lines = ["", title, "%8s %8s %9s  %s" % ("base", "new", "change", "function")]
    for change, before, after, frame in changes[:top]:
        if abs(change) < 0.005:
            break
        lines.append("%7.2f%% %7.2f%% %+8.2f  %s" % (before, after, change, _name(frame, width)))
    if len(lines) == 3:
        lines.append("(no change of 0.01 points or more)")
    return lines


def python_changes(base, new):
    """[(self change, total change, function, (base self, new self, base
    total, new total))] of the Python functions, in points, the largest
    change of either first."""
    b_self, b_total, _, _ = text._count(base.stacks)
    n_self, n_total, _, _ = text._count(new.stacks)
    self_of = {c[3]: c for c in _changes(b_self, base.samples, n_self, new.samples)}
    out = []
    for change, before, after, frame in _changes(b_total, base.samples, n_total, new.samples):
        own = self_of.get(frame, (0.0, 0.0, 0.0, frame))
        out.append((own[0], change, frame, (own[1], own[2], before, after)))
    return sorted(out, key=lambda c: (-max(abs(c[0]), abs(c[1])), -abs(c[0]), c[2]))


def _python_table(changes, top):
    width = text.WIDTH - 54
    lines = ["", "Python functions whose share changed most (self or total; points of all "
             "samples):", "%17s %8s %17s %8s  %s" % ("self: base/new", "change",
                                                    "total: base/new", "change", "function")]
    for own, total, frame, (b_self, n_self, b_total, n_total) in changes[:top]:
        if max(abs(own), abs(total)) < 0.005:
            break
        lines.append("%7.2f%%/%7.2f%% %+8.2f %7.2f%%/%7.2f%% %+8.2f  %s" % (
            b_self, n_self, own, b_total, n_total, total, _name(frame, width)))
    if len(lines) == 3:
        lines.append("(no change of 0.01 points or more)")
    return lines


def render_text(base, new, options):
    top = getattr(options, "top", 25)
    b_native = text._count(base.stacks)[2]
    n_native = text._count(new.stacks)[2]
    lines = ["perftramp diff: %d samples of %s against %d of %s (shares of each "
             "recording's samples; change in points)"
             % (new.samples, text._clean(new.command or "NEW"), base.samples,
                text._clean(base.command or "BASE"))]
    lines += _python_table(python_changes(base, new), top)
    lines += _table("Native functions by change of self share (C extensions, libraries, "
                    "kernel):", _changes(b_native, base.samples, n_native, new.samples), top)
    return "\n".join(lines) + "\n"


def render_html(base, new, options):
    title = "differential: %d samples%s against %d%s" % (
        new.samples, " of " + new.command if new.command else "", base.samples,
        " of " + base.command if base.command else "")
    table = html.tree(new.stacks, base.stacks)
    if getattr(new, "unit", "") == "ns":
        table["unit"] = "ns"
    return html.page(title, None, table)


def render_collapsed(base, new, options):
    lines = ["%s %d %d" % (stack, base.stacks.get(stack, 0), new.stacks.get(stack, 0))
             for stack in sorted(set(base.stacks) | set(new.stacks))]
    return "\n".join(lines) + ("\n" if lines else "")


def render(name, base, new, options):
    """The diff of two formats.Profile in format `name` (FORMATS)."""
    return {"text": render_text, "html": render_html,
            "collapsed": render_collapsed}[name](comparable(base), comparable(new), options)
