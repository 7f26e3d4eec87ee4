"""Top Python functions by self and total samples, with their files."""
from . import split_python

DESCRIPTION = "top Python functions by self and total samples, with files"


def render(profile, options):
    top = getattr(options, "top", 25)
    samples = profile.samples
    self_counts, total_counts = {}, {}
    for stack, count in profile.stacks.items():
        py = [f for f in stack.split(";") if f.startswith("py::")]
        if not py:
            continue
        self_counts[py[-1]] = self_counts.get(py[-1], 0) + count
        for frame in set(py):
            total_counts[frame] = total_counts.get(frame, 0) + count
    meta = profile.meta
    lines = ["perftramp report: %d samples%s" % (
        samples, ", %s backend, command: %s" % (meta["backend"], profile.command)
        if meta.get("backend") else "")]
    if not total_counts:
        lines.append("no Python frames in this recording")
        return "\n".join(lines) + "\n"
    for title, counts in (("by self samples", self_counts), ("by total samples", total_counts)):
        lines.append("")
        lines.append("Python functions %s:" % title)
        lines.append("%8s %8s  %-40s %s" % ("self", "total", "function", "file"))
        ranked = sorted(counts, key=lambda f: (-counts[f], f))[:top]
        for frame in ranked:
            name, filename = split_python(frame)
            lines.append("%7.2f%% %7.2f%%  %-40s %s" % (
                100.0 * self_counts.get(frame, 0) / samples,
                100.0 * total_counts.get(frame, 0) / samples, name, filename))
    return "\n".join(lines) + "\n"
