"""Each event rule leaves its reason and its evidence: the history row names the cause, what the
provider said and the stored event behind it, and the ingest report says what changed.

A decision about a person is only as good as the trail it leaves; these tests read that trail
exactly, rule by rule.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from digest.events.event import Event
from digest.events.rules import ingest
from digest.people.subscribers import add_subscriber, get_subscriber, history
from digest.providers.sendgrid.events import normalise_sendgrid
from digest.store import db
from tests.conftest import record_send

ADDRESS = "lead@example.org"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def lead(engine, settings):  # type: ignore[no-untyped-def]
    return add_subscriber(engine, settings, ADDRESS, {"first_name": "Lee"}, consent_source="test")


def sendgrid(kind: str, event_id: str, **extra) -> Event:  # type: ignore[no-untyped-def]
    return normalise_sendgrid(
        {"email": ADDRESS, "event": kind, "timestamp": 1772442000, "sg_event_id": event_id, **extra}
    )


def mailbox_block(event_id: str, when: datetime, bounce_reason: str = "blocked") -> Event:
    """A soft bounce as a bounce mailbox gives it: a reason class, a status and the reader that decided."""
    return Event(
        provider="mailbox",
        provider_event_id=event_id,
        type="blocked",
        raw_type="blocked",
        occurred_at=when,
        raw="{}",
        email=ADDRESS,
        status="4.7.1",
        reason="blocked by a blocklist",
        bounce_reason=bounce_reason,
        parser="dsn",
    )


def stored_id(engine, event_id: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(db.events.c.id).where(db.events.c.provider_event_id.startswith(event_id))
            ).scalar_one()
        )


def soft_record(engine):  # type: ignore[no-untyped-def]
    """The person's soft-bounce score and the time of the last soft bounce that counted."""
    s = db.subscribers
    with engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(s.c.soft_bounce_score, s.c.last_soft_bounce_at).where(s.c.email == ADDRESS)).one()
        )


def last_step(engine):  # type: ignore[no-untyped-def]
    person = get_subscriber(engine, ADDRESS)
    step = history(engine, person.id)[-1]
    return person.status, (step.old_status, step.new_status, step.cause, step.detail), step.event_id


@pytest.mark.parametrize(
    ("body", "status", "cause", "detail", "said"),
    [
        (
            {"event": "unsubscribe"},
            "unsubscribed",
            "provider-unsubscribe",
            "unsubscribed through the provider",
            "active → unsubscribed (unsubscribed through the provider)",
        ),
        (
            {"event": "group_unsubscribe", "asm_group_id": 1},
            "unsubscribed",
            "group-unsubscribe",
            "unsubscribed from the group",
            "active → unsubscribed (unsubscribed from the group)",
        ),
        (
            {"event": "dropped", "reason": "Unsubscribed Address"},
            "unsubscribed",
            "dropped",
            "the provider dropped it: Unsubscribed Address",
            "active → unsubscribed (the provider dropped it: Unsubscribed Address)",
        ),
        (
            {"event": "spamreport"},
            "complained",
            "complaint",
            "reported the digest as spam",
            "active → complained (reported the digest as spam)",
        ),
        (
            {"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": ""},
            "bounced",
            "bounce",
            "hard bounce: 5.1.1",  # no words from the server: its status is the evidence
            "active → bounced (hard bounce: 5.1.1)",
        ),
        (
            {"event": "bounce", "type": "bounce"},
            "bounced",
            "bounce",
            "hard bounce: bounce",  # neither words nor status: the provider's own event name is the evidence
            "active → bounced (hard bounce: bounce)",
        ),
    ],
    ids=["unsubscribe", "group-unsubscribe", "dropped", "spamreport", "bounce-without-words", "bounce-bare"],
)
def test_each_rule_records_its_cause_its_words_and_its_event(
    engine, settings, lead, body, status, cause, detail, said
) -> None:  # type: ignore[no-untyped-def]
    fields = dict(body)  # the parameters are shared by both databases' runs
    kind = fields.pop("event")
    report = ingest(engine, settings, [sendgrid(kind, "ev-1", **fields)])
    assert last_step(engine) == (status, ("active", status, cause, detail), stored_id(engine, "ev-1"))
    assert report.changes == [f"{ADDRESS}: {said}"]


def test_a_group_resubscribe_records_its_event_and_says_so(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    ingest(engine, settings, [sendgrid("group_unsubscribe", "out", asm_group_id=1)])
    report = ingest(engine, settings, [sendgrid("group_resubscribe", "back", asm_group_id=1)])
    assert last_step(engine) == (
        "active",
        ("unsubscribed", "active", "group-resubscribe", "resubscribed to the group"),
        stored_id(engine, "back"),
    )
    assert report.changes == [f"{ADDRESS}: unsubscribed → active (group resubscribe)"]


def test_a_resubscribe_for_someone_never_out_changes_nothing_and_says_nothing(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    report = ingest(engine, settings, [sendgrid("group_resubscribe", "back", asm_group_id=1)])
    assert report.changes == []
    assert len(history(engine, lead.id)) == 1


def test_soft_bounces_leave_the_last_one_as_evidence(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    days = [mailbox_block(f"soft-{n}", START + timedelta(days=n)) for n in range(3)]
    report = ingest(engine, settings, days)
    detail = "3 soft bounces on different days, the last: blocked, 4.7.1: blocked by a blocklist [dsn]"
    assert last_step(engine) == ("bounced", ("active", "bounced", "soft-bounce", detail), stored_id(engine, "soft-2"))
    assert report.changes == [
        f"{ADDRESS}: soft bounce 1 of 3 (blocked, 4.7.1: blocked by a blocklist [dsn])",
        f"{ADDRESS}: soft bounce 2 of 3 (blocked, 4.7.1: blocked by a blocklist [dsn])",
        f"{ADDRESS}: active → bounced ({detail})",
    ]


def test_a_mailbox_bounce_without_status_or_words_says_so(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    bare = replace(mailbox_block("bare", START), status="", reason="")
    report = ingest(engine, settings, [bare])
    assert report.changes == [f"{ADDRESS}: soft bounce 1 of 3 (blocked, no status: no diagnostic [dsn])"]


def test_a_soft_bounce_exactly_the_reset_spell_later_still_counts(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    spell = timedelta(days=settings.events.soft_bounce_reset_days)
    report = ingest(engine, settings, [mailbox_block("first", START), mailbox_block("second", START + spell)])
    assert soft_record(engine)[0] == 2  # only a longer quiet spell starts again
    assert report.changes[-1].startswith(f"{ADDRESS}: soft bounce 2 of 3")
    later = ingest(engine, settings, [mailbox_block("third", START + spell * 2 + timedelta(days=1))])
    assert soft_record(engine)[0] == 1
    assert later.changes[-1].startswith(f"{ADDRESS}: soft bounce 1 of 3")


def test_a_reason_set_to_count_for_nothing_leaves_no_mark(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    free = replace(settings, events=replace(settings.events, soft_bounce_scores={"mailbox-full": 0}))
    report = ingest(engine, free, [mailbox_block("full", START, bounce_reason="mailbox-full")])
    assert (soft_record(engine), report.changes) == ((0, None), [])


def test_a_second_soft_bounce_the_same_day_says_nothing(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    report = ingest(engine, settings, [mailbox_block("a", START), mailbox_block("b", START + timedelta(hours=3))])
    assert len(report.changes) == 1
    assert soft_record(engine)[0] == 1


@pytest.fixture
def far_east_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set to Auckland (UTC+13 in March), put back afterwards."""
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    assert time.localtime(START.timestamp()).tm_hour == 22  # the zone took (without tzdata it would be UTC)
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_day_of_soft_bounces_is_a_utc_day_whatever_the_machines_zone(engine, settings, lead, far_east_clock) -> None:  # type: ignore[no-untyped-def]
    # 09:00 and 12:00 UTC are one day in UTC but 22:00 and 01:00 the next day in Auckland.
    report = ingest(engine, settings, [mailbox_block("a", START), mailbox_block("b", START + timedelta(hours=3))])
    assert len(report.changes) == 1
    assert soft_record(engine)[0] == 1


def test_an_event_for_someone_already_out_says_nothing(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    ingest(engine, settings, [sendgrid("unsubscribe", "out")])
    report = ingest(engine, settings, [sendgrid("group_unsubscribe", "again", asm_group_id=1)])
    assert report.changes == []
    report = ingest(engine, settings, [mailbox_block("late", START)])
    assert report.changes == []


def test_a_second_complaint_records_nothing_more(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    ingest(engine, settings, [sendgrid("spamreport", "first")])
    report = ingest(engine, settings, [sendgrid("spamreport", "second")])
    assert report.changes == []
    assert [step.new_status for step in history(engine, lead.id)] == ["active", "complained"]


def test_a_change_by_an_event_dates_the_status_and_the_record(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    s = db.subscribers
    before = datetime.now(UTC)
    ingest(engine, settings, [sendgrid("unsubscribe", "out")])
    with engine.connect() as conn:
        changed, updated = conn.execute(sa.select(s.c.status_changed_at, s.c.updated_at).where(s.c.id == lead.id)).one()
    assert changed >= before and updated >= before


def test_only_key_contacts_silenced_by_a_bounce_are_for_review_newest_first(engine, settings) -> None:  # type: ignore[no-untyped-def]
    from digest.events.rules import bounce_review

    for name, key in (("older", True), ("plain", False), ("newer", True), ("quiet", True)):
        add_subscriber(engine, settings, f"{name}@example.org", {"key_contact": key}, consent_source="test")
    for number, name in enumerate(("older", "plain", "newer")):
        hard = {"email": f"{name}@example.org", "event": "bounce", "type": "bounce", "reason": "550 gone"}
        ingest(engine, settings, [normalise_sendgrid({**hard, "timestamp": 1772442000, "sg_event_id": f"b{number}"})])
    ingest(
        engine,
        settings,
        [normalise_sendgrid({"email": "quiet@example.org", "event": "unsubscribe", "sg_event_id": "u"})],
    )
    review = bounce_review(engine)
    assert [(row.email, row.status_reason) for row in review] == [
        ("newer@example.org", "bounce: hard bounce: 550 gone"),
        ("older@example.org", "bounce: hard bounce: 550 gone"),
    ]


def test_events_no_one_can_be_found_for_are_kept_newest_first(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    from digest.events.rules import unplaced_events

    strangers = [
        normalise_sendgrid({"email": f"stranger{n}@example.org", "event": "bounce", "sg_event_id": f"s{n}"})
        for n in range(3)
    ]
    ingest(engine, settings, [*strangers, sendgrid("open", "ours")])
    found = unplaced_events(engine, limit=2)
    assert [row.email for row in found] == ["stranger2@example.org", "stranger1@example.org"]


def test_an_events_file_read_in_chunks_adds_up(engine, settings, lead, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from digest.events.intake import import_events_file

    objects = [
        {"email": ADDRESS, "event": "open", "timestamp": 1772442000 + n, "sg_event_id": f"o{n}"} for n in range(5)
    ]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(objects + objects[:2]), encoding="utf-8")
    report = import_events_file(engine, settings, str(path), chunk=2)
    assert (report.received, report.stored, report.duplicates) == (7, 5, 2)


def test_a_drop_for_a_reason_without_a_rule_changes_nobody_and_is_reported(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    report = ingest(engine, settings, [sendgrid("dropped", "odd", reason="Invalid SMTPAPI header")])
    assert report.changes == []
    assert report.reported == [f"dropped for {ADDRESS}: Invalid SMTPAPI header"]
    assert get_subscriber(engine, ADDRESS).status == "active"


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("spamreport", {}), ("bounce", {"type": "bounce", "status": "5.1.1", "reason": "550 no such user"})],
)
def test_a_late_event_for_an_erased_person_changes_nothing(engine, settings, audience, kind, extra) -> None:  # type: ignore[no-untyped-def]
    # Providers report complaints days later, by the delivery id we gave them: the person may be erased by then.
    from digest.people.erasure import erase_subscriber
    from digest.sending import start_send
    from tests.conftest import suppression_log

    start_send(engine, settings, "2025-04-10", ["everyone"])
    person = get_subscriber(engine, audience[0])
    with engine.connect() as conn:
        delivery = conn.execute(
            sa.select(db.deliveries.c.id).where(db.deliveries.c.subscriber_id == person.id)
        ).scalar_one()
    erase_subscriber(engine, settings, audience[0])
    before = (history(engine, person.id), suppression_log(engine, settings, audience[0]))
    late = normalise_sendgrid(
        {"email": audience[0], "event": kind, "timestamp": 1772442000, "sg_event_id": f"late-{kind}",
         "delivery_id": str(delivery), **extra}
    )  # fmt: skip
    assert late.delivery_id == delivery
    report = ingest(engine, settings, [late])
    assert report.stored == 1 and report.changes == []
    with engine.connect() as conn:
        status = conn.execute(sa.select(db.subscribers.c.status).where(db.subscribers.c.id == person.id)).scalar()
    assert status == "erased"
    assert (history(engine, person.id), suppression_log(engine, settings, audience[0])) == before


def test_one_event_nobody_matches_does_not_stop_the_rules_for_the_rest(engine, settings, lead) -> None:  # type: ignore[no-untyped-def]
    now = db.utcnow()
    with db.write(engine) as conn:
        send = record_send(conn, "2026-03-02")
        delivery = conn.execute(
            db.deliveries.insert()
            .values(send_id=send, issue_id="2026-03-02", subscriber_id=lead.id, email=ADDRESS, segment="everyone",
                    state="accepted", updated_at=now)
            .returning(db.deliveries.c.id)
        ).scalar_one()  # fmt: skip
    # The strangers' bounces come first (the earliest), so the rules meet them before anything else.
    stranger = normalise_sendgrid(
        {"email": "stranger@example.org", "event": "bounce", "timestamp": 1772440000, "sg_event_id": "s1"}
    )
    nameless = replace(stranger, provider_event_id="s2", email="")
    # A complaint placed by our delivery id alone: the provider left the address out.
    placed = replace(sendgrid("spamreport", "c1"), email="", delivery_id=delivery)
    handled_drop = sendgrid("dropped", "d1", reason="Spam Reporting Address")
    bare_drop = sendgrid("dropped", "d2", reason="")
    opened = replace(sendgrid("open", "o1"), email="someone.else@example.org")
    report = ingest(engine, settings, [stranger, nameless, opened, placed, handled_drop, bare_drop])
    assert get_subscriber(engine, ADDRESS).status == "complained"
    said = "active → complained (reported the digest as spam)"
    assert report.changes == [f"subscriber {lead.id}: {said}"]
    assert sorted(report.reported) == [
        f"dropped for {ADDRESS}: no reason given",
        f"event {stored_id(engine, 's1')} (bounced for stranger@example.org) matches no subscriber",
        f"event {stored_id(engine, 's2')} (bounced for no address) matches no subscriber",
    ]
    with engine.connect() as conn:
        outcome = conn.execute(sa.select(db.events.c.outcome).where(db.events.c.id == stored_id(engine, "c1")))
        assert outcome.scalar_one() == said
