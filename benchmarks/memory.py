"""Resident memory per Python function: perftramp's backends against nothing
and against CPython's own -X perf.

    python benchmarks/memory.py [-n 100000] [--python EXE ...]

Each configuration runs in a fresh process (the interpreter's venv, as the
tests build it): it makes N distinct functions first (so that their code
objects are in the baseline), reads RSS, calls each once (the first call
makes the trampoline), reads RSS again.  Reported: growth per function over
those calls, split as /proc/self/status does (anonymous memory, file pages,
shared memory: a map or dump on tmpfs is shmem), and minus the same growth
with nothing on ("net").  The map or dump each process wrote is removed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

import interpreters  # noqa: E402  (the tests' CPythons and their venvs)

CHILD = r"""
import gc, json, os, sys
config, n = sys.argv[1], int(sys.argv[2])

def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(value.split()[0]) * 1024
    return out

funcs = []
for i in range(n):
    space = {}
    exec("def f%d(): return %d" % (i, i), space)
    funcs.append(space["f%d" % i])
if config.startswith("perftramp-"):
    import perftramp
    perftramp.activate_stack_trampoline(config.split("-", 1)[1])
    def warm(): return 0
    warm()
gc.collect()
before = status()
for f in funcs:
    f()
gc.collect()
after = status()
print(json.dumps({"pid": os.getpid(),
                  "growth": {k: after[k] - before[k] for k in before}}))
"""


def configs_for(version):
    configs = ["off", "perftramp-perf", "perftramp-perf_jit", "perftramp-perf_elf"]
    if version >= (3, 12):
        configs.append("cpython-perf")
    return configs


def run(python, config, n, tmp):
    argv = [python.exe]
    if config == "cpython-perf":
        argv += ["-X", "perf"]
    env = dict(os.environ, PERFTRAMP_JITDUMP_DIR=tmp, PERFTRAMP_ELF_DIR=tmp)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PERFTRAMP_ACTIVATE"):
        env.pop(name, None)
    out = subprocess.run(argv + ["-c", CHILD, config, str(n)], env=env, capture_output=True,
                         text=True, timeout=600, cwd=tmp)
    if out.returncode != 0:
        raise RuntimeError("%s %s failed:\n%s" % (python.label, config, out.stderr))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for path in ("/tmp/perf-%d.map" % result["pid"],
                 os.path.join(tmp, "jit-%d.dump" % result["pid"]),
                 os.path.join(tmp, "perf-elf-%d.so" % result["pid"])):
        if os.path.exists(path):
            os.unlink(path)
    return result["growth"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100000, help="functions (default 100000)")
    parser.add_argument("--python", action="append", help="interpreters (default: all)")
    args = parser.parse_args()
    interps = interpreters.INTERPRETERS
    if args.python:
        interps = [i for i in interps if i.base in args.python or i.label in args.python]
    print("N = %d functions; bytes per function (RSS = anon + file + shmem)" % args.n)
    print("%-22s %-20s %8s %8s %8s %8s %8s" % ("python", "config", "RSS", "anon", "file",
                                              "shmem", "net"))
    with tempfile.TemporaryDirectory() as tmp:
        for interp in interps:
            python = interpreters.ready(interp)
            base = None
            for config in configs_for(python.version):
                g = run(python, config, args.n, tmp)
                per = {k: v / args.n for k, v in g.items()}
                if base is None:
                    base = per["VmRSS"]
                print("%-22s %-20s %8.1f %8.1f %8.1f %8.1f %8.1f" % (
                    python.label, config, per["VmRSS"], per["RssAnon"], per["RssFile"],
                    per["RssShmem"], per["VmRSS"] - base))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
