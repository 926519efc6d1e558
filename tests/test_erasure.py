"""The right to erasure leaves the address nowhere: no column, no free page, no log, no file."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from digest import db
from digest.events import ingest
from digest.providers.sendgrid.events import normalise_sendgrid
from digest.sending import send_test_copies, start_send

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
