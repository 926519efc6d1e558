"""Counts in messages agree with their number."""

from __future__ import annotations

import pytest

from digest.words import counted


@pytest.mark.parametrize(
    ("number", "expected"),
    [(0, "0 warnings"), (1, "1 warning"), (2, "2 warnings")],
)
def test_a_regular_noun_takes_an_s_except_for_one(number: int, expected: str) -> None:
    assert counted(number, "warning") == expected


def test_an_irregular_plural_is_given() -> None:
    assert counted(1, "reader's", "readers'") == "1 reader's"
    assert counted(3, "person", "people") == "3 people"
