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


class Profile:
    """Folded samples of one recording.

    stacks   {"frame;frame;...": count}, outermost frame first; Python
             frames read "py::NAME:FILE"
    samples  how many samples were read
    meta     the recording's perftramp.json ({} when it has none)
    """

    def __init__(self, stacks, samples, meta):
        self.stacks = stacks
        self.samples = samples
        self.meta = meta

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
