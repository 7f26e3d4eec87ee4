"""Deep pure-Python library code: symbolic mathematics (sympy) and graph
algorithms (networkx), called from the module's own body for RP_SECONDS.
sympy's simplification and integration recurse through expression trees,
so the stacks are 150-200 native frames deep."""
import _window

start = _window.begin()

import random  # noqa: E402
import time  # noqa: E402

import networkx as nx  # noqa: E402
import sympy  # noqa: E402
from sympy.core.cache import clear_cache  # noqa: E402

x, y = sympy.symbols("x y")
rng = random.Random(7)
tasks = [
    lambda: sympy.integrate(x ** 2 * sympy.sin(x) ** 3, x),
    lambda: sympy.simplify((sympy.cos(x) ** 4 - sympy.sin(x) ** 4) / sympy.cos(2 * x) + y),
    lambda: sympy.series(sympy.tan(sympy.sin(x)), x, 0, 8),
    lambda: sympy.integrate(1 / (x ** 3 + 1), x),
    lambda: sympy.solve([x ** 2 + y ** 2 - 4, x - y ** 2], [x, y]),
    lambda: nx.minimum_spanning_tree(graph),
    lambda: nx.betweenness_centrality(graph, k=60, seed=1),
    lambda: nx.community.louvain_communities(graph, seed=1),
]
units = 0
while units == 0 or time.perf_counter() - start < _window.seconds():
    if units % len(tasks) == 0:
        clear_cache()  # the same work again, not sympy's cache's answers
        graph = nx.gnm_random_graph(600, 3000, seed=rng.randrange(1 << 30))
    tasks[units % len(tasks)]()
    units += 1

_window.end(start, units)
