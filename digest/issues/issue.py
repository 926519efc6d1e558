"""Issues: ``issues/<id>/issue.yaml`` files that an editor composes and edits.

(:mod:`digest.issues.drafting` drafts the file from the articles of the week.)
``load_issue`` reads it and checks everything, naming the file and line of any
problem; ``resolve_issue`` joins it with the stored articles into what gets
rendered.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from digest.articles.store import Article, get_articles
from digest.articles.summary import summarise
from digest.config import Settings
from digest.errors import InputError, NotFoundError, StateError
from digest.files import atomic_write_text
from digest.topics import check_topics
from digest.yamlfile import YamlDocument, load_yaml, read_yaml

ISSUE_FILE = "issue.yaml"
_ISSUE_KEYS = {
    "date",
    "window",
    "grouping",
    "subject",
    "preheader",
    "introduction",
    "lead",
    "sections",
    "editor_note",
}
_STORY_KEYS = {"id", "summary", "note", "url", "full", "pin", "topics"}
_SECTION_KEYS = {"title", "stories"}
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ISSUE_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?=$|[^0-9])")


@dataclass(frozen=True)
class StoryRef:
    """A story as the issue file names it, with the editor's overrides."""

    article_id: str
    summary: str = ""
    note: str = ""
    url: str = ""  # where "Read the full story" goes, for this issue
    full: bool = False
    pin: bool = False
    topics: tuple[str, ...] | None = None
    line: int | None = None


@dataclass(frozen=True)
class SectionRef:
    title: str
    stories: tuple[StoryRef, ...]
    line: int | None = None


@dataclass(frozen=True)
class Issue:
    """A loaded, checked issue file."""

    id: str
    path: Path
    date: datetime.date
    window_start: datetime.date
    window_end: datetime.date  # exclusive
    grouping: str
    subject: str
    preheader: str
    introduction: str
    editor_note: str
    lead: StoryRef | None
    sections: tuple[SectionRef, ...]

    @property
    def folder(self) -> Path:
        return self.path.parent

    def story_refs(self) -> list[StoryRef]:
        refs = [self.lead] if self.lead else []
        return refs + [story for section in self.sections for story in section.stories]


@dataclass(frozen=True)
class Story:
    """A story ready to render: the article plus the editor's choices."""

    article: Article
    summary: str
    note: str
    full: bool
    pin: bool
    topics: tuple[str, ...]
    is_lead: bool = False
    url: str = ""  # the original: the issue file's url, else the article's

    @property
    def id(self) -> str:
        return self.article.id


@dataclass(frozen=True)
class Section:
    title: str
    stories: tuple[Story, ...]


@dataclass(frozen=True)
class IssueView:
    """An issue joined with its articles: everything rendering needs."""

    issue: Issue
    lead: Story | None
    sections: tuple[Section, ...]

    def stories(self) -> list[Story]:
        found = [self.lead] if self.lead else []
        return found + [story for section in self.sections for story in section.stories]


# --- locating issues ------------------------------------------------------------------


def issue_path(settings: Settings, ref: str) -> Path:
    """The issue.yaml for an issue id (its folder name) or a path to the file or folder."""
    candidate = Path(ref)
    if candidate.is_file():
        return candidate.resolve()
    if candidate.is_dir() and (candidate / ISSUE_FILE).is_file():
        return (candidate / ISSUE_FILE).resolve()
    if _ID_RE.match(ref):
        in_issues = settings.issues_dir / ref / ISSUE_FILE
        if in_issues.is_file():
            return in_issues.resolve()
    known = list_issue_ids(settings)
    hint = f"; known issues: {', '.join(known[-5:])}" if known else "; create one with `digest issue new`"
    raise NotFoundError(f"no issue {ref!r} in {settings.issues_dir}{hint}")


def list_issue_ids(settings: Settings) -> list[str]:
    if not settings.issues_dir.is_dir():
        return []
    return sorted(p.parent.name for p in settings.issues_dir.glob(f"*/{ISSUE_FILE}"))


def window_for(issue_date: date, days: int) -> tuple[date, date]:
    """The articles of an issue: published on or after ``date - days``, before ``date``."""
    return issue_date - timedelta(days=days), issue_date


def human_date(value: date | None) -> str:
    """'10 April 2025', as British readers write it ('undated' for an article imported without a date)."""
    if value is None:
        return "undated"
    return f"{value.day} {value.strftime('%B')} {value.year}"


# --- loading and checking -------------------------------------------------------------


def load_issue(settings: Settings, ref: str, engine: Engine | None = None) -> Issue:
    """Read and check an issue file; with ``engine``, article ids are checked too."""
    path = issue_path(settings, ref)
    issue = _parse_issue(read_yaml(path), path, settings)
    if engine is not None:
        _check_article_ids(engine, issue)
    return issue


def parse_issue_text(settings: Settings, text: str, path: Path, engine: Engine | None = None) -> Issue:
    """Check the text of an issue file that is not (yet) on disk, as :func:`load_issue` checks a file.

    ``path`` is where the text belongs: it names the issue (its folder) and the errors.
    """
    issue = _parse_issue(load_yaml(text, path), path, settings)
    if engine is not None:
        _check_article_ids(engine, issue)
    return issue


def _check_article_ids(engine: Engine, issue: Issue) -> None:
    present = get_articles(engine, [story.article_id for story in issue.story_refs()])
    for story in issue.story_refs():
        if story.article_id not in present:
            raise InputError(
                f"unknown article id {story.article_id!r}; `digest articles list` shows the ids",
                path=issue.path,
                line=story.line,
            )


# --- saving an edited file ------------------------------------------------------------


class IssueChangedError(StateError):
    """The issue file changed on disk since the editor loaded it; nothing was written."""

    def __init__(self, path: Path, current_text: str | None) -> None:
        self.path = path
        self.current_text = current_text  # None: the file is gone or unreadable
        super().__init__(f"{path} was changed by someone or something else since you opened it; nothing was saved")


ABSENT = "absent"  # the expected "hash" of a file that must not exist (it is written again)


def text_hash(text: str) -> str:
    """The fingerprint that tells whether an issue file changed since it was read."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_issue_text(path: Path) -> str:
    """The issue file's text exactly as stored (UTF-8, a byte-order mark dropped)."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text; save it as UTF-8", path=path) from None


def save_issue_text(settings: Settings, engine: Engine, path: Path, text: str, *, expected_hash: str) -> Issue:
    """Check ``text`` as an issue file and write it over ``path``, atomically.

    ``expected_hash`` is the :func:`text_hash` of the file as the editor loaded
    it (or :data:`ABSENT` to write it again after it was deleted). If the file
    on disk has changed since, nothing is written and
    :class:`IssueChangedError` carries what is there now, so the change is shown
    and never silently overwritten. Text that would not load is refused too.
    """
    issue = parse_issue_text(settings, text, path, engine)
    try:
        current: str | None = read_issue_text(path)
    except (NotFoundError, InputError):
        current = None
    if (text_hash(current) if current is not None else ABSENT) != expected_hash:
        raise IssueChangedError(path, current)
    atomic_write_text(path, text)
    return issue


def _parse_issue(doc: YamlDocument, path: Path, settings: Settings) -> Issue:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error("the issue file must be a mapping of settings (date:, subject:, sections: …)")
    unknown = sorted(set(data) - _ISSUE_KEYS, key=str)
    if unknown:
        raise doc.error(
            f"unknown key {unknown[0]!r}; expected one of {', '.join(sorted(_ISSUE_KEYS))}",
            unknown[0],
        )
    issue_date = _date(doc, data.get("date"), "date")
    folder_date = _ISSUE_DATE_RE.match(path.parent.name)
    if folder_date and folder_date.group() != issue_date.isoformat():
        raise doc.error(
            f"date {issue_date.isoformat()} differs from the folder's name {path.parent.name}; the issue's id, "
            "its archive address and its send come from the folder, so make them agree",
            "date",
        )
    window = data.get("window") or {}
    if not isinstance(window, dict) or set(window) - {"from", "until"}:
        raise doc.error("window must have 'from' and 'until' dates", "window")
    default_start, default_end = window_for(issue_date, settings.issue_days)
    start = _date(doc, window.get("from", default_start), "window", "from")
    until = _date(doc, window.get("until", default_end - timedelta(days=1)), "window", "until")
    if until < start:
        raise doc.error("window 'until' is before 'from'", "window", "until")
    grouping = data.get("grouping", settings.grouping)
    if grouping not in ("topic", "source"):
        raise doc.error("grouping must be 'topic' or 'source'", "grouping")
    subject = _line(doc, data.get("subject"), "subject")
    if not subject:
        raise doc.error("subject is empty; every issue needs a subject line", "subject")
    seen: dict[str, int | None] = {}
    lead = None
    if data.get("lead") not in (None, ""):
        lead = _story(doc, data["lead"], settings, seen, "lead")
    sections_raw = data.get("sections") or []
    if not isinstance(sections_raw, list):
        raise doc.error("sections must be a list", "sections")
    sections = tuple(_section(doc, raw, settings, seen, index) for index, raw in enumerate(sections_raw))
    if lead is None and not any(section.stories for section in sections):
        raise doc.error("the issue has no stories; add a lead or a section with stories")
    return Issue(
        id=path.parent.name,
        path=path,
        date=issue_date,
        window_start=start,
        window_end=until + timedelta(days=1),
        grouping=grouping,
        subject=subject,
        preheader=_line(doc, data.get("preheader"), "preheader"),
        introduction=_text(doc, data.get("introduction"), "introduction"),
        editor_note=_text(doc, data.get("editor_note"), "editor_note"),
        lead=lead,
        sections=sections,
    )


def _section(doc: YamlDocument, raw: Any, settings: Settings, seen: dict[str, int | None], index: int) -> SectionRef:
    where = ("sections", index)
    if not isinstance(raw, dict):
        raise doc.error("each section needs 'title:' and 'stories:'", *where)
    unknown = sorted(set(raw) - _SECTION_KEYS, key=str)
    if unknown:
        raise doc.error(f"unknown section key {unknown[0]!r}; use title and stories", *where, unknown[0])
    title = _text(doc, raw.get("title"), *where, "title")
    if not title:
        raise doc.error("a section needs a title", *where)
    stories_raw = raw.get("stories") or []
    if not isinstance(stories_raw, list):
        raise doc.error("stories must be a list of article ids", *where, "stories")
    stories = tuple(
        _story(doc, item, settings, seen, *where, "stories", number) for number, item in enumerate(stories_raw)
    )
    return SectionRef(title=title, stories=stories, line=doc.line(*where))


def _story(doc: YamlDocument, raw: Any, settings: Settings, seen: dict[str, int | None], *where: str | int) -> StoryRef:
    line = doc.line(*where)
    if isinstance(raw, str | int) and not isinstance(raw, bool):
        raw = {"id": str(raw)}
    if not isinstance(raw, dict) or "id" not in raw:
        raise doc.error("a story is an article id, or a mapping with 'id:'", *where)
    unknown = sorted(set(raw) - _STORY_KEYS, key=str)
    if unknown:
        raise doc.error(f"unknown story key {unknown[0]!r}; use {', '.join(sorted(_STORY_KEYS))}", *where, unknown[0])
    article_id = str(raw["id"]).strip()
    if not _ID_RE.match(article_id):
        raise doc.error(f"{article_id!r} is not an article id", *where)
    if article_id in seen:
        raise doc.error(f"article {article_id!r} appears twice (first on line {seen[article_id]})", *where)
    seen[article_id] = line
    topics = raw.get("topics")
    if topics is not None:
        if isinstance(topics, str):
            topics = [topics]
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise doc.error("topics must be a list of topic names", *where, "topics")
        unknown_topics = check_topics(topics, settings.topics)
        if unknown_topics:
            raise doc.error(
                f"unknown topic {unknown_topics[0]!r}; known topics: {', '.join(settings.topic_slugs)}",
                *where,
                "topics",
            )
    for flag in ("full", "pin"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise doc.error(f"{flag} must be true or false", *where, flag)
    url = _line(doc, raw.get("url"), *where, "url")
    if url and not re.match(r"^https?://[^\s/]+\S*$", url):
        raise doc.error(f"url {url!r} must be a web address starting with https://", *where, "url")
    return StoryRef(
        article_id=article_id,
        summary=_text(doc, raw.get("summary"), *where, "summary"),
        note=_text(doc, raw.get("note"), *where, "note"),
        url=url,
        full=bool(raw.get("full", False)),
        pin=bool(raw.get("pin", where[0] == "lead")),
        topics=tuple(topics) if topics is not None else None,
        line=line,
    )


def _text(doc: YamlDocument, value: Any, *where: str | int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise doc.error(f"{where[-1]} must be text", *where)
    return str(value).strip()


def _line(doc: YamlDocument, value: Any, *where: str | int) -> str:
    """One line of text: a subject or preheader ends up in a mail header, where a line break
    or other control character would split or corrupt it."""
    text = _text(doc, value, *where)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise doc.error(f"{where[-1]} must be one line, without line breaks or control characters", *where)
    return text


def _date(doc: YamlDocument, value: Any, *where: str | int) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise doc.error(f"{where[-1]} must be a date written YYYY-MM-DD, not {value!r}", *where)


# --- joining with the article store ---------------------------------------------------


def resolve_issue(engine: Engine, settings: Settings, issue: Issue) -> IssueView:
    """Join the issue with its articles and work out each story's summary and topics."""
    found = get_articles(engine, [story.article_id for story in issue.story_refs()])
    missing = [ref for ref in issue.story_refs() if ref.article_id not in found]
    if missing:
        raise InputError(
            f"unknown article id {missing[0].article_id!r}; `digest articles list` shows the ids",
            path=issue.path,
            line=missing[0].line,
        )

    def story(ref: StoryRef, is_lead: bool = False) -> Story:
        article = found[ref.article_id]
        summary = story_summary(article, ref.summary, settings)
        topics = ref.topics if ref.topics is not None else tuple(article.topics)
        return Story(article, summary, ref.note, ref.full, ref.pin, topics, is_lead, ref.url or article.url)

    lead = story(issue.lead, True) if issue.lead else None
    sections = tuple(
        Section(section.title, tuple(story(ref) for ref in section.stories))
        for section in issue.sections
        if section.stories
    )
    return IssueView(issue=issue, lead=lead, sections=sections)


def story_summary(article: Article, override: str, settings: Settings) -> str:
    """What a story says under its title: the editor's summary, the article's own, or an automatic one."""
    return override or article.summary or summarise(article.body, settings.summary_words)


def load_view(engine: Engine, settings: Settings, ref: str) -> IssueView:
    """Load, check and resolve an issue in one step."""
    return resolve_issue(engine, settings, load_issue(settings, ref))


def select_stories(view: IssueView, topics: frozenset[str] | None) -> IssueView:
    """The issue as a reader limited to ``topics`` sees it (None: everything).

    Pinned stories (the lead, unless the editor says otherwise) reach everyone;
    sections left empty disappear.
    """
    if topics is None:
        return view

    def keep(story: Story) -> bool:
        return story.pin or bool(topics.intersection(story.topics))

    lead = view.lead if view.lead and keep(view.lead) else None
    sections = tuple(
        Section(section.title, kept)
        for section in view.sections
        if (kept := tuple(story for story in section.stories if keep(story)))
    )
    return IssueView(issue=view.issue, lead=lead, sections=sections)
