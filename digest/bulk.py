"""Many rows at once, through the driver: the bulk writes of imports, events and database copies.

SQLAlchemy's own executemany spends ~65 µs a row on parameter handling; here
each statement is written once for the connection's dialect (so PostgreSQL
and SQLite get their own SQL), each column's bind processor runs directly
(repeated values such as a batch's timestamp converted once), and the rows go
to the driver as plain tuples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.db import dialect_insert

# Bound values in one statement: SQLite's limit (32,766) and PostgreSQL's (65,535), with room to spare.
MAX_BOUND_VALUES = {"sqlite": 32_000, "postgresql": 60_000}


def bulk_insert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore_conflicts: Sequence[str] | None = None,
) -> None:
    """Insert many rows with one driver-level executemany.

    Every row must have the same keys. ``ignore_conflicts`` names a unique
    key: rows that would break it are skipped (ON CONFLICT DO NOTHING).
    """
    if not rows:
        return
    keys = list(rows[0])
    dialect = conn.dialect
    statement: Any = table.insert()
    if ignore_conflicts:
        statement = dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(ignore_conflicts))
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    if compiled.positional:
        order = [compiled.binds[name].key for name in (compiled.positiontup or [])]
    else:
        order = keys
    convert = _converters(table, order, dialect)
    params: list[Any] = []
    for row in rows:
        values = convert([row[key] for key in order])
        params.append(tuple(values) if compiled.positional else dict(zip(order, values, strict=True)))
    conn.exec_driver_sql(str(compiled), params)


def insert_returning(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    *,
    returning: Sequence[str],
    ignore_conflicts: Sequence[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Insert rows (tuples in the order of ``columns``); the ``returning`` columns of the rows stored.

    Multi-row ``INSERT … VALUES (…), (…) … RETURNING``, as few statements as
    the drivers' limits on bound values allow. With ``ignore_conflicts``, rows
    that would break that unique key are skipped and not returned, so the
    answer says exactly which rows went in (in no particular order).
    """
    if not rows:
        return []
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES "  # noqa: S608 - our names
    tail = ""
    if ignore_conflicts:
        tail += f" ON CONFLICT ({', '.join(quote(c) for c in ignore_conflicts)}) DO NOTHING"
    tail += f" RETURNING {', '.join(quote(c) for c in returning)}"
    convert = _converters(table, columns, dialect)
    found: list[tuple[Any, ...]] = []
    if dialect.name == "postgresql":
        # psycopg parses a statement's placeholders in Python, afresh for a long one: one row's
        # statement, run for every row in pipeline mode (as its executemany does), returns as much.
        cursor = conn.connection.cursor()
        try:
            each = [tuple(convert(list(row))) for row in rows]
            cursor.executemany(head + one + tail, each, returning=True)  # type: ignore[call-arg]
            while True:
                found.extend(tuple(item) for item in cursor.fetchall())
                if not cursor.nextset():
                    break
            return found
        finally:
            cursor.close()
    per_statement = max(1, MAX_BOUND_VALUES.get(dialect.name, 30_000) // len(columns))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        params: list[Any] = []
        for row in chunk:
            params.extend(convert(list(row)))
        sql = head + ", ".join([one] * len(chunk)) + tail
        found.extend(tuple(item) for item in conn.exec_driver_sql(sql, tuple(params)).all())
    return found


def select_in(
    conn: Connection, table: sa.Table, columns: Sequence[str], key: str, values: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM table WHERE key IN values`` as plain tuples, the list of values through the driver.

    SQLAlchemy writes a statement with an expanding IN afresh on every call
    (for 2,000 ids that costs more than the query); here it is written once a
    size, and each column's result processor still runs, so the values are
    those SQLAlchemy would give.
    """
    if not values:
        return []
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    head = f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table.name)} WHERE {quote(key)}"  # noqa: S608
    processors = [
        (index, processor)
        for index, name in enumerate(columns)
        if (processor := table.c[name].type.dialect_impl(dialect).result_processor(dialect, None)) is not None
    ]
    per_statement = MAX_BOUND_VALUES.get(dialect.name, 30_000)
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(values), per_statement):
        chunk = tuple(values[start : start + per_statement])
        if dialect.name == "postgresql":  # one array, not thousands of placeholders psycopg would parse
            rows = conn.exec_driver_sql(head + " = ANY(%s)", (list(chunk),)).all()
        else:
            rows = conn.exec_driver_sql(head + " IN (" + ", ".join([mark] * len(chunk)) + ")", chunk).all()
        if processors:
            for row in rows:
                item = list(row)
                for index, processor in processors:
                    item[index] = processor(item[index])
                found.append(tuple(item))
        else:
            found.extend(tuple(row) for row in rows)
    return found


def _converters(table: sa.Table, order: Sequence[str], dialect: sa.Dialect) -> Any:
    """A function that turns a row's Python values (in ``order``) into what the driver takes."""
    steps = []
    for index, key in enumerate(order):
        column_type = table.c[key].type
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            continue
        underlying = column_type.impl if isinstance(column_type, sa.TypeDecorator) else column_type
        repeated = isinstance(underlying, sa.DateTime | sa.JSON)
        # Times and empty JSON values repeat across a batch: each distinct one is converted once.
        steps.append((index, _memoised(processor) if repeated else processor))

    def convert(values: list[Any]) -> list[Any]:
        for index, step in steps:
            values[index] = step(values[index])
        return values

    return convert


def _memoised(processor: Any) -> Any:
    cache: dict[Any, Any] = {}

    def process(value: Any) -> Any:
        if isinstance(value, datetime):
            if value not in cache:
                cache[value] = processor(value)
            return cache[value]
        if not value and isinstance(value, list | dict):
            empty = type(value)
            if empty not in cache:
                cache[empty] = processor(value)
            return cache[empty]
        return processor(value)

    return process
