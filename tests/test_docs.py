"""The docs cannot rot: every command has help text, the README says how to reach `digest`, and every
file a page or a docstring names is there (tests/test_docs_run.py runs every command the manual shows)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from digest.cli import cli
from tests.conftest import REPO


def readme_commands() -> list[str]:
    """The `digest` commands of README.md, in order."""
    from tests import docpages

    return [c.text for c in docpages.all_commands() if c.page == "README.md" and c.text.startswith("digest ")]


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize(
    ("path", "command"), all_commands(cli), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert command.help and command.help.strip(), f"digest {' '.join(path)} has no help text"


def test_readme_says_how_to_reach_the_digest_command_and_it_works() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    activate = text.index(". .venv/bin/activate")
    first_command = min(text.index(f"\n{c}") for c in readme_commands())
    assert activate < first_command, "the README must say how to put digest on the PATH before using it"
    # What that line does, in the environment running these tests.
    venv_bin = Path(sys.executable).parent
    result = subprocess.run(
        ["bash", "-c", f". {venv_bin / 'activate'} && digest --version"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digest, version ")


def test_the_readmes_pytest_line_runs_from_the_repository_root() -> None:
    # `.venv/bin/pytest` (not `python -m pytest`) must find the `tests` package too.
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "pytest"),
            "--collect-only",
            "-q",
            "--update-goldens",
            "tests/issues/test_render.py",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_html_matches_the_golden_outline" in result.stdout
    assert ".venv/bin/pytest --update-goldens" in (REPO / "docs" / "development.md").read_text(encoding="utf-8")


# A path of this repository as the docs write it: `digest/issues/render.py`, `tests/data/`, `docs/web.md`.
NAMED_PATH = re.compile(r"(?<![\w./-])(?:digest|tests|bench|examples|docs)/[\w./-]*[\w/]")
# Files of other projects that the docs name (they are in the downloaded corpora, not here).
OTHERS_FILES = {"tests/test_detectors.py"}  # flufl.bounce's own expectation table, in its sdist


def named_paths(text: str) -> set[str]:
    """The repository paths ``text`` names."""
    return set(NAMED_PATH.findall(text)) - OTHERS_FILES


def pages_and_sources() -> list[Path]:
    """The manual (README.md, docs/), and the docstrings and comments of the package, the tests and bench/."""
    found = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), REPO / "Makefile", REPO / "pyproject.toml"]
    for folder in ("digest", "tests", "bench"):
        found.extend(p for p in sorted((REPO / folder).rglob("*.py")) if "data" not in p.relative_to(REPO).parts)
    return found


def test_every_path_the_docs_name_exists() -> None:
    missing = {
        f"{page.relative_to(REPO)}: {path}"
        for page in pages_and_sources()
        for path in named_paths(page.read_text(encoding="utf-8"))
        if not (REPO / path).exists()
    }
    assert sorted(missing) == []


def test_a_path_that_moved_is_found() -> None:
    # The check above reads paths as the docs write them: one left behind by a move is caught.
    moved = "/".join(("digest", "render.py"))  # spelt in two pieces, or this file would name it
    text = f"see `{moved}` and digest/issues/render.py, tests/data/ and src/digest/x.py"
    assert named_paths(text) == {moved, "digest/issues/render.py", "tests/data/"}
    assert not (REPO / moved).exists()
