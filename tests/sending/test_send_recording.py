"""When a batch's answer reaches the ledger: after the provider answers, in order, before the run ends.

On SQLite the answer is recorded in the same commit as the next claim; on
PostgreSQL on a connection of its own, in a thread, while the next batch is
claimed and posted. A slow record shows whether the run waits for it where it
must: before it reports its counts, and before it pauses.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from digest.sending import ledger, start_send
from digest.sending.runner import RunControls


@pytest.fixture
def slow_records(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Every record of an answer takes a while; each is logged as (batch, made on the runner's thread)."""
    made: list[tuple[int, bool]] = []
    record = ledger.record_result

    def slow(conn: Any, batch_id: int, claimed: Any, result: Any) -> None:
        time.sleep(0.05)
        record(conn, batch_id, claimed, result)
        made.append((batch_id, threading.current_thread() is threading.main_thread()))

    monkeypatch.setattr(ledger, "record_result", slow)
    return made


def test_every_answer_is_recorded_in_order_before_the_run_reports(  # type: ignore[no-untyped-def]
    engine, sg_settings, audience, fake_sendgrid, slow_records
) -> None:
    small = replace(sg_settings, sendgrid=replace(sg_settings.sendgrid, batch_size=2))
    _plan, outcome = start_send(engine, small, "2025-04-10", ["everyone"], provider_name="sendgrid")
    assert outcome is not None and outcome.state == "done"
    assert outcome.counts["accepted"] == len(audience) and outcome.counts["sending"] == 0
    batches = [batch for batch, _ in slow_records]
    assert batches == sorted(batches) and len(batches) == len(fake_sendgrid.accepted) == 6
    on_the_runners_thread = {main for _, main in slow_records}
    assert on_the_runners_thread == ({False} if engine.dialect.name == "postgresql" else {True})


def test_a_pause_waits_for_the_answer_in_hand(  # type: ignore[no-untyped-def]
    engine, sg_settings, audience, fake_sendgrid, slow_records
) -> None:
    small = replace(sg_settings, sendgrid=replace(sg_settings.sendgrid, batch_size=2))
    controls = RunControls()
    controls.on_progress = lambda _progress: controls.stop.set()  # pause after the first batch
    _plan, outcome = start_send(engine, small, "2025-04-10", ["everyone"], provider_name="sendgrid", controls=controls)
    assert outcome is not None and outcome.state == "paused"
    assert outcome.counts["accepted"] == 2 and outcome.counts["sending"] == 0
    assert outcome.counts["pending"] == len(audience) - 2
    assert len(slow_records) == len(fake_sendgrid.accepted) == 1


def test_each_request_carries_exactly_rows_already_claimed_and_committed(  # type: ignore[no-untyped-def]
    engine, sg_settings, audience, fake_sendgrid
) -> None:
    import sqlalchemy as sa

    from digest.store import db

    seen: list[list[tuple[int, str]]] = []

    def on_request(_number: int, body: dict[str, Any]) -> None:
        # What another connection sees as the request arrives: only committed rows.
        ids = [int(p["custom_args"]["delivery_id"]) for p in body["personalizations"]]
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(db.deliveries.c.id, db.deliveries.c.state, db.deliveries.c.email)
                .where(db.deliveries.c.id.in_(ids))
                .order_by(db.deliveries.c.id)
            ).all()
        assert [row.email for row in rows] == [p["to"][0]["email"] for p in body["personalizations"]]
        seen.append([(row.id, row.state) for row in rows])

    fake_sendgrid.on_request = on_request
    small = replace(sg_settings, sendgrid=replace(sg_settings.sendgrid, batch_size=5))
    _plan, outcome = start_send(engine, small, "2025-04-10", ["everyone"], provider_name="sendgrid")
    assert outcome is not None and outcome.state == "done"
    assert [len(rows) for rows in seen] == [5, 5, 2]
    assert {state for rows in seen for _, state in rows} == {"sending"}
    assert sorted(delivery for rows in seen for delivery, _ in rows) == list(range(1, len(audience) + 1))
