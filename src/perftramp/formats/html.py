"""A self-contained interactive flame graph: flamegraph.html, beside this
module, with the call tree filled in as JSON."""
import json
import os
import string

DESCRIPTION = "a self-contained interactive flame graph"

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flamegraph.html")


def tree(stacks):
    """[name, count, [children...]] of the stacks, children sorted by name."""
    root = {"n": "all", "v": 0, "c": {}}
    for stack, count in stacks.items():
        node = root
        node["v"] += count
        for frame in stack.split(";"):
            node = node["c"].setdefault(frame, {"n": frame, "v": 0, "c": {}})
            node["v"] += count

    def pack(node):
        return [node["n"], node["v"], [pack(c) for c in
                                      sorted(node["c"].values(), key=lambda c: c["n"])]]
    return pack(root)


def render(profile, options):
    title = "%d samples%s" % (profile.samples,
                              " of " + profile.command if profile.command else "")
    data = json.dumps(tree(profile.stacks)).replace("</", "<\\/")
    with open(TEMPLATE, encoding="utf-8") as f:
        page = string.Template(f.read())
    return page.substitute(title=title.replace("&", "&amp;").replace("<", "&lt;"), data=data)
