"""The ledger's answers for one batch touch that batch only, and say why.

A batch refused, returned, timed out, settled or released changes its own rows and its own
batch record, with the reason and the time, and nothing of the batch beside it: that is what
lets `--resume` and the events decide who may still be mailed without mailing anyone twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from digest.events.event import Event
from digest.events.rules import ingest
from digest.providers.base import BatchResult
from digest.sending import ledger, plan_send
from digest.sending.states import BatchState, DeliveryState, SendState
from digest.store import db
from tests.conftest import first_variant, record_send

D = db.deliveries
B = db.send_batches
S = db.subscribers


@pytest.fixture
def two_batches(engine, settings, audience):  # type: ignore[no-untyped-def]
    """A SendGrid send of the sample issue with two batches of two claimed (and the other rows pending)."""
    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="sendgrid")
    variant = first_variant(engine, plan.send_id)
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
    variant = first_variant(engine, plan.send_id)
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
    variant = first_variant(engine, send_id)
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


# --- the provider's answer, recorded on the rows and on the batch ------------------------------------


LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def answered(engine, send_id: int, size: int, result: BatchResult) -> tuple[int, list[Any]]:  # type: ignore[no-untyped-def]
    """Claim the next ``size`` rows of the send and record ``result`` for them; (batch id, its rows).

    Each row is (state, message id, error, whether the answer dated it): the claimed rows are dated
    long ago first, so a row the answer changed without dating it shows.
    """
    variant = first_variant(engine, send_id)
    with db.write(engine) as conn:
        batch_id, claimed = ledger.claim_batch(conn, send_id, variant, size)  # type: ignore[misc]
        conn.execute(D.update().where(D.c.batch_id == batch_id).values(updated_at=LONG_AGO))
        ledger.record_result(conn, batch_id, claimed, result)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(D.c.state, D.c.provider_message_id, D.c.error, D.c.updated_at > LONG_AGO)
            .where(D.c.batch_id == batch_id)
            .order_by(D.c.id)
        ).all()
    return batch_id, [tuple(row) for row in rows]


def batch_record(engine, batch_id: int) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(B.c.state, B.c.provider_message_id, B.c.finished_at).where(B.c.id == batch_id)
        ).one()
    return row.state, row.provider_message_id, row.finished_at is not None


@pytest.fixture
def planned(engine, settings, audience):  # type: ignore[no-untyped-def]
    """A SendGrid send of the sample issue to everyone, planned: eleven rows pending.

    The first person left before the plan, so a delivery's id is never its subscriber's id here
    (a row answered by the wrong one of the two shows).
    """
    from digest.people.subscribers import change_status, get_subscriber

    with db.write(engine) as conn:
        change_status(conn, get_subscriber(engine, audience[0]).id, "unsubscribed", cause="test", detail="left")
    send_id = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="sendgrid").send_id
    with engine.connect() as conn:
        ids = conn.execute(sa.select(D.c.id, D.c.subscriber_id).where(D.c.send_id == send_id)).all()
    assert len(ids) == 11 and all(delivery != subscriber for delivery, subscriber in ids)
    return send_id


def test_a_whole_batch_taken_in_one_request_is_accepted_with_its_message_id(engine, planned) -> None:  # type: ignore[no-untyped-def]
    batch_id, rows = answered(engine, planned, 3, BatchResult(accepted={0: "m-1", 1: "m-1", 2: "m-1"}))
    assert rows == [("accepted", "m-1", "", True)] * 3
    assert batch_record(engine, batch_id) == ("accepted", "m-1", True)
    assert states(engine, planned)["pending"] == 11 - 3  # the rows after the batch are not touched


@pytest.mark.parametrize("ids", [["a", "b", "c"], ["a", "a", "b"]], ids=["three", "two"])
def test_a_batch_taken_message_by_message_keeps_each_message_id(engine, planned, ids) -> None:  # type: ignore[no-untyped-def]
    batch_id, rows = answered(engine, planned, 3, BatchResult(accepted=dict(enumerate(ids))))
    assert rows == [("accepted", message_id, "", True) for message_id in ids]
    assert batch_record(engine, batch_id) == ("accepted", "a", True)


def test_a_batch_partly_refused_is_partial_and_each_row_says_its_answer(engine, planned) -> None:  # type: ignore[no-untyped-def]
    # One message id for the two taken (one request), a refusal for the third: not the whole batch.
    result = BatchResult(accepted={0: "m-1", 2: "m-1"}, failed={1: "550 no such user"})
    batch_id, rows = answered(engine, planned, 3, result)
    assert rows == [
        ("accepted", "m-1", "", True),
        ("failed", None, "550 no such user", True),
        ("accepted", "m-1", "", True),
    ]
    assert batch_record(engine, batch_id) == ("partial", "m-1", True)


def test_a_batch_refused_row_by_row_is_failed_without_a_message_id(engine, planned) -> None:  # type: ignore[no-untyped-def]
    batch_id, rows = answered(engine, planned, 2, BatchResult(failed={0: "550 a", 1: "550 b"}))
    assert rows == [("failed", None, "550 a", True), ("failed", None, "550 b", True)]
    assert batch_record(engine, batch_id) == ("failed", None, True)


@pytest.mark.parametrize(
    "result",
    [
        BatchResult(accepted={0: "m-1", 1: "m-1"}, uncertain={2: "timed out"}),
        BatchResult(accepted={0: "m-1", 1: "m-1"}),  # the third row not mentioned at all
    ],
    ids=["uncertain", "unmentioned"],
)
def test_a_row_without_an_answer_stays_uncertain_and_the_batch_is_partial(engine, planned, result) -> None:  # type: ignore[no-untyped-def]
    batch_id, rows = answered(engine, planned, 3, result)
    assert rows == [("accepted", "m-1", "", True), ("accepted", "m-1", "", True), ("sending", None, "", False)]
    assert batch_record(engine, batch_id) == ("partial", "m-1", True)


def test_a_batch_with_no_row_answered_is_failed_and_its_rows_stay_uncertain(engine, planned) -> None:  # type: ignore[no-untyped-def]
    batch_id, rows = answered(engine, planned, 2, BatchResult(uncertain={0: "timed out", 1: "timed out"}))
    assert rows == [("sending", None, "", False)] * 2
    assert batch_record(engine, batch_id) == ("failed", None, True)


def test_an_answer_recorded_after_an_event_does_not_undo_the_event(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    # One request per message (SMTP): the provider's events can outrun the answer to the batch.
    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="smtp")
    variant = first_variant(engine, plan.send_id)
    with db.write(engine) as conn:
        taken, claimed = ledger.claim_batch(conn, plan.send_id, variant, 2)  # type: ignore[misc]
        refused, refused_rows = ledger.claim_batch(conn, plan.send_id, variant, 2)  # type: ignore[misc]
    dropped = replace(event_for(engine, taken, "drop"), type="dropped", raw_type="dropped", reason="Bounced Address")
    ingest(engine, settings, [dropped, event_for(engine, refused, "delivered")])
    with db.write(engine) as conn:
        ledger.record_result(conn, taken, claimed, BatchResult(accepted={0: "m-0", 1: "m-1"}))
        ledger.record_result(conn, refused, refused_rows, BatchResult(failed={0: "550 a", 1: "550 b"}))
    assert rows_of(engine, taken) == [("failed", "dropped by the provider: Bounced Address"), ("accepted", "")]
    assert rows_of(engine, refused) == [("accepted", ""), ("failed", "550 b")]


def first_rows(engine, send_id: int, count: int) -> list[Any]:  # type: ignore[no-untyped-def]
    """The send's first ``count`` deliveries by id: (id, subscriber id, address hash)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(D.c.id, D.c.subscriber_id, S.c.email_hash)
                .join(S, S.c.id == D.c.subscriber_id)
                .where(D.c.send_id == send_id)
                .order_by(D.c.id)
                .limit(count)
            ).all()
        )


def test_someone_suppressed_after_the_plan_is_skipped_at_the_claim(engine, settings, planned) -> None:  # type: ignore[no-untyped-def]
    from digest.people.subscribers import add_suppression

    (first, _, _), (middle, _, hashed), (last, _, _) = first_rows(engine, planned, 3)
    with db.write(engine) as conn:
        # On the list without a change of status (an imported suppression list, say).
        add_suppression(conn, hashed, "imported", "the old provider's list")
        _, claimed = ledger.claim_batch(conn, planned, first_variant(engine, planned), 3)  # type: ignore[misc]
    # The claim's range runs from the first row to the last, over the skipped one: it stays skipped.
    assert [row[0] for row in claimed] == [first, last]
    with engine.connect() as conn:
        skipped = conn.execute(sa.select(D.c.state, D.c.error, D.c.batch_id).where(D.c.id == middle)).one()
    assert tuple(skipped) == ("skipped", "suppressed", None)


def test_a_claimed_row_carries_the_person_as_they_are_now_and_the_address_mailed(engine, settings, planned) -> None:  # type: ignore[no-untyped-def]
    (first, person, _), (second, other, _) = first_rows(engine, planned, 2)
    with db.write(engine) as conn:
        # Corrected after the plan (an import fixing the case and the name, say).
        conn.execute(S.update().where(S.c.id == person).values(email="New.Address@example.org", last_name="Lovelace"))
        _, claimed = ledger.claim_batch(conn, planned, first_variant(engine, planned), 2)  # type: ignore[misc]
    with engine.connect() as conn:
        planned_other = conn.execute(sa.select(D.c.email).where(D.c.id == second)).scalar_one()
        other_email = conn.execute(sa.select(S.c.email).where(S.c.id == other)).scalar_one()
        mailed = dict(conn.execute(sa.select(D.c.id, D.c.email).where(D.c.id.in_([first, second]))).all())
    delivery, subscriber, email, _first_name, last_name, status, suppressed, planned_email = claimed[0]
    assert (delivery, subscriber, email, last_name, status, bool(suppressed)) == (
        first, person, "New.Address@example.org", "Lovelace", "active", False,
    )  # fmt: skip
    assert claimed[1][2] == claimed[1][7] == other_email == planned_other
    assert planned_email.startswith("person")  # the address planned, before the correction
    assert mailed == {first: "New.Address@example.org", second: other_email}  # the row records what was mailed


def test_each_claim_of_a_row_counts_one_attempt(engine, planned) -> None:  # type: ignore[no-untyped-def]
    variant = first_variant(engine, planned)
    with db.write(engine) as conn:
        batch_id, _ = ledger.claim_batch(conn, planned, variant, 2)  # type: ignore[misc]
        ledger.mark_batch_uncertain(conn, batch_id, "no answer")
        assert ledger.requeue_uncertain(conn, planned) == 2
        again, _ = ledger.claim_batch(conn, planned, variant, 3)  # type: ignore[misc]
    with engine.connect() as conn:
        attempts = conn.execute(sa.select(D.c.attempts).where(D.c.batch_id == again).order_by(D.c.id)).scalars()
        assert list(attempts) == [2, 2, 1]


# --- one send and one variant at a time -------------------------------------------------------------


def another_send(engine, variant: str, subscriber_ids: list[int]) -> int:  # type: ignore[no-untyped-def]
    """A second send (of another issue) with pending rows of the same variant for the same people."""
    now = db.utcnow()
    with db.write(engine) as conn:
        send_id = record_send(conn, "2025-04-17", state="planned")
        if not subscriber_ids:
            return int(send_id)
        conn.execute(
            D.insert(),
            [
                {
                    "send_id": send_id,
                    "issue_id": "2025-04-17",
                    "subscriber_id": subscriber,
                    "email": f"other{subscriber}@example.org",
                    "segment": "everyone",
                    "variant": variant,
                    "state": "pending",
                    "updated_at": now,
                }
                for subscriber in subscriber_ids
            ],
        )
    return int(send_id)


def variants_of(engine, send_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(D.c.variant, sa.func.count()).where(D.c.send_id == send_id).group_by(D.c.variant)
        ).all()
    return {variant: count for variant, count in found}


def test_a_batch_is_claimed_from_its_own_send_and_variant_only(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    send_id = plan_send(engine, settings, "2025-04-10", ["schools", "health"], provider="sendgrid").send_id
    sizes = variants_of(engine, send_id)
    assert sorted(sizes.values()) == [3, 6]  # two variants: the schools' six and health's three
    schools = next(variant for variant, count in sizes.items() if count == 6)
    with engine.connect() as conn:
        people = list(conn.execute(sa.select(D.c.subscriber_id).where(D.c.send_id == send_id)).scalars())
    other = another_send(engine, schools, people)
    with db.write(engine) as conn:
        assert ledger.count_pending(conn, send_id) == 9
        assert ledger.count_pending(conn, other) == 9
        batch_id, claimed = ledger.claim_batch(conn, send_id, schools, 100)  # type: ignore[misc]
        assert ledger.count_pending(conn, send_id) == 3
        assert ledger.count_pending(conn, other) == 9
    assert len(claimed) == 6
    with engine.connect() as conn:
        moved = conn.execute(sa.select(D.c.send_id, D.c.variant).where(D.c.batch_id == batch_id)).all()
    assert [tuple(row) for row in moved] == [(send_id, schools)] * 6
    assert states(engine, other) == {"pending": 9, "sending": 0, "accepted": 0, "failed": 0, "skipped": 0}


def send_row(engine, send_id: int) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.sends).where(db.sends.c.id == send_id)).one()
    return row.state, row.started_at, row.finished_at, row.note


def test_a_sends_state_and_times_change_for_that_send_only(engine, planned) -> None:  # type: ignore[no-untyped-def]
    other = another_send(engine, "v", [])
    with db.write(engine) as conn:
        ledger.mark_send_started(conn, planned)
    state, started, finished, note = send_row(engine, planned)
    assert (state, started is not None, finished, note) == ("sending", True, None, "")
    assert send_row(engine, other) == ("planned", None, None, "")
    with db.write(engine) as conn:
        ledger.set_send_state(conn, planned, SendState.PAUSED, "uncertain deliveries remain")
        ledger.mark_send_started(conn, planned)  # a resume keeps the first start
    assert send_row(engine, planned) == ("sending", started, None, "uncertain deliveries remain")
    with db.write(engine) as conn:
        ledger.set_send_state(conn, planned, SendState.DONE)
    state, again, finished, note = send_row(engine, planned)
    assert (state, again, finished is not None, note) == ("done", started, True, "uncertain deliveries remain")
    assert send_row(engine, other) == ("planned", None, None, "")


@pytest.mark.parametrize("final", [SendState.DONE, SendState.FAILED, SendState.CANCELLED])
def test_a_send_that_ends_records_when(engine, planned, final) -> None:  # type: ignore[no-untyped-def]
    with db.write(engine) as conn:
        ledger.set_send_state(conn, planned, SendState.PAUSED)
    assert send_row(engine, planned)[2] is None  # paused is not an end
    with db.write(engine) as conn:
        ledger.set_send_state(conn, planned, final)
    assert send_row(engine, planned)[0] == final.value and send_row(engine, planned)[2] is not None


def test_a_silent_batch_is_released_after_a_heard_one_and_never_another_sends(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="sendgrid")
    send_id, quiet = plan.send_id, timedelta(minutes=30)
    variant = first_variant(engine, send_id)
    with engine.connect() as conn:
        people = list(conn.execute(sa.select(D.c.subscriber_id).where(D.c.send_id == send_id)).scalars())
    other = another_send(engine, variant, people[:4])
    with db.write(engine) as conn:
        first, second = (ledger.claim_batch(conn, send_id, variant, 2)[0] for _ in range(2))  # type: ignore[index]
        answered_batch, answered_rows = ledger.claim_batch(conn, send_id, variant, 2)  # type: ignore[misc]
        theirs_heard, theirs_silent = (ledger.claim_batch(conn, other, variant, 2)[0] for _ in range(2))  # type: ignore[index]
    with db.write(engine) as conn:
        # Answered and accepted, no event yet: nothing silent about it.
        ledger.record_result(conn, answered_batch, answered_rows, BatchResult(accepted={0: "m", 1: "m"}))
        for batch_id in (second, theirs_heard, theirs_silent):
            ledger.mark_batch_uncertain(conn, batch_id, "no answer")
    # Only the other send was heard: this send's silence proves nothing yet.
    ingest(engine, settings, [event_for(engine, theirs_heard, "theirs")])
    with db.write(engine) as conn:
        conn.execute(B.update().values(finished_at=db.utcnow() - 2 * quiet))
        assert ledger.count_uncertain(conn, send_id) == 4 and ledger.count_uncertain(conn, other) == 2
        assert ledger.release_silent_batches(conn, send_id, quiet) == []
    # The webhook outran the answer: the first batch was heard while its request was in flight,
    # then timed out. Still uncertain on the record, and heard: the next batch's silence now counts.
    ingest(engine, settings, [event_for(engine, first, "heard")])
    with db.write(engine) as conn:
        ledger.mark_batch_uncertain(conn, first, "no answer")
        conn.execute(B.update().values(finished_at=db.utcnow() - 2 * quiet))
        assert ledger.release_silent_batches(conn, send_id, quiet) == [ledger.SilentBatch(second, 2)]
    assert rows_of(engine, second) == []
    assert rows_of(engine, first) == [("accepted", "")] * 2
    assert batch(engine, answered_batch).state == "accepted"
    assert rows_of(engine, theirs_silent) == [("sending", "")] * 2  # another send's: not this release's
    assert batch(engine, theirs_silent).state == "uncertain"


def test_issues_that_went_out_are_listed_newest_first_and_each_persons_copies_oldest_first(
    engine, settings, audience
) -> None:  # type: ignore[no-untyped-def]
    from digest.people.subscribers import get_subscriber

    reader, neighbour = (get_subscriber(engine, address).id for address in audience[:2])
    now = db.utcnow()
    weeks = [
        ("2026-11-09", "accepted"),
        ("2026-11-16", "failed"),
        ("2026-11-23", "accepted"),
        ("2026-11-30", "accepted"),
    ]
    with db.write(engine) as conn:
        for issue, state in weeks:
            send = record_send(conn, issue)
            people = [reader] if issue != "2026-11-30" else [neighbour]
            for person in people:
                conn.execute(
                    D.insert().values(send_id=send, issue_id=issue, subscriber_id=person, email="x@example.org",
                                      segment="everyone", state=state, provider_message_id=f"msg-{issue}", updated_at=now)
                )  # fmt: skip
    # A refused week published nothing; the newest week went to the neighbour only.
    assert ledger.sent_issue_ids(engine) == ["2026-11-30", "2026-11-23", "2026-11-09"]
    assert ledger.sent_issue_ids(engine, limit=2) == ["2026-11-30", "2026-11-23"]
    assert ledger.sent_issue_ids(engine, only="2026-11-09") == ["2026-11-09"]
    assert ledger.sent_issue_ids(engine, only="2026-11-16") == []
    mine = ledger.deliveries_of(engine, reader)
    assert [(row.issue_id, row.state, row.provider_message_id) for row in mine] == [
        (issue, state, f"msg-{issue}") for issue, state in weeks[:3]
    ]
    assert [row.issue_id for row in ledger.deliveries_of(engine, neighbour)] == ["2026-11-30"]


def test_the_sends_of_an_issue_are_its_own_oldest_first_and_its_open_one_is_its_own(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    ours = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="sendgrid").send_id
    with db.write(engine) as conn:
        theirs = record_send(conn, "2025-04-17", state="paused", provider="smtp")
        ledger.set_send_state(conn, ours, SendState.PAUSED, "uncertain deliveries remain")
        ledger.mark_send_started(conn, ours)
    every = ledger.list_sends(engine)
    assert [send.id for send in every] == [ours, theirs]
    mine = ledger.list_sends(engine, "2025-04-10")
    assert len(mine) == 1
    send = mine[0]
    assert (send.id, send.issue_id, send.state, send.provider, send.segments, send.note) == (
        ours, "2025-04-10", "sending", "sendgrid", ["everyone"], "uncertain deliveries remain",
    )  # fmt: skip
    assert send.created_at <= send.started_at and send.finished_at is None and send.scheduled_at is None
    assert send.counts == {"pending": 12, "sending": 0, "accepted": 0, "failed": 0, "skipped": 0}
    assert ledger.list_sends(engine, "2025-04-17")[0].counts["pending"] == 0
    # The issue's own open send, never the other issue's (the newer one).
    found = ledger.open_send(engine, "2025-04-10")
    assert found is not None and found.id == ours
    assert ledger.open_send(engine, "2025-04-03") is None
