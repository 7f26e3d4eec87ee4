"""Sharing the interpreter's evaluator with other PEP 523 users.

Debuggers and tracers set the evaluator back to CPython's default when they
are done, whatever was installed after them.  perftramp must notice that its
hook was taken out: say so (is_stack_trampoline_active() is False), and
install itself again on the next activation."""
import textwrap
from pathlib import Path

import pytest

from perffiles import jitdump_stubs, map_entries
from processes import run_json

# The other tool: sets CPython's default evaluator back through the API
# debuggers use (3.9+; 3.8 keeps the field in an internal struct).
OTHER_TOOL = textwrap.dedent("""
    import ctypes, json, os, perftramp
    api = ctypes.pythonapi
    api.PyInterpreterState_Get.restype = ctypes.c_void_p
    api._PyInterpreterState_SetEvalFrameFunc.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    api._PyInterpreterState_SetEvalFrameFunc.restype = None
    DEFAULT = ctypes.cast(api._PyEval_EvalFrameDefault, ctypes.c_void_p).value

    def reset_to_default():
        api._PyInterpreterState_SetEvalFrameFunc(api.PyInterpreterState_Get(), DEFAULT)

    def call_fresh(name):
        namespace = {}
        exec("def %s():\\n    return 1\\n" % name, namespace)
        namespace[name]()
""")


@pytest.mark.versions(min=(3, 9))
@pytest.mark.parametrize("backend", ["perf", "perf_jit"])
def test_reset_to_default_is_noticed_and_undone(python, backend):
    r = run_json(python, OTHER_TOOL + textwrap.dedent("""
        perftramp.activate_stack_trampoline(%r)
        call_fresh("before_reset")
        reset_to_default()
        out = {"pid": os.getpid(), "after_reset": perftramp.is_stack_trampoline_active()}
        call_fresh("while_reset")
        perftramp.activate_stack_trampoline(%r)
        out["reactivated"] = perftramp.is_stack_trampoline_active()
        call_fresh("after_reactivation")
        reset_to_default()
        perftramp.deactivate_stack_trampoline()
        out["after_deactivation"] = perftramp.is_stack_trampoline_active()
        perftramp.activate_stack_trampoline(%r)
        call_fresh("after_a_cycle")
        out["active_at_end"] = perftramp.is_stack_trampoline_active()
        print(json.dumps(out))
    """ % (backend, backend, backend)))
    assert r["after_reset"] is False
    assert r["reactivated"] is True
    assert r["after_deactivation"] is False
    assert r["active_at_end"] is True
    if backend == "perf":
        names = " ".join(name for _, _, name in map_entries(r["pid"]))
    else:
        dump = Path("/tmp/jit-%d.dump" % r["pid"])
        names = " ".join(jitdump_stubs(dump).values())
        dump.unlink()
    for made in ("before_reset", "after_reactivation", "after_a_cycle"):
        assert "py::%s:" % made in names
    assert "while_reset" not in names

