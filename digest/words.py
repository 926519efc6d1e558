"""Counts in messages that read as English: "1 warning", "2 warnings", "1 reader's"."""

from __future__ import annotations


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """``number`` and the noun that agrees with it: counted(1, "person", "people") is "1 person"."""
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"
