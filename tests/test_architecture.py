"""The shape of the package stays as agreed: no import cycles, providers only translate,
the web layer calls library functions instead of touching tables, and no module grows into a hall;
and no code closes a browser page by itself (a Chromium race makes that hang).

The import graph is read from the source with `ast`, every import counted, those
inside functions too (a lazy import that closes a cycle is still a cycle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "digest"
MAX_LINES = 550  # "about 500": one job per module


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in root.rglob("*.py") if "migrations" not in p.parts}


def imports_of(path: Path, known: Iterable[str]) -> set[str]:
    """Every module (of ``known``, or any outside one) that ``path`` imports, anywhere in the file."""
    known = set(known)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in known else node.module for name in names]
        found.update(names)
    return found


def graph(root: Path) -> dict[str, set[str]]:
    found = modules(root)
    return {name: {m for m in imports_of(path, found) if m in found and m != name} for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def forbidden_imports(root: Path, layer: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    found = modules(root)
    problems = []
    for name, path in sorted(found.items()):
        if name != layer and not name.startswith(layer + "."):
            continue
        for imported in sorted(imports_of(path, found)):
            if imported.startswith(forbidden) and not imported.startswith(allowed):
                problems.append(f"{name} imports {imported}")
    return problems


def test_no_import_cycles() -> None:
    assert cycles(graph(PACKAGE)) == []


def test_providers_only_translate() -> None:
    # A provider never reads or writes the database, and never decides what the ledger records.
    assert forbidden_imports(PACKAGE, "digest.providers", ("digest.db", "digest.sending", "sqlalchemy")) == []


def test_the_web_layer_never_touches_tables() -> None:
    problems = forbidden_imports(
        PACKAGE, "digest.web", ("digest.db", "sqlalchemy", "digest.sending.ledger"), allowed=("sqlalchemy.engine",)
    )
    assert problems == []


def test_no_module_is_a_hall() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules(PACKAGE).items()}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}


# The checks above must be able to fail: run them on a small package that breaks each rule.


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    root = tmp_path / "digest"
    (root / "providers").mkdir(parents=True)
    (root / "web").mkdir()
    files = {
        "__init__.py": "",
        "a.py": "def f():\n    from digest import b\n",
        "b.py": "from digest.c import thing\n",
        "c.py": "import digest.a\nthing = 1\n",
        "db.py": "",
        "providers/__init__.py": "",
        "providers/mail.py": "from digest import db\n",
        "web/__init__.py": "",
        "web/page.py": "import sqlalchemy as sa\nfrom sqlalchemy.engine import Engine\n",
        "big.py": "x = 1\n" * (MAX_LINES + 1),
    }
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_the_checks_catch_a_planted_cycle_a_provider_and_a_web_page(broken: Path) -> None:
    assert cycles(graph(broken)) == [["digest.a", "digest.b", "digest.c"]]
    assert forbidden_imports(broken, "digest.providers", ("digest.db",)) == ["digest.providers.mail imports digest.db"]
    assert forbidden_imports(broken, "digest.web", ("sqlalchemy",), allowed=("sqlalchemy.engine",)) == [
        "digest.web.page imports sqlalchemy"
    ]
    assert len((broken / "big.py").read_text().splitlines()) > MAX_LINES


def page_closes(root: Path) -> list[str]:
    """Every ``<something>page.close(...)`` call under ``root``, as ``file:line``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "close"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id.endswith("page")
            ):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_browser_pages_are_closed_with_their_context_only() -> None:
    # Chromium can drop a page's close that races a navigation and Playwright
    # then waits for ever (see the `chromium` fixture in tests/conftest.py).
    assert page_closes(PACKAGE) + page_closes(REPO / "tests") == []
