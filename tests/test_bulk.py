"""Bulk writes convert each distinct value once: never at the cost of a wrong value."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from digest.bulk import _memoised


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
