"""The command line, end to end with real perf: check, run, record, report in
every format, on the oldest and newest CPython present and on the
frame-pointer build (which takes the "perf" backend)."""
import contextlib
import glob
import json
import os
import re
import secrets
import shutil
import tarfile
from pathlib import Path

import pytest

from processes import cli, register_pids, run
from processes import seed_app as app

pytestmark = [pytest.mark.edge_versions,
              pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")]



def test_version_and_help(python, tmp_path):
    out = cli(python, ["--version"], tmp_path)
    assert out.stdout.strip() == "0.1.0"
    out = cli(python, [], tmp_path, check=False)
    assert out.returncode == 2
    for command in ("check", "run", "record", "report"):
        assert command in out.stdout


def test_check(python, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    out = cli(python, ["check"], tmp_path, check=False, env={"HOME": str(home)})
    assert out.returncode == 0, out.stdout + out.stderr
    # its perf runs fill no build-id cache in $HOME (~/.debug)
    assert list(home.iterdir()) == [], list(home.iterdir())
    # the verdict names the backend record would choose (as record does:
    # without frame pointers, perf_elf where its self-test passes)
    if python.frame_pointers:
        backend = "perf"
    elif "[ok  ] perf_elf (no inject)" in out.stdout:
        backend = "perf_elf"
    else:
        backend = "perf_jit"
    assert "verdict: profiling works here, with the %s backend" % backend in out.stdout
    assert "[ok  ] perf record" in out.stdout
    # how deep a chain DWARF unwinding sees, from the C stack one call takes
    m = re.search(r"stack per call +(\d+) bytes of C stack per Python call \(16 of them "
                  r"perftramp's\): DWARF unwinding sees about (\d+) Python frames", out.stdout)
    assert m and int(m.group(2)) == 65528 // int(m.group(1)), out.stdout
    if not python.frame_pointers:
        assert "[ok  ] perf inject --jit" in out.stdout


def test_run_script_and_module(python, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text("import sys, perftramp\n"
                      "print(perftramp._perftramp.backend(), sys.argv[1:],\n"
                      "      perftramp._perftramp._persist_after_fork())\n")
    # forked children keep whole chains under run, as under record
    out = cli(python, ["run", "--backend", "perf_jit", "--", str(script), "a", "b"], tmp_path)
    assert out.stdout.strip() == "perf_jit ['a', 'b'] True"
    out = run(python, ["-m", "perftramp", "run", "-m", "probe", "x"], cwd=str(tmp_path),
              env={"PYTHONPATH": str(tmp_path)})
    assert out.stdout.strip() == "perf ['x'] True"


@pytest.fixture
def recording(python, tmp_path):
    script = app(tmp_path)
    before = set(glob.glob("/tmp/perf-*.map") + glob.glob("/tmp/jit-*.dump")
                 + glob.glob("/tmp/jitted-*.so"))
    out = cli(python, ["record", "-o", "rec", "--", python.exe, str(script)], tmp_path)
    after = set(glob.glob("/tmp/perf-*.map") + glob.glob("/tmp/jit-*.dump")
                + glob.glob("/tmp/jitted-*.so"))
    meta = json.loads((tmp_path / "rec" / "perftramp.json").read_text())
    register_pids(*meta["pids"])
    return {"dir": tmp_path / "rec", "script": script, "meta": meta, "stderr": out.stderr,
            "left_in_tmp": [p for p in after - before
                            if any("-%d." % pid in p or "-%d-" % pid in p
                                   for pid in meta["pids"])],
            "cwd_files": sorted(os.listdir(tmp_path))}


def test_record_gathers_everything(python, recording):
    d, meta = recording["dir"], recording["meta"]
    # without frame pointers: perf_elf, unless record said why this perf
    # cannot read its image (then perf_jit)
    if python.frame_pointers:
        backend = "perf"
    elif "perf_elf cannot be used here" in recording["stderr"]:
        backend = "perf_jit"
    else:
        backend = "perf_elf"
    assert meta["backend"] == backend
    if backend == "perf_elf":
        # one image per process in the recording, no inject, nothing packed
        assert [p for p in os.listdir(str(d)) if re.fullmatch(r"perf-elf-\d+\.so", p)]
        assert (d / "perf.data").exists() and not (d / "perf-jit.tar.xz").exists()
    elif backend == "perf_jit":
        # perf.jit.data and jit/ packed into one file; perf.data not kept
        assert (d / "perf-jit.tar.xz").is_file()
        assert not (d / "perf.data").exists() and not (d / "jit").exists()
        with tarfile.open(str(d / "perf-jit.tar.xz")) as tar:
            names = tar.getnames()
        assert "perf.jit.data" in names
        assert [n for n in names if re.fullmatch(r"jit/jitted-\d+-\d+\.so", n)], \
            "perf inject's objects belong in the recording"
        assert [n for n in names if re.fullmatch(r"jit/jit-\d+\.dump", n)]
        assert not os.path.exists(meta["jit_dir"]), "the dump's directory left in /tmp"
    else:
        assert (d / "perf.data").exists()
        assert meta["maps"] and all((d / "maps" / m).exists() for m in meta["maps"])
    assert recording["left_in_tmp"] == []
    assert recording["cwd_files"] == ["app.py", "rec"], "nothing in the working directory"
    assert "recording with the %s backend" % backend in recording["stderr"]


def report(python, recording, *args):
    return cli(python, ["report", str(recording["dir"])] + list(args),
               recording["dir"].parent).stdout


def test_report_text(python, recording):
    text = report(python, recording)
    # files under the working directory (where report runs) are shown relative to it
    script = os.path.relpath(str(recording["script"]), str(recording["dir"].parent))
    rows = {}
    section = None
    for line in text.splitlines():
        if line.startswith("Python functions by"):
            section = line
            continue
        parts = line.split()
        if section and len(parts) == 4 and parts[0].endswith("%"):
            # keyed by function and file: other files have a <module> too
            rows.setdefault(section, {})[(parts[2], parts[3])] = (float(parts[0][:-1]),
                                                                  float(parts[1][:-1]))
    by_self = rows["Python functions by self samples:"]
    by_total = rows["Python functions by total samples:"]
    assert list(by_self)[0] == ("foo", script)
    assert by_self[("foo", script)][0] > 50
    for caller in ("bar", "baz", "<module>"):
        assert by_total[(caller, script)][1] >= by_total[("foo", script)][1] * 0.99, \
            (caller, by_total)


@pytest.mark.parametrize("backend", ["perf", "perf_jit", "perf_elf"])
def test_record_report_whole_chain_per_backend(python, tmp_path, backend):
    """The seed example through `perftramp record --backend B` and `report`:
    at least 99% of the samples in foo show foo < bar < baz < <module> as
    their Python frames, for each backend the interpreter takes ("perf"
    needs frame pointers: 3.14.7 and 3.14t built here, Debian's 3.15)."""
    if backend == "perf" and not python.frame_pointers:
        pytest.skip("%s has no frame pointers: the perf backend's -g cannot walk it"
                    % python.label)
    script = app(tmp_path)
    cli(python, ["record", "--backend", backend, "-o", "rec", "--", python.exe, str(script)],
        tmp_path)
    meta = json.loads((tmp_path / "rec" / "perftramp.json").read_text())
    register_pids(*meta["pids"])
    assert meta["backend"] == backend
    out = cli(python, ["report", "rec", "--format", "collapsed"], tmp_path).stdout
    chain = ["py::%s:%s" % (f, script) for f in ("foo", "bar", "baz", "<module>")]
    in_foo = whole = 0
    for line in out.splitlines():
        stack, _, count = line.rpartition(" ")
        py = [f for f in reversed(stack.split(";")) if f.startswith("py::")]
        if chain[0] in py:
            in_foo += int(count)
            whole += int(count) * (py[:4] == chain)
    assert in_foo >= 100, out
    assert whole >= 0.99 * in_foo, (backend, whole, in_foo, meta["perf"])


def test_report_collapsed(python, recording):
    lines = report(python, recording, "--format", "collapsed").splitlines()
    script = str(recording["script"])
    total = 0
    chain = ";".join("py::%s:%s" % (f, script) for f in ("<module>", "baz", "bar", "foo"))
    in_chain = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        total += int(count)
        if chain in stack:
            in_chain += int(count)
    assert total == sum(int(line.rpartition(" ")[2]) for line in lines) > 0
    # Interpreter frames between Python frames are folded away: the chain
    # appears with nothing between its frames in most samples.
    assert in_chain > 0.5 * total
    kept = report(python, recording, "--format", "collapsed", "--keep-internal")
    assert chain not in kept
    between = re.search(r"py::bar:[^;]*;(.*?);py::foo:", kept)
    # The evaluator by name; a distribution's stripped binary (Debian's
    # python3.14/3.15) names it only by its object ("[python3.14]", as an
    # unresolved function of a known object is named), [unknown] or its .cold part.
    assert between and any(f.startswith(("_PyEval_EvalFrameDefault", "[python", "[libpython"))
                           or f == "[unknown]" for f in between.group(1).split(";"))


def test_report_html(python, recording):
    page = report(python, recording, "--format", "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script src" not in page and "http" not in page.replace(
        "https://www.speedscope.app", "")
    assert "py::foo:%s" % recording["script"] in page
    data = json.loads(page.split("var DATA = ", 1)[1].split(";\n", 1)[0])
    assert data["names"][data["node"][0]] == "all" and data["value"][0] > 0


def test_report_speedscope(python, recording):
    doc = json.loads(report(python, recording, "--format", "speedscope"))
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    profile = doc["profiles"][0]
    assert profile["type"] == "sampled"
    assert len(profile["samples"]) == len(profile["weights"])
    frames = doc["shared"]["frames"]
    foo = [i for i, f in enumerate(frames) if f["name"] == "foo"]
    assert foo and frames[foo[0]]["file"] == str(recording["script"])
    assert sum(w for s, w in zip(profile["samples"], profile["weights"])
               if foo[0] in s) > 0.5 * sum(profile["weights"])


# Every failure of a subcommand is one line, "perftramp: MESSAGE", on stderr.

def one_error_line(out, code=2):
    assert out.returncode == code, out.stdout + out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("perftramp: "), out.stderr
    return lines[0]


def test_error_record_without_command(python, tmp_path):
    line = one_error_line(cli(python, ["record"], tmp_path, check=False))
    assert "after --" in line
    one_error_line(cli(python, ["record", "--"], tmp_path, check=False))


def test_error_record_without_perf(python, tmp_path):
    # only the venv's bin directory: no perf
    out = run(python, ["-m", "perftramp", "record", "--", python.exe, "-c", "pass"],
              env={"PATH": os.path.dirname(python.exe)}, cwd=str(tmp_path), check=False)
    assert "perf is not installed" in one_error_line(out)
    assert os.listdir(str(tmp_path)) == []


def test_error_report_without_recording(python, tmp_path):
    line = one_error_line(cli(python, ["report"], tmp_path, check=False))
    assert "no perftramp-* directory here" in line


def test_error_report_missing_directory(python, tmp_path):
    line = one_error_line(cli(python, ["report", "nowhere"], tmp_path, check=False))
    assert "no such directory" in line


def test_error_report_without_data(python, tmp_path):
    (tmp_path / "empty").mkdir()
    line = one_error_line(cli(python, ["report", "empty"], tmp_path, check=False))
    assert "no perf.data" in line


def test_error_run_without_script(python, tmp_path):
    line = one_error_line(cli(python, ["run"], tmp_path, check=False))
    assert "give a script" in line


def test_error_no_command(python, tmp_path):
    out = cli(python, [], tmp_path, check=False)
    one_error_line(out)
    assert "usage:" in out.stdout


@pytest.mark.parametrize("args", [["report", "--format", "nope"],
                                  ["record", "--backend", "nope", "--", "true"],
                                  ["run", "--backend", "nope", "x.py"]])
def test_error_unknown_choice(python, tmp_path, args):
    out = cli(python, args, tmp_path, check=False)
    assert out.returncode == 2
    assert "invalid choice: 'nope'" in out.stderr


def test_new_format_is_one_file(python, recording):
    """A module dropped into perftramp/formats/ is a format, with no other
    edit: listed in --help, accepted by --format, given the folded profile."""
    package = run(python, ["-c", "import os, perftramp.formats as f; "
                                 "print(os.path.dirname(f.__file__))"]).stdout.strip()
    module = Path(package) / "stackcount.py"
    module.write_text('DESCRIPTION = "how many distinct stacks"\n'
                      "def render(profile, options):\n"
                      "    return '%d stacks, %d samples\\n' % (len(profile.stacks), "
                      "profile.samples)\n")
    try:
        help_text = cli(python, ["report", "--help"], recording["dir"]).stdout
        assert "stackcount: how many distinct stacks" in " ".join(help_text.split())
        out = report(python, recording, "--format", "stackcount")
        count = int(report(python, recording, "--format", "collapsed").count("\n"))
        assert re.fullmatch(r"%d stacks, \d+ samples\n" % count, out), out
    finally:
        module.unlink()
        for cached in (Path(package) / "__pycache__").glob("stackcount.*"):
            cached.unlink()


# A recording directory may come from someone else: report writes nothing
# outside it but the exact /tmp/perf-PID.map names it stages, and a
# perftramp.json that is not what record writes is one clear error.  These
# run a stand-in for perf that notes what it was asked and which of the
# watched paths existed while it ran (report's perf script runs while the
# maps are staged).

FAKE_PERF = r"""#!/bin/sh
# every perf command of perftramp's begins so (the build-id cache's option)
[ "$1" = --buildid-dir ] && cache="$2" && shift 2
echo "perf $*" >> "$FAKE_PERF_LOG"
[ "$1" = script ] && echo "build-id cache $cache" >> "$FAKE_PERF_LOG"
for path in $FAKE_PERF_WATCH; do
    if [ -e "$path" ] || [ -L "$path" ]; then
        echo "present $path: $(cat "$path" 2>&1)" >> "$FAKE_PERF_LOG"
    fi
done
case "$1" in
version) echo "perf version ${FAKE_PERF_VERSION:-6.9.0}" ;;
record)
    while [ "$1" != "-o" ]; do shift; done
    echo fake > "$2"
    echo "fake perf record: ${FAKE_RECORD_SAYS:-done}" >&2
    exit "${FAKE_RECORD_RC:-0}" ;;
script) [ -n "$FAKE_SCRIPT_PIDS" ] && echo "$FAKE_SCRIPT_PIDS"; exit 0 ;;
inject) echo "fake perf inject: it broke" >&2; exit "${FAKE_INJECT_RC:-0}" ;;
esac
"""

# pids above any pid_max (2**22): no process of this machine has them
UNUSED_PID = 99999999


def fake_perf(tmp_path, watch=(), **env):
    """(env for run(), log path): PATH finds the stand-in perf first."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    perf = bin_dir / "perf"
    perf.write_text(FAKE_PERF)
    perf.chmod(0o755)
    log = tmp_path / "perf.log"
    log.write_text("")
    env = dict(env, PATH="%s:%s" % (bin_dir, os.environ["PATH"]), FAKE_PERF_LOG=str(log),
               FAKE_PERF_WATCH=" ".join(str(p) for p in watch))
    return env, log


def fake_recording(tmp_path, meta, maps=None):
    """tmp_path/rec with perf.data, perftramp.json holding `meta` (bytes are
    written as they are) and maps/ holding `maps` {name: contents}."""
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "perf.data").write_text("fake")
    raw = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    (rec / "perftramp.json").write_bytes(raw)
    if maps:
        (rec / "maps").mkdir()
        for name, contents in maps.items():
            (rec / "maps" / name).write_text(contents)
    return rec


def report_fake(python, tmp_path, rec, watch=()):
    assert not os.path.lexists("/tmp/perf-%d.map" % UNUSED_PID), "left by an earlier run"
    env, log = fake_perf(tmp_path, watch)
    out = run(python, ["-m", "perftramp", "report", str(rec)], env=env, cwd=str(tmp_path),
              check=False)
    return out, log.read_text()


def test_report_stages_only_perf_pid_maps(python, tmp_path):
    staged = "/tmp/perf-%d.map" % UNUSED_PID
    rec = fake_recording(tmp_path, {"backend": "perf", "maps": ["perf-%d.map" % UNUSED_PID]},
                         {"perf-%d.map" % UNUSED_PID: "1000 10 py::f:x.py"})
    out, log = report_fake(python, tmp_path, rec, [staged])
    assert out.returncode == 0, out.stderr
    assert "present %s: 1000 10 py::f:x.py" % staged in log
    assert not os.path.lexists(staged)


@pytest.mark.parametrize("how", ["dotdot", "absolute", "inside-name", "not-a-map"])
def test_report_refuses_a_map_name_that_leaves_tmp(python, tmp_path, how):
    """perftramp.json's "maps" naming a file elsewhere than /tmp/perf-PID.map:
    refused before perf runs, and nothing is created."""
    victim = tmp_path / "victim"
    name = {"dotdot": "../" * 20 + str(victim).lstrip("/"),
            "absolute": str(victim),
            "inside-name": "perf-%d.map/../../%s" % (UNUSED_PID, str(victim).lstrip("/")),
            "not-a-map": "jit-%d.dump" % UNUSED_PID}[how]
    rec = fake_recording(tmp_path, {"backend": "perf", "maps": [name]})
    (rec / "maps").mkdir()
    out, log = report_fake(python, tmp_path, rec, [victim, "/tmp/jit-%d.dump" % UNUSED_PID])
    line = one_error_line(out)
    assert "perftramp.json is not a perftramp recording description" in line
    assert '"maps"' in line
    assert log == "", "perf must not run"
    assert not os.path.lexists(str(victim))


@pytest.mark.parametrize("how", ["file-link", "dir-link", "fifo", "missing"])
def test_report_reads_maps_only_from_inside(python, tmp_path, how):
    """DIR/maps/perf-PID.map that is a link out of DIR (or DIR/maps that is),
    or not a regular file: refused, nothing staged."""
    name = "perf-%d.map" % UNUSED_PID
    staged = "/tmp/" + name
    secret = tmp_path / "elsewhere" / name
    secret.parent.mkdir()
    secret.write_text("secret")
    rec = fake_recording(tmp_path, {"backend": "perf", "maps": [name]})
    if how == "dir-link":
        (rec / "maps").symlink_to(secret.parent)
    else:
        (rec / "maps").mkdir()
        if how == "file-link":
            (rec / "maps" / name).symlink_to(secret)
        elif how == "fifo":
            os.mkfifo(str(rec / "maps" / name))
    out, log = report_fake(python, tmp_path, rec, [staged])
    line = one_error_line(out)
    assert "maps/%s" % name in line
    assert log == "", "perf must not run"
    assert not os.path.lexists(staged)


@pytest.mark.parametrize("meta", [
    b"[1, 2, 3]",
    b"\x89PNG\r\n\x1a\n\x00\xff\xfe garbage",
    b"[" * 100000,
    b'"just a string"',
    {"backend": "perf", "command": "a b c"},
    {"command": ["python", 3]},
    {"maps": "perf-1.map"},
    {"data": "../../elsewhere/perf.data"},
    {"data": "/etc/passwd"},
    {"data": 7},
    {"freq": "999"},
    {"exit_code": True},
    {"pids": ["12"]},
    {"backend": "\x1b]0;owned\x07"},
    {"jit_dir": "/etc/passwd"},
    {"jit_dir": "/tmp/jitted-perftramp-0123456789abcdef/../../etc/x"},
    {"jit_dir": "/tmp/jitted-perftramp-0123456789abcdeg"},
    {"jit_dir": "jitted-perftramp-0123456789abcdef"},
    {"jit_dir": 7},
    {"buildid": "/etc"},
    {"buildid": "../../elsewhere"},
    {"cgroups": ["/x"]},
    {"cgroups": {"/x": ["12"]}},
], ids=["list", "bytes", "deep", "string", "command-string", "command-int", "maps-string",
        "data-dotdot", "data-absolute", "data-int", "freq-string", "exit-bool",
        "pids-strings", "backend-escape", "jit-elsewhere", "jit-dotdot", "jit-not-hex",
        "jit-relative", "jit-int", "buildid-absolute", "buildid-dotdot", "cgroups-list",
        "cgroups-strings"])
def test_report_garbage_description_is_one_error(python, tmp_path, meta):
    rec = fake_recording(tmp_path, meta)
    out, log = report_fake(python, tmp_path, rec)
    line = one_error_line(out)
    assert line.startswith("perftramp: %s is not a perftramp recording description: "
                           % (rec / "perftramp.json")), line
    assert log == ""


@pytest.mark.parametrize("how", ["directory", "link", "file", "missing", "inner-link",
                                 "inner-fifo", "stray-name"])
def test_report_gives_perf_only_a_build_id_cache_of_the_recordings_own(python, tmp_path, how):
    """A recording's build-id cache (record -p, -a: containers' objects) is
    given to perf only when it is a directory of the recording's own, not a
    link out of it; otherwise perf gets none, as for any recording."""
    rec = fake_recording(tmp_path, {"backend": "perf_elf", "buildid": "buildid"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if how == "directory":
        (rec / "buildid").mkdir()
    elif how == "link":
        (rec / "buildid").symlink_to(elsewhere)
    elif how == "file":
        (rec / "buildid").write_text("not a cache")
    elif how.startswith("inner") or how == "stray-name":
        entry = rec / "buildid" / ".build-id" / "ab"
        entry.mkdir(parents=True)
        name = entry / ("cdef0123" if how != "stray-name" else "cdef0123.debug")
        if how == "inner-link":
            name.symlink_to("/etc/passwd")
        elif how == "inner-fifo":
            os.mkfifo(str(name))
        else:
            name.write_text("x")
    out, log = report_fake(python, tmp_path, rec)
    assert out.returncode == 0, out.stderr
    cache = str(rec / "buildid") if how == "directory" else \
        "/dev/null/perftramp-no-build-id-cache"
    assert "build-id cache %s\n" % cache in log, log
    if how not in ("directory", "missing"):
        assert "is not a build-id cache record wrote" in out.stderr, out.stderr


def fresh_jit_path():
    """A path of the form record's jit directory has, with nothing there."""
    path = "/tmp/jitted-perftramp-" + secrets.token_hex(8)
    assert not os.path.lexists(path)
    return path


def fake_jit_recording(tmp_path, link):
    rec = fake_recording(tmp_path, {"backend": "perf_jit", "jit_dir": link})
    (rec / "jit").mkdir()
    (rec / "jit" / "marker").write_text("jitted")
    return rec


def test_report_links_the_jit_directory_only_while_perf_runs(python, tmp_path):
    """perf.jit.data names the jitted objects by the /tmp path they were
    written at: report links it to DIR/jit while perf script runs, and only
    then."""
    link = fresh_jit_path()
    rec = fake_jit_recording(tmp_path, link)
    out, log = report_fake(python, tmp_path, rec, [link + "/marker"])
    assert out.returncode == 0, out.stderr
    assert "present %s/marker: jitted" % link in log
    assert not os.path.lexists(link)


@pytest.mark.parametrize("what", ["file", "dangling-link"])
def test_report_never_replaces_a_path_at_the_jit_directory(python, tmp_path, what):
    """Something at the recording's jit_dir already: left exactly as it is
    (perf reads what is there), report says so and goes on."""
    link = fresh_jit_path()
    try:
        if what == "file":
            Path(link).write_text("someone else's")
        else:
            os.symlink(str(tmp_path / "nowhere"), link)
        rec = fake_jit_recording(tmp_path, link)
        out, log = report_fake(python, tmp_path, rec)
        assert out.returncode == 0, out.stderr
        assert "%s exists already" % link in out.stderr
        if what == "file":
            assert Path(link).read_text() == "someone else's"
        else:
            assert os.readlink(link) == str(tmp_path / "nowhere")
        assert not (tmp_path / "nowhere").exists()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)


@pytest.mark.parametrize("how", ["link", "file", "missing"])
def test_report_jit_directory_must_be_inside(python, tmp_path, how):
    link = fresh_jit_path()
    rec = fake_recording(tmp_path, {"backend": "perf_jit", "jit_dir": link})
    if how == "link":
        (tmp_path / "elsewhere").mkdir()
        (rec / "jit").symlink_to(tmp_path / "elsewhere")
    elif how == "file":
        (rec / "jit").write_text("")
    out, log = report_fake(python, tmp_path, rec)
    line = one_error_line(out)
    assert str(rec / "jit") in line
    assert log == "", "perf must not run"
    assert not os.path.lexists(link)


@pytest.mark.parametrize("how", ["link", "fifo"])
def test_report_data_must_be_a_file_inside(python, tmp_path, how):
    rec = fake_recording(tmp_path, {"backend": "perf", "data": "perf.jit.data"})
    if how == "link":
        (rec / "perf.jit.data").symlink_to("/etc/hostname")
    else:
        os.mkfifo(str(rec / "perf.jit.data"))
    out, log = report_fake(python, tmp_path, rec)
    assert "perf.jit.data is not a regular file" in one_error_line(out)
    assert log == ""


def test_report_escapes_control_characters_of_the_command(python, tmp_path):
    rec = fake_recording(tmp_path, {"backend": "perf",
                                    "command": ["python", "-c", "print(1)\n\x1b[2J"]})
    out, _ = report_fake(python, tmp_path, rec)
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout
    assert "command: python -c print(1)\\x0a\\x1b[2J" in out.stdout


def test_error_report_not_a_directory(python, tmp_path):
    (tmp_path / "afile").write_text("")
    line = one_error_line(cli(python, ["report", "afile"], tmp_path, check=False))
    assert "afile is not a directory" in line


# record stops, in one line, when the program cannot start, when perf
# record fails, and says which of record and inject did.

@pytest.mark.parametrize("program", ["nosuchprog", "./nosuchprog", "notexec", "adir",
                                     "missing.py"])
def test_error_record_program_cannot_start(python, tmp_path, program):
    (tmp_path / "notexec").write_text("#!/bin/sh\n")
    (tmp_path / "adir").mkdir()
    if program in ("notexec", "adir"):
        program = str(tmp_path / program)
    env, log = fake_perf(tmp_path)
    out = run(python, ["-m", "perftramp", "record", "-o", "rec", "--", program, "x"],
              env=env, cwd=str(tmp_path), check=False)
    line = one_error_line(out)
    assert line.startswith("perftramp: record: cannot run %s: " % program), line
    assert log.read_text() == "", "perf must not run"
    assert not (tmp_path / "rec").exists()


def test_error_record_nosuchprog_real_perf(python, tmp_path):
    out = cli(python, ["record", "--", "nosuchprog"], tmp_path, check=False)
    line = one_error_line(out)
    assert line == "perftramp: record: cannot run nosuchprog: not found on PATH", line
    assert os.listdir(str(tmp_path)) == []


def test_error_record_fails_no_inject(python, tmp_path):
    """perf record failing (no samples, an error exit): no perf inject, and
    the error says perf record failed."""
    env, log = fake_perf(tmp_path, FAKE_RECORD_RC="255",
                         FAKE_RECORD_SAYS="cannot open the events")
    out = run(python, ["-m", "perftramp", "record", "--backend", "perf_jit", "-o", "rec",
                       "--", "true"], env=env, cwd=str(tmp_path), check=False)
    assert out.returncode == 255, out.stderr
    assert "fake perf record: cannot open the events" in out.stderr
    last = out.stderr.splitlines()[-1]
    assert last.startswith("perftramp: perf record failed (exit 255)"), out.stderr
    assert "perf inject" not in log.read_text()
    assert "inject" not in last


@pytest.mark.parametrize("version,blamed", [("6.9.0", False), ("6.1.0", True)])
def test_error_inject_fails_says_inject(python, tmp_path, version, blamed):
    env, log = fake_perf(tmp_path, FAKE_INJECT_RC="1", FAKE_SCRIPT_PIDS="123",
                         FAKE_PERF_VERSION=version)
    out = run(python, ["-m", "perftramp", "record", "--backend", "perf_jit", "-o", "rec",
                       "--", "true"], env=env, cwd=str(tmp_path), check=False)
    assert out.returncode == 1, out.stderr
    assert "fake perf inject: it broke" in out.stderr
    last = out.stderr.splitlines()[-1]
    assert last.startswith("perftramp: perf inject --jit failed (exit 1)"), out.stderr
    assert ("older than 6.8" in last) is blamed, last


def test_record_gathers_maps_of_processes_without_samples(python, tmp_path):
    """A short child with no sample (at 1 Hz) still wrote its map: record
    moves it into DIR/maps too, from the processes perf saw start and end."""
    parent = ("import subprocess, sys, time\n"
              "child = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],"
              " capture_output=True, text=True)\n"
              "print(child.stdout.strip())\n"
              "time.sleep(0.2)\n")
    out = cli(python, ["record", "-F", "1", "--backend", "perf", "-o", "rec", "--",
                       python.exe, "-c", parent], tmp_path)
    child = int(out.stdout.split()[-1])
    register_pids(child)
    meta = json.loads((tmp_path / "rec" / "perftramp.json").read_text())
    register_pids(*meta["pids"])
    assert child in meta["pids"]
    assert "perf-%d.map" % child in meta["maps"]
    assert (tmp_path / "rec" / "maps" / ("perf-%d.map" % child)).exists()
    assert not os.path.exists("/tmp/perf-%d.map" % child)
