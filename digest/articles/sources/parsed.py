"""What every reader produces: parsed articles and the warnings met on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from digest.articles.content import Block


@dataclass
class ParsedArticle:
    """An article as read from a source, before it has an id in the store."""

    source: str
    title: str
    published: date | None  # None: the source gave no date that could be read (never today's instead)
    body: list[Block]
    author: str = ""
    # Who put the item on the site it was exported from, when that is not its author:
    # the SAFE export's "by <name>" is the member of SAFE's staff who posted it.
    posted_by: str = ""
    url: str = ""
    summary: str = ""
    topics: list[str] | None = None  # None: tag automatically
    origin: str = ""
    line: int | None = None
    # Problems met reading this article, kept with it so `digest check` can repeat them.
    warnings: list[str] = field(default_factory=list)


@dataclass
class ParseResult:
    """The articles read from one source, and warnings for the editor."""

    articles: list[ParsedArticle] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
