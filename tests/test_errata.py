"""Corrections and withdrawals reach exactly the readers whose accepted copy held the story.

The issue goes to three segments whose copies differ: schools' copy leaves the
court story out, health's and everyone's hold it, and one reader's own topics
leave it out of theirs. Every check is made row by row against the ledger and
the frozen variants, on SQLite and PostgreSQL (the ``project`` fixture).
"""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from digest import db, errata
from digest.sending import start_send

ISSUE = "2025-04-10"
SEGMENTS = ["schools", "health", "everyone"]
COURT = "2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son"  # health and everyone
WATER = "2025-04-08-cold-water-safety-advice-as-the-weather-warms-up"  # schools and everyone
WORDING = "The court sat in Northshire, not Southshire as we said.\n\nThe sentence is due on 2 May."


@pytest.fixture
def sent(engine, settings, audience) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The sample issue sent to schools, health and everyone; person7 (everyone) chose water safety only."""
    from digest.subscribers import get_subscriber
    from digest.subscriptions import save_topics

    save_topics(engine, settings, get_subscriber(engine, "person7@example.org").id, ["water-safety"])
    _plan, outcome = start_send(engine, settings, ISSUE, SEGMENTS)
    assert outcome is not None and outcome.counts["accepted"] == 12
    return {"send_id": outcome.send_id}


def issue_rows(engine) -> list[Any]:  # type: ignore[no-untyped-def]
    """Every delivery of the issue with the stories its frozen copy held, and the reader's address now."""
    d, v, s = db.deliveries, db.send_variants, db.subscribers
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(d.c.subscriber_id, d.c.segment, d.c.state, v.c.story_ids, s.c.email, s.c.status)
                .join(v, sa.and_(v.c.send_id == d.c.send_id, v.c.variant == d.c.variant))
                .join(s, s.c.id == d.c.subscriber_id)
                .where(d.c.issue_id == ISSUE)
                .order_by(d.c.id)
            ).all()
        )


def correction_rows(engine, correction) -> dict[int, Any]:  # type: ignore[no-untyped-def]
    d = db.deliveries
    with engine.connect() as conn:
        rows = conn.execute(sa.select(d).where(d.c.issue_id == correction.ledger_key)).all()
    return {row.subscriber_id: row for row in rows}


def outbox_messages(project: Path, correction) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    folder = project / "outbox" / correction.ledger_key
    found = {}
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        found[str(message["To"].addresses[0].addr_spec)] = message
    return found


def test_a_correction_reaches_exactly_the_readers_whose_copy_held_the_story(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING, by="Editor Ed")
    plan, outcome = errata.send_correction(engine, settings, correction.id)
    assert outcome is not None and outcome.state == "done"
    mailed = correction_rows(engine, correction)
    rows = issue_rows(engine)
    assert len(rows) == 12
    for row in rows:
        # Row by row: mailed exactly when the reader's accepted copy held the story.
        should = row.state == "accepted" and COURT in row.story_ids
        assert (row.subscriber_id in mailed) == should, row
        if should:
            assert mailed[row.subscriber_id].segment == row.segment
            assert mailed[row.subscriber_id].state == "accepted"
    assert sorted(mailed) == sorted(row.subscriber_id for row in rows if COURT in row.story_ids)
    # Health (3) and everyone but person7 (2); schools' copy left it out, and so did person7's own.
    assert [(s.name, s.held, s.left_out, s.readers) for s in plan.segments] == [
        ("schools", 0, 6, 0),
        ("health", 3, 0, 3),
        ("everyone", 2, 1, 2),
    ]
    assert (plan.issue_readers, plan.holders, plan.total) == (12, 5, 5)
    messages = outbox_messages(project, correction)
    assert sorted(messages) == sorted(row.email for row in rows if COURT in row.story_ids)
    assert "person7@example.org" not in messages and "person0@example.org" not in messages


def test_the_correction_email_names_the_story_the_issue_and_keeps_the_readers_footer(  # type: ignore[no-untyped-def]
    engine, settings, project, sent
) -> None:
    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING, by="Editor Ed")
    errata.send_correction(engine, settings, correction.id)
    message = outbox_messages(project, correction)["person2@example.org"]
    assert message["Subject"] == "Correction: Father found guilty of causing the death of his baby son"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].strip().startswith("<https://news.safe.example.org/unsubscribe/")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "10 April 2025" in part  # the issue's date
        assert "The court sat in Northshire, not Southshire as we said." in part
        assert "Dear Person2," in part
        assert "https://news.safe.example.org/unsubscribe/" in part
        assert "https://news.safe.example.org/preferences/" in part
        assert "%%" not in part
    assert f"https://news.safe.example.org/archive/{ISSUE}/{COURT}.html" in text
    assert "View in your browser" not in text  # a correction has no browser copy of its own


def test_the_correction_links_unsubscribe_the_reader_who_got_it(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    from digest.links import read_token
    from digest.subscribers import get_subscriber
    from digest.subscriptions import unsubscribe_by_link
    from tests.conftest import SECRET

    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    errata.send_correction(engine, settings, correction.id)
    message = outbox_messages(project, correction)["person6@example.org"]
    token = message["List-Unsubscribe"].split("/unsubscribe/", 1)[1].split(">", 1)[0]
    link = read_token(SECRET.encode(), token)
    assert link is not None
    unsubscribe_by_link(engine, link, one_click=True)
    person = get_subscriber(engine, "person6@example.org")
    assert person.status == "unsubscribed"
    assert correction_rows(engine, correction)[person.id].id == link.delivery_id
