"""perf itself: finding it, its version, how to install it, and its command
lines for each backend row (see perftramp/_backends.py).

A row's "unwind" gives perf record's call-graph flags: "fp" walks frame
pointers (-g), "dwarf" copies stack per sample for DWARF unwinding.  A row
with "inject" needs `perf inject --jit` afterwards, which matches jitdump
records to samples by timestamp, so such a recording uses the monotonic
clock the jitdump writes (-k 1).

Every perf command here runs with perf's build-id cache pointed at a
directory perf cannot create (NO_BUILD_ID_CACHE): otherwise perf record and
perf inject copy every object a recording touches into ~/.debug, each of
perf inject's thousands of jitted-*.so among them (gigabytes for a few
seconds of a large program, and inject several times slower).  perf ignores
$PERF_BUILDID_DIR; its global --buildid-dir is obeyed by every subcommand.

perf record's -z (zstd) cannot be used before perf inject --jit: perf 6.1
and 7.2 inject pass the compressed chunks through unread and write no
jitted object at all, so only recordings without inject are compressed.
"""
from __future__ import annotations

import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from .errors import Failure

if TYPE_CHECKING:
    from perftramp._backends import Backend

INSTALL_HINT = "Debian/Ubuntu: apt-get install linux-perf"
#: perf looks for perf-PID.map files here and nowhere else.
MAP_DIR = "/tmp"
#: the build-id cache perf is given: under /dev/null, so it can never be made
NO_BUILD_ID_CACHE = "/dev/null/perftramp-no-build-id-cache"
#: perf's largest --call-graph dwarf stack copy, in bytes (a multiple of 8
#: below 64 KiB): deep Python stacks need all of it
DWARF_STACK_MAX = 65528
#: kernel.perf_event_max_stack record asks for while recording with frame
#: pointers (the kernel's default, 127, cuts deep Python programs)
FP_MAX_STACK = 1024


def perf_argv(perf: str, subcommand: str) -> List[str]:
    """The start of every perf command line perftramp runs."""
    return [perf, "--buildid-dir", NO_BUILD_ID_CACHE, subcommand]


def find() -> Optional[str]:
    """perf's path, or None."""
    return shutil.which("perf")


def require() -> str:
    """perf's path; a Failure saying how to install it when it is missing."""
    perf = find()
    if perf is None:
        raise Failure("perf is not installed (%s); `perftramp check` tells what else "
                       "is needed" % INSTALL_HINT)
    return perf


def version(perf: str) -> Tuple[str, Optional[Tuple[int, int]]]:
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


def has_zstd(perf: str) -> bool:
    """Whether this perf can compress what it records (-z)."""
    out = subprocess.run([perf, "version", "--build-options"], capture_output=True,
                         text=True)
    return re.search(r"zstd:\s*\[\s*on", out.stdout) is not None


@dataclass
class Sampling:
    """How perf samples: `record`'s -F, --stack-size and -e (none: perf's
    default, cycles or, without hardware counters, cpu-clock), and whether
    it compresses what it writes (-z; taken only for a backend without
    inject)."""
    freq: int = 999
    stack_size: int = DWARF_STACK_MAX
    compress: bool = False
    events: Tuple[str, ...] = ()
    #: "cpu", "offcpu" or "wall" (MODES); max_size: perf record --max-size
    mode: str = "cpu"
    max_size: Optional[str] = None


#: record --mode: the events each samples, "{freq}" standing for -F (a
#: tracepoint takes no frequency: perf samples every switch-out), and
#: whether it needs perf's switch-in records (--switch-events), which pair
#: each switch-out with the moment its thread runs again (src/report/waits.h)
MODES = {
    "cpu": ((), False),
    "offcpu": (("sched:sched_switch",), True),
    "wall": (("cpu-clock/freq={freq}/", "sched:sched_switch"), True),
}


def record_flags(row: Backend, sampling: Sampling) -> List[str]:
    """perf record's flags for sampling a program using backend `row`."""
    mode_events, switches = MODES[sampling.mode]
    if mode_events:
        flags = ["-e", ",".join(e.format(freq=sampling.freq) for e in mode_events)]
    else:
        flags = ["-F", str(sampling.freq)]
    flags += ["-N"]  # no build-id cache, even were the global option ignored
    if switches:
        flags += ["--switch-events"]
    if sampling.max_size:
        flags += ["--max-size", sampling.max_size]
    if sampling.events:
        flags += ["-e", ",".join(sampling.events)]
    if sampling.compress and not row.inject:
        flags += ["-z"]
    flags += ["-k", "1"] if row.inject else []
    if row.unwind == "fp":
        flags += ["-g"]
    else:
        flags += ["--call-graph", "dwarf,%d" % sampling.stack_size]
    return flags


def kernel_gives_build_ids() -> bool:
    """Whether this kernel puts build-ids into mapping events (5.12+),
    which perf record --buildid-mmap needs."""
    m = re.match(r"(\d+)\.(\d+)", platform.release())
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (5, 12)


def scope_flags(pid: Optional[int] = None, system_wide: bool = False,
                build_ids: bool = False) -> List[str]:
    """perf record's flags to record the running process `pid`, or every
    process (`system_wide`), instead of a command's.  With `build_ids` every
    mapping perf records carries its object's build-id (buildids.py says
    why), where the kernel can (else perf's header has those it could read)."""
    return ((["-p", str(pid)] if pid is not None else ["-a"] if system_wide else [])
            + (["--buildid-mmap"] if build_ids and kernel_gives_build_ids() else []))


def record_command(perf: str, row: Backend, sampling: Sampling, output: str,
                   command: Sequence[str], quiet: bool = False,
                   scope: Sequence[str] = ()) -> List[str]:
    """perf record of `command`, or of what `scope` (scope_flags()) says for
    as long as `command` runs, when one is given, else until interrupted."""
    return (perf_argv(perf, "record") + (["-q"] if quiet else [])
            + record_flags(row, sampling) + list(scope) + ["-o", output]
            + (["--"] + list(command) if command else []))


def inject_command(perf: str, data: str, output: str) -> List[str]:
    return perf_argv(perf, "inject") + ["-i", data, "--jit", "-o", output]


def script_command(perf: str, data: str, fields: str,
                   build_id_cache: Optional[str] = None) -> List[str]:
    """perf script of `data`, reading objects from a recording's own
    build-id cache where it has one."""
    argv = perf_argv(perf, "script")
    if build_id_cache:
        argv[argv.index(NO_BUILD_ID_CACHE)] = build_id_cache
    return argv + ["-i", data, "-F", fields]


_BUILD_ID = re.compile(r"([0-9a-f]{2,80}) (\S.*)")


def build_ids(perf: str, data: str, build_id_cache: Optional[str] = None) -> Dict[str, str]:
    """{object's path: build-id} of the objects `data` lists with one (perf
    buildid-list); {} when it lists none or fails."""
    argv = perf_argv(perf, "buildid-list")
    if build_id_cache:
        argv[argv.index(NO_BUILD_ID_CACHE)] = build_id_cache
    try:
        out = subprocess.run(argv + ["-i", data], capture_output=True, text=True,
                             errors="surrogateescape", timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = (_BUILD_ID.fullmatch(line.strip()) for line in out.stdout.splitlines())
    return {m.group(2): m.group(1) for m in found if m and out.returncode == 0}


# `perf script -F pid --show-task-events` prints each sample's pid, then for
# task events the pid of the process the event is in, and "FORK(child:tid)" /
# "EXIT(pid:tid)" ("0" is the event of perf's own fork before the exec).
_EVENT_PID = re.compile(r"PERF_RECORD_(?:FORK|EXIT)\((\d+):")


def recorded_pids(perf: str, data: str) -> List[int]:
    """The pids of every process `data` saw: with a sample, or only started
    or ended (a short child still leaves its map)."""
    out = subprocess.run(script_command(perf, data, "pid") + ["--show-task-events"],
                         capture_output=True, text=True)
    pids = {int(line.split()[0]) for line in out.stdout.splitlines()
            if line.split() and line.split()[0].isdigit()}
    pids.update(int(pid) for pid in _EVENT_PID.findall(out.stdout))
    pids.discard(0)
    return sorted(pids)
