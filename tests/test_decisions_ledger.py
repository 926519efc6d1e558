"""The ledger's answers for one batch touch that batch only, and say why.

A batch refused, returned, timed out, settled or released changes its own rows and its own
batch record, with the reason and the time, and nothing of the batch beside it: that is what
lets `--resume` and the events decide who may still be mailed without mailing anyone twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from digest import db
from digest.events import Event, ingest
from digest.sending import ledger, plan_send
from digest.sending.states import BatchState, DeliveryState

D = db.deliveries
B = db.send_batches


@pytest.fixture
def two_batches(engine, settings, audience):  # type: ignore[no-untyped-def]
    """A SendGrid send of the sample issue with two batches of two claimed (and the other rows pending)."""
    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="sendgrid")
    with engine.connect() as conn:
        variant = conn.execute(sa.select(D.c.variant).where(D.c.send_id == plan.send_id).limit(1)).scalar_one()
    with db.write(engine) as conn:
        first, _ = ledger.claim_batch(conn, plan.send_id, variant, 2)  # type: ignore[misc]
        second, _ = ledger.claim_batch(conn, plan.send_id, variant, 2)  # type: ignore[misc]
    return plan.send_id, first, second


def rows_of(engine, batch_id: int) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(D.c.state, D.c.error).where(D.c.batch_id == batch_id))]


def batch(engine, batch_id: int):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(B.c.state, B.c.error, B.c.finished_at).where(B.c.id == batch_id)).one()


def states(engine, send_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return ledger.delivery_counts(conn, send_id)


def untouched(engine, batch_id: int) -> None:  # type: ignore[no-untyped-def]
    assert rows_of(engine, batch_id) == [("sending", "")] * 2
    assert tuple(batch(engine, batch_id)) == ("sending", "", None)


def test_a_refused_batch_fails_its_own_rows_with_the_reason(engine, two_batches) -> None:  # type: ignore[no-untyped-def]
    _, first, second = two_batches
    with db.write(engine) as conn:
        ledger.fail_batch(conn, first, "400: the from address is not verified")
    assert rows_of(engine, first) == [("failed", "400: the from address is not verified")] * 2
    state, error, finished = batch(engine, first)
    assert (state, error, finished is not None) == ("failed", "400: the from address is not verified", True)
    untouched(engine, second)


def test_a_returned_batch_puts_its_rows_back_and_keeps_the_reason_on_the_batch(engine, two_batches) -> None:  # type: ignore[no-untyped-def]
    send_id, first, second = two_batches
    with db.write(engine) as conn:
        ledger.return_batch(conn, first, "401: credentials refused")
    assert rows_of(engine, first) == []  # no longer in the batch: pending again, waiting for a resume
    state, error, finished = batch(engine, first)
    assert (state, error, finished is not None) == ("failed", "401: credentials refused", True)
    untouched(engine, second)
    assert states(engine, send_id)["pending"] == 12 - 2


def test_a_batch_without_an_answer_is_uncertain_with_the_reason_and_the_time(engine, two_batches) -> None:  # type: ignore[no-untyped-def]
    _, first, second = two_batches
    with db.write(engine) as conn:
        ledger.mark_batch_uncertain(conn, first, "no answer in 60 s")
    state, error, finished = batch(engine, first)
    assert (state, error, finished is not None) == ("uncertain", "no answer in 60 s", True)
    assert rows_of(engine, first) == [("sending", "")] * 2  # never resent blindly
    untouched(engine, second)


def test_resending_uncertain_rows_moves_only_this_sends_uncertain_rows(engine, two_batches) -> None:  # type: ignore[no-untyped-def]
    send_id, first, second = two_batches
    with db.write(engine) as conn:
        ledger.fail_batch(conn, second, "400: refused")
        assert ledger.requeue_uncertain(conn, send_id + 1) == 0  # another send's: none of these
        assert rows_of(engine, first) == [("sending", "")] * 2
        assert ledger.requeue_uncertain(conn, send_id) == 2
    assert rows_of(engine, first) == []
    assert rows_of(engine, second) == [("failed", "400: refused")] * 2  # a recorded answer stays
    assert states(engine, send_id) == {"pending": 10, "sending": 0, "accepted": 0, "failed": 2, "skipped": 0}


def event_for(engine, batch_id: int, event_id: str) -> Event:  # type: ignore[no-untyped-def]
    """A delivered event from SendGrid for the first recipient of a batch."""
    with engine.connect() as conn:
        delivery_id, email = conn.execute(
            sa.select(D.c.id, D.c.email).where(D.c.batch_id == batch_id).order_by(D.c.id).limit(1)
        ).one()
    return Event(
        provider="sendgrid",
        provider_event_id=event_id,
        type="delivered",
        raw_type="delivered",
        occurred_at=db.utcnow(),
        raw="{}",
        email=email,
        delivery_id=delivery_id,
    )


def test_an_event_for_one_recipient_settles_its_uncertain_batch_whole(engine, settings, two_batches) -> None:  # type: ignore[no-untyped-def]
    _, first, second = two_batches
    with db.write(engine) as conn:
        ledger.mark_batch_uncertain(conn, first, "no answer in 60 s")
        ledger.fail_batch(conn, second, "400: refused")
    report = ingest(engine, settings, [event_for(engine, first, "e1")])
    assert report.reconciled == 2
    assert rows_of(engine, first) == [("accepted", "")] * 2
    assert tuple(batch(engine, first))[:2] == ("accepted", "settled by the provider's events")
    # An event about a refused batch changes nothing of its record.
    ingest(engine, settings, [event_for(engine, second, "e2")])
    assert tuple(batch(engine, second))[:2] == ("failed", "400: refused")
    assert rows_of(engine, second) == [("failed", "400: refused")] * 2


def test_an_event_settles_nothing_for_a_provider_that_sends_one_request_per_message(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="smtp")
    with engine.connect() as conn:
        variant = conn.execute(sa.select(D.c.variant).where(D.c.send_id == plan.send_id).limit(1)).scalar_one()
    with db.write(engine) as conn:
        claimed, _ = ledger.claim_batch(conn, plan.send_id, variant, 2)  # type: ignore[misc]
        ledger.mark_batch_uncertain(conn, claimed, "no answer")
    ingest(engine, settings, [event_for(engine, claimed, "e1")])
    # Only the recipient the event names is known to be taken; the other message may never have left.
    assert sorted(rows_of(engine, claimed)) == [("accepted", ""), ("sending", "")]
    assert batch(engine, claimed).state == "uncertain"
    # A later drop for the same recipient never undoes the recorded answer; one for the other settles it.
    first = event_for(engine, claimed, "d1")
    with engine.connect() as conn:
        other_id, other_email = conn.execute(
            sa.select(D.c.id, D.c.email).where(D.c.batch_id == claimed, D.c.state == "sending")
        ).one()
    dropped = [
        replace(first, type="dropped", raw_type="dropped", reason="Bounced Address"),
        replace(
            first,
            provider_event_id="d2",
            type="dropped",
            raw_type="dropped",
            reason="Bounced Address",
            delivery_id=other_id,
            email=other_email,
        ),
    ]
    ingest(engine, settings, dropped)
    assert sorted(rows_of(engine, claimed)) == [
        ("accepted", ""),
        ("failed", "dropped by the provider: Bounced Address"),
    ]


def test_a_silent_batch_goes_back_to_pending_only_when_its_neighbours_were_heard(engine, settings, two_batches) -> None:  # type: ignore[no-untyped-def]
    send_id, first, second = two_batches
    quiet = timedelta(minutes=30)
    with engine.connect() as conn:
        variant = conn.execute(sa.select(D.c.variant).where(D.c.send_id == send_id).limit(1)).scalar_one()
    with db.write(engine) as conn:
        in_flight, _ = ledger.claim_batch(conn, send_id, variant, 2)  # type: ignore[misc]
        ledger.mark_batch_uncertain(conn, first, "no answer")
        ledger.mark_batch_uncertain(conn, second, "no answer")
        assert ledger.release_silent_batches(conn, send_id, timedelta(0)) == []  # nothing heard at all yet
    ingest(engine, settings, [event_for(engine, second, "heard")])
    with db.write(engine) as conn:
        assert ledger.release_silent_batches(conn, send_id, quiet) == []  # not quiet for long enough
        conn.execute(B.update().where(B.c.id == first).values(finished_at=db.utcnow() - quiet))
        released = ledger.release_silent_batches(conn, send_id, quiet)
    assert released == [ledger.SilentBatch(first, 2)]
    assert rows_of(engine, first) == []
    assert tuple(batch(engine, first))[:2] == ("not-taken", "no event for any recipient within 0:30:00")
    assert rows_of(engine, second) == [("accepted", "")] * 2
    untouched(engine, in_flight)  # a request still in flight is nobody's to release
    assert states(engine, send_id)["pending"] == 8


def test_a_person_sees_only_their_own_deliveries_newest_first(engine, settings, two_batches) -> None:  # type: ignore[no-untyped-def]
    _, first, _ = two_batches
    with engine.connect() as conn:
        subscriber = conn.execute(
            sa.select(D.c.subscriber_id).where(D.c.batch_id == first).order_by(D.c.id).limit(1)
        ).scalar_one()
    found = ledger.deliveries_of(engine, subscriber)
    assert [(row.issue_id, row.state, row.segment) for row in found] == [("2025-04-10", "sending", "everyone")]
    assert DeliveryState.SENDING == found[0].state and found[0].error == ""
    assert BatchState.SENDING == batch(engine, first).state
