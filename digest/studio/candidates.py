"""The articles an editor can choose from: the issue's window, filtered and searched."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine

from digest.articles.store import Article, list_articles
from digest.config import Settings
from digest.issues.issue import story_summary

MAX_CANDIDATES = 200


@dataclass(frozen=True)
class Filters:
    query: str = ""
    topic: str = ""
    source: str = ""
    any_date: bool = False  # also articles outside the issue's window


@dataclass(frozen=True)
class Candidate:
    article: Article
    summary: str
    chosen: bool
    in_window: bool


def _matches(article: Article, summary: str, words: Iterable[str]) -> bool:
    haystack = " ".join((article.title, article.source, summary, article.author)).casefold()
    return all(word in haystack for word in words)


def find_candidates(
    engine: Engine,
    settings: Settings,
    window: tuple[date, date],
    filters: Filters,
    chosen: Iterable[str],
) -> tuple[list[Candidate], int]:
    """Articles for the choose list, newest first, and how many matched before the list was cut.

    ``window`` is (first day, day after the last); every word of the query must
    appear in the title, source, summary or author.
    """
    start, end = window
    found = list_articles(
        engine,
        since=None if filters.any_date else start,
        until=None if filters.any_date else end,
        topic=filters.topic or None,
        source=filters.source or None,
    )
    words = filters.query.casefold().split()
    chosen_ids = set(chosen)
    results = []
    for article in found:
        summary = story_summary(article, "", settings)
        if words and not _matches(article, summary, words):
            continue
        in_window = article.published is not None and start <= article.published < end
        results.append(Candidate(article, summary, article.id in chosen_ids, in_window))
    return results[:MAX_CANDIDATES], len(results)
