"""The benchmark suite: perftramp beside CPython's own perf support.

    python benchmarks/run.py                 # regenerates benchmarks/RESULTS.md
    python benchmarks/run.py --rounds 3 --python pyenv-3.12.1 --workload fib
    PERFTRAMP_PYTHONS=/opt/perftramp-py314/fp/bin/python3.14 \
        python benchmarks/run.py --rounds 3 --append "3.14"
                                             # a new section after the older ones
    scripts/in-sid.sh build/sid-tools/bin/python benchmarks/run.py --append ...
                                             # the sid root's python3.14/3.15
                                             # (sid-tools: make test-py-sid)

The interpreters are the tests' (tests/python/interpreters.py: pyenv's, the
system's, the frame-pointer builds, /opt/perftramp-py314/{fp,ft}; inside the
sid root, its python3.X), or PERFTRAMP_PYTHONS's.  PERFTRAMP_BENCH_ROUNDS sets
the default of --rounds (7).

For every interpreter (those the tests use, each with perftramp installed in
its venv) and every workload, each configuration is run in a fresh process,
the configurations interleaved round by round so that drift in the machine
hits them alike; a figure is the median over the rounds, and every ratio is
taken against "off" measured in the same rounds.

Configurations: off; floor (a no-op PEP 523 hook, the least any trampoline
can cost); perftramp-perf and perftramp-perf_jit; cpython-perf (3.12+) and
cpython-perf_jit (3.13+), CPython's own.  Workloads: see workloads.py; the
"register" workload calls 50,000 freshly made functions once each.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))

import interpreters  # noqa: E402  (the tests' CPythons and their venvs)

CALL_HEAVY = ["fib", "methods", "closures", "generators"]
WORKLOADS = CALL_HEAVY + ["mix", "register", "stack"]
# perf copies at most this much of the stack per sample for DWARF unwinding
# (--call-graph dwarf's largest size, 65,528 bytes): Python frames deeper than
# it fits go unseen.
DWARF_STACK_COPY = 65528
UNTIMED = ("register", "stack")


def configs_for(version):
    configs = ["off", "floor", "perftramp-perf", "perftramp-perf_jit", "perftramp-perf_elf"]
    if version >= (3, 12):
        configs.append("cpython-perf")
    if version >= (3, 13):
        configs.append("cpython-perf_jit")
    return configs


def pid_files(pid, tmp):
    """The map, dump or ELF image a benchmark process `pid` may have left
    (CPython's in /tmp, perftramp's backend directories pointed at tmp)."""
    return [path for path in ("/tmp/perf-%d.map" % pid, "/tmp/jit-%d.dump" % pid,
                              os.path.join(tmp, "jit-%d.dump" % pid),
                              os.path.join(tmp, "perf-elf-%d.so" % pid))
            if os.path.exists(path)]


def run_one(python, config, workload, tmp):
    argv = [python.exe]
    if config == "cpython-perf":
        argv += ["-X", "perf"]
    elif config == "cpython-perf_jit":
        argv += ["-X", "perf_jit"]
    env = dict(os.environ, PERFTRAMP_JITDUMP_DIR=tmp, PERFTRAMP_ELF_DIR=tmp)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT"):
        env.pop(name, None)
    out = subprocess.run(argv + [str(HERE / "workloads.py"), config, workload], env=env,
                         capture_output=True, text=True, cwd=tmp, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("%s %s %s failed:\n%s" % (python.label, config, workload,
                                                     out.stderr))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    pid = result["pid"]
    for path in pid_files(pid, tmp):
        # on disk, not the apparent size: perf_elf's image is sparse
        result.setdefault("file_bytes", os.lstat(path).st_blocks * 512)
        os.unlink(path)
    return result


def measure(python, workloads, rounds):
    configs = configs_for(python.version)
    samples = {(w, c): [] for w in workloads for c in configs}
    rss = {(w, c): [] for w in workloads for c in configs}
    extra = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for w in workloads:
                # rotate the order each round
                order = configs[r % len(configs):] + configs[:r % len(configs)]
                for c in order:
                    res = run_one(python, c, w, tmp)
                    samples[(w, c)].append(res["seconds"])
                    rss[(w, c)].append(res.get("rss_growth", 0))
                    extra[(w, c)] = res
    medians = {k: statistics.median(v) for k, v in samples.items()}
    return configs, medians, extra, rss


def fmt_ratio(x):
    return "%.2f×" % x


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    perf = subprocess.run(["perf", "version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("perf") else "perf not installed"
    return "%s, %d cores, Linux %s, %s" % (model or platform.machine(), os.cpu_count(),
                                            platform.release(), perf)


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int,
                    default=int(os.environ.get("PERFTRAMP_BENCH_ROUNDS") or 7))
    ap.add_argument("--python", action="append", help="interpreter label(s), e.g. pyenv-3.12.1")
    ap.add_argument("--workload", action="append", choices=WORKLOADS)
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--append", metavar="TITLE",
                    help="add the results to --output as a section of this title, keeping "
                    "what is there, instead of rewriting it")
    return ap.parse_args()


def ratio_rows(workloads, med, others):
    """A row per timed workload: the time with "off", then each other
    configuration's time as a ratio to it."""
    rows = []
    for w in workloads:
        if w in UNTIMED:
            continue
        off = med[(w, "off")]
        cells = [fmt_ratio(med[(w, c)] / off) for c in others]
        rows.append("| %s | %.4f | %s |" % (w, off, " | ".join(cells)))
    return rows


def register_rows(med, extra, rss, others):
    """The register workload's rows: per fresh function, the extra time, the
    map/dump bytes, the arena bytes per trampoline and the resident memory."""
    off = med[("register", "off")]
    n = extra[("register", "off")]["functions"]
    cells = ["%.0f ns" % ((med[("register", c)] - off) / n * 1e9) for c in others]
    rows = ["| register: extra time per fresh function (%d) | %.4f | %s |"
            % (n, off, " | ".join(cells))]
    cells = []
    for c in others:
        b = extra[("register", c)].get("file_bytes")
        cells.append("%.0f B" % (b / n) if b else "-")
    rows.append("| register: map/dump bytes per function | - | %s |" % " | ".join(cells))
    cells = []
    for c in others:
        st = extra[("register", c)].get("stats")
        if st and st["trampolines"]:
            cells.append("%.0f B" % (st["arena_bytes"] / st["trampolines"]))
        else:
            cells.append("-")
    rows.append("| register: arena bytes per trampoline | - | %s |" % " | ".join(cells))
    off_rss = statistics.median(rss[("register", "off")])
    cells = ["%.0f B" % ((statistics.median(rss[("register", c)]) - off_rss) / n)
             for c in others]
    rows.append("| register: resident memory per function, beyond off | - | %s |"
                % " | ".join(cells))
    return rows


def stack_rows(extra, configs):
    """The stack workload's rows: C stack bytes per Python-to-Python call, and
    how many such calls fit in perf's DWARF stack copy.  "off" is in the
    rows: without a hook, 3.11+ inlines these calls into one C frame."""
    configs = ["off"] + configs
    per_call = [extra[("stack", c)]["stack_bytes"] for c in configs]
    rows = ["| stack: C bytes per Python call | %s |"
            % " | ".join("%.0f B" % b for b in per_call)]
    rows.append("| stack: Python frames per %s bytes (DWARF copy) | %s |"
                % (format(DWARF_STACK_COPY, ","),
                   " | ".join("%d" % (DWARF_STACK_COPY // b) if b >= 1 else "all"
                              for b in per_call)))
    return rows


def interpreter_section(interp, workloads, rounds):
    """Measures one interpreter; returns its section of the results."""
    python = interpreters.ready(interp)
    print("benchmarks: %s" % python.label, file=sys.stderr, flush=True)
    configs, med, extra, rss = measure(python, workloads, rounds)
    others = [c for c in configs if c != "off"]
    lines = ["\n### %s\n" % python.label,
             "| workload | off (s) | " + " | ".join(others) + " |",
             "|---|---|" + "---|" * len(others)]
    lines += ratio_rows(workloads, med, others)
    if "register" in workloads:
        lines += register_rows(med, extra, rss, others)
    if "stack" in workloads:
        lines += stack_rows(extra, others)
    return lines


def results_head(rounds, now):
    """The head of a results file of its own."""
    return [
        "# Benchmark results",
        "",
        "Generated by `python benchmarks/run.py --rounds %d` on %s." % (rounds, now),
        "",
        "Machine: %s." % machine(),
        "",
        "Each cell is the median time with that configuration divided by the median",
        "time with nothing switched on (\"off\"), same interpreter, same rounds; every",
        "process runs the workload once to warm up (so trampolines are made before",
        "the clock starts), then times it 5 times and keeps the fastest.  "
        "`floor` is a no-op PEP 523 hook: no",
        "trampoline can cost less.  `cpython-*` are CPython's own `-X perf` /",
        "`-X perf_jit`.  The register rows give the extra time for a first call to",
        "each of 50,000 fresh functions (a trampoline and a map/dump entry each).",
    ]


def appended_head(title, rounds, now):
    """The head of a section added to an existing results file."""
    return ["", "## %s" % title, "",
            "Added by `python benchmarks/run.py --rounds %d --append ...` on %s;"
            % (rounds, now),
            "machine: %s.  Cells as above." % machine()]


def main():
    args = parse_args()
    workloads = args.workload or WORKLOADS
    interps = [i for i in interpreters.INTERPRETERS if not args.python or i.label in args.python]
    lines = []
    for interp in interps:
        lines += interpreter_section(interp, workloads, args.rounds)

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if args.append:
        head = appended_head(args.append, args.rounds, now)
        with open(args.output, "a") as out:
            out.write("\n".join(head + lines) + "\n")
    else:
        head = results_head(args.rounds, now)
        Path(args.output).write_text("\n".join(head + lines) + "\n")
    print("\n".join(head + lines))


if __name__ == "__main__":
    main()
