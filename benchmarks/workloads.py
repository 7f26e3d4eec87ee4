"""One benchmark measurement, run inside the interpreter being measured.

    python workloads.py CONFIG WORKLOAD

CONFIG says what is switched on before the clock starts:
  off                 nothing
  floor               a no-op PEP 523 hook (perftramp._perftramp._floor)
  perftramp-perf      perftramp.activate_stack_trampoline("perf")
  perftramp-perf_jit  perftramp.activate_stack_trampoline("perf_jit")
  cpython-perf        CPython's own, switched on by the runner with -X perf
  cpython-perf_jit    CPython's own, switched on by the runner with -X perf_jit
Prints one JSON object: the workload's seconds and what it made.
"""
import json
import os
import sys
import time

REGISTER_FUNCTIONS = 50_000
# The stack workload's recursion: deep enough that the C frames above and below
# the chain weigh nothing in the per-call figure, shallow enough for every
# recursion limit.
STACK_DEPTH = 400
# Each process times its workload this many times and keeps the fastest: what
# is left of the noise is then mostly between processes (layout, ASLR), which
# the runner's median over rounds takes care of.
REPEATS = 5


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def w_fib():
    fib(30)


class Point:
    def __init__(self, x):
        self.x = x

    def step(self):
        return self.x + 1

    def twice(self):
        return self.step() + self.step()


def w_methods():
    p = Point(1)
    for _ in range(1_000_000):
        p.twice()


def w_closures():
    def make(k):
        def add(x):
            return x + k
        return add

    fs = [make(i) for i in range(10)]
    total = 0
    for _ in range(200_000):
        for f in fs:
            total = f(total) & 0xFFFF


def w_generators():
    def count(n):
        i = 0
        while i < n:
            yield i
            i += 1

    for _ in range(40_000):
        sum(count(60))


MIX_SOURCE = '''
import dataclasses
@dataclasses.dataclass
class Item:
    name: str
    price: float
    tags: list
def total(items):
    return sum(i.price for i in items if "x" in i.tags)
'''


def w_mix():
    for _ in range(4):
        mix_once()


def mix_once():
    import ast
    import asyncio
    import dataclasses
    import email
    import json as json_mod
    import re

    doc = {"items": [{"name": "n%d" % i, "price": i * 1.5, "tags": ["x", "y"]}
                     for i in range(200)]}
    for _ in range(15):
        json_mod.loads(json_mod.dumps(doc))
    pattern = re.compile(r"(\w+)@(\w+)\.com")
    text = " ".join("user%d@host%d.com" % (i, i) for i in range(300))
    for _ in range(10):
        [m.groups() for m in pattern.finditer(text)]
    for _ in range(20):
        ast.dump(ast.parse(MIX_SOURCE))

    @dataclasses.dataclass
    class Row:
        a: int
        b: str

    rows = [Row(i, str(i)) for i in range(3000)]
    sorted(rows, key=lambda r: (r.b, r.a))

    async def leaf(i):
        await asyncio.sleep(0)
        return i

    async def main():
        return sum(await asyncio.gather(*(leaf(i) for i in range(1500))))

    asyncio.run(main())
    msg = ("From: a@b.com\nTo: c@d.com\nSubject: hello\n"
           "Content-Type: text/plain\n\n" + "body line\n" * 50)
    for _ in range(150):
        email.message_from_string(msg).get_payload()


def fresh_functions(n):
    template = compile("def f():\n    return 1\n", "register.py", "exec").co_consts[0]
    out = []
    for i in range(n):
        name = "f%d" % i
        fields = {"co_name": name}
        if sys.version_info >= (3, 11):
            fields["co_qualname"] = name
        out.append(type(fresh_functions)(template.replace(**fields), {}))
    return out


WORKLOADS = {
    "fib": w_fib,
    "methods": w_methods,
    "closures": w_closures,
    "generators": w_generators,
    "mix": w_mix,
}


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def activate(config):
    if config == "floor":
        from perftramp import _perftramp

        _perftramp._floor(True)
    elif config.startswith("perftramp-"):
        import perftramp

        perftramp.activate_stack_trampoline(config[len("perftramp-"):])


def main():
    config, workload = sys.argv[1], sys.argv[2]
    result = {}
    if workload == "register":
        funcs = fresh_functions(REGISTER_FUNCTIONS)
        activate(config)
        rss_before = rss_bytes()
        start = time.perf_counter()
        for f in funcs:
            f()
        result["seconds"] = time.perf_counter() - start
        result["rss_growth"] = rss_bytes() - rss_before
        result["functions"] = len(funcs)
    elif workload == "stack":
        activate(config)
        result["seconds"] = 0.0
        from perftramp.recording.interpreter import c_stack_per_call

        result["stack_bytes"] = c_stack_per_call(STACK_DEPTH)
    else:
        func = WORKLOADS[workload]
        activate(config)
        func()  # warm-up: first calls make trampolines, outside the clock
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
        result["seconds"] = min(times)
    if config.startswith("perftramp-"):
        from perftramp import _perftramp

        result["stats"] = _perftramp._stats(config[len("perftramp-"):])
    result["pid"] = os.getpid()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
