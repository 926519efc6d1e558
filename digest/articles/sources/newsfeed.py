"""The SAFE newsfeed text export: a title, a ``Source:`` line, then the body."""

from __future__ import annotations

import calendar
import re
from datetime import date

from digest.articles.content import Block, block_text, clean_text, runs_text
from digest.articles.sources.parsed import ParsedArticle, ParseResult
from digest.errors import InputError

MAX_TITLE_LENGTH = 200

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_WEEKDAYS = [name for name in calendar.day_name]

SOURCE_LINE_RE = re.compile(
    r"^Source:\s*(?P<org>.+?)\s+published\s+on\s+this\s+(?:website|site)\b[\s,]*"
    r"(?:on\s+)?"
    r"(?:(?P<weekday>[A-Za-z]+day),?\s+)?"
    r"(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?P<month>[A-Za-z]+)\.?,?\s+(?P<year>\d{4})"
    r"(?:\s+by\s+(?P<posted_by>.+?))?\s*$",
    re.IGNORECASE,
)
_SOURCE_PREFIX_RE = re.compile(r"^source\s*:", re.IGNORECASE)
_BULLET_RE = re.compile(r"^[•\-+*‣◦▪]\s+(?P<text>.+)$")
_SENTENCE_END = (".", "!", "?", ":", ";", ",", '"', "”", "’", "'", "…", ")")
_QUOTE_START = ('"', "“", "‘", "'", "(")


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
                "<weekday> <day> <Month> <year> [by <name>]'",
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
        warnings: list[str] = []
        published = _source_date(match, origin, source_index + 1, warnings)
        body = newsfeed_blocks(lines[source_index + 1 : end])
        title = clean_text(lines[title_index])
        if not body:
            warnings.append(f"{origin}, line {source_index + 1}: {title!r} has no body text")
        result.warnings.extend(warnings)
        result.articles.append(
            ParsedArticle(
                source=clean_text(match.group("org")),
                title=title,
                published=published,
                # "by <name>" names whoever posted the item on SAFE's site, not its author.
                posted_by=clean_text(match.group("posted_by") or ""),
                body=body,
                origin=origin,
                line=title_index + 1,
                warnings=warnings,
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
    """Paragraphs, lists and sub-headings from the lines of one article body.

    A bullet that ends in a colon and is followed by more bullets is the
    lead-in to that list ("+ If you end up in cold water, follow these steps:"
    then "- …" lines), so it becomes a paragraph; a list of steps is numbered.
    """
    blocks: list[Block] = []
    previous_blank = True
    for position, raw in enumerate(lines):
        line = clean_text(raw)
        if not line:
            previous_blank = True
            continue
        bullet = _BULLET_RE.match(line)
        if bullet and _is_lead_in(bullet.group("text"), lines[position + 1 :]):
            blocks.append({"type": "p", "runs": [{"text": bullet.group("text").strip()}]})
        elif bullet:
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
    return number_steps(blocks)


# A lead-in that announces steps ("follow these steps:", "in this order:"), or an
# item that carries on from the one before ("Then shout for help"), makes a list
# of steps, which reads best numbered.
_STEPS_LEAD_IN_RE = re.compile(r"\b(?:steps?|stages?|in (?:this|that|the following) order|in order)\b", re.IGNORECASE)
_SEQUENCE_START_RE = re.compile(
    r"^(?:then|next|finally|lastly|afterwards|after that|only then|once you)\b", re.IGNORECASE
)


def number_steps(blocks: list[Block]) -> list[Block]:
    """Bulleted lists that are steps to follow in order become numbered lists."""
    for index, block in enumerate(blocks):
        if block["type"] != "ul":
            continue
        before = blocks[index - 1] if index else None
        lead_in = block_text(before) if before and before["type"] == "p" else ""
        announces_steps = lead_in.endswith(":") and bool(_STEPS_LEAD_IN_RE.search(lead_in))
        carries_on = any(_SEQUENCE_START_RE.match(runs_text(item)) for item in block["items"][1:])
        if len(block["items"]) > 1 and (announces_steps or carries_on):
            block["type"] = "ol"
    return blocks


def _is_lead_in(text: str, following: list[str]) -> bool:
    """A bullet ending in a colon, with more bullets after it: the list's lead-in."""
    if not text.rstrip().endswith(":"):
        return False
    upcoming = next((clean_text(line) for line in following if clean_text(line)), "")
    return bool(_BULLET_RE.match(upcoming))


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
