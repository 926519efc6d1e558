"""What the studio shows beside the controls: the draft rendered, checked and explained.

The draft's text goes through the same functions as the file on disk does:
:func:`digest.issues.issue.parse_issue_text` checks it as ``load_issue`` checks a
file, :class:`digest.issues.render.Renderings` renders it, and
:func:`digest.issues.checks.check_view` runs `digest check`'s checks. Nothing here
renders or checks anything its own way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import DigestError, InputError
from digest.issues.checks import Check, check_view, kb
from digest.issues.issue import IssueView, parse_issue_text, resolve_issue
from digest.issues.personalise import personalise, preview_values
from digest.issues.render import Renderings
from digest.people.segments import Segment, load_segments


@dataclass(frozen=True)
class SegmentChoice:
    name: str
    description: str


@dataclass
class DraftPreview:
    """The email as one variant's readers would get it, or why it cannot be rendered yet."""

    error: str = ""
    segment: str | None = None
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    size: str = ""
    story_count: int = 0
    checks: list[Check] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # article id → import warnings
    view: IssueView | None = None

    @property
    def passed(self) -> bool:
        return not self.error and not any(check.level == "error" for check in self.checks)


def segment_choices(settings: Settings) -> tuple[list[Segment], str]:
    """The segments a preview can show, or an explanation when the segments file is broken."""
    if not settings.segments_file.is_file():
        return [], ""
    try:
        return load_segments(settings), ""
    except DigestError as exc:
        return [], f"segments are not available: {exc}"


def describe_error(exc: DigestError) -> str:
    """A problem in the draft, said without the line numbers of text that is not in any file yet."""
    return exc.reason if isinstance(exc, InputError) else str(exc)


def preview_draft(
    engine: Engine,
    settings: Settings,
    path: Path,
    text: str,
    *,
    segment: str | None = None,
    segments: list[Segment] | None = None,
) -> DraftPreview:
    """Check, render and check again the draft ``text`` of the issue file at ``path``."""
    chosen = next((s for s in segments or [] if s.name == segment), None)
    result = DraftPreview(segment=chosen.name if chosen else None)
    try:
        issue = parse_issue_text(settings, text, path)
        view = resolve_issue(engine, settings, issue)
        renderings = Renderings(view, settings)
        rendered = renderings.variant(chosen.topics) if chosen else renderings.variant()
    except DigestError as exc:
        result.error = describe_error(exc)
        return result
    html, plain = personalise(rendered, preview_values(settings, issue.id))
    result.view = view
    result.subject = rendered.subject
    result.preheader = rendered.preheader
    result.html = html
    result.text = plain
    result.size = kb(len(rendered.html.encode("utf-8")))
    result.story_count = len(rendered.story_ids)
    # Exactly `digest check`'s list, over the same renderings.
    result.checks = check_view(view, settings, renderings).checks
    result.warnings = {
        story.id: list(story.article.import_warnings) for story in view.stories() if story.article.import_warnings
    }
    return result
