"""The article store: import parsed articles without duplicates, list and look them up."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.articles.content import Block, body_text, clean_text, strip_unwanted
from digest.config import Settings
from digest.errors import InputError, NotFoundError
from digest.store import db
from digest.topics import check_topics, tag_topics

if TYPE_CHECKING:  # the readers load only when something is imported, not for every command
    from digest.articles.sources import ParsedArticle

MAX_SLUG_WORDS_LENGTH = 70


@dataclass(frozen=True)
class Article:
    """An article in the store."""

    id: str
    source: str
    title: str
    published: date | None  # None: imported undated; drafts leave it out until the editor dates it
    author: str
    url: str
    body: list[Block]
    summary: str
    topics: list[str]
    topics_locked: bool
    origin: str
    posted_by: str = ""  # who put it on the site it came from, when that is not its author
    import_warnings: tuple[str, ...] = ()  # what the import noticed, repeated by `digest check`
    edited: tuple[str, ...] = ()  # fields the editor corrected; later imports keep them

    @property
    def text(self) -> str:
        return body_text(self.body)


@dataclass
class ImportReport:
    new: int = 0
    updated: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[InputError] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportStep:
    """One file or address of an import, for a progress line: before reading it, then after."""

    number: int
    total: int
    location: str
    done: bool = False
    new: int = 0
    updated: int = 0
    skipped: int = 0
    failed: bool = False


def date_text(published: date | None) -> str:
    """An article's date as YYYY-MM-DD, or 'undated'."""
    return published.isoformat() if published else "undated"


def slugify(text: str, *, limit: int = MAX_SLUG_WORDS_LENGTH) -> str:
    """Lower-case ASCII words joined by hyphens, cut at a word boundary."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > limit:
            break
        slug = candidate
    return slug or "article"


_QUOTES = str.maketrans("’‘“”–—", "''\"\"--")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(_QUOTES)
    return " ".join(text.split())


def dedupe_key(source: str, title: str, published: date | None) -> str:
    """The same source, title and date is the same article, whichever file it came from."""
    raw = "\x1f".join((_normalise(source), _normalise(title), published.isoformat() if published else "undated"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _content_hash(parsed: ParsedArticle) -> str:
    payload = {
        "source": parsed.source,
        "title": parsed.title,
        "published": parsed.published.isoformat() if parsed.published else None,
        "author": parsed.author,
        "posted_by": parsed.posted_by,
        "url": parsed.url,
        "body": parsed.body,
        "summary": parsed.summary,
        "topics": parsed.topics,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def import_articles(
    engine: Engine,
    settings: Settings,
    locations: Sequence[str],
    *,
    source_name: str | None = None,
    origins: Mapping[str, str] | None = None,
    on_step: Callable[[ImportStep], None] | None = None,
) -> ImportReport:
    """Read each path or URL and store its articles, one transaction per file.

    A file that fails to parse is recorded in ``failures`` and nothing from it
    is stored; the other files are still imported. Each article keeps the
    warnings met on the way, so `digest check` can repeat them for an issue.
    ``origins`` gives a location the name to use in messages and the store (an
    uploaded file's own name); ``on_step`` hears of each file before it is read
    and once it is stored.
    """
    from digest.articles.sources import read_source

    report = ImportReport()
    for number, location in enumerate(locations, 1):
        shown = (origins or {}).get(location, location)
        if on_step is not None:
            on_step(ImportStep(number, len(locations), location))
        before = (report.new, report.updated, report.skipped)
        try:
            parsed = read_source(
                location,
                source_name=source_name,
                timezone=settings.organisation.timezone,
                origin=shown,
                allow=settings.sources.allow_hosts,
            )
            _check_explicit_topics(parsed.articles, settings, shown)
        except InputError as exc:
            report.failures.append(exc)
            if on_step is not None:
                on_step(ImportStep(number, len(locations), location, done=True, failed=True))
            continue
        report.warnings.extend(parsed.warnings)
        # A warning about the whole file (its encoding, a damaged feed) concerns each of its articles.
        own = {warning for article in parsed.articles for warning in article.warnings}
        about_file = [warning for warning in parsed.warnings if warning not in own]
        parsed.articles = [_without_unwanted_characters(article) for article in parsed.articles]
        with db.write(engine) as conn:
            stories = _StoryIndex(conn, [article.published for article in parsed.articles if article.published])
            for article in parsed.articles:
                outcome, article_id = _store(conn, settings, article, [*about_file, *article.warnings])
                setattr(report, outcome, getattr(report, outcome) + 1)
                report.ids.append(article_id)
                if outcome == "new" and article.published is not None:
                    duplicates = _duplicate_warnings(stories, article, article_id)
                    stories.add(article_id, article.title, article.source, article.published)
                    report.warnings.extend(duplicates)
                    if duplicates:
                        _add_warnings(conn, article_id, duplicates)
        if on_step is not None:
            new, updated, skipped = (
                now - then for now, then in zip((report.new, report.updated, report.skipped), before, strict=True)
            )
            on_step(ImportStep(number, len(locations), location, True, new, updated, skipped))
    return report


def _without_unwanted_characters(parsed: ParsedArticle) -> ParsedArticle:
    """Every field of every reader's article without controls and non-characters (see strip_unwanted)."""

    def line(text: str) -> str:
        return clean_text(strip_unwanted(text))

    return replace(
        parsed,
        source=line(parsed.source),
        title=line(parsed.title),
        author=line(parsed.author),
        posted_by=line(parsed.posted_by),
        url=line(parsed.url),
        summary=line(parsed.summary),
        body=strip_unwanted(parsed.body),
        topics=[line(topic) for topic in parsed.topics] if parsed.topics is not None else None,
    )


def _add_warnings(conn: Connection, article_id: str, warnings: Sequence[str]) -> None:
    row = conn.execute(sa.select(db.articles.c.import_warnings).where(db.articles.c.id == article_id)).first()
    stored = list(row.import_warnings) if row is not None else []
    conn.execute(
        db.articles.update()
        .where(db.articles.c.id == article_id)
        .values(import_warnings=list(dict.fromkeys([*stored, *warnings])))
    )


# --- the same story from two sources ------------------------------------------------------

DUPLICATE_DAYS = 1


def story_key(title: str) -> str:
    """A title as the same story's other copies would have it: folded, punctuation and quotes gone."""
    text = unicodedata.normalize("NFKC", title).casefold().translate(_QUOTES)
    return " ".join(re.findall(r"[^\W_]+", text.replace("'", "")))


def same_story(a: Article, b: Article) -> bool:
    """Likely one story: the same normalised title, published within a day of each other.

    A feed and the newsfeed text name the source differently ("GOV.UK" and
    "Ofsted") and may date it a day apart, so the exact dedupe key misses it.
    """
    if a.published is None or b.published is None:
        return False  # an undated copy is nobody's twin until the editor dates it
    return story_key(a.title) == story_key(b.title) and abs((a.published - b.published).days) <= DUPLICATE_DAYS


class _StoryIndex:
    """Stored stories by normalised title and day, read once per file.

    Each new article then finds its twins by three look-ups (its day and the
    days either side) instead of rereading every story of those days: a feed
    of thousands of items a day stays linear.
    """

    def __init__(self, conn: Connection, days: Sequence[date]) -> None:
        self.by_key: dict[tuple[str, date], list[tuple[str, str, date]]] = {}
        if not days:
            return
        a = db.articles.c
        window = (min(days) - timedelta(days=DUPLICATE_DAYS), max(days) + timedelta(days=DUPLICATE_DAYS))
        query = (
            sa.select(a.id, a.title, a.source, a.published)
            .where(a.published.between(*window), a.deleted_at.is_(None))
            .order_by(a.published, a.id)
        )
        for row in conn.execute(query):
            self.add(row.id, row.title, row.source, row.published)

    def add(self, article_id: str, title: str, source: str, published: date) -> None:
        self.by_key.setdefault((story_key(title), published), []).append((article_id, source, published))

    def twins(self, title: str, published: date, article_id: str) -> list[tuple[str, str, date]]:
        """Other stored stories with the same normalised title, published within a day."""
        key = story_key(title)
        days = (published + timedelta(days=offset) for offset in range(-DUPLICATE_DAYS, DUPLICATE_DAYS + 1))
        return [twin for day in days for twin in self.by_key.get((key, day), []) if twin[0] != article_id]


def _duplicate_warnings(stories: _StoryIndex, parsed: ParsedArticle, article_id: str) -> list[str]:
    assert parsed.published is not None  # undated articles are nobody's twin
    where = f"{parsed.origin}, line {parsed.line}" if parsed.line else parsed.origin
    return [
        f"{where}: likely duplicate: {parsed.title!r} ({parsed.source}, {parsed.published.isoformat()}) is the "
        f"same story as {twin_id} ({source}, {published.isoformat()}); an issue draft takes only one of them"
        for twin_id, source, published in stories.twins(parsed.title, parsed.published, article_id)
    ]


def one_per_story(found: Sequence[Article]) -> tuple[list[Article], list[tuple[Article, Article]]]:
    """Keep one article per story; returns (kept, [(left out, kept instead)]).

    The fuller copy is kept (the newsfeed text usually has the whole article,
    a feed often only a summary), then the earlier published, then the smaller id.
    """
    ranked = sorted(found, key=lambda a: (-len(a.text.split()), a.published or date.max, a.id))
    kept: list[Article] = []
    dropped: list[tuple[Article, Article]] = []
    for article in ranked:
        twin = next((other for other in kept if same_story(article, other)), None)
        if twin is None:
            kept.append(article)
        else:
            dropped.append((article, twin))
    order = {article.id: index for index, article in enumerate(found)}
    kept.sort(key=lambda a: order[a.id])
    return kept, dropped


def _check_explicit_topics(items: Iterable[ParsedArticle], settings: Settings, location: str) -> None:
    for item in items:
        unknown = check_topics(item.topics or [], settings.topics)
        if unknown:
            raise InputError(
                f"unknown topic {unknown[0]!r}; known topics: {', '.join(settings.topic_slugs)}",
                path=location,
                line=item.line,
            )


def _store(conn: Connection, settings: Settings, parsed: ParsedArticle, warnings: list[str]) -> tuple[str, str]:
    """Insert or update one article with the import's warnings about it; returns ('new'|'updated'|'skipped', id).

    The editor's corrections win over a later import of the same item, and an
    article the editor deleted stays deleted.
    """
    key = dedupe_key(parsed.source, parsed.title, parsed.published)
    digest_hash = _content_hash(parsed)
    existing = conn.execute(
        sa.select(
            db.articles.c.id,
            db.articles.c.content_hash,
            db.articles.c.topics_locked,
            db.articles.c.topics,
            db.articles.c.edited,
            db.articles.c.deleted_at,
        ).where(db.articles.c.dedupe_key == key)
    ).first()
    now = db.utcnow()
    explicit = parsed.topics is not None
    values: dict[str, object] = {
        "source": parsed.source,
        "title": parsed.title,
        "published": parsed.published,
        "author": parsed.author,
        "posted_by": parsed.posted_by,
        "url": parsed.url,
        "body": parsed.body,
        "summary": parsed.summary,
        "origin": parsed.origin,
        "content_hash": digest_hash,
        "import_warnings": warnings,
        "updated_at": now,
    }
    if existing is None:
        article_id = _free_id(conn, parsed)
        auto_topics = tag_topics(parsed.title, body_text(parsed.body), settings.topics)
        conn.execute(
            db.articles.insert().values(
                id=article_id,
                dedupe_key=key,
                topics=parsed.topics if explicit else auto_topics,
                topics_locked=explicit,
                created_at=now,
                **values,
            )
        )
        return "new", article_id
    if existing.deleted_at is not None or existing.content_hash == digest_hash:
        return "skipped", existing.id
    for name in existing.edited or []:
        values.pop(name, None)  # the editor's correction stands
    title = str(values.get("title", "")) or None
    if explicit:
        values.update(topics=parsed.topics, topics_locked=True)
    elif not existing.topics_locked:
        current = conn.execute(sa.select(db.articles.c.title).where(db.articles.c.id == existing.id)).scalar_one()
        values["topics"] = tag_topics(title or current, body_text(parsed.body), settings.topics)
    conn.execute(db.articles.update().where(db.articles.c.id == existing.id).values(**values))
    return "updated", existing.id


def _free_id(conn: Connection, parsed: ParsedArticle) -> str:
    base = f"{parsed.published.isoformat() if parsed.published else 'undated'}-{slugify(parsed.title)}"
    candidate, number = base, 1
    while conn.execute(sa.select(db.articles.c.id).where(db.articles.c.id == candidate)).first():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _row_to_article(row: sa.Row[tuple[object, ...]]) -> Article:
    m = row._mapping
    return Article(
        id=m["id"],
        source=m["source"],
        title=m["title"],
        published=m["published"],
        author=m["author"],
        url=m["url"],
        body=m["body"],
        summary=m["summary"],
        topics=list(m["topics"]),
        topics_locked=bool(m["topics_locked"]),
        origin=m["origin"],
        posted_by=m["posted_by"],
        import_warnings=tuple(m["import_warnings"] or ()),
        edited=tuple(m["edited"] or ()),
    )


def list_articles(
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    topic: str | None = None,
    source: str | None = None,
) -> list[Article]:
    """Articles newest first, optionally filtered by date range, topic and source."""
    query = (
        sa.select(db.articles)
        .where(db.articles.c.deleted_at.is_(None))
        .order_by(db.articles.c.published.desc().nulls_last(), db.articles.c.id)
    )
    if since is not None:
        query = query.where(db.articles.c.published >= since)
    if until is not None:
        query = query.where(db.articles.c.published < until)
    if source:
        query = query.where(sa.func.lower(db.articles.c.source).contains(source.lower()))
    with db.read(engine) as conn:
        found = [_row_to_article(row) for row in conn.execute(query)]
    if topic:
        # Topics are a JSON list; filtering here keeps the query portable.
        found = [article for article in found if topic in article.topics]
    return found


def list_sources(engine: Engine) -> list[str]:
    """Every source that has articles in the store, alphabetically."""
    with db.read(engine) as conn:
        found = conn.execute(sa.select(db.articles.c.source).distinct()).scalars().all()
    return sorted(found, key=str.casefold)


def get_articles(engine: Engine, ids: Iterable[str]) -> dict[str, Article]:
    """The stored articles among ``ids``, keyed by id (missing ids are left out)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    with db.read(engine) as conn:
        rows = conn.execute(
            sa.select(db.articles).where(db.articles.c.id.in_(wanted), db.articles.c.deleted_at.is_(None))
        )
        return {row.id: _row_to_article(row) for row in rows}


def get_article(engine: Engine, article_id: str) -> Article:
    found = get_articles(engine, [article_id])
    if article_id not in found:
        raise NotFoundError(f"no article with id {article_id!r}; `digest articles list` shows the ids")
    return found[article_id]


def set_topics(engine: Engine, settings: Settings, article_id: str, topics: Sequence[str]) -> Article:
    """The editor's own topics for an article; later imports keep them."""
    unknown = check_topics(topics, settings.topics)
    if unknown:
        raise InputError(f"unknown topic {unknown[0]!r}; known topics: {', '.join(settings.topic_slugs)}")
    get_article(engine, article_id)
    with db.write(engine) as conn:
        conn.execute(
            db.articles.update()
            .where(db.articles.c.id == article_id)
            .values(topics=list(dict.fromkeys(topics)), topics_locked=True, updated_at=db.utcnow())
        )
    return get_article(engine, article_id)
