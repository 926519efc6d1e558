"""RSS and Atom feeds: from files and from a real local HTTP server."""

from __future__ import annotations

from datetime import date

import pytest

from digest.articles.sources import read_source
from digest.errors import InputError
from digest.netpolicy import AllowList
from tests.conftest import DATA
from tests.httpserve import serve

LOOPBACK = AllowList.parse(
    ["127.0.0.1"]
)  # the test server's address; tests/articles/test_sources_fetch.py has the rest


def test_rss_items_become_articles_with_safe_structure() -> None:
    result = read_source(str(DATA / "feed.rss"))
    first, second = result.articles
    assert first.title == 'Officers warn of "sextortion" scam'
    assert first.source == "Test Police News"
    assert first.published == date(2025, 4, 8)
    assert first.url == "https://police.example.org/news/1"
    assert first.body == [
        {
            "type": "p",
            "runs": [
                {"text": "First paragraph with a "},
                {"text": "help link", "href": "https://example.org/help"},
                {"text": " and a bad link."},
            ],
        },
        {"type": "h", "text": "What to do"},
        {"type": "ul", "items": [[{"text": "Stop"}], [{"text": "Report"}]]},
        {"type": "p", "runs": [{"text": "Last."}]},
    ]
    assert (second.title, second.published) == ("Item without a date", None)  # never today's date
    assert "entry 2 ('Item without a date'): it has no date; imported undated" in result.warnings[0]
    assert result.warnings[1].endswith("entry 3 has no title; skipped")


def test_atom_entry_uses_published_date_and_content() -> None:
    (entry,) = read_source(str(DATA / "feed.atom")).articles
    assert (entry.source, entry.published, entry.author) == ("Test Agency", date(2025, 4, 7), "Agency Press")
    assert entry.body == [{"type": "p", "runs": [{"text": "The assessment covers online child sexual abuse."}]}]


def test_source_name_overrides_the_feed_title() -> None:
    result = read_source(str(DATA / "feed.atom"), source_name="National Online Harms Unit")
    assert result.articles[0].source == "National Online Harms Unit"


def test_feed_fetched_over_http() -> None:
    body = (DATA / "feed.atom").read_bytes()
    with serve({"/feed.xml": (200, "application/atom+xml", body)}) as base:
        result = read_source(f"{base}/feed.xml", allow=LOOPBACK)
    assert [a.title for a in result.articles] == ["Agency publishes annual threat assessment"]


def test_http_errors_name_the_url() -> None:
    with serve({}) as base:
        url = f"{base}/missing.xml"
        with pytest.raises(InputError) as caught:
            read_source(url, allow=LOOPBACK)
    assert str(caught.value) == f"{url}: the server answered 404 Not Found"


def test_broken_xml_names_the_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.xml"
    path.write_text('<?xml version="1.0"?>\n<rss version="2.0">\n<channel>\n<item><title>x</titl>\n')
    with pytest.raises(InputError) as caught:
        read_source(str(path))
    assert caught.value.path == str(path)
    assert caught.value.line == 4
    assert "not a readable RSS or Atom feed" in caught.value.reason
