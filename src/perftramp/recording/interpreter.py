"""What the subcommands share: progress messages, and asking interpreters
about themselves.  (perf is in _perf.py, a recording's layout in
_recording.py, failures in _errors.py.)"""
import os
import subprocess
import sys


def say(message):
    """Progress and advice go to stderr; stdout is for results."""
    sys.stderr.write("perftramp: %s\n" % message)
    sys.stderr.flush()


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
