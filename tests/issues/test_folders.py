"""`digest preview --out` never replaces a folder it did not make (issue 21, item 1).

The preview is built beside its folder and swapped in, and the old folder is
deleted: on a folder that was not a preview that deleted the project.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import InputError

ISSUE = "2025-04-10"


def preview(invoke, *out: str):  # type: ignore[no-untyped-def]
    return invoke("preview", ISSUE, "--no-screenshots", *(("--out", *out) if out else ()))


def test_preview_out_dot_refuses_the_project_and_keeps_everything(invoke, sample_issue, project: Path) -> None:  # type: ignore[no-untyped-def]
    before = sorted(p.name for p in project.iterdir())
    result = preview(invoke, ".")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {project}: refusing to replace this folder with a preview: it is the project's own folder "
        "(it holds digest.toml); give --out a new or empty folder\n"
    )
    assert sorted(p.name for p in project.iterdir()) == before
    assert (project / "issues" / ISSUE / "issue.yaml").is_file()


def test_preview_out_refuses_the_home_folder_and_the_projects_parents(  # type: ignore[no-untyped-def]
    invoke, sample_issue, project: Path, tmp_path: Path, monkeypatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "letter.txt").write_text("mine", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    result = preview(invoke, str(home))
    assert result.exit_code == 1
    assert "it is your home folder" in result.output
    assert (home / "letter.txt").read_text(encoding="utf-8") == "mine"

    result = preview(invoke, "..")
    assert result.exit_code == 1
    assert f"Error: {tmp_path}: refusing to replace this folder with a preview: it holds the project" in result.output
    assert (project / "digest.toml").is_file()


def test_preview_out_refuses_a_folder_of_someone_elses_files(invoke, sample_issue, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = preview(invoke, "issues")
    assert result.exit_code == 1
    assert "it is the project's issues folder" in result.output
    assert (project / "issues" / ISSUE / "issue.yaml").is_file()

    mine = project / "notes"
    mine.mkdir()
    (mine / "plan.txt").write_text("keep me", encoding="utf-8")
    result = preview(invoke, "notes")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {mine}: refusing to replace this folder with a preview: it holds files and was not made by "
        "`digest preview` (no .digest-preview marker in it); give --out a new or empty folder\n"
    )
    assert (mine / "plan.txt").read_text(encoding="utf-8") == "keep me"

    other = project / "other-project"
    other.mkdir()
    (other / "digest.db").write_bytes(b"")
    result = preview(invoke, "other-project")
    assert result.exit_code == 1
    assert "it holds digest.db" in result.output
    assert (other / "digest.db").exists()


def test_preview_out_replaces_its_own_previews_and_fills_an_empty_folder(invoke, sample_issue, project: Path) -> None:  # type: ignore[no-untyped-def]
    empty = project / "copy"
    empty.mkdir()
    assert preview(invoke, "copy").exit_code == 0
    assert (empty / "email.html").is_file() and (empty / ".digest-preview").is_file()
    (empty / "email.html").write_text("stale", encoding="utf-8")
    again = preview(invoke, "copy")
    assert again.exit_code == 0, again.output
    assert (empty / "email.html").read_text(encoding="utf-8") != "stale"
    assert preview(invoke).exit_code == 0
    assert preview(invoke).exit_code == 0  # the default folder, replaced by the next preview
    assert [p.name for p in (project / "preview").iterdir()] == [ISSUE]


def test_a_preview_written_before_markers_is_still_replaced_in_the_preview_folder(  # type: ignore[no-untyped-def]
    invoke, sample_issue, project: Path
) -> None:
    old = project / "preview" / ISSUE
    (old / "archive").mkdir(parents=True)
    for name in ("index.html", "email.html", "email.txt", "email.eml", "email-desktop.png"):
        (old / name).write_text("old", encoding="utf-8")
    result = preview(invoke)
    assert result.exit_code == 0, result.output
    assert (old / "index.html").read_text(encoding="utf-8") != "old"

    # The same files elsewhere, or with a file of the editor's beside them, are not taken for a preview.
    (old / ".digest-preview").unlink()
    (old / "my-notes.txt").write_text("mine", encoding="utf-8")
    result = preview(invoke)
    assert result.exit_code == 1
    assert "was not made by `digest preview`" in result.output


def test_the_guard_refuses_the_current_folder_and_a_file(settings, project: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from digest.issues.folders import PREVIEW, check_replaceable, replace_folder

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(InputError, match="it is the current folder"):
        check_replaceable(elsewhere, PREVIEW, settings)
    a_file = project / "a-file"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="exists and is not a folder"):
        replace_folder(a_file, {"index.html": b"x"}, PREVIEW, settings)
    assert a_file.read_text(encoding="utf-8") == "x"


def test_make_demo_refuses_a_demo_dir_it_did_not_make(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO

    copy = tmp_path / "repo"
    shutil.copytree(REPO / "examples", copy / "examples")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "letter.txt").write_text("mine", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    bin_dir = Path(sys.executable).parent
    env.update(DIGEST=str(bin_dir / "digest"), PYTHON=sys.executable, DEMO_DIR=str(mine))
    result = subprocess.run(
        ["bash", str(copy / "examples" / "demo.sh")], cwd=copy, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (
        f"Error: {mine}: refusing to replace this folder with a demo: it holds files and was not made by "
        "`make demo` (no .digest-demo marker in it); give DEMO_DIR a new or empty folder\n"
    )
    assert (mine / "letter.txt").read_text(encoding="utf-8") == "mine"
