"""A real container runtime (crun, Debian's package): a server in a
container whose root filesystem is the Debian sid root (its CPython 3.14,
built with frame pointers, perftramp installed in a venv there, switched on
by PERFTRAMP_ACTIVATE as an image would), recorded from the host with
`record -p HOSTPID` and `record -a`, reported after the container is gone.
The container's interpreter and libraries exist only in its root: report
reads them from the recording's build-id cache.

perf is the sid root's 7.x (scripts/perf-bundle.sh): the host's 6.1 does not
unwind the DWARF of sid's python3.14 at all, in a container or not."""
import glob
import json
import os
import subprocess
import time

import pytest

import oci
from interpreters import INTERPRETERS, ROOT, in_sid_root, ready
from namespaces import SERVER, assert_whole, attached_chain_share, server_env, wait_for_line
from processes import cli, popen, register_pids

SID_PERF = ROOT / "build" / "sid-perf" / "bin" / "perf"
SID_VENVS = ROOT / "build" / "venvs-sid"
PY314 = os.environ.get("PERFTRAMP_PY314_PREFIX", "/opt/perftramp-py314")
#: in CI: what these tests need is there, or they fail
REQUIRED = bool(os.environ.get("PERFTRAMP_REQUIRE_FP")) and not in_sid_root()


def _missing():
    if in_sid_root():
        return "the sid root has no container runtime: `make test-py-oci` runs these on the host"
    why = oci.available()
    if why:
        return why
    if not SID_PERF.exists():
        return "no perf 7.x bundle in %s (make prepare makes it)" % SID_PERF
    return None


pytestmark = [pytest.mark.skipif(_missing() is not None and not REQUIRED,
                                 reason=_missing() or ""),
              pytest.mark.slow]


def _lacking(why):
    """A test that cannot run here: skipped, saying why; a failure where CI
    (PERFTRAMP_REQUIRE_FP) must provide what it needs."""
    if REQUIRED:
        pytest.fail("PERFTRAMP_REQUIRE_FP is set, but " + why)
    pytest.skip(why)


@pytest.fixture(autouse=True)
def _everything_there():
    if _missing() is not None:
        _lacking(_missing())


def _sid_venv(version):
    found = sorted(glob.glob(str(SID_VENVS / ("sid-%s.*" % version) / "bin" / "python")))
    if not found:
        _lacking("no sid CPython %s venv in %s (make test-py-sid makes it)"
                 % (version, SID_VENVS))
    return found[-1]


def _fp_314():
    """The frame-pointer CPython 3.14 with perftramp (a venv of the work tree)."""
    interp = next((i for i in INTERPRETERS if i.frame_pointers and i.version[:2] == (3, 14)
                   and not i.free_threaded and i.base.startswith(PY314)), None)
    if interp is None:
        _lacking("no frame-pointer CPython 3.14 in %s (make test builds it)" % PY314)
    return ready(interp)


#: (interpreter in the container, backend, which perf): sid's own CPythons
#: (3.14.10 without frame pointers, 3.15.2 with) need perf 7.x to unwind;
#: the host's frame-pointer 3.14, mounted in, runs on the sid root's libc
#: and is recorded with the host's perf 6.1, whose perf inject --jit reads
#: the jitdump of a process in another pid namespace (7.2's does not:
#: README, "Containers")
CASES = [("sid-3.14", "perf_elf", "sid"), ("sid-3.15", "perf", "sid"),
         ("fp-3.14", "perf", "host"), ("fp-3.14", "perf_elf", "host"),
         ("fp-3.14", "perf_jit", "host")]


def _host_python():
    interp = next((i for i in INTERPRETERS if i.version >= (3, 12) and not i.free_threaded),
                  None)
    if interp is None:
        pytest.skip("no CPython 3.12+ on the host")
    return ready(interp)


def _env(which="sid"):
    """perftramp's environment: with "sid", the sid root's perf first on PATH."""
    if which != "sid":
        return None
    return {"PATH": "%s:%s" % (SID_PERF.parent, os.environ.get("PATH", ""))}




def _ready(box):
    deadline = time.monotonic() + 30
    while "ready" not in box.output().splitlines():
        assert time.monotonic() < deadline, box.output()
        time.sleep(0.05)


def _pids(directory):
    with open(directory / "perftramp.json") as f:
        return json.load(f).get("pids", [])


@pytest.mark.parametrize("inside,backend,perf", CASES,
                         ids=["-".join(case) for case in CASES])
def test_crun_container_recorded_from_the_host(inside, backend, perf, tmp_path):
    """record -p HOSTPID and record -a of a server in a crun container,
    reported after the container is gone: whole chains."""
    exe = _fp_314().exe if inside == "fp-3.14" else _sid_venv(inside[4:])
    host = _host_python()
    env = _env(perf)
    with oci.container([exe, "-c", SERVER], {"PERFTRAMP_ACTIVATE": backend},
                       binds=(oci.REPO, PY314)) as box:
        _ready(box)
        register_pids(box.host_pid)
        cli(host, ["record", "-p", str(box.host_pid), "--duration", "2", "-o", "rec-p"],
            tmp_path, env=env)
        cli(host, ["record", "-a", "--backend", backend, "--duration", "2", "-F", "499",
                   "-o", "rec-a"],
            tmp_path, env=env)
        register_pids(*_pids(tmp_path / "rec-a"))
    assert not os.path.exists("/proc/%d" % box.host_pid)
    assert box.cgroup, "crun gave the container no cgroup of its own"
    for name, extra in (("rec-p", []), ("rec-a", ["--cgroup", box.cgroup])):
        report = cli(host, ["report", name, "--format", "collapsed"] + extra, tmp_path,
                     env=env)
        assert_whole(report.stdout, "%s %s" % (name, backend))


def test_record_a_two_containers_and_the_host(tmp_path):
    """Two containers and a host Python, all with perf_elf: record -a names
    all three, and --cgroup gives each container alone."""
    python = _host_python()
    with open(tmp_path / "host.out", "w") as out:
        host = popen([python.exe, "-c", SERVER], stdout=out, stderr=subprocess.STDOUT,
                     env=server_env(PERFTRAMP_ACTIVATE="perf_elf",
                                    PERFTRAMP_ELF_DIR=str(tmp_path)))
    try:
        wait_for_line(tmp_path / "host.out", "ready", host)
        activate = {"PERFTRAMP_ACTIVATE": "perf_elf"}
        sid = _sid_venv("3.14")
        with oci.container([sid, "-c", SERVER], activate) as first, \
                oci.container([sid, "-c", SERVER], activate) as second:
            _ready(first)
            _ready(second)
            register_pids(first.host_pid, second.host_pid)
            cli(python, ["record", "-a", "--backend", "perf_elf", "--duration", "2", "-F", "499",
                         "-o", "rec"],
                tmp_path, env=_env())
            register_pids(*_pids(tmp_path / "rec"))
    finally:
        host.kill()
        host.wait()
    text = cli(python, ["report", "rec", "--top", "100"], tmp_path, env=_env()).stdout
    for box in (first, second):
        assert box.cgroup and box.cgroup in text, text
        only = cli(python, ["report", "rec", "--cgroup", box.cgroup, "--format", "collapsed"],
                   tmp_path, env=_env()).stdout
        assert_whole(only, "container %s" % box.name)
    only = cli(python, ["report", "rec", "--pid", str(host.pid), "--format", "collapsed"],
               tmp_path, env=_env()).stdout
    assert_whole(only, "the host's process")


def test_crun_container_attached(tmp_path):
    """A CPython 3.14 in a crun container with no switch on: record -p, run
    by a 3.14 of the host's, attaches (seeing the container's files, running
    none of its programs; perftramp from its image's venv), records with
    the backend auto chooses for it, and detaches."""
    host = _fp_314()
    with oci.container([_sid_venv("3.14"), "-c", SERVER], {}) as box:
        _ready(box)
        register_pids(box.host_pid)
        rec = cli(host, ["record", "-p", str(box.host_pid), "--duration", "2", "-o", "rec"],
                  tmp_path, env=_env())
        assert "attaching the perf_elf backend" in rec.stderr, rec.stderr
        assert "detached from %d" % box.host_pid in rec.stderr, rec.stderr
    report = cli(host, ["report", "rec", "--format", "collapsed"], tmp_path, env=_env())
    # <module> runs since before the attach: unnamed, as documented
    assert_whole(report.stdout, "attached", attached_chain_share, 0.98)
