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
from itertools import repeat
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.store.db import dialect_insert

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
    if not ignore_conflicts:
        insert_rows(conn, table, keys, [[row[key] for key in keys] for row in rows])
        return
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


def insert_rows(conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows given as tuples in the order of ``columns``: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, rows)
    else:
        _executemany(conn, table, columns, rows)


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
    if not ignore_conflicts and _numbered(table, columns, returning):
        # Every row goes in: number them first, then insert them the fastest way, ids and all.
        numbered = [[number, *row] for number, row in zip(_new_ids(conn, table, len(rows)), rows, strict=True)]
        insert_rows(conn, table, ["id", *columns], numbered)
        where = {name: index for index, name in enumerate(["id", *columns])}
        return [tuple(row[where[name]] for name in returning) for row in numbered]
    if dialect.name == "postgresql":
        # psycopg parses a statement's placeholders in Python, afresh for a long one: one row's
        # statement, run for every row in pipeline mode (as its executemany does), returns as much.
        cursor = conn.connection.cursor()
        try:
            each = [tuple(convert(list(row))) for row in rows]
            cursor.executemany(head + one + tail, each, returning=True)  # type: ignore[call-arg]
            while True:
                found.extend(cursor.fetchall())
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
        found.extend(conn.exec_driver_sql(sql, tuple(params)).all())  # rows unpack as tuples do
    return found


def _new_ids(conn: Connection, table: sa.Table, count: int) -> list[int]:
    """``count`` new ids for a table, in order: drawn from its sequence on PostgreSQL; on SQLite the
    ones it would give itself (one more than the largest), which no other writer can take while this
    transaction holds the database's write lock (a deferred one that lost it fails, never duplicates)."""
    if conn.dialect.name == "postgresql":
        # Through the driver: a thousand integers need none of SQLAlchemy's result handling. The
        # sequence is looked up once (MATERIALIZED), not once a row: that lookup cost six times the nextval.
        sequence = (
            "WITH seq AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS name) "
            "SELECT nextval(seq.name) FROM seq, generate_series(1, %s)"
        )
        return [int(number) for (number,) in conn.exec_driver_sql(sequence, (table.name, count)).all()]
    largest = conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
    return list(range(largest + 1, largest + 1 + count))


def among(conn: Connection, column: sa.Column[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``column IN values`` for a long list: on PostgreSQL one array (``= ANY``), which psycopg passes
    as one value instead of parsing thousands of placeholders; elsewhere the plain IN list.

    A list of text goes as one array literal the server reads, not a list psycopg dumps element by
    element in Python (a millisecond for a batch's thousand addresses). The literal is untyped
    (no ``::VARCHAR``) so the server reads it as ``text[]`` while planning: the array is then a
    constant it can hash, where a ``VARCHAR`` turned into ``TEXT[]`` is read only when run, and
    each row of a small table was compared with every element (a tenth of a second a batch).
    """
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        if isinstance(column.type, sa.String) and all(type(value) is str for value in values):
            literal = sa.bindparam(None, text_array(values), type_=sa.types.NullType())
            return column == sa.any_(sa.cast(literal, ARRAY(sa.Text)))
        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def text_array(values: Sequence[str]) -> str:
    """PostgreSQL's literal for an array of text: every element quoted, its ``\\`` and ``"`` escaped,
    so commas, braces, spaces or the word NULL inside an element stay text."""
    return "{" + ",".join('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values) + "}"


def _numbered(table: sa.Table, columns: Sequence[str], returning: Sequence[str]) -> bool:
    """Whether the table numbers its rows with an ``id`` sequence that the rows leave to it."""
    key = table.c.get("id")
    return (
        key is not None
        and key.primary_key
        and isinstance(key.type, sa.Integer)
        and "id" not in columns
        and set(returning) <= {"id", *columns}
    )


def _executemany(conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain INSERT of every row (lists in the order of ``columns``), one executemany through the driver."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608 - our names
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    conn.exec_driver_sql(statement, _converted(table, columns, dialect, rows))


def _copy(conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL's COPY: the fastest way in for rows that need no ON CONFLICT (constraints still hold)."""
    quote = conn.dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    json_columns = [index for index, name in enumerate(columns) if isinstance(_underlying(table.c[name].type), sa.JSON)]
    cursor = conn.connection.cursor()
    try:
        as_text = _dumped_once(cursor)
        with cursor.copy(statement) as copy:
            for row in _converted(table, columns, conn.dialect, rows):
                if not json_columns:
                    copy.write_row(row)
                    continue
                values = list(row)
                for index in json_columns:
                    values[index] = as_text(values[index])
                copy.write_row(values)
    finally:
        cursor.close()


def _dumped_once(cursor: Any) -> Any:
    """A JSON value as the text psycopg's own dumper makes of it, made once per object.

    COPY would otherwise run ``json.dumps`` on every row's value, although the bind
    conversion hands over one object for each distinct value (no topics, the same
    attribute); the text goes in as psycopg would have sent it, byte for byte.
    """
    from psycopg.adapt import PyFormat

    done: dict[Any, str] = {}

    def as_text(value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        text = done.get(value)
        if text is None:
            dumper = cursor.adapters.get_dumper(type(value), PyFormat.TEXT)(type(value), cursor)
            text = done[value] = bytes(dumper.dump(value)).decode("utf-8")
        return text

    return as_text


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
        if dialect.name == "postgresql" and all(type(value) is str for value in chunk):
            rows = conn.exec_driver_sql(head + " = ANY(%s::text[])", (text_array(chunk),)).all()
        elif dialect.name == "postgresql":  # one array, not thousands of placeholders psycopg would parse
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
            found.extend(rows)  # rows unpack and index as tuples do
    return found


def _underlying(column_type: Any) -> Any:
    return column_type.impl if isinstance(column_type, sa.TypeDecorator) else column_type


def _converters(table: sa.Table, order: Sequence[str], dialect: sa.Dialect) -> Any:
    """A function that turns a row's Python values (in ``order``) into what the driver takes."""
    steps = []
    for index, key in enumerate(order):
        column_type = table.c[key].type
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            continue
        underlying = _underlying(column_type)
        repeated = isinstance(underlying, sa.DateTime | sa.JSON)
        # Times and empty JSON values repeat across a batch: each distinct one is converted once.
        steps.append((index, _memoised(processor) if repeated else processor))

    def convert(values: list[Any]) -> list[Any]:
        for index, step in steps:
            values[index] = step(values[index])
        return values

    return convert


def _converted(
    table: sa.Table, columns: Sequence[str], dialect: sa.Dialect, rows: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """The rows as the driver takes them. A column holding the very same object in every row (a
    batch's timestamp, an empty list) is converted once; only the others are converted row by row."""
    varying = []
    constants: dict[int, Any] = {}
    for index, key in enumerate(columns):
        column_type = table.c[key].type
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            continue
        first = rows[0][index]
        if all(row[index] is first for row in rows):
            constants[index] = processor(first)
        else:
            underlying = _underlying(column_type)
            repeated = isinstance(underlying, sa.DateTime | sa.JSON)
            varying.append((index, _memoised(processor) if repeated else processor))
    if not varying and not constants:
        return [tuple(row) for row in rows]
    # Column by column: each conversion runs over one column in a C loop (map), and the rows are
    # taken apart and put together again by zip, not value by value in Python.
    by_column: list[Any] = list(zip(*rows, strict=True))
    for index, step in varying:
        by_column[index] = map(step, by_column[index])
    for index, value in constants.items():
        by_column[index] = repeat(value, len(rows))
    return list(zip(*by_column, strict=True))


def _memoised(processor: Any) -> Any:
    cache: dict[Any, Any] = {}
    last: list[Any] = [object(), None]  # the value seen last and what it became: a batch's one timestamp

    def process(value: Any) -> Any:
        if value is last[0]:
            return last[1]
        if isinstance(value, datetime):
            if value not in cache:
                cache[value] = processor(value)
            last[0], last[1] = value, cache[value]
            return last[1]
        if isinstance(value, list | dict):
            # JSON of text: small values repeat across rows (no topics; the same attribute): each encoded
            # once. Only text, so that equal-looking keys are equal JSON (1 == True, but not in JSON).
            key = (type(value), tuple(value.items()) if isinstance(value, dict) else tuple(value))
            try:
                if key in cache:
                    return cache[key]
            except TypeError:  # a list or dict inside: not a repeat worth remembering
                return processor(value)
            converted = processor(value)
            if all(type(item) is str for item in (value.values() if isinstance(value, dict) else value)):
                cache[key] = converted
            return converted
        return processor(value)

    return process
