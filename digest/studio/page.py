"""What the studio's issue page shows, gathered into plain values for its template."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from digest.articles.store import Article, get_articles, list_sources
from digest.config import Settings
from digest.corrections.store import sent_story_ids
from digest.errors import DigestError
from digest.issues.issue import human_date, parse_issue_text, story_summary
from digest.studio.actions import Outcome, Studio, draft_text
from digest.studio.candidates import find_candidates
from digest.studio.draft import StoryDraft
from digest.studio.forms import PageState, encode_base
from digest.studio.preview import DraftPreview, preview_draft, segment_choices


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


def issue_context(
    studio: Studio, state: PageState, outcome: Outcome, *, csrf: str, with_approval: bool = True
) -> dict[str, Any]:
    """Everything templates/studio/issue.html.j2 needs."""
    settings, engine = studio.settings, studio.engine
    draft = state.draft
    articles = get_articles(engine, draft.story_ids())
    base_issue = parse_issue_text(settings, state.base_text, studio.path)
    segments, segments_error = segment_choices(settings)
    text = ""
    try:
        text = draft_text(engine, state.base_text, state)
        preview = preview_draft(engine, settings, studio.path, text, segment=state.segment or None, segments=segments)
    except DigestError as exc:
        preview = DraftPreview(error=str(exc))
    candidates, matched = find_candidates(
        engine,
        settings,
        (base_issue.window_start, base_issue.window_end),
        state.filters,
        draft.story_ids(),
    )
    approval: Any = None
    approval_current = False
    approval_error = ""
    if with_approval:
        try:
            from digest.issues.approval import approval_state

            approval, approval_current = approval_state(engine, settings, str(studio.path))
        except DigestError as exc:
            approval_error = str(exc)
    return {
        "org": settings.organisation,
        "language": settings.language,
        "home_url": "/",
        "issue_id": studio.issue_id,
        "issue_date": human_date(base_issue.date),
        "window": (human_date(base_issue.window_start), human_date(base_issue.window_end - timedelta(days=1))),
        "file_name": f"issues/{studio.issue_id}/issue.yaml",
        "csrf": csrf,
        "base": encode_base(state.base_text),
        "base_hash": state.base_hash,
        "state": state,
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
        "preview": preview,
        "dirty": text != state.base_text,
        "outcome": outcome,
        "approval": approval,
        "approval_current": approval_current,
        "approval_error": approval_error,
        "provider": settings.provider,
        # Stories of this issue that went out: each gets "Correct this story" (digest/studio/corrections.py).
        "sent_stories": set(sent_story_ids(engine, studio.issue_id)),
    }
