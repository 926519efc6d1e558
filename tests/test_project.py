"""`digest init`: a new project that works at once, and never an overwritten file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import load_settings
from digest.errors import InputError
from digest.people.segments import load_segments
from digest.project import init_project


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
        "Before a real send, replace the example values of [organisation] name, [email] from_address and "
        "[web] base_url in digest.toml.",
    ]


@pytest.mark.parametrize(
    ("given", "still"),
    [
        (["--name", "SAFE CIC", "--from-address", "newsfeed@safe.example.org"], "the example value of [web] base_url"),
        (
            ["--base-url", "https://news.safe.example.org"],
            "the example values of [organisation] name and [email] from_address",
        ),
    ],
)
def test_init_names_only_the_settings_it_was_not_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: list[str], still: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "news", *given], catch_exceptions=False)
    assert result.output.splitlines()[-1] == f"Before a real send, replace {still} in digest.toml."


def test_init_says_nothing_more_when_every_setting_was_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    given = ["--name", "SAFE CIC", "--from-address", "newsfeed@safe.example.org", "--base-url", "https://n.example.org"]
    result = CliRunner().invoke(cli, ["init", "news", *given], catch_exceptions=False)
    assert "Before a real send" not in result.output


def test_init_writes_the_privacy_notice_and_postal_address_it_is_given(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            *("init", str(tmp_path / "news"), "--privacy-url", "https://safe.example.org/privacy"),
            *("--address", 'Example House, 1 "Market" Street, Diss IP22 4AA'),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    organisation = load_settings(tmp_path / "news" / "digest.toml").organisation
    assert organisation.privacy_url == "https://safe.example.org/privacy"
    assert organisation.address == 'Example House, 1 "Market" Street, Diss IP22 4AA'
    # Left out, they stay commented examples (and `digest check` warns until they are set).
    init_project(tmp_path / "bare")
    bare = load_settings(tmp_path / "bare" / "digest.toml").organisation
    assert (bare.privacy_url, bare.address, bare.registration) == ("", "", "")
    assert '# registration = "' in (tmp_path / "bare" / "digest.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (
            {"privacy_url": "safe.example.org/privacy"},
            "privacy notice 'safe.example.org/privacy' must be an https:// address",
        ),
        ({"address": "1 Market Street\nDiss"}, "must be one line of text"),
    ],
)
def test_init_refuses_a_privacy_url_or_address_that_would_break_the_settings(
    tmp_path: Path, values: dict[str, str], reason: str
) -> None:
    with pytest.raises(InputError) as caught:
        init_project(tmp_path, **values)
    assert reason in str(caught.value)


def run_in_a_terminal(args: list[str], answers: list[str], cwd: Path) -> str:
    """`digest ARGS` with a terminal (a pseudo-terminal) as its input and output, typing each answer
    after the prompt before it; returns everything it wrote."""
    import os
    import pty
    import select
    import subprocess
    import sys

    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "digest"), *args], stdin=child, stdout=child, stderr=child, cwd=cwd, env=env
    )
    os.close(child)
    seen, pending = b"", list(answers)
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 30)
            assert ready, f"digest init waited without a prompt: {seen.decode()}"
            try:
                chunk = os.read(main, 1024)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            seen += chunk
            if pending and seen.rstrip().endswith(b":"):
                os.write(main, pending.pop(0).encode() + b"\r")
    finally:
        os.close(main)
        process.wait(timeout=30)
    assert process.returncode == 0, seen.decode()
    return seen.decode().replace("\r\n", "\n")


def test_init_in_a_terminal_asks_for_the_privacy_notice_and_postal_address(tmp_path: Path) -> None:
    out = run_in_a_terminal(["init", "news"], ["https://safe.example.org/privacy", "1 Market Street, Diss"], tmp_path)
    assert "Privacy notice address (https://…; Enter to leave it for later):" in out
    assert "Postal address, on one line (Enter to leave it for later):" in out
    organisation = load_settings(tmp_path / "news" / "digest.toml").organisation
    assert (organisation.privacy_url, organisation.address) == (
        "https://safe.example.org/privacy",
        "1 Market Street, Diss",
    )
    # Asked again only when a new digest.toml is written; what is given on the command line is not asked.
    again = run_in_a_terminal(["init", "news"], [], tmp_path)
    assert "Privacy notice" not in again and "kept  news/digest.toml (already there)" in again
    given = run_in_a_terminal(
        ["init", "other", "--privacy-url", "https://safe.example.org/p"], ["2 Mill Lane"], tmp_path
    )
    assert "Privacy notice" not in given and "Postal address" in given
    assert load_settings(tmp_path / "other" / "digest.toml").organisation.address == "2 Mill Lane"
