"""What the studio's issue page shows, gathered into plain values for its template.

The page comes whole, or in the two parts the page's script asks for while
the editor types: ``preview`` (the copy shown, the unsaved flag and the fields
at fault) and ``checks`` (`digest check`'s list over every copy).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from markupsafe import Markup, escape

from digest.articles.store import Article, get_articles, list_sources
from digest.config import Settings
from digest.corrections.store import sent_story_ids
from digest.errors import DigestError
from digest.issues.checks import ERROR, OK, WARNING, Check
from digest.issues.issue import human_date, parse_issue_text, story_summary
from digest.studio.actions import Outcome, Studio, draft_text
from digest.studio.candidates import find_candidates
from digest.studio.draft import StoryDraft
from digest.studio.fields import field_at_line
from digest.studio.forms import PageState, encode_base, field_id
from digest.studio.preview import CopyCache, DraftPreview, dark_html, preview_draft, segment_choices

PARTS = ("page", "preview", "checks")
_CODE = re.compile(r"`([^`\n]+)`")


def code_spans(text: str) -> Markup:
    """A message for the page: escaped, with `digest check`-style spans shown as code, not backticks."""
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))  # noqa: S704 - escaped first


@dataclass
class StoryCard:
    """One story of the draft as the page shows it."""

    story: StoryDraft
    article: Article | None
    summary: str
    topics: list[tuple[str, str, bool]]  # (slug, label, chosen)
    own_topics: list[str]
    warnings: list[str]

    @property
    def title(self) -> str:
        return self.article.title if self.article else self.story.id


def _card(settings: Settings, story: StoryDraft, article: Article | None) -> StoryCard:
    if article is None:
        return StoryCard(story, None, "", [], [], [])
    chosen = set(story.topics if story.topics is not None else article.topics)
    labels = [(rule.slug, rule.label) for rule in settings.topics]
    # Topics the article carries that digest.toml no longer knows stay visible.
    labels += [(slug, settings.topic_label(slug)) for slug in article.topics if slug not in settings.topic_slugs]
    return StoryCard(
        story=story,
        article=article,
        summary=story_summary(article, story.summary, settings),
        topics=[(slug, label, slug in chosen) for slug, label in labels],
        own_topics=list(article.topics),
        warnings=list(article.import_warnings),
    )


@dataclass
class CheckGroup:
    """Checks of one level and kind, shown as one entry: (message, id of the field it is about or "")."""

    level: str
    code: str
    items: list[tuple[str, str]] = field(default_factory=list)


def check_groups(checks: Sequence[Check], on_page: set[str]) -> tuple[list[CheckGroup], list[CheckGroup]]:
    """(what needs attention: errors, then warnings; what passed), grouped by level and kind.

    ``on_page`` holds the story ids on the page: a check about one links to
    its card or its field, when the page has it.
    """
    groups: dict[tuple[str, str], CheckGroup] = {}
    for check in checks:
        group = groups.setdefault((check.level, check.code), CheckGroup(check.level, check.code))
        kind, _, story_id = check.where.partition(":")
        target = field_id(f"{kind}.{story_id}" if story_id else kind) if kind else ""
        group.items.append((check.message, target if not story_id or story_id in on_page else ""))
    rank = {ERROR: 0, WARNING: 1, OK: 2}
    ordered = sorted(groups.values(), key=lambda g: rank.get(g.level, 1))
    return [g for g in ordered if g.level != OK], [g for g in ordered if g.level == OK]


def _preview(
    studio: Studio, state: PageState, text: str, segments: Any, part: str, cache: CopyCache | None
) -> tuple[DraftPreview, dict[str, str]]:
    """The preview of the draft's ``text``, and the fields at fault (form name → message)."""
    errors = dict(state.field_errors)
    if errors:
        return DraftPreview(kept=True), errors  # a field the studio cannot take: no new rendering
    try:
        preview = preview_draft(
            studio.engine,
            studio.settings,
            studio.path,
            text,
            segment=state.segment or None,
            segments=segments,
            cache=cache,
            copy=part != "checks",
            checks=part != "preview",
        )
    except DigestError as exc:
        return DraftPreview(error=str(exc)), errors
    name = field_at_line(text, state.draft, preview.error_line) if preview.error else None
    if name is not None:
        errors[name] = preview.error
        preview.kept = True
    return preview, errors


def issue_context(
    studio: Studio,
    state: PageState,
    outcome: Outcome,
    *,
    csrf: str,
    with_approval: bool = True,
    part: str = "page",
    cache: CopyCache | None = None,
) -> dict[str, Any]:
    """Everything templates/studio/issue.html.j2 (or one of its parts) needs."""
    settings, engine = studio.settings, studio.engine
    draft = state.draft
    segments, segments_error = segment_choices(settings, cache)
    text = ""
    try:
        text = draft_text(engine, state.base_text, state)
    except DigestError as exc:
        preview, errors = DraftPreview(error=str(exc)), dict(state.field_errors)
    else:
        preview, errors = _preview(studio, state, text, None if segments_error else segments, part, cache)
    problems, passed = check_groups(preview.checks or [], set(draft.story_ids()))
    parts = {
        "org": settings.organisation,
        "from_name": settings.email.from_name,
        "language": settings.language,
        "state": state,
        "preview": preview,
        "email_html": dark_html(preview.html) if state.view == "dark" else preview.html,
        "check_problems": problems,
        "check_passed": passed,
        "field_errors": {field_id(name): message for name, message in errors.items()},
        "dirty": text != state.base_text,
    }
    if part != "page":
        return parts
    articles = get_articles(engine, draft.story_ids())
    base_issue = parse_issue_text(settings, state.base_text, studio.path)
    candidates, matched = find_candidates(
        engine,
        settings,
        (base_issue.window_start, base_issue.window_end),
        state.filters,
        draft.story_ids(),
    )
    # An outcome about something no longer on the page (a story left out meanwhile) is shown at the top.
    anchors = {"save", "arrange", "new-section", "choose", "import", "approve", "test"}
    anchors |= {f"story-{i}" for i in draft.story_ids()} | {f"section-{s.key}" for s in draft.sections}
    anchors |= {f"candidate-{item.article.id}" for item in candidates}
    if outcome.at not in anchors:
        outcome.at = ""
    approval: Any = None
    approval_current = False
    approval_error = ""
    if with_approval:
        try:
            from digest.issues.approval import approval_state

            approval, approval_current = approval_state(engine, settings, str(studio.path))
        except DigestError as exc:
            approval_error = str(exc)
    return parts | {
        "home_url": "/",
        "issue_id": studio.issue_id,
        "issue_date": human_date(base_issue.date),
        "window": (human_date(base_issue.window_start), human_date(base_issue.window_end - timedelta(days=1))),
        "file_name": f"issues/{studio.issue_id}/issue.yaml",
        "csrf": csrf,
        "base": encode_base(state.base_text),
        "base_hash": state.base_hash,
        "draft": draft,
        "lead": _card(settings, draft.lead, articles.get(draft.lead.id)) if draft.lead else None,
        "sections": [
            (section, [_card(settings, story, articles.get(story.id)) for story in section.stories])
            for section in draft.sections
        ],
        "candidates": candidates,
        "matched": matched,
        "sources": list_sources(engine),
        "topics": [(rule.slug, rule.label) for rule in settings.topics],
        "labels": lambda slugs: ", ".join(settings.topic_label(slug) for slug in slugs),
        "human_date": human_date,
        "segments": segments,
        "segments_error": segments_error,
        "outcome": outcome,
        "approval": approval,
        "approval_current": approval_current,
        "approval_error": approval_error,
        "provider": settings.provider,
        # Stories of this issue that went out: each gets "Correct this story" (digest/studio/corrections.py).
        "sent_stories": set(sent_story_ids(engine, studio.issue_id)),
    }
