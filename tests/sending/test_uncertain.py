"""Uncertain deliveries settle as a batch: one event proves the request arrived; lasting silence proves it did not."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from digest.events.rules import ingest
from digest.providers.sendgrid.events import normalise_sendgrid
from digest.sending import RunControls, resume_send, start_send
from digest.store import db

SEGMENTS = ["health", "schools", "everyone"]


def batches(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(db.send_batches).order_by(db.send_batches.c.id)).all()


def rows_of(engine, batch_id: int):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(db.deliveries).where(db.deliveries.c.batch_id == batch_id)).all()


def small(settings):  # type: ignore[no-untyped-def]
    return replace(settings, sendgrid=replace(settings.sendgrid, batch_size=3))


def feed(engine, settings, *objects):  # type: ignore[no-untyped-def]
    return ingest(engine, settings, [normalise_sendgrid(o) for o in objects])


def uncertain_first_batch(engine, sg_settings, fake_sendgrid, answer: str):  # type: ignore[no-untyped-def]
    fake_sendgrid.script(answer)
    _plan, outcome = start_send(engine, small(sg_settings), "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert outcome is not None and outcome.counts["sending"] == 3
    first = batches(engine)[0]
    assert first.state == "uncertain"
    return first


def test_one_event_settles_the_whole_uncertain_batch(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    first = uncertain_first_batch(engine, sg_settings, fake_sendgrid, "hang")
    one = rows_of(engine, first.id)[0]
    report = feed(
        engine,
        sg_settings,
        {
            "event": "delivered",
            "email": one.email,
            "delivery_id": str(one.id),
            "sg_event_id": "x",
            "sg_message_id": "Hq3TbTJ5Rj6Y1xJ2lsK9hQ.recvd-5d6f8-abcde-1-67E3.0",
        },
    )
    assert report.reconciled == 3
    assert {row.state for row in rows_of(engine, first.id)} == {"accepted"}
    assert batches(engine)[0].state == "accepted"
    # The event's message id is the row's: later bounces and complaints that carry only it find the person.
    ids = {row.id: row.provider_message_id for row in rows_of(engine, first.id)}
    assert ids[one.id] == "Hq3TbTJ5Rj6Y1xJ2lsK9hQ"


def test_a_dropped_event_fails_its_row_and_settles_the_rest(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    first = uncertain_first_batch(engine, sg_settings, fake_sendgrid, "hang")
    one = rows_of(engine, first.id)[0]
    feed(
        engine,
        sg_settings,
        {"event": "dropped", "email": one.email, "delivery_id": str(one.id), "reason": "Invalid", "sg_event_id": "d"},
    )
    states = {row.id: (row.state, row.error) for row in rows_of(engine, first.id)}
    assert states.pop(one.id) == ("failed", "dropped by the provider: Invalid")
    assert {state for state, _ in states.values()} == {"accepted"}


def test_a_batch_never_heard_of_while_others_were_is_sent_again_on_resume(  # type: ignore[no-untyped-def]
    engine, sg_settings, audience, fake_sendgrid
) -> None:
    first = uncertain_first_batch(engine, sg_settings, fake_sendgrid, "lose")
    lost = {row.email for row in rows_of(engine, first.id)}
    assert not lost & set(fake_sendgrid.recipient_counts())
    feed(engine, sg_settings, *fake_sendgrid.processed_events())  # the other batches' events arrive
    notices: list[str] = []
    # Not yet quiet for long enough: nothing changes.
    early = resume_send(engine, small(sg_settings), "2025-04-10", controls=RunControls(on_notice=notices.append))
    assert early.counts["sending"] == 3
    with db.write(engine) as conn:
        conn.execute(
            db.send_batches.update()
            .where(db.send_batches.c.id == first.id)
            .values(finished_at=db.utcnow() - timedelta(minutes=sg_settings.sendgrid.uncertain_quiet_minutes + 1))
        )
    notices.clear()
    again = resume_send(engine, small(sg_settings), "2025-04-10", controls=RunControls(on_notice=notices.append))
    assert again.state == "done" and again.counts["sending"] == 0 and again.counts["accepted"] == 12
    assert notices[0].startswith(f"Batch {first.id}: no event for any of its 3 recipients in 6:00:00")
    assert sorted(fake_sendgrid.recipient_counts().values()) == [1] * 12  # nobody twice, nobody missing
    assert batches(engine)[0].state == "not-taken"


def test_without_any_event_nothing_is_decided(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    first = uncertain_first_batch(engine, sg_settings, fake_sendgrid, "lose")
    with db.write(engine) as conn:
        conn.execute(
            db.send_batches.update()
            .where(db.send_batches.c.id == first.id)
            .values(finished_at=db.utcnow() - timedelta(days=2))
        )
    again = resume_send(engine, small(sg_settings), "2025-04-10")
    assert again.counts["sending"] == 3  # the webhook may simply not work: the rows stay uncertain


def test_events_that_came_while_the_request_hung_keep_the_batch_taken(  # type: ignore[no-untyped-def]
    engine, sg_settings, audience, fake_sendgrid
) -> None:
    first = uncertain_first_batch(engine, sg_settings, fake_sendgrid, "hang")
    feed(engine, sg_settings, *fake_sendgrid.processed_events())
    # The race: the events were stored while the request still hung, then the timeout marked it uncertain.
    with db.write(engine) as conn:
        conn.execute(
            db.send_batches.update()
            .where(db.send_batches.c.id == first.id)
            .values(state="uncertain", finished_at=db.utcnow() - timedelta(days=1))
        )
    again = resume_send(engine, small(sg_settings), "2025-04-10")
    assert again.counts["accepted"] == 12
    assert batches(engine)[0].state == "uncertain"  # not called "never taken"
    assert sorted(fake_sendgrid.recipient_counts().values()) == [1] * 12
