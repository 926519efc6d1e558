"""Files of personal data stay out of git (issue 21, item 7).

`digest subscribers export everyone.csv` wrote the whole list into the project
folder, where git did not ignore it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from digest.people.subscribers import add_subscriber
from tests.conftest import require_tool


def git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=False)


@pytest.fixture
def repo(project: Path, engine, settings) -> Path:  # type: ignore[no-untyped-def]
    """The project as a git work tree with two subscribers."""
    require_tool(shutil.which("git") is not None, "no git for the ignore checks")
    assert git(project, "init", "-q").returncode == 0
    for name in ("ann", "bo"):
        add_subscriber(engine, settings, f"{name}@example.org", {"first_name": name}, consent_source="test")
    return project


def untracked(folder: Path) -> list[str]:
    return git(folder, "status", "--porcelain", "--untracked-files=all").stdout.splitlines()


def test_a_bare_export_name_lands_in_the_exports_folder_git_ignores(invoke, repo: Path) -> None:  # type: ignore[no-untyped-def]
    before = untracked(repo)
    result = invoke("subscribers", "export", "everyone.csv", "--status", "active")
    assert result.exit_code == 0
    assert result.output == "Exported 2 subscribers to exports/everyone.csv.\n"
    assert "ann@example.org" in (repo / "exports" / "everyone.csv").read_text(encoding="utf-8-sig")
    assert not (repo / "everyone.csv").exists()
    assert untracked(repo) == before  # nothing new for `git add` to take
    assert git(repo, "check-ignore", "-q", "exports/everyone.csv").returncode == 0

    named = invoke("subscribers", "export")
    assert named.exit_code == 0 and "exports/subscribers-" in named.output


def test_an_export_into_the_work_tree_with_no_ignore_rule_warns(invoke, repo: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = invoke("subscribers", "export", "./everyone.csv")
    assert result.exit_code == 0
    assert result.stderr == (
        f"Warning: everyone.csv holds personal data and is inside the git work tree {repo} with no ignore rule "
        "for it: `git add` would take it. Add it to .gitignore, or give a bare file name to write it into "
        "exports/, which git ignores\n"
    )
    assert (repo / "everyone.csv").is_file()
    (repo / ".gitignore").write_text("everyone.csv\n", encoding="utf-8")
    assert invoke("subscribers", "export", "./everyone.csv").stderr == ""
    outside = tmp_path / "outside"
    outside.mkdir()
    assert invoke("subscribers", "export", str(outside / "everyone.csv")).stderr == ""


def test_an_imports_rejected_rows_go_to_the_exports_folder(invoke, repo: Path) -> None:  # type: ignore[no-untyped-def]
    (repo / "list.csv").write_text("email,first_name\nnot-an-address,Cy\ndee@example.org,Dee\n", encoding="utf-8")
    result = invoke("subscribers", "import", "list.csv", "--rejects", "rejects.csv")
    assert result.exit_code == 0, result.output
    assert "not-an-address" in (repo / "exports" / "rejects.csv").read_text(encoding="utf-8")
    assert not (repo / "rejects.csv").exists()


def test_init_writes_a_gitignore_for_secrets_the_database_and_personal_data(tmp_path: Path) -> None:
    from digest.project import init_project

    require_tool(shutil.which("git") is not None, "no git for the ignore checks")
    folder = tmp_path / "news"
    init_project(folder)
    assert git(folder, "init", "-q").returncode == 0
    for path in (".env", "digest.db", "digest.db-wal", "outbox/2026-11-23/00000001.eml", "exports/everyone.csv"):
        assert git(folder, "check-ignore", "-q", path).returncode == 0, path
    assert git(folder, "check-ignore", "-q", "digest.toml").returncode == 1
