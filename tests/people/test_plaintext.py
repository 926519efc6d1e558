"""One line of outside text: control codes dropped, whitespace runs made one space, the fast path the same."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given

from digest.people.plaintext import for_terminal, one_line
from tests.conftest import awkward_text


def one_line_char_by_char(value: object) -> str:
    """The rule spelt out one character at a time: what :func:`one_line` must always agree with."""
    text = str(value or "")
    kept = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif unicodedata.category(char) == "Cc" or char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
            continue
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("  Jo   Bloggs ", "Jo Bloggs"),
        ("Jo\tBloggs\r\n", "Jo Bloggs"),
        ("Jo\u00a0Bloggs", "Jo Bloggs"),  # a no-break space from a spreadsheet
        ("Jo\x1b[2JBloggs", "Jo[2JBloggs"),  # the escape goes, the harmless text after it stays
        ("admin\u202egnp.exe", "admingnp.exe"),  # a right-to-left override
        ("NUL\x00inside", "NULinside"),
        ("Zoë O’Brien", "Zoë O’Brien"),
        (None, ""),
        (7, "7"),
    ],
)
def test_one_line_keeps_the_words_and_drops_the_codes(cell: object, expected: str) -> None:
    assert one_line(cell) == expected


AWKWARD = awkward_text(60)


@given(AWKWARD)
def test_one_line_agrees_with_the_rule_character_by_character(text: str) -> None:
    assert one_line(text) == one_line_char_by_char(text)


def test_for_terminal_shows_escapes_visibly() -> None:
    assert for_terminal("ok\x1b[31mred") == "ok\\x1b[31mred"
    assert for_terminal("plain") == "plain"
