"""Helpers for the corrections' tests: the sample issue sent to segments whose copies differ, and what
the ledger and the outbox hold afterwards."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from digest.sending import start_send
from digest.store import db

ISSUE = "2025-04-10"
SEGMENTS = ["schools", "health", "everyone"]
COURT = "2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son"  # health and everyone
WATER = "2025-04-08-cold-water-safety-advice-as-the-weather-warms-up"  # schools and everyone
WORDING = "The court sat in Northshire, not Southshire as we said.\n\nThe sentence is due on 2 May."


def send_issue(engine, settings) -> int:  # type: ignore[no-untyped-def]
    """The sample issue sent to the ``audience`` fixture's schools, health and everyone; person7 (everyone)
    chose water safety only, so their copy leaves the court story out as schools' does. Returns the send."""
    from digest.people.subscribers import get_subscriber
    from digest.people.subscriptions import save_topics

    save_topics(engine, settings, get_subscriber(engine, "person7@example.org").id, ["water-safety"])
    _plan, outcome = start_send(engine, settings, ISSUE, SEGMENTS)
    assert outcome is not None and outcome.counts["accepted"] == 12
    return outcome.send_id


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
