"""Markdown articles with YAML front matter."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from digest.articles.sources import read_source
from digest.errors import InputError

GOOD = """---
title: "Guide: what to say"
source: SAFE CIC
published: 2025-04-08
author: Editor
url: https://safe.example.org/guide
topics: [online-safety]
summary: Our own summary.
---
Intro paragraph with a [link](https://example.org/x) and <b>raw html</b>.

## What to say

- one
- two [more](javascript:alert(1))
"""


def write(tmp_path: Path, text: str, name: str = "a.md") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_front_matter_and_body(tmp_path: Path) -> None:
    (article,) = read_source(write(tmp_path, GOOD)).articles
    assert (article.title, article.source, article.published) == ("Guide: what to say", "SAFE CIC", date(2025, 4, 8))
    assert (article.author, article.url, article.summary) == (
        "Editor",
        "https://safe.example.org/guide",
        "Our own summary.",
    )
    assert article.topics == ["online-safety"]
    assert article.body == [
        {
            "type": "p",
            "runs": [
                {"text": "Intro paragraph with a "},
                {"text": "link", "href": "https://example.org/x"},
                {"text": " and <b>raw html</b>."},
            ],
        },
        {"type": "h", "text": "What to say"},
        {"type": "ul", "items": [[{"text": "one"}], [{"text": "two [more](javascript:alert(1))"}]]},
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("no front matter here\n", None, "no front matter"),
        ("---\ntitle: x\nsource: y\n---\nbody\n", None, "front matter field 'published' is missing"),
        ("---\ntitle: x\nsource: y\npublished: soon\n---\n", None, "published 'soon' is not a date"),
        (
            "---\ntitle: x\nsource: y\npublished: 2025-01-01\ncolour: red\n---\n",
            None,
            "unknown front matter field 'colour'",
        ),
        # The parser stops at the ":" of line 3 ("source: y"), inside the unclosed list.
        ("---\ntitle: [unclosed\nsource: y\n---\n", 3, "front matter is not valid YAML"),
        ("---\ntitle: x\nsource: y\npublished: 2025-01-01\nurl: ftp://x\n---\n", None, "must start with https://"),
    ],
)
def test_bad_front_matter(tmp_path: Path, text: str, line: int | None, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        read_source(path)
    assert caught.value.path == path
    assert caught.value.line == line
    assert reason in caught.value.reason
