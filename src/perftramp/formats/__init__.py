"""Report formats: one module per format, found by listing this package.

Every module here whose name does not start with "_" is a format named after
the module.  It defines

    DESCRIPTION   one line for `perftramp report --help`
    render(profile, options) -> str
                  profile: a Profile (below); options: report's parsed
                  arguments (text reads options.top)

so adding a format is adding a file: `perftramp report --format NAME` finds
it through pkgutil, with no table to edit.  Package data a format needs
(html's flamegraph.html) sits beside it.
"""
import importlib
import pkgutil
import re

_CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f]")


#: The frames of a folded stack, by kind (frame_kind()):
#:   the first frame of every stack is the process's command (comm);
#:   "py::NAME:FILE"  a Python function;
#:   "NAME_[k]"       a kernel function (flamegraph.pl's convention);
#:   TRUNCATED        right after the comm, when perf could not unwind the
#:                    stack to its start (the frames after it are the
#:                    outermost ones it reached): the stack is cut;
#:   anything else    a native function ("[unknown]": unresolved).
TRUNCATED = "[truncated]"
KERNEL_SUFFIX = "_[k]"


def frame_kind(frame):
    """"python", "kernel", "truncated" or "native"."""
    if frame.startswith("py::"):
        return "python"
    if frame.endswith(KERNEL_SUFFIX):
        return "kernel"
    if frame == TRUNCATED:
        return "truncated"
    return "native"


class Profile:
    """Folded samples of one recording.

    stacks     {"frame;frame;...": count}, outermost frame first (see
               frame_kind() for the frames)
    samples    how many samples were read
    meta       the recording's perftramp.json ({} when it has none)
    truncated  how many of the samples have cut stacks (TRUNCATED)
    """

    def __init__(self, stacks, samples, meta, truncated=0):
        self.stacks = stacks
        self.samples = samples
        self.meta = meta
        self.truncated = truncated

    @property
    def command(self):
        """The profiled command as one string, or "", control characters
        escaped (\\xNN): it is shown on terminals and pages, and a recording
        may come from someone else."""
        return _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()),
                            " ".join(self.meta.get("command", [])))


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
