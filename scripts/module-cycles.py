#!/usr/bin/env python3
"""Folder-level import graph of crates/multiproc/src, and its cycles.

Each top-level module (a folder such as `process/`, or a file such as `error.rs`) is a node;
`a -> b` when a file under `a` names `crate::b` (in a `use` or a path). Doc-comment links and
unit-test modules are ignored. Prints the edges with the files behind them, then every
cycle (strongly connected component of more than one node). Exit status 1 if there is a
cycle not listed in `KNOWN` below (the ones the wire-layer move of issue 12 removes), so CI
catches a new one.

    python3 scripts/module-cycles.py           # summary
    python3 scripts/module-cycles.py --edges   # and every edge with its files
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(__file__), "..", "crates", "multiproc", "src")

# Cycles present when this script was written, to be removed (issue 12, item 1).
KNOWN = set()


def top(rel):
    part = rel.split(os.sep)[0]
    return part[:-3] if part.endswith(".rs") else part


def strip(text):
    cut = text.find("\n#[cfg(test)]\nmod tests")
    if cut >= 0:
        text = text[:cut]
    out = []
    for line in text.splitlines():
        code = line.split("//")[0]
        out.append(code)
    return "\n".join(out)


def graph():
    edges = {}
    for root, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, SRC)
            a = top(rel)
            if a == "lib":
                continue
            text = strip(open(path).read())
            names = set(re.findall(r"crate::([a-z_]+)", text))
            # `use crate::{a, b::c}` groups
            for group in re.findall(r"crate::\{([^}]*)\}", text):
                names |= set(re.findall(r"(?:^|,)\s*([a-z_]+)", group))
            for b in names:
                if b != a and b not in ("self",):
                    edges.setdefault((a, b), set()).add(rel)
    return edges


def sccs(nodes, adj):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj.get(v, ()):
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
            out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def main():
    edges = graph()
    adj, nodes = {}, set()
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        nodes |= {a, b}
    if "--edges" in sys.argv:
        for (a, b), files in sorted(edges.items()):
            print(f"{a} -> {b}: {', '.join(sorted(files))}")
    comps = sccs(nodes, adj)
    new = [c for c in comps if tuple(c) not in KNOWN]
    for c in comps:
        inner = [(a, b) for (a, b) in edges if a in c and b in c]
        print("cycle: " + " <-> ".join(c))
        for a, b in sorted(inner):
            print(f"    {a} -> {b}: {', '.join(sorted(edges[(a, b)]))}")
    if not comps:
        print("no cycle between top-level modules")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
