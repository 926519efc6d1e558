"""A benchmark database that can be set back to a saved state before each run.

SQLite: the file is copied (after a checkpoint, so the WAL is empty).
PostgreSQL: the saved state is a database of its own, and each run starts
from ``CREATE DATABASE … TEMPLATE`` it (a file-level copy on the server).
"""

from __future__ import annotations

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
