"""The archive as corrections leave it: the dated correction under the story's title, a withdrawn
story's notice in its place (its words gone, on its page and the issue's), the feed's entry updated;
the frozen pages on disk stay as they were sent."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest

from digest import corrections as errata
from digest.config import load_settings
from tests.corrections_support import COURT, ISSUE, WATER, WORDING, send_issue

WATER_WORDS = "Marine Policing Unit"  # in the water story (tests/data/newsfeed-2025-04.txt) and its summary


@pytest.fixture
def client(project: Path, engine, settings, audience):  # type: ignore[no-untyped-def]
    from digest.web import create_app

    send_issue(engine, settings)

    app = create_app(load_settings(project / "digest.toml"), engine, background=False)
    app.testing = True
    return app.test_client()


def page(client, path: str):  # type: ignore[no-untyped-def]
    answer = client.get(path)
    assert answer.status_code == 200, path
    return lxml.html.document_fromstring(answer.get_data(as_text=True))


def test_the_story_page_carries_the_dated_correction_under_its_title(client, engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    frozen = (project / "issues" / ISSUE / "sent" / "archive" / f"{COURT}.html").read_text(encoding="utf-8")
    assert client.get(f"/archive/{ISSUE}/{COURT}.html").get_data(as_text=True) == frozen  # nothing to show yet
    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    day = f"{correction.created_at.day} {correction.created_at:%B %Y}"  # UTC and London agree but for an hour
    root = page(client, f"/archive/{ISSUE}/{COURT}.html")
    title = root.find(".//main/h1")
    under = title.getnext()
    assert title.text_content() == "Father found guilty of causing the death of his baby son"
    assert under.get("class") == "note correction"
    assert under.text_content().startswith(f"Correction, {day}: The court sat in Northshire, not Southshire")
    assert "The sentence is due on 2 May." in under.text_content()
    assert "Eastvale Crown Court" in root.find(".//main").text_content()  # the story itself stays
    # The issue page points to it, below the story; the frozen file is as it was sent.
    issue = page(client, f"/archive/{ISSUE}/")
    notes = [element.text_content() for element in issue.find_class("correction")]
    assert notes == [f"Correction, {day}: See the correction."]
    assert (project / "issues" / ISSUE / "sent" / "archive" / f"{COURT}.html").read_text(encoding="utf-8") == frozen


def test_a_withdrawn_story_shows_a_notice_in_its_place(client, engine, settings) -> None:  # type: ignore[no-untyped-def]
    assert WATER_WORDS in client.get(f"/archive/{ISSUE}/{WATER}.html").get_data(as_text=True)
    assert WATER_WORDS in client.get(f"/archive/{ISSUE}/").get_data(as_text=True)
    errata.record_correction(engine, settings, ISSUE, WATER, withdrawn=True, text="Withdrawn at the police's request.")
    story = page(client, f"/archive/{ISSUE}/{WATER}.html")
    main = story.find(".//main")
    assert [element.tag for element in main] == ["p", "h1", "div", "p", "p"]  # label, title, notice, back, sign-up
    assert main[2].text_content().startswith("Withdrawn on ") and "at the police's request" in main[2].text_content()
    assert main[3].find("a").get("href") == "./"
    assert WATER_WORDS not in main.text_content()  # the story's words are gone
    issue = page(client, f"/archive/{ISSUE}/")
    heading = issue.find(f".//a[@href='{WATER}.html']").getparent()
    assert heading.getnext().text_content().endswith("The story was withdrawn.")
    assert heading.getnext().getnext() is None  # its source line and summary are gone from the issue page
    assert WATER_WORDS not in issue.find(".//main").text_content()
    assert "Father found guilty" in issue.find(".//main").text_content()  # the other stories stay


def test_the_feed_updates_a_corrected_issues_entry(client, engine, settings) -> None:  # type: ignore[no-untyped-def]
    before = client.get("/archive/feed.atom").get_data(as_text=True)
    assert f"<updated>{ISSUE}T00:00:00Z</updated>" in before
    correction = errata.record_correction(engine, settings, ISSUE, WATER, withdrawn=True)
    after = client.get("/archive/feed.atom").get_data(as_text=True)
    assert f"<updated>{correction.created_at:%Y-%m-%dT%H:%M:%SZ}</updated>\n" in after
    assert f"<updated>{ISSUE}T00:00:00Z</updated>" not in after
