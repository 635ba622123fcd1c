"""The package layout: no import cycles among rg4cli modules, vocabulary defined once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "rg4cli"


def _module_names() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module -> rg4cli modules it imports (anywhere in the file, lazy imports included).

    An import of one's own parent package is left out: the parent's __init__ always
    runs before its submodules, so it cannot make an import order fail.
    """
    mods = _module_names()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in mods and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_among_rg4cli_modules():
    graph = import_graph()
    assert len(graph) > 50
    assert cycles(graph) == []


def test_core_never_imports_the_cli():
    graph = import_graph()
    entry = ("rg4cli.cli", "rg4cli.__main__")
    up = sorted((m, t) for m, ts in graph.items() if not m.startswith(entry) for t in ts if t.startswith("rg4cli.cli"))
    assert up == []


def test_vocabulary_is_defined_once():
    """The categories, sections and settings tuples appear as literals in vocab.py only."""
    literals = {
        "categories": re.compile(r'\(\s*"pc",\s*"pp",\s*"view",\s*"comm"\s*\)'),
        "sections": re.compile(r'\(\s*"both",\s*"findings",\s*"impression"\s*\)'),
        "settings": re.compile(r'\(\s*"sn",\s*"sw",\s*"mn",\s*"mw"\s*\)'),
        "no finding": re.compile(r'"No Finding"'),
    }
    for what, pattern in literals.items():
        where = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py") if pattern.search(p.read_text())]
        assert where == ["vocab.py"], (what, where)
