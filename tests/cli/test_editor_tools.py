"""The editor's and admin's tools say what they do: progress on long work, where a test copy went,
a dry run that says what the real send would stop at, and the readers who would get one story."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from digest.issues import browser
from digest.people.subscribers import add_subscriber
from tests.conftest import REPO, require_tool


def test_an_import_of_several_files_reports_each_one(invoke, project: Path, sample_copy: Path) -> None:  # type: ignore[no-untyped-def]
    feed = project / "feed.rss"
    shutil.copy(REPO / "tests" / "data" / "feed.rss", feed)
    result = invoke("articles", "import", str(sample_copy), str(feed))
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert f"[1/2] {sample_copy}: 5 new, 0 updated, 0 skipped" in lines
    assert re.search(rf"^\[2/2\] {re.escape(str(feed))}: \d+ new, 0 updated, 0 skipped$", result.stderr, re.M)
    # One file is quick and says only its summary.
    again = invoke("articles", "import", str(sample_copy))
    assert "[1/1]" not in again.stderr and again.stdout == "Imported 0 new, 0 updated, 5 skipped.\n"


def test_preview_says_how_the_screenshots_are_getting_on(invoke, sample_issue) -> None:  # type: ignore[no-untyped-def]
    require_tool(browser.available(), "no Chromium for the browser checks", tool="chromium")
    result = invoke("preview", "2025-04-10")
    assert result.exit_code == 0
    assert result.stderr.splitlines()[:4] == [
        "Starting Chromium for 3 screenshots…",
        "  [1/3] Desktop, 600 pixels wide",
        "  [2/3] Phone, 375 pixels wide",
        "  [3/3] Dark mode, 600 pixels wide",
    ]


def test_a_test_copy_says_where_it_went(invoke, project: Path, audience) -> None:  # type: ignore[no-untyped-def]
    result = invoke("send", "2025-04-10", "--test-to", "editor@example.org", "--segment", "health")
    assert result.exit_code == 0
    (path,) = (project / "outbox" / "2025-04-10").glob("test-*.eml")
    assert result.output == (
        f"  editor@example.org: {path}\nSent 1 test copy through outbox; nothing was recorded in the ledger.\n"
    )


def test_a_dry_run_says_when_approval_is_missing(invoke, project: Path, audience) -> None:  # type: ignore[no-untyped-def]
    toml = project / "digest.toml"
    toml.write_text(toml.read_text().replace("require_approval = false", "require_approval = true"))
    dry = invoke("send", "2025-04-10", "--segment", "everyone", "--dry-run")
    assert dry.exit_code == 0
    assert (
        "Not approved: a real send would stop here: issue 2025-04-10 is not approved; review the preview, "
        "then run `digest issue approve 2025-04-10`"
    ) in dry.output
    assert dry.output.endswith("Dry run: nothing was written or sent.\n")
    assert invoke("issue", "approve", "2025-04-10", "--by", "Ed").exit_code == 0
    assert "Not approved" not in invoke("send", "2025-04-10", "--segment", "everyone", "--dry-run").output


def test_the_plan_names_readers_who_would_get_one_story(invoke, engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    # Her topics match only the lead, which every copy has: a copy of one story.
    add_subscriber(
        engine,
        settings,
        "narrow@example.org",
        {"sector": "sport", "topics": ["sport-community"]},
        consent_source="test",
    )
    dry = invoke("send", "2025-04-10", "--segment", "everyone", "--dry-run")
    assert (
        "1 reader gets a copy of one story only (their topics leave out the rest): narrow@example.org.\n" in dry.output
    )
    assert "\n1 reader's own topic choices narrow their copy further.\n" in dry.output
    everyone_else = invoke("send", "2025-04-10", "--segment", "schools", "--dry-run")
    assert "one story only" not in everyone_else.output


def test_the_plan_names_a_segment_whose_copy_holds_one_story(invoke, project: Path, audience) -> None:  # type: ignore[no-untyped-def]
    # A segment narrowed to a topic only the lead carries: each of its readers gets one story,
    # though none of them chose topics of their own.
    segments = project / "subscribers" / "segments.yaml"
    segments.write_text(
        segments.read_text()
        + "  - name: sport\n    description: Sport\n    match: {sector: sport}\n    topics: [sport-community]\n",
        encoding="utf-8",
    )
    dry = invoke("send", "2025-04-10", "--segment", "sport", "--dry-run")
    assert dry.exit_code == 0, dry.output
    sport = ", ".join(f"person{n}@example.org" for n in sorted((3, 7, 11), key=lambda n: f"person{n}"))
    assert f"3 readers get a copy of one story only (their topics leave out the rest): {sport}.\n" in dry.output
