"""The shape of the package stays as agreed: the tree shows the pipeline, and the rules between its parts hold.

- The top level holds only the shared base, the two entry points and the packages.
- The packages form a pipeline (:data:`PIPELINE`): each imports the base and the packages before it,
  never one after it, but for the few named crossings of :data:`FORWARD`, each with its reason.
- Rules of their own (:data:`RULES`): providers only translate, the web layer, the studio and the CLI
  touch no tables, the store knows nothing of what is kept in it.
- A package's ``__init__`` imports only the base and its own modules, so importing one module of a
  package never drags in another package.
- No import cycles between modules, no module grown into a hall, and no code closes a browser page
  by itself (a Chromium race makes that hang).

The import graph is read from the source with `ast`, every import counted, those
inside functions too (a lazy import that closes a cycle is still a cycle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "digest"
MAX_LINES = 550  # "about 500": one job per module

# The shared base: what every package may import. It imports no package itself (but see FORWARD).
BASE = (
    "digest",
    "digest.config",
    "digest.errors",
    "digest.files",
    "digest.netpolicy",
    "digest.secret",
    "digest.tomltable",
    "digest.topics",
    "digest.words",
    "digest.yamlfile",
)
# Top-level modules above the packages: `python -m digest`, and opening a project (its settings,
# its database, the key its address hashes were made with). Only the faces import them.
ENTRY = ("digest.__main__", "digest.project")
ENTRY_USERS = ("digest.cli", "digest.web", "digest.studio")
# The packages in the order of the pipeline: each may import the base and those before it.
PIPELINE = (
    "store",  # the database: tables, migrations, bulk writes, copying
    "articles",  # what comes in: sources, the article store, content, summaries, the editor's edits
    "people",  # subscribers, imports, segments, addresses, links, sign-ups, erasure
    "issues",  # the issue file composed, rendered per reader, checked, previewed, approved
    "providers",  # outbox, SMTP, SendGrid: translations only
    "sending",  # the plan, the ledger, the batches
    "events",  # what comes back: the event, its rules, webhooks, bounce mailboxes
    "corrections",  # stories taken back after they were sent
    "reports",  # what became of a sent issue: the admin's report, the public archive
    "doctor",  # the set-up and the sending domain checked
    "web",  # `digest serve`
    "studio",  # `digest studio`
    "cli",  # `digest`
)
# Where a module reaches a later package, and why. Nothing else may; an entry no longer needed fails too.
FORWARD: dict[tuple[str, str], str] = {
    ("digest.config", "digest.providers.registry"): "a setting names a provider: checked against the one list",
    ("digest.config", "digest.events.bounce_reasons"): "[events.soft_bounce_scores] names soft bounce reasons",
    ("digest.articles.edits", "digest.issues.issue"): "an article an issue file names is not deleted",
    ("digest.people.signups", "digest.issues.render"): "a sign-up's confirmation is an email of the templates",
    ("digest.people.signups", "digest.issues.personalise"): "and carries no personal links",
    ("digest.people.signups", "digest.providers.base"): "and goes out through the configured provider",
    ("digest.issues.catalogue", "digest.sending.ledger"): "where an issue stands is whether it was sent",
    ("digest.issues.catalogue", "digest.sending.states"): "and how far its send got",
    ("digest.providers.sendgrid.events", "digest.events.event"): "a provider translates into the generic event",
    ("digest.providers.sendgrid.lists", "digest.events.event"): "and so do SendGrid's suppression lists",
}


@dataclass(frozen=True)
class Rule:
    """Modules under ``package`` (but those under ``exempt``) import nothing under ``forbids`` (but under ``allows``)."""

    package: str
    forbids: tuple[str, ...]
    why: str
    allows: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()


RULES = (
    Rule(
        "digest.store",
        ("digest.",),
        "the store knows nothing of what is kept in it",
        allows=("digest.store", *BASE[1:]),
    ),
    Rule("digest.articles", ("digest.people", "digest.sending", "digest.events"), "articles know no readers or sends"),
    Rule(
        "digest.issues",
        ("digest.sending", "digest.events", "digest.providers"),
        "an issue knows no sending",
        exempt=("digest.issues.catalogue",),  # where each issue stands: see FORWARD
    ),
    Rule(
        "digest.people",
        ("digest.issues", "digest.sending", "digest.events"),
        "people know no issues or sends",
        exempt=("digest.people.signups",),  # its confirmation email: see FORWARD
    ),
    Rule(
        "digest.providers",
        ("digest.store", "digest.sending", "digest.people.subscribers", "sqlalchemy"),
        "providers only translate: no store, no ledger, no decision about a person",
    ),
    Rule(
        "digest.web",
        ("digest.store", "digest.sending.ledger", "sqlalchemy"),
        "the web layer calls the library and touches no tables",
        allows=("sqlalchemy.engine",),
    ),
    Rule(
        "digest.studio",
        ("digest.store", "sqlalchemy"),
        "the studio calls the library and touches no tables",
        allows=("sqlalchemy.engine",),
    ),
    Rule(
        "digest.cli",
        ("digest.store.bulk", "sqlalchemy"),
        "the CLI calls the library and touches no tables (see also test_the_cli_imports_no_table)",
        allows=("sqlalchemy.engine",),
    ),
)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in root.rglob("*.py") if "migrations" not in p.parts}


def imported(path: Path) -> set[tuple[str, str]]:
    """Every ``(module, name)`` that ``path`` imports, anywhere in the file (name "" for ``import module``)."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update((alias.name, "") for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update((node.module, alias.name) for alias in node.names)
    return found


def imports_of(path: Path, known: Iterable[str]) -> set[str]:
    """Every module (of ``known``, or any outside one) that ``path`` imports, anywhere in the file."""
    known = set(known)
    names = set()
    for module, name in imported(path):
        full = f"{module}.{name}"
        names.add(full if name and full in known else module)
    return names


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


def under(name: str, prefixes: Iterable[str]) -> bool:
    """``name`` is one of ``prefixes`` or inside one (``digest.store`` is under ``digest.store``, not ``digest.st``)."""
    return any(name == p or name.startswith(p if p.endswith(".") else p + ".") for p in prefixes)


def forbidden_imports(
    root: Path, layer: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = (), exempt: tuple[str, ...] = ()
) -> list[str]:
    found = modules(root)
    problems = []
    for name, path in sorted(found.items()):
        if not under(name, (layer,)) or under(name, exempt):
            continue
        for target in sorted(imports_of(path, found)):
            if under(target, forbidden) and not under(target, allowed):
                problems.append(f"{name} imports {target}")
    return problems


def part_of(name: str) -> str:
    """The pipeline package a module belongs to, or "base" / "entry" for the top level."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in PIPELINE:
        return parts[1]
    return "entry" if name in ENTRY else "base"


def pipeline_breaches(root: Path, forward: dict[tuple[str, str], str]) -> tuple[list[str], set[tuple[str, str]]]:
    """Imports of a later part of the pipeline not named in ``forward``, and the ``forward`` entries used."""
    order = {name: rank for rank, name in enumerate(("base", *PIPELINE))}
    problems: list[str] = []
    used: set[tuple[str, str]] = set()
    for name, targets in sorted(graph(root).items()):
        mine = part_of(name)
        for target in sorted(targets):
            theirs = part_of(target)
            if theirs == "entry":
                if mine != "entry" and not under(name, ENTRY_USERS):
                    problems.append(f"{name} imports {target}, which only {', '.join(ENTRY_USERS)} may")
            elif mine != "entry" and order[theirs] > order[mine]:
                if (name, target) in forward:
                    used.add((name, target))
                else:
                    problems.append(f"{name} ({mine}) imports {target} ({theirs}), later in the pipeline")
    return problems, used


def table_names(root: Path) -> set[str]:
    """The tables of ``store/db.py``: the module-level names assigned a ``Table(...)``."""
    found = set()
    for node in ast.parse((root / "store" / "db.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if (isinstance(func, ast.Attribute) and func.attr == "Table") or (
                isinstance(func, ast.Name) and func.id == "Table"
            ):
                found.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return found


def table_imports(root: Path, layer: str) -> list[str]:
    """Where a module under ``layer`` takes a table, or the whole tables module, from the store."""
    tables = table_names(root)
    problems = []
    for name, path in sorted(modules(root).items()):
        if not under(name, (layer,)):
            continue
        for module, imported_name in sorted(imported(path)):
            whole = (module == "digest.store" and imported_name == "db") or (module == "digest.store.db" and not imported_name)
            if whole or (module == "digest.store.db" and imported_name in tables):
                problems.append(f"{name} imports {module}{'.' + imported_name if imported_name else ''}")
    return problems


def heavy_inits(root: Path) -> list[str]:
    """Package ``__init__`` files that import another package (only the base and their own modules are light)."""
    problems = []
    for name, path in sorted(modules(root).items()):
        if path.name != "__init__.py" or name == root.name:
            continue
        for target in sorted(imports_of(path, modules(root))):
            if target.startswith(root.name + ".") and target not in BASE and not under(target, (name,)):
                problems.append(f"{name}/__init__ imports {target}")
    return problems


def test_the_top_level_holds_the_base_the_entry_points_and_the_packages() -> None:
    assert {module_name(p, PACKAGE) for p in PACKAGE.glob("*.py")} == {*BASE, *ENTRY}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(PIPELINE)


def test_the_packages_form_a_pipeline() -> None:
    problems, used = pipeline_breaches(PACKAGE, FORWARD)
    assert problems == []
    assert set(FORWARD) - used == set(), "a crossing FORWARD names is no longer made: remove it"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.package)
def test_the_rules_between_packages_hold(rule: Rule) -> None:
    assert forbidden_imports(PACKAGE, rule.package, rule.forbids, rule.allows, rule.exempt) == [], rule.why


@pytest.mark.parametrize("layer", ["digest.cli", "digest.web", "digest.studio"])
def test_the_faces_import_no_table(layer: str) -> None:
    # `digest db` calls the store's functions (upgrade, copy); no face holds a table.
    assert table_imports(PACKAGE, layer) == []


def test_package_inits_are_light() -> None:
    assert heavy_inits(PACKAGE) == []


def test_no_import_cycles() -> None:
    assert cycles(graph(PACKAGE)) == []


def test_no_module_is_a_hall() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules(PACKAGE).items()}
    assert {name: size for name, size in sizes.items() if size > MAX_LINES} == {}


# The checks above must be able to fail: run them on a small package that breaks each rule.


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    root = tmp_path / "digest"
    files = {
        "__init__.py": "",
        "config.py": "",
        "a.py": "def f():\n    from digest import b\n",
        "b.py": "from digest.c import thing\n",
        "c.py": "import digest.a\nthing = 1\n",
        "big.py": "x = 1\n" * (MAX_LINES + 1),
        "store/__init__.py": "",
        "store/db.py": "import sqlalchemy as sa\nfrom digest.config import x\nsubscribers = sa.Table('subscribers')\n",
        "store/bulk.py": "from digest.store.db import subscribers\nfrom digest.issues import catalogue\n",
        "articles/__init__.py": "from digest.people import segments\n",
        "articles/store.py": "from digest.people.segments import Segment\n",
        "people/__init__.py": "",
        "people/segments.py": "from digest.store import db\n",
        "issues/__init__.py": "",
        "issues/catalogue.py": "from digest.sending.ledger import sent\n",
        "sending/__init__.py": "",
        "sending/ledger.py": "",
        "providers/__init__.py": "",
        "providers/mail.py": "from digest.store import db\n",
        "web/__init__.py": "",
        "web/page.py": "import sqlalchemy as sa\nfrom sqlalchemy.engine import Engine\n",
        "cli/__init__.py": "",
        "cli/database.py": "from digest.store.db import subscribers, upgrade\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_the_checks_catch_what_breaks_the_rules(broken: Path) -> None:
    assert cycles(graph(broken)) == [["digest.a", "digest.b", "digest.c"]]
    problems, used = pipeline_breaches(broken, {("digest.issues.catalogue", "digest.sending.ledger"): "reason"})
    assert problems == [
        "digest.articles (articles) imports digest.people.segments (people), later in the pipeline",
        "digest.articles.store (articles) imports digest.people.segments (people), later in the pipeline",
        "digest.store.bulk (store) imports digest.issues.catalogue (issues), later in the pipeline",
    ]
    assert used == {("digest.issues.catalogue", "digest.sending.ledger")}
    assert forbidden_imports(broken, "digest.articles", ("digest.people",)) == [
        "digest.articles imports digest.people.segments",
        "digest.articles.store imports digest.people.segments",
    ]
    assert forbidden_imports(broken, "digest.providers", ("digest.store",)) == [
        "digest.providers.mail imports digest.store.db"
    ]
    assert forbidden_imports(broken, "digest.store", ("digest.",), allowed=("digest.store", "digest.config")) == [
        "digest.store.bulk imports digest.issues.catalogue"
    ]
    assert forbidden_imports(broken, "digest.web", ("sqlalchemy",), allowed=("sqlalchemy.engine",)) == [
        "digest.web.page imports sqlalchemy"
    ]
    assert table_imports(broken, "digest.cli") == ["digest.cli.database imports digest.store.db.subscribers"]
    assert table_imports(broken, "digest.people") == ["digest.people.segments imports digest.store.db"]
    assert heavy_inits(broken) == ["digest.articles/__init__ imports digest.people.segments"]
    assert len((broken / "big.py").read_text().splitlines()) > MAX_LINES


def test_the_top_level_check_sees_a_module_left_at_the_top(broken: Path) -> None:
    found = {module_name(p, broken) for p in broken.glob("*.py")}
    assert found - {*BASE, *ENTRY} == {"digest.a", "digest.b", "digest.c", "digest.big"}


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
