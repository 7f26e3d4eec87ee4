"""A command in a real OCI container (crun), for the tests that profile a
containerised CPython from the host with `perf record -p HOSTPID`.

The container has its own pid, mount, ipc, uts and (empty) network
namespaces; its root is the Debian sid root of scripts/debian-sid-root.sh,
read-only; /tmp is a private tmpfs (so its perf files are reached from the
host through /proc/HOSTPID/root/tmp); the work tree is bind-mounted read-only
at the same path, so the venvs scripts/in-sid.sh made in build/venvs-sid run
(their python links to /usr/bin/python3.X, the root's; being read-only, they
write no __pycache__ and take no pip install).  It runs as root with Docker's
default capabilities and no seccomp filter.

cgroups: crun 1.8 refuses any container, whatever --cgroup-manager says,
when /sys/fs/cgroup is "hybrid" (v1 controllers, cgroup2 at
/sys/fs/cgroup/unified with a controller in it, as on the test VMs).  So crun
runs in a mount namespace of its own with that cgroup2 mount taken away, and
its cgroup manager is disabled.  Instead, before crun starts, it joins a fresh
cgroup2 cgroup under ours, so the container's processes are born in it; once
the container runs, crun itself goes back to our cgroup.  cgroup2 is the one
perf's cgroup features (-G, --all-cgroups) see: perf_event is bound to it
unless a v1 hierarchy has it.  Where no cgroup2 is writable, Container.cgroup
is None and the container shares ours.
"""
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from typing import Dict, Iterator, List, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
SID_ROOT = "/opt/perftramp-sid"
MARKER = ".perftramp-sid"       # what scripts/debian-sid-root.sh leaves in its root
TIMEOUT = 30.0
CAPS = ("CAP_CHOWN CAP_DAC_OVERRIDE CAP_FSETID CAP_FOWNER CAP_MKNOD CAP_NET_RAW CAP_SETGID "
        "CAP_SETUID CAP_SETFCAP CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_SYS_CHROOT CAP_KILL "
        "CAP_AUDIT_WRITE").split()
# Run by unshare in crun's own mount namespace: join the cgroup ($1), hide
# the hybrid cgroup2 mount from crun ($2), then become crun.
_WRAPPER = '[ -z "$1" ] || echo $$ >"$1" || exit 125; ' \
           '[ -z "$2" ] || umount "$2" || exit 125; shift 2; exec "$@"'


class Container:
    def __init__(self, name: str, host_pid: int, cgroup: Optional[str], log: str):
        self.name = name              # crun's id for it, unique
        self.host_pid = host_pid      # the container's init, as the host sees it
        self.cgroup = cgroup          # its cgroup2 path (/proc/HOSTPID/cgroup's "0::"),
        #                               None if it has none of its own
        self._log = log

    def output(self) -> str:
        """What the container (and crun) printed so far, stdout and stderr."""
        return _read(self._log)


def available(rootfs: str = SID_ROOT, binds: Sequence[str] = (REPO,)) -> Optional[str]:
    """None when crun and the sid root are usable here, else why not."""
    if os.geteuid() != 0:
        return "containers need root"
    if not shutil.which("crun") or not shutil.which("unshare"):
        return "no crun or unshare (apt-get install crun util-linux)"
    if not os.path.exists(os.path.join(rootfs, MARKER)):
        return "no sid root at %s (scripts/debian-sid-root.sh)" % rootfs
    for path in binds:
        # crun would mkdir a missing mount point in the root, which we never modify
        if not os.path.isdir(rootfs + os.path.abspath(path)):
            return "%s has no %s to mount on (scripts/in-sid.sh makes it)" % (rootfs, path)
    return None


def _config(argv, env, rootfs, binds, hostname):
    def tmpfs(dst, opts):
        return {"destination": dst, "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid"] + opts}

    return {
        "ociVersion": "1.0.0",
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0}, "args": list(argv), "cwd": "/",
            "env": ["%s=%s" % kv for kv in dict(
                {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "HOME": "/root"}, **env).items()],
            "capabilities": {k: CAPS for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            tmpfs("/dev", ["strictatime", "mode=755", "size=65536k"]),
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            tmpfs("/dev/shm", ["nodev", "noexec", "mode=1777", "size=65536k"]),
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            tmpfs("/tmp", ["nodev", "mode=1777"]),
        ] + [{"destination": p, "type": "bind", "source": p, "options": ["rbind", "ro"]}
             for p in map(os.path.abspath, binds)],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network")],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def _cgroup2():
    """(mount point of cgroup2, our cgroup in it), or (None, None)."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split(" - ")[0].split()[4] for line in f
                  if line.split(" - ")[1].startswith("cgroup2 ")]
    with open("/proc/self/cgroup") as f:
        ours = [line.strip()[3:] for line in f if line.startswith("0::")]
    return (mounts[0], ours[0]) if mounts and ours else (None, None)


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def _cmdline(pid):
    try:
        return _read("/proc/%d/cmdline" % pid)
    except OSError:
        return None


@contextlib.contextmanager
def container(argv: List[str], env: Dict[str, str], *, rootfs: str = SID_ROOT,
              binds: Sequence[str] = (REPO,),
              name_prefix: str = "perftramp-test") -> Iterator[Container]:
    """Runs argv in a new container; yields once it is argv that runs in it
    (not crun still); at the end kills it, deletes it and removes its files."""
    why = available(rootfs, binds)
    if why:
        raise RuntimeError(why)
    name = "%s-%d-%s" % (name_prefix, os.getpid(), uuid.uuid4().hex[:8])
    tmp = tempfile.mkdtemp(prefix=name + ".")   # the bundle, crun's state, the output
    log, pidfile, state = (os.path.join(tmp, n) for n in ("output", "pid", "state"))
    crun = ["crun", "--root", state, "--cgroup-manager=disabled"]
    mount, ours = _cgroup2()
    cgdir = None
    proc = None
    try:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(_config(argv, env, rootfs, binds, name_prefix), f)
        if mount:
            with contextlib.suppress(OSError):
                os.mkdir(os.path.join(mount + ours, name))
                cgdir = os.path.join(mount + ours, name)
        hide = "/sys/fs/cgroup/unified" if mount == "/sys/fs/cgroup/unified" else ""
        with open(log, "wb") as out:
            # crun in the foreground: it reaps the container and deletes it when it ends.
            proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _WRAPPER,
                 "sh", cgdir and os.path.join(cgdir, "cgroup.procs") or "", hide]
                + crun + ["run", "--bundle", tmp, "--pid-file", pidfile, name],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)  # ^C in the terminal is for pytest, not crun
        box = Container(name, _started(proc, pidfile, log),
                        cgdir and os.path.join(ours, name), log)
        if cgdir:  # leaving the container alone in its cgroup
            with open(os.path.join(mount + ours, "cgroup.procs"), "w") as f:
                f.write(str(proc.pid))
        yield box
    finally:
        if proc is not None:
            if proc.poll() is None:
                subprocess.run(crun + ["kill", name, "KILL"], capture_output=True, timeout=TIMEOUT)
            try:
                proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            # a no-op unless crun was killed before it could delete the container
            subprocess.run(crun + ["delete", "--force", name], capture_output=True, timeout=TIMEOUT)
        if cgdir:
            _rmdir(cgdir)
        shutil.rmtree(tmp, ignore_errors=True)


def _started(proc, pidfile, log):
    """The host pid of the container's init, once it has exec'd argv."""
    deadline = time.monotonic() + TIMEOUT
    crun = pid = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("container ended (crun exit status %d) before it was seen "
                               "running:\n%s" % (proc.returncode, _read(log)))
        if pid is None and os.path.exists(pidfile):
            # crun writes the pid file after it exec'd itself: proc's cmdline is crun's now,
            # and the init's the same until it exec's argv
            pid = int(_read(pidfile).strip() or 0) or None
            crun = _cmdline(proc.pid)
        if pid is not None and _cmdline(pid) not in (crun, None, ""):
            return pid
        time.sleep(0.002)
    raise RuntimeError("container not running after %ds" % TIMEOUT)


def _rmdir(path):
    # Its last tasks may take a moment to leave it after crun reaped the init.
    deadline = time.monotonic() + TIMEOUT
    while os.path.isdir(path):
        try:
            os.rmdir(path)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
