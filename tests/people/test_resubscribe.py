"""Starting again undoes only the person's own unsubscribe: never an admin's suppression, a bounce or a complaint."""

from __future__ import annotations

import pytest

from digest.config import load_settings
from digest.events.rules import ingest
from digest.people.links import make_token
from digest.people.subscribers import (
    add_subscriber,
    email_hash,
    get_subscriber,
    history,
    lift_suppression,
    list_suppressions,
    remove_subscriber,
    suppress_address,
)
from digest.providers.sendgrid.events import normalise_sendgrid
from tests.conftest import SECRET

ADDRESS = "reader@example.org"


@pytest.fixture
def client(project, engine):  # type: ignore[no-untyped-def]
    from digest.web import create_app

    return create_app(load_settings(project / "digest.toml"), engine, background=False).test_client()


@pytest.fixture
def reader(engine, settings):  # type: ignore[no-untyped-def]
    return add_subscriber(engine, settings, ADDRESS, {"first_name": "Rita"}, consent_source="test")


def event(engine, settings, kind: str, event_id: str, **fields: str) -> None:  # type: ignore[no-untyped-def]
    ingest(engine, settings, [normalise_sendgrid({"email": ADDRESS, "event": kind, "sg_event_id": event_id, **fields})])


def suppression(engine, settings) -> str | None:  # type: ignore[no-untyped-def]
    hashed = email_hash(settings, ADDRESS)
    return next((item.reason for item in list_suppressions(engine) if item.email_hash == hashed), None)


def resubscribe(client, reader):  # type: ignore[no-untyped-def]
    return client.post(f"/preferences/{make_token(SECRET.encode(), reader.id, 0)}", data={"action": "resubscribe"})


def one_click(client, reader) -> None:  # type: ignore[no-untyped-def]
    token = make_token(SECRET.encode(), reader.id, 0)
    assert client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200


@pytest.mark.parametrize(
    "leave",
    [
        lambda client, reader, engine, settings: one_click(client, reader),
        lambda client, reader, engine, settings: client.post(
            f"/preferences/{make_token(SECRET.encode(), reader.id, 0)}", data={"action": "unsubscribe"}
        ),
        lambda client, reader, engine, settings: event(engine, settings, "unsubscribe", "u1"),
        lambda client, reader, engine, settings: event(engine, settings, "group_unsubscribe", "g1"),
    ],
    ids=["one-click", "preferences", "provider unsubscribe", "group unsubscribe"],
)
def test_the_persons_own_unsubscribe_can_be_undone_by_them(client, engine, settings, reader, leave) -> None:  # type: ignore[no-untyped-def]
    leave(client, reader, engine, settings)
    assert get_subscriber(engine, ADDRESS).status == "unsubscribed"
    page = client.get(f"/preferences/{make_token(SECRET.encode(), reader.id, 0)}")
    assert b'value="resubscribe"' in page.data
    answer = resubscribe(client, reader)
    assert b"Welcome back" in answer.data
    assert get_subscriber(engine, ADDRESS).status == "active"
    assert suppression(engine, settings) is None
    assert history(engine, reader.id)[-1].cause == "preferences"


def admin_remove(engine, settings) -> None:  # type: ignore[no-untyped-def]
    remove_subscriber(engine, settings, ADDRESS, reason="asked by letter: never contact again")


def admin_suppress(engine, settings) -> None:  # type: ignore[no-untyped-def]
    suppress_address(engine, settings, ADDRESS, reason="asked by letter: never contact again")


@pytest.mark.parametrize(
    ("name", "steps", "status", "reason"),
    [
        ("admin suppression", [admin_suppress], "unsubscribed", "unsubscribed"),
        ("admin removal", [admin_remove], "unsubscribed", "unsubscribed"),
        ("own unsubscribe, then an admin suppression", ["own", admin_suppress], "unsubscribed", "manual"),
        ("own unsubscribe, then an admin removal", ["own", admin_remove], "unsubscribed", "manual"),
        ("hard bounce", [lambda e, s: event(e, s, "bounce", "b1", type="bounce")], "bounced", "bounced"),
        ("spam complaint", [lambda e, s: event(e, s, "spamreport", "c1")], "complained", "complained"),
        (
            "own unsubscribe, then a hard bounce",
            ["own", lambda e, s: event(e, s, "dropped", "d1", reason="Bounced Address")],
            "unsubscribed",
            "bounced",
        ),
    ],
)
def test_nobody_else_s_decision_is_undone_by_resubscribe(
    client, engine, settings, reader, name, steps, status, reason
) -> None:  # type: ignore[no-untyped-def]
    for step in steps:
        if step == "own":
            one_click(client, reader)
        else:
            step(engine, settings)
    assert get_subscriber(engine, ADDRESS).status == status, name
    lines = len(history(engine, reader.id))
    page = client.get(f"/preferences/{make_token(SECRET.encode(), reader.id, 0)}")
    assert b'value="resubscribe"' not in page.data, name
    answer = resubscribe(client, reader)
    assert answer.status_code == 200 and b"Welcome back" not in answer.data, name
    assert get_subscriber(engine, ADDRESS).status == status, name
    assert suppression(engine, settings) == reason, name
    assert len(history(engine, reader.id)) == lines, name


def test_a_group_resubscribe_event_does_not_undo_an_admins_suppression(client, engine, settings, reader) -> None:  # type: ignore[no-untyped-def]
    one_click(client, reader)
    admin_suppress(engine, settings)
    event(engine, settings, "group_resubscribe", "r1")
    assert get_subscriber(engine, ADDRESS).status == "unsubscribed"
    assert suppression(engine, settings) == "manual"


def test_unsubscribe_then_a_spam_report_ends_complained(client, engine, settings, reader) -> None:  # type: ignore[no-untyped-def]
    one_click(client, reader)
    event(engine, settings, "spamreport", "s1")
    person = get_subscriber(engine, ADDRESS)
    assert person.status == "complained"
    assert [entry.new_status for entry in history(engine, reader.id)] == ["active", "unsubscribed", "complained"]
    assert suppression(engine, settings) == "complained"  # the graver reason is what the list says
    assert b"Welcome back" not in resubscribe(client, reader).data
    assert get_subscriber(engine, ADDRESS).status == "complained"


def test_only_suppressions_lift_brings_back_an_admins_suppression(client, engine, settings, reader) -> None:  # type: ignore[no-untyped-def]
    one_click(client, reader)
    admin_suppress(engine, settings)
    lift_suppression(engine, settings, ADDRESS, reason="re-subscribed in person")
    assert get_subscriber(engine, ADDRESS).status == "active"
    assert suppression(engine, settings) is None
