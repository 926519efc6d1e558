"""A benchmark database that can be set back to a saved state before each run.

SQLite: the file is copied (after a checkpoint, so the WAL is empty).
PostgreSQL: the saved state is a database of its own, and each run starts
from ``CREATE DATABASE … TEMPLATE`` it (a file-level copy on the server).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any


class SqliteStore:
    label = "SQLite"

    def __init__(self, folder: Path) -> None:
        self.path = folder / "digest.db"
        self.saved = folder / "saved.db"
        self.url = f"sqlite:///{self.path}"

    def env_line(self) -> str:
        return ""  # the project's default database, digest.db beside digest.toml

    def save(self) -> None:
        _checkpoint(self.path)
        shutil.copyfile(self.path, self.saved)

    def restore(self) -> None:
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.saved, self.path)

    def settle(self) -> None:
        """Between a run and the next step: an empty WAL."""
        _checkpoint(self.path)

    def drop(self) -> None:
        self.saved.unlink(missing_ok=True)


def _checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


class PostgresStore:
    label = "PostgreSQL"

    def __init__(self, base_url: str) -> None:
        import psycopg

        self.base = base_url.rsplit("/", 1)[0]
        self.name = f"bench_{uuid.uuid4().hex[:10]}"
        self.saved_name = self.name + "_saved"
        self.url = f"{self.base}/{self.name}"
        self.admin: Any = psycopg.connect(base_url, autocommit=True)
        self.admin.execute(f'CREATE DATABASE "{self.name}"')

    def env_line(self) -> str:
        return f"DIGEST_DATABASE_URL={self.url}\n"

    def save(self) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.saved_name}"')
        self.admin.execute(f'CREATE DATABASE "{self.saved_name}" TEMPLATE "{self.name}"')

    def restore(self) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.saved_name}"')
        # PostgreSQL 15 copies the template through the WAL: a million rows' worth that the next
        # checkpoint writes out, in the middle of whichever run comes next. Pay it here, for both.
        self.admin.execute("CHECKPOINT")

    def settle(self) -> None:
        """Between a run and the next step: dead rows vacuumed and statistics fresh."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

    def drop(self) -> None:
        for name in (self.name, self.saved_name):
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.close()


Store = SqliteStore | PostgresStore


def prefill_events(url: str, deliveries: list[tuple[int, str]], count: int, issue_id: str) -> None:
    """``count`` events already stored (delivered and opened, as a past year's issues leave them)."""
    from datetime import UTC, datetime, timedelta

    from bench.floors import Database

    db = Database(url)
    when = datetime(2025, 1, 1, tzinfo=UTC)
    columns = (
        "provider, provider_event_id, type, raw_type, occurred_at, received_at, email, delivery_id, "
        "subscriber_id, issue_id, message_id, status, reason, url, machine_open, placed, outcome, ingest_batch, "
        "bounce_reason, parser, matched_by, raw"
    )

    def rows(first: int, last: int) -> list[tuple[Any, ...]]:
        out = []
        for number in range(first, last):
            delivery_id, email = deliveries[number % len(deliveries)]
            kind = ("delivered", "open")[number % 2]
            moment = db.time(when + timedelta(seconds=number))
            raw = json.dumps({"email": email, "event": kind, "sg_event_id": f"past-{number}"})
            out.append(
                ("sendgrid", f"past-{number}/{kind}", ("delivered", "opened")[number % 2], kind, moment, moment,
                 email, delivery_id, None, issue_id, f"past{number // 1000}", "", "", "", False, True, "",
                 f"past{number // 2000}", "", "", "", raw)
            )  # fmt: skip
        return out

    chunk = 50_000
    if not db.sqlite:
        with db.conn.cursor() as cursor, cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
            for first in range(0, count, chunk):
                for item in rows(first, min(count, first + chunk)):
                    copy.write_row(item)
    else:
        insert = f"INSERT INTO events ({columns}) VALUES ({', '.join('?' * 22)})"  # noqa: S608
        cursor = db.begin()
        for first in range(0, count, chunk):
            cursor.executemany(insert, rows(first, min(count, first + chunk)))
        db.commit(cursor)
    db.conn.close()
