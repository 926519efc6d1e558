"""The send ledger with real providers: outbox files, the fake SendGrid server, SMTP."""

from __future__ import annotations

import email
import threading
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.errors import StateError
from digest.people.links import read_token
from digest.people.subscribers import get_subscriber, remove_subscriber
from digest.secret import Secret
from digest.sending import (
    RunControls,
    list_sends,
    plan_send,
    resume_send,
    run_send,
    send_test_copies,
    start_send,
)
from digest.store import db
from tests.conftest import SECRET

SEGMENTS = ["health", "schools", "everyone"]


def deliveries(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(db.deliveries).order_by(db.deliveries.c.id)).all()


def test_plan_makes_one_row_per_person_whatever_the_segments(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    remove_subscriber(engine, settings, "person3@example.org")
    dry = plan_send(engine, settings, "2025-04-10", SEGMENTS, provider="outbox", dry_run=True)
    assert [(s.name, s.audience) for s in dry.segments] == [("health", 3), ("schools", 6), ("everyone", 2)]
    assert dict(dry.not_active) == {"unsubscribed": 1}
    assert deliveries(engine) == []
    plan = plan_send(engine, settings, "2025-04-10", SEGMENTS, provider="outbox")
    rows = deliveries(engine)
    assert len(rows) == plan.total == 11
    assert len({row.subscriber_id for row in rows}) == 11
    assert {row.variant for row in rows if row.segment == "everyone"} == {"all"}
    with pytest.raises(StateError) as caught:
        plan_send(engine, settings, "2025-04-10", ["everyone"], provider="outbox")
    assert str(caught.value).startswith("issue 2025-04-10 already has an unfinished send (#1, planned)")
    run_send(engine, settings, plan.send_id)
    again = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="outbox")
    assert (again.total, again.already_sent, again.send_id) == (0, 11, None)  # nothing written
    assert len(deliveries(engine)) == 11
    assert [s.state for s in list_sends(engine)] == ["done"]


def test_the_plan_counts_readers_whose_own_topics_narrow_their_copy(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    from digest.people.subscriptions import save_topics

    for address in ("person0@example.org", "person5@example.org", "person7@example.org"):
        save_topics(engine, settings, get_subscriber(engine, address).id, ["online-safety"])
    remove_subscriber(engine, settings, "person7@example.org")  # left: not counted
    dry = plan_send(engine, settings, "2025-04-10", SEGMENTS, provider="outbox", dry_run=True)
    assert dry.personalised == 2
    plan = plan_send(engine, settings, "2025-04-10", SEGMENTS, provider="outbox")
    assert plan.personalised == 2


def test_a_plan_shown_then_changed_is_counted_again_before_it_is_written(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    shown = plan_send(engine, settings, "2025-04-10", SEGMENTS, provider="outbox", dry_run=True)
    assert shown.total == 12
    same = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="outbox", dry_run=True)
    # Written as shown: the counts shown stand.
    remove_subscriber(engine, settings, "person3@example.org")  # while the operator reads the plan
    plan = plan_send(engine, settings, "2025-04-10", SEGMENTS, provider="outbox", shown=shown)
    assert plan.send_id is not None
    assert plan.total == len(deliveries(engine)) == 11
    assert [(s.name, s.audience) for s in plan.segments] == [("health", 3), ("schools", 6), ("everyone", 2)]
    assert dict(plan.not_active) == {"unsubscribed": 1} and plan.already_sent == 0
    run_send(engine, settings, plan.send_id)
    # Nobody left to mail since it was shown: nothing is written, no empty send.
    later = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="outbox", shown=same)
    assert (later.total, later.send_id) == (0, None)
    assert len(list_sends(engine)) == 1


def test_outbox_send_writes_one_message_per_recipient(engine, settings, audience, project: Path) -> None:  # type: ignore[no-untyped-def]
    plan, outcome = start_send(engine, settings, "2025-04-10", SEGMENTS)
    assert outcome is not None and outcome.state == "done"
    assert outcome.counts["accepted"] == plan.total == 12
    files = sorted((project / "outbox" / "2025-04-10").glob("*.eml"))
    assert len(files) == 12
    first = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    row = deliveries(engine)[0]
    assert first["To"] == f"Person0 <{row.email}>"
    assert first["X-Digest-Delivery"] == str(row.id)
    unsubscribe = first["List-Unsubscribe"].split(",")[0].strip("<> ")
    token = read_token(SECRET.encode(), unsubscribe.rsplit("/", 1)[1])
    assert token is not None and (token.subscriber_id, token.delivery_id) == (row.subscriber_id, row.id)
    html = first.get_body(preferencelist=("html",)).get_content()
    assert "Dear Person0," in html and "%%" not in html
    assert row.provider_message_id == first["Message-ID"]


def test_variants_follow_segment_topics(engine, settings, audience, project: Path) -> None:  # type: ignore[no-untyped-def]
    start_send(engine, settings, "2025-04-10", SEGMENTS)
    by_segment = {}
    for row in deliveries(engine):
        message = email.message_from_bytes(
            (project / "outbox" / "2025-04-10" / f"{row.id:08d}.eml").read_bytes(), policy=policy.default
        )
        by_segment[row.segment] = message.get_body(preferencelist=("plain",)).get_content()
    assert "Father found guilty" in by_segment["health"] and "Cold water safety advice" not in by_segment["health"]
    assert "Cold water safety advice" in by_segment["schools"] and "Father found guilty" not in by_segment["schools"]
    assert "Cold water safety advice" in by_segment["everyone"] and "Father found guilty" in by_segment["everyone"]


def test_sendgrid_bodies_are_valid_and_carry_the_ledger_ids(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    _plan, outcome = start_send(engine, sg_settings, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert outcome is not None and outcome.state == "done"
    assert fake_sendgrid.rejected == []
    assert sorted(fake_sendgrid.recipient_counts().values()) == [1] * 12
    body = fake_sendgrid.accepted[0].body
    personalization = body["personalizations"][0]
    assert set(personalization["custom_args"]) == {"issue_id", "send_id", "delivery_id", "digest"}
    assert personalization["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = personalization["substitutions"]["%%token%%"]
    assert read_token(SECRET.encode(), token) is not None
    assert personalization["headers"]["List-Unsubscribe"].startswith(
        f"<https://news.safe.example.org/unsubscribe/{token}>"
    )
    html = body["content"][1]["value"]
    assert 'href="https://news.safe.example.org/unsubscribe/%%token%%"' in html
    assert "%%greeting_name_html%%" in html and "%%unsubscribe_url%%" not in html
    assert body["categories"] == ["safe-digest", "2025-04-10"]
    ids = {int(d) for item in fake_sendgrid.accepted for d in item.delivery_ids()}
    rows = deliveries(engine)
    assert ids == {row.id for row in rows}
    assert {row.provider_message_id for row in rows} == {item.message_id for item in fake_sendgrid.accepted}
    with engine.connect() as conn:
        batches = conn.execute(sa.select(db.send_batches)).all()
    by_batch = {row.batch_id: row.provider_message_id for row in rows}
    assert {(b.state, b.provider_message_id) for b in batches} == {("accepted", by_batch[b.id]) for b in batches}


def test_one_request_per_variant_up_to_the_batch_size(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    small = replace(sg_settings, sendgrid=replace(sg_settings.sendgrid, batch_size=2))
    start_send(engine, small, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    sizes = sorted(len(item.body["personalizations"]) for item in fake_sendgrid.accepted)
    assert sizes == [1, 1, 2, 2, 2, 2, 2]  # health 3, schools 6, everyone 3, in twos


def test_rate_limits_and_server_errors_are_retried(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    small = replace(sg_settings, sendgrid=replace(sg_settings.sendgrid, batch_size=1))
    fake_sendgrid.script("429", "500", "ok", "500", "429")
    _plan, outcome = start_send(engine, small, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert outcome is not None and outcome.counts["accepted"] == 12
    assert sorted(fake_sendgrid.recipient_counts().values()) == [1] * 12
    assert fake_sendgrid.requests == 16


def test_bad_request_fails_the_batch_with_sendgrids_words(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    fake_sendgrid.script("400")
    notices: list[str] = []
    _plan, outcome = start_send(
        engine,
        sg_settings,
        "2025-04-10",
        SEGMENTS,
        provider_name="sendgrid",
        controls=RunControls(on_notice=notices.append),
    )
    assert outcome is not None
    assert (outcome.counts["failed"], outcome.counts["accepted"]) == (3, 9)
    failed = [row for row in deliveries(engine) if row.state == "failed"]
    assert failed[0].error == (
        "SendGrid API response 400 (Bad Request): The from address does not match a verified Sender Identity"
    )


def test_unauthorised_stops_the_send_names_the_setting_and_hides_the_key(
    engine, sg_settings, audience, fake_sendgrid
) -> None:  # type: ignore[no-untyped-def]
    from digest.providers.base import ProviderFatal

    fake_sendgrid.script("401")
    with pytest.raises(ProviderFatal) as caught:
        start_send(engine, sg_settings, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert "SENDGRID_API_KEY" in str(caught.value)
    assert "SG.test-key" not in str(caught.value)
    assert {row.state for row in deliveries(engine)} == {"pending"}
    (send,) = list_sends(engine)
    assert send.state == "failed"
    outcome = resume_send(engine, sg_settings, "2025-04-10")
    assert outcome.counts["accepted"] == 12


def test_a_hung_request_leaves_its_rows_uncertain_never_resent_blindly(
    engine, sg_settings, audience, fake_sendgrid
) -> None:  # type: ignore[no-untyped-def]
    fake_sendgrid.script("hang")
    notices: list[str] = []
    _plan, outcome = start_send(
        engine,
        sg_settings,
        "2025-04-10",
        SEGMENTS,
        provider_name="sendgrid",
        controls=RunControls(on_notice=notices.append),
    )
    assert outcome is not None and outcome.state == "paused"
    assert (outcome.counts["sending"], outcome.counts["accepted"]) == (3, 9)
    assert "deliveries are uncertain" in notices[0]
    again = resume_send(engine, sg_settings, "2025-04-10", controls=RunControls(on_notice=notices.append))
    assert again.counts["sending"] == 3
    assert notices[-1].startswith("3 deliveries were being sent when an earlier run stopped")
    # The fake accepted the hung request: nobody got two, nobody is silently dropped.
    assert sorted(fake_sendgrid.recipient_counts().values()) == [1] * 12


def test_unsubscribes_during_a_send_are_honoured(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    small = replace(sg_settings, sendgrid=replace(sg_settings.sendgrid, batch_size=1))
    late = [row.email for row in []]

    def unsubscribe_someone(number: int, _body: dict) -> None:  # type: ignore[type-arg]
        if number == 1:
            remove_subscriber(engine, small, "person11@example.org", reason="clicked during the send")
            late.append("person11@example.org")

    fake_sendgrid.on_request = unsubscribe_someone
    _plan, outcome = start_send(engine, small, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert outcome is not None and outcome.counts == {
        "pending": 0,
        "sending": 0,
        "accepted": 11,
        "failed": 0,
        "skipped": 1,
    }
    skipped = [row for row in deliveries(engine) if row.state == "skipped"]
    assert skipped[0].error == "unsubscribed since the send was planned"
    assert "person11@example.org" not in fake_sendgrid.recipient_counts()


def test_one_reader_per_batch_and_one_leaving_mid_send_ends_done(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    """Batches of one: a claim that skips its only row is not the end of the run (issue 21)."""
    from dataclasses import replace

    small = replace(sg_settings, sendgrid=replace(sg_settings.sendgrid, batch_size=1))
    leaving: list[str] = []

    def unsubscribe_one_in_the_middle(number: int, _body: dict) -> None:  # type: ignore[type-arg]
        if number != 1:
            return
        pending = [row for row in deliveries(engine) if row.state == "pending"]
        variants = [row.variant for row in pending]
        middle = next(row for row in pending if variants.count(row.variant) >= 3 and row.variant == variants[0])
        same = [row for row in pending if row.variant == middle.variant]
        chosen = same[len(same) // 2]  # claimed after some of its variant's readers and before others
        remove_subscriber(engine, small, chosen.email, reason="clicked during the send")
        leaving.append(chosen.email)

    fake_sendgrid.on_request = unsubscribe_one_in_the_middle
    _plan, outcome = start_send(engine, small, "2025-04-10", SEGMENTS, provider_name="sendgrid")
    assert outcome is not None and outcome.state == "done"
    assert outcome.counts == {"pending": 0, "sending": 0, "accepted": 11, "failed": 0, "skipped": 1}
    (skipped,) = [row for row in deliveries(engine) if row.state == "skipped"]
    assert skipped.email == leaving[0] and skipped.error == "unsubscribed since the send was planned"
    assert sorted(fake_sendgrid.recipient_counts()) == sorted(set(audience) - set(leaving))
    assert set(fake_sendgrid.recipient_counts().values()) == {1}
    assert fake_sendgrid.requests == 11


def test_an_erased_reader_whose_suppression_is_lifted_after_planning_is_never_mailed(  # type: ignore[no-untyped-def]
    engine, settings, audience, project: Path
) -> None:
    from digest.people.erasure import erase_person
    from digest.people.subscribers import lift_suppression

    plan = plan_send(engine, settings, "2025-04-10", SEGMENTS, provider="outbox")
    gone = get_subscriber(engine, "person3@example.org")
    erase_person(engine, settings, "person3@example.org")
    assert lift_suppression(engine, settings, "person3@example.org", reason="asked by phone") is None
    outcome = run_send(engine, settings, plan.send_id)
    assert outcome.state == "done" and (outcome.counts["accepted"], outcome.counts["skipped"]) == (11, 1)
    (row,) = [row for row in deliveries(engine) if row.subscriber_id == gone.id]
    assert (row.state, row.error, row.attempts) == ("skipped", "erased since the send was planned", 0)
    assert not (project / "outbox" / "2025-04-10" / f"{row.id:08d}.eml").exists()
    assert len(list((project / "outbox" / "2025-04-10").glob("*.eml"))) == 11


def test_only_one_sender_per_issue(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    plan = plan_send(engine, settings, "2025-04-10", SEGMENTS, provider="outbox")
    now = db.utcnow()
    with db.write(engine) as conn:
        conn.execute(
            db.send_locks.insert().values(
                issue_id="2025-04-10", send_id=plan.send_id, holder="otherhost:123", acquired_at=now, heartbeat_at=now
            )
        )
    with pytest.raises(StateError) as caught:
        run_send(engine, settings, plan.send_id)
    assert "is being sent by another process: lock held by otherhost:123 since" in str(caught.value)
    with db.write(engine) as conn:
        conn.execute(db.send_locks.update().values(heartbeat_at=now - __import__("datetime").timedelta(hours=1)))
    with pytest.raises(StateError) as caught:
        run_send(engine, settings, plan.send_id)
    assert "has a stale send lock" in str(caught.value)
    notices: list[str] = []
    outcome = run_send(engine, settings, plan.send_id, resume=True, controls=RunControls(on_notice=notices.append))
    assert outcome.state == "done"
    assert notices[0].startswith("Taking over the stale send lock held by otherhost:123")


def test_ctrl_c_pauses_between_batches_and_resume_finishes(engine, sg_settings, audience, fake_sendgrid) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    small = replace(sg_settings, sendgrid=replace(sg_settings.sendgrid, batch_size=2))
    stop = threading.Event()
    _plan, outcome = start_send(
        engine,
        small,
        "2025-04-10",
        SEGMENTS,
        provider_name="sendgrid",
        controls=RunControls(stop=stop, on_progress=lambda progress: stop.set()),
    )
    assert outcome is not None and outcome.state == "paused"
    assert outcome.counts["accepted"] == 2 and outcome.counts["pending"] == 10
    finished = resume_send(engine, small, "2025-04-10")
    assert finished.state == "done" and finished.counts["accepted"] == 12
    assert sorted(fake_sendgrid.recipient_counts().values()) == [1] * 12


def test_test_copies_never_touch_the_ledger(engine, settings, audience, project: Path) -> None:  # type: ignore[no-untyped-def]
    sent = send_test_copies(engine, settings, "2025-04-10", ["me@example.org"], segment="health")
    accepted, failures = sent.accepted, sent.failures
    assert (accepted, failures) == (1, [])
    assert deliveries(engine) == [] and list_sends(engine) == []
    (path,) = (project / "outbox" / "2025-04-10").glob("test-*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert (
        message["Subject"].strip() == "[TEST] Protecting children from sexual abuse and exploitation: progress report"
    )
    assert "Cold water safety advice" not in message.get_body(preferencelist=("plain",)).get_content()


def test_sending_refuses_a_short_secret_key(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from digest.errors import ConfigError

    with pytest.raises(ConfigError):
        start_send(engine, replace(settings, secret_key=Secret("short")), "2025-04-10", SEGMENTS)
