"""Pre-send checks of an issue: the list `digest check` prints and the preview shows."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from digest.config import Organisation, Settings
from digest.issues.issue import IssueView
from digest.issues.render import TOKEN_RE, RenderedEmail, Renderings
from digest.issues.wording import copy_mismatches, greeting_of
from digest.topics import TopicRule

if TYPE_CHECKING:
    from digest.people.segments import Segment

# Gmail clips a message whose HTML is larger than about 102 KB and hides the
# rest (including the unsubscribe link) behind "View entire message".
GMAIL_CLIP_BYTES = 102 * 1024
SIZE_WARNING_BYTES = 90 * 1024
SUBJECT_WARN_CHARS = 78
SUBJECT_MAX_CHARS = 200
PREHEADER_WARN_CHARS = 150
SUMMARY_WARN_CHARS = 1_000  # an automatic summary is about 400; ten times that is an article

ERROR, WARNING, OK = "error", "warning", "ok"


@dataclass(frozen=True)
class Check:
    level: str  # error | warning | ok
    code: str
    message: str
    # What it is about, for the studio to link: "subject", "introduction", "story:<id>", "summary:<id>"…
    where: str = ""


@dataclass
class CheckReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def errors(self) -> list[Check]:
        return [check for check in self.checks if check.level == ERROR]

    @property
    def warnings(self) -> list[Check]:
        return [check for check in self.checks if check.level == WARNING]

    @property
    def passed(self) -> bool:
        return not self.errors

    def add(self, level: str, code: str, message: str, where: str = "") -> None:
        self.checks.append(Check(level, code, message, where))


class _LinkAndImageScanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.ids: set[str] = set()
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "a":
            if attributes.get("name"):
                self.names.add(str(attributes["name"]))
            if "href" in attributes:
                self.links.append((attributes.get("href") or "").strip())
        elif tag == "img":
            self.images.append(attributes)


def scan_html(html: str) -> tuple[list[str], list[dict[str, str | None]]]:
    """(hrefs, img attribute maps) of an HTML document."""
    scanner = _scan(html)
    return scanner.links, scanner.images


def _scan(html: str) -> _LinkAndImageScanner:
    scanner = _LinkAndImageScanner()
    scanner.feed(html)
    scanner.close()
    return scanner


def kb(size: int) -> str:
    return f"{size / 1024:.1f} KB"


def check_rendered(view: IssueView, variants: Sequence[RenderedEmail], *, from_name: str = "") -> CheckReport:
    """Every check over an issue and its rendered variants (the largest decides size).

    ``from_name`` is the sender's name, which the subject need not repeat.
    """
    report = CheckReport()
    issue = view.issue
    _check_size(report, variants)
    _check_subject(report, issue.subject, from_name)
    _check_preheader(report, issue.subject, issue.preheader, variants)
    if not issue.introduction:
        report.add(WARNING, "introduction", "the introduction is empty", "introduction")
    greeting = greeting_of(issue.introduction)
    if greeting:
        report.add(
            WARNING,
            "greeting",
            f"the introduction opens with its own greeting ({greeting!r}), so the email leaves out its "
            "'Dear <first name>,'; delete yours to greet each reader by name",
            "introduction",
        )
    for variant in variants:
        _check_links_and_images(report, variant)
        _check_copy_words(report, view, variant)
    _check_stories(report, view)
    _check_placeholder_lookalikes(report, view)
    return report


def _check_preheader(report: CheckReport, subject: str, preheader: str, variants: Sequence[RenderedEmail]) -> None:
    if not preheader:
        longest = max((len(v.preheader) for v in variants), default=0)
        report.add(
            OK, "preheader", f"preheader: each copy names its own stories (up to {longest} characters)", "preheader"
        )
    elif len(preheader) > PREHEADER_WARN_CHARS:
        report.add(
            WARNING, "preheader", f"preheader is {len(preheader)} characters; inboxes show about 100", "preheader"
        )
    elif subject.casefold() in preheader.casefold() or preheader.casefold() in subject.casefold():
        report.add(
            WARNING,
            "preheader",
            "the preheader repeats the subject, and inboxes show them side by side; say something new, "
            "or leave it empty to name each copy's stories",
            "preheader",
        )
    else:
        report.add(OK, "preheader", f"preheader set ({len(preheader)} characters)", "preheader")


def _check_copy_words(report: CheckReport, view: IssueView, variant: RenderedEmail) -> None:
    """Counts, sources and titles in the editor's words that are untrue of a copy."""
    which = f"the {variant.segment} copy" if variant.segment else "the whole issue"
    for problem in copy_mismatches(view, variant.story_ids):
        report.add(WARNING, "copy", f"{which}: {problem}", "subject" if "the subject" in problem else "introduction")


# Text that looks like a placeholder (``%%name%%``) outside the templates.
_LOOKALIKE = re.compile(r"%%\s*[A-Za-z_]+\s*%%")


def _check_placeholder_lookalikes(report: CheckReport, view: IssueView) -> None:
    """Content that looks like a per-recipient placeholder: shown as text, never filled."""
    issue = view.issue
    places = [
        ("the issue", name, getattr(issue, name), name)
        for name in ("subject", "preheader", "introduction", "editor_note")
    ]
    for story in view.stories():
        article = story.article
        places += [(story.id, "title", article.title, f"story:{story.id}")]
        places += [(story.id, "summary", story.summary, f"summary:{story.id}")]
        places += [(story.id, "note", story.note, f"note:{story.id}"), (story.id, "link", story.url, f"url:{story.id}")]
        places += [(story.id, "text", json.dumps(article.body, ensure_ascii=False), f"story:{story.id}")]
    for where, field_name, text, field_at in places:
        found = _LOOKALIKE.search(text or "")
        if found:
            report.add(
                WARNING,
                "placeholders",
                f"{where}: its {field_name} contains {found.group(0)!r}; placeholders come only from the templates, "
                "so it is sent as plain text and filled for nobody",
                field_at,
            )


def _check_size(report: CheckReport, variants: Sequence[RenderedEmail]) -> None:
    largest = max(variants, key=lambda v: len(v.html.encode("utf-8")))
    size = len(largest.html.encode("utf-8"))
    which = f" ({largest.segment})" if largest.segment and len(variants) > 1 else ""
    if size > GMAIL_CLIP_BYTES:
        report.add(
            ERROR,
            "size",
            f"HTML is {kb(size)}{which}; Gmail clips emails above {kb(GMAIL_CLIP_BYTES)} and hides "
            "the rest, unsubscribe link included: drop stories or show summaries instead of full text",
        )
    elif size > SIZE_WARNING_BYTES:
        report.add(
            WARNING, "size", f"HTML is {kb(size)}{which}, close to Gmail's clipping limit of {kb(GMAIL_CLIP_BYTES)}"
        )
    else:
        report.add(OK, "size", f"HTML is {kb(size)}{which} (Gmail clips above {kb(GMAIL_CLIP_BYTES)})")


_COLON = re.compile(r"(?<!\d):|:(?!\d)")  # not the colon of a time such as 10:30


def _check_subject(report: CheckReport, subject: str, from_name: str = "") -> None:
    length = len(subject)
    if not subject.strip():
        report.add(ERROR, "subject", "the subject is empty", "subject")
    elif length > SUBJECT_MAX_CHARS:
        report.add(
            ERROR, "subject", f"the subject is {length} characters; keep it under {SUBJECT_WARN_CHARS}", "subject"
        )
    elif length > SUBJECT_WARN_CHARS:
        report.add(
            WARNING,
            "subject",
            f"the subject is {length} characters; most inboxes cut it off after about {SUBJECT_WARN_CHARS}",
            "subject",
        )
    else:
        report.add(OK, "subject", f"subject is {length} characters", "subject")
    if from_name and from_name.casefold() in subject.casefold():
        report.add(
            WARNING,
            "subject",
            f"the subject repeats the sender's name {from_name!r}, which inboxes already show beside it; "
            "use the room for the news",
            "subject",
        )
    if len(_COLON.findall(subject)) >= 2:
        report.add(WARNING, "subject", "the subject has two colons; it reads better with one", "subject")


def _check_links_and_images(report: CheckReport, variant: RenderedEmail) -> None:
    scanner = _scan(variant.html)
    links, images = scanner.links, scanner.images
    which = f" in the {variant.segment} variant" if variant.segment else ""
    bad_links, browsers_only = [], []
    for href in links:
        if TOKEN_RE.fullmatch(href) or href.startswith("mailto:"):
            continue  # filled per recipient at send time / a mail link
        if not href or href == "#":
            bad_links.append("an empty link")
        elif href.startswith("#"):
            if href[1:] in scanner.ids - scanner.names:
                browsers_only.append(href[1:])
            elif href[1:] not in scanner.names:
                bad_links.append(f"a link to {href}, which is not in the email")
        elif not href.startswith("https://"):
            bad_links.append(f"a link that is not https: {href}")
    for problem in dict.fromkeys(bad_links):
        report.add(ERROR, "links", f"{problem}{which}")
    for target in dict.fromkeys(browsers_only):
        report.add(
            WARNING,
            "links",
            f"a link to #{target}, which only browsers follow: Outlook for Windows and Gmail jump only to an "
            f'<a name="{target}">{which}',
        )
    if not bad_links:
        inside = sum(1 for href in links if href.startswith("#"))
        within = f" ({inside} to stories further down)" if inside else ""
        report.add(OK, "links", f"{len(links) - inside} links, all https{within}{which}")
    for image in images:
        if not (image.get("alt") or "").strip():
            report.add(ERROR, "images", f"image {image.get('src') or '(no src)'} has no alt text{which}")
    for token in ("unsubscribe_url",):
        marker = f"%%{token}%%"
        if marker not in variant.html or marker not in variant.text:
            report.add(ERROR, "unsubscribe", f"the unsubscribe link is missing from the HTML or text{which}")


def _check_stories(report: CheckReport, view: IssueView) -> None:
    issue = view.issue
    for story in view.stories():
        article = story.article
        for message in article.import_warnings:
            report.add(WARNING, "import", f"{article.id}: {message}", f"story:{article.id}")
        if not story.summary and not story.full:
            report.add(
                WARNING, "summary", f"{article.id} has no summary; add one in issue.yaml", f"summary:{article.id}"
            )
        elif len(story.summary) > SUMMARY_WARN_CHARS and not story.full:
            report.add(
                WARNING,
                "summary",
                f"the summary of {article.id} is {len(story.summary):,} characters; readers expect a paragraph "
                f"(under {SUMMARY_WARN_CHARS:,}): shorten it, or show the whole article instead",
                f"summary:{article.id}",
            )
        if article.published is None:
            report.add(
                ERROR,
                "date",
                f"{article.id} has no date (it could not be read when it was imported); "
                f"date it with `digest articles edit {article.id} --published YYYY-MM-DD`",
                f"story:{article.id}",
            )
        elif not issue.window_start <= article.published < issue.window_end:
            report.add(
                WARNING,
                "window",
                f"{article.id} was published {article.published.isoformat()}, outside the issue's window "
                f"({issue.window_start.isoformat()} to the day before {issue.window_end.isoformat()})",
                f"story:{article.id}",
            )


def _check_section_topics(report: CheckReport, view: IssueView, topics: Sequence[TopicRule]) -> None:
    """A story under a section named after a topic the story does not have (in this issue)."""
    by_label = {rule.label.casefold(): rule.slug for rule in topics}
    for section in view.sections:
        slug = by_label.get(section.title.casefold())
        for story in section.stories if slug else ():
            if slug not in story.topics:
                report.add(
                    WARNING,
                    "sections",
                    f"{story.id} is under {section.title!r} but is not about {slug} (its topics: "
                    f"{', '.join(story.topics) or 'none'}): move it, or give it that topic in this issue",
                    f"story:{story.id}",
                )


def check_view(
    view: IssueView,
    settings: Settings,
    renderings: Renderings | None = None,
    *,
    segments: Sequence[Segment] | None = None,
) -> CheckReport:
    """Check an issue and every segment's copy, from ``renderings`` when given (each rendered once).

    ``segments``: the segments file as already read (None: read it here).
    """
    from digest.people.segments import load_segments

    renderings = renderings or Renderings(view, settings)
    variants = [renderings.variant()]
    if segments is None and settings.segments_file.is_file():
        segments = load_segments(settings)
    for segment in segments or ():
        variants.append(replace(renderings.variant(segment.topics), segment=segment.name))
    report = check_rendered(view, variants, from_name=settings.email.from_name)
    _check_footer(report, settings.organisation, variants)
    _check_section_topics(report, view, settings.topics)
    return report


_ANY_SPACE = re.compile(r"\s+")


def _check_footer(report: CheckReport, organisation: Organisation, variants: Sequence[RenderedEmail]) -> None:
    """Who sends the email, in its footer: UK rules on marketing email (PECR) and on company stationery
    expect the sender's name and postal address, and a reader is owed a privacy notice."""
    if not organisation.privacy_url:
        report.add(
            WARNING,
            "footer",
            "the footer has no privacy notice link: set [organisation] privacy_url in digest.toml "
            "(a reader is owed one where their address is used)",
        )
    if not organisation.address:
        report.add(
            WARNING,
            "footer",
            "the footer has no postal address: set [organisation] address in digest.toml "
            "(UK rules on marketing email and on company stationery expect the sender's name and address)",
        )
    # A project's own templates may leave out what is configured.
    wanted = [(key, getattr(organisation, key)) for key in ("name", "address", "registration", "privacy_url")]
    problems = []
    for variant in variants:
        parts = {"HTML": html_lib.unescape(variant.html), "text part": variant.text}
        for part, content in parts.items():
            flat = _ANY_SPACE.sub(" ", content.replace("\u00a0", " "))
            problems += [
                f"the {part} leaves out [organisation] {key} ({value})"
                for key, value in wanted
                if value and _ANY_SPACE.sub(" ", value) not in flat
            ]
    for problem in dict.fromkeys(problems):
        report.add(WARNING, "footer", problem)


def check_issue(engine: Engine, settings: Settings, ref: str) -> CheckReport:
    """Load, render and check an issue and every segment's copy: what `digest check` runs."""
    from digest.issues.issue import load_view

    return check_view(load_view(engine, settings, ref), settings)
