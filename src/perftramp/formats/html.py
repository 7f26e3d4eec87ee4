"""A self-contained interactive flame graph: flamegraph.html, beside this
module, with the call tree filled in.

The page has no external resource (no network, no script it fetches), so it
can be mailed or opened from a recording directory.  Its call tree is not a
nested JSON of frame names, which repeats a long "py::name:/path/file.py" at
every node where it appears (megabytes on a deep program), but a string
table and three flat arrays, one entry per node in depth-first order:

    names  every distinct frame name once
    kinds  one letter per name: p(ython), n(ative), k(ernel), t(runcated)
           (formats.frame_kind)
    node   the index of the node's name in `names`
    depth  the node's depth minus its predecessor's: 1 for a first child, 0
           for a sibling, below 0 for a return towards the root (small
           numbers, most of them 1 or 0; the root's is 1)
    value  the samples at or under the node

and, for a differential flame graph (perftramp diff), two more:

    base       the samples at or under the same path (the same frames from
               the root) in the base recording, 0 where it has none
    baseTotal  the base recording's samples

Node 0 is the root, "all"; nodes of depth 1 are the processes' commands.
Children are in name order (flamegraph.pl's), so the same profile gives the
same page.

Frame names come from the profiled program and are not trusted (a function
may be called "</script><img onerror=...>"): the table is JSON with every
"<", ">" and "&" written as \\uXXXX, so that nothing in it can end the
script element, and the page's script puts names on the page only as text
(textContent), never as markup.
"""
import html
import json
import os
import string

from . import frame_kind

try:
    # formats.truncation_advice() is newer than this module: without it, none.
    from . import truncation_advice
except ImportError:
    truncation_advice = None  # type: ignore[assignment]

DESCRIPTION = "a self-contained interactive flame graph"
FILE_NAME = "flamegraph.html"

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flamegraph.html")

ROOT = "all"
_KIND_LETTER = {"python": "p", "native": "n", "kernel": "k", "truncated": "t", "offcpu": "o"}


def _trie(stacks):
    """The call tree of folded `stacks`: node = [samples, {frame: node}]."""
    root: list = [0, {}]
    for stack, count in stacks.items():
        node = root
        node[0] += count
        for frame in stack.split(";"):
            child = node[1].get(frame)
            if child is None:
                child = node[1][frame] = [0, {}]
            child[0] += count
            node = child
    return root


def tree(stacks, base=None):
    """The call tree of folded `stacks` as the page's flat table (above):
    {"names", "kinds", "node", "depth", "value"}, and with the folded
    stacks `base`, "base" and "baseTotal"."""
    root = _trie(stacks)
    base_root = _trie(base) if base is not None else None
    names: list = []
    index: dict = {}
    node_col, depth_col, value_col, base_col = [], [], [], []
    # Iteratively: stacks may be thousands of frames deep.
    todo = [(ROOT, root, 0, base_root)]
    previous = -1
    while todo:
        name, node, depth, base_node = todo.pop()
        i = index.get(name)
        if i is None:
            i = index[name] = len(names)
            names.append(name)
        node_col.append(i)
        depth_col.append(depth - previous)
        value_col.append(node[0])
        base_col.append(base_node[0] if base_node else 0)
        previous = depth
        for child_name in sorted(node[1], reverse=True):
            todo.append((child_name, node[1][child_name], depth + 1,
                         base_node[1].get(child_name) if base_node else None))
    kinds = "".join("n" if n == ROOT else _KIND_LETTER[frame_kind(n)] for n in names)
    table = {"names": names, "kinds": kinds, "node": node_col, "depth": depth_col,
             "value": value_col}
    if base_root is not None:
        table.update(base=base_col, baseTotal=base_root[0])
    return table


def script_json(value):
    """`value` as JSON that is safe inside a <script> element: no "<", ">"
    or "&" (they can only be in strings, where \\u escapes mean the same),
    and ASCII only (so U+2028/U+2029 are escaped too)."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(title, advice, table):
    """The flame graph page of a tree() table."""
    with open(TEMPLATE, encoding="utf-8") as f:
        template = string.Template(f.read())
    return template.substitute(
        title=html.escape(title),
        advice=html.escape(advice) if advice else "",
        advice_hidden="" if advice else " hidden",
        data=script_json(table))


def render(profile, options):
    unit = getattr(profile, "unit", "samples")
    amount = "%.2f s of %s" % (profile.samples / 1e9, "wall-clock time" if getattr(
        profile, "mode", "cpu") == "wall" else "time off the CPU") if unit == "ns" \
        else "%d samples" % profile.samples
    title = "%s%s" % (amount, " of " + profile.command if profile.command else "")
    advice = truncation_advice(profile) if truncation_advice is not None else None
    table = tree(profile.stacks)
    if unit == "ns":
        table["unit"] = "ns"  # values are nanoseconds, not samples
    return page(title, advice, table)
