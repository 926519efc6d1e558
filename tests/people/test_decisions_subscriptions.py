"""The readers' own decisions in detail: which issue an unsubscribe is traced to, what each change records,
topic choices, and links for people the database does not hold.

The pages are driven through the Flask test client, as a reader's browser or mail client would; the
history, suppression log and stored topics are then read back exactly.
"""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from typing import Any

import pytest

from digest.config import load_settings
from digest.people.links import make_token
from digest.people.subscribers import add_subscriber, get_subscriber, history
from tests.conftest import SECRET, record_send, suppression_log

KEY = SECRET.encode()
ONE_CLICK = {"data": "List-Unsubscribe=One-Click", "content_type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client(project, engine):  # type: ignore[no-untyped-def]
    from digest.web import create_app

    return create_app(load_settings(project / "digest.toml"), engine, background=False).test_client()


@pytest.fixture
def reader(engine, settings):  # type: ignore[no-untyped-def]
    return add_subscriber(engine, settings, "reader@example.org", {"first_name": "Rita"}, consent_source="test")


def last_change(engine: Any, subscriber_id: int) -> tuple[str, str, str]:
    entry = history(engine, subscriber_id)[-1]
    return entry.new_status, entry.cause, entry.detail


def list_unsubscribe_token(message_path: Path) -> str:
    message = email.message_from_bytes(message_path.read_bytes(), policy=policy.default)
    header = str(message["List-Unsubscribe"])
    url = next(part.strip(" <>") for part in header.split(",") if "/unsubscribe/" in part)
    return url.rsplit("/", 1)[1]


# --- unsubscribing by link --------------------------------------------------------------------------


def test_an_unsubscribe_from_an_issue_names_the_issue_and_one_from_a_page_says_web_page(
    client, engine, settings, audience, project
) -> None:  # type: ignore[no-untyped-def]
    from digest.sending import start_send

    start_send(engine, settings, "2025-04-10", ["everyone"])
    copies = sorted((project / "outbox" / "2025-04-10").glob("*.eml"))
    assert len(copies) == len(audience)
    # The first reader presses the mail client's one-click button on the issue.
    first = email.message_from_bytes(copies[0].read_bytes(), policy=policy.default)
    person = get_subscriber(engine, first["To"].addresses[0].addr_spec)
    assert client.post(f"/unsubscribe/{list_unsubscribe_token(copies[0])}", **ONE_CLICK).status_code == 200
    assert last_change(engine, person.id) == ("unsubscribed", "one-click", "issue 2025-04-10")
    # Another presses the button on a page reached without a delivery (say, the archive's preferences link).
    other = get_subscriber(engine, audience[5])
    assert client.post(f"/unsubscribe/{make_token(KEY, other.id, 0)}", data={}).status_code == 200
    assert last_change(engine, other.id) == ("unsubscribed", "unsubscribe-link", "web page")
    assert get_subscriber(engine, audience[5]).status_reason == "unsubscribe-link: web page"


def test_a_link_naming_a_delivery_not_on_record_says_web_page(client, engine, reader) -> None:  # type: ignore[no-untyped-def]
    # A genuine token whose delivery this database does not hold (a restored backup, say).
    token = make_token(KEY, reader.id, 987654)
    assert client.post(f"/unsubscribe/{token}", **ONE_CLICK).status_code == 200
    assert last_change(engine, reader.id) == ("unsubscribed", "one-click", "web page")


def test_a_genuine_token_for_someone_this_database_does_not_hold_is_refused(client, engine, reader) -> None:  # type: ignore[no-untyped-def]
    stranger = make_token(KEY, reader.id + 1000, 0)
    for path in (f"/unsubscribe/{stranger}", f"/preferences/{stranger}"):
        for method in (client.get, client.post):
            answer = method(path, data={})
            assert answer.status_code == 400 and b"This link is not valid" in answer.data, path
    assert get_subscriber(engine, "reader@example.org").status == "active"


# --- the preferences page ---------------------------------------------------------------------------


def test_ticking_every_topic_means_the_whole_digest_and_saving_says_so(client, engine, settings, reader) -> None:  # type: ignore[no-untyped-def]
    token = make_token(KEY, reader.id, 0)
    every = [rule.slug for rule in settings.topics]
    assert len(every) > 2
    before = get_subscriber(engine, "reader@example.org")
    answer = client.post(f"/preferences/{token}", data={"action": "save", "topics": every[:2]})
    assert b"Your choices are saved." in answer.data
    chosen = get_subscriber(engine, "reader@example.org")
    assert chosen.topics == every[:2]
    assert chosen.updated_at > before.updated_at
    answer = client.post(f"/preferences/{token}", data={"action": "save", "topics": every})
    assert b"Your choices are saved." in answer.data
    assert get_subscriber(engine, "reader@example.org").topics == []  # every topic: whatever the digest covers


def test_someone_who_left_cannot_change_topics_and_is_not_told_they_were_saved(
    client, engine, settings, reader
) -> None:  # type: ignore[no-untyped-def]
    token = make_token(KEY, reader.id, 0)
    client.post(f"/preferences/{token}", data={"action": "save", "topics": ["health"]})
    client.post(f"/preferences/{token}", data={"action": "unsubscribe"})
    left = get_subscriber(engine, "reader@example.org")
    answer = client.post(f"/preferences/{token}", data={"action": "save", "topics": ["education"]})
    assert answer.status_code == 200 and b"Your choices are saved." not in answer.data
    after = get_subscriber(engine, "reader@example.org")
    assert (after.topics, after.updated_at) == (["health"], left.updated_at)


def test_leaving_and_starting_again_on_the_preferences_page_say_so_in_the_history_and_the_log(
    client, engine, settings, reader
) -> None:  # type: ignore[no-untyped-def]
    token = make_token(KEY, reader.id, 0)
    assert b"You are unsubscribed." in client.post(f"/preferences/{token}", data={"action": "unsubscribe"}).data
    assert last_change(engine, reader.id) == ("unsubscribed", "preferences", "unsubscribed on the preferences page")
    assert b"Welcome back" in client.post(f"/preferences/{token}", data={"action": "resubscribe"}).data
    assert last_change(engine, reader.id) == ("active", "preferences", "resubscribed on the preferences page")
    assert get_subscriber(engine, "reader@example.org").status_reason == (
        "preferences: resubscribed on the preferences page"
    )
    assert suppression_log(engine, settings, "reader@example.org") == [
        ("added", "unsubscribed", "preferences: unsubscribed on the preferences page"),
        ("lifted", "unsubscribed", "resubscribed on the preferences page"),
    ]


def test_an_unsubscribe_is_traced_to_the_issue_of_the_link_pressed(client, engine, reader) -> None:  # type: ignore[no-untyped-def]
    from digest.store import db

    now = db.utcnow()
    deliveries = {}
    with db.write(engine) as conn:
        for issue in ("2026-11-16", "2026-11-23", "2026-11-30"):
            send = record_send(conn, issue)
            deliveries[issue] = conn.execute(
                db.deliveries.insert()
                .values(send_id=send, issue_id=issue, subscriber_id=reader.id, email="reader@example.org",
                        segment="everyone", state="accepted", updated_at=now)
                .returning(db.deliveries.c.id)
            ).scalar_one()  # fmt: skip
    # The middle issue's link: neither the first delivery on record nor the last.
    token = make_token(KEY, reader.id, deliveries["2026-11-23"])
    assert client.post(f"/unsubscribe/{token}", **ONE_CLICK).status_code == 200
    assert last_change(engine, reader.id) == ("unsubscribed", "one-click", "issue 2026-11-23")


def test_a_bounced_reader_pressing_unsubscribe_on_the_preferences_page_stays_bounced(  # type: ignore[no-untyped-def]
    client, engine, settings, reader
) -> None:
    """The bounce is the record; an unsubscribe on top would read as the reader's own, which they could undo."""
    from digest.people.subscribers import change_status
    from digest.store import db

    with db.write(engine) as conn:
        change_status(conn, reader.id, "bounced", cause="bounce", detail="550 5.1.1 user unknown")
    token = make_token(KEY, reader.id, 0)
    answer = client.post(f"/preferences/{token}", data={"action": "unsubscribe"})
    assert answer.status_code == 200
    assert get_subscriber(engine, "reader@example.org").status == "bounced"
    assert last_change(engine, reader.id) == ("bounced", "bounce", "550 5.1.1 user unknown")
    assert suppression_log(engine, settings, "reader@example.org") == [
        ("added", "bounced", "bounce: 550 5.1.1 user unknown")
    ]
    assert b"Welcome back" not in client.post(f"/preferences/{token}", data={"action": "resubscribe"}).data
    assert get_subscriber(engine, "reader@example.org").status == "bounced"
