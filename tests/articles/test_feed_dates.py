"""Feed dates written in other languages and numeric forms, and entries whose date cannot be read.

tests/data/feed-dates.rss holds one entry per way of writing a date that
publishers use and feedparser does not read (issue 23). An entry whose date
cannot be read is never dated today: it is stored undated, warned about with
the text that could not be read, and left out of drafts until the editor
dates it.
"""

from __future__ import annotations

import shutil
from datetime import date

import pytest
import yaml

from digest.articles.sources import dates as feed_dates
from digest.articles.sources import read_source
from digest.articles.sources.dates import DateReader
from digest.articles.store import get_article, import_articles, list_articles
from digest.issues.drafting import new_issue
from tests.conftest import DATA

FEED = DATA / "feed-dates.rss"
EXPECTED = {
    "Portuguese RFC 822": date(2018, 9, 24),
    "Drupal's default date": date(2019, 5, 3),  # month first: 3 May 2019 was the Friday it names
    "Czech numeric date": date(2022, 11, 22),
    "Spelled-out US date": date(2021, 1, 29),
    "German RFC 822 without a zone": date(2018, 6, 25),
    "Spanish RFC 822": date(2024, 3, 14),
    "Numeric date without a weekday": date(2019, 3, 5),  # day first, as Britain writes it
    "A date nobody can read": None,
    "A relative date": None,
    "No date at all": None,
}


def test_dates_in_other_languages_and_numeric_forms_are_read() -> None:
    result = read_source(str(FEED))
    assert {article.title: article.published for article in result.articles} == EXPECTED


def test_an_unreadable_date_is_named_in_the_warning_and_never_today() -> None:
    result = read_source(str(FEED))
    unread = [w for w in result.warnings if "imported undated" in w]
    assert len(unread) == 3
    assert "entry 8 ('A date nobody can read'): its date 'Publicado em breve' could not be read" in unread[0]
    assert "entry 9 ('A relative date'): its date 'yesterday 10:00' could not be read" in unread[1]
    assert "entry 10 ('No date at all'): it has no date" in unread[2]
    undated = [a for a in result.articles if a.published is None]
    assert [a.warnings for a in undated] == [[w] for w in unread]  # kept with each article for `digest check`


def test_the_feeds_language_decides_an_ambiguous_numeric_date() -> None:
    assert DateReader("en-US").read("05/03/2019").date() == date(2019, 5, 3)  # type: ignore[union-attr]
    assert DateReader("en-GB").read("05/03/2019").date() == date(2019, 3, 5)  # type: ignore[union-attr]
    assert DateReader("cs").read("05.03.2019 10:00").date() == date(2019, 3, 5)  # type: ignore[union-attr]
    # A weekday beside the date beats the language.
    assert DateReader("en-GB").read("Fri, 05/03/2019").date() == date(2019, 5, 3)  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["yesterday", "2 days ago", "2019", "March 2019", "Sun, 31 Feb 2019", "", "12"])
def test_relative_partial_and_impossible_dates_are_not_dates(text: str) -> None:
    assert DateReader().read(text) is None


def test_a_feed_of_garbage_dates_is_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_dates, "MAX_TRIES", 3)
    reader = DateReader()
    assert [reader.read(f"garbage {n}") for n in range(3)] == [None, None, None]
    assert reader.exhausted
    assert reader.read("22.11.2022 12:16:00") is None  # not tried any more
    assert DateReader().read("22.11.2022 12:16:00") is not None


def test_undated_articles_are_stored_left_out_of_drafts_and_come_in_once_dated(
    engine, settings, project, invoke
) -> None:  # type: ignore[no-untyped-def]
    path = project / "dates.rss"
    shutil.copy(FEED, path)
    report = import_articles(engine, settings, [str(path)])
    assert report.new == 10
    undated = [a for a in list_articles(engine) if a.published is None]
    assert sorted(a.title for a in undated) == ["A date nobody can read", "A relative date", "No date at all"]
    assert list_articles(engine)[-3:] == sorted(undated, key=lambda a: a.id)  # listed last, after every dated one
    nobody = next(a for a in undated if a.title == "A date nobody can read")
    assert nobody.id == "undated-a-date-nobody-can-read"
    assert "'Publicado em breve' could not be read" in nobody.import_warnings[0]
    listed = invoke("articles", "list").output
    assert "undated     Dates From Everywhere: A date nobody can read" in listed
    assert "published: undated" in invoke("articles", "show", nobody.id).output

    # Importing the same feed again neither duplicates nor dates them.
    again = import_articles(engine, settings, [str(path)])
    assert (again.new, again.skipped) == (0, 10)

    # Drafting the week of today leaves every undated story out: none is "this week's".
    today = date.today()
    with pytest.raises(Exception, match="no articles published"):
        new_issue(engine, settings, issue_date=today)

    # Dated by the editor, the story is drafted in its week, and a new import keeps the date.
    result = invoke("articles", "edit", nobody.id, "--published", "2024-03-12")
    assert result.exit_code == 0, result.output
    assert "2024-03-12  Dates From Everywhere: A date nobody can read" in result.output
    issue_path, _ = new_issue(engine, settings, issue_date=date(2024, 3, 18))
    draft = yaml.safe_load(issue_path.read_text(encoding="utf-8"))
    drafted = [draft["lead"]] + [
        s if isinstance(s, str) else s["id"] for sec in draft["sections"] for s in sec["stories"]
    ]
    assert nobody.id in drafted
    import_articles(engine, settings, [str(path)])
    assert get_article(engine, nobody.id).published == date(2024, 3, 12)


def test_an_issue_naming_an_undated_story_fails_the_check(engine, settings, project, invoke) -> None:  # type: ignore[no-untyped-def]
    path = project / "dates.rss"
    shutil.copy(FEED, path)
    import_articles(engine, settings, [str(path)])
    issue_path, _ = new_issue(engine, settings, issue_date=date(2018, 10, 1))
    lead = yaml.safe_load(issue_path.read_text(encoding="utf-8"))["lead"]
    undated = "undated-no-date-at-all"
    issue_path.write_text(issue_path.read_text(encoding="utf-8").replace(lead, undated), encoding="utf-8")
    result = invoke("check", "2018-10-01")
    assert result.exit_code == 1
    assert f"{undated} has no date (it could not be read when it was imported); " in result.output
    assert f"date it with `digest articles edit {undated} --published YYYY-MM-DD`" in result.output
