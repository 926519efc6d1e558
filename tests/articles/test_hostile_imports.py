"""What a hostile or careless source can put in front of the import (issue 23).

Control characters and Unicode non-characters in any field of any reader,
front matter nested thousands deep, and titles that look like matplotlib
mathtext: none of them may stop the week's work.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from digest.articles.store import import_articles, list_articles
from digest.issues.drafting import new_issue
from digest.issues.issue import load_issue

# U+FFFE and U+FFFF are Unicode non-characters, U+FDD0 too; ESC and BEL are C0 controls, U+0085
# (NEL) and U+009B (CSI) C1 ones. A YAML file cannot hold most of them.
UNWANTED = "\ufffe\uffff\ufdd0\x1b\x07\x9b\U0001fffe"

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>Council News&#xFFFE;</title><link>https://council.example.org/</link><description>d</description>
  <item>
    <title>Half-term&#xFFFE; activities &#xFFFF;for families</title>
    <link>https://council.example.org/half-term</link>
    <pubDate>Tue, 10 Jun 2025 09:00:00 +0100</pubDate>
    <author>press@council.example.org (Press &#xFDD0;Office)</author>
    <description>&lt;p&gt;Clubs &#xFFFE;run all week.&lt;/p&gt;</description>
  </item>
</channel></rss>
"""

MARKDOWN = (
    '---\ntitle: "Online safety\\e[31m week \\uFFFE starts"\nsource: "SAFE\\a CIC"\npublished: 2025-06-10\n'
    'author: "Jo\\x9b Bloggs"\nsummary: "A week\\uFFFF of events"\n---\nBody with a bell\x07 and \ufdd0 in it.\n'
)

NEWSFEED = (
    "Safer recruitment\x1b[0m checks \ufffe updated\n\n"
    "Source: SAFE\x07 CIC published on this site Tuesday 10 June 2025 by Jo\x1b Bloggs\n\n"
    "The guidance\uffff changes this term.\n"
)


def _fields(article) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        article.title,
        article.source,
        article.author,
        article.summary,
        article.url,
        article.posted_by,
        article.text,
    ]


def test_control_characters_and_non_characters_never_reach_the_store_or_the_issue_file(
    engine, settings, project: Path
) -> None:  # type: ignore[no-untyped-def]
    (project / "council.rss").write_bytes(FEED.encode("utf-8"))
    (project / "story.md").write_text(MARKDOWN, encoding="utf-8")
    (project / "export.txt").write_text(NEWSFEED, encoding="utf-8")
    report = import_articles(engine, settings, [str(project / n) for n in ("council.rss", "story.md", "export.txt")])
    assert (report.new, report.failures) == (3, [])
    stored = list_articles(engine)
    assert sorted(a.title for a in stored) == [
        "Half-term activities for families",
        "Online safety [31m week starts",
        "Safer recruitment [0m checks updated",
    ]
    for article in stored:
        for text in _fields(article):
            assert not set(text) & set(UNWANTED), (article.id, text)
    # The drafted issue file (whose comments quote each title) loads.
    path, count = new_issue(engine, settings, issue_date=date(2025, 6, 16))
    assert count == 3
    assert len(load_issue(settings, "2025-06-16").story_refs()) == 3
    assert "\ufffe" not in path.read_text(encoding="utf-8")


def deep_front_matter(levels: int) -> str:
    """Markdown whose front matter nests a list ``levels`` deep (block style: one ``- `` per level)."""
    nested = "".join("  " * level + "-\n" for level in range(levels)) + "  " * levels + "- x\n"
    return f"---\ntitle: Deep\nsource: SAFE CIC\npublished: 2025-06-10\ntopics:\n{nested}---\nBody.\n"


def flow_front_matter(levels: int) -> str:
    return "---\ntitle: Deep\nsource: SAFE CIC\npublished: 2025-06-10\ntopics: " + "[" * levels + "]" * levels


def test_front_matter_nested_thousands_deep_is_refused_per_file(invoke, project: Path) -> None:  # type: ignore[no-untyped-def]
    (project / "deep.md").write_text(deep_front_matter(5000), encoding="utf-8")
    (project / "flow.md").write_text(flow_front_matter(5000) + "\n---\nBody.\n", encoding="utf-8")
    (project / "fine.md").write_text(
        "---\ntitle: A fine story\nsource: SAFE CIC\npublished: 2025-06-10\n---\nBody.\n", encoding="utf-8"
    )
    result = invoke("articles", "import", "deep.md", "flow.md", "fine.md")
    assert result.exit_code == 1
    assert "deep.md, line 105: front matter is not valid YAML (nested more than 100 levels deep)" in result.output
    assert "flow.md, line 5: front matter is not valid YAML (nested more than 100 levels deep)" in result.output
    assert "Imported 1 new, 0 updated, 0 skipped." in result.output
    assert "Traceback" not in result.output
    assert "A fine story" in invoke("articles", "list").output


def test_front_matter_nested_a_little_still_reads() -> None:
    from digest.yamlfile import safe_load

    assert safe_load("a: " + "[" * 99 + "]" * 99) == {"a": eval("[" * 99 + "]" * 99)}  # noqa: S307 - our own literal
