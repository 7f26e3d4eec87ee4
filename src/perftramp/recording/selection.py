"""Which samples of a recording a report shows (report --pid, --tid,
--comm, --cgroup, --start, --end): the threads are chosen on the folded
stacks, the cgroups turned into the pids record saw in them (perftramp.json's
"cgroups"); the time window is the folder's (folded.fold_with_perf)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .errors import Failure

_UNSAFE_IN_COMM = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class Selection:
    pids: List[int] = field(default_factory=list)
    comms: List[str] = field(default_factory=list)
    cgroup: Optional[str] = None
    tids: List[int] = field(default_factory=list)
    #: seconds after the first sample: [start, end), None for no bound
    start: Optional[float] = None
    end: Optional[float] = None

    def __bool__(self) -> bool:
        return self.chooses_threads() or any(self.window_ns())

    def chooses_threads(self) -> bool:
        return bool(self.pids or self.tids or self.comms or self.cgroup is not None)

    def window_ns(self) -> Tuple[int, int]:
        """(start_ns, end_ns) for the folder, 0 for no bound."""
        return (int(round((self.start or 0) * 1e9)),
                int(round(self.end * 1e9)) if self.end is not None else 0)

    def keep(self, rows: list, meta: Dict[str, Any]) -> list:
        """The folded rows (folded.Row) of the chosen threads of the
        recording `meta` describes; a one-line Failure when a cgroup matches
        none."""
        pids = set(self.pids)
        if self.cgroup is not None:
            in_cgroup = set(cgroup_pids(meta.get("cgroups", {}), self.cgroup))
            pids = pids & in_cgroup if pids else in_cgroup
            if not pids:
                raise Failure("report: no process of the recording ran in cgroup %s%s"
                              % (self.cgroup, "" if self.pids else _known(meta)))
        tids = set(self.tids)
        # the folder writes a command as a frame: ';' becomes ':', a control '?'
        comms = {_UNSAFE_IN_COMM.sub("?", comm.replace(";", ":")) for comm in self.comms}
        return [row for row in rows
                if (not pids or row.pid in pids) and (not tids or row.tid in tids)
                and (not comms or row.stack.split(";", 1)[0] in comms)]


def cgroup_pids(cgroups: Dict[str, List[int]], wanted: str) -> List[int]:
    """The pids of the cgroup `wanted` (and of those under it): its whole
    path, or its last components, or a container's id (12 hex digits or
    more) as runtimes name their scopes: docker-ID.scope,
    cri-containerd-ID.scope, libpod-ID.scope."""
    return sorted(pid for cgroup, pids in cgroups.items() if _matches(cgroup, wanted)
                  for pid in pids)


def _matches(cgroup: str, wanted: str) -> bool:
    parts = [p for p in cgroup.split("/") if p]
    asked = [p for p in wanted.split("/") if p]
    if not asked:
        return not parts  # "/" alone
    for start in range(len(parts) - len(asked) + 1):
        if parts[start:start + len(asked)] == asked:
            return True
    if len(asked) == 1 and re.fullmatch(r"[0-9a-f]{12,64}", asked[0]):
        return any(re.fullmatch(r"(?:[\w.-]+-)?%s[0-9a-f]*(?:\.scope)?" % asked[0], part)
                   for part in parts)
    return False


def _known(meta: Dict[str, Any]) -> str:
    cgroups = sorted(meta.get("cgroups", {}))
    if not cgroups:
        return " (it knows no cgroups: only record -p and -a note them)"
    return "; its cgroups: %s" % ", ".join(cgroups[:10]) + (" ..." if len(cgroups) > 10 else "")
