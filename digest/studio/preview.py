"""What the studio shows beside the controls: the draft rendered, checked and explained.

The draft's text goes through the same functions as the file on disk does:
:func:`digest.issues.issue.parse_issue_text` checks it as ``load_issue`` checks a
file, :class:`digest.issues.render.Renderings` renders it, and
:func:`digest.issues.checks.check_view` runs `digest check`'s checks. Nothing here
renders or checks anything its own way.

While the editor types, the page asks for the copy it shows first and for the
checks (every segment's copy) after: :class:`CopyCache` keeps the renderings
of the last few drafts, so each copy of a draft is rendered once whichever
asks first, and the segments file is read again only when it changes.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
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

RECENT_DRAFTS = 8
_DARK_QUERY = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.IGNORECASE)


@dataclass(frozen=True)
class SegmentChoice:
    name: str
    description: str


@dataclass
class DraftPreview:
    """The email as one variant's readers would get it, or why it cannot be rendered yet."""

    error: str = ""
    error_line: int | None = None  # the line of the draft's text the error names, when it names one
    kept: bool = False  # a field is at fault: the page keeps showing the last email it could render
    segment: str | None = None
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    size: str = ""
    story_count: int = 0
    checks: list[Check] | None = None  # None: not asked for (the page asks for them separately)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # article id → import warnings
    view: IssueView | None = None

    @property
    def passed(self) -> bool:
        return not self.error and not any(check.level == "error" for check in self.checks or [])


class CopyCache:
    """The renderings of the last few drafts, and the segments file as last read; shared by requests."""

    def __init__(self, size: int = RECENT_DRAFTS) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, Renderings] = OrderedDict()
        self._segments: tuple[tuple[str, int, int], list[Segment]] | None = None

    def renderings(self, view: IssueView, settings: Settings) -> Renderings:
        """One :class:`Renderings` per draft and articles as they are (the whole view is the key)."""
        key = hashlib.sha256(repr(view).encode("utf-8")).hexdigest()
        with self._lock:
            found = self._recent.get(key)
            if found is None:
                found = self._recent[key] = Renderings(view, settings)
            self._recent.move_to_end(key)
            while len(self._recent) > self.size:
                self._recent.popitem(last=False)
        return found

    def segments(self, settings: Settings) -> list[Segment]:
        """The segments file, read again only when its size or time changes."""
        path = settings.segments_file
        stat = path.stat()
        stamp = (str(path), stat.st_mtime_ns, stat.st_size)
        cached = self._segments
        if cached is not None and cached[0] == stamp:
            return cached[1]
        found = load_segments(settings)
        self._segments = (stamp, found)
        return found


def segment_choices(settings: Settings, cache: CopyCache | None = None) -> tuple[list[Segment], str]:
    """The segments a preview can show, or an explanation when the segments file is broken."""
    if not settings.segments_file.is_file():
        return [], ""
    try:
        return (cache.segments(settings) if cache else load_segments(settings)), ""
    except DigestError as exc:
        return [], f"segments are not available: {exc}"


def describe_error(exc: DigestError) -> str:
    """A problem in the draft, said without the line numbers of text that is not in any file yet."""
    return exc.reason if isinstance(exc, InputError) else str(exc)


def dark_html(html: str) -> str:
    """The email as a mail app in dark mode shows it: its dark-mode rules applied whatever the page's scheme."""
    return _DARK_QUERY.sub("@media all", html)


def preview_draft(
    engine: Engine,
    settings: Settings,
    path: Path,
    text: str,
    *,
    segment: str | None = None,
    segments: list[Segment] | None = None,
    cache: CopyCache | None = None,
    copy: bool = True,
    checks: bool = True,
) -> DraftPreview:
    """Check, render and check again the draft ``text`` of the issue file at ``path``.

    ``copy``: render the copy of ``segment`` (the one the page shows);
    ``checks``: run `digest check`'s checks over every segment's copy.
    """
    chosen = next((s for s in segments or [] if s.name == segment), None)
    result = DraftPreview(segment=chosen.name if chosen else None)
    try:
        issue = parse_issue_text(settings, text, path)
        view = resolve_issue(engine, settings, issue)
        renderings = cache.renderings(view, settings) if cache else Renderings(view, settings)
        rendered = renderings.variant(chosen.topics if chosen else None)
    except DigestError as exc:
        result.error = describe_error(exc)
        result.error_line = exc.line if isinstance(exc, InputError) else None
        return result
    result.view = view
    if copy:
        html, plain = personalise(rendered, preview_values(settings, issue.id))
        result.subject = rendered.subject
        result.preheader = rendered.preheader
        result.html = html
        result.text = plain
        result.size = kb(len(rendered.html.encode("utf-8")))
        result.story_count = len(rendered.story_ids)
    if checks:
        # Exactly `digest check`'s list, over the same renderings.
        result.checks = check_view(view, settings, renderings, segments=segments).checks
    result.warnings = {
        story.id: list(story.article.import_warnings) for story in view.stories() if story.article.import_warnings
    }
    return result
