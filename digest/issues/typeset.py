"""Typesetting for the email's two parts, used by its templates as filters.

The text part is wrapped at :data:`TEXT_WIDTH` columns with links as numbered
references; names and dates never break across lines in either part, by
characters (no-break spaces and hyphens) rather than CSS, which Outlook for
Windows, Windows Mail and Samsung Email ignore.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping

from markupsafe import Markup, escape

from digest.articles.content import Block

TEXT_WIDTH = 78


class LinkReferences:
    """Numbered link references for the plain-text part: ``text [3]`` … ``[3] url``."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}

    def add(self, url: str) -> str:
        number = self._numbers.setdefault(url, len(self._numbers) + 1)
        return f"[{number}]"

    def items(self) -> list[tuple[int, str]]:
        return [(number, url) for url, number in self._numbers.items()]


_ASCII_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_NBSP = "\u00a0"
_NB_HYPHEN = "\u2011"
_MONTH_NAMES = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATE_RE = re.compile(rf"\b\d{{1,2}} (?:{_MONTH_NAMES})(?: \d{{4}})?\b")


def nobreak(text: str) -> str:
    """Text that wrapping keeps on one line (a name, a date)."""
    return _ASCII_SPACE.sub(_NBSP, str(text).strip())


def unbreakable(text: str) -> str:
    """A name or date no mail client splits across lines: no-break spaces and no-break hyphens (U+2011).

    Characters, not CSS: Outlook for Windows, Windows Mail and Samsung Email ignore
    ``white-space: nowrap``.
    """
    return _ASCII_SPACE.sub(_NBSP, str(text).strip()).replace("-", _NB_HYPHEN)


def keep_dates(text: str) -> Markup:
    """HTML-escaped text whose dates ("9 April 2025") never break across lines."""
    escaped = str(escape(text))
    # The text is escaped first, and the pattern matches only digits, spaces and month names.
    return Markup(_DATE_RE.sub(lambda match: unbreakable(match.group()), escaped))  # noqa: S704


def wrap(text: str, width: int = TEXT_WIDTH, indent: str = "", first: str | None = None) -> str:
    """Wrap at ``width`` columns without breaking words, URLs, dates or text marked with :func:`nobreak`."""
    text = _ASCII_SPACE.sub(" ", str(text)).strip()
    text = _DATE_RE.sub(lambda match: match.group().replace(" ", _NBSP), text)
    # textwrap breaks only at ASCII whitespace, so the no-break spaces hold; then they go back to spaces.
    filled = textwrap.fill(
        text,
        width=width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return filled.replace(_NBSP, " ")


def underline(text: str, char: str = "=") -> str:
    wrapped = wrap(text)
    longest = max((len(line) for line in wrapped.splitlines()), default=0)
    return f"{wrapped}\n{char * longest}"


def text_blocks(blocks: Iterable[Block], refs: LinkReferences) -> str:
    """A body's blocks as wrapped plain text; links become numbered references."""
    out: list[str] = []
    for block in blocks:
        if block["type"] == "h":
            # Not underlined: a sub-heading inside a story must not look like the next story's title.
            out.append(wrap(block["text"], first="## ", indent="   "))
        elif block["type"] == "p":
            out.append(wrap(_runs_as_text(block["runs"], refs)))
        elif block["type"] == "ol":
            out.append(
                "\n".join(
                    wrap(_runs_as_text(item, refs), indent="    ", first=f"{number:>2}. ")
                    for number, item in enumerate(block["items"], 1)
                )
            )
        else:
            out.append("\n".join(wrap(_runs_as_text(item, refs), indent="   ", first=" * ") for item in block["items"]))
    return "\n\n".join(out)


def _runs_as_text(runs: Iterable[Mapping[str, str]], refs: LinkReferences) -> str:
    parts = []
    for run in runs:
        parts.append(run["text"])
        if run.get("href"):
            parts.append(" " + refs.add(run["href"]))
    return "".join(parts)
