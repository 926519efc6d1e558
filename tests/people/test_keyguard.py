"""The database remembers the key that made its address hashes (issue 21, item 3).

Suppressions are keyed hashes of the address: with another DIGEST_SECRET_KEY
the list recognised nobody, and an erased person was added again without a
word. Placeholder keys from example files were accepted as secrets.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.people.subscribers import add_subscriber
from digest.secret import Secret
from digest.store import db
from tests.conftest import REPO, SECRET

OTHER_KEY = "another-secret-key-that-is-long-enough-9876543210"


def use_key(project: Path, key: str) -> None:
    """Put ``key`` in the project's .env instead of the one there."""
    env = project / ".env"
    lines = [line for line in env.read_text(encoding="utf-8").splitlines() if not line.startswith("DIGEST_SECRET_KEY=")]
    env.write_text("\n".join([f"DIGEST_SECRET_KEY={key}", *lines]) + "\n", encoding="utf-8")


def subscriber_states(engine) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        query = sa.select(db.subscribers.c.email, db.subscribers.c.status).order_by(db.subscribers.c.id)
        return [tuple(row) for row in conn.execute(query)]


def test_another_key_is_refused_before_an_erased_address_comes_back(invoke, project: Path, engine) -> None:  # type: ignore[no-untyped-def]
    assert invoke("subscribers", "add", "amira@example.org", "--consent-source", "phoned in").exit_code == 0
    assert invoke("subscribers", "erase", "amira@example.org", "--yes").exit_code == 0
    use_key(project, OTHER_KEY)
    result = invoke("subscribers", "add", "amira@example.org", "--consent-source", "an old spreadsheet")
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: DIGEST_SECRET_KEY is not the key this database's address hashes were made with (the database "
        "remembers key "
    )
    assert result.output.endswith(
        "With another key the suppression list recognises nobody: erased and unsubscribed people would look new. "
        "Put the old key back in .env (from a backup of .env, or another host's), or, to change the key on "
        "purpose, keep the old key in a file and run `digest db rekey --old-key-file FILE`\n"
    )
    assert subscriber_states(engine) == [("", "erased")]
    use_key(project, SECRET)
    refused = invoke("subscribers", "add", "amira@example.org", "--consent-source", "an old spreadsheet")
    assert "is on the suppression list" in refused.output


def example_key() -> str:
    (line,) = [line for line in (REPO / ".env.example").read_text().splitlines() if line.startswith("DIGEST_")]
    return line.partition("=")[2]


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (example_key(), "is the example value from .env.example, which anyone can read"),
        ("change-me-please-to-something-long-enough-123", "is a placeholder, not a random secret"),
        ("your-secret-key-goes-here-0123456789abcdef", "is a placeholder, not a random secret"),
        ("k" * 40, "has only 1 different characters: it is not random"),
        ("short", "is 5 characters long; it must be at least 32"),
    ],
)
def test_placeholder_and_example_keys_are_refused(invoke, project: Path, engine, key: str, why: str) -> None:  # type: ignore[no-untyped-def]
    forget_the_key(engine)
    use_key(project, key)
    result = invoke("subscribers", "add", "amira@example.org", "--consent-source", "phoned in")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: DIGEST_SECRET_KEY in .env {why}")
    assert subscriber_states(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.key_fingerprint)).scalar_one() == 0


def forget_the_key(engine) -> None:  # type: ignore[no-untyped-def]
    """The database as one made before fingerprints were kept."""
    with db.write(engine) as conn:
        conn.execute(db.key_fingerprint.delete())


def test_a_database_from_before_fingerprints_adopts_the_key_once_and_says_so(  # type: ignore[no-untyped-def]
    invoke, project: Path, engine, settings
) -> None:
    forget_the_key(engine)
    add_subscriber(engine, settings, "ann@example.org", {}, consent_source="test")
    first = invoke("subscribers", "list")
    assert first.exit_code == 0
    assert first.stderr.startswith(
        "Note: this database did not yet record which DIGEST_SECRET_KEY made its address hashes; it now remembers "
        "the current one (fingerprint "
    )
    assert "checked against 1 subscribers' hashes" in first.stderr
    second = invoke("subscribers", "list")
    assert second.stderr == ""
    with engine.connect() as conn:
        row = conn.execute(sa.select(db.key_fingerprint)).one()
    assert row.how == "adopted" and SECRET not in row.fingerprint and len(row.fingerprint) == 64
    use_key(project, OTHER_KEY)
    assert invoke("subscribers", "list").exit_code == 1


def test_a_fresh_database_remembers_the_key_silently(invoke, engine) -> None:  # type: ignore[no-untyped-def]
    forget_the_key(engine)
    result = invoke("subscribers", "list")
    assert result.output == "0 subscribers.\n"
    with engine.connect() as conn:
        assert conn.execute(sa.select(db.key_fingerprint.c.how)).scalar_one() == "first use"


def test_a_database_whose_key_changed_before_fingerprints_is_refused_not_adopted(  # type: ignore[no-untyped-def]
    invoke, project: Path, engine, settings
) -> None:
    forget_the_key(engine)
    add_subscriber(engine, settings, "ann@example.org", {}, consent_source="test")
    add_subscriber(engine, replace(settings, secret_key=Secret(OTHER_KEY)), "bo@example.org", {}, consent_source="test")
    result = invoke("subscribers", "list")
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: DIGEST_SECRET_KEY did not make this database's address hashes: 1 of 2 subscribers' hashes do not "
        "match it, so the key changed after they were added"
    )
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.key_fingerprint)).scalar_one() == 0


# --- digest db rekey --------------------------------------------------------------------------


def suppressed_hashes(engine) -> set[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return set(conn.execute(sa.select(db.suppressions.c.email_hash)).scalars())


def everything(engine) -> dict[str, list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    tables = (db.subscribers, db.suppressions, db.suppression_log, db.rate_limit_hits, db.key_fingerprint)
    with engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(sa.select(t))), key=repr) for t in tables}


@pytest.fixture
def keyed_project(invoke, engine, project: Path):  # type: ignore[no-untyped-def]
    """A project whose database was made with SECRET: active, unsubscribed, erased, suppressed-only, rate limits."""
    for person in ("ann", "bo", "cy"):
        assert invoke("subscribers", "add", f"{person}@example.org", "--consent-source", "test").exit_code == 0
    invoke("subscribers", "remove", "bo@example.org", "--reason", "left")
    invoke("subscribers", "erase", "cy@example.org", "--yes")
    invoke("suppressions", "add", "dee@example.org", "--reason", "asked by letter")
    with db.write(engine) as conn:
        conn.execute(db.rate_limit_hits.insert().values(bucket="subscribe-ip:abc", at=db.utcnow()))
    (project / "old.env").write_text(f"# the .env before\nDIGEST_SECRET_KEY={SECRET}\n", encoding="utf-8")
    use_key(project, OTHER_KEY)
    return project


def test_rekey_moves_every_hash_it_can_in_one_go_and_says_what_it_cannot(  # type: ignore[no-untyped-def]
    invoke, engine, settings, keyed_project: Path
) -> None:
    from digest.people.subscribers import email_hash

    assert invoke("subscribers", "list").exit_code == 1  # refused until re-keyed
    before = everything(engine)
    said_no = invoke("db", "rekey", "--old-key-file", "old.env", input="n\n")
    assert said_no.exit_code == 1 and everything(engine) == before
    result = invoke("db", "rekey", "--old-key-file", "old.env", "--yes")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0].startswith("Re-keying the address hashes from key ") and "(in old.env) to the key in .env" in lines[0]
    )
    assert lines[1:5] == [
        "  2 subscribers' hashes made again",
        "  1 suppressions moved to the new key",
        "  1 lines of the suppression list's history moved",
        "  1 rate-limit counts cleared (they last an hour or a day)",
    ]
    assert lines[5].startswith("  2 suppressions are of addresses the database no longer holds (erased people")
    assert lines[-1].startswith("Re-keyed: 2 subscribers' hashes made again; the database now remembers key ")
    new = replace(settings, secret_key=Secret(OTHER_KEY))
    assert email_hash(new, "bo@example.org") in suppressed_hashes(engine)
    assert invoke("subscribers", "list").exit_code == 0
    listed = invoke("suppressions", "list").output
    assert "unsubscribed  bo@example.org" in listed and listed.endswith("3 suppressed addresses.\n")
    with engine.connect() as conn:
        assert conn.execute(sa.select(db.key_fingerprint.c.how)).scalar_one() == "rekey"
        log = conn.execute(sa.select(db.suppression_log.c.email_hash)).scalars().all()
    assert email_hash(new, "bo@example.org") in log and email_hash(settings, "bo@example.org") not in log
    assert (
        invoke("db", "rekey", "--old-key-file", "old.env", "--yes").exit_code == 1
    )  # the old key is not the database's


def test_rekey_refuses_a_key_that_is_not_the_databases(invoke, engine, keyed_project: Path) -> None:  # type: ignore[no-untyped-def]
    (keyed_project / "wrong.key").write_text("yet-another-key-that-is-long-enough-555555\n", encoding="utf-8")
    before = everything(engine)
    result = invoke("db", "rekey", "--old-key-file", "wrong.key", "--yes")
    assert result.exit_code == 1
    assert result.output.startswith("Error: the old key given is not the key this database remembers (key ")
    assert everything(engine) == before


def test_a_rekey_that_fails_half_way_changes_nothing(engine, settings, keyed_project: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from digest.people import rekey as module

    before = everything(engine)

    def broken(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "_move_log", broken)
    with pytest.raises(RuntimeError):
        module.rekey(engine, replace(settings, secret_key=Secret(OTHER_KEY)), SECRET.encode())
    assert everything(engine) == before


def test_rekey_finds_a_person_added_again_under_another_key(engine, settings) -> None:  # type: ignore[no-untyped-def]
    """A database written with two keys (before fingerprints): the erased reader added again is caught."""
    from digest.people.erasure import erase_person
    from digest.people.rekey import rekey

    forget_the_key(engine)
    add_subscriber(engine, settings, "amira@example.org", {}, consent_source="test")
    erase_person(engine, settings, "amira@example.org")
    new = replace(settings, secret_key=Secret(OTHER_KEY))
    add_subscriber(engine, new, "amira@example.org", {}, consent_source="an old spreadsheet")
    done = rekey(engine, new, SECRET.encode())
    assert done.now_suppressed == ["amira@example.org"]
    assert (done.suppressions, done.unknown) == (1, 0)
    from digest.people.segments import eligible

    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.subscribers).where(eligible())).scalar_one() == 0
