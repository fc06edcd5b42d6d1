""".env.example lists every environment variable mlmw reads: it is the operator's one list of them.

The reads are found in the source, not by running it: every call of a reader of mlmw/env.py (env_str,
env_int, …) and every os.environ/os.getenv read in the modules under mlmw/, but for the readers
themselves (they read NAME or NAME_FILE of any name, as the file's header says) and
mlmw/test_settings.py, which only the suite loads. env_prefixed("ANYMAIL_") is listed when one
ANYMAIL_ variable is.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
NOT_SCANNED = {"env.py", "test_settings.py"}


def readers() -> set[str]:
    """The public functions of mlmw/env.py: each reads the variable its first argument names."""
    tree = ast.parse((ROOT / "mlmw" / "env.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    }


def _is_os_environ(node: ast.expr) -> bool:
    return ast.unparse(node) == "os.environ"


def reads(path: Path) -> list[tuple[int, str | None, bool]]:
    """(line, variable name or None when not a literal, is_prefix) of every read in one module."""
    names = readers()
    found = []

    def first_argument(call: ast.Call, keywords: tuple[str, ...]) -> ast.expr | None:
        if call.args:
            return call.args[0]
        return next((k.value for k in call.keywords if k.arg in keywords), None)

    def literal(node: ast.expr | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        return None

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if isinstance(func, ast.Name | ast.Attribute) and called in names:
                argument = first_argument(node, ("name", "prefix"))
                found.append((node.lineno, literal(argument), called == "env_prefixed"))
            elif ast.unparse(func) in {"os.environ.get", "os.getenv"}:
                found.append((node.lineno, literal(first_argument(node, ("key",))), False))
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            if isinstance(node.ctx, ast.Load):
                found.append((node.lineno, literal(node.slice), False))
        elif isinstance(node, ast.Compare) and any(_is_os_environ(c) for c in node.comparators):
            found.append((node.lineno, literal(node.left), False))
    return found


def every_read() -> list[tuple[str, str | None, bool]]:
    """(where, name, is_prefix) of every read of every module under mlmw/."""
    return [
        (f"{path.relative_to(ROOT)}:{line}", name, prefix)
        for path in sorted((ROOT / "mlmw").glob("*.py"))
        if path.name not in NOT_SCANNED
        for line, name, prefix in reads(path)
    ]


def listed() -> set[str]:
    """The NAME of every `NAME=` or `# NAME=` line of .env.example."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def test_every_variable_mlmw_reads_is_listed_in_env_example():
    documented = listed()
    read = every_read()
    missing = [
        f"{where} {name}{'…' if prefix else ''}"
        for where, name, prefix in read
        if name is not None
        and not (any(n.startswith(name) for n in documented) if prefix else name in documented)
    ]

    assert not missing, "read but not in .env.example:\n" + "\n".join(missing)
    # The search itself finds the settings' reads, the fan-out's and gunicorn's.
    assert {"DEBUG", "MAIL_BATCH_SIZE", "MAIL_AUDIENCE_CHUNK", "WEB_THREADS"} <= {
        name for _where, name, _prefix in read
    }


def test_every_read_names_its_variable_literally_so_the_list_can_be_checked():
    unnamed = [where for where, name, _prefix in every_read() if name is None]

    assert not unnamed, "a variable read by a computed name: " + ", ".join(unnamed)
