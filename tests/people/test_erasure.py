"""The right to erasure leaves the address nowhere: no column, no free page, no log, no file."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from digest.events.rules import ingest
from digest.providers.sendgrid.events import normalise_sendgrid
from digest.sending import send_test_copies, start_send
from digest.store import db

GONE = "person3@example.org"


def everything_in_the_database(engine) -> str:  # type: ignore[no-untyped-def]
    dumped = []
    with engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                dumped.append(" ".join(str(value) for value in row))
    return "\n".join(dumped).lower()


def files_holding(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes().lower()]


def test_erasure_scrubs_columns_events_outbox_free_pages_and_the_log(  # type: ignore[no-untyped-def]
    engine, settings, audience, project: Path, smtp_server, invoke
) -> None:
    from digest.config import load_settings

    smtp_settings = load_settings(project / "digest.toml")
    smtp_server.refuse = {GONE}
    smtp_server.refusal = "550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
    _plan, outcome = start_send(engine, smtp_settings, "2025-04-10", ["everyone"], provider_name="smtp")
    assert outcome is not None and outcome.counts["failed"] == 1
    send_test_copies(engine, settings, "2025-04-10", [GONE, "editor@example.org"])
    ingest(
        engine,
        settings,
        [
            normalise_sendgrid({"event": "bounce", "email": GONE, "sg_event_id": "b1", "reason": f"550 <{GONE}> gone"}),
            normalise_sendgrid(
                {"event": "dropped", "email": "other@example.net", "sg_event_id": "d1", "reason": f"alias of {GONE}"}
            ),
        ],
    )
    assert GONE in everything_in_the_database(engine)
    assert files_holding(project / "outbox", GONE.encode())

    result = invoke("subscribers", "erase", GONE.upper(), "--yes")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("Erased subscriber #")
    assert sum(1 for line in result.output.splitlines() if line.startswith("  removed ")) == 1

    everything = everything_in_the_database(engine)
    assert GONE not in everything and "person3" not in everything
    assert "recipient address rejected" in everything  # the reason stays, the address goes
    assert files_holding(project / "outbox", GONE.encode()) == []
    assert files_holding(project / "outbox", b"editor@example.org")  # other people's files stay
    assert files_holding(project / "issues", GONE.encode()) == []
    if engine.dialect.name == "sqlite":
        engine.dispose()
        database = Path(settings.database_url.removeprefix("sqlite:///"))
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                assert GONE.encode() not in path.read_bytes().lower(), path


def pending_signups(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(db.subscribe_requests.c.email)).scalars())


def test_erasure_removes_the_persons_pending_sign_up_requests(engine, settings, invoke) -> None:  # type: ignore[no-untyped-def]
    from digest.people.emails import check_address
    from digest.people.signups import request_signup
    from digest.people.subscribers import add_subscriber

    add_subscriber(engine, settings, "ann.lee@example.org", {}, consent_source="test")
    for raw in ("Ann.Lee@Example.org", "bo@example.org"):  # she signs up again, in her own spelling
        assert request_signup(engine, settings, check_address(raw), {}, client="192.0.2.1")
    assert pending_signups(engine) == ["Ann.Lee@Example.org", "bo@example.org"]
    assert invoke("subscribers", "erase", "ann.lee@example.org", "--yes").exit_code == 0
    assert pending_signups(engine) == ["bo@example.org"]


def test_erasure_removes_outbox_files_holding_the_address_in_another_letter_case(  # type: ignore[no-untyped-def]
    engine, settings, sample_issue, project: Path, invoke
) -> None:
    from digest.people.subscribers import add_subscriber

    add_subscriber(engine, settings, "ann.lee@example.org", {}, consent_source="test")
    send_test_copies(engine, settings, "2025-04-10", ["Ann.Lee@Example.org", "editor@example.org"])
    held = files_holding(project / "outbox", b"ann.lee@example.org")  # files_holding compares lower-cased
    assert len(held) == 1 and b"Ann.Lee@Example.org" in held[0].read_bytes()
    result = invoke("subscribers", "erase", "ann.lee@example.org", "--yes")
    assert f"  removed {held[0]}" in result.output
    assert not held[0].exists()
    assert files_holding(project / "outbox", b"editor@example.org")
