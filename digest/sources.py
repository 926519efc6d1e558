"""Readers: SAFE newsfeed text, RSS/Atom feeds and Markdown files → parsed articles.

Each reader parses a whole file before anything is stored, so a file that
cannot be parsed is rejected with its name, line and reason and nothing from
it is imported.
"""

from __future__ import annotations

import calendar
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from xml.sax import SAXParseException

from digest.content import (
    Block,
    clean_text,
    html_to_blocks,
    markdown_to_blocks,
    merge_runs,
    safe_href,
)
from digest.errors import InputError

MAX_FETCH_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT = 30.0
MAX_TITLE_LENGTH = 200

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_WEEKDAYS = [name for name in calendar.day_name]

SOURCE_LINE_RE = re.compile(
    r"^Source:\s*(?P<org>.+?)\s+published\s+on\s+this\s+(?:website|site)\b[\s,]*"
    r"(?:on\s+)?"
    r"(?:(?P<weekday>[A-Za-z]+day),?\s+)?"
    r"(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?P<month>[A-Za-z]+)\.?,?\s+(?P<year>\d{4})"
    r"(?:\s+by\s+(?P<author>.+?))?\s*$",
    re.IGNORECASE,
)
_SOURCE_PREFIX_RE = re.compile(r"^source\s*:", re.IGNORECASE)
_BULLET_RE = re.compile(r"^[•\-+*‣◦▪]\s+(?P<text>.+)$")
_SENTENCE_END = (".", "!", "?", ":", ";", ",", '"', "”", "’", "'", "…", ")")
_QUOTE_START = ('"', "“", "‘", "'", "(")


@dataclass
class ParsedArticle:
    """An article as read from a source, before it has an id in the store."""

    source: str
    title: str
    published: date
    body: list[Block]
    author: str = ""
    url: str = ""
    summary: str = ""
    topics: list[str] | None = None  # None: tag automatically
    origin: str = ""
    line: int | None = None
    warnings: list[str] = field(default_factory=list)  # this article's own, also in ParseResult.warnings


@dataclass
class ParseResult:
    articles: list[ParsedArticle] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_source(location: str, *, source_name: str | None = None, origin: str | None = None) -> ParseResult:
    """Read one path or http(s) URL, choosing the reader by content and extension.

    ``origin`` names the source in messages and in the store when ``location``
    is not what the editor knows it by (an upload saved to a temporary file).
    """
    shown = origin or location
    if re.match(r"^https?://", location, re.IGNORECASE):
        data = fetch_url(location)
        return parse_feed(data, origin=shown, source_name=source_name)
    path = Path(location)
    if not path.exists():
        raise InputError("no such file", path=shown)
    if path.is_dir():
        raise InputError("is a folder; name the files to import (e.g. folder/*.md)", path=shown)
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        return parse_markdown(decode_text(data, shown)[0], origin=shown)
    if suffix in (".xml", ".rss", ".atom") or _looks_like_xml(data):
        return parse_feed(data, origin=shown, source_name=source_name)
    text, warnings = decode_text(data, shown)
    result = parse_newsfeed(text, origin=shown)
    result.warnings[:0] = warnings
    return result


def fetch_url(url: str, *, timeout: float = FETCH_TIMEOUT, limit: int = MAX_FETCH_BYTES) -> bytes:
    """GET a feed, refusing bodies over ``limit`` bytes and slow servers."""
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by the caller
        url, headers={"User-Agent": "safe-digest/0.1 (+feed import)"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise InputError(f"the server answered {exc.code} {exc.reason}", path=url) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"could not fetch the feed ({reason})", path=url) from None
    if len(data) > limit:
        raise InputError(f"the feed is larger than {limit // (1024 * 1024)} MB", path=url)
    return data


def decode_text(data: bytes, origin: str) -> tuple[str, list[str]]:
    """UTF-8 (with or without BOM), falling back to Windows-1252 with a warning."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
        warnings: list[str] = []
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise InputError(f"neither UTF-8 nor Windows-1252 text ({exc})", path=origin) from None
        warnings = [f"{origin}: not UTF-8; read as Windows-1252"]
    if "\x00" in text:
        raise InputError("contains NUL bytes; is it a binary file?", path=origin)
    return text.replace("\r\n", "\n").replace("\r", "\n"), warnings


def _looks_like_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf"))


# --- the SAFE newsfeed text export -------------------------------------------------


def parse_newsfeed(text: str, *, origin: str) -> ParseResult:
    """Parse the SAFE newsfeed text format (see the shared sample).

    Articles are found by their ``Source: … published on this website …`` line;
    the title is the last non-empty line before it, the body runs up to the next
    article's title.
    """
    lines = [line.replace("\u00a0", " ").rstrip() for line in text.split("\n")]
    result = ParseResult()
    headers: list[tuple[int, int, re.Match[str]]] = []  # (title index, source index, match)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not _SOURCE_PREFIX_RE.match(stripped):
            continue
        match = SOURCE_LINE_RE.match(stripped)
        if not match:
            raise InputError(
                "a 'Source:' line must read 'Source: <organisation> published on this website "
                "<weekday> <day> <Month> <year> [by <author>]'",
                path=origin,
                line=index + 1,
            )
        title_index = _title_index(lines, index, origin)
        if headers and title_index <= headers[-1][1]:
            raise InputError(
                "two 'Source:' lines with no title and body between them",
                path=origin,
                line=index + 1,
            )
        headers.append((title_index, index, match))
    if not headers:
        raise InputError(
            "no articles found; each article needs a title line followed by "
            "'Source: <organisation> published on this website <date>'",
            path=origin,
        )
    for number, (title_index, source_index, match) in enumerate(headers):
        end = headers[number + 1][0] if number + 1 < len(headers) else len(lines)
        first_warning = len(result.warnings)
        published = _source_date(match, origin, source_index + 1, result.warnings)
        body = newsfeed_blocks(lines[source_index + 1 : end])
        title = clean_text(lines[title_index])
        if not body:
            result.warnings.append(f"{origin}, line {source_index + 1}: {title!r} has no body text")
        author = clean_text(match.group("author") or "")
        result.articles.append(
            ParsedArticle(
                source=clean_text(match.group("org")),
                title=title,
                published=published,
                author=author,
                body=body,
                origin=origin,
                line=title_index + 1,
                warnings=result.warnings[first_warning:],
            )
        )
    return result


def _title_index(lines: list[str], source_index: int, origin: str) -> int:
    index = source_index - 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    if index < 0:
        raise InputError("a 'Source:' line must follow the article's title", path=origin, line=source_index + 1)
    title = lines[index].strip()
    if len(title) > MAX_TITLE_LENGTH or _BULLET_RE.match(title):
        raise InputError(
            "expected the article's title on the line before 'Source:', found body text",
            path=origin,
            line=index + 1,
        )
    return index


def _source_date(match: re.Match[str], origin: str, line: int, warnings: list[str]) -> date:
    month = _MONTHS.get(match.group("month").lower())
    if month is None:
        raise InputError(f"unknown month {match.group('month')!r}", path=origin, line=line)
    try:
        published = date(int(match.group("year")), month, int(match.group("day")))
    except ValueError as exc:
        raise InputError(f"impossible date ({exc})", path=origin, line=line) from None
    weekday = match.group("weekday")
    if weekday:
        named = weekday.capitalize()
        if named not in _WEEKDAYS:
            raise InputError(f"unknown weekday {weekday!r}", path=origin, line=line)
        actual = _WEEKDAYS[published.weekday()]
        if named != actual:
            warnings.append(
                f"{origin}, line {line}: says {named} {published.day} "
                f"{calendar.month_name[month]} {published.year}, which was a {actual}; "
                "keeping the date"
            )
    return published


def newsfeed_blocks(lines: list[str]) -> list[Block]:
    """Paragraphs, bullet lists and sub-headings from the lines of one article body."""
    blocks: list[Block] = []
    previous_blank = True
    for position, raw in enumerate(lines):
        line = clean_text(raw)
        if not line:
            previous_blank = True
            continue
        bullet = _BULLET_RE.match(line)
        if bullet:
            item = [{"text": bullet.group("text").strip()}]
            if blocks and blocks[-1]["type"] == "ul":
                blocks[-1]["items"].append(item)
            else:
                blocks.append({"type": "ul", "items": [item]})
        elif previous_blank and _is_subheading(line, lines[position + 1 :]):
            blocks.append({"type": "h", "text": line})
        elif (
            not previous_blank
            and blocks
            and blocks[-1]["type"] == "p"
            and not blocks[-1]["runs"][-1]["text"].endswith(_SENTENCE_END)
        ):
            # A hard-wrapped line: the previous one stopped mid-sentence.
            runs = blocks[-1]["runs"]
            runs[-1] = {"text": runs[-1]["text"] + " " + line}
        else:
            blocks.append({"type": "p", "runs": [{"text": line}]})
        previous_blank = False
    return blocks


def _is_subheading(line: str, following: list[str]) -> bool:
    """A short line without closing punctuation, standing alone before more text."""
    if len(line) > 80 or len(line.split()) > 10:
        return False
    if line.endswith(_SENTENCE_END) or line.startswith(_QUOTE_START):
        return False
    if not (line[0].isupper() or line[0].isdigit()):
        return False
    rest = [clean_text(text) for text in following]
    if rest and rest[0]:
        return False  # followed directly by another line: part of a paragraph
    return any(rest)


# --- RSS and Atom feeds --------------------------------------------------------------


def parse_feed(data: bytes, *, origin: str, source_name: str | None = None) -> ParseResult:
    """RSS 0.9x/1.0/2.0 and Atom feeds through feedparser."""
    import feedparser

    parsed: Any = feedparser.parse(data)
    result = ParseResult()
    if parsed.bozo:
        exc = parsed.get("bozo_exception")
        # Malformed XML: feedparser's loose fallback would guess at the rest, and
        # a guessed half of a feed is worse than a clear error.
        if isinstance(exc, SAXParseException) or not parsed.entries:
            line = exc.getLineNumber() if hasattr(exc, "getLineNumber") else None
            raise InputError(f"not a readable RSS or Atom feed ({_sax_reason(exc)})", path=origin, line=line)
        result.warnings.append(f"{origin}: {exc}")
    if not parsed.entries:
        if not parsed.version:
            raise InputError("not an RSS or Atom feed", path=origin)
        result.warnings.append(f"{origin}: the feed has no entries")
        return result
    feed_title = clean_text(parsed.feed.get("title", "")) or origin
    feed_date = _struct_date(parsed.feed.get("updated_parsed") or parsed.feed.get("published_parsed"))
    for number, entry in enumerate(parsed.entries, start=1):
        title = clean_text(entry.get("title", ""))
        if not title:
            result.warnings.append(f"{origin}: entry {number} has no title; skipped")
            continue
        published = _struct_date(entry.get("published_parsed") or entry.get("updated_parsed"))
        own: list[str] = []
        if published is None:
            published = feed_date or datetime.now(UTC).date()
            own.append(f"{origin}: entry {number} ({title!r}) has no date; using {published.isoformat()}")
            result.warnings.extend(own)
        source = source_name or clean_text(entry.get("source", {}).get("title", "")) or feed_title
        result.articles.append(
            ParsedArticle(
                source=source,
                title=title,
                published=published,
                author=clean_text(entry.get("author", "")),
                url=safe_href(entry.get("link")) or "",
                body=_entry_blocks(entry),
                origin=origin,
                warnings=own,
            )
        )
    return result


def _sax_reason(exc: Any) -> str:
    if isinstance(exc, SAXParseException):
        return str(exc.getMessage())
    return str(exc)


def _entry_blocks(entry: Any) -> list[Block]:
    contents = entry.get("content") or []
    html = contents[0].get("value", "") if contents else entry.get("summary", "")
    if not html:
        return []
    kind = contents[0].get("type", "") if contents else entry.get("summary_detail", {}).get("type", "")
    if kind == "text/plain":
        return [{"type": "p", "runs": merge_runs([{"text": part}])} for part in html.split("\n\n")]
    return html_to_blocks(html)


def _struct_date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date(value.tm_year, value.tm_mon, value.tm_mday)
    except (AttributeError, ValueError):
        return None


# --- Markdown with YAML front matter ------------------------------------------------

_FRONT_MATTER_KEYS = {"title", "source", "published", "author", "url", "topics", "summary"}


def parse_markdown(text: str, *, origin: str) -> ParseResult:
    """One article per Markdown file; front matter gives title, source, published…"""
    import frontmatter
    import yaml

    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None  # +1 for 1-based, +1 for '---'
        raise InputError(f"front matter is not valid YAML ({_yaml_problem(exc)})", path=origin, line=line) from None
    meta = post.metadata
    if not meta:
        raise InputError(
            "no front matter; start the file with '---', then title, source and published, then '---'",
            path=origin,
        )
    unknown = sorted(set(meta) - _FRONT_MATTER_KEYS)
    if unknown:
        raise InputError(
            f"unknown front matter field {unknown[0]!r}; use {', '.join(sorted(_FRONT_MATTER_KEYS))}",
            path=origin,
        )
    for required in ("title", "source", "published"):
        if not meta.get(required):
            raise InputError(f"front matter field {required!r} is missing", path=origin)
    published = _front_matter_date(meta["published"], origin)
    url = str(meta.get("url") or "").strip()
    if url and not safe_href(url):
        raise InputError(f"url {url!r} must start with https:// or http://", path=origin)
    topics = meta.get("topics")
    if topics is not None:
        if isinstance(topics, str):
            topics = [topics]
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise InputError("topics must be a list of topic names", path=origin)
    article = ParsedArticle(
        source=clean_text(str(meta["source"])),
        title=clean_text(str(meta["title"])),
        published=published,
        author=clean_text(str(meta.get("author") or "")),
        url=url,
        summary=clean_text(str(meta.get("summary") or "")),
        topics=[t.strip() for t in topics] if topics is not None else None,
        body=markdown_to_blocks(post.content),
        origin=origin,
        line=1,
    )
    return ParseResult(articles=[article])


def _front_matter_date(value: Any, origin: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"published {value!r} is not a date; write it as YYYY-MM-DD", path=origin) from None


def _yaml_problem(exc: Exception) -> str:
    problem = getattr(exc, "problem", None)
    return str(problem) if problem else str(exc).splitlines()[0]
