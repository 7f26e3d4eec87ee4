"""The events perf samples on (record -e, check): which this machine has,
asked of perf itself (`perf stat -x,` counts each one over `true`; a
virtual machine without a PMU answers "<not supported>" for every hardware
event), and their names as perf script prints them."""
from __future__ import annotations

import re
import subprocess
from typing import Dict, List, Sequence, Tuple

from . import perf
from .errors import Failure

#: what `check` asks about: perf's generic hardware and software events
HARDWARE = ("cycles", "instructions", "cache-references", "cache-misses", "branches",
            "branch-misses")
SOFTWARE = ("cpu-clock", "task-clock", "page-faults", "minor-faults", "major-faults",
            "context-switches", "cpu-migrations")
#: an event as perf takes it: a name, a tracepoint (sys:name), a PMU's
#: (pmu/config/) and modifiers (:u, :ppp); no list, no space, no option
_EVENT = re.compile(r"[A-Za-z][\w.\-]*(?::[\w.\-]+)*(?:/[\w.,=\-]*/[\w]*)?")
_MODIFIERS = re.compile(r"[ukhIGHpPSDWe]+")


def parse(text: str) -> Tuple[str, ...]:
    """The events of record -e's "EVENT[,EVENT...]"; a one-line Failure for
    one perf could not take as a single event."""
    events = tuple(_split_events(text))
    if not events:
        raise Failure("record: -e needs an event (perftramp check lists this machine's)")
    for event in events:
        if _EVENT.fullmatch(event) is None:
            raise Failure("record: %r is not an event name (perftramp check lists this "
                          "machine's)" % event)
    if len(set(events)) != len(events):
        raise Failure("record: an event is given twice in -e %s" % text)
    return events


def _split_events(text: str) -> List[str]:
    """The words of "EVENT[,EVENT...]", a comma between slashes (a PMU's
    terms: cpu/event=0x3c,umask=0/) not splitting."""
    words, word, inside = [], "", False
    for c in text:
        if c == "/":
            inside = not inside
        if c == "," and not inside:
            words.append(word)
            word = ""
        else:
            word += c
    words.append(word)
    return [w.strip() for w in words if w.strip()]


_SAMPLING_TERMS = re.compile(r"([^/]+)/(?:(?:freq|period|call-graph|stack-size|max-stack)"
                             r"=[^,/]+,?)+/")


def script_name(event: str) -> str:
    """The event's name as the folder keeps it (src/report/fold.c):
    without modifiers ("page-faults:u": "page-faults"; a tracepoint's whole,
    "sched:sched_switch") and without sampling terms
    ("page-faults/period=10/": "page-faults")."""
    head, sep, tail = event.rpartition(":")
    name = head if sep and head and _MODIFIERS.fullmatch(tail) else event
    m = _SAMPLING_TERMS.fullmatch(name)
    return m.group(1) if m else name


def availability(perf_path: str, events: Sequence[str]) -> Dict[str, str]:
    """{event: why not} for those of `events` this machine cannot count,
    empty when it has them all: perf stat -x, over `true`."""
    argv = perf.perf_argv(perf_path, "stat") + ["-x,", "-e", ",".join(events), "--", "true"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {event: "perf stat failed (%s)" % exc for event in events}
    if out.returncode != 0:
        if len(events) > 1:  # which one perf does not know
            return {event: why for one in events
                    for event, why in availability(perf_path, [one]).items()}
        said = [line.strip() for line in out.stderr.splitlines() if line.strip()]
        return {event: "perf does not know it: %s" % (said[0] if said else "perf stat failed")
                for event in events}
    missing = {}
    for line in out.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].startswith("<not"):
            # as perf names it: without the modifiers it may add (cycles:u)
            missing[script_name(fields[2])] = fields[0].strip("<>")
    return {event: missing[script_name(event)] for event in events
            if script_name(event) in missing}


def check(perf_path: str, events: Sequence[str], wanted_by: str = "") -> None:
    """A one-line Failure when this machine cannot sample every one of
    `events` (which `wanted_by`, an option, needs)."""
    missing = availability(perf_path, events)
    if not missing:
        return
    hardware_only = all(script_name(event) in HARDWARE for event in missing)
    tracepoint = any(":" in script_name(event) for event in missing)
    raise Failure("record: this machine cannot sample %s%s (%s)%s" % (
        ", ".join(missing), " for " + wanted_by if wanted_by else "",
        "; ".join(sorted(set(missing.values()))),
        ": no hardware counters (a virtual machine?), software events only; perftramp check "
        "lists the events it has" if hardware_only else
        ": the scheduler's tracepoints need root (or perf_event_paranoid -1 and tracefs)"
        if tracepoint else "; perftramp check lists the events it has"))


def survey(perf_path: str) -> List[Tuple[str, str, bool]]:
    """[(event, "hardware" or "software", available)] for check."""
    missing = availability(perf_path, HARDWARE + SOFTWARE)
    return [(event, "hardware" if event in HARDWARE else "software", event not in missing)
            for event in HARDWARE + SOFTWARE]
