"""The editor's edits of imported articles: edit a field, or delete an article.

An edit changes the stored article in place, so its id (and every issue file
naming it) stays the same, and records which fields the editor set: importing
the same file again updates the rest but keeps the correction. Fixing a title
in the export and importing it again would instead make a second article.
A deleted article is kept as a tombstone, so importing the same file again
does not bring it back; an article that an issue file names cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy.engine import Engine

from digest.articles.content import clean_text, safe_href
from digest.articles.store import Article, get_article
from digest.config import Settings
from digest.errors import DigestError, InputError, StateError
from digest.issues.issue import issue_path, list_issue_ids, load_issue
from digest.store import db
from digest.topics import tag_topics

EDITABLE = ("title", "source", "published", "author", "url", "summary")
MAX_LENGTHS = {"title": 500, "source": 300, "author": 300, "url": 2000}


def edit_article(engine: Engine, settings: Settings, article_id: str, changes: Mapping[str, object]) -> Article:
    """Correct fields of a stored article; later imports of the same item keep the correction."""
    article = get_article(engine, article_id)
    values = {name: _checked(name, value) for name, value in changes.items() if value is not None}
    if not values:
        raise InputError(f"nothing to change; give at least one of {', '.join('--' + name for name in EDITABLE)}")
    if "title" in values and not article.topics_locked:
        # Topics follow the words of the title unless the editor set them by hand.
        values["topics"] = tag_topics(str(values["title"]), article.text, settings.topics)
    edited = sorted({*article.edited, *(name for name in values if name in EDITABLE)})
    with db.write(engine) as conn:
        conn.execute(
            db.articles.update()
            .where(db.articles.c.id == article_id)
            .values(**values, edited=edited, updated_at=db.utcnow())
        )
    return get_article(engine, article_id)


def _checked(name: str, value: object) -> object:
    if name not in EDITABLE:
        raise InputError(f"{name!r} cannot be edited; the fields are {', '.join(EDITABLE)}")
    if name == "published":
        if isinstance(value, date):
            return value
        raise InputError("published must be a date written YYYY-MM-DD")
    text = clean_text(str(value))
    if name in ("title", "source") and not text:
        raise InputError(f"the {name} cannot be empty")
    if len(text) > MAX_LENGTHS.get(name, 10_000):
        raise InputError(f"the {name} is {len(text)} characters; at most {MAX_LENGTHS[name]}")
    if name == "url" and text and not (safe_href(text) or "").startswith(("https://", "http://")):
        raise InputError(f"url {text!r} must start with https:// or http://")
    return text


@dataclass(frozen=True)
class Use:
    """An issue file that names an article."""

    issue_id: str
    path: str
    line: int | None


def issues_using(settings: Settings, article_id: str) -> list[Use]:
    """Every issue file that names the article (files that do not load are passed over)."""
    found = []
    for issue_id in list_issue_ids(settings):
        try:
            issue = load_issue(settings, issue_id)
        except DigestError:
            continue
        for ref in issue.story_refs():
            if ref.article_id == article_id:
                found.append(Use(issue_id, str(issue_path(settings, issue_id)), ref.line))
    return found


def delete_article(engine: Engine, settings: Settings, article_id: str) -> Article:
    """Delete an article no issue names; importing its file again leaves it deleted."""
    article = get_article(engine, article_id)
    uses = issues_using(settings, article_id)
    if uses:
        where = ", ".join(f"{use.path}, line {use.line}" if use.line else use.path for use in uses)
        raise StateError(f"{article_id} is in issue {uses[0].issue_id} ({where}); take it out of the issue first")
    with db.write(engine) as conn:
        conn.execute(
            db.articles.update()
            .where(db.articles.c.id == article_id, db.articles.c.deleted_at.is_(None))
            .values(deleted_at=db.utcnow(), updated_at=db.utcnow())
        )
    return article
