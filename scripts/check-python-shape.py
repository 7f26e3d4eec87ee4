#!/usr/bin/env python3
"""The shape review asks of perftramp's Python (issue 25): no function over
MAX_LINES lines, none with more than MAX_PARAMS parameters, and no import
cycle among the package's modules, imports inside functions counted.

    scripts/check-python-shape.py PACKAGE_DIR [FILE_OR_DIR ...]

PACKAGE_DIR is src/perftramp (its cycles are checked, and it is measured);
the others are only measured.  Prints one line per finding; exits 1 if any.
ruff has no rule for a function's length, nor one for cycles that counts
imports inside functions, hence this script."""
import ast
import os
import sys

MAX_LINES = 60
MAX_PARAMS = 7


def python_files(path):
    if os.path.isfile(path):
        yield path
        return
    for where, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "build"))
        for name in sorted(names):
            if name.endswith(".py"):
                yield os.path.join(where, name)


def shape_findings(path, tree):
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        lines = node.end_lineno - node.lineno + 1
        if lines > MAX_LINES:
            yield "%s:%d: %s is %d lines (at most %d)" % (path, node.lineno, node.name, lines,
                                                          MAX_LINES)
        a = node.args
        params = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
        if params > MAX_PARAMS:
            yield "%s:%d: %s has %d parameters (at most %d)" % (path, node.lineno, node.name,
                                                                params, MAX_PARAMS)


def module_name(package_dir, path):
    rel = os.path.relpath(path, os.path.dirname(package_dir))[:-len(".py")]
    parts = rel.split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(name, is_package, tree, known):
    """The package's modules `tree` imports, anywhere in it."""
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            start = base[:len(base) - node.level + 1] if node.level else []
            module = ".".join(start + ([node.module] if node.module else []))
            targets = [module] + ["%s.%s" % (module, alias.name) for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def cycles(graph):
    """One cycle through each strongly connected group of modules."""
    seen, on_stack, found = {}, set(), []

    def visit(node, path):
        seen[node] = True
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt in on_stack:
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in seen:
                visit(nxt, path + [nxt])
        on_stack.discard(node)

    for node in sorted(graph):
        if node not in seen:
            visit(node, [node])
    return found


def main(argv):
    package_dir = os.path.abspath(argv[1])
    findings = []
    modules = {}
    for top in argv[1:]:
        for path in python_files(top):
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            findings.extend(shape_findings(path, tree))
            if os.path.abspath(path).startswith(package_dir + os.sep):
                modules[module_name(package_dir, os.path.abspath(path))] = (path, tree)
    # a package's __init__ imported by its submodules is how Python loads
    # them, not a cycle: only edges to a package's own __init__ from inside
    # it are left out
    graph = {}
    for name, (path, tree) in modules.items():
        edges = imported(name, path.endswith("__init__.py"), tree, modules)
        graph[name] = {e for e in edges if not name.startswith(e + ".")}
    for cycle in cycles(graph):
        findings.append("import cycle: %s" % " -> ".join(cycle))
    for line in findings:
        print(line)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
