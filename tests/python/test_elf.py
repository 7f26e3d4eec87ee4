"""The perf_elf backend: the trampolines live in one ELF image per process,
which perf reads like any shared library, so plain `perf record --call-graph
dwarf` + `perf script` name and unwind through Python frames with no inject.
The file is read back with readelf (binutils), an independent reader."""
import os
import shutil
import signal
import subprocess
import textwrap
import time

import pytest

from processes import popen, run

READELF = shutil.which("readelf")
PERF = shutil.which("perf")

SEED = textwrap.dedent("""
    import perftramp
    perftramp.activate_stack_trampoline("perf_elf")
    def foo(n):
        t = 0
        for i in range(n):
            t += i
        return t
    def bar(n):
        return foo(n)
    def baz(n):
        return bar(n)
    def main():
        for _ in range(12):
            baz(200000)
    main()
""")


def elf_files(directory):
    return sorted(p for p in os.listdir(directory) if p.startswith("perf-elf-"))


def symbols(path):
    out = subprocess.run([READELF, "-W", "-s", path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    names = []
    for line in out.stdout.splitlines():
        fields = line.split(None, 7)
        if len(fields) == 8 and fields[3] == "FUNC":
            names.append(fields[7])
    return names


def readelf_ok(path):
    out = subprocess.run([READELF, "-W", "-h", "-S", "-l", "-n", "--debug-dump=frames",
                          path], capture_output=True, text=True)
    return out.returncode == 0 and "Error" not in out.stderr, out


pytestmark = pytest.mark.skipif(READELF is None, reason="readelf (binutils) not installed")


def chains(script):
    """For each sample whose leaf Python frame is foo: its Python frames."""
    out = []
    for block in script.split("\n\n"):
        names = []
        for line in block.strip().splitlines():
            fields = line.split(None, 1)
            if len(fields) == 2 and fields[1].startswith("py::"):
                names.append(fields[1].split(":")[2])
        if names and names[0] == "foo":
            out.append(names)
    return out


@pytest.mark.skipif(PERF is None, reason="perf not installed")
def test_whole_chains_without_inject(python, tmp_path):
    if python.frame_pointers:
        pytest.skip("perf_elf is for interpreters without frame pointers")
    (tmp_path / "seed.py").write_text(SEED)
    data = str(tmp_path / "perf.data")
    env = dict(os.environ, PERFTRAMP_ELF_DIR=str(tmp_path))
    rec = popen([PERF, "record", "-q", "-N", "-F", "999", "--call-graph", "dwarf", "-o",
                 data, "--", python.exe, str(tmp_path / "seed.py")], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = rec.communicate(timeout=120)
    assert rec.returncode == 0, err
    script = subprocess.run([PERF, "script", "-i", data, "-F", "ip,sym"],
                            capture_output=True, text=True, cwd=tmp_path).stdout
    got = chains(script)
    assert len(got) >= 20, script[:2000]
    whole = [c for c in got if c[:4] == ["foo", "bar", "baz", "main"]]
    assert len(whole) >= 0.99 * len(got), (len(whole), len(got), got[:5])
    assert not list(tmp_path.glob("jitted-*")), "no inject, no jitted files"


def test_file_is_valid_elf_with_a_symbol_per_function(python, tmp_path):
    run(python, ["-c", "import perftramp; perftramp.activate_stack_trampoline('perf_elf')\n"
                 "def one(): pass\ndef two(): pass\none(); two()"],
        env={"PERFTRAMP_ELF_DIR": str(tmp_path)})
    [name] = elf_files(tmp_path)
    ok, out = readelf_ok(str(tmp_path / name))
    assert ok, out.stderr
    assert "Build ID" in out.stdout and ".eh_frame_hdr" in out.stdout
    assert "DW_CFA_def_cfa_register: r6 (rbp)" in out.stdout or python.version is None
    names = symbols(str(tmp_path / name))
    assert any(n.startswith("py::one:") for n in names)
    assert any(n.startswith("py::two:") for n in names)
    assert os.stat(tmp_path / name).st_mode & 0o777 == 0o600


def test_fork_child_gets_its_own_file(python, tmp_path):
    code = textwrap.dedent("""
        import os, perftramp
        perftramp.activate_stack_trampoline("perf_elf")
        def before(): pass
        before()
        pid = os.fork()
        if pid == 0:
            def in_child(): pass
            in_child()
            os._exit(0)
        os.waitpid(pid, 0)
        def in_parent(): pass
        in_parent()
        print(pid)
    """)
    child = int(run(python, ["-c", code], env={"PERFTRAMP_ELF_DIR": str(tmp_path)})
                .stdout.split()[-1])
    files = elf_files(tmp_path)
    assert len(files) == 2, files
    child_names = symbols(str(tmp_path / ("perf-elf-%d.so" % child)))
    [parent_file] = [f for f in files if f != "perf-elf-%d.so" % child]
    parent_names = symbols(str(tmp_path / parent_file))
    assert any(n.startswith("py::before:") for n in child_names)
    assert any(n.startswith("py::in_child:") for n in child_names)
    assert not any(n.startswith("py::in_parent:") for n in child_names)
    assert not any(n.startswith("py::in_child:") for n in parent_names)
    assert any(n.startswith("py::in_parent:") for n in parent_names)


def test_threads_each_name_their_functions(python, tmp_path):
    code = textwrap.dedent("""
        import threading, perftramp
        perftramp.activate_stack_trampoline("perf_elf")
        def work(k):
            for i in range(300):
                exec("def f_%d_%d(): pass\\nf_%d_%d()" % (k, i, k, i))
        ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        [t.start() for t in ts]; [t.join() for t in ts]
    """)
    run(python, ["-c", code], env={"PERFTRAMP_ELF_DIR": str(tmp_path)})
    [name] = elf_files(tmp_path)
    names = symbols(str(tmp_path / name))
    assert len([n for n in names if n.startswith("py::f_")]) == 1200


def test_sigkill_leaves_a_readable_file(python, tmp_path):
    code = textwrap.dedent("""
        import perftramp, sys
        perftramp.activate_stack_trampoline("perf_elf")
        print("go", flush=True)
        i = 0
        while True:
            exec("def g%d(): pass\\ng%d()" % (i, i)); i += 1
    """)
    env = dict(os.environ, PERFTRAMP_ELF_DIR=str(tmp_path))
    proc = popen([python.exe, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "go"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    [name] = elf_files(tmp_path)
    ok, out = readelf_ok(str(tmp_path / name))
    assert ok, out.stderr
    assert len([n for n in symbols(str(tmp_path / name)) if n.startswith("py::g")]) > 10


def test_hostile_names_are_escaped_and_bounded(python, tmp_path):
    code = textwrap.dedent("""
        import perftramp
        perftramp.activate_stack_trampoline("perf_elf")
        ns = {}
        exec(compile("def f(): pass", "evil\\nname", "exec"), ns); ns["f"]()
        exec(compile("def g(): pass", "x" * 100000, "exec"), ns); ns["g"]()
    """)
    run(python, ["-c", code], env={"PERFTRAMP_ELF_DIR": str(tmp_path)})
    [name] = elf_files(tmp_path)
    names = symbols(str(tmp_path / name))
    assert "py::f:evil\\x0aname" in names
    long = [n for n in names if n.startswith("py::g:")]
    assert len(long) == 1 and len(long[0]) == 4096


def test_planted_symlink_is_refused_and_the_program_runs_on(python, tmp_path):
    target = tmp_path / "victim"
    target.write_text("keep me")
    code = textwrap.dedent("""
        import os, sys, warnings, perftramp
        d = os.environ["PERFTRAMP_ELF_DIR"]
        os.symlink(sys.argv[1], os.path.join(d, "perf-elf-%d.so" % os.getpid()))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            perftramp.activate_stack_trampoline("perf_elf")
        def f(): return 42
        print(f(), [str(x.message) for x in w])
    """)
    out = run(python, ["-c", code, str(target)], env={"PERFTRAMP_ELF_DIR": str(tmp_path)})
    assert out.stdout.startswith("42 ")
    assert "symbolic link" in out.stdout
    assert target.read_text() == "keep me"


def test_directory_of_another_user_is_refused(python, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory owned by another user")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    code = ("import perftramp, warnings\nwarnings.simplefilter('always')\n"
            "perftramp.activate_stack_trampoline('perf_elf')\ndef f(): return 7\nprint(f())")
    out = run(python, ["-c", code], env={"PERFTRAMP_ELF_DIR": str(theirs)})
    assert out.stdout.strip() == "7"
    assert "cannot write" in out.stderr
    assert elf_files(theirs) == []


def test_full_filesystem_refuses_cleanly(python, tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tiny tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)]
                      ).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    try:
        code = textwrap.dedent("""
            import perftramp, warnings
            warnings.simplefilter("always")
            perftramp.activate_stack_trampoline("perf_elf")
            for i in range(3000):
                exec("def h%d(): return %d\\nh%d()" % (i, i, i))
            def last(): return "done"
            print(last())
        """)
        out = run(python, ["-c", code], env={"PERFTRAMP_ELF_DIR": str(small)})
        assert out.stdout.strip() == "done"
        assert "cannot write" in out.stderr
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_exec_continues_the_file(python, tmp_path):
    code = textwrap.dedent("""
        import os, sys, perftramp
        perftramp.activate_stack_trampoline("perf_elf")
        if len(sys.argv) == 1:
            def before_exec(): pass
            before_exec()
            os.execv(sys.executable, [sys.executable, "-c", CODE, "again"])
        def after_exec(): pass
        after_exec()
    """)
    code = "CODE = %r\n" % code + code
    run(python, ["-c", code], env={"PERFTRAMP_ELF_DIR": str(tmp_path)})
    [name] = elf_files(tmp_path)
    ok, out = readelf_ok(str(tmp_path / name))
    assert ok, out.stderr
    names = symbols(str(tmp_path / name))
    assert any(n.startswith("py::before_exec:") for n in names)
    assert any(n.startswith("py::after_exec:") for n in names)
