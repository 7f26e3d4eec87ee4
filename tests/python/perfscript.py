"""Reading `perf script` output in the tests: samples as lists of frame
names, leaf first."""
import re
import subprocess

FRAME = re.compile(r"^\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)$")
OFFSET = re.compile(r"\+0x[0-9a-f]+$")


def samples(perf_data, extra=()):
    """[[symbol, ...]] per sample, leaf first, from `perf script`."""
    out = subprocess.run(["perf", "script", "-i", str(perf_data), "-F", "comm,ip,sym,dso"]
                         + list(extra), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    result, current = [], None
    for line in out.stdout.splitlines():
        if not line.strip():
            if current is not None:
                result.append(current)
            current = None
            continue
        m = FRAME.match(line)
        if m:
            if current is None:
                current = []
            current.append(OFFSET.sub("", m.group(2)))
        else:
            if current is not None:
                result.append(current)
            current = []
    if current is not None:
        result.append(current)
    return result


def python_frames(frames):
    return [f for f in frames if f.startswith("py::")]


def chain_ok(frames, chain):
    """Whether the Python frames of a sample, from the innermost, are exactly
    `chain` (prefixes of names such as "py::foo:") followed by anything."""
    py = python_frames(frames)
    if len(py) < len(chain):
        return False
    return all(name.startswith(want) for name, want in zip(py, chain))
