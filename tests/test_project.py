"""`digest init`: a new project that works at once, and never an overwritten file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import load_settings
from digest.errors import InputError
from digest.project import init_project
from digest.segments import load_segments


def test_init_lays_out_a_project_the_settings_accept(tmp_path: Path) -> None:
    report = init_project(tmp_path / "news", name='SAFE "CIC"', from_address="news@safe.example.org")
    folder = tmp_path / "news"
    assert sorted(p.relative_to(folder).as_posix() for p in report.written) == [
        ".env",
        ".gitignore",
        "digest.toml",
        "issues",
        "subscribers/segments.yaml",
    ]
    settings = load_settings(folder / "digest.toml")
    assert settings.organisation.name == 'SAFE "CIC"'
    assert settings.email.from_address == "news@safe.example.org"
    assert len(settings.require_secret_key()) >= 48
    assert stat.S_IMODE((folder / ".env").stat().st_mode) == 0o600
    assert [s.name for s in load_segments(settings, settings.segments_file)] == [
        "schools",
        "health",
        "sport-community",
        "everyone",
    ]
    assert "# Secrets (the secret key" in (folder / "digest.toml").read_text(encoding="utf-8")  # commented


def test_each_project_gets_its_own_secret_key(tmp_path: Path) -> None:
    init_project(tmp_path / "a")
    init_project(tmp_path / "b")
    assert (tmp_path / "a" / ".env").read_text() != (tmp_path / "b" / ".env").read_text()


def test_init_again_keeps_every_existing_file(tmp_path: Path) -> None:
    init_project(tmp_path)
    (tmp_path / "digest.toml").write_text("# mine\n", encoding="utf-8")
    env = (tmp_path / ".env").read_text(encoding="utf-8")
    report = init_project(tmp_path, name="Someone else")
    assert report.written == []
    assert len(report.kept) == 5
    assert (tmp_path / "digest.toml").read_text(encoding="utf-8") == "# mine\n"
    assert (tmp_path / ".env").read_text(encoding="utf-8") == env


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"name": "two\nlines"}, "must be one line of text"),
        ({"from_address": "not an address"}, "not an address"),
        ({"base_url": "news.example.org"}, "must be an http(s) address"),
    ],
)
def test_init_refuses_values_that_would_break_the_settings(tmp_path: Path, values: dict[str, str], reason: str) -> None:
    with pytest.raises(InputError) as caught:
        init_project(tmp_path, **values)
    assert reason in str(caught.value)
    assert not (tmp_path / "digest.toml").exists()


def test_init_on_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "taken")])
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'taken'}: exists and is not a folder\n"


def test_init_command_says_what_it_wrote_and_what_to_do_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "news"], catch_exceptions=False)
    assert result.exit_code == 0
    folder = (tmp_path / "news").resolve()
    assert result.output.splitlines() == [
        f"wrote {Path('news') / 'digest.toml'}",
        f"wrote {Path('news') / '.env'}",
        f"wrote {Path('news') / '.gitignore'}",
        f"wrote {Path('news') / 'subscribers' / 'segments.yaml'}",
        f"wrote {Path('news') / 'issues'}",
        f"Project ready in {folder}. Next: edit digest.toml, then `digest articles import FILE`.",
        "Before a real send, set [organisation] name, [email] from_address and [web] base_url.",
    ]
