"""SMTP sending to a real aiosmtpd server."""

from __future__ import annotations

import email
import re
from email import policy

import sqlalchemy as sa

from digest.config import load_settings
from digest.providers.smtp.verp import return_path
from digest.sending import start_send
from digest.store import db

SEGMENTS = ["health", "schools", "everyone"]


def test_each_recipient_gets_a_proper_message_with_a_verp_sender(engine, audience, smtp_server, project) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(project / "digest.toml")
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS, provider_name="smtp")
    assert outcome is not None and outcome.counts["accepted"] == 12
    assert len(smtp_server.messages) == 12
    with engine.connect() as conn:
        rows = {r.email: r for r in conn.execute(sa.select(db.deliveries))}
    received = smtp_server.messages[0]
    (to,) = received.rcpt_tos
    # A signed VERP return path: the delivery id and a tag only our key can make (providers/smtp/verp.py).
    assert received.mail_from == return_path(settings, rows[to].id)
    assert re.fullmatch(rf"bounces\+{rows[to].id}-[0-9a-f]{{16}}@safe\.example\.org", received.mail_from)
    message = email.message_from_bytes(received.data, policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == rows[to].provider_message_id
    # One connection for every message, after the check that the server can be reached (digest.providers.preflight).
    assert smtp_server.sessions == 2


def test_a_refused_recipient_fails_only_that_delivery(engine, audience, smtp_server, project) -> None:  # type: ignore[no-untyped-def]
    smtp_server.refuse.add("person5@example.org")
    settings = load_settings(project / "digest.toml")
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS, provider_name="smtp")
    assert outcome is not None and (outcome.counts["accepted"], outcome.counts["failed"]) == (11, 1)
    with engine.connect() as conn:
        failed = conn.execute(sa.select(db.deliveries).where(db.deliveries.c.state == "failed")).one()
    assert failed.email == "person5@example.org"
    assert failed.error == "refused by the SMTP server: 550 5.1.1 No such user here"


def test_a_connection_dropped_before_data_is_reopened_and_the_message_sent(
    engine, audience, smtp_server, project
) -> None:  # type: ignore[no-untyped-def]
    smtp_server.drop_at_rcpt = 4
    settings = load_settings(project / "digest.toml")
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS, provider_name="smtp")
    assert outcome is not None and outcome.counts["accepted"] == 12
    assert sorted(to for m in smtp_server.messages for to in m.rcpt_tos) == sorted(audience)
    assert smtp_server.sessions == 3  # the preflight's, the first and the reopened one


def test_a_connection_dropped_after_data_leaves_that_delivery_uncertain(engine, audience, smtp_server, project) -> None:  # type: ignore[no-untyped-def]
    smtp_server.drop_after_data = 4
    settings = load_settings(project / "digest.toml")
    _plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS, provider_name="smtp")
    assert outcome is not None and outcome.state == "paused"
    assert (outcome.counts["accepted"], outcome.counts["sending"]) == (11, 1)
    received = sorted(to for m in smtp_server.messages for to in m.rcpt_tos)
    assert received == sorted(audience)  # the server has it; we did not send it twice
