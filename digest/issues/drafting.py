"""Drafting an issue: ``issues/<date>/issue.yaml`` from the articles of the week.

The draft is meant to be edited, but its words should be ones an editor would
keep: the subject is the lead story's title (inboxes already show the sender's
name beside it), the preheader is left to each copy (it names the stories that
copy holds), and the introduction says only what is true in every copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import Engine

from digest.articles.content import strip_unwanted
from digest.articles.store import Article, date_text, list_articles, one_per_story
from digest.config import Settings
from digest.errors import InputError
from digest.files import atomic_write_text
from digest.issues.catalogue import why_not_redrafted
from digest.issues.issue import ISSUE_FILE, human_date, window_for

SUBJECT_LIMIT = 78
LEAD_RECENT_DAYS = 3


def new_issue(
    engine: Engine,
    settings: Settings,
    *,
    issue_date: date,
    days: int | None = None,
    grouping: str | None = None,
    force: bool = False,
) -> tuple[Path, int]:
    """Draft ``issues/<date>/issue.yaml`` from the week's articles; returns (path, stories)."""
    days = days or settings.issue_days
    grouping = grouping or settings.grouping
    start, end = window_for(issue_date, days)
    found = list_articles(engine, since=start, until=end)
    if not found:
        raise InputError(
            f"no articles published from {start.isoformat()} to "
            f"{(end - timedelta(days=1)).isoformat()}; import some with `digest articles import` "
            "or widen the window with --days"
        )
    path = settings.issues_dir / issue_date.isoformat() / ISSUE_FILE
    if path.exists() and not force:
        raise InputError(
            "already exists; edit it, or pass --force to draft it again (your edits would be lost)",
            path=path,
        )
    frozen = why_not_redrafted(engine, issue_date.isoformat())  # not even with --force
    if frozen is not None:
        raise InputError(frozen, path=path)
    # The same story from a feed and from the newsfeed text is drafted once.
    found, duplicates = one_per_story(found)
    lead = _choose_lead(found)
    others = [article for article in found if article.id != lead.id]
    sections = _group(others, settings, grouping)
    text = _draft_text(settings, issue_date, start, end, grouping, lead, sections, duplicates)
    atomic_write_text(path, text)
    return path, len(found)


def _choose_lead(found: Sequence[Article]) -> Article:
    """The most substantial of the most recent stories (an editor may well change it).

    Among stories published within three days of the newest, the longest leads:
    a short notice should not lead over a major announcement of the same week.
    """
    newest = max(_day(article) for article in found)
    recent = [a for a in found if (newest - _day(a)).days < LEAD_RECENT_DAYS]
    return max(recent, key=lambda a: (len(a.text.split()), _day(a), a.id))


def _day(article: Article) -> date:
    # A draft's window (list_articles since/until) never holds an undated article.
    return article.published or date.min


def _group(found: Sequence[Article], settings: Settings, grouping: str) -> list[tuple[str, list[Article]]]:
    groups: dict[str, list[Article]] = {}
    if grouping == "source":
        for article in found:
            groups.setdefault(article.source, []).append(article)
        ordered = sorted(groups.items(), key=lambda item: item[0].casefold())
        return [(title, items) for title, items in ordered]
    for article in found:
        key = article.topics[0] if article.topics else OTHER_SECTION
        groups.setdefault(key, []).append(article)
    order = [*settings.topic_slugs, OTHER_SECTION]
    ordered_keys = sorted(groups, key=lambda key: order.index(key) if key in order else len(order))
    return [(section_title_for(groups[key][0], settings, grouping), groups[key]) for key in ordered_keys]


OTHER_SECTION = "Other news"


def section_title_for(article: Article, settings: Settings, grouping: str) -> str:
    """The section a drafted issue puts ``article`` in: its source, or its first topic's label."""
    if grouping == "source":
        return article.source
    return settings.topic_label(article.topics[0]) if article.topics else OTHER_SECTION


def _yaml_scalar(value: Any) -> str:
    dumped = yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=1000)
    return dumped.strip().removesuffix("...").strip()


def _draft_text(
    settings: Settings,
    issue_date: date,
    start: date,
    end: date,
    grouping: str,
    lead: Article,
    sections: list[tuple[str, list[Article]]],
    duplicates: Sequence[tuple[Article, Article]] = (),
) -> str:
    count = 1 + sum(len(items) for _, items in sections)
    introduction = draft_introduction(lead, count, grouping)
    out = [
        f"# {settings.organisation.name}: issue of {human_date(issue_date)}.",
        "# Edit freely, then run `digest preview` to see the result.",
        "# - Reorder sections and stories; delete a story's line to drop it.",
        "# - Add a story by its id (see `digest articles list`).",
        "# - A story may be written as a mapping to override things:",
        "#     - id: <article id>",
        "#       summary: Your own summary.",
        "#       note: An editor's note shown under the story.",
        "#       url: https://…  # where 'Read the full story' goes (default: the original, else our archive)",
        "#       full: true      # the whole article in the email, not just the summary",
        "#       pin: true       # every segment gets it, whatever its topics",
        "#       topics: [online-safety]   # this issue only",
        f"date: {issue_date.isoformat()}",
        "window:",
        f"  from: {start.isoformat()}",
        f"  until: {(end - timedelta(days=1)).isoformat()}",
        f"grouping: {grouping}   # sections were made by {grouping}",
        f"# Inboxes show the sender ({settings.email.from_name}) beside the subject, so it need not repeat it.",
        f"subject: {_yaml_scalar(draft_subject(lead.title))}",
        "# Left empty, each copy's preheader names the stories in that copy; or write your own.",
        "preheader: ''",
        "# Every reader is greeted by name above this; counts and sources are shown per copy.",
        "introduction: |",
        f"  {introduction}",
        "editor_note: ''",
        f"lead: {lead.id}",
        "sections:",
    ]
    for title, items in sections:
        out.append(f"  - title: {_yaml_scalar(title)}")
        out.append("    stories:")
        for article in items:
            out.append(f"      - {article.id}   # {story_comment(article)}")
    if duplicates:
        out.append("# Left out as likely duplicates (the same story from another source, kept above):")
        for dropped, kept in duplicates:
            out.append(f"#   {dropped.id}   (same story as {kept.id})")
    return "\n".join(out) + "\n"


def draft_subject(lead_title: str) -> str:
    """The lead story's title, cut at a word to fit what inboxes show (78 characters)."""
    title = " ".join(lead_title.split())
    if len(title) <= SUBJECT_LIMIT:
        return title
    return title[: SUBJECT_LIMIT - 1].rsplit(" ", 1)[0].rstrip(" ,;:–-") + "…"


def draft_introduction(lead: Article, count: int, grouping: str) -> str:
    """A first paragraph true in every copy: it names the lead (which every copy has), never counts.

    A copy narrowed to a reader's topics may hold the lead alone, so the draft
    does not promise more stories below it either.
    """
    cited = f"“{lead.title}” ({lead.source}, {_day(lead).day} {_day(lead):%B})"
    if count == 1:
        return f"This week's safeguarding news is {cited}. Please pass it on to colleagues if it is useful to them."
    return f"Here is this week's safeguarding news. We lead with {cited}. Please pass on anything useful to colleagues."


def story_comment(article: Article) -> str:
    """The comment beside a story's id in the file: its date, source and title."""
    title = article.title if len(article.title) <= 60 else article.title[:57] + "…"
    # strip_unwanted: an article stored before imports cleaned their text must not break the file.
    return strip_unwanted(f"{date_text(article.published)} {article.source}: {title}".replace("\n", " "))
