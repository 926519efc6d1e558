"""What every reader produces: parsed articles and the warnings met on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from digest.content import Block


@dataclass
class ParsedArticle:
    """An article as read from a source, before it has an id in the store."""

    source: str
    title: str
    published: date
    body: list[Block]
    author: str = ""
    url: str = ""
    summary: str = ""
    topics: list[str] | None = None  # None: tag automatically
    origin: str = ""
    line: int | None = None
    warnings: list[str] = field(default_factory=list)  # this article's own, also in ParseResult.warnings


@dataclass
class ParseResult:
    """The articles read from one source, and warnings for the editor."""

    articles: list[ParsedArticle] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
