"""What the subcommands share: finding perf and asking interpreters about
themselves."""
import os
import re
import shutil
import subprocess
import sys


def say(message):
    """Progress and advice go to stderr; stdout is for results."""
    sys.stderr.write("perftramp: %s\n" % message)
    sys.stderr.flush()


def perf_path():
    return shutil.which("perf")


def perf_version(perf):
    """(text, (major, minor) or None): `perf version` as printed, and what it
    says for sure.  Distributions append their own revision after a '-'
    ("6.7-3" is 6.7 with Debian's third revision, not 6.7.3), so only
    major.minor and an explicit third component are trusted."""
    out = subprocess.run([perf, "version"], capture_output=True, text=True)
    text = (out.stdout or out.stderr).strip()
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        return text, None
    return text, (int(m.group(1)), int(m.group(2)))


# One test, run in this interpreter or (as source) in another.
_FRAME_POINTER_TEST = (
    "import sysconfig\n"
    "flags = (sysconfig.get_config_var('CFLAGS') or '') + "
    "(sysconfig.get_config_var('PY_CFLAGS') or '')\n"
    "result = 'no-omit-frame-pointer' in flags\n"
)


def has_frame_pointers(python=None):
    """Whether an interpreter was built with frame pointers."""
    if python is None or os.path.realpath(python) == os.path.realpath(sys.executable):
        namespace = {}
        exec(_FRAME_POINTER_TEST, namespace)
        return namespace["result"]
    out = subprocess.run([python, "-c", _FRAME_POINTER_TEST + "print(result)"],
                         capture_output=True, text=True)
    return out.stdout.strip() == "True"


def looks_like_python(program):
    return os.path.basename(program).startswith("python")
