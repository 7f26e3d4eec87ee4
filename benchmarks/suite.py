"""pyperformance's benchmarks with perftramp and CPython's own perf support.

    python benchmarks/suite.py                    # every interpreter here
    python benchmarks/suite.py --rounds 3 --python pyenv-3.13.0 --bench richards
    python benchmarks/suite.py --append "3.14 and 3.15 (sid root)" # a later run
    scripts/in-sid.sh build/sid-tools/bin/python benchmarks/suite.py --append ...

The benchmarks are pyperformance's own scripts (PyPI's pyperformance wheel,
pinned below, unpacked into build/pyperformance), run by pyperf (from PyPI,
installed into each interpreter's venv) in its worker mode inside processes
started here: benchmarks/suite_worker.py switches the configuration on,
checks that it is on, and times CPU time.  Interpreters: the tests' (see
tests/python/interpreters.py; PERFTRAMP_PYTHONS), each with two venvs: the
tests' one with perftramp installed, and a "bare" one without it, the
reference every ratio is taken against.

Configurations: bare (no perftramp installed); off (installed, nothing on);
floor (a no-op PEP 523 hook: the least any trampoline can cost on 3.11+,
where any hook turns off inlined Python calls); perftramp-perf, -perf_jit,
-perf_elf; cpython-perf (3.12+) and cpython-perf_jit (3.13+), CPython's own
-X perf / -X perf_jit.  Each round runs every benchmark in every
configuration once, the order rotated from round to round; a process gives
the mean of its values (after one warm-up), a cell the median over rounds.
The loop count of each benchmark is calibrated once per interpreter (bare),
so that every configuration runs the same work.
"""
import argparse
import datetime
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(HERE))

import run as microbench  # noqa: E402  (configs_for, machine)

import interpreters  # noqa: E402  (the tests' CPythons and their venvs)

PYPERFORMANCE = "pyperformance==1.14.0"
PYPERF = "pyperf"  # pip picks the newest that the interpreter supports
CACHE = ROOT / "build" / "pyperformance"
BENCHMARKS = ["richards", "deltablue", "go", "chaos", "hexiom", "float", "generators",
              "coroutines", "regex_compile", "spectral_norm", "nbody"]
# Their time is mostly Python-to-Python calls: where the floor shows.
CALL_HEAVY = ["richards", "deltablue", "go", "chaos", "hexiom", "generators", "coroutines"]
VALUE_SECONDS = 0.1  # CPU time of one value, as calibrated
PERFTRAMP = ["perftramp-perf", "perftramp-perf_jit", "perftramp-perf_elf"]


def configs_for(version):
    rest = microbench.configs_for(version)  # off, floor, perftramp-*, cpython-*
    return ["bare"] + rest


def benchmark_scripts():
    """{name: path of run_benchmark.py}, from the pinned wheel, fetched once."""
    out = CACHE / "benchmarks"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        wheels = CACHE / "wheel"
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "-d", str(wheels), PYPERFORMANCE],
                       check=True, capture_output=True)
        wheel = next(wheels.glob("pyperformance-*.whl"))
        staging = Path(tempfile.mkdtemp(dir=CACHE))
        prefix = "pyperformance/data-files/benchmarks/"
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith(prefix) and name.split("/")[3][3:] in BENCHMARKS:
                    z.extract(name, staging)
        (staging / prefix).rename(out)
        shutil.rmtree(staging)
    return {name: out / ("bm_" + name) / "run_benchmark.py" for name in BENCHMARKS}


def pip_install(python, *args):
    out = subprocess.run([python, "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check"] + list(args),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("pip install %s failed:\n%s" % (" ".join(args), out.stderr))


def venvs(interp):
    """(interpreter with perftramp and pyperf, python of the bare venv)."""
    ready = interpreters.ready(interp)
    pip_install(ready.exe, PYPERF)
    bare = interpreters.VENVS / ("bare-" + interp.label)
    exe = bare / "bin" / "python"
    if not exe.exists():
        interpreters.make_venv(interp.base, bare)
        pip_install(str(exe), PYPERF)
    return ready, str(exe)


def run_worker(exe, config, script, tmp, loops, values, warmups):
    argv = [exe]
    if config == "cpython-perf":
        argv += ["-X", "perf"]
    elif config == "cpython-perf_jit":
        argv += ["-X", "perf_jit"]
    status = os.path.join(tmp, "status.json")
    result = os.path.join(tmp, "result.json")
    for path in (status, result):
        if os.path.exists(path):
            os.unlink(path)
    env = dict(os.environ, PERFTRAMP_JITDUMP_DIR=tmp, PERFTRAMP_ELF_DIR=tmp)
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT"):
        env.pop(name, None)
    argv += [str(HERE / "suite_worker.py"), config, status, str(script), "--worker",
             "--loops", str(loops), "--values", str(values), "--warmups", str(warmups),
             "--output", result]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tmp,
                         timeout=900)
    pid = None
    if os.path.exists(status):
        with open(status) as f:
            state = json.load(f)
        pid = state["pid"]
        for path in microbench.pid_files(pid, tmp):
            os.unlink(path)
    if out.returncode != 0 or pid is None:
        raise RuntimeError("%s %s failed:\n%s" % (config, script.parent.name, out.stderr))
    if not state["active"]:
        raise RuntimeError("%s %s: the configuration was not in effect in the worker"
                           % (config, script.parent.name))
    with open(result) as f:
        data = json.load(f)
    seconds = [v for run in data["benchmarks"][0]["runs"] for v in run.get("values", [])]
    return statistics.mean(seconds)


def calibrate(exe, script, tmp):
    one = run_worker(exe, "bare", script, tmp, 1, 1, 0)
    return max(1, round(VALUE_SECONDS / one))


def measure(interp, benches, rounds, values, log):
    ready, bare = venvs(interp)
    configs = configs_for(interp.version)
    scripts = benchmark_scripts()
    cells = {(b, c): [] for b in benches for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        loops = {b: calibrate(bare, scripts[b], tmp) for b in benches}
        for r in range(rounds):
            for b in benches:
                order = configs[r % len(configs):] + configs[:r % len(configs)]
                for c in order:
                    exe = bare if c == "bare" else ready.exe
                    cells[(b, c)].append(run_worker(exe, c, scripts[b], tmp, loops[b],
                                                    values, 1))
            log("  %s: round %d of %d" % (interp.label, r + 1, rounds))
    medians = {k: statistics.median(v) for k, v in cells.items()}
    return configs, medians, loops, cells


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def ratios(configs, medians, benches):
    """{config: {bench: ratio to bare}}"""
    return {c: {b: medians[(b, c)] / medians[(b, "bare")] for b in benches}
            for c in configs}


def per_round_over_floor(configs, cells, benches, rounds):
    """{config: [the suite's geometric mean over the floor, one per round]}:
    each round's cells against the same round's floor (one round runs every
    configuration of a benchmark back to back), so that the rounds' range
    says how far one measurement of the headline figure can be trusted."""
    out = {}
    for c in configs:
        if c in ("bare", "off", "floor"):
            continue
        out[c] = [geomean([cells[(b, c)][i] / cells[(b, "floor")][i] for b in benches])
                  for i in range(rounds)]
    return out


def headline(results):
    """The table of geometric means, one row per interpreter."""
    columns = ["off", "floor", "cpython-perf", "cpython-perf_jit"] + PERFTRAMP
    lines = ["| interpreter | " + " | ".join(columns) + " |",
             "|---|" + "---|" * len(columns)]
    for label, (configs, r, _benches, _rounds) in results.items():
        row = []
        for c in columns:
            row.append("%.3f" % geomean(r[c].values()) if c in configs else "–")
        lines.append("| %s | %s |" % (label, " | ".join(row)))
    return lines


def over_floor(results):
    """perftramp's cost above the floor: the suite's geometric mean, and the
    worst call-heavy benchmark."""
    lines = ["| interpreter | backend | geomean over floor | rounds' range | "
             "against CPython's -X perf | worst call-heavy benchmark |",
             "|---|---|---|---|---|---|"]
    for label, (configs, r, benches, rounds) in results.items():
        for c in PERFTRAMP + ["cpython-perf", "cpython-perf_jit"]:
            if c not in configs:
                continue
            over = {b: r[c][b] / r["floor"][b] for b in benches}
            heavy = [b for b in benches if b in CALL_HEAVY] or benches
            worst = max(heavy, key=over.get)
            if "cpython-perf" in configs and c != "cpython-perf":
                against = "%+.1f%%" % ((geomean(r[c].values())
                                        / geomean(r["cpython-perf"].values()) - 1) * 100)
            else:
                against = "–"
            lines.append("| %s | %s | %+.1f%% | %+.1f%% … %+.1f%% | %s | %s %+.1f%% |"
                         % (label, c, (geomean(over.values()) - 1) * 100,
                            (min(rounds[c]) - 1) * 100, (max(rounds[c]) - 1) * 100,
                            against, worst, (over[worst] - 1) * 100))
    return lines


def detail(label, configs, r, benches, loops, medians):
    lines = ["### %s" % label, "",
             "| benchmark | loops | bare (ms) | " + " | ".join(configs[1:]) + " |",
             "|---|---|---|" + "---|" * (len(configs) - 1)]
    for b in benches:
        lines.append("| %s | %d | %.2f | %s |" % (
            b, loops[b], medians[(b, "bare")] * 1000,
            " | ".join("%.3f" % r[c][b] for c in configs[1:])))
    return lines + [""]


SID_PYTHON = ROOT / "build" / "sid-tools" / "bin" / "python"  # made by make test-py-sid


def in_sid(args):
    """The same run inside the Debian sid root (its python3.14/3.15, perf 7.x):
    one command measures every interpreter CI has."""
    with tempfile.NamedTemporaryFile(dir=ROOT / "build", suffix=".json") as f:
        argv = ["scripts/in-sid.sh", str(SID_PYTHON), "benchmarks/suite.py", "--json", f.name,
                "--rounds", str(args.rounds), "--values", str(args.values)]
        for b in args.bench or []:
            argv += ["--bench", b]
        for p in args.python or []:
            argv += ["--python", p]
        # a private /tmp for the root; /opt/perftramp-py314's 3.14t is not
        # mounted in: the host's run measures it
        tmp = ROOT / "build" / "sid-tmp-suite"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        env = dict(os.environ, PERFTRAMP_SID_TMP=str(tmp))
        env.pop("PERFTRAMP_SID_BIND", None)
        subprocess.run(argv, check=True, cwd=ROOT, env=env)
        shutil.rmtree(tmp, ignore_errors=True)
        with open(f.name) as g:
            data = json.load(g)
    return data["results"], data["details"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--values", type=int, default=3, help="values per process")
    ap.add_argument("--python", action="append", help="interpreter label(s)")
    ap.add_argument("--bench", action="append", choices=BENCHMARKS)
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--append", metavar="TITLE",
                    help="add a section to --output instead of the suite's own section")
    ap.add_argument("--no-sid", action="store_true",
                    help="leave out the Debian sid root's interpreters")
    ap.add_argument("--json", help=argparse.SUPPRESS)  # the sid root's half, for the host
    args = ap.parse_args()
    benches = args.bench or BENCHMARKS
    interps = [i for i in interpreters.INTERPRETERS if not args.python or i.label in args.python]
    # SID_PYTHON links to the root's python3.14, absent outside the root
    sid = (not (args.no_sid or args.json or interpreters.in_sid_root())
           and SID_PYTHON.is_symlink() and Path("/opt/perftramp-sid/.perftramp-sid").exists())
    if not interps and not sid and not args.json:
        sys.exit("suite: no interpreter matches %s" % args.python)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    results, details = {}, []
    for interp in interps:
        log("suite: %s" % interp.label)
        configs, medians, loops, cells = measure(interp, benches, args.rounds, args.values,
                                                 log)
        r = ratios(configs, medians, benches)
        results[interp.label] = (configs, r, benches,
                                 per_round_over_floor(configs, cells, benches, args.rounds))
        details += detail(interp.label, configs, r, benches, loops, medians)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "details": details}, f)
        return
    if sid:
        sid_results, sid_details = in_sid(args)
        results.update(sid_results)
        details += sid_details

    write_section(args, benches, results, details)


def write_section(args, benches, results, details):
    """The run's section of --output (replacing one of the same title)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/suite.py " + " ".join(sys.argv[1:])
    text = ["## %s" % (args.append or "pyperformance suite"), "",
            "By `%s` on %s; %s." % (command.strip(), now, microbench.machine()),
            "%d rounds, %d values per process after a warm-up, CPU time; each cell is the "
            "median over rounds divided by the same benchmark on the same interpreter "
            "without perftramp installed (bare); the first table gives geometric means "
            "over %s.  The second table gives perftramp's and CPython's cost over the "
            "floor (a no-op hook), the range of that figure over the rounds (each round "
            "against its own floor), and the geometric mean against CPython's own "
            "-X perf." % (args.rounds, args.values, ", ".join(benches)), ""]
    text += headline(results) + [""] + over_floor(results) + [""] + details
    section = "\n".join(text) + "\n"
    out = Path(args.output)
    old = out.read_text() if out.exists() else ""
    marker = "## " + (args.append or "pyperformance suite")
    if marker in old:
        start = old.index(marker)
        nxt = old.find("\n## ", start + 1)
        old = old[:start] + (old[nxt + 1:] if nxt >= 0 else "")
    out.write_text(old.rstrip("\n") + "\n\n" + section if old.strip() else section)
    print(section)


if __name__ == "__main__":
    main()
