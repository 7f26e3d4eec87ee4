"""Real programs from PyPI through perftramp's own CLI, with its defaults.

    python benchmarks/real_programs.py                      # prints the tables
    python benchmarks/real_programs.py --append "AFTER (main abc1234)"
                                                            # and appends them to RESULTS.md
    python benchmarks/real_programs.py --source /work/wt-x --workload deep --seconds 5

For each interpreter (--python LABEL=PATH, repeatable; by default pyenv's
3.11.7, whose lack of frame pointers makes `record` choose perf_jit, and the
frame-pointer 3.11 under /opt/perftramp-fp, where it chooses perf) a venv
build/real-programs/venvs/LABEL gets the pinned workloads of
benchmarks/real/requirements.txt from PyPI (once) and perftramp from
--source (default: the tree this script is in; reinstalled whenever that
tree's sources differ from the installed ones).  Each workload of
benchmarks/real/ then runs

    plain:     python PROG.py                               (no perf)
    recorded:  perftramp record -- python PROG.py           (defaults, in an empty dir)
               perftramp report DIR                         (text, twice)
               perftramp report DIR --format collapsed      (what the chain figures read)
               perftramp report DIR --format html -o flame.html

with HOME pointed at a new empty directory.  The recording directory is
opaque: whatever record made in the empty working directory is counted,
files recursively.

Figures (per workload and interpreter):
  window       main-thread samples taken while the script's <module> ran: the
               workloads name their main thread "rp-main" (prctl) as their
               first statement and "rp-done" after the last (benchmarks/
               real/_window.py), and other threads "rp-worker"
               (numpy_loop.py begins its window after `import numpy`, whose
               OpenBLAS threads would inherit the name), and the collapsed
               report starts every stack with the thread's name;
               start-up before the script and shutdown after it are outside
  unbroken     of the window's samples, those whose collapsed stack holds the
               script's own frame "py::<module>:.../PROG.py" (the chain was
               unwound all the way from the sampled function to the script)
  py frame     of the window's samples, those with any "py::" frame
  files, MB    the recording directory after `record` (all files, recursive)
  HOME         bytes of everything written under the fresh HOME by record and
               the reports (perf's build-id cache ~/.debug included);
               ~/.debug: growth of the real HOME's (`perf` honours HOME, so it
               should stay 0; other users of this machine may write there too)
  plain s      the program's own time (its <module> body) without perf;
               plain wall s: the whole run's, interpreter start and exit included
  py::foo      many_functions.py's hot chain: of the window's samples with a
               py::foo frame, those unbroken to <module>
  own s        the same under `perftramp record`; record s: record's wall time
  report s     wall time of each report in the order run
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REAL = HERE / "real"
BUILD = ROOT / "build" / "real-programs"
RESULTS = HERE / "RESULTS.md"
WORKLOADS = {
    "deep": ("deep.py", "sympy + networkx"),
    "numpy": ("numpy_loop.py", "Python driving numpy"),
    "black": ("black_format.py", "black (mypyc)"),
    "many": ("many_functions.py", "100,000 functions + hot chain"),
}
DEFAULT_PYTHONS = [
    ("pyenv-3.11.7", os.path.expanduser("~/.pyenv/versions/3.11.7/bin/python3.11")),
    ("fp-3.11", "/opt/perftramp-fp/python3.11/bin/python3.11"),
]
#: (name, perftramp report arguments); the collapsed one feeds the figures
REPORTS = [
    ("text", []),
    ("text again", []),
    ("collapsed", ["--format", "collapsed"]),
    ("html", ["--format", "html", "-o", "flame.html"]),
]
MAIN, WORKER, DONE = "rp-main", "rp-worker", "rp-done"


def log(message):
    print(message, file=sys.stderr, flush=True)


def source_digest(source):
    """A digest of the perftramp tree at `source` (what pip would build)."""
    h = hashlib.sha256()
    paths = sorted(p for p in (source / "src").rglob("*") if p.is_file())
    paths += [source / n for n in ("meson.build", "meson.options", "pyproject.toml")]
    for path in paths:
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(source)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def pip(venv, args):
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check"] + args,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("pip install %s failed in %s:\n%s%s"
                         % (" ".join(args), venv, out.stdout, out.stderr))


def make_venv(label, base, source):
    """build/real-programs/venvs/LABEL with the pinned workloads and
    perftramp from `source`, each installed only when missing or changed."""
    venv = BUILD / "venvs" / label
    requirements = REAL / "requirements.txt"
    want_req = hashlib.sha256(requirements.read_bytes() + base.encode()).hexdigest()
    req_stamp = venv / "requirements.sha256"
    if not (req_stamp.exists() and req_stamp.read_text() == want_req):
        log("%s: making %s (workloads from PyPI)" % (label, venv))
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        pip(venv, ["-r", str(requirements)])
        req_stamp.write_text(want_req)
    want_src = str(source) + "\n" + source_digest(source)
    src_stamp = venv / "perftramp-source.txt"
    if not (src_stamp.exists() and src_stamp.read_text() == want_src):
        log("%s: installing perftramp from %s" % (label, source))
        pip(venv, ["--force-reinstall", "--no-deps", str(source)])
        src_stamp.write_text(want_src)
    return venv


def tree_size(path):
    """(files, bytes) of everything under `path`, links not followed."""
    files = size = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + [d for d in dirnames
                                 if os.path.islink(os.path.join(dirpath, d))]:
            files += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
    return files, size


def run_timed(argv, cwd, env, logfile, stdout=None):
    """Runs argv; returns (exit code, seconds).  stderr (and stdout unless
    `stdout` is given) go to `logfile`."""
    with open(logfile, "a") as err:
        err.write("$ %s\n" % " ".join(argv))
        err.flush()
        t = time.perf_counter()
        rc = subprocess.run(argv, cwd=cwd, env=env, stdout=stdout or err, stderr=err).returncode
        return rc, time.perf_counter() - t


def figures(collapsed, script):
    """The chain figures of a collapsed report (see the module's doc)."""
    module = "py::<module>:"
    window = unbroken = python = total = hot = hot_whole = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        if not frames[0].startswith(MAIN):  # the main thread, named by the program
            continue
        window += n
        whole = any(f.startswith(module) and f[len(module):].rpartition(os.sep)[2] == script
                    for f in frames)
        unbroken += n if whole else 0
        if any(f.startswith("py::foo:") for f in frames):  # many_functions' hot chain
            hot += n
            hot_whole += n if whole else 0
        if any(f.startswith("py::") for f in frames):
            python += n
    return {"window": window, "unbroken": unbroken, "pyframes": python, "samples": total,
            "hot": hot, "hot_whole": hot_whole}


def debug_size():
    path = os.path.join(os.path.expanduser("~"), ".debug")
    return tree_size(path)[1] if os.path.isdir(path) else 0


def reports(perftramp, recording, work, env, logfile, collapsed, what):
    """[(report, seconds)]: every report of REPORTS timed, the collapsed one
    written to `collapsed`."""
    took_each = []
    for name, args in REPORTS:
        log("%s: perftramp report %s" % (what, " ".join(args)))
        with open(collapsed if name == "collapsed" else os.devnull, "w") as out:
            rc, took = run_timed([perftramp, "report", str(recording)] + args, work, env,
                                 logfile, stdout=out)
        if rc != 0:
            raise SystemExit("perftramp report %s failed (exit %d); see %s"
                             % (" ".join(args), rc, logfile))
        took_each.append((name, took))
    return took_each


def measure(label, venv, workload, seconds, keep):
    script, _ = WORKLOADS[workload]
    python = str(venv / "bin" / "python")
    perftramp = str(venv / "bin" / "perftramp")
    work = BUILD / "runs" / ("%s-%s" % (label, workload))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    logfile = work.parent / ("%s-%s.log" % (label, workload))
    logfile.write_text("")
    result = work.parent / ("%s-%s.json" % (label, workload))
    prog = str(REAL / script)
    env = dict(os.environ, RP_SECONDS=str(seconds), RP_RESULT=str(result))
    for name in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PERFTRAMP_ACTIVATE"):
        env.pop(name, None)
    row = {"workload": workload, "python": label}

    log("%s %s: plain run" % (label, workload))
    rc, row["plain_wall"] = run_timed([python, prog], work, env, logfile)
    if rc != 0:
        raise SystemExit("%s failed (exit %d); see %s" % (script, rc, logfile))
    row["plain"] = json.loads(result.read_text())["seconds"]
    result.unlink()

    home = Path(tempfile.mkdtemp(prefix="home-", dir=BUILD))
    env["HOME"] = str(home)
    debug_before = debug_size()
    log("%s %s: perftramp record" % (label, workload))
    rc, row["record"] = run_timed([perftramp, "record", "--", python, prog], work, env, logfile)
    if rc != 0:
        raise SystemExit("perftramp record failed (exit %d); see %s" % (rc, logfile))
    row["own"] = json.loads(result.read_text())["seconds"]
    result.unlink()
    made = [p for p in work.iterdir() if p.is_dir()]
    if len(made) != 1:
        raise SystemExit("perftramp record made %d directories in %s" % (len(made), work))
    recording = made[0]
    row["files"], row["bytes"] = tree_size(recording)
    try:  # only for the table: which backend record chose
        row["backend"] = json.loads((recording / "perftramp.json").read_text())["backend"]
    except (OSError, ValueError, KeyError):
        row["backend"] = "?"
    collapsed = work / "collapsed.txt"
    row["reports"] = reports(perftramp, recording, work, env, logfile, collapsed,
                             "%s %s" % (label, workload))
    row["files_after"], row["bytes_after"] = tree_size(recording)
    row["home_files"], row["home"] = tree_size(home)
    row["home_debug"] = tree_size(home / ".debug")[1]
    row["debug"] = debug_size() - debug_before
    row.update(figures(collapsed.read_text(errors="replace"), script))
    shutil.rmtree(home)
    if not keep:
        shutil.rmtree(work)
    return row


def pct(part, whole):
    return "%.1f%%" % (100.0 * part / whole) if whole else "-"


def tables(rows):
    out = ["| workload | interpreter | backend | window samples | unbroken to `<module>` "
           "| with a py:: frame | all samples | py::foo samples whole |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %s | %s | %d | %d (%s) | %s | %d | %s |" % (
            WORKLOADS[r["workload"]][1], r["python"], r["backend"], r["window"],
            r["unbroken"], pct(r["unbroken"], r["window"]), pct(r["pyframes"], r["window"]),
            r["samples"],
            "%d/%d (%s)" % (r["hot_whole"], r["hot"], pct(r["hot_whole"], r["hot"]))
            if r["hot"] else "-"))
    out += ["", "| workload | backend | files | MB | after reports | $HOME growth | of it "
            "~/.debug | real ~/.debug growth | plain s | plain wall s | own s (recorded) "
            "| record s | %s |" % " | ".join("report %s s" % name for name, _ in REPORTS),
            "|---|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(REPORTS)]
    for r in rows:
        out.append("| %s | %s | %d | %.1f | %d files, %.1f MB | %d B (%d files) | %d B | %d B "
                   "| %.1f | %.1f | %.1f | %.1f | %s |" % (
                       WORKLOADS[r["workload"]][1], r["backend"], r["files"],
                       r["bytes"] / 1e6, r["files_after"], r["bytes_after"] / 1e6, r["home"],
                       r["home_files"], r["home_debug"], r["debug"], r["plain"],
                       r["plain_wall"], r["own"],
                       r["record"],
                       " | ".join("%.1f" % t for _, t in r["reports"])))
    return "\n".join(out) + "\n"


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    perf = subprocess.run(["perf", "version"], capture_output=True, text=True).stdout.strip()
    return "%s, %d cores, Linux %s, %s" % (model or platform.machine(), os.cpu_count(),
                                            platform.release(), perf)


def append(label, source, command, table):
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    about = ("Added by `%s` on %s (perftramp from %s); machine: %s.  Workloads and pinned "
             "versions: benchmarks/real/; every figure is defined in the docstring of "
             "benchmarks/real_programs.py: window = main-thread samples while the script's "
             "`<module>` ran; unbroken = of those, the ones whose stack holds the script's "
             "`<module>` frame; $HOME growth with HOME a new empty directory."
             % (command, when, source, machine()))
    text = "\n## Real programs: %s\n\n%s\n\n%s" % (
        label, textwrap.fill(about, 100, break_on_hyphens=False, break_long_words=False),
        table)
    with open(RESULTS, "a") as f:
        f.write(text)
    log("appended to %s" % RESULTS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=str(ROOT), help="perftramp tree to install (this one)")
    ap.add_argument("--python", action="append", metavar="LABEL=PATH",
                    help="interpreter (default: %s)" % ", ".join("%s=%s" % p
                                                                  for p in DEFAULT_PYTHONS))
    ap.add_argument("--workload", action="append", choices=sorted(WORKLOADS),
                    help="default: all")
    ap.add_argument("--seconds", type=float, default=10.0, help="each program's work (10)")
    ap.add_argument("--append", metavar="LABEL", help="append the tables to RESULTS.md")
    ap.add_argument("--keep", action="store_true",
                    help="keep the recordings in build/real-programs/runs/")
    args = ap.parse_args()
    source = Path(args.source).resolve()
    pythons = [tuple(p.split("=", 1)) for p in args.python] if args.python else DEFAULT_PYTHONS
    rows = []
    for label, base in pythons:
        if not os.access(base, os.X_OK):
            log("%s: %s is missing; skipped" % (label, base))
            continue
        venv = make_venv(label, base, source)
        for workload in args.workload or list(WORKLOADS):
            rows.append(measure(label, venv, workload, args.seconds, args.keep))
            print(tables(rows[-1:]), flush=True)
    table = tables(rows)
    print(table)
    if args.append:
        command = shlex.join(["python", "benchmarks/real_programs.py"] + sys.argv[1:])
        append(args.append, source, command, table)


if __name__ == "__main__":
    main()
