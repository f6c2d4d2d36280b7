#!/usr/bin/env python3
"""Import cycles between the modules of src/ (a file is a module; `mod.rs` is its folder), and
between its rooms: each top-level folder (with everything in it) and each top-level file.

Reads every `use crate::...` / `crate::x::y` path and `super::` path of each file, maps it to the
module file it names, and prints each strongly connected group of more than one module. Exit 1
when there is one. Tests (`#[cfg(test)] mod tests`) are left out: a test may use anything.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "src")


def modules():
    out = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            if parts and parts[0] == "bin":
                continue
            out["::".join(parts)] = os.path.join(dirpath, f)
    return out


def body_without_tests(text):
    """The code before the tests, without comments (doc links are not imports)."""
    i = text.find("#[cfg(test)]")
    text = text if i < 0 else text[:i]
    return "\n".join(re.sub(r"//.*$", "", line) for line in text.splitlines())


def resolve(path, mods):
    """The longest module prefix of a `a::b::c` path."""
    parts = path.split("::")
    for n in range(len(parts), 0, -1):
        cand = "::".join(parts[:n])
        if cand in mods:
            return cand
    return None


def edges(mods):
    graph = {m: set() for m in mods}
    for m, file in mods.items():
        text = body_without_tests(open(file).read())
        here = m.split("::") if m else []
        is_dir = file.endswith("mod.rs")
        paths = []
        for g in re.finditer(r"crate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)", text):
            paths.append(g.group(1))
        for g in re.finditer(r"\b((?:super::)+)([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)", text):
            ups = g.group(1).count("super::")
            base = here if is_dir else here[:-1]
            base = base[: len(base) - (ups - 1)] if ups > 1 else base
            paths.append("::".join(base + [g.group(2)]))
        for g in re.finditer(r"use crate::\{([^;]*)\};", text, re.S):
            for item in re.findall(r"([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)", g.group(1)):
                paths.append(item)
        for p in paths:
            target = resolve(p, mods)
            # A module's own children and itself are not edges that make a cycle of layers.
            if target is None or target == m or target.startswith(m + "::") and m:
                continue
            graph[m].add(target)
    return graph


def sccs(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def rooms(graph):
    """The graph between top-level rooms: a folder and all it holds is one room."""
    room = lambda m: m.split("::")[0]
    out = {}
    for m, targets in graph.items():
        if not m:
            continue
        out.setdefault(room(m), set())
        for t in targets:
            if t and room(t) != room(m):
                out[room(m)].add(room(t))
    return out


def report(kind, graph):
    cycles = sccs(graph)
    for c in cycles:
        members = sorted(c)
        print("%s cycle: " % kind + ", ".join(m or "crate" for m in members))
        for m in members:
            inside = sorted(t for t in graph[m] if t in c)
            print("   %s -> %s" % (m or "crate", ", ".join(inside)))
    return cycles


def main():
    mods = modules()
    graph = edges(mods)
    by_file = report("module", graph)
    by_room = report("room", rooms(graph))
    if not by_file and not by_room:
        print("no import cycle among %d modules, nor among the rooms of src/" % len(mods))
    return 1 if by_file or by_room else 0


if __name__ == "__main__":
    sys.exit(main())
