"""Reading `perf script` output in the tests: samples as lists of frame
names, leaf first."""
import functools
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


@functools.lru_cache(maxsize=None)
def libdw_unwinder_only():
    """Whether perf unwinds DWARF call graphs with libdw, having no libunwind
    (Debian's perf 7.x).  That unwinder drops a sample's whole call chain
    when it meets code without CFI, such as a trampoline named only in a
    perf map: `--call-graph dwarf` then shows no Python frame with the
    "perf" backend (tools/perf/util/unwind-libdw.c, unwind__get_entries
    delivers no entry after an error).  perf_jit's trampolines carry CFI."""
    out = subprocess.run(["perf", "version", "--build-options"], capture_output=True,
                         text=True).stdout
    on = {m.group(1) for m in re.finditer(r"^\s*([\w-]+): \[ on  \]", out, re.M)}
    return "libunwind" not in on and "libdw-dwarf-unwind" in on
