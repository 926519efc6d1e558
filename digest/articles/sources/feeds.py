"""RSS and Atom feeds, read through feedparser."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any
from xml.sax import SAXParseException
from zoneinfo import ZoneInfo

from digest.articles.content import Block, clean_text, html_to_blocks, merge_runs, safe_href
from digest.articles.sources.dates import DateReader, day_of
from digest.articles.sources.parsed import ParsedArticle, ParseResult
from digest.errors import InputError

DEFAULT_TIMEZONE = "Europe/London"
# C0 and C1 control characters other than tab and newlines: never wanted in a title.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TIME_OF_DAY_RE = re.compile(r"\d{1,2}:\d{2}")
_ENTITY_TEXT_RE = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_EMAIL_IN_AUTHOR_RE = re.compile(r"^\s*(?P<email>[^\s@()<>]+@[^\s@()<>]+)\s*\((?P<name>[^()]*)\)\s*$")
_NAME_WITH_EMAIL_RE = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<[^<>@\s]+@[^<>\s]+>\s*$")
_BARE_EMAIL_RE = re.compile(r"^\s*[^\s@]+@[^\s@]+\s*$")


def parse_feed(
    data: bytes, *, origin: str, source_name: str | None = None, timezone: str = DEFAULT_TIMEZONE
) -> ParseResult:
    """RSS 0.9x/1.0/2.0 and Atom feeds through feedparser.

    What feedparser can read is imported, even from a feed that is not
    well-formed XML (an undeclared ``&nbsp;``, a stray control character), with
    a warning naming the problem; only a document it cannot read at all is
    refused. Titles and authors become plain text, and dates are the
    organisation's dates in ``timezone``, not UTC's.
    """
    import feedparser

    parsed: Any = feedparser.parse(data)
    result = ParseResult()
    zone = ZoneInfo(timezone)
    titled = [entry for entry in parsed.entries if feed_text(entry, "title")]
    if parsed.bozo:
        exc = parsed.get("bozo_exception")
        line = exc.getLineNumber() if isinstance(exc, SAXParseException) else None
        problem = _xml_problem(data, exc)
        # Broken XML that gave no story, or nothing recognisable as a feed at all.
        if not titled and (isinstance(exc, SAXParseException) or not (parsed.entries or parsed.version)):
            raise InputError(f"not a readable RSS or Atom feed ({problem})", path=origin, line=line)
        where = f"{origin}, line {line}" if line else origin
        if isinstance(exc, SAXParseException):
            result.warnings.append(
                f"{where}: not well-formed XML ({problem}); feedparser read it leniently, "
                f"so check the {len(titled)} stories it gave"
            )
        else:
            result.warnings.append(f"{where}: {problem}")
    if not parsed.entries:
        if not parsed.version:
            raise InputError("not an RSS or Atom feed", path=origin)
        result.warnings.append(f"{origin}: the feed has no entries")
        return result
    feed_title = feed_text(parsed.feed, "title") or origin
    reader = DateReader(str(parsed.feed.get("language") or ""))
    for number, entry in enumerate(parsed.entries, start=1):
        title = feed_text(entry, "title")
        if not title:
            result.warnings.append(f"{origin}: entry {number} has no title; skipped")
            continue
        published, unread = _entry_date(entry, zone, reader)
        own: list[str] = []
        if published is None:
            # Never today's date (nor the feed's, which is when it was built): an old story
            # would be drafted into this week's issue. Undated, it waits for the editor.
            said = f"its date {unread!r} could not be read" if unread else "it has no date"
            own.append(
                f"{origin}: entry {number} ({title!r}): {said}; imported undated and left out of drafts "
                "until you date it: `digest articles list` shows it as undated, "
                "`digest articles edit <id> --published YYYY-MM-DD` dates it"
            )
            result.warnings.extend(own)
        source_detail = entry.get("source") or {}
        source = source_name or feed_text(source_detail, "title") or feed_title
        result.articles.append(
            ParsedArticle(
                source=source,
                title=title,
                published=published,
                author=feed_author(entry),
                url=safe_href(entry.get("link")) or "",
                body=_entry_blocks(entry),
                origin=origin,
                warnings=own,
            )
        )
    return result


def feed_text(element: Any, name: str) -> str:
    """A text construct of a feed or entry (title, summary…) as one line of plain text.

    feedparser says in ``<name>_detail.type`` whether the value is plain text
    or HTML; HTML (the usual case for RSS titles) carries markup and entities
    such as ``&#8217;`` and ``&amp;``, which must not reach a stored title.
    """
    value = element.get(name) or ""
    if not isinstance(value, str):
        return ""
    kind = (element.get(f"{name}_detail") or {}).get("type", "text/plain")
    # Only text/plain is taken as it stands, and even then entity text means
    # HTML labelled as text (publishers double-escape; Atom 0.3 base64 titles).
    if kind != "text/plain" or _ENTITY_TEXT_RE.search(value):
        value = html_to_text(value)
    return clean_text(_CONTROL_RE.sub(" ", value))


def html_to_text(html: str) -> str:
    """The text of an HTML fragment: tags dropped, entities decoded, script and style left out."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        elif tag in ("br", "p", "div", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def feed_author(entry: Any) -> str:
    """The author's name: RSS writes ``newsdesk@example.org (Network News Desk)``; we keep the name."""
    detail = entry.get("author_detail") or {}
    name = detail.get("name") if isinstance(detail, dict) else None
    raw = name or entry.get("author") or ""
    if not isinstance(raw, str):
        return ""
    text = clean_text(_CONTROL_RE.sub(" ", raw))
    for pattern in (_EMAIL_IN_AUTHOR_RE, _NAME_WITH_EMAIL_RE):
        match = pattern.match(text)
        if match:
            return clean_text(match.group("name"))
    return "" if _BARE_EMAIL_RE.match(text) else text


def _xml_problem(data: bytes, exc: Any) -> str:
    """What is wrong, in words an editor can act on: the undeclared entity or the control character."""
    if not isinstance(exc, SAXParseException):
        return str(exc)
    message = str(exc.getMessage())
    lines = data.split(b"\n")
    number, column = exc.getLineNumber() or 0, exc.getColumnNumber() or 0
    if 1 <= number <= len(lines):
        # expat counts the column in bytes of the document.
        rest = lines[number - 1][column:].decode("utf-8", "replace")
        entity = re.match(r"&[A-Za-z_][\w.-]*;", rest)
        if message == "undefined entity" and entity:
            return f"undefined entity {entity.group()}"
        if rest and _CONTROL_RE.match(rest[0]):
            return f"control character U+{ord(rest[0]):04X}"
    return message


def _entry_blocks(entry: Any) -> list[Block]:
    contents = entry.get("content") or []
    html = contents[0].get("value", "") if contents else entry.get("summary", "")
    if not html:
        return []
    kind = contents[0].get("type", "") if contents else entry.get("summary_detail", {}).get("type", "")
    if kind == "text/plain":
        return [
            {"type": "p", "runs": merge_runs([{"text": _CONTROL_RE.sub(" ", part)}])} for part in html.split("\n\n")
        ]
    return html_to_blocks(_CONTROL_RE.sub(" ", html))


def _entry_date(entry: Any, zone: ZoneInfo, reader: DateReader) -> tuple[date | None, str]:
    """The entry's date in the organisation's time zone, or None and the text that could not be read.

    feedparser gives UTC: a story updated at 00:01 British Summer Time on
    10 June is 23:01 UTC on 9 June, but it is a 10 June story here. A date
    written without a time of day is taken as it stands. What feedparser
    cannot read (other languages, numeric forms) goes to :class:`DateReader`.
    """
    unread = ""
    for key in ("published", "updated"):
        # dict.get: feedparser's own get maps a missing "updated" to "published" with a warning.
        raw = dict.get(entry, key) or ""
        raw = raw if isinstance(raw, str) else ""
        value = dict.get(entry, f"{key}_parsed")
        if value:
            try:
                year, month, day, hour, minute, second = value[:6]
                moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (TypeError, ValueError):
                moment = None
            if moment is not None:
                if raw and not _TIME_OF_DAY_RE.search(raw):
                    return moment.date(), ""
                return moment.astimezone(zone).date(), ""
        if raw.strip():
            found = reader.read(raw)
            if found is not None:
                return day_of(found, zone), ""
            unread = unread or clean_text(_CONTROL_RE.sub(" ", raw))[:100]
    return None, unread
