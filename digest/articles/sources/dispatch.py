"""Choosing the reader for one path or URL."""

from __future__ import annotations

import re
from pathlib import Path

from digest.articles.sources.decode import decode_text
from digest.articles.sources.feeds import DEFAULT_TIMEZONE, parse_feed
from digest.articles.sources.fetch import fetch_url
from digest.articles.sources.markdown import parse_markdown
from digest.articles.sources.newsfeed import parse_newsfeed
from digest.articles.sources.parsed import ParseResult
from digest.errors import InputError
from digest.netpolicy import AllowList


def read_source(
    location: str,
    *,
    source_name: str | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    origin: str | None = None,
    allow: AllowList | None = None,
) -> ParseResult:
    """Read one path or http(s) URL, choosing the reader by content and extension.

    ``timezone`` is the organisation's: feed timestamps become dates there.
    ``origin`` names the source in messages and in the store when ``location``
    is not what the editor knows it by (an upload saved to a temporary file).
    ``allow`` names the internal hosts a URL may reach (``[sources] allow_hosts``).
    """
    shown = origin or location
    if re.match(r"^https?://", location, re.IGNORECASE):
        data = fetch_url(location, allow=allow)
        return parse_feed(data, origin=shown, source_name=source_name, timezone=timezone)
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
        return parse_feed(data, origin=shown, source_name=source_name, timezone=timezone)
    text, warnings = decode_text(data, shown)
    result = parse_newsfeed(text, origin=shown)
    result.warnings[:0] = warnings
    return result


def _looks_like_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf"))
