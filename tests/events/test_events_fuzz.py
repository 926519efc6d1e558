"""Fuzzing the webhook and the event reader with generated bodies (hypothesis)."""

from __future__ import annotations

import base64
import json
import time

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.config import load_settings
from digest.events.rules import ingest
from digest.people.subscribers import add_subscriber
from digest.providers.sendgrid.events import normalise_sendgrid
from digest.store import db
from tests.conftest import examples

pytestmark = pytest.mark.fuzz

PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC = base64.b64encode(
    PRIVATE.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event": st.sampled_from(
            [
                "bounce",
                "dropped",
                "spamreport",
                "unsubscribe",
                "open",
                "click",
                "processed",
                "group_resubscribe",
                "nonsense",
                "",
            ]
        )
        | json_values,
        "email": st.sampled_from(["fuzz@example.org", "", "FUZZ@example.org"]) | json_values,
        "timestamp": st.integers(min_value=-10, max_value=10**14) | json_values,
        "sg_event_id": st.text(max_size=20) | json_values,
        "type": st.sampled_from(["bounce", "blocked"]) | json_values,
        "status": json_values,
        "reason": json_values,
        "delivery_id": json_values,
        "category": json_values,
        "sg_message_id": json_values,
        "url": json_values,
        "attempt": json_values,
    },
)
bodies = st.one_of(
    st.lists(event_like, max_size=6).map(lambda events: json.dumps(events).encode()),
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
)


# What can travel in an HTTP header value at all.
HEADER_CHARS = st.characters(min_codepoint=32, max_codepoint=126)


def sign(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = PRIVATE.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


@pytest.fixture
def client(project, engine):  # type: ignore[no-untyped-def]
    """One app for all of a test's examples; the database keeps what earlier examples stored."""
    from digest.web import create_app

    with (project / ".env").open("a") as env:
        env.write(f"SENDGRID_WEBHOOK_PUBLIC_KEY={PUBLIC}\n")
    return create_app(load_settings(project / "digest.toml"), engine).test_client()


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_signed_fuzz_never_500s_and_keeps_every_valid_event(client, engine, body) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(db.events)).scalar_one()
    answer = client.post("/webhooks/sendgrid", data=body, headers=sign(body))
    assert answer.status_code in (200, 400), answer.data
    if answer.status_code == 200:
        parsed = json.loads(body)
        objects = parsed if isinstance(parsed, list) else [parsed]
        expected = {normalise_sendgrid(o).provider_event_id for o in objects}
        with engine.connect() as conn:
            stored = set(conn.execute(sa.select(db.events.c.provider_event_id)).scalars())
            after = conn.execute(sa.select(sa.func.count()).select_from(db.events)).scalar_one()
        assert expected <= stored  # nothing valid is lost
        assert after - before <= len(expected)


@pytest.fixture
def fuzz_person(engine, settings):  # type: ignore[no-untyped-def]
    return add_subscriber(engine, settings, "fuzz@example.org", {}, consent_source="test")


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, signature=st.text(HEADER_CHARS, max_size=120), stamp=st.text(HEADER_CHARS, max_size=15))
def test_unsigned_fuzz_changes_nothing(client, engine, fuzz_person, body, signature, stamp) -> None:  # type: ignore[no-untyped-def]
    headers = {"X-Twilio-Email-Event-Webhook-Signature": signature, "X-Twilio-Email-Event-Webhook-Timestamp": stamp}
    answer = client.post("/webhooks/sendgrid", data=body, headers=headers)
    assert answer.status_code in (403, 400)  # 400 only for bodies that are not even UTF-8
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.events)).scalar_one() == 0
        assert conn.execute(sa.select(db.subscribers.c.status)).scalar_one() == "active"


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(event_like, min_size=1, max_size=8))
def test_replayed_batches_change_nothing_the_second_time(engine, settings, batch) -> None:  # type: ignore[no-untyped-def]
    events = [normalise_sendgrid(o) for o in batch]
    ingest(engine, settings, events)
    with engine.connect() as conn:
        first = conn.execute(sa.select(db.events.c.id, db.events.c.outcome).order_by(db.events.c.id)).all()
    replay = ingest(engine, settings, [normalise_sendgrid(o) for o in batch])
    with engine.connect() as conn:
        second = conn.execute(sa.select(db.events.c.id, db.events.c.outcome).order_by(db.events.c.id)).all()
    assert replay.stored == 0 and replay.changes == [] and first == second
