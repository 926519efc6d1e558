"""Text from outside on one line, and text shown on an admin's terminal without control codes.

A name typed into the web sign-up form (or a cell of a CSV) can hold terminal
escape sequences (``ESC [ 2 J`` clears the screen, OSC 8 writes a fake link),
NUL (PostgreSQL's text cannot hold it) or bidirectional overrides that make a
line read differently from what it holds. :func:`one_line` drops them on the
way in; :func:`for_terminal` shows whatever is stored already as visible
escapes on the way out.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Explicit bidirectional embeddings, overrides and isolates (Unicode's "Trojan Source" set).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# The same set as _is_control, as patterns: Cc is exactly U+0000-U+001F and U+007F-U+009F.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LAYOUT_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # newline, tab kept


def _is_control(char: str) -> bool:
    # Cc: C0 (NUL, ESC…), DEL and C1 (including the 8-bit CSI, U+009B).
    return unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS


def one_line(value: Any) -> str:
    """One line of plain text: whitespace runs become one space, control characters are dropped."""
    text = str(value or "")
    if text.isprintable():
        # The common case, answered in C: no control, format or separator character but the plain
        # space (str.isprintable is False for every Cc and Cf character, so for every one dropped below).
        return " ".join(text.split())
    # Whitespace controls (tab, newline…) separate words; the rest are removed outright.
    spaced = "".join(" " if char.isspace() else char for char in text if char.isspace() or not _is_control(char))
    return " ".join(spaced.split())


def for_terminal(text: str, *, layout: bool = False) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), so it cannot drive the terminal.

    ``layout`` keeps newlines and tabs, which only lay text out (digest.cli.terminal writes everything so).
    """
    controls = _LAYOUT_CONTROLS if layout else _CONTROLS
    if not controls.search(text):
        return text
    return controls.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)
