"""Pre-fork servers: trampolines made ahead of time in the parent
(compile_trampolines, the C API of perftramp.h) are the workers' too."""
import json
import subprocess
import sysconfig

import pytest

from perffiles import jitdump_stubs, map_entries
from processes import register_pids, run, run_json

PREFORK = """
    import json, os, sys, perftramp
    from perftramp import _perftramp

    def foo_fork():
        return sum(x for x in range(3))     # a generator expression: nested code

    def bar_fork():
        return foo_fork()

    class Handler:
        def handle(self):
            return bar_fork()

    perftramp.activate_stack_trampoline(%(backend)r)
    perftramp.set_persist_after_fork(True)
    made = perftramp.compile_trampolines(sys.modules[__name__])
    before = _perftramp._stats(%(backend)r)["trampolines"]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        Handler().handle()
        after = _perftramp._stats(%(backend)r)["trampolines"]
        os.write(w, json.dumps({"made_in_child": after - before}).encode())
        os._exit(0)
    os.close(w)
    child = json.loads(os.read(r, 4096))
    os.waitpid(pid, 0)
    print(json.dumps(dict(child, pid=os.getpid(), child=pid, made=made,
                          persist=_perftramp._persist_after_fork())))
"""

# The functions PREFORK compiles, by their qualified names (before 3.11 code
# objects know only their plain names: "handle", "<genexpr>").
NAMES = ("foo_fork", "bar_fork", "Handler.handle", "<genexpr>")


def label(name):
    qualname, _, filename = name[len("py::"):].rpartition(":")
    if filename != "<string>":
        return None
    return next((n for n in NAMES if qualname == n or qualname.endswith("." + n)
                 or n.endswith("." + qualname)), None)


def entries(backend, pid, jit_dir):
    """{name: address} of PREFORK's functions in a process's map or dump."""
    if backend == "perf":
        found = {name: start for start, _, name in map_entries(pid)}
    else:
        found = {name: start
                 for start, name in jitdump_stubs(jit_dir / ("jit-%d.dump" % pid)).items()}
    return {name: addr for name, addr in found.items() if label(name)}


@pytest.mark.parametrize("backend", ["perf", "perf_jit"])
def test_workers_use_and_name_the_parents_trampolines(python, backend, tmp_path):
    r = run_json(python, PREFORK % {"backend": backend},
                 env={"PERFTRAMP_JITDUMP_DIR": str(tmp_path)})
    register_pids(r["pid"], r["child"])
    # the module's functions, the method, and the generator expression
    assert r["made"] >= 4, r
    assert r["persist"] is True
    # the worker ran them all without making a trampoline of its own...
    assert r["made_in_child"] == 0, r
    parent = entries(backend, r["pid"], tmp_path)
    child = entries(backend, r["child"], tmp_path)
    assert {label(name) for name in parent} == set(NAMES), parent
    # ...and its own file names each of them at the parent's address
    assert child == parent


def test_compile_everything_alive(python):
    r = run_json(python, """
        import json, perftramp
        def never_called():
            def inner(): return 1
            return inner
        inactive = perftramp.compile_trampolines()
        perftramp.activate_stack_trampoline("perf")
        alive = perftramp.compile_trampolines()
        again = perftramp.compile_trampolines([never_called, never_called.__code__])
        import os
        print(json.dumps({"pid": os.getpid(), "inactive": inactive, "alive": alive,
                          "again": again}))
    """)
    register_pids(r["pid"])
    assert r["inactive"] == 0
    # every function of the stdlib modules loaded at start-up, and more
    assert r["alive"] > 200, r
    assert r["again"] == 2  # never_called and its nested inner, already made
    names = {name.rsplit(":", 1)[0] for _, _, name in map_entries(r["pid"])}
    inner = "never_called.<locals>.inner" if python.version >= (3, 11) else "inner"
    assert {"py::never_called", "py::" + inner} <= names


def test_compile_refuses_what_is_not_code(python):
    r = run(python, ["-c", """if 1:
        import perftramp
        from perftramp import _perftramp
        for bad in (42, "f", None):
            try:
                _perftramp._compile(bad)
            except TypeError as e:
                print("TypeError", e)
        try:
            perftramp.compile_trampolines(42)
        except TypeError as e:
            print("TypeError", e)
    """])
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("TypeError") for line in lines), r.stdout
    assert "compile needs a code object, not int" in lines[0]


def test_c_api_through_the_capsule(python):
    """perftramp.h's functions, called as a C extension would (through the
    capsule), here with ctypes."""
    r = run_json(python, """
        import ctypes, json, os, perftramp
        from perftramp import _perftramp

        class CAPI(ctypes.Structure):
            _fields_ = [("version", ctypes.c_int),
                        ("compile_code", ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object)),
                        ("set_persist_after_fork", ctypes.PYFUNCTYPE(ctypes.c_int,
                                                                     ctypes.c_int))]
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype = ctypes.c_void_p
        get.argtypes = [ctypes.py_object, ctypes.c_char_p]
        api = CAPI.from_address(get(_perftramp._C_API, b"perftramp._perftramp._C_API"))
        def ahead(): return 1
        perftramp.activate_stack_trampoline("perf")
        rc = api.compile_code(ahead.__code__)
        try:
            api.compile_code(42)
            bad = "no error"
        except TypeError as e:
            bad = str(e)
        persist = api.set_persist_after_fork(1), _perftramp._persist_after_fork()
        print(json.dumps({"pid": os.getpid(), "version": api.version, "rc": rc, "bad": bad,
                          "persist": persist}))
    """)
    register_pids(r["pid"])
    assert r["version"] == 1 and r["rc"] == 0
    assert "not int" in r["bad"]
    assert r["persist"] == [0, True]
    assert any(name.startswith("py::ahead:") for _, _, name in map_entries(r["pid"]))


def test_header_compiles_against_the_interpreter(python, tmp_path):
    """perftramp.h as an extension includes it, with the warnings the
    project's own C is held to."""
    paths = json.loads(run(python, ["-c", (
        "import json, sysconfig, perftramp; print(json.dumps([perftramp.get_include(), "
        "sysconfig.get_paths()['include']]))")]).stdout)
    source = tmp_path / "uses_perftramp.c"
    source.write_text('#include "perftramp.h"\n'
                      "int use(PyObject *code) {\n"
                      "    const PerftrampCAPI *api = Perftramp_Import();\n"
                      "    return api == NULL ? -1 : api->compile_code(code);\n"
                      "}\n")
    cc = sysconfig.get_config_var("CC") or "cc"
    out = subprocess.run(cc.split()[:1] + ["-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                                           "-I", paths[0], "-I", paths[1], str(source)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
