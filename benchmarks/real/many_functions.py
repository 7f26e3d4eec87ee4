"""Scale: an application's worth of code.  The module's body defines and
calls 100,000 distinct functions (RP_FUNCTIONS; each its own code object,
as an app of that size has), then runs a hot chain baz -> bar -> foo for
RP_SECONDS.  With perf_jit this is the case `perf inject` does not survive
(one ELF file per function); perf_elf keeps one image."""
import _window

start = _window.begin()

import os  # noqa: E402
import time  # noqa: E402

count = int(os.environ.get("RP_FUNCTIONS", "100000"))
space = {}
for first in range(0, count, 1000):
    source = "".join("def f%d(n):\n    return n + %d\n" % (i, i)
                     for i in range(first, min(first + 1000, count)))
    exec(compile(source, "app_%d.py" % (first // 1000), "exec"), space)
called = sum(space["f%d" % i](1) for i in range(count))


def foo(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def bar(n):
    return foo(n) + 1


def baz(n):
    return bar(n) + 1


units = 0
while units == 0 or time.perf_counter() - start < _window.seconds():
    baz(20000)
    units += 1

_window.end(start, units)
