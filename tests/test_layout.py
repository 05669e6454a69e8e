"""The shape of the code, kept: modules small enough to read, no import circles, no override
that the type checker is told to ignore, and a test module beside each code module.

These read the source only (``ast``); nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Installed import name -> folder (setup.py's ROOTS, Python packages only).
ROOTS = {"lineage_collector": "collector", "lineage_processors": "processors"}
MAX_LINES = 400


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the two packages, as (dotted import name, file)."""
    for name, folder in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((name, *parts)), path


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ours that ``name`` imports anywhere: at the top, in functions, or
    under TYPE_CHECKING, since each of those is a dependency a reader has to follow."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` names a module; `from module import name` does not.
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph``: its strongly connected components of more than one
    module (Tarjan's algorithm, iterative, so deep graphs do not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
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
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        str(path.relative_to(REPO)): n
        for _, path in modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines; split them by concept: {long}"


def test_no_import_circle() -> None:
    found = dict(modules())
    known = set(found)
    # A package's __init__ importing its own modules is how it shows its public names;
    # only circles between distinct modules count.
    graph = {
        name: {t for t in imports_of(name, path, known) if not name.startswith(t + ".")}
        for name, path in found.items()
    }
    assert not cycles(graph), f"import circles: {cycles(graph)}"


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_ignored_override() -> None:
    """Processors compose their paths; none overrides a method with another signature."""
    hits = [
        f"{path.relative_to(REPO)}:{n}"
        for _, path in modules()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"type:\s*ignore\[(override|arg-type)\]", line)
    ]
    assert not hits, f"overrides the type checker is told to ignore: {hits}"


def test_every_room_is_a_package_with_a_docstring() -> None:
    """A newcomer reads each room's purpose in its __init__."""
    rooms = [
        p
        for folder in ROOTS.values()
        for p in (REPO / folder).rglob("*")
        if p.is_dir() and any(p.glob("*.py")) and p.name != "__pycache__"
    ]
    missing = [
        str(room.relative_to(REPO))
        for room in rooms
        if not (room / "__init__.py").is_file()
        or ast.get_docstring(ast.parse((room / "__init__.py").read_text())) is None
    ]
    assert not missing, f"rooms without an __init__.py that says what they hold: {missing}"
