"""The command line: exact output and exit codes, and no tracebacks for user mistakes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import SAMPLE


def test_help_lists_the_commands(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("articles", "issue", "preview", "check", "db"):
        assert f"  {name} " in result.output


def test_missing_config_is_an_error_not_a_traceback(runner, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from digest.cli import cli

    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["articles", "list"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no digest.toml found in {tmp_path} or its parents; run the command from the project "
        "folder, pass --config PATH, or set DIGEST_CONFIG\n"
    )


def test_bad_setting_exits_1_with_the_message(invoke, project: Path) -> None:  # type: ignore[no-untyped-def]
    toml = project / "digest.toml"
    toml.write_text(toml.read_text().replace("base_url", "base_ur1"), encoding="utf-8")
    result = invoke("articles", "list")
    assert result.exit_code == 1
    assert result.output == "Error: digest.toml: [web] base_ur1 is not a known setting; did you mean 'base_url'?\n"


def test_import_list_and_show(invoke, sample_copy: Path) -> None:  # type: ignore[no-untyped-def]
    result = invoke("articles", "import", str(sample_copy))
    assert result.exit_code == 0
    assert result.stdout == "Imported 5 new, 0 updated, 0 skipped.\n"
    line = next(n for n, text in enumerate(SAMPLE.read_text().splitlines(), 1) if "Source: National Online" in text)
    assert result.stderr.endswith(
        f"Warning: {sample_copy}, line {line}: says Wednesday 3 April 2025, which was a Thursday; keeping the date\n"
    )
    assert invoke("articles", "import", str(sample_copy)).stdout == "Imported 0 new, 0 updated, 5 skipped.\n"
    listing = invoke("articles", "list", "--topic", "water-safety")
    assert listing.output == (
        "2025-04-08  Riverside Police: Cold water safety advice as the weather warms up\n"
        "            id: 2025-04-08-cold-water-safety-advice-as-the-weather-warms-up\n"
        "            topics: water-safety\n"
        "1 article.\n"
    )
    shown = invoke("articles", "show", "2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son")
    assert shown.output.startswith("id:        2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son\n")
    assert "url:       (none: the archive page is used)\n" in shown.output


def test_import_of_a_bad_file_reports_it_and_exits_1(invoke, project: Path, sample_copy: Path) -> None:  # type: ignore[no-untyped-def]
    bad = project / "bad.txt"
    bad.write_text("Title\n\nSource: somewhere, sometime\n", encoding="utf-8")
    result = invoke("articles", "import", str(bad), str(sample_copy))
    assert result.exit_code == 1
    assert result.stdout == "Imported 5 new, 0 updated, 0 skipped.\n"
    assert result.stderr.endswith(
        f"Error: {bad}, line 3: a 'Source:' line must read 'Source: <organisation> published on this website "
        "<weekday> <day> <Month> <year> [by <name>]'\n"
        "Error: 1 file was not imported; fix and import again\n"
    )


def test_missing_file_and_unknown_article(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("articles", "import", "nope.txt")
    assert result.exit_code == 1
    assert result.stderr == "Error: nope.txt: no such file\nError: 1 file was not imported; fix and import again\n"
    result = invoke("articles", "show", "nope")
    assert (result.exit_code, result.output) == (
        1,
        "Error: no article with id 'nope'; `digest articles list` shows the ids\n",
    )


def test_bad_date_option(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("issue", "new", "--date", "10/04/2025")
    assert result.exit_code == 2
    assert "Invalid value for '--date': '10/04/2025' is not a date; write it as YYYY-MM-DD" in result.output


def test_issue_new_show_check_and_preview(invoke, project: Path, sample_copy: Path) -> None:  # type: ignore[no-untyped-def]
    invoke("articles", "import", str(sample_copy))
    result = invoke("issue", "new", "--date", "2025-04-10")
    path = project / "issues" / "2025-04-10" / "issue.yaml"
    assert result.output == f"Drafted {path} with 5 stories.\nEdit it, then run `digest preview 2025-04-10`.\n"
    shown = invoke("issue", "show", "2025-04-10")
    assert shown.output.splitlines()[:3] == [
        "Issue 2025-04-10 (10 April 2025)",
        f"  file:      {path}",
        "  window:    2025-04-03 to 2025-04-09",
    ]
    checked = invoke("check", "2025-04-10")
    assert checked.exit_code == 0
    # The export's wrong weekday, warned at import, is repeated for the story in the issue.
    assert "  warning  import       2025-04-03-online-forum-shut-down-and-details-of-40-users-passed-to-police: " in (
        checked.output
    )
    assert checked.output.endswith("which was a Thursday; keeping the date\n0 errors, 1 warning.\n")
    previewed = invoke("preview", "2025-04-10")
    assert previewed.stdout == f"{project / 'preview' / '2025-04-10' / 'index.html'}\n"


def test_check_exits_1_on_an_error(invoke, project: Path, sample_copy: Path) -> None:  # type: ignore[no-untyped-def]
    invoke("articles", "import", str(sample_copy))
    invoke("issue", "new", "--date", "2025-04-10")
    path = project / "issues" / "2025-04-10" / "issue.yaml"
    path.write_text(path.read_text() + "\nsubject: " + "x" * 250 + "\n", encoding="utf-8")
    result = invoke("check", "2025-04-10")
    assert result.exit_code == 1
    assert "'subject' appears twice" in result.output
    lines = path.read_text().splitlines()
    lines.remove(next(line for line in lines if line.startswith("subject:")))
    path.write_text("\n".join(lines), encoding="utf-8")
    result = invoke("check", "2025-04-10")
    assert result.exit_code == 1
    assert "  error    subject      the subject is 250 characters; keep it under 78\n" in result.output
    assert result.output.endswith("1 error, 1 warning.\n")


def test_unknown_issue(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("preview", "2031-01-01")
    assert result.exit_code == 1
    assert result.output.startswith("Error: no issue '2031-01-01' in ")


def test_the_suites_newsfeed_has_the_real_exports_quirks() -> None:
    raw = SAMPLE.read_bytes()
    text = raw.decode("utf-8")
    assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF throughout
    assert "\u00a0" in text  # non-breaking spaces
    for bullet in ("\r\n  \u2022 ", "\r\n+ ", "\r\n- "):
        assert bullet in text
    assert "published on this site " in text and "published on this website " in text
    assert re.search(r"Source: [^\r\n]*\([A-Z]{2,}\) published", text)  # a parenthesised abbreviation
    assert re.search(r"Source: [^\r\n]*\d{4}\r\n", text)  # a missing author
    assert "Wednesday 3 April 2025" in text  # a Thursday: the wrong weekday
    assert "\r\n“With permission, Madam Deputy Speaker," in text  # a statement's parliamentary opening
    assert re.search(r"\r\n\+ [^\r\n]*steps:\r\n\r\n- ", text)  # a '+' lead-in to '-' steps
