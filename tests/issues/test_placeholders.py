"""Placeholders come only from the templates: content written by others can never make one."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.articles.store import import_articles
from digest.errors import DigestError
from digest.issues.checks import check_issue
from digest.issues.render import neutralise_text, neutralise_url
from digest.sending import start_send
from digest.store import db

EVIL_LINK = "https://evil.example/track?u=%%unsubscribe_url%%&n=%%greeting_name%%&t=%%token%%"
FEED = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Partner news</title><link>https://partner.example.org/</link>
<description>A partner's feed</description>
<item>
  <title>Child exploitation warning %%bogus%% for schools</title>
  <link>{EVIL_LINK.replace("&", "&amp;")}</link>
  <pubDate>Wed, 09 Apr 2025 10:00:00 +0100</pubDate>
  <description><![CDATA[<p>Schools are warned about child exploitation. Read the
  <a href="{EVIL_LINK.replace("&", "&amp;")}">guidance</a> from %%greeting_name%% today.</p>]]></description>
</item></channel></rss>
"""


@pytest.fixture
def poisoned(project: Path, engine, settings, audience):  # type: ignore[no-untyped-def]
    """The sample issue with a partner item whose title, link and text carry placeholders, as its lead."""
    from datetime import date

    from digest.issues.drafting import new_issue

    (project / "partner.xml").write_text(FEED, encoding="utf-8")
    report = import_articles(engine, settings, [str(project / "partner.xml")])
    assert report.new == 1
    path, _ = new_issue(engine, settings, issue_date=date(2025, 4, 10), force=True)
    text = path.read_text(encoding="utf-8")
    from digest.articles.store import list_articles

    partner = next(a.id for a in list_articles(engine) if a.source == "Partner news")
    path.write_text(
        "\n".join(
            f"lead: {partner}" if line.startswith("lead:") else line
            for line in text.splitlines()
            if partner not in line or line.startswith("lead:")
        )
        + "\n",
        encoding="utf-8",
    )
    return partner


def test_content_is_neutralised_in_every_form() -> None:
    assert "%%" not in neutralise_text("a %%unsubscribe_url%% b %%%% c")
    assert neutralise_text("a %%x%% b").replace("\u2060", "") == "a %%x%% b"  # reads the same
    assert neutralise_url(EVIL_LINK) == (
        "https://evil.example/track?u=%25%25unsubscribe_url%25%25&n=%25%25greeting_name%25%25&t=%25%25token%25%25"
    )
    assert neutralise_url("https://example.org/a%20b?q=100%") == "https://example.org/a%20b?q=100%25"


def test_check_warns_and_the_outbox_copy_carries_no_readers_values(engine, settings, poisoned, project) -> None:  # type: ignore[no-untyped-def]
    report = check_issue(engine, settings, "2025-04-10")
    assert report.passed
    warnings = [c.message for c in report.warnings if c.code == "placeholders"]
    assert any("'%%bogus%%'" in message and "title" in message for message in warnings)
    assert any("'%%unsubscribe_url%%'" in message and "link" in message for message in warnings)
    _plan, outcome = start_send(engine, settings, "2025-04-10", ["everyone"])
    assert outcome is not None and outcome.state == "done" and outcome.counts["accepted"] == 12
    message = email.message_from_bytes(
        sorted((project / "outbox" / "2025-04-10").glob("*.eml"))[0].read_bytes(), policy=policy.default
    )
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    import re

    links = re.findall(r'href="([^"]*evil\.example[^"]*)"', html)
    links += [line for line in text.splitlines() if "evil.example" in line]
    assert len(links) >= 3
    for link in links:
        assert "/unsubscribe/" not in link and "Person" not in link and "%%" not in link, link
    assert "%25%25unsubscribe_url%25%25" in html
    assert "bogus" in message["Subject"] or "bogus" in html  # shown as text, never an error


def test_sendgrid_substitutions_cannot_reach_content(engine, sg_settings, poisoned, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    _plan, outcome = start_send(engine, sg_settings, "2025-04-10", ["everyone"], provider_name="sendgrid")
    assert outcome is not None and outcome.state == "done"
    body = fake_sendgrid.accepted[0].body
    keys = set(body["personalizations"][0]["substitutions"])
    shared = json.dumps([body["subject"], body["content"]])
    for line in shared.split("evil.example")[1:]:
        assert not any(key in line[:200] for key in keys)


def test_a_template_placeholder_nobody_fills_stops_the_send_before_any_delivery(
    engine, settings, audience, project
) -> None:  # type: ignore[no-untyped-def]
    from digest.config import load_settings
    from digest.project import DEFAULTS  # noqa: F401 - the packaged templates are the base

    own = project / "templates" / "partials"
    own.mkdir(parents=True)
    (own / "story.txt.j2").write_text(
        "{% macro story_text(s, refs) %}{{ s.title }} %%bogus%%{% endmacro %}\n", encoding="utf-8"
    )
    broken = load_settings(project / "digest.toml")
    with pytest.raises(DigestError) as caught:
        start_send(engine, broken, "2025-04-10", ["everyone"])
    assert "%%bogus%%" in str(caught.value)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.deliveries)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(db.sends)).scalar_one() == 0


@pytest.mark.parametrize("broken", ['subject: "SAFE\\r\\nBcc: x@evil.example"', 'subject: "line\\nbreak"'])
def test_a_subject_with_a_line_break_is_an_error_naming_the_line(invoke, sample_issue: Path, broken: str) -> None:  # type: ignore[no-untyped-def]
    text = sample_issue.read_text(encoding="utf-8")
    subject_line = next(line for line in text.splitlines() if line.startswith("subject:"))
    sample_issue.write_text(text.replace(subject_line, broken), encoding="utf-8")
    line = next(n for n, row in enumerate(sample_issue.read_text().splitlines(), 1) if row.startswith("subject:"))
    for command in (["check", "2025-04-10"], ["preview", "2025-04-10", "--no-screenshots"]):
        result = invoke(*command)
        assert result.exit_code == 1
        assert result.output == (
            f"Error: {sample_issue}, line {line}: subject must be one line, without line breaks or control characters\n"
        )
