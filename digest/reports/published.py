"""The sent issues as the public sees them: the web archive's listings, pages and Atom feed.

An issue is published once the provider accepted at least one copy
(:func:`digest.sending.ledger.sent_issue_ids`, the definition the reports
share); its pages are the ones frozen when it was sent.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import DigestError, NotFoundError
from digest.issues.archive import IssueListing, archive_index, archive_pages, frozen_pages
from digest.sending.ledger import sent_issue_ids
from digest.store import db


def _listing(settings: Settings, issue_id: str) -> IssueListing | None:
    from digest.issues.issue import human_date, load_issue

    try:
        issue = load_issue(settings, issue_id)
    except DigestError:
        return None  # an issue file removed after sending: leave it out, do not break the archive
    return IssueListing(issue.id, human_date(issue.date), issue.subject)


def published_issues(engine: Engine, settings: Settings) -> list[IssueListing]:
    """Every sent issue whose file is still there, newest first; a corrected one updated when last corrected."""
    from digest.corrections.pages import feed_updates
    from digest.corrections.store import list_corrections

    updates = feed_updates(list_corrections(engine))
    listings = [
        replace(found, updated=updates.get(issue_id, ""))
        for issue_id in sent_issue_ids(engine)
        if (found := _listing(settings, issue_id))
    ]
    return sorted(listings, key=lambda item: item.issue_id, reverse=True)


def archive_index_page(engine: Engine, settings: Settings) -> str:
    return archive_index(settings, published_issues(engine, settings), feed_url="/archive/feed.atom")


def issue_pages(engine: Engine, settings: Settings, issue_id: str) -> dict[str, str]:
    """{file name: HTML} of a sent issue: the pages frozen when it was sent, with its corrections shown."""
    from digest.corrections.pages import corrected_pages
    from digest.corrections.store import list_corrections
    from digest.issues.issue import load_view

    if not sent_issue_ids(engine, only=issue_id) or _listing(settings, issue_id) is None:
        raise NotFoundError(f"issue {issue_id} has not been published")
    frozen = frozen_pages(settings, issue_id)
    pages = frozen if frozen is not None else archive_pages(load_view(engine, settings, issue_id), settings)
    return corrected_pages(settings, pages, list_corrections(engine, issue_id))


def atom_feed(engine: Engine, settings: Settings) -> str:
    """The Atom feed of sent issues."""
    from digest.issues.render import environment

    return (
        environment(settings, "html")
        .get_template("web/feed.atom.j2")
        .render(
            org=settings.organisation,
            base_url=settings.base_url,
            issues=published_issues(engine, settings),
            updated=db.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    )
