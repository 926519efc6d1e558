"""The web archive: an issue page and one page per article, as static HTML.

The same pages are written into the preview folder (to publish as static
files) and served by `digest serve`. Links between them are relative, so the
folder works wherever it is put.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from digest.config import Settings
from digest.issues.issue import IssueView
from digest.issues.render import build_context, render_web_page


@dataclass(frozen=True)
class IssueListing:
    issue_id: str
    date: str
    subject: str
    updated: str = ""  # an Atom time when the issue changed after it was sent (a correction); else its date


def page_heading(settings: Settings, subject: str) -> str:
    """An issue's subject under the masthead, without the masthead's name again ("SAFE Newsfeed: …")."""
    for name in dict.fromkeys((settings.email.from_name, "SAFE Newsfeed")):
        stripped = re.sub(rf"^\s*{re.escape(name)}\s*[:,–—-]\s*", "", subject, flags=re.IGNORECASE)
        if stripped != subject and stripped:
            return stripped
    return subject


def archive_pages(view: IssueView, settings: Settings, *, segment: str | None = None) -> dict[str, str]:
    """{file name: HTML} for an issue: ``index.html`` and ``<article id>.html`` per story."""
    context = build_context(view, settings, segment=segment)
    stories = ([context["lead"]] if context["lead"] else []) + [
        story for section in context["sections"] for story in section["stories"]
    ]
    page_links = {
        "index": "../",
        "issue": "./",
        "articles": {story["id"]: f"{story['id']}.html" for story in stories},
    }
    common = _page_context(settings, context, page_links)
    common["heading"] = page_heading(settings, view.issue.subject)
    pages = {"index.html": render_web_page(settings, "archive_issue.html.j2", common)}
    for story in stories:
        article = {**story, "source_url": next((s.url for s in view.stories() if s.id == story["id"]), "")}
        pages[f"{story['id']}.html"] = render_web_page(
            settings, "archive_article.html.j2", {**common, "story": article}
        )
    return pages


def archive_index(settings: Settings, issues: Sequence[IssueListing], *, feed_url: str = "") -> str:
    """The list of past issues, newest first."""
    items = [
        {"href": f"{item.issue_id}/", "date": item.date, "subject": page_heading(settings, item.subject)}
        for item in sorted(issues, key=lambda i: i.issue_id, reverse=True)
    ]
    return render_web_page(
        settings,
        "archive_index.html.j2",
        {
            "org": settings.organisation,
            "language": settings.language,
            "issues": items,
            "feed_url": feed_url,
            "home_url": "./",
            "subscribe_url": f"{settings.base_url}/subscribe",
        },
    )


def _page_context(settings: Settings, context: dict[str, Any], page_links: dict[str, Any]) -> dict[str, Any]:
    return {**context, "page_links": page_links, "home_url": "../", "subscribe_url": context["links"]["subscribe"]}


def frozen_pages(settings: Settings, issue_id: str) -> dict[str, str] | None:
    """The archive pages frozen when the issue was sent, if there are any."""
    folder = settings.issues_dir / issue_id / "sent" / "archive"
    if not folder.is_dir():
        return None
    return {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.html")}
