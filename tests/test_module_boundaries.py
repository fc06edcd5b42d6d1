"""The project's modules import each other without cycles (function-level imports count: they hide
a cycle, they do not break it), and no module takes a private name (`_x`) of another. Read from the
source, so a cycle fails here before it fails an import order in production.

Checked per app; an app joins APPS once its modules hold to both."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("guide", "subscriptions", "access", "announcements", "mlmw")
APPS = ("subscriptions",)


def modules() -> dict[str, Path]:
    found = {}
    for package in PROJECT:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, str]]:
    """(module, name) for each project name `path` imports anywhere in it; name "" for a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in known:
                    found.append((f"{node.module}.{alias.name}", ""))
                elif node.module in known:
                    found.append((node.module, alias.name))
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name in known]
    return found


def cycles() -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    known = modules()
    graph = {name: {module for module, _ in imports(path, known)} for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def private_uses(path: Path, known: dict[str, Path]) -> list[str]:
    """Private names of other project modules that `path` imports or reads (module._x)."""
    tree = ast.parse(path.read_text())
    taken = [f"{module}.{name}" for module, name in imports(path, known) if name.startswith("_")]
    bound = set()  # local names bound to project modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in known:
                    bound.add(alias.asname or alias.name)
    read = [
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in bound
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]
    return taken + read


@pytest.mark.parametrize("app", APPS)
def test_no_module_of_the_app_is_part_of_an_import_cycle(app):
    assert [c for c in cycles() if any(m.split(".")[0] == app for m in c)] == []


@pytest.mark.parametrize("app", APPS)
def test_no_module_of_the_app_takes_a_private_name_of_another(app):
    known = modules()
    found = {
        name: uses
        for name, path in known.items()
        if name.split(".")[0] == app and (uses := private_uses(path, known))
    }
    assert found == {}
