"""Bulk writes convert each distinct value once: never at the cost of a wrong value."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from digest.store import db
from digest.store.bulk import _converted, _memoised, among, insert_rows, select_in, text_array
from digest.store.db import create_db_engine


def test_values_that_look_alike_are_converted_apart() -> None:
    convert = _memoised(json.dumps)
    values = [
        {"a": 1}, {"a": True}, {"a": "1"}, {"a": 1.0}, {"a": 1}, {"a": ["x"]}, {"a": ["x"]}, {"b": "1", "a": "2"},
        {"a": "2", "b": "1"}, [], [1], [True], ["1"], [], {}, {"a": {"b": "c"}}, {"a": None}, {"a": "None"},
    ]  # fmt: skip
    assert [convert(v) for v in values] == [json.dumps(v) for v in values]


def test_the_same_moment_in_two_zones_is_one_value() -> None:
    stored = _memoised(lambda moment: moment.astimezone(UTC).isoformat())
    noon = datetime(2025, 4, 10, 12, tzinfo=UTC)
    assert stored(noon) == stored(noon.astimezone(timezone(timedelta(hours=1)))) == "2025-04-10T12:00:00+00:00"
    assert stored(noon + timedelta(microseconds=1)) != stored(noon)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_copy_stores_json_as_the_driver_would(backend: str) -> None:
    # PostgreSQL's json type keeps the text it is given: COPY's once-per-value text must be the driver's.
    engine = create_db_engine(backend)
    table = sa.Table("docs", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("doc", sa.JSON))
    docs: list[Any] = [{"a": "é"}, {"a": "é"}, [], [], {"b": [1, {"c": None}], "a": "x\\y\t"}, ["’"], None, {}]
    try:
        with engine.begin() as conn:
            table.create(conn)
            conn.execute(table.insert(), [{"id": number, "doc": doc} for number, doc in enumerate(docs)])
            insert_rows(conn, table, ("id", "doc"), [(100 + number, doc) for number, doc in enumerate(docs)])
            stored = dict(conn.execute(sa.text("SELECT id, doc::text FROM docs")).all())
        assert [stored[100 + number] for number in range(len(docs))] == [stored[n] for n in range(len(docs))]
    finally:
        engine.dispose()


AWKWARD_TEXT = ["plain@example.org", 'we"ird@x', "back\\slash", "NULL", "{a,b}", "", " spaced ", "é’", "line\nbreak"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_text_array_literal_reads_back_as_the_same_texts(backend: str) -> None:
    engine = create_db_engine(backend)
    table = sa.Table("keys", sa.MetaData(), sa.Column("key", sa.String(100), primary_key=True))
    try:
        with engine.begin() as conn:
            assert conn.exec_driver_sql("SELECT %s::text[]", (text_array(AWKWARD_TEXT),)).scalar() == AWKWARD_TEXT
            table.create(conn)
            conn.execute(table.insert(), [{"key": key} for key in [*AWKWARD_TEXT, "other"]])
            found = conn.execute(sa.select(table.c.key).where(among(conn, table.c.key, AWKWARD_TEXT))).scalars()
            assert sorted(found) == sorted(AWKWARD_TEXT)
            assert sorted(key for (key,) in select_in(conn, table, ("key",), "key", AWKWARD_TEXT)) == sorted(
                AWKWARD_TEXT
            )
    finally:
        engine.dispose()


def test_a_text_array_goes_to_postgresql_untyped_so_it_is_planned_as_a_constant() -> None:
    # "CAST(%s::VARCHAR AS TEXT[])" is read only when run: every row of a small table is then compared
    # with every element of the batch (quadratic); "CAST(%s AS TEXT[])" is folded while planning.
    from sqlalchemy.dialects import postgresql

    table = sa.Table("keys", sa.MetaData(), sa.Column("key", sa.String(100)))
    conn = type("Conn", (), {"dialect": postgresql.psycopg.dialect()})()
    sql = str(sa.select(table).where(among(conn, table.c.key, ["a", "b"])).compile(dialect=conn.dialect))  # type: ignore[arg-type]
    assert "ANY (CAST(%(param_1)s AS TEXT[]))" in sql


def test_rows_converted_column_by_column_are_each_value_converted() -> None:
    # The batch's one timestamp (the same object in every row), JSON that repeats and JSON that does not.
    dialect = sa.create_engine("sqlite://").dialect
    now = datetime(2025, 4, 10, 12, tzinfo=UTC)
    rows = [
        (f"a{number}@example.org", {"phase": "primary"} if number % 2 else {}, [str(number)] if number % 3 else [], now)
        for number in range(7)
    ]
    columns = ("email", "attributes", "topics", "created_at")
    expected = [
        tuple(
            (
                processor(value)
                if (processor := db.subscribers.c[name].type.dialect_impl(dialect).bind_processor(dialect))
                else value
            )
            for name, value in zip(columns, row, strict=True)
        )
        for row in rows
    ]
    assert _converted(db.subscribers, columns, dialect, rows) == expected
