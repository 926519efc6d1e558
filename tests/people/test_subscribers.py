"""The subscriber store: status history, suppressions, erasure, export."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.errors import InputError, NotFoundError, StateError
from digest.people.erasure import erase_subscriber
from digest.people.subscribers import (
    add_subscriber,
    export_rows,
    get_subscriber,
    history,
    iter_subscribers,
    lift_suppression,
    list_suppressions,
    neutralise_formula,
    remove_subscriber,
    suppress_address,
    write_csv,
)
from digest.store import db


def add(engine, settings, email="ann@example.org", **profile):  # type: ignore[no-untyped-def]
    return add_subscriber(engine, settings, email, profile, consent_source="test form")


def test_add_records_consent_and_history(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings, " Ann@Example.org ", first_name="Ann", topics=["health"])
    assert (person.email, person.status, person.topics, person.consent_source) == (
        "Ann@Example.org",
        "active",
        ["health"],
        "test form",
    )
    assert [(e.old_status, e.new_status, e.cause) for e in history(engine, person.id)] == [(None, "active", "admin")]
    with pytest.raises(StateError) as caught:
        add(engine, settings, "ANN@example.org")
    assert str(caught.value) == "ANN@example.org is already a subscriber; `digest subscribers show ANN@example.org`"


def test_add_needs_consent_and_known_topics(engine, settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError):
        add_subscriber(engine, settings, "a@example.org", {}, consent_source=" ")
    with pytest.raises(InputError) as caught:
        add(engine, settings, topics=["astrology"])
    assert str(caught.value).startswith("unknown topic 'astrology'")


def test_remove_suppresses_and_explains_why(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings)
    removed = remove_subscriber(engine, settings, "ann@example.org", reason="asked by phone")
    assert (removed.status, removed.status_reason) == ("unsubscribed", "admin: asked by phone")
    assert [(e.new_status, e.cause, e.detail) for e in history(engine, person.id)][-1] == (
        "unsubscribed",
        "admin",
        "asked by phone",
    )
    (suppression,) = list_suppressions(engine)
    assert (suppression.reason, suppression.email) == ("unsubscribed", "ann@example.org")
    with pytest.raises(StateError) as caught:
        add(engine, settings, "ann@example.org")
    assert "is already a subscriber" in str(caught.value)


def test_suppressed_address_cannot_be_added_until_lifted_with_a_reason(engine, settings) -> None:  # type: ignore[no-untyped-def]
    assert suppress_address(engine, settings, "zed@example.org", reason="complained by phone")
    assert not suppress_address(engine, settings, "ZED@example.org", reason="again")
    with pytest.raises(StateError) as caught:
        add(engine, settings, "zed@example.org")
    assert "is on the suppression list" in str(caught.value)
    with pytest.raises(InputError):
        lift_suppression(engine, settings, "zed@example.org", reason="")
    assert lift_suppression(engine, settings, "zed@example.org", reason="asked to rejoin") is None
    assert add(engine, settings, "zed@example.org").status == "active"
    with pytest.raises(NotFoundError):
        lift_suppression(engine, settings, "zed@example.org", reason="x")


def test_lifting_reactivates_an_existing_subscriber(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings)
    remove_subscriber(engine, settings, "ann@example.org")
    again = lift_suppression(engine, settings, "ann@example.org", reason="re-subscribed at conference")
    assert again is not None and again.status == "active"
    assert history(engine, person.id)[-1].cause == "suppression-lifted"
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(sa.select(db.suppression_log).order_by(db.suppression_log.c.id))]
    assert actions == ["added", "lifted"]


def test_erasure_wipes_personal_data_keeps_the_hash(engine, settings) -> None:  # type: ignore[no-untyped-def]
    person = add(engine, settings, first_name="Ann", organisation="School", attributes={"phone": "0123"})
    remove_subscriber(engine, settings, "ann@example.org", reason="moved schools, lives at 1 High St")
    subscriber_id = erase_subscriber(engine, settings, "ann@example.org")
    assert subscriber_id == person.id
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.subscribers).where(db.subscribers.c.id == person.id)).one()
        dumped = " ".join(str(v) for v in row._mapping.values())
    assert "ann" not in dumped.lower() and "School" not in dumped and "0123" not in dumped
    assert row.status == "erased"
    assert [(e.new_status, e.cause, e.detail) for e in history(engine, person.id)] == [("erased", "erasure", "")]
    with pytest.raises(NotFoundError):
        get_subscriber(engine, "ann@example.org")
    with pytest.raises(StateError):
        add(engine, settings, "ann@example.org")


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+44 1379", "'+44 1379"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ann", "Ann"),
        ("a=b", "a=b"),
    ],
)
def test_formula_injection_is_neutralised(value: str, safe: str) -> None:
    assert neutralise_formula(value) == safe


def test_export_round_trips_and_is_safe(engine, settings, project: Path) -> None:  # type: ignore[no-untyped-def]
    add(engine, settings, first_name='=HYPERLINK("http://x")', last_name="O'Neil, Jr", topics=["health"])
    path = project / "out.csv"
    assert write_csv(path, export_rows(iter_subscribers(engine))) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["first_name"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["last_name"] == "O'Neil, Jr"
    assert rows[0]["topics"] == "health"


def test_a_new_subscriber_row_carries_every_profile_field(settings) -> None:  # type: ignore[no-untyped-def]
    from digest.people.emails import check_address
    from digest.people.subscribers import PROFILE_FIELDS, new_subscriber_values
    from digest.store.db import utcnow

    profile = {name: f"the {name}" for name in PROFILE_FIELDS}
    values = new_subscriber_values(
        settings, check_address("amira@example.org"), profile, consent_source="t", consent_at=None, consent_text="",
        now=utcnow(),
    )  # fmt: skip
    assert {name: values[name] for name in PROFILE_FIELDS} == profile
    assert set(values) == {column.name for column in db.subscribers.c} - {
        "id",
        "soft_bounce_score",
        "last_soft_bounce_at",
    }
