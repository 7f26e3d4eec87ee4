"""One measuring process of benchmarks/suite.py: a pyperformance benchmark in
pyperf's worker mode, with one configuration switched on and checked first.

    python [-X perf] suite_worker.py CONFIG STATUS_JSON BENCH_SCRIPT [pyperf args]

pyperf's usual runner spawns its own worker processes and passes them neither
-X options nor most of the environment; here the worker is this process, so
the switch is made, and checked, where the benchmark runs.  STATUS_JSON gets
{"pid": ..., "active": ...}: suite.py refuses a figure whose configuration
was not on (or "off"/"bare" one that was).

Timing is the process's CPU time (time.process_time stands in for
time.perf_counter, which pyperf and the benchmarks read): the machine may be
shared, and time spent waiting for the other core is not the interpreter's.
"""
import json
import os
import runpy
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def switch_on(config):
    sys.path.insert(0, HERE)
    import workloads  # noqa: E402  (activate(): floor and perftramp-*)

    del sys.path[0]
    workloads.activate(config)


def active(config):
    """Whether what `config` names is on, as the interpreter itself reports."""
    cpython = getattr(sys, "is_stack_trampoline_active", None)
    if config.startswith("cpython-"):
        return bool(cpython and cpython())
    if config.startswith("perftramp-"):
        import perftramp

        return perftramp.is_stack_trampoline_active()
    if config == "floor":
        return True  # _floor() raises if it cannot install the hook
    # off / bare: nothing may be on
    on = bool(cpython and cpython())
    if "perftramp" in sys.modules:
        on = on or sys.modules["perftramp"].is_stack_trampoline_active()
    return not on


def main():
    config, status_path, script = sys.argv[1:4]
    switch_on(config)
    with open(status_path, "w") as f:
        json.dump({"pid": os.getpid(), "active": active(config)}, f)
    time.perf_counter = time.process_time
    sys.argv = [script] + sys.argv[4:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
