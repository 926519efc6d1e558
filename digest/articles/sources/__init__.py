"""Readers: SAFE newsfeed text, RSS/Atom feeds and Markdown files → parsed articles.

Each reader parses a whole file before anything is stored, so a file that
cannot be parsed is rejected with its name, line and reason and nothing from
it is imported. One module per reader (:mod:`.newsfeed`, :mod:`.feeds`,
:mod:`.markdown`); :func:`read_source` in :mod:`.dispatch` chooses between them.
"""

from digest.articles.sources.decode import decode_text
from digest.articles.sources.dispatch import read_source
from digest.articles.sources.feeds import DEFAULT_TIMEZONE, feed_author, feed_text, html_to_text, parse_feed
from digest.articles.sources.fetch import FETCH_DEADLINE, MAX_FETCH_BYTES, fetch_url
from digest.articles.sources.markdown import parse_markdown
from digest.articles.sources.newsfeed import MAX_TITLE_LENGTH, SOURCE_LINE_RE, newsfeed_blocks, parse_newsfeed
from digest.articles.sources.parsed import ParsedArticle, ParseResult

__all__ = [
    "DEFAULT_TIMEZONE",
    "FETCH_DEADLINE",
    "MAX_FETCH_BYTES",
    "MAX_TITLE_LENGTH",
    "SOURCE_LINE_RE",
    "ParseResult",
    "ParsedArticle",
    "decode_text",
    "feed_author",
    "feed_text",
    "fetch_url",
    "html_to_text",
    "newsfeed_blocks",
    "parse_feed",
    "parse_markdown",
    "parse_newsfeed",
    "read_source",
]
