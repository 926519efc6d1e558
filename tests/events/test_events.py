"""The events pipeline: every documented SendGrid event, real traffic's quirks, the rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.events.event import EVENT_TYPES
from digest.events.rules import ingest
from digest.people.subscribers import add_subscriber, get_subscriber, history, list_suppressions, remove_subscriber
from digest.providers.sendgrid.events import normalise_sendgrid, parse_sendgrid_body
from digest.store import db
from tests.conftest import DATA, SHARED, corpus_file, corpus_files, need_corpus

# Our own bodies in the shapes SendGrid documents and real traffic sends (tests/data/README.md);
# SendGrid's own documented payloads are the corpus tier below.
EVENTS = DATA / "sendgrid-events"
DOCUMENTED = SHARED / "sendgrid" / "events"


@pytest.fixture
def person(engine, settings):  # type: ignore[no-untyped-def]
    return add_subscriber(
        engine, settings, "lead@example.org", {"first_name": "Lee", "key_contact": True}, consent_source="test"
    )


def event(kind: str, **extra) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return {"email": "lead@example.org", "event": kind, "timestamp": 1700000000, **extra}


def feed(engine, settings, *objects):  # type: ignore[no-untyped-def]
    return ingest(engine, settings, [normalise_sendgrid(o) for o in objects])


def read_and_store_every_event(engine, settings, path: Path) -> None:  # type: ignore[no-untyped-def]
    objects = parse_sendgrid_body(path.read_bytes(), origin=str(path))
    events = [normalise_sendgrid(o) for o in objects]
    assert all(e.type in EVENT_TYPES for e in events)
    report = ingest(engine, settings, events)
    assert report.stored == len(objects)  # distinct events, even where samples reuse a placeholder id
    with engine.connect() as conn:
        raws = conn.execute(sa.select(db.events.c.raw)).scalars().all()
    assert {json.dumps(json.loads(r), sort_keys=True) for r in raws} == {json.dumps(o, sort_keys=True) for o in objects}


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.stem)
def test_every_event_shape_is_read_and_stored(engine, settings, path: Path) -> None:  # type: ignore[no-untyped-def]
    read_and_store_every_event(engine, settings, path)


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_files(DOCUMENTED, "*.json"))
def test_every_documented_payload_is_read_and_stored(engine, settings, path: Path | None) -> None:  # type: ignore[no-untyped-def]
    read_and_store_every_event(engine, settings, corpus_file(path, DOCUMENTED, "SendGrid's documented event payloads"))


def test_types_map_as_documented() -> None:
    batch = parse_sendgrid_body((EVENTS / "all_event_types_batch.json").read_bytes())
    assert [normalise_sendgrid(o).type for o in batch] == [
        "processed",
        "deferred",
        "delivered",
        "opened",
        "clicked",
        "bounced",
        "dropped",
        "complained",
        "unsubscribed",
        "group-unsubscribed",
        "group-resubscribed",
    ]
    blocked = normalise_sendgrid(json.loads((EVENTS / "bounce_type_blocked.json").read_text())[0])
    assert (blocked.type, blocked.bounce_class) == ("blocked", "soft")
    hard = normalise_sendgrid(json.loads((EVENTS / "bounce_type_bounce.json").read_text())[0])
    assert (hard.type, hard.bounce_class, hard.status) == ("bounced", "hard", "5.1.1")


@pytest.mark.corpus
def test_documented_types_map_as_documented() -> None:
    path = need_corpus(DOCUMENTED / "all_event_types_batch.json", "SendGrid's documented event payloads")
    assert [normalise_sendgrid(o).type for o in parse_sendgrid_body(path.read_bytes())] == [
        "processed",
        "deferred",
        "delivered",
        "opened",
        "clicked",
        "bounced",
        "dropped",
        "complained",
        "unsubscribed",
        "group-unsubscribed",
        "group-resubscribed",
    ]


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        ({"event": "bounce", "email": "a@x.org", "type": "blocked"}, lambda e: e.type == "blocked" and e.status == ""),
        ({"event": "bounce", "email": "a@x.org", "status": "4.2.2"}, lambda e: e.type == "blocked"),
        ({"event": "delivered", "email": "a@x.org", "sg_message_id": ""}, lambda e: e.message_id is None),
        ({"event": "deferred", "email": "a@x.org", "attempt": "5"}, lambda e: e.type == "deferred"),
        ({"event": "group_unsubscribe"}, lambda e: e.email == "" and e.type == "group-unsubscribed"),
        ({"event": "open", "sg_machine_open": True, "email": "a@x.org"}, lambda e: e.machine_open),
        ({"event": "open", "timestamp": 1591726752372, "email": "a@x.org"}, lambda e: e.occurred_at.year == 2020),
        ({"event": "mystery", "email": "a@x.org"}, lambda e: e.type == "unknown" and e.raw_type == "mystery"),
        ({"event": "delivered", "email": "a@x.org", "delivery_id": 2**31}, lambda e: e.delivery_id is None),
        ({"event": "delivered", "email": "a@x.org", "delivery_id": str(2**63)}, lambda e: e.delivery_id is None),
        ({"event": "delivered", "email": "a@x.org", "delivery_id": "\u0661\u0662"}, lambda e: e.delivery_id is None),
        ({"event": "delivered", "email": "a@x.org", "delivery_id": "12"}, lambda e: e.delivery_id == 12),
        ({"event": ["not", "a", "string"]}, lambda e: e.type == "unknown"),
        ("just a string", lambda e: e.type == "unknown"),
        (
            {"event": "click", "url": 42, "delivery_id": "12", "email": None},
            lambda e: e.url == "42" and e.delivery_id == 12,
        ),
        ({"event": "open", "delivery_id": "-3", "timestamp": "soon"}, lambda e: e.delivery_id is None),
    ],
)
def test_real_traffic_quirks_never_crash(raw, check) -> None:  # type: ignore[no-untyped-def]
    assert check(normalise_sendgrid(raw))


def test_hard_bounce_suppresses_at_once_and_names_the_event(engine, settings, person) -> None:  # type: ignore[no-untyped-def]
    report = feed(
        engine,
        settings,
        event("bounce", type="bounce", status="5.1.1", reason="550 5.1.1 unknown user", sg_event_id="b1"),
    )
    assert report.changes == ["lead@example.org: active → bounced (hard bounce: 550 5.1.1 unknown user)"]
    assert get_subscriber(engine, "lead@example.org").status == "bounced"
    assert list_suppressions(engine)[0].reason == "bounced"
    entry = history(engine, person.id)[-1]
    with engine.connect() as conn:
        raw = conn.execute(sa.select(db.events.c.raw).where(db.events.c.id == entry.event_id)).scalar_one()
    assert json.loads(raw)["sg_event_id"] == "b1"


def test_key_contact_bounces_go_to_review(engine, settings, person, invoke) -> None:  # type: ignore[no-untyped-def]
    feed(engine, settings, event("bounce", type="bounce", status="5.1.1", reason="550 gone", sg_event_id="b1"))
    result = invoke("bounces", "review")
    assert result.output.startswith("lead@example.org  Lee, ")
    assert "hard bounce: 550 gone" in result.output
    assert result.output.endswith("1 key contact to review.\n")


def test_soft_bounces_rise_once_a_day_reset_after_quiet_and_suppress_at_the_threshold(engine, settings, person) -> None:  # type: ignore[no-untyped-def]
    day = datetime(2026, 1, 1, tzinfo=UTC)

    def blocked(when: datetime, name: str) -> dict:  # type: ignore[type-arg]
        return event(
            "bounce",
            type="blocked",
            status="4.7.1",
            reason="mailbox full",
            sg_event_id=name,
            timestamp=int(when.timestamp()),
        )

    feed(engine, settings, blocked(day, "s1"), blocked(day + timedelta(hours=2), "s2"))
    assert get_subscriber(engine, "lead@example.org").status == "active"
    feed(engine, settings, blocked(day + timedelta(days=1), "s3"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(db.subscribers.c.soft_bounce_score)).scalar_one() == 2
    # Forty days of silence: the score starts again.
    feed(engine, settings, blocked(day + timedelta(days=41), "s4"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(db.subscribers.c.soft_bounce_score)).scalar_one() == 1
    feed(engine, settings, blocked(day + timedelta(days=42), "s5"))
    report = feed(engine, settings, blocked(day + timedelta(days=43), "s6"))
    assert get_subscriber(engine, "lead@example.org").status == "bounced"
    assert report.changes[0].startswith("lead@example.org: active → bounced (3 soft bounces on different days")
    assert history(engine, person.id)[-1].cause == "soft-bounce"


def test_deferrals_never_suppress(engine, settings, person) -> None:  # type: ignore[no-untyped-def]
    feed(
        engine,
        settings,
        *[event("deferred", attempt=str(n), sg_event_id=f"d{n}", response="421 try later") for n in range(10)],
    )
    assert get_subscriber(engine, "lead@example.org").status == "active"


def test_complaint_is_its_own_status(engine, settings, person) -> None:  # type: ignore[no-untyped-def]
    feed(engine, settings, event("spamreport", sg_event_id="c1"))
    assert get_subscriber(engine, "lead@example.org").status == "complained"
    assert list_suppressions(engine)[0].reason == "complained"


@pytest.mark.parametrize("kind", ["unsubscribe", "group_unsubscribe"])
def test_unsubscribes_of_every_kind(engine, settings, person, kind) -> None:  # type: ignore[no-untyped-def]
    feed(engine, settings, event(kind, sg_event_id="u1"))
    assert get_subscriber(engine, "lead@example.org").status == "unsubscribed"


def test_group_resubscribe_restores_only_the_unsubscribed(engine, settings, person) -> None:  # type: ignore[no-untyped-def]
    feed(engine, settings, event("group_unsubscribe", sg_event_id="u1"))
    feed(engine, settings, event("group_resubscribe", sg_event_id="r1"))
    assert get_subscriber(engine, "lead@example.org").status == "active"
    assert list_suppressions(engine) == []
    feed(engine, settings, event("spamreport", sg_event_id="c1"))
    feed(engine, settings, event("group_resubscribe", sg_event_id="r2"))
    assert get_subscriber(engine, "lead@example.org").status == "complained"


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("Bounced Address", "bounced"),
        ("Unsubscribed Address", "unsubscribed"),
        ("Spam Reporting Address", "complained"),
        ("Invalid SMTPAPI header", "active"),
    ],
)
def test_drop_reasons(engine, settings, person, reason, status) -> None:  # type: ignore[no-untyped-def]
    report = feed(engine, settings, event("dropped", reason=reason, sg_event_id="x1"))
    assert get_subscriber(engine, "lead@example.org").status == status
    if status == "active":
        assert report.reported == [f"dropped for lead@example.org: {reason}"]


def test_the_same_event_twice_changes_nothing_the_second_time(engine, settings, person) -> None:  # type: ignore[no-untyped-def]
    day = datetime(2026, 1, 1, tzinfo=UTC)
    blocked = event("bounce", type="blocked", sg_event_id="same", timestamp=int(day.timestamp()))
    first = feed(engine, settings, blocked)
    second = feed(engine, settings, blocked, blocked)
    assert (first.stored, second.stored, second.duplicates) == (1, 0, 2)
    with engine.connect() as conn:
        assert conn.execute(sa.select(db.subscribers.c.soft_bounce_score)).scalar_one() == 1


def test_events_that_cannot_be_placed_are_kept_and_reported(engine, settings) -> None:  # type: ignore[no-untyped-def]
    report = feed(
        engine,
        settings,
        {"event": "bounce", "email": "stranger@example.org", "sg_event_id": "z"},
        {"event": "group_unsubscribe", "sg_event_id": "y"},
    )
    assert (report.stored, report.unplaced) == (2, 2)
    assert report.reported[0].endswith("(bounced for stranger@example.org) matches no subscriber")


def test_an_erased_person_stays_erased(engine, settings, person) -> None:  # type: ignore[no-untyped-def]
    from digest.people.erasure import erase_subscriber

    feed(engine, settings, event("open", sg_event_id="o1"))
    erase_subscriber(engine, settings, "lead@example.org")
    with engine.connect() as conn:
        raws = conn.execute(sa.select(db.events.c.raw, db.events.c.email)).all()
    assert raws == [('{"erased":true}', "")]


def test_events_import_cli(invoke, engine, settings, person, project) -> None:  # type: ignore[no-untyped-def]
    remove_subscriber(engine, settings, "lead@example.org")
    path = project / "events.json"
    path.write_text(
        json.dumps([event("open", sg_event_id="o1"), event("click", url="https://x.org", sg_event_id="c1")])
    )
    result = invoke("events", "import", str(path))
    assert result.output == (
        "2 events: 2 stored, 0 already known, 0 not placed, 0 uncertain deliveries settled, 0 subscriber changes.\n"
    )
    bad = project / "bad.json"
    bad.write_text("{oops")
    failed = invoke("events", "import", str(bad))
    assert (failed.exit_code, failed.output) == (
        1,
        f"Error: {bad}, line 1: not valid JSON (Expecting property name enclosed in double quotes)\n",
    )


def test_an_id_too_large_for_our_columns_is_stored_unplaced_not_an_error(engine, settings, person) -> None:  # type: ignore[no-untyped-def]
    report = feed(engine, settings, event("delivered", sg_event_id="big", delivery_id=2**31, send_id=2**40))
    assert report.stored == 1  # and placed by its address, the next clue
    with engine.connect() as conn:
        assert conn.execute(sa.select(db.events.c.delivery_id)).scalar_one() is None


def _trail(engine, email: str):  # type: ignore[no-untyped-def]
    """What the rules left for one person: status, history, suppression and its log."""
    person = get_subscriber(engine, email)
    steps = [
        (h.old_status, h.new_status, h.cause, h.detail.replace(email, "ADDRESS")) for h in history(engine, person.id)
    ]
    log = db.suppression_log
    with engine.connect() as conn:
        hashed = conn.execute(sa.select(db.subscribers.c.email_hash).where(db.subscribers.c.id == person.id)).scalar()
        listed = conn.execute(
            sa.select(db.suppressions.c.reason, db.suppressions.c.detail).where(db.suppressions.c.email_hash == hashed)
        ).all()
        logged = conn.execute(
            sa.select(log.c.action, log.c.reason).where(log.c.email_hash == hashed).order_by(log.c.id)
        ).all()
    return person.status, steps, [tuple(row) for row in listed], [tuple(row) for row in logged]


@pytest.mark.parametrize(
    "kinds",
    [
        [("bounce", {"type": "bounce", "reason": "550 no such user"}), ("spamreport", {})],
        [("group_unsubscribe", {}), ("group_resubscribe", {}), ("group_unsubscribe", {})],
        [("group_unsubscribe", {}), ("group_resubscribe", {}), ("open", {}), ("bounce", {"type": "bounce"})],
    ],
    ids=["bounce-then-complaint", "out-in-out", "out-in-bounce"],
)
def test_many_changes_in_one_body_leave_what_one_body_each_leaves(engine, settings, kinds) -> None:  # type: ignore[no-untyped-def]
    # The rules change everyone of a body together (digest.people.statusbook); each change must land as if made alone.
    for name in ("together", "apart"):
        add_subscriber(engine, settings, f"{name}@example.org", {}, consent_source="test")
    together = [
        {**event(kind, sg_event_id=f"t{n}", timestamp=1700000000 + n), "email": "together@example.org", **extra}
        for n, (kind, extra) in enumerate(kinds)
    ]
    feed(engine, settings, *together)
    for n, (kind, extra) in enumerate(kinds):
        feed(
            engine,
            settings,
            {**event(kind, sg_event_id=f"a{n}", timestamp=1700000000 + n), "email": "apart@example.org", **extra},
        )
    assert _trail(engine, "together@example.org") == _trail(engine, "apart@example.org")
    assert len(_trail(engine, "apart@example.org")[1]) >= len(kinds) - 1  # the changes did happen


def test_a_bounce_then_a_complaint_leave_the_trail_change_status_leaves(engine, settings) -> None:  # type: ignore[no-untyped-def]
    from digest.people.subscribers import change_status

    for name in ("events", "direct"):
        add_subscriber(engine, settings, f"{name}@example.org", {}, consent_source="test")
    feed(
        engine,
        settings,
        {**event("bounce", type="bounce", reason="550 no such user", sg_event_id="b"), "email": "events@example.org"},
        {**event("spamreport", sg_event_id="s", timestamp=1700000001), "email": "events@example.org"},
    )
    direct = get_subscriber(engine, "direct@example.org").id
    with db.write(engine) as conn:
        change_status(conn, direct, "bounced", cause="bounce", detail="hard bounce: 550 no such user")
        change_status(conn, direct, "complained", cause="complaint", detail="reported the digest as spam")
    assert _trail(engine, "events@example.org") == _trail(engine, "direct@example.org")
    assert [step[:2] for step in _trail(engine, "direct@example.org")[1]] == [
        (None, "active"),
        ("active", "bounced"),
        ("bounced", "complained"),
    ]


def test_each_event_keeps_its_text_as_received_and_escapes_are_written_out(engine, settings) -> None:  # type: ignore[no-untyped-def]
    from digest.events.intake import ingest_webhook_body

    plain = '{"sg_event_id":"p1","event":"open","email":"lead@example.org","timestamp":1700000000}'
    escaped = '{"sg_event_id":"e1","event":"open","email":"jos\\u00e9@example.org","timestamp":1700000000}'
    report = ingest_webhook_body(engine, settings, f"[{plain},\n {escaped}]")
    assert report.stored == 2
    with engine.connect() as conn:
        raws = {email: raw for email, raw in conn.execute(sa.select(db.events.c.email, db.events.c.raw))}
    assert raws["lead@example.org"] == plain  # not re-encoded: SendGrid's own text, in its own order
    # An escaped address is kept written out, so erasure can find it as the person wrote it.
    assert "josé@example.org" in raws["josé@example.org"] and "\\u" not in raws["josé@example.org"]
    assert json.loads(raws["josé@example.org"])["sg_event_id"] == "e1"
    # The same events again, however they are spaced, are the same events.
    again = ingest_webhook_body(engine, settings, f"[ {escaped} , {plain} ]")
    assert (again.stored, again.duplicates) == (0, 2)
