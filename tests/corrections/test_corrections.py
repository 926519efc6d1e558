"""Corrections and withdrawals reach exactly the readers whose accepted copy held the story.

The issue goes to three segments whose copies differ: schools' copy leaves the
court story out, health's and everyone's hold it, and one reader's own topics
leave it out of theirs. Every check is made row by row against the ledger and
the frozen variants, on SQLite and PostgreSQL (the ``project`` fixture).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from digest import corrections as errata
from digest.errors import InputError, StateError
from digest.sending import start_send
from digest.store import db
from tests.corrections_support import (
    COURT,
    ISSUE,
    WATER,
    WORDING,
    correction_rows,
    issue_rows,
    outbox_messages,
    send_issue,
)


@pytest.fixture
def sent(engine, settings, audience) -> int:  # type: ignore[no-untyped-def]
    return send_issue(engine, settings)


def test_a_correction_reaches_exactly_the_readers_whose_copy_held_the_story(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING, by="Editor Ed")
    plan, outcome = errata.send_correction(engine, settings, correction.id)
    assert outcome is not None and outcome.state == "done"
    mailed = correction_rows(engine, correction)
    rows = issue_rows(engine)
    assert len(rows) == 12
    for row in rows:
        # Row by row: mailed exactly when the reader's accepted copy held the story.
        should = row.state == "accepted" and COURT in row.story_ids
        assert (row.subscriber_id in mailed) == should, row
        if should:
            assert mailed[row.subscriber_id].segment == row.segment
            assert mailed[row.subscriber_id].state == "accepted"
    assert sorted(mailed) == sorted(row.subscriber_id for row in rows if COURT in row.story_ids)
    # Health (3) and everyone but person7 (2); schools' copy left it out, and so did person7's own.
    assert [(s.name, s.held, s.left_out, s.readers) for s in plan.segments] == [
        ("schools", 0, 6, 0),
        ("health", 3, 0, 3),
        ("everyone", 2, 1, 2),
    ]
    assert (plan.issue_readers, plan.holders, plan.total) == (12, 5, 5)
    messages = outbox_messages(project, correction)
    assert sorted(messages) == sorted(row.email for row in rows if COURT in row.story_ids)
    assert "person7@example.org" not in messages and "person0@example.org" not in messages


def test_the_correction_email_names_the_story_the_issue_and_keeps_the_readers_footer(  # type: ignore[no-untyped-def]
    engine, settings, project, sent
) -> None:
    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING, by="Editor Ed")
    errata.send_correction(engine, settings, correction.id)
    message = outbox_messages(project, correction)["person2@example.org"]
    assert message["Subject"] == "Correction: Father found guilty of causing the death of his baby son"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].strip().startswith("<https://news.safe.example.org/unsubscribe/")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "10 April 2025" in part  # the issue's date
        assert "The court sat in Northshire, not Southshire as we said." in part
        assert "Dear Person2," in part
        assert "https://news.safe.example.org/unsubscribe/" in part
        assert "https://news.safe.example.org/preferences/" in part
        assert "%%" not in part
    assert f"https://news.safe.example.org/archive/{ISSUE}/{COURT}.html" in text
    assert "View in your browser" not in text  # a correction has no browser copy of its own


def test_the_correction_links_unsubscribe_the_reader_who_got_it(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    from digest.people.links import read_token
    from digest.people.subscribers import get_subscriber
    from digest.people.subscriptions import unsubscribe_by_link
    from tests.conftest import SECRET

    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    errata.send_correction(engine, settings, correction.id)
    message = outbox_messages(project, correction)["person6@example.org"]
    token = message["List-Unsubscribe"].split("/unsubscribe/", 1)[1].split(">", 1)[0]
    link = read_token(SECRET.encode(), token)
    assert link is not None
    unsubscribe_by_link(engine, link, one_click=True)
    person = get_subscriber(engine, "person6@example.org")
    assert person.status == "unsubscribed"
    assert correction_rows(engine, correction)[person.id].id == link.delivery_id


def test_readers_who_left_since_the_issue_are_never_mailed_and_are_counted(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    from digest.people.erasure import erase_person
    from digest.people.subscribers import add_suppression, email_hash, get_subscriber, remove_subscriber

    remove_subscriber(engine, settings, "person2@example.org", reason="left the trust")  # health: held it
    erase_person(engine, settings, "person6@example.org")  # health: held it
    with db.write(engine) as conn:  # on the list but still active (as a provider's suppression list can leave them)
        add_suppression(conn, email_hash(settings, "person11@example.org"), "manual", "asked by letter")
    gone = {get_subscriber(engine, f"person{n}@example.org").id for n in (2, 11)}
    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    plan, _outcome = errata.send_correction(engine, settings, correction.id)
    assert dict(plan.not_active) == {"unsubscribed": 1, "erased": 1}
    assert plan.suppressed == 1
    assert plan.total == 2  # person3 (everyone) and person10 (health)
    mailed = correction_rows(engine, correction)
    held = {row.subscriber_id for row in issue_rows(engine) if COURT in row.story_ids}
    assert set(mailed) == held - gone - {_erased_id(engine)}
    assert sorted(outbox_messages(project, correction)) == ["person10@example.org", "person3@example.org"]


def _erased_id(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(sa.select(db.subscribers.c.id).where(db.subscribers.c.status == "erased")).scalar_one())


def test_erasing_a_reader_after_the_correction_wipes_it_too(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    from digest.people.erasure import erase_person

    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    errata.send_correction(engine, settings, correction.id)
    assert "person2@example.org" in outbox_messages(project, correction)
    erasure = erase_person(engine, settings, "person2@example.org")
    assert any(path.parent.name == "correction-1" for path in erasure.files_removed)
    assert "person2@example.org" not in outbox_messages(project, correction)
    assert correction_rows(engine, correction)[erasure.subscriber_id].email == ""


def test_someone_who_left_after_the_plan_is_skipped_when_their_batch_is_claimed(
    engine, settings, project, sent
) -> None:  # type: ignore[no-untyped-def]
    from digest.corrections.audience import plan_correction
    from digest.people.erasure import erase_person
    from digest.sending import run_send

    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    plan = plan_correction(
        engine, correction, provider="outbox", rendered=errata.render_correction(settings, correction)
    )
    assert plan.total == 5 and plan.send_id is not None
    erase_person(engine, settings, "person10@example.org")
    outcome = run_send(engine, settings, plan.send_id)
    assert (outcome.counts["accepted"], outcome.counts["skipped"]) == (4, 1)
    assert "person10@example.org" not in outbox_messages(project, correction)
    skipped = [row for row in correction_rows(engine, correction).values() if row.state == "skipped"]
    assert [row.error for row in skipped] == ["erased since the send was planned"]


def test_only_readers_the_issue_reached_are_mailed(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    from digest.people.subscribers import add_subscriber, get_subscriber

    # Joined after the issue went: in a segment whose copy holds the story, but never sent the issue.
    add_subscriber(engine, settings, "newcomer@example.org", {"sector": "health"}, consent_source="test")
    # The provider refused one copy that held the story.
    refused = get_subscriber(engine, "person3@example.org").id
    with db.write(engine) as conn:
        conn.execute(
            db.deliveries.update()
            .where(db.deliveries.c.issue_id == ISSUE, db.deliveries.c.subscriber_id == refused)
            .values(state="failed", error="550 no such user")
        )
    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    plan, _outcome = errata.send_correction(engine, settings, correction.id)
    assert (plan.issue_readers, plan.holders, plan.total) == (11, 4, 4)
    assert sorted(outbox_messages(project, correction)) == [
        "person10@example.org",
        "person11@example.org",
        "person2@example.org",
        "person6@example.org",
    ]


def test_a_correction_sent_again_mails_nobody_twice(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    errata.send_correction(engine, settings, correction.id)
    again, outcome = errata.send_correction(engine, settings, correction.id)
    assert outcome is None and (again.total, again.already_sent) == (0, 5)
    assert len(correction_rows(engine, correction)) == 5
    assert len(list((project / "outbox" / correction.ledger_key).glob("*.eml"))) == 5
    assert [s.state for s in errata.correction_sends(engine, correction)] == ["done"]


def test_a_copy_settled_after_the_correction_went_gets_it_when_it_is_sent_again(
    engine, settings, project, sent
) -> None:  # type: ignore[no-untyped-def]
    from digest.people.subscribers import get_subscriber

    late = get_subscriber(engine, "person3@example.org").id  # everyone's copy: it held the story
    issue_row = (db.deliveries.c.issue_id == ISSUE) & (db.deliveries.c.subscriber_id == late)
    with db.write(engine) as conn:  # the provider has not answered for this copy yet
        conn.execute(db.deliveries.update().where(issue_row).values(state="sending"))
    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    first, _outcome = errata.send_correction(engine, settings, correction.id)
    assert (first.total, first.uncertain) == (4, 1) and late not in correction_rows(engine, correction)
    with db.write(engine) as conn:  # its event arrives: the provider took it
        conn.execute(db.deliveries.update().where(issue_row).values(state="accepted"))
    second, outcome = errata.send_correction(engine, settings, correction.id)
    assert (second.total, second.already_sent, second.uncertain) == (1, 4, 0)
    assert outcome is not None and outcome.counts == {**outcome.counts, "accepted": 1}
    assert sorted(correction_rows(engine, correction)) == sorted(
        row.subscriber_id for row in issue_rows(engine) if COURT in row.story_ids
    )
    assert len(list((project / "outbox" / correction.ledger_key).glob("*.eml"))) == 5  # nobody twice


def test_a_withdrawal_goes_to_the_same_readers_with_its_notice(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    withdrawal = errata.record_correction(engine, settings, ISSUE, WATER, withdrawn=True, by="Editor Ed")
    assert withdrawal.text == "This story has been withdrawn. Please do not rely on it or pass it on."
    errata.send_correction(engine, settings, withdrawal.id)
    messages = outbox_messages(project, withdrawal)
    held = sorted(row.email for row in issue_rows(engine) if WATER in row.story_ids)
    assert sorted(messages) == held and "person2@example.org" not in held and "person7@example.org" in held
    message = messages["person0@example.org"]
    assert message["Subject"] == "Withdrawn: Cold water safety advice as the weather warms up"
    text = message.get_body(("plain",)).get_content()
    assert "We have withdrawn a story from the SAFE Newsfeed of 10 April 2025" in text
    assert "This story has been withdrawn." in text and "Read the corrected story" not in text


def test_an_issue_sent_in_two_sends_is_corrected_across_both(engine, settings, project, audience) -> None:  # type: ignore[no-untyped-def]
    start_send(engine, settings, ISSUE, ["schools"])  # first the schools (their copy lacks the court story)
    start_send(engine, settings, ISSUE, ["health", "everyone"])  # then the rest
    court = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    water = errata.record_correction(engine, settings, ISSUE, WATER, text=WORDING)
    for correction, story in ((court, COURT), (water, WATER)):
        errata.send_correction(engine, settings, correction.id)
        expected = sorted(row.email for row in issue_rows(engine) if story in row.story_ids)
        assert sorted(outbox_messages(project, correction)) == expected
    assert len(outbox_messages(project, court)) == 6 and len(outbox_messages(project, water)) == 9


def test_what_cannot_be_corrected_is_refused_with_the_reason(engine, settings, audience) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StateError, match="issue 2025-04-10 has not been sent"):
        errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    start_send(engine, settings, ISSUE, ["schools"])  # schools' copy left the court story out
    with pytest.raises(InputError, match="no copy of issue 2025-04-10 that went out held the story"):
        errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    with pytest.raises(InputError, match="say what the correction is"):
        errata.record_correction(engine, settings, ISSUE, WATER, text=" \n\n ")
    errata.record_correction(engine, settings, ISSUE, WATER, withdrawn=True)
    with pytest.raises(StateError, match=r"was withdrawn on .* there is nothing more to correct"):
        errata.record_correction(engine, settings, ISSUE, WATER, text=WORDING)


def test_a_correction_is_never_taken_for_an_issue(engine, settings, project, sent) -> None:  # type: ignore[no-untyped-def]
    from digest.reports.published import published_issues
    from digest.sending import sent_issue_ids

    correction = errata.record_correction(engine, settings, ISSUE, COURT, text=WORDING)
    errata.send_correction(engine, settings, correction.id)
    assert sent_issue_ids(engine) == [ISSUE]
    assert [item.issue_id for item in published_issues(engine, settings)] == [ISSUE]
