"""Containers and whole hosts: a Python server whose backend its
environment switched on (PERFTRAMP_ACTIVATE, as an image would set it),
running in its own pid and mount namespaces with a private /tmp, recorded
from the host with `record -p HOSTPID` and `record -a`, and reported after
it is gone: its samples carry the whole chain.  Then the same with several
processes at once, split by --pid; the same-namespace record -p of every
version; and every refusal, one line each.  (test_oci.py: a real container
runtime with its own root filesystem.)"""
import os
import shutil
import subprocess

import pytest

import namespaces
from interpreters import INTERPRETERS, in_sid_root, ready
from namespaces import SERVER, assert_whole, attached_chain_share, server_env, unshared
from processes import cli, popen, register_pids, run_json

pytestmark = [
    pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed"),
    # in-sid.sh's root is a chroot: a mount namespace made in it keeps the
    # host's root, and perf, entering it (setns), resolves the process's
    # files there, not in the sid root; test_oci.py runs sid's interpreters
    # in a real container instead
    pytest.mark.skipif(in_sid_root(), reason="a namespace made inside the sid root's chroot "
                       "has the host's root (test_oci.py covers sid's interpreters)"),
    pytest.mark.skipif(namespaces.available() is not None,
                       reason=namespaces.available() or ""),
]


JIT_IN_CONTAINERS = shutil.which("perf") is not None and \
    namespaces.perf_injects_foreign_jitdumps()


def _cases():
    """(interpreter, backend): the frame-pointer backend on frame-pointer
    builds, the DWARF ones on one interpreter of each version from 3.12
    (perf_jit where this perf injects a container's jitdump)."""
    dwarf = ["perf_elf"] + (["perf_jit"] if JIT_IN_CONTAINERS else [])
    cases, versions = [], set()
    for interp in sorted(INTERPRETERS, key=lambda i: (not i.frame_pointers, i.label)):
        if interp.version < (3, 12):
            continue
        if interp.frame_pointers:
            cases.append((interp, "perf"))
        key = interp.version[:2] + (interp.free_threaded,)
        if key not in versions:
            versions.add(key)
            cases += [(interp, backend) for backend in dwarf]
    return cases


CASES = _cases()




@pytest.mark.slow
@pytest.mark.parametrize("interp,backend", CASES,
                         ids=["%s-%s" % (i.label, b) for i, b in CASES])
def test_container_recorded_from_the_host(interp, backend, tmp_path):
    """record -p HOSTPID, then record -a, of a server in a container; both
    reported after the container is gone."""
    python = ready(interp)
    env = server_env(PERFTRAMP_ACTIVATE=backend)
    with unshared([python.exe, "-c", SERVER], env, tmp_path / "out") as pid:
        with open("/proc/%d/status" % pid) as f:
            assert "NSpid:\t%d\t1" % pid in f.read()  # pid 1 there
        check = cli(python, ["check", "--pid", str(pid)], tmp_path)
        assert "%s on" % backend in check.stdout and "will be named" in check.stdout, \
            check.stdout
        rec = cli(python, ["record", "-p", str(pid), "--duration", "2", "-o", "rec-p"],
                  tmp_path)
        assert "with the %s backend" % backend in rec.stderr, rec.stderr
        # the backend named: auto takes the one most processes of the machine
        # use, and someone else may be profiling here
        rec = cli(python, ["record", "-a", "--backend", backend, "--duration", "2", "-F", "499",
                           "-o", "rec-a"],
                  tmp_path)
        register_pids(*_recorded(tmp_path / "rec-a"))
    for name, extra in (("rec-p", []), ("rec-a", ["--pid", str(pid)])):
        report = cli(python, ["report", name, "--format", "collapsed"] + extra, tmp_path)
        assert_whole(report.stdout, "%s %s" % (name, backend))
    text = cli(python, ["report", "rec-a", "--pid", str(pid)], tmp_path).stdout
    assert "Processes:" not in text  # one process only
    got = cli(python, ["report", "rec-a", "--cgroup", "/no/such/cgroup"], tmp_path, check=False)
    assert got.returncode == 2 and got.stderr.strip().splitlines() == [
        "perftramp: report: no process of the recording ran in cgroup /no/such/cgroup; "
        "its cgroups: " + got.stderr.split("its cgroups: ")[-1].strip()], got.stderr


def _recorded(directory):
    import json
    with open(directory / "perftramp.json") as f:
        return json.load(f).get("pids", [])


@pytest.mark.slow
def test_record_a_names_containers_and_the_host_and_splits_them(tmp_path):
    """Two containers and one host Python, recorded at once: each is named,
    and report --pid shows one; the text report lists them all."""
    interp = next((i for i in INTERPRETERS if i.version >= (3, 12) and not i.free_threaded),
                  None)
    if interp is None:
        pytest.skip("no CPython 3.12+ here")
    python = ready(interp)
    env = server_env(PERFTRAMP_ACTIVATE="perf_elf")
    host_env = dict(env, PERFTRAMP_ELF_DIR=str(tmp_path))
    with open(tmp_path / "host.out", "w") as out:
        host = popen([python.exe, "-c", SERVER], env=host_env, stdout=out,
                     stderr=subprocess.STDOUT)
    try:
        namespaces.wait_for_line(tmp_path / "host.out", "ready", host)
        with unshared([python.exe, "-c", SERVER], env, tmp_path / "a.out") as first, \
                unshared([python.exe, "-c", SERVER], env, tmp_path / "b.out") as second:
            cli(python, ["record", "-a", "--backend", "perf_elf", "--duration", "2", "-F", "499",
                         "-o", "rec"],
                tmp_path)
            register_pids(*_recorded(tmp_path / "rec"))
    finally:
        host.kill()
        host.wait()
    text = cli(python, ["report", "rec", "--top", "100"], tmp_path).stdout
    for pid in (host.pid, first, second):
        assert "\n%8d " % pid in text, text
        only = cli(python, ["report", "rec", "--pid", str(pid), "--format", "collapsed"],
                   tmp_path).stdout
        assert_whole(only, "process %d" % pid)


OLDER = [i for i in INTERPRETERS if i.version < (3, 14)]


@pytest.mark.parametrize("interp", OLDER, ids=[i.label for i in OLDER])
def test_record_p_of_a_process_started_with_its_backend_on(interp, tmp_path):
    """record -p of a CPython older than 3.14 (no attach there) whose
    environment switched the backend on: recorded as it runs, whole chains,
    its files copied into the recording, the process left running."""
    python = ready(interp)
    backend = "perf" if interp.frame_pointers else "perf_elf"
    with open(tmp_path / "out", "w") as out:
        proc = popen([python.exe, "-c", SERVER], stdout=out, stderr=subprocess.STDOUT,
                     env=server_env(PERFTRAMP_ACTIVATE=backend,
                                    PERFTRAMP_ELF_DIR=str(tmp_path / "elf")))
    try:
        namespaces.wait_for_line(tmp_path / "out", "ready", proc)
        rec = cli(python, ["record", "-p", str(proc.pid), "--duration", "2", "-o", "rec"],
                  tmp_path)
        assert "with the %s backend" % backend in rec.stderr, rec.stderr
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    if backend == "perf":  # the map stays in /tmp; the recording has its own copy
        assert os.listdir(tmp_path / "rec" / "maps") == ["perf-%d.map" % proc.pid]
        os.unlink("/tmp/perf-%d.map" % proc.pid)
    else:  # the image, in the recording's build-id cache
        shutil.rmtree(tmp_path / "elf")
    report = cli(python, ["report", "rec", "--format", "collapsed"], tmp_path)
    assert_whole(report.stdout, "record -p of %s" % interp.label)


def _refused(python, tmp_path, args, env=None):
    """The one line perftramp said when it refused `args`."""
    got = cli(python, args, tmp_path, check=False, env=env)
    lines = got.stderr.strip().splitlines()
    assert got.returncode != 0 and len(lines) == 1 and lines[0].startswith("perftramp: "), \
        got.stderr
    assert not (tmp_path / "rec").exists()
    return lines[0]


OLDER_ONE = OLDER[-1:]


@pytest.mark.parametrize("interp", OLDER_ONE, ids=[i.label for i in OLDER_ONE])
def test_record_p_refusals(interp, tmp_path):
    """Another backend than the one on, what is not Python, what is gone:
    one line each, and no recording."""
    python = ready(interp)
    env = server_env(PERFTRAMP_ACTIVATE="perf_elf")
    with unshared([python.exe, "-c", SERVER], env, tmp_path / "c.out") as pid:
        line = _refused(python, tmp_path, ["record", "-p", str(pid), "--backend", "perf_jit",
                                           "-o", "rec"])
        assert "has perftramp's perf_elf backend on already" in line
    sleeper = popen(["sleep", "60"])
    try:
        line = _refused(python, tmp_path, ["record", "-p", str(sleeper.pid), "-o", "rec"])
        assert "is not a CPython interpreter" in line
    finally:
        sleeper.kill()
        sleeper.wait()
    line = _refused(python, tmp_path, ["record", "-p", str(sleeper.pid), "-o", "rec"])
    assert "no process %d" % sleeper.pid in line


#: one interpreter sent to with sys.remote_exec, one through ptrace_exec.py
ATTACHED = [i for i in INTERPRETERS if i.version >= (3, 14) and not i.free_threaded][-1:] + \
    [i for i in INTERPRETERS if (3, 12) <= i.version < (3, 14) and not i.frame_pointers][-1:]


@pytest.mark.parametrize("interp", ATTACHED, ids=[i.label for i in ATTACHED])
@pytest.mark.parametrize("backend", ["auto"] + (["perf_jit"] if JIT_IN_CONTAINERS else []))
def test_record_p_attaches_into_a_container(interp, backend, tmp_path):
    """A CPython in a container with no switch on, perftramp in its
    environment: record -p attaches from inside its namespaces, its files
    (in its own /tmp) are collected, and it runs on with the backend off.
    Frames already running at attach time (<module>) stay unnamed."""
    python = ready(interp)
    with unshared([python.exe, "-c", SERVER], server_env(), tmp_path / "out") as pid:
        rec = cli(python, ["record", "-p", str(pid), "--duration", "2", "--backend", backend,
                           "-o", "rec"], tmp_path)
        assert "attaching the" in rec.stderr and "detached from %d" % pid in rec.stderr, \
            rec.stderr
        assert os.listdir("/proc/%d/root/tmp" % pid) != [], "its files stay in its /tmp"
        leftover = [n for n in os.listdir("/proc/%d/root/tmp" % pid)
                    if n.startswith(("perftramp-attach-", "jitted-"))]
        assert leftover == [], leftover
    report = cli(python, ["report", "rec", "--format", "collapsed"], tmp_path).stdout
    assert_whole(report, "attached", attached_chain_share, 0.98)


PLANTS_A_LINK = """\
import os
os.symlink("/etc/passwd", "/tmp/perf-%d.map" % os.getpid())
os.mkfifo("/tmp/jit-%d.dump" % os.getpid())
""" + SERVER


def test_a_containers_links_are_not_followed(tmp_path):
    """A container whose process plants a link where its perf map goes (to
    a file of the host's, as /proc/PID/root would resolve it) and a FIFO
    where its jitdump goes: record -p takes neither, and does not hang."""
    interp = next((i for i in INTERPRETERS if i.version >= (3, 12)), None)
    if interp is None:
        pytest.skip("no CPython 3.12+ here")
    python = ready(interp)
    env = server_env(PERFTRAMP_ACTIVATE="perf_elf")
    with unshared([python.exe, "-c", PLANTS_A_LINK], env, tmp_path / "out") as pid:
        rec = cli(python, ["record", "-p", str(pid), "--duration", "1", "-o", "rec"], tmp_path)
        assert "with the perf_elf backend" in rec.stderr, rec.stderr
    assert not (tmp_path / "rec" / "maps").exists()
    for where, _, names in os.walk(tmp_path / "rec"):
        for name in names:
            with open(os.path.join(where, name), "rb") as f:
                assert b"root:x:0:0" not in f.read(), name


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_refusals_without_root(tmp_path):
    """Not root: record -a, and record -p of root's process, one line each
    saying what is missing."""
    usable = [i for i in INTERPRETERS if not i.base.startswith("/root/")]
    if shutil.which("setpriv") is None or not usable:
        pytest.skip("needs setpriv and an interpreter outside /root, to run as user 65534")
    python = ready(usable[0])
    if subprocess.run(AS_NOBODY + [python.exe, "-c", "import perftramp"], cwd="/",
                      capture_output=True, timeout=60).returncode != 0:
        pytest.skip("user 65534 cannot run %s (the clone is where others cannot enter)"
                    % python.exe)
    env = dict(os.environ, HOME="/nonexistent")
    nobody = AS_NOBODY + [python.exe, "-m", "perftramp"]
    with open(tmp_path / "out", "w") as out:
        target = popen([python.exe, "-c", SERVER], stdout=out, stderr=subprocess.STDOUT,
                       env=server_env(PERFTRAMP_ACTIVATE="perf_elf",
                                      PERFTRAMP_ELF_DIR=str(tmp_path)))
    try:
        namespaces.wait_for_line(tmp_path / "out", "ready", target)
        paranoid = int(open("/proc/sys/kernel/perf_event_paranoid").read())
        for args, said in ((["record", "-a", "--duration", "1"],
                            "recording every process needs root" if paranoid > 0 else None),
                           (["record", "-p", str(target.pid), "--duration", "1"],
                            "not permitted to attach to it or read its files (ptrace)")):
            if said is None:
                continue
            got = subprocess.run(nobody + args + ["-o", "/nonexistent/rec"], cwd="/", env=env,
                                 capture_output=True, text=True, timeout=120)
            lines = got.stderr.strip().splitlines()
            assert got.returncode == 2 and len(lines) == 1 and said in lines[0], got.stderr
        got = subprocess.run(nobody + ["check", "--pid", str(target.pid)], cwd="/", env=env,
                             capture_output=True, text=True, timeout=120)
        assert got.returncode == 1 and "[FAIL] process" in got.stdout, got.stdout
    finally:
        target.kill()
        target.wait()


def test_cgroup_names_a_container_as_runtimes_name_it(tmp_path):
    """report --cgroup takes a cgroup's path, its last components, or a
    container's id as docker, containerd and podman name their scopes."""
    interp = INTERPRETERS[-1] if INTERPRETERS else None
    if interp is None:
        pytest.skip("no CPython here")
    got = run_json(ready(interp), """
        import json
        from perftramp.recording.selection import cgroup_pids
        cgroups = {"/system.slice/docker-0123456789abcdef0123.scope": [1],
                   "/kubepods/burstable/pod1/cri-containerd-fedcba9876543210.scope": [2],
                   "/machine.slice/libpod-aaaabbbbccccdddd.scope/container": [3],
                   "/": [4], "/user.slice": [5]}
        asked = ["0123456789ab", "fedcba987654", "aaaabbbbcccc", "/kubepods", "burstable/pod1",
                 "/", "user.slice", "0123456789ac", "slice"]
        print(json.dumps([cgroup_pids(cgroups, a) for a in asked]))
    """)
    assert got == [[1], [2], [3], [2], [2], [4], [5], [], []]
