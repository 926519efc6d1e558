"""The signed webhook: what a signature and a timestamp must be, and body content never causing a 500.

SendGrid retries any non-2xx answer for 24 hours, so a correctly signed body
that made us answer 500 would be retried, and none of its events stored, for
a day. Whatever the body holds, the answer is 200 (the readable events stored,
the odd ones named) or 400 (not JSON events at all).
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.config import load_settings
from digest.people.subscribers import add_subscriber, get_subscriber
from digest.store import db

PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(
    PRIVATE.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
SPAM = json.dumps([{"email": "reader@example.org", "event": "spamreport", "sg_event_id": "s1"}]).encode()


def signed(body: bytes, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp if stamp is not None else str(int(time.time()))
    signature = PRIVATE.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


@pytest.fixture
def client(project, engine, settings):  # type: ignore[no-untyped-def]
    from digest.web import create_app

    add_subscriber(engine, settings, "reader@example.org", {}, consent_source="test")
    with (project / ".env").open("a") as env:
        env.write(f"SENDGRID_WEBHOOK_PUBLIC_KEY={PUBLIC}\n")
    return create_app(load_settings(project / "digest.toml"), engine, background=False).test_client()


def stored(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(db.events.c.provider_event_id).order_by(db.events.c.id)).scalars())


@pytest.mark.parametrize(
    "signature",
    [
        "not base64!!",
        base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode(),  # DER-shaped, signs nothing
        base64.b64encode(b"junk").decode(),
        "",
    ],
)
def test_a_malformed_signature_with_a_fresh_timestamp_is_refused(client, engine, signature) -> None:  # type: ignore[no-untyped-def]
    headers = {**signed(SPAM), "X-Twilio-Email-Event-Webhook-Signature": signature}
    answer = client.post("/webhooks/sendgrid", data=SPAM, headers=headers)
    assert answer.status_code == 403
    assert stored(engine) == [] and get_subscriber(engine, "reader@example.org").status == "active"


@pytest.mark.parametrize("offset", [3600, -3600, 10**9])
def test_a_validly_signed_body_dated_an_hour_away_is_refused(client, engine, offset) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/webhooks/sendgrid", data=SPAM, headers=signed(SPAM, str(int(time.time()) + offset)))
    assert answer.status_code == 403
    assert stored(engine) == [] and get_subscriber(engine, "reader@example.org").status == "active"


def test_a_signed_timestamp_of_hundreds_of_digits_is_refused_not_a_crash(client, engine) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/webhooks/sendgrid", data=SPAM, headers=signed(SPAM, "9" * 400))
    assert answer.status_code == 403 and stored(engine) == []


def event(sg_id: str, **fields: object) -> dict[str, object]:
    return {"email": "reader@example.org", "event": "open", "sg_event_id": sg_id, "timestamp": 1764000000, **fields}


@pytest.mark.parametrize(
    ("name", "odd"),
    [
        ("a 400-digit timestamp", event("t400", timestamp=int("9" * 400))),
        ("a timestamp of 1e400", event("tinf", timestamp=float("inf"))),
        ("delivery_id 2**63", event("d63", delivery_id=2**63)),
        ("delivery_id -1 as text", event("dneg", delivery_id="-1")),
        ("a lone surrogate", event("sur", email="\ud800@example.org", reason="\udfff")),
        ("a 300-character event id and type", event("x" * 300, event="y" * 100)),
        ("an event 900 levels deep", event("deep", extra=json.loads("[" * 900 + "]" * 900))),
        ("a 4000-digit number", event("n4000", attempt=int("7" * 4000))),
    ],
)
def test_an_odd_event_beside_a_good_one_never_costs_the_good_one(client, engine, name, odd) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps([event("good-1"), odd, event("good-2", event="spamreport")]).encode()
    answer = client.post("/webhooks/sendgrid", data=body, headers=signed(body))
    assert answer.status_code == 200, (name, answer.data)
    ids = stored(engine)
    assert {"good-1/open", "good-2/spamreport"} <= set(ids), name
    assert len(ids) == 3, name  # the odd one is kept too, as what could be read of it
    assert get_subscriber(engine, "reader@example.org").status == "complained"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("100,000 levels deep", b"[" * 100_000 + b"]" * 100_000),
        (
            "an object 100,000 levels deep inside an event",
            b'[{"event":"open","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}]",
        ),
        ("a 5000-digit number", b'[{"event":"open","timestamp":' + b"9" * 5000 + b"}]"),
        ("one event a line, one of them deep", b'{"event":"open"}\n' + b"[" * 100_000 + b"]" * 100_000),
    ],
)
def test_a_body_that_cannot_be_read_is_a_400_not_a_500(client, engine, name, body) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/webhooks/sendgrid", data=body, headers=signed(body))
    assert answer.status_code == 400, (name, answer.data)
    assert stored(engine) == []
