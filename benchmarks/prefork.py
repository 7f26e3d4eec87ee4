"""A pre-fork server's shape: what each forked worker pays to name Python
functions, with and without trampolines made ahead in the parent.

    python benchmarks/prefork.py [--functions 20000] [--workers 8] [--python LABEL ...]

The parent activates a backend, imports an application of N functions
(generated, one module), optionally makes every trampoline ahead
(perftramp.compile_trampolines; for CPython 3.13's own backend its
PyUnstable_PerfTrampoline_CompileCode and SetPersistAfterFork, through
_testinternalcapi), and forks W workers.  Each worker serves one "request"
that calls every function once (the first call in that worker), then a
second that calls them again: the difference in CPU time is what naming
them cost the worker.  Reported per configuration: the workers' median
extra time per request, their trampolines made, and the bytes of their own
map or dump.  Files of the processes started here are removed.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
sys.path.insert(0, str(HERE))

from run import pid_files  # noqa: E402  (the files a benchmark process leaves)

import interpreters  # noqa: E402  (the tests' CPythons and their venvs)

PARENT = r"""
import json, os, sys, time
config, n_workers, app_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
backend = config.split("-")[1].split("+")[0]
precompile = config.endswith("+precompile")
if config.startswith("perftramp-"):
    import perftramp
    perftramp.activate_stack_trampoline(backend)
else:
    sys.activate_stack_trampoline(backend)
sys.path.insert(0, app_dir)
import app
if precompile:
    if config.startswith("perftramp-"):
        perftramp.set_persist_after_fork(True)
        perftramp.compile_trampolines(app)
    else:
        import _testinternalcapi as capi
        capi.perf_trampoline_set_persist_after_fork(1)
        for f in app.FUNCTIONS:
            capi.compile_perf_trampoline_entry(f.__code__)

def made():
    if config.startswith("perftramp-"):
        return perftramp._perftramp._stats(backend)["trampolines"]
    return -1  # CPython does not say

def request():
    t = time.process_time()
    for f in app.FUNCTIONS:
        f()
    return time.process_time() - t

workers = []
for _ in range(n_workers):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        before = made()
        first, second = request(), request()
        os.write(w, json.dumps({"pid": os.getpid(), "first": first, "second": second,
                                "made": made() - before if before >= 0 else None}).encode())
        os._exit(0)
    os.close(w)
    workers.append((pid, r))
out = []
for pid, r in workers:
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    out.append(json.loads(data))
print(json.dumps({"pid": os.getpid(), "workers": out}))
"""


def write_app(directory, n):
    lines = ["def f%d():\n    return %d\n" % (i, i) for i in range(n)]
    lines.append("FUNCTIONS = [%s]\n" % ", ".join("f%d" % i for i in range(n)))
    (Path(directory) / "app.py").write_text("".join(lines))


def configs_for(version):
    out = []
    for backend in ("perf", "perf_jit"):
        out += ["perftramp-%s" % backend, "perftramp-%s+precompile" % backend]
    if version >= (3, 13):
        out += ["cpython-perf", "cpython-perf+precompile"]
    if version >= (3, 14):  # 3.13's sys refuses perf_jit (gh-141579)
        out += ["cpython-perf_jit", "cpython-perf_jit+precompile"]
    return out


def run(python, config, workers, app_dir, tmp):
    env = dict(os.environ, PERFTRAMP_JITDUMP_DIR=tmp)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT"):
        env.pop(name, None)
    out = subprocess.run([python.exe, "-c", PARENT, config, str(workers), app_dir],
                         env=env, capture_output=True, text=True, cwd=tmp, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("%s %s failed:\n%s" % (python.label, config, out.stderr))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    sizes = {}
    for pid in [result["pid"]] + [w["pid"] for w in result["workers"]]:
        paths = pid_files(pid, tmp)
        sizes[pid] = sum(os.path.getsize(path) for path in paths)
        for path in paths:
            os.unlink(path)
    ws = result["workers"]
    return {
        "extra_ms": statistics.median((w["first"] - w["second"]) * 1000 for w in ws),
        "made": statistics.median(w["made"] for w in ws) if ws[0]["made"] is not None else None,
        "worker_bytes": statistics.median(sizes[w["pid"]] for w in ws),
        "parent_bytes": sizes[result["pid"]],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--functions", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--python", action="append", help="interpreter label(s)")
    args = ap.parse_args()
    interps = [interpreters.ready(i) for i in interpreters.INTERPRETERS
               if not args.python or i.label in args.python]
    print("| interpreter | configuration | worker's extra CPU per first request (ms) | "
          "trampolines a worker made | worker's own file | parent's file |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        write_app(tmp, args.functions)
        for python in interps:
            for config in configs_for(python.version):
                r = run(python, config, args.workers, tmp, tmp)
                print("| %s | %s | %.1f | %s | %.0f KB | %.0f KB |" % (
                    python.label, config, r["extra_ms"],
                    "?" if r["made"] is None else "%d" % r["made"],
                    r["worker_bytes"] / 1000, r["parent_bytes"] / 1000), flush=True)


if __name__ == "__main__":
    main()
