"""`digest preview`: write what readers will get into a local folder.

The folder holds the email (HTML, text and a complete .eml), the web archive
pages and ``index.html``, which shows the inbox row, the email at desktop and
phone widths, the plain text and the checks. It is built beside the old one
and swapped in, so a failed render never leaves half a preview behind; only a
folder a preview made (or an empty one) is ever replaced (:mod:`digest.issues.folders`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import NotFoundError
from digest.issues.archive import IssueListing, archive_index, archive_pages
from digest.issues.checks import CheckReport, check_rendered, kb
from digest.issues.folders import PREVIEW, check_replaceable, replace_folder
from digest.issues.issue import IssueView, human_date, load_view, select_stories
from digest.issues.mime import Envelope, build_message, message_bytes
from digest.issues.personalise import personalise, preview_values
from digest.issues.render import RenderedEmail, render_issue, render_web_page

PREVIEW_RECIPIENT = "preview@example.org"


@dataclass
class SegmentPreview:
    name: str
    members: int
    stories: int
    href: str


@dataclass
class PreviewResult:
    folder: Path
    index: Path
    rendered: RenderedEmail
    checks: CheckReport
    segments: list[SegmentPreview] = field(default_factory=list)
    screenshots: bool = False
    # Why screenshots were asked for and not taken (what to install), else ''.
    no_screenshots_because: str = ""


def write_preview(
    engine: Engine,
    settings: Settings,
    ref: str,
    *,
    out: Path | None = None,
    segment: str | None = None,
    screenshots: bool = True,
    on_progress: Callable[[str], None] | None = None,
) -> PreviewResult:
    """Render the issue (one segment's variant when ``segment`` is given) into a folder.

    When a segments file exists, the index also lists every segment with its
    member count and story count, and links each segment's email. Screenshots
    take a few seconds; ``on_progress`` hears how they are getting on.
    """
    view = load_view(engine, settings, ref)
    default_folder = settings.preview_dir / (f"{view.issue.id}-{segment}" if segment else view.issue.id)
    folder = Path(out) if out else default_folder
    check_replaceable(folder, PREVIEW, settings)  # before the work: a folder it may not replace is refused at once
    segments = []
    if settings.segments_file.is_file():
        from digest.people.segments import load_segments

        segments = load_segments(settings)
    chosen = next((s for s in segments if s.name == segment), None)
    if segment is not None and chosen is None:
        known = ", ".join(s.name for s in segments) or "none"
        raise NotFoundError(f"no segment {segment!r} in {settings.segments_file}; known: {known}")
    topics = chosen.topics if chosen else None
    rendered = render_issue(view, settings, topics=topics, segment=segment)
    counts = {}
    if segments:
        from digest.people.segments import segment_counts

        counts = segment_counts(engine, segments)
    variants = [render_issue(view, settings, topics=s.topics, segment=s.name) for s in segments]
    rows = [
        SegmentPreview(s.name, counts[s.name], len(v.story_ids), f"segments/{s.name}.html")
        for s, v in zip(segments, variants, strict=True)
    ]
    checks = check_rendered(view, [rendered, *variants], from_name=settings.email.from_name)
    files = _preview_files(settings, view, select_stories(view, topics), rendered, checks, segment, rows)
    for variant in variants:
        html, _ = personalise(variant, preview_values(settings, view.issue.id))
        files[f"segments/{variant.segment}.html"] = html.encode("utf-8")
    images, shots = _screenshots(files, on_progress) if screenshots else ({}, [])
    if shots:
        files.update(images)
        files["index.html"] = _preview_files(
            settings, view, select_stories(view, topics), rendered, checks, segment, rows, screenshots=shots
        )["index.html"]
    replace_folder(folder, files, PREVIEW, settings)
    folder = folder.resolve()
    because = _no_screenshots_because() if screenshots and not shots else ""
    return PreviewResult(folder, folder / "index.html", rendered, checks, rows, bool(shots), because)


def _no_screenshots_because() -> str:
    from digest.issues import browser

    return browser.missing()


def _screenshots(
    files: dict[str, bytes], on_progress: Callable[[str], None] | None = None
) -> tuple[dict[str, bytes], list[Any]]:
    """PNG screenshots of the email in a real browser, when one is installed."""
    from digest.issues import browser

    if not browser.available():
        return {}, []
    with tempfile.TemporaryDirectory(prefix="digest-shots-") as scratch:
        email_file = Path(scratch) / "email.html"
        email_file.write_bytes(files["email.html"])
        taken = browser.screenshot_email(email_file, Path(scratch), on_progress=on_progress)
        return {shot.file: (Path(scratch) / shot.file).read_bytes() for shot in taken}, taken


def _preview_files(
    settings: Settings,
    view: IssueView,
    variant_view: IssueView,
    rendered: RenderedEmail,
    checks: CheckReport,
    segment: str | None,
    segment_rows: list[SegmentPreview],
    *,
    screenshots: list[Any] | None = None,
) -> dict[str, bytes]:
    issue = view.issue
    personal = preview_values(settings, issue.id)
    html, text = personalise(rendered, personal)
    message = build_message(
        settings,
        subject=rendered.subject,
        html=html,
        text=text,
        envelope=Envelope(
            to_address=PREVIEW_RECIPIENT,
            to_name="Preview Reader",
            unsubscribe_url=personal.unsubscribe_url,
        ),
    )
    files: dict[str, bytes] = {
        "email.html": html.encode("utf-8"),
        "email.txt": text.encode("utf-8"),
        "email.eml": message_bytes(message),
    }
    for name, page in archive_pages(variant_view, settings, segment=segment).items():
        files[f"archive/{issue.id}/{name}"] = page.encode("utf-8")
    listing = IssueListing(issue.id, human_date(issue.date), issue.subject)
    files["archive/index.html"] = archive_index(settings, [listing]).encode("utf-8")
    context: dict[str, Any] = {
        "org": settings.organisation,
        "language": settings.language,
        "home_url": "index.html",
        "issue_id": issue.id,
        "issue_date": human_date(issue.date),
        "segment": segment,
        "subject": rendered.subject,
        "preheader": rendered.preheader,
        "from_name": settings.email.from_name,
        "story_count": len(rendered.story_ids),
        "html_size": kb(len(rendered.html.encode("utf-8"))),
        "rendered_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "checks": checks.checks,
        "segments": segment_rows,
        "screenshots": screenshots or [],
        "text": text,
    }
    files["index.html"] = render_web_page(settings, "preview.html.j2", context).encode("utf-8")
    return files
