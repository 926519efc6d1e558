"""The subscriber store's decisions in detail: what a status change records and where, how a suppression is
made graver, who may undo an unsubscribe, the admin's messages, and the export's exact cells.

tests/people/test_subscribers.py covers the same functions broadly; these tests pin each recorded reason, time and
message, so a change to any of them is seen.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from digest.errors import InputError, NotFoundError
from digest.people.csvimport import import_csv
from digest.people.subscribers import (
    add_subscriber,
    change_status,
    email_hash,
    export_rows,
    get_subscriber,
    history,
    iter_subscribers,
    lift_suppression,
    list_suppressions,
    raise_suppression,
    remove_subscriber,
    remove_suppression,
    suppress_address,
    write_csv,
)
from digest.people.subscriptions import may_resubscribe
from digest.store import db
from tests.conftest import suppression_log


def add(engine: Any, settings: Any, address: str = "ann@example.org", **profile: Any) -> Any:
    return add_subscriber(engine, settings, address, profile, consent_source="test form")


def changes(engine: Any, subscriber_id: int) -> list[tuple[str | None, str, str, str]]:
    return [(e.old_status, e.new_status, e.cause, e.detail) for e in history(engine, subscriber_id)]


def suppression_of(engine: Any, settings: Any, address: str) -> Any:
    hashed = email_hash(settings, address)
    return next((item for item in list_suppressions(engine) if item.email_hash == hashed), None)


# --- a status change ----------------------------------------------------------------------------------


def test_a_change_without_detail_records_the_cause_alone_at_the_time_given(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings)
    when = person.created_at + timedelta(hours=3)
    with db.write(engine) as conn:
        assert change_status(conn, person.id, "bounced", cause="soft-bounce", at=when)
        assert not change_status(conn, person.id, "bounced", cause="soft-bounce", at=when)  # nothing to change
    after = get_subscriber(engine, "ann@example.org")
    assert (after.status, after.status_reason) == ("bounced", "soft-bounce")
    assert (after.status_changed_at, after.updated_at) == (when, when)
    assert history(engine, person.id)[-1].at == when
    assert changes(engine, person.id)[-1] == ("active", "bounced", "soft-bounce", "")
    suppression = suppression_of(engine, settings, "ann@example.org")
    assert (suppression.reason, suppression.detail, suppression.created_at) == ("bounced", "soft-bounce", when)


def test_a_change_with_detail_records_cause_and_detail_on_the_person_and_the_suppression(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings)
    removed = remove_subscriber(engine, settings, "ann@example.org", reason="asked by phone")
    assert removed.status_reason == "admin: asked by phone"
    suppression = suppression_of(engine, settings, "ann@example.org")
    assert (suppression.reason, suppression.detail) == ("unsubscribed", "admin: asked by phone")
    assert changes(engine, person.id)[-1] == ("active", "unsubscribed", "admin", "asked by phone")


def test_a_status_change_names_what_is_wrong(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings)
    with db.write(engine) as conn, pytest.raises(InputError) as caught:
        change_status(conn, person.id, "paused", cause="admin")
    assert str(caught.value) == "unknown status 'paused'; use one of active, unsubscribed, bounced, complained, erased"
    with db.write(engine) as conn, pytest.raises(NotFoundError) as missing:
        change_status(conn, person.id + 100, "bounced", cause="admin")
    assert str(missing.value) == f"no subscriber with id {person.id + 100}"


# --- suppressions made by the admin -----------------------------------------------------------------------


def test_an_admins_suppression_over_an_own_unsubscribe_is_recorded_as_graver(engine, settings, invoke) -> None:  # type: ignore[no-untyped-def]
    from digest.people.subscriptions import unsubscribe_on_preferences

    person = add(engine, settings)
    unsubscribe_on_preferences(engine, person.id)
    own = suppression_of(engine, settings, "ann@example.org")
    assert may_resubscribe(engine, person.id)
    result = invoke("suppressions", "add", "ann@example.org", "--reason", "asked by letter: never contact again")
    assert result.output == "ann@example.org is now suppressed.\n"
    graver = suppression_of(engine, settings, "ann@example.org")
    assert (graver.reason, graver.detail) == ("manual", "asked by letter: never contact again")
    assert graver.created_at > own.created_at  # dated when the admin decided
    assert suppression_log(engine, settings, "ann@example.org") == [
        ("added", "unsubscribed", "preferences: unsubscribed on the preferences page"),
        ("raised", "manual", "asked by letter: never contact again"),
    ]
    assert not may_resubscribe(engine, person.id)
    again = invoke("suppressions", "add", "ann@example.org", "--reason", "second letter")
    assert again.output == "ann@example.org was already suppressed.\n"


def test_suppressing_an_active_subscriber_unsubscribes_them_with_the_admins_reason(engine, settings, invoke) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings)
    result = invoke("suppressions", "add", "ann@example.org", "--reason", "asked by letter")
    assert result.output == "ann@example.org is now suppressed.\n"
    assert changes(engine, person.id)[-1] == ("active", "unsubscribed", "admin", "suppressed: asked by letter")
    assert suppression_of(engine, settings, "ann@example.org").detail == "admin: suppressed: asked by letter"
    assert not may_resubscribe(engine, person.id)


def test_suppressions_list_newest_first(engine, settings) -> None:  # type: ignore[no-untyped-def]
    for name in ("first", "second", "third"):
        suppress_address(engine, settings, f"{name}@example.org", reason=f"letter from {name}")
    assert [item.detail for item in list_suppressions(engine)] == [
        "letter from third",
        "letter from second",
        "letter from first",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["suppressions", "add", "ann@example.org", "--reason", " "], "Error: give a reason with --reason\n"),
        (
            ["suppressions", "lift", "ann@example.org", "--reason", " "],
            "Error: lifting a suppression needs a reason: say why this person may be mailed again (--reason)\n",
        ),
        (
            ["suppressions", "lift", "Nobody@Example.org", "--reason", "asked to rejoin"],
            "Error: Nobody@Example.org is not on the suppression list\n",
        ),
        (["subscribers", "remove", "Nobody@Example.org"], "Error: no subscriber Nobody@Example.org\n"),
    ],
)
def test_the_admins_mistakes_are_told_plainly(engine, settings, invoke, args, message) -> None:  # type: ignore[no-untyped-def]
    result = invoke(*args)
    assert (result.exit_code, result.output) == (1, message)


def test_lifting_records_the_admins_reason_in_the_history_and_the_log(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings)
    remove_subscriber(engine, settings, "ann@example.org")
    assert changes(engine, person.id)[-1] == ("active", "unsubscribed", "admin", "removed by admin command")
    assert get_subscriber(engine, "ann@example.org").status_reason == "admin: removed by admin command"
    back = lift_suppression(engine, settings, "ann@example.org", reason="rejoined at the DSL conference")
    assert back is not None and back.status_reason == "suppression-lifted: rejoined at the DSL conference"
    assert changes(engine, person.id)[-1] == (
        "unsubscribed",
        "active",
        "suppression-lifted",
        "rejoined at the DSL conference",
    )
    assert suppression_log(engine, settings, "ann@example.org") == [
        ("added", "unsubscribed", "admin: removed by admin command"),
        ("lifted", "unsubscribed", "rejoined at the DSL conference"),
    ]


# --- who may undo an unsubscribe, by the history's dates -------------------------------------------------


def dated(engine: Any, settings: Any, steps: list[tuple[str, str, int]]) -> Any:
    """A subscriber whose later changes carry the given dates (hours after joining), written in list order.

    Every route dates a change when it is written; the dates given here let a test order the history
    differently from the order it was written in, which is what "the last change" must follow.
    """
    person = add(engine, settings)
    with db.write(engine) as conn:
        hashed = _hash(conn, person.id)
        for status, cause, hours in steps:
            change_status(conn, person.id, status, cause=cause, at=person.created_at + timedelta(hours=hours))
            if status == "active":
                remove_suppression(conn, hashed, cause)  # as starting again does
    return person


def _hash(conn: Any, subscriber_id: int) -> str:
    return str(
        conn.execute(sa.select(db.subscribers.c.email_hash).where(db.subscribers.c.id == subscriber_id)).scalar()
    )


@pytest.mark.parametrize(
    ("steps", "last", "may"),
    [
        # The latest-dated change is their own one-click, though an admin's was written after it.
        (
            [("unsubscribed", "one-click", 5), ("active", "preferences", 1), ("unsubscribed", "admin", 2)],
            ("active", "unsubscribed", "one-click"),
            True,
        ),
        # The latest-dated change is the admin's, though their own one-click was written after it.
        (
            [("unsubscribed", "admin", 5), ("active", "suppression-lifted", 1), ("unsubscribed", "one-click", 2)],
            ("active", "unsubscribed", "admin"),
            False,
        ),
        # Changes dated the same moment: the one written last is the last.
        (
            [("unsubscribed", "admin", 2), ("active", "suppression-lifted", 2), ("unsubscribed", "one-click", 2)],
            ("active", "unsubscribed", "one-click"),
            True,
        ),
        (
            [("unsubscribed", "one-click", 2), ("active", "preferences", 2), ("unsubscribed", "admin", 2)],
            ("active", "unsubscribed", "admin"),
            False,
        ),
        # The latest-dated change is a return to active: the status has no own unsubscribe to explain it.
        (
            [("unsubscribed", "one-click", 1), ("active", "preferences", 3), ("unsubscribed", "admin", 2)],
            ("unsubscribed", "active", "preferences"),
            False,
        ),
    ],
)
def test_who_may_start_again_follows_the_last_line_of_the_history(engine, settings, steps, last, may) -> None:  # type: ignore[no-untyped-def]
    person = dated(engine, settings, steps)
    entries = history(engine, person.id)
    assert [entry.at for entry in entries] == sorted(entry.at for entry in entries)
    assert (entries[-1].old_status, entries[-1].new_status, entries[-1].cause) == last
    assert may_resubscribe(engine, person.id) is may


def test_a_graver_suppression_is_never_undone_by_the_person_whatever_its_date(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = dated(engine, settings, [("unsubscribed", "one-click", 2)])
    assert may_resubscribe(engine, person.id)
    with db.write(engine) as conn:
        hashed = _hash(conn, person.id)
        # A bounce recorded for a send before the unsubscribe (its date is earlier than the unsubscribe's).
        assert raise_suppression(
            conn, hashed, "bounced", "dropped: Bounced Address", at=person.created_at + timedelta(hours=1)
        )
    assert suppression_of(engine, settings, "ann@example.org").reason == "bounced"
    assert not may_resubscribe(engine, person.id)


def test_nobody_unknown_may_start_again(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings)
    assert not may_resubscribe(engine, person.id)  # active: nothing to undo
    assert not may_resubscribe(engine, person.id + 1)  # no such subscriber


# --- listing and exporting ---------------------------------------------------------------------------


@pytest.fixture
def three(engine, settings):  # type: ignore[no-untyped-def]
    """An active subscriber with everything filled in, one who left by import, and an active one with nothing."""
    ann = add(
        engine,
        settings,
        "ann@example.org",
        first_name="Ann",
        last_name="Lee",
        organisation="Northshire Primary",
        role="DSL",
        sector="education",
        region="East",
        topics=["online-safety", "health"],
        key_contact=True,
        attributes={"school_phase": "primary", "phone": "01632 960001"},
    )
    path = Path("left.csv")
    path.write_text("email,status\r\nleft@example.org,unsubscribed\r\n", encoding="utf-8")
    assert import_csv(engine, settings, path).suppressed == 1
    bo = add(engine, settings, "bo@example.org")
    return ann, get_subscriber(engine, "left@example.org"), bo


def test_subscribers_are_listed_by_status_and_by_id(engine, settings, three) -> None:  # type: ignore[no-untyped-def]
    ann, left, bo = three
    assert [p.email for p in iter_subscribers(engine)] == [ann.email, left.email, bo.email]
    assert [p.email for p in iter_subscribers(engine, status="active")] == [ann.email, bo.email]
    assert [p.email for p in iter_subscribers(engine, status="unsubscribed")] == [left.email]
    assert [p.email for p in iter_subscribers(engine, ids=[bo.id, ann.id])] == [ann.email, bo.email]
    assert [p.email for p in iter_subscribers(engine, status="active", ids=[left.id, bo.id])] == [bo.email]
    with pytest.raises(InputError) as caught:
        list(iter_subscribers(engine, status="paused"))
    assert str(caught.value) == "unknown status 'paused'; use one of active, unsubscribed, bounced, complained, erased"


def stamp(moment: Any) -> str:
    return moment.isoformat(timespec="seconds")


def test_the_export_writes_every_cell_as_documented(engine, settings, three, project) -> None:  # type: ignore[no-untyped-def]
    ann, left, _bo = three
    path = project / "export.csv"
    assert write_csv(path, export_rows(iter_subscribers(engine))) == 3
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfemail,first_name,") and raw.endswith(b"\r\n")
    assert raw.count(b"\r\n") == 4 and b"\n" not in raw.replace(b"\r\n", b"")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header, *found = list(csv.reader(handle))
    assert header == [
        "email", "first_name", "last_name", "organisation", "role", "sector", "region", "topics", "key_contact",
        "status", "status_reason", "status_changed_at", "consent_source", "consent_at", "consent_text",
        "created_at", "attributes",
    ]  # fmt: skip
    assert found[0] == [
        "ann@example.org", "Ann", "Lee", "Northshire Primary", "DSL", "education", "East",
        "online-safety;health", "yes", "active", "", stamp(ann.status_changed_at), "test form",
        stamp(ann.consent_at), "", stamp(ann.created_at), "phone=01632 960001;school_phase=primary",
    ]  # fmt: skip
    assert ann.consent_at is not None and left.consent_at is None
    assert found[1] == [
        "left@example.org",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "unsubscribed",
        left.status_reason,
        stamp(left.status_changed_at),
        "import: left.csv",
        "unknown",
        "",
        stamp(left.created_at),
        "",
    ]  # fmt: skip  (a consent date nobody recorded is written "unknown", and read back as no date)
    assert found[2][:11] == ["bo@example.org", "", "", "", "", "", "", "", "", "active", ""]


def test_an_empty_export_is_a_header_and_no_rows(engine, project) -> None:  # type: ignore[no-untyped-def]
    path = project / "none.csv"
    assert write_csv(path, export_rows(iter_subscribers(engine))) == 0
    assert path.read_bytes().count(b"\r\n") == 1


def test_a_new_subscribers_topics_are_stored_as_cleaned(engine, settings) -> None:  # type: ignore[no-untyped-def]
    slug = settings.topic_slugs[0]
    added = add_subscriber(
        engine, settings, "topics@example.org", {"topics": [f" {slug} ", slug, " "]}, consent_source="test"
    )
    assert added.topics == [slug]  # trimmed, once, the blank dropped
    assert get_subscriber(engine, "topics@example.org").topics == [slug]
