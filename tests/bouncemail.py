"""Hand-written bounce messages (tests/data/bounces/) filled in for deliveries of a real ledger."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from digest.issues.mime import new_message_id
from digest.people.subscribers import add_subscriber
from digest.providers.smtp.verp import return_path
from digest.store import db
from tests.conftest import DATA

SAMPLES = DATA / "bounces"
DOMAIN = "oakfield-primary.example"


@dataclass(frozen=True)
class Sent:
    """One delivery of the test issue: who it went to and what we put in the message."""

    delivery_id: int
    email: str
    message_id: str


def make_ledger(engine, settings):  # type: ignore[no-untyped-def]
    """Five readers and the deliveries of one issue sent to them over SMTP, as the ledger records them."""
    now = db.utcnow()
    sent: dict[str, Sent] = {}
    people = {
        name: add_subscriber(engine, settings, f"{name}@{DOMAIN}", {}, consent_source="test")
        for name in ("ana", "ben", "cat", "dev", "eve")
    }
    with engine.begin() as conn:
        send_id = conn.execute(
            sa.insert(db.sends).values(
                issue_id="2025-04-14", state="done", provider="smtp", segments=["everyone"], created_at=now
            )
        ).inserted_primary_key[0]
        for name, person in people.items():
            message_id = new_message_id(settings)
            delivery_id = conn.execute(
                sa.insert(db.deliveries).values(
                    send_id=send_id,
                    issue_id="2025-04-14",
                    subscriber_id=person.id,
                    email=person.email,
                    segment="everyone",
                    state="accepted",
                    provider_message_id=message_id,
                    updated_at=now,
                )
            ).inserted_primary_key[0]
            sent[name] = Sent(delivery_id, person.email, message_id)
    return sent


def fill(settings, name: str, to: Sent, other: Sent | None = None) -> bytes:  # type: ignore[no-untyped-def]
    """A sample message about one delivery, placeholders filled in."""
    raw = (SAMPLES / name).read_bytes()
    values = {
        "{{VERP}}": return_path(settings, to.delivery_id),
        "{{UNSIGNED}}": f"bounces+{to.delivery_id}@safe.example.org",
        "{{RCPT}}": to.email,
        "{{MSGID}}": to.message_id,
        "{{OTHER}}": other.email if other else "nobody@example.net",
    }
    for key, value in values.items():
        raw = raw.replace(key.encode(), value.encode())
    return raw
