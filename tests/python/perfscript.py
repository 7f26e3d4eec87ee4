"""Reading `perf script` output in the tests: samples as lists of frame
names, leaf first."""
import functools
import os
import re
import subprocess

FRAME = re.compile(r"^\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)$")
OFFSET = re.compile(r"\+0x[0-9a-f]+$")


def samples(perf_data, extra=(), dsos=False):
    """[[symbol, ...]] per sample, leaf first, from `perf script`; with dsos,
    [(symbol, object), ...]."""
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
            symbol = OFFSET.sub("", m.group(2))
            current.append((symbol, m.group(3)) if dsos else symbol)
        else:
            if current is not None:
                result.append(current)
            current = []
    if current is not None:
        result.append(current)
    return result


#: the outermost frames of a whole stack, as perf script names them (a part
#: of src/report/fold.h's list)
START_FRAMES = ("_start", "__libc_start_main", "__libc_start_main_impl",
                "__libc_start_call_main", "start_thread", "clone", "clone3", "__clone3")


def reaches_start(frames):
    """Whether a sample of samples(dsos=True) was unwound to where its thread
    started, as the report's folder decides (src/report/fold.h): its
    outermost named frame is a start frame, or an unnamed function of a C
    library stripped of local symbols that calls into another object."""
    def in_c_library(dso):
        return os.path.basename(dso).startswith(("libc.so", "libc-", "ld-musl"))

    named = [(i, f) for i, f in enumerate(frames) if f[0] != "[unknown]" or in_c_library(f[1])]
    if not named:
        return False
    i, (symbol, dso) = named[-1]
    if symbol != "[unknown]":
        return symbol.split("@")[0] in START_FRAMES
    inner = [f for f in frames[:i] if not in_c_library(f[1])]
    return bool(inner) and not inner[-1][1].startswith("[kernel")


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


def python_names(frames):
    """The function names of a stack's Python frames ("py::NAME:FILE"), in
    the stack's order."""
    return [f.split(":")[2] for f in frames if f.startswith("py::")]


def collapsed(text):
    """[(python names outermost first, whole, count)] of `perftramp report
    --format collapsed` output; whole: not cut ([truncated] after the
    command)."""
    out = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        out.append((python_names(frames), frames[1:2] != ["[truncated]"], int(count)))
    return out
