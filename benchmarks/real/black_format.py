"""A compiled program: black (its PyPI wheels are compiled with mypyc)
formatting a set of large Python files in-process, for RP_SECONDS.  The
files are sympy's, from the same venv (read, never imported), so the input
is the same on every machine with the pinned versions."""
import _window

start = _window.begin()

import importlib.util  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import black  # noqa: E402

root = importlib.util.find_spec("sympy").submodule_search_locations[0]
names = ["core/basic.py", "core/add.py", "core/mul.py", "core/power.py",
         "core/relational.py", "sets/sets.py", "series/order.py"]
sources = []
for name in names:
    with open(os.path.join(root, name), encoding="utf-8") as f:
        sources.append(f.read())
mode = black.Mode(line_length=79)
units = 0
while units == 0 or time.perf_counter() - start < _window.seconds():
    black.format_str(sources[units % len(sources)], mode=mode)
    units += 1

_window.end(start, units)
