"""Feeds in the shapes real publishers write: HTML titles, offsets, sloppy XML, RSS authors, the same story twice.

Every feed here is invented, written in the shape of a real publisher's
(GOV.UK's Atom, a WordPress RSS 2.0 feed, a local-authority CMS).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from digest.articles.sources import feed_author, parse_feed, read_source
from digest.articles.store import import_articles, list_articles
from digest.errors import InputError
from digest.issues.drafting import new_issue

# GOV.UK-style Atom: html titles with character references, a +01:00 offset just after midnight.
GOVUK_ATOM = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-GB">
  <id>https://www.example.gov.uk/search/news-and-communications.atom</id>
  <link rel="self" type="application/atom+xml" href="https://www.example.gov.uk/search/news.atom"/>
  <title>News and communications - Example GOV</title>
  <updated>2025-06-10T09:00:00+01:00</updated>
  <author><name>Example GOV</name></author>
  <entry>
    <id>https://www.example.gov.uk/government/news/inspection-framework</id>
    <updated>2025-06-10T00:01:00+01:00</updated>
    <link rel="alternate" type="text/html" href="https://www.example.gov.uk/government/news/inspection-framework"/>
    <title type="html">Ofsted&amp;#8217;s new inspection framework: a Q&amp;amp;A for DSLs</title>
    <summary type="html">&lt;p&gt;What changes for designated safeguarding leads &amp;amp; their teams.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <id>https://www.example.gov.uk/government/news/water</id>
    <updated>2025-06-09T23:30:00+00:00</updated>
    <link rel="alternate" type="text/html" href="https://www.example.gov.uk/government/news/water"/>
    <title type="html">&lt;b&gt;Cold water&lt;/b&gt; shock: &amp;quot;Float to live&amp;quot; campaign returns</title>
    <summary type="text">Plain summary with a literal &amp;lt;tag&amp;gt; in it.</summary>
  </entry>
</feed>
"""

# WordPress-style RSS 2.0: double-escaped titles, author as "email (Name)", an RFC 822 date with an offset.
WORDPRESS_RSS = b"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Example Safeguarding Network</title>
  <link>https://network.example.org</link>
  <description>News for safeguarding leads</description>
  <item>
    <title>Children&amp;#8217;s homes: &amp;quot;we must listen&amp;quot; says review &amp;amp; panel</title>
    <link>https://network.example.org/2025/06/childrens-homes/</link>
    <pubDate>Tue, 10 Jun 2025 00:30:00 +0100</pubDate>
    <author>newsdesk@example.org (Network News Desk)</author>
    <description><![CDATA[<p>The panel&#8217;s findings.</p>]]></description>
  </item>
  <item>
    <title>Training dates for the autumn</title>
    <link>https://network.example.org/2025/06/training/</link>
    <pubDate>Mon, 09 Jun 2025 16:00:00 GMT</pubDate>
    <dc:creator>Priya Shah</dc:creator>
    <description>Book now.</description>
  </item>
  <item>
    <title>Helpline numbers</title>
    <link>https://network.example.org/2025/06/helplines/</link>
    <pubDate>Sun, 08 Jun 2025 09:00:00 +0000</pubDate>
    <author>Helpline Team &lt;helplines@example.org&gt;</author>
    <description>Numbers to keep to hand.</description>
  </item>
</channel>
</rss>
"""

# A council CMS that writes HTML entities XML does not declare, and pastes in a control character.
SLOPPY_RSS = (
    b"<?xml version='1.0' encoding='utf-8'?>\n"
    b'<rss version="2.0"><channel><title>Example Council news</title>\n'
    b"<item><title>Fostering fortnight&nbsp;2025</title><link>https://council.example.gov.uk/news/1</link>\n"
    b"<pubDate>Wed, 11 Jun 2025 10:00:00 +0100</pubDate><description>Come and talk to us.</description></item>\n"
    b"</channel></rss>\n"
)
CONTROL_RSS = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<rss version="2.0"><channel><title>Example Council news</title>\n'
    b"<item><title>Half-term\x1b activities</title><link>https://council.example.gov.uk/news/2</link>\n"
    b"<pubDate>Wed, 11 Jun 2025 10:00:00 +0100</pubDate></item>\n"
    b"</channel></rss>\n"
)

ENTITY_TEXT = ("&#", "&amp;", "&quot;", "&lt;", "&gt;", "&nbsp;", "<b>", "</b>", "<p>")


def test_html_titles_become_plain_text() -> None:
    result = parse_feed(GOVUK_ATOM, origin="govuk.atom")
    titles = [article.title for article in result.articles]
    assert titles == [
        "Ofsted’s new inspection framework: a Q&A for DSLs",
        'Cold water shock: "Float to live" campaign returns',
    ]
    wordpress = parse_feed(WORDPRESS_RSS, origin="network.rss")
    assert wordpress.articles[0].title == 'Children’s homes: "we must listen" says review & panel'
    for article in result.articles + wordpress.articles:
        assert not any(text in article.title for text in ENTITY_TEXT), article.title
    assert wordpress.articles[0].body == [{"type": "p", "runs": [{"text": "The panel’s findings."}]}]


def test_dates_are_the_organisations_dates_not_utc() -> None:
    govuk = parse_feed(GOVUK_ATOM, origin="govuk.atom")
    # 00:01 British Summer Time on 10 June is 23:01 UTC on 9 June: a 10 June story here.
    assert govuk.articles[0].published == date(2025, 6, 10)
    # 23:30 UTC on 9 June is 00:30 on 10 June in London.
    assert govuk.articles[1].published == date(2025, 6, 10)
    rss = parse_feed(WORDPRESS_RSS, origin="network.rss")
    assert [a.published for a in rss.articles] == [date(2025, 6, 10), date(2025, 6, 9), date(2025, 6, 8)]
    # Another organisation's day: the same instant is still 9 June in New York.
    assert parse_feed(GOVUK_ATOM, origin="x", timezone="America/New_York").articles[0].published == date(2025, 6, 9)


def test_a_date_without_a_time_is_taken_as_written() -> None:
    feed = WORDPRESS_RSS.replace(b"Tue, 10 Jun 2025 00:30:00 +0100", b"10 Jun 2025")
    assert parse_feed(feed, origin="x", timezone="America/New_York").articles[0].published == date(2025, 6, 10)


def test_rss_authors_are_names_not_addresses() -> None:
    rss = parse_feed(WORDPRESS_RSS, origin="network.rss")
    assert [a.author for a in rss.articles] == ["Network News Desk", "Priya Shah", "Helpline Team"]
    bare = WORDPRESS_RSS.replace(b"newsdesk@example.org (Network News Desk)", b"newsdesk@example.org")
    assert parse_feed(bare, origin="x").articles[0].author == ""
    # Dublin Core creators are not parsed into a name by feedparser: the text itself is cleaned.
    creator = WORDPRESS_RSS.replace(
        b"<dc:creator>Priya Shah</dc:creator>", b"<dc:creator>p.shah@example.org (Priya Shah)</dc:creator>"
    )
    assert parse_feed(creator, origin="x").articles[1].author == "Priya Shah"
    assert feed_author({"author": "Desk <desk@example.org>"}) == "Desk"
    assert feed_author({"author": "desk@example.org"}) == ""
    assert feed_author({"author": "Jill Powell"}) == "Jill Powell"


def test_an_undeclared_entity_is_read_with_a_warning_naming_it() -> None:
    result = parse_feed(SLOPPY_RSS, origin="council.rss")
    (article,) = result.articles
    assert article.title == "Fostering fortnight 2025"
    assert article.published == date(2025, 6, 11)
    assert result.warnings == [
        "council.rss, line 3: not well-formed XML (undefined entity &nbsp;); feedparser read it leniently, "
        "so check the 1 stories it gave"
    ]


def test_a_control_character_is_read_with_a_warning_naming_it() -> None:
    result = parse_feed(CONTROL_RSS, origin="council.rss")
    assert [a.title for a in result.articles] == ["Half-term activities"]
    assert len(result.warnings) == 1
    assert "control character U+001B" in result.warnings[0]
    assert result.warnings[0].startswith("council.rss, line 3: not well-formed XML")


def test_what_feedparser_cannot_read_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        parse_feed(b"this is not a feed at all", origin="junk.xml")
    assert "not a readable RSS or Atom feed" in str(caught.value)


NEWSFEED = """\
Ofsted's new inspection framework: a Q&A for DSLs

Source: Ofsted published on this site Tuesday 10 June 2025 by Jill Powell

Ofsted has published answers to the questions designated safeguarding leads ask most often about the
new framework. The full text runs to several paragraphs in the newsfeed, far more than the feed's summary.

What changes

Inspectors will talk to the DSL on the first day.
"""


def _import(engine, settings, project: Path, name: str, content: bytes | str):  # type: ignore[no-untyped-def]
    path = project / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return import_articles(engine, settings, [str(path)])


def test_the_same_story_from_a_feed_and_the_newsfeed_is_reported_and_drafted_once(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    feed = _import(engine, settings, project, "govuk.atom", GOVUK_ATOM)
    assert (feed.new, feed.warnings) == (2, [])
    text = _import(engine, settings, project, "newsfeed.txt", NEWSFEED)
    assert text.new == 1
    (warning,) = text.warnings
    feed_id = "2025-06-10-ofsteds-new-inspection-framework-a-q-a-for-dsls"
    assert warning.startswith(f"{project / 'newsfeed.txt'}, line 1: likely duplicate: ")
    assert f"is the same story as {feed_id} (News and communications - Example GOV, 2025-06-10)" in warning
    stored = list_articles(engine, since=date(2025, 6, 9))
    assert len(stored) == 3  # both copies are kept; the issue draft takes one

    path, count = new_issue(engine, settings, issue_date=date(2025, 6, 16))
    assert count == 2
    draft = yaml.safe_load(path.read_text(encoding="utf-8"))
    drafted = [draft["lead"]] + [
        s if isinstance(s, str) else s["id"] for sec in draft["sections"] for s in sec["stories"]
    ]
    newsfeed_id = next(a.id for a in stored if a.source == "Ofsted")
    assert newsfeed_id in drafted and feed_id not in drafted  # the fuller copy is kept
    assert f"#   {feed_id}   (same story as {newsfeed_id})" in path.read_text(encoding="utf-8")


def test_stories_a_day_apart_with_different_titles_are_not_duplicates(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    _import(engine, settings, project, "govuk.atom", GOVUK_ATOM)
    other = NEWSFEED.replace("a Q&A for DSLs", "what it means for colleges")
    assert _import(engine, settings, project, "other.txt", other).warnings == []
    later = NEWSFEED.replace("Tuesday 10 June", "Thursday 12 June")
    assert _import(engine, settings, project, "later.txt", later).warnings == []
    # Two days apart: two stories, and the draft keeps both.
    path, count = new_issue(engine, settings, issue_date=date(2025, 6, 16))
    assert count == 4
    assert "Left out as likely duplicates" not in path.read_text(encoding="utf-8")


def test_import_uses_the_configured_organisation_time_zone(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    ny = replace(settings, organisation=replace(settings.organisation, timezone="America/New_York"))
    path = project / "govuk.atom"
    path.write_bytes(GOVUK_ATOM)
    import_articles(engine, ny, [str(path)])
    assert {a.published for a in list_articles(engine)} == {date(2025, 6, 9)}
    assert read_source(str(path)).articles[0].published == date(2025, 6, 10)


SAME_STORY_TWICE = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Regional Digest</title><link>https://r.example.org/</link><description>d</description>
  <item><title>Water safety week begins</title><link>https://r.example.org/1</link>
    <pubDate>Tue, 10 Jun 2025 09:00:00 +0100</pubDate></item>
  <item><title>Water Safety Week begins!</title><link>https://r.example.org/2</link>
    <source url="https://lifeguards.example.org/rss">Lifeguards</source>
    <pubDate>Wed, 11 Jun 2025 08:00:00 +0100</pubDate></item>
  <item><title>Water safety week begins</title><link>https://r.example.org/3</link>
    <source url="https://council.example.org/rss">Council</source>
    <pubDate>Fri, 13 Jun 2025 08:00:00 +0100</pubDate></item>
</channel></rss>
"""


def test_the_same_story_twice_in_one_feed_is_reported(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    # The second copy is a day after the first (a twin); the third two days after the second (not one).
    report = _import(engine, settings, project, "regional.rss", SAME_STORY_TWICE)
    assert report.new == 3
    (warning,) = report.warnings
    assert "likely duplicate: 'Water Safety Week begins!' (Lifeguards, 2025-06-11) is the same story as " in warning
    assert "2025-06-10-water-safety-week-begins (Regional Digest, 2025-06-10)" in warning
