"""A program in a container of the simplest kind, for the tests: its own
pid and mount namespaces and a private /tmp (a tmpfs), as `unshare` makes
them; and the Python server the container tests profile in it.

What a container runtime adds (its own root filesystem, a cgroup) is in
oci.py; this shape is the one every runtime shares: the process has another
pid inside (1) and writes its perf files into a /tmp the host cannot see.
"""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time

from processes import popen, register_pids

#: foo under bar under baz: the chain the tests of running processes
#: (attached to, in containers) look for
CHAIN = """\
def foo(n):
    total = 0
    for i in range(n):
        total += i * i
    return total

def bar(n):
    return foo(n) + 1

def baz(n):
    return bar(n) + 1
"""

#: the program the container tests profile: the chain under the module,
#: forever; "ready" once it runs (its backend is on by then)
SERVER = "import time\n\n" + CHAIN + """
baz(10)
print("ready", flush=True)
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    baz(20000)
"""


def perf_injects_foreign_jitdumps():
    """Whether this perf's `perf inject --jit` reads the jitdump of a process
    in another pid namespace: 6.x does; 7.2 finds no marker in it (README,
    "Containers"), so a container's perf_jit is not tested with it."""
    out = subprocess.run(["perf", "version"], capture_output=True, text=True)
    m = re.search(r"(\d+)\.(\d+)", out.stdout)
    return m is not None and int(m.group(1)) < 7


def available():
    """None when this machine can make the namespaces, else why not."""
    if os.geteuid() != 0:
        return "making pid and mount namespaces needs root"
    if shutil.which("unshare") is None:
        return "no unshare (util-linux)"
    return None


def _child(pid):
    """The first child of `pid`, or None."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            words = f.read().split()
    except OSError:
        return None
    return int(words[0]) if words else None


def wait_for_line(path, line, proc=None, timeout=30):
    """Waits until the file `path` has the line `line` (while `proc`, when
    given, runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in path.read_text().splitlines():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError("no %r in %s: %r" % (line, path, path.read_text()))


@contextlib.contextmanager
def unshared(argv, env, out):
    """`argv` in new pid and mount namespaces with a private /tmp, its
    output in the file `out`; yields the host's pid of its process once it
    printed "ready".  It is killed afterwards, and its /tmp with it."""
    script = 'mount -t tmpfs tmpfs /tmp && exec "$@"'
    with open(out, "w") as f:
        proc = popen(["unshare", "--pid", "--fork", "--mount", "--mount-proc",
                      "--propagation", "private", "sh", "-c", script, "sh"] + list(argv),
                     env=env, stdout=f, stderr=subprocess.STDOUT)
    pid = None
    try:
        wait_for_line(out, "ready", proc)
        pid = _child(proc.pid)
        assert pid is not None, out.read_text()
        register_pids(pid)
        yield pid
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # the namespace's init: all of it ends
        proc.kill()
        proc.wait()


def server_env(**extra):
    """The environment the server is started with: none of perf's switches
    but `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT", "PERFTRAMP_ACTIVATE",
                        "PYTHONPATH", "PERFTRAMP_ELF_DIR", "PERFTRAMP_JITDUMP_DIR")}
    env.update(extra)
    return env


def _foo_stacks(collapsed):
    """(the Python functions' names from the outermost, count) of each
    collapsed stack whose innermost Python frame is foo."""
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        # "py::NAME:FILE" -> "NAME"
        names = [f[4:].split(":", 1)[0] for f in stack.split(";") if f.startswith("py::")]
        if names[-1:] == ["foo"]:
            yield names, int(count)


def _share(collapsed, chain):
    """(samples in foo, of them whose Python frames end in `chain`)."""
    foo = whole = 0
    for names, count in _foo_stacks(collapsed):
        foo += count
        if names[-len(chain):] == chain:
            whole += count
    return foo, whole


def chain_share(collapsed):
    """(samples in foo, of them with the whole chain: <module>;baz;bar;foo)."""
    foo, _ = _share(collapsed, ["foo"])
    return foo, sum(count for names, count in _foo_stacks(collapsed)
                    if names == ["<module>", "baz", "bar", "foo"])


def attached_chain_share(collapsed):
    """(samples in foo, of them under baz;bar): for a process attached to
    while it runs, whose <module> started before and stays unnamed."""
    return _share(collapsed, ["baz", "bar", "foo"])


def assert_whole(collapsed, what, share=chain_share, at_least=0.99):
    """That foo has samples enough and `at_least` of them the whole chain."""
    foo, whole = share(collapsed)
    assert foo > 300, "%s: %d samples in foo\n%s" % (what, foo, collapsed[-2000:])
    assert whole >= at_least * foo, "%s: %d of %d whole\n%s" % (what, whole, foo,
                                                               collapsed[-3000:])
