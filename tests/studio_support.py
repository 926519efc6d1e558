"""Helpers for the studio's tests: the example week drafted, the page's form read as a browser submits it,
and the browser tests' studio (the fixtures ``week`` and ``studio``: import fixture_week and fixture_studio
where they are used)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from digest.articles.store import import_articles
from digest.config import Settings
from digest.issues.drafting import new_issue
from digest.studio.app import create_app
from digest.studio.auth import Gate
from tests.conftest import REPO, SEGMENTS_YAML
from tests.httpserve import serve_app

EXAMPLES = REPO / "examples" / "articles"
ISSUE_ID = "2026-11-23"
# Ids of the example week's articles, as `digest articles import` names them.
SEXTORTION = "2026-11-20-sextortion-what-to-say-if-a-young-person-comes-to-you"
JAILED = "2026-11-18-man-jailed-for-grooming-offences-after-online-investigation"
COLD_WATER = "2026-11-16-northshire-launches-summer-to-winter-cold-water-safety-campaign-for"
REVIEW = "2026-11-17-council-publishes-learning-review-after-neglect-of-two-siblings"
DSL_DATES = "2026-11-21-designated-safeguarding-lead-refresher-dates-for-spring-2027"
YOUNG_CARERS = "2026-11-21-winter-wellbeing-supporting-young-carers"
NURSES = "2026-11-20-named-nurses-asked-to-review-self-harm-pathways-for-under-16s"
RECRUITMENT = "2026-11-19-new-guidance-on-safer-recruitment-for-sports-clubs"

# An article the test imports after drafting: a candidate that is not yet in the issue.
LATE_ARTICLE = """\
---
title: Half-term holiday clubs reminded of staff vetting duties
source: SAFE CIC
published: 2026-11-22
author: Demo Editor
topics: [sport-community]
summary: Holiday clubs running over half term must vet every adult who works with children.
---
Holiday clubs running over the February half term must check every adult who
works with children, paid or volunteer, before the club opens.
"""
LATE = "2026-11-22-half-term-holiday-clubs-reminded-of-staff-vetting-duties"


def draft_week(engine: Any, settings: Settings) -> Path:
    """The example week imported and drafted into issues/2026-11-23/issue.yaml, with an editor's comments."""
    report = import_articles(engine, settings, [str(path) for path in sorted(EXAMPLES.glob("*")) if path.is_file()])
    assert report.new == 8 and not report.failures
    path, _ = new_issue(engine, settings, issue_date=date(2026, 11, 23))
    text = path.read_text(encoding="utf-8")
    # Comments of the editor's own: above a section, beside a story, at the end.
    text = text.replace(
        "  - title: Water safety\n", "  # Water safety: ask Priya for a quote before sending\n  - title: Water safety\n"
    )
    text = text.replace(f"      - {JAILED}   # ", f"      - {JAILED}   # court reporting restrictions checked; ")
    text += "# End of the issue: nothing below here.\n"
    path.write_text(text, encoding="utf-8")
    return path


def add_late_article(engine: Any, settings: Settings, folder: Path) -> str:
    source = folder / "late.md"
    source.write_text(LATE_ARTICLE, encoding="utf-8")
    report = import_articles(engine, settings, [str(source)])
    assert report.new == 1, report
    return LATE


class FormReader(HTMLParser):
    """The fields of one form as a browser would submit them (without the buttons)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self.textarea: str | None = None
        self.select: str | None = None
        self.text: list[str] = []
        self.options: list[tuple[str, bool]] = []
        self.buttons: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        if tag == "input" and "name" in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value", "on")))
            elif kind not in ("file", "submit", "button"):
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self.textarea, self.text = a["name"], []
        elif tag == "select":
            self.select, self.options = a["name"], []
        elif tag == "option" and self.select:
            self.options.append((a.get("value", ""), "selected" in a))
        elif tag == "button" and a.get("name") == "action":
            self.buttons[a.get("id", a["value"])] = a["value"]

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self.textarea is not None:
            # A browser drops one newline straight after <textarea>.
            self.fields.append((self.textarea, "".join(self.text).removeprefix("\n")))
            self.textarea = None
        elif tag == "select" and self.select is not None:
            chosen = [value for value, selected in self.options if selected] or [self.options[0][0]]
            self.fields.append((self.select, chosen[0]))
            self.select = None


def read_form(html: str, form_id: str = "studio") -> FormReader:
    reader = FormReader(form_id)
    reader.feed(html)
    assert reader.fields, f"no form {form_id!r} on the page"
    return reader


def replace_field(fields: list[tuple[str, str]], name: str, value: str | None) -> list[tuple[str, str]]:
    """The fields with ``name`` set to ``value`` (None: removed, as an unticked box)."""
    kept = [(k, v) for k, v in fields if k != name]
    return kept if value is None else [*kept, (name, value)]


def order_of(html: str) -> list[str]:
    return re.findall(r'name="order" value="([^"]+)"', html)


# --- the browser tests' studio: the week on a real HTTP server, driven by Chromium --------------------

TALL = {"width": 1500, "height": 2600}  # every story on screen: Playwright's drag scrolls otherwise


@pytest.fixture(name="week")
def fixture_week(project: Path, engine: Any, settings: Any, tmp_path: Path) -> Path:
    (project / "subscribers").mkdir(exist_ok=True)
    (project / "subscribers" / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    path = draft_week(engine, settings)
    add_late_article(engine, settings, tmp_path)
    return path


@pytest.fixture(name="studio")
def fixture_studio(settings: Any, engine: Any, week: Path) -> Iterator[tuple[str, Gate]]:
    gate = Gate()
    with serve_app(create_app(settings, engine, gate)) as base:
        yield base, gate


def open_page(context: Any, url: str, size: dict[str, int] | None = None, dialogs: list[str] | None = None) -> Any:
    """A new page of ``context`` at ``url``, once the studio's script is running; ``dialogs`` hears each dialog's type."""
    from playwright.sync_api import expect

    page = context.new_page()
    page.set_viewport_size(size or {"width": 1400, "height": 1000})

    def answer(dialog: Any) -> None:  # the unsaved-changes question when a test leaves
        if dialogs is not None:
            dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", answer)
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("data-studio", "ready")
    return page


def issue_url(studio: tuple[str, Gate]) -> str:
    base, gate = studio
    return f"{base}/issue/{ISSUE_ID}?token={gate.token}"


def story_ids(page: Any) -> list[str]:
    return [
        value.split(":", 1)[1]
        for value in page.eval_on_selector_all("input[name=order]", "els => els.map(e => e.value)")
        if value.startswith("story:")
    ]
