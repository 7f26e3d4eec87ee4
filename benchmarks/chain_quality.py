"""How often perf shows the whole Python chain, per interpreter and backend.

    python benchmarks/chain_quality.py            # every interpreter the tests use
    scripts/in-sid.sh build/sid-tools/bin/python benchmarks/chain_quality.py
                                                  # the sid root's, with its perf 7.x
                                                  # (sid-tools: make test-py-sid makes it)

Records the seed document's example (20M iterations) with real perf, as the
end-to-end tests do, and prints, per interpreter and backend, the samples
inside foo and the share of them whose Python frames read
foo < bar < baz < <module>.  "perf" uses frame-pointer unwinding (-g) and so
needs a frame-pointer interpreter (not measured on the others); "perf_jit"
uses DWARF unwinding and perf inject --jit, with the dump in /tmp/jitted-*
(what perf 7.x's libdw unwinder needs, see src/perftramp/recording/jitdir.py).
PERFTRAMP_PYTHONS chooses the interpreters, as for the tests.
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import interpreters  # noqa: E402  (the tests' CPythons and their venvs)
import processes  # noqa: E402  (pid_files: the files a process left in /tmp)
from perfscript import chain_ok, samples  # noqa: E402

RUN = ("import os, runpy, sys, perftramp\n"
       "print(os.getpid())\n"
       "perftramp.activate_stack_trampoline(sys.argv[2])\n"
       "runpy.run_path(sys.argv[1], run_name='__main__')\n")


def measure(python, backend, work):
    script = work / "my_script.py"
    script.write_text((ROOT / "examples" / "my_script.py").read_text()
                      .replace("baz(1000000)", "baz(20000000)"))
    data = work / "perf.data"
    graph = ["-g"] if backend == "perf" else ["-k", "1", "--call-graph", "dwarf"]
    env = dict(os.environ, PERFTRAMP_JITDUMP_DIR=str(work))
    since = time.time()
    run = subprocess.run(["perf", "record", "-q", "-N", "-F", "999"] + graph
                         + ["-o", str(data), "--", python.exe, "-c", RUN, str(script), backend],
                         check=True, env=env, capture_output=True, text=True)
    if backend == "perf_jit":
        jit = work / "perf.jit.data"
        subprocess.run(["perf", "--buildid-dir", "/dev/null/perftramp-no-build-id-cache",
                        "inject", "-i", str(data), "--jit", "-o", str(jit)],
                       check=True, capture_output=True)
        data = jit
    got = samples(data)
    for path in processes.pid_files(int(run.stdout.split()[0]), since):
        os.unlink(path)  # the map of the "perf" backend, in /tmp, once read
    foo = [s for s in got if any(f.startswith("py::foo:") for f in s)]
    chain = ["py::%s:%s" % (f, script) for f in ("foo", "bar", "baz", "<module>")]
    good = sum(chain_ok(s, chain) for s in foo)
    return len(got), len(foo), good


def main():
    perf = subprocess.run(["perf", "version"], capture_output=True, text=True).stdout.split()
    print("| interpreter | frame pointers | perf | backend | samples | in foo | whole chain |")
    print("|---|---|---|---|---|---|---|")
    for interp in interpreters.INTERPRETERS:
        python = interpreters.ready(interp)
        for backend in ("perf", "perf_jit"):
            if backend == "perf" and not interp.frame_pointers:
                continue
            with tempfile.TemporaryDirectory(prefix="jitted-chain-", dir="/tmp") as tmp:
                total, foo, good = measure(python, backend, Path(tmp))
            share = "%.1f%%" % (100.0 * good / foo) if foo else "-"
            print("| %s | %s | %s | %s | %d | %d | %s |" % (
                interp.label, "yes" if interp.frame_pointers else "no", perf[-1], backend,
                total, foo, share), flush=True)


if __name__ == "__main__":
    main()
