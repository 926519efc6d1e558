"""`digest db copy --to URL`: move a database (SQLite) into another (PostgreSQL), nothing lost.

Every table is streamed in primary-key order into the freshly migrated
target, PostgreSQL's id sequences are moved past the copied ids, and each
table's row count and a checksum over every value are compared at the end.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.config import redact_url
from digest.errors import StateError
from digest.store import db
from digest.store.bulk import bulk_insert

CHUNK = 5000


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    source_checksum: str
    target_checksum: str

    @property
    def matches(self) -> bool:
        return self.source_checksum == self.target_checksum


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def table_checksum(engine: Engine, table: sa.Table) -> tuple[int, str]:
    """(rows, sha256 over every row in primary-key order) of one table."""
    digest = hashlib.sha256()
    count = 0
    query = sa.select(table).order_by(*table.primary_key.columns)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=CHUNK).execute(query):
            digest.update(json.dumps([_value(v) for v in row], sort_keys=True, default=str).encode())
            digest.update(b"\n")
            count += 1
    return count, digest.hexdigest()


def copy_database(source: Engine, target_url: str, *, force: bool = False) -> list[TableCopy]:
    """Copy every table of ``source`` into the database at ``target_url`` and verify the copy."""
    target = db.open_database(target_url)
    try:
        with db.read(target) as conn:
            used = [
                t.name
                for t in db.metadata.sorted_tables
                if conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            ]
        if used and not force:
            raise StateError(
                f"{redact_url(target_url)} already holds data (in {', '.join(used)}); copy into an empty "
                "database, or pass --force to empty it first"
            )
        with db.write(target) as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            for table in db.metadata.sorted_tables:
                _copy_table(source, conn, table)
            if conn.dialect.name == "postgresql":
                _move_sequences(conn)
        results = []
        for table in db.metadata.sorted_tables:
            rows, before = table_checksum(source, table)
            _, after = table_checksum(target, table)
            results.append(TableCopy(table.name, rows, before, after))
        return results
    finally:
        target.dispose()


def _copy_table(source: Engine, target: Any, table: sa.Table) -> None:
    query = sa.select(table).order_by(*table.primary_key.columns)
    with source.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK).execute(query)
        while True:
            rows = result.fetchmany(CHUNK)
            if not rows:
                return
            bulk_insert(target, table, [dict(row._mapping) for row in rows])


def _move_sequences(conn: Any) -> None:
    """Ids were copied as they were; new rows must get ids after them."""
    for table in db.metadata.sorted_tables:
        columns = list(table.primary_key.columns)
        if len(columns) == 1 and isinstance(columns[0].type, sa.Integer) and columns[0].autoincrement is not False:
            name = columns[0].name
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{name}'), "  # noqa: S608 - our own names
                    f"COALESCE((SELECT MAX({name}) FROM {table.name}), 1), "
                    f"(SELECT MAX({name}) FROM {table.name}) IS NOT NULL)"
                )
            )
