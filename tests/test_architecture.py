"""The house's shape, checked: an acyclic import graph, mechanisms that keep their internals, one
class per name, the six mechanism packages and nothing else under riskopt/mechanisms/.

The import graph counts every import riskopt's modules make of each other: module level,
``TYPE_CHECKING`` blocks and imports inside functions (a function-local import hides a cycle, it
does not remove it).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import riskopt

PACKAGE = Path(riskopt.__file__).parent
MECHANISMS = ("distortion", "equilibrium", "pareto", "price_and_choose", "reinsurance", "taxation")


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = ["riskopt", *p.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the riskopt modules it imports (a ``from pkg import name`` of a submodule counts)."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        package = m if path.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [target, *(f"{target}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[m].update(t for t in targets if t in mods and t != m)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_import_cycle_anywhere():
    assert _cycles(_imports(_modules())) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a two-module and a three-module cycle are found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(_cycles(graph)) == [["a", "b"], ["c", "d", "e"]]


def test_no_module_outside_a_mechanism_imports_its_internals():
    mods = _modules()
    offenders = []
    for m, targets in _imports(mods).items():
        for t in targets:
            parts = t.split(".")
            if len(parts) >= 4 and parts[1] == "mechanisms" and parts[2] in MECHANISMS:
                owner = ".".join(parts[:3])
                if not (m == owner or m.startswith(owner + ".")):
                    offenders.append(f"{m} imports {t}")
    assert not offenders, offenders


def test_mechanisms_are_the_six_packages():
    entries = sorted(p.name for p in (PACKAGE / "mechanisms").iterdir()
                     if p.name != "__pycache__" and p.name != "__init__.py")
    assert entries == list(MECHANISMS)
    assert all((PACKAGE / "mechanisms" / m / "__init__.py").is_file() for m in MECHANISMS)


def test_one_class_per_name():
    homes: dict[str, list[str]] = defaultdict(list)
    for m, path in _modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                homes[node.name].append(m)
    shared = {name: where for name, where in homes.items() if len(where) > 1}
    assert not shared, shared


def test_the_package_ships_its_types():
    assert (PACKAGE / "py.typed").is_file()
