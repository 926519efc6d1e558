"""The send guarantee at its edges: top-ups, big sends, approval of segment copies, lost locks, run-due races."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.config import load_settings
from digest.errors import ConfigError, StateError
from digest.people.subscribers import add_subscriber
from digest.sending import schedule_send, start_send
from digest.store import db


def test_a_top_up_send_reaches_only_the_newcomer(engine, settings, audience, project: Path) -> None:  # type: ignore[no-untyped-def]
    _plan, first = start_send(engine, settings, "2025-04-10", ["everyone"])
    assert first is not None and first.counts["accepted"] == 12
    add_subscriber(engine, settings, "newcomer@example.org", {"first_name": "New"}, consent_source="test")
    plan, second = start_send(engine, settings, "2025-04-10", ["everyone"])
    assert plan.total == 1 and plan.already_sent == 12
    assert second is not None and second.counts == {
        "pending": 0,
        "sending": 0,
        "accepted": 1,
        "failed": 0,
        "skipped": 0,
    }
    files = list((project / "outbox" / "2025-04-10").glob("*.eml"))
    assert len(files) == 13
    assert sum("newcomer@example.org" in f.read_text(encoding="utf-8") for f in files) == 1


def test_more_than_a_thousand_readers_through_sendgrid(
    engine, sg_settings, sample_issue, fake_sendgrid, project
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import SEGMENTS_YAML

    (project / "subscribers").mkdir(exist_ok=True)
    (project / "subscribers" / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    now = db.utcnow()
    with db.write(engine) as conn:
        from digest.people.emails import Address
        from digest.people.subscribers import email_hash, new_subscriber_values

        rows = [
            new_subscriber_values(
                sg_settings,
                Address(f"reader{n}@example.org", f"reader{n}@example.org"),
                {"first_name": f"R{n}"},
                consent_source="test",
                consent_at=now,
                consent_text="",
                now=now,
                hashed=email_hash(sg_settings, f"reader{n}@example.org"),
            )
            for n in range(1234)
        ]
        conn.execute(db.subscribers.insert(), rows)
    _plan, outcome = start_send(engine, sg_settings, "2025-04-10", ["everyone"], provider_name="sendgrid")
    assert outcome is not None and outcome.state == "done" and outcome.counts["accepted"] == 1234
    assert fake_sendgrid.rejected == []
    assert sorted(len(item.body["personalizations"]) for item in fake_sendgrid.accepted) == [234, 1000]
    assert sorted(fake_sendgrid.recipient_counts().values()) == [1] * 1234


def test_a_batch_size_over_sendgrids_limit_is_refused(project: Path) -> None:
    toml = project / "digest.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n[sendgrid]\nbatch_size = 1001\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(toml)
    assert str(caught.value) == "digest.toml: [sendgrid] batch_size must be at least 1 and at most 1000, not 1001"


def test_changing_only_a_segments_topics_after_approval_blocks_the_send(engine, settings, audience, project) -> None:  # type: ignore[no-untyped-def]
    from digest.issues.approval import approve

    strict = replace(settings, require_approval=True)
    approve(engine, strict, "2025-04-10", approved_by="Editor")
    segments = project / "subscribers" / "segments.yaml"
    segments.write_text(
        segments.read_text(encoding="utf-8").replace(
            "topics: [health, courts-justice, child-sexual-abuse]", "topics: [health, child-sexual-abuse]"
        ),
        encoding="utf-8",
    )
    with pytest.raises(StateError) as caught:
        start_send(engine, strict, "2025-04-10", ["health"])
    assert "has changed since Editor approved it" in str(caught.value)
    assert "(changed: segment:health)" in str(caught.value)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.deliveries)).scalar_one() == 0


def test_a_sender_whose_lock_was_taken_over_stops_at_its_next_heartbeat(  # type: ignore[no-untyped-def]
    engine, sg_settings, audience, fake_sendgrid
) -> None:
    small = replace(sg_settings, sendgrid=replace(sg_settings.sendgrid, batch_size=2))

    def take_over(number: int, _body: dict) -> None:  # type: ignore[type-arg]
        if number == 1:
            with db.write(engine) as conn:
                conn.execute(db.send_locks.update().values(holder="otherhost:99", heartbeat_at=db.utcnow()))

    fake_sendgrid.on_request = take_over
    with pytest.raises(StateError) as caught:
        start_send(engine, small, "2025-04-10", ["everyone"], provider_name="sendgrid")
    assert str(caught.value) == "lost the send lock of issue 2025-04-10 to another process; stopping"
    assert len(fake_sendgrid.accepted) == 1  # the batch in flight, and nothing after it
    with engine.connect() as conn:
        states = dict(
            conn.execute(sa.select(db.deliveries.c.state, sa.func.count()).group_by(db.deliveries.c.state)).all()
        )
    assert states == {"sending": 2, "pending": 10}  # the answer was never recorded: uncertain, not resent


def test_the_run_due_claim_goes_to_exactly_one_runner(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    from digest.sending.schedule import claim_due, due_sends

    when = datetime(2099, 4, 14, 8, 0, tzinfo=db.utcnow().tzinfo)
    send_id = schedule_send(engine, "2025-04-10", ["everyone"], "outbox", when)
    # Both runners look at the same moment and both see the send due...
    seen_by_first = due_sends(engine, when + timedelta(minutes=1))
    seen_by_second = due_sends(engine, when + timedelta(minutes=1))
    assert [s.id for s in seen_by_first] == [s.id for s in seen_by_second] == [send_id]
    # ...but only one conditional update can move it out of 'scheduled'.
    assert claim_due(engine, send_id) is True
    assert claim_due(engine, send_id) is False
    assert due_sends(engine, when + timedelta(minutes=1)) == []


def test_the_report_csv_is_safe_for_spreadsheets(invoke, engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    from digest.events.rules import ingest
    from digest.providers.sendgrid.events import normalise_sendgrid

    _plan, outcome = start_send(engine, settings, "2025-04-10", ["everyone"])
    assert outcome is not None
    with db.write(engine) as conn:
        conn.execute(db.deliveries.update().values(segment='=HYPERLINK("https://evil.example")'))
    ingest(engine, settings, [normalise_sendgrid({"event": "delivered", "email": "person0@example.org"})])
    rows = invoke("report", "2025-04-10", "--format", "csv").output.splitlines()
    assert any(row.startswith("'=HYPERLINK") or ",'=HYPERLINK" in row or "\"'=HYPERLINK" in row for row in rows)
    assert not any(cell.startswith("=") for row in rows for cell in row.split(","))


def test_a_full_story_in_the_text_part_keeps_to_78_columns(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    import re

    from digest.issues.issue import load_view
    from digest.issues.render import render_issue

    text = sample_issue.read_text(encoding="utf-8")
    for story in re.findall(r"- (2025-04-0\d-[a-z0-9-]+)", text):
        text = text.replace(f"- {story}", f"- {{id: {story}, full: true}}")
    sample_issue.write_text(text, encoding="utf-8")
    rendered = render_issue(load_view(engine, settings, "2025-04-10"), settings)
    assert "Only then" not in rendered.text  # sanity: the stories are there in full
    assert "Then shout for help or swim to safety." in rendered.text
    for line in rendered.text.splitlines():
        assert len(line) <= 78 or re.fullmatch(r"(\[\d+\] |[A-Za-z ]+: )?(https://|%%)\S+", line), line
