"""Markdown files with YAML front matter, one article per file."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from digest.articles.content import clean_text, markdown_to_blocks, safe_href
from digest.articles.sources.parsed import ParsedArticle, ParseResult
from digest.errors import InputError

_FRONT_MATTER_KEYS = {"title", "source", "published", "author", "url", "topics", "summary"}


def parse_markdown(text: str, *, origin: str) -> ParseResult:
    """One article per Markdown file; front matter gives title, source, published…"""
    import frontmatter
    import yaml

    from digest.yamlfile import safe_load

    class FrontMatter(frontmatter.YAMLHandler):
        def load(self, fm: str, **kwargs: Any) -> Any:
            return safe_load(fm)

    try:
        post = frontmatter.loads(text, handler=FrontMatter())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # python-frontmatter hands over the text from the newline after the first "---": its line 0 is
        # the "---" line itself, so the 0-based mark plus one is the line in the file.
        line = mark.line + 1 if mark is not None else None
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
