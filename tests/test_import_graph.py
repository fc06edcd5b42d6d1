"""The project's modules import each other in no cycle, nor do its apps (mlmw, the wiring, aside),
and no module uses another's private names.

Every module under guide/, subscriptions/, announcements/, access/ and mlmw/ is read with `ast`:
imports at module level and inside functions alike (an import moved into a function to break a cycle
still is one). Migrations are left out: makemigrations writes them, and nothing imports them. A
private name is one with a leading underscore (not a __dunder__): imported with `from x import _y`,
or read as `x._y` where x is a project module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("guide", "subscriptions", "announcements", "access", "mlmw")
WIRING = "mlmw"


@dataclass(frozen=True)
class Use:
    """One module's use of another: an import, or a private name it reads."""

    source: str  # the module that imports or reads
    target: str  # the project module it reaches
    where: str  # path:line of the import or the read
    name: str = ""  # the private name, if any

    def __str__(self) -> str:
        private = f" {self.name}" if self.name else ""
        return f"{self.source} → {self.target}{private} ({self.where})"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    return {
        module_name(path, root): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        if "migrations" not in path.relative_to(root).parts
    }


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(module: str | None, level: int, source: str, is_package: bool) -> str:
    """The absolute module of `from <level dots><module> import …` written in `source`."""
    if not level:
        return module or ""
    base = source.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join([*base, module] if module else base)


def uses(modules: dict[str, Path], root: Path = ROOT) -> tuple[list[Use], list[Use]]:
    """(imports between project modules, uses of private names of project modules)."""
    imports: list[Use] = []
    private: list[Use] = []
    for source, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        relative = path.relative_to(root)
        is_package = path.name == "__init__.py"
        aliases: dict[str, str] = {}  # a local name bound to a project module (or a package prefix)
        for node in ast.walk(tree):
            where = f"{relative}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        imports.append(Use(source, alias.name, where))
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        aliases[top] = top
            elif isinstance(node, ast.ImportFrom):
                module = _absolute(node.module, node.level, source, is_package)
                for alias in node.names:
                    submodule = f"{module}.{alias.name}"
                    target = submodule if submodule in modules else module
                    if target not in modules:
                        continue
                    imports.append(Use(source, target, where))
                    if target == submodule:
                        aliases[alias.asname or alias.name] = submodule
                    if _is_private(alias.name):
                        private.append(Use(source, target, where, alias.name))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                owner = _dotted(node.value, aliases)
                if owner in modules and owner != source:
                    private.append(Use(source, owner, f"{relative}:{node.lineno}", node.attr))
    return imports, private


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The module an expression like `delivery` or `subscriptions.delivery` names, if it is one."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value, aliases)
        return f"{owner}.{node.attr}" if owner else None
    return None


def cycles(imports: list[Use]) -> list[list[list[Use]]]:
    """For every group of modules that import each other (Tarjan's strongly connected components
    of two or more), the shortest cycle of imports through each of its modules, without repeats."""
    graph: dict[str, dict[str, Use]] = {}
    for use in imports:
        if use.source != use.target:
            graph.setdefault(use.source, {}).setdefault(use.target, use)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # recursive: the graph is a few hundred modules
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, {})):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    found = []
    for group in sorted(groups):
        through_each: list[list[Use]] = []
        for member in group:
            cycle = _shortest_cycle(member, set(group), graph)
            if not any(set(cycle) == set(seen) for seen in through_each):
                through_each.append(cycle)
        found.append(through_each)
    return found


def _shortest_cycle(start: str, members: set[str], graph: dict[str, dict[str, Use]]) -> list[Use]:
    paths: dict[str, list[Use]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, use in sorted(graph.get(node, {}).items()):
                if target == start:
                    return [*paths[node], use]
                if target in members and target not in paths:
                    paths[target] = [*paths[node], use]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group always has one


def describe(cycle: list[Use]) -> str:
    names = " → ".join([cycle[0].source, *(use.target for use in cycle)])
    return names + "\n" + "\n".join(f"    {use}" for use in cycle)


def report(groups: list[list[list[Use]]]) -> str:
    return "\n".join(describe(cycle) for group in groups for cycle in group)


def apps(imports: list[Use]) -> list[Use]:
    """The imports between apps (guide, subscriptions, …): a module of one importing one of another.
    mlmw is left out: it wires the apps together (and serves them celery, env and logs), so it is
    on both sides of them by design; its modules are in the module graph like any other. An app's
    admin pages are callers, like the site's views: they may show another app's parts (the
    version's page shows its release mail), so they are in the module graph only."""
    between = []
    for use in imports:
        source, target = use.source.split(".")[0], use.target.split(".")[0]
        if use.source.endswith(".admin"):
            continue
        if source != target and WIRING not in (source, target):
            between.append(Use(source, target, use.where, f"[{use.source} → {use.target}]"))
    return between


def test_the_project_modules_import_each_other_in_no_cycle():
    imports, _private = uses(project_modules())

    found = cycles(imports)

    assert imports, "no imports between project modules were found: the check reads nothing"
    assert not found, "modules that import each other:\n" + report(found)


def test_the_apps_import_each_other_in_no_cycle():
    imports, _private = uses(project_modules())

    found = cycles(apps(imports))

    assert not found, "apps that import each other:\n" + report(found)


def test_no_module_uses_a_private_name_of_another_module():
    _imports, private = uses(project_modules())

    assert not private, "private names used across modules:\n" + "\n".join(
        f"    {use}" for use in private
    )


def test_no_test_or_benchmark_uses_a_private_name_of_the_project():
    project = project_modules()
    callers = project_modules(packages=("tests", "bench"))
    _imports, private = uses({**project, **callers})

    from_callers = [use for use in private if use.source in callers and use.target in project]

    assert not from_callers, "private names tests or benchmarks use:\n" + "\n".join(
        f"    {use}" for use in from_callers
    )


def test_no_test_or_fixture_imports_from_a_test_module():
    """Shared test code lives in helper modules (tests/*.py not named test_*), never in a test."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(name.split(".")[-1].startswith("test_") for name in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")

    assert not found, "imports from test modules:\n" + "\n".join(found)


# --- The check itself, on modules written for it -------------------------------------------------


def write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project_modules(root, ("app",))


def test_the_check_names_a_cycle_closed_by_an_import_inside_a_function(tmp_path):
    modules = write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/delivery.py": "from app import tasks\n",
            "app/tasks.py": "def send():\n    from app.delivery import send_batch\n",
            "app/models.py": "",
        },
    )
    imports, _private = uses(modules, tmp_path)

    [[cycle]] = cycles(imports)

    assert describe(cycle).splitlines()[0] == "app.delivery → app.tasks → app.delivery"


def test_the_check_finds_private_names_imported_or_read_through_a_module(tmp_path):
    modules = write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/delivery.py": "_retry_after = 1\n",
            "app/webhook.py": "from app.delivery import _retry_after\n",
            "app/admin.py": "from app import delivery\nx = delivery._retry_after\ny = delivery.__name__\n",
            "app/views.py": "import app.delivery\nz = app.delivery._retry_after\n",
        },
    )
    _imports, private = uses(modules, tmp_path)

    assert sorted((use.source, use.target, use.name) for use in private) == [
        ("app.admin", "app.delivery", "_retry_after"),
        ("app.views", "app.delivery", "_retry_after"),
        ("app.webhook", "app.delivery", "_retry_after"),
    ]
