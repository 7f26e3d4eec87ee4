"""Which processes of a recording a report shows (report --pid, --comm,
--cgroup): perf script's own filters, the cgroups turned into the pids
record saw in them (perftramp.json's "cgroups")."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .errors import Failure


@dataclass
class Selection:
    pids: List[int] = field(default_factory=list)
    comms: List[str] = field(default_factory=list)
    cgroup: Optional[str] = None

    def __bool__(self) -> bool:
        return bool(self.pids or self.comms or self.cgroup is not None)

    def perf_args(self, meta: Dict[str, Any]) -> List[str]:
        """perf script's filter flags for this selection of the recording
        `meta` describes; a one-line Failure when a cgroup matches none."""
        pids = list(self.pids)
        if self.cgroup is not None:
            in_cgroup = cgroup_pids(meta.get("cgroups", {}), self.cgroup)
            pids = [pid for pid in pids if pid in in_cgroup] if pids else in_cgroup
            if not pids:
                raise Failure("report: no process of the recording ran in cgroup %s%s"
                              % (self.cgroup, "" if self.pids else _known(meta)))
        args = ["--pid", ",".join(str(pid) for pid in pids)] if pids else []
        return args + (["--comm", ",".join(self.comms)] if self.comms else [])


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
