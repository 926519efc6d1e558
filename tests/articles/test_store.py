"""The article store: de-duplication, updates, atomic per-file import, listing, topics."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.articles.store import dedupe_key, get_article, import_articles, list_articles, set_topics, slugify
from digest.errors import InputError, NotFoundError
from digest.store import db

ONE = "Title one\n\nSource: Ofsted published on this site Friday 4 April 2025 by A\n\nBody one.\n"
TWO = "Title two\n\nSource: NCA published on this site Monday 7 April 2025\n\nBody two.\n"


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def count_articles(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(db.articles)).scalar_one()


def test_importing_twice_skips_and_another_file_with_the_same_article_too(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    first = import_articles(engine, settings, [write(project, "a.txt", ONE + "\n" + TWO)])
    assert (first.new, first.updated, first.skipped) == (2, 0, 0)
    again = import_articles(engine, settings, [write(project, "a.txt", ONE + "\n" + TWO)])
    assert (again.new, again.updated, again.skipped) == (0, 0, 2)
    # Same source, title and date, different spacing and case: the same article.
    other = ONE.replace("Title one", "TITLE  one").replace("Body one.", "Body one.")
    elsewhere = import_articles(engine, settings, [write(project, "b.txt", other)])
    assert (elsewhere.new, elsewhere.updated, elsewhere.skipped) == (0, 1, 0)
    assert count_articles(engine) == 2


def test_changed_body_is_an_update_keeping_the_id(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    report = import_articles(engine, settings, [write(project, "a.txt", ONE)])
    (article_id,) = report.ids
    changed = import_articles(
        engine, settings, [write(project, "a.txt", ONE.replace("Body one.", "Body one, corrected."))]
    )
    assert (changed.new, changed.updated) == (0, 1)
    assert get_article(engine, article_id).body[0]["runs"][0]["text"] == "Body one, corrected."


def test_a_bad_file_imports_nothing_while_good_files_still_import(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    bad = write(project, "bad.txt", ONE + "\nBroken\n\nSource: nobody knows when\n")
    good = write(project, "good.txt", TWO)
    report = import_articles(engine, settings, [bad, good])
    assert report.new == 1
    assert [str(f) for f in report.failures] == [
        f"{bad}, line 9: a 'Source:' line must read 'Source: <organisation> published on this website <weekday> <day> <Month> <year> [by <name>]'"
    ]
    assert [a.title for a in list_articles(engine)] == ["Title two"]


def test_ids_are_date_and_title_slugs_and_never_collide(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    same_title = ONE + "\n" + ONE.replace("Ofsted", "CQC")
    report = import_articles(engine, settings, [write(project, "a.txt", same_title)])
    assert report.ids == ["2025-04-04-title-one", "2025-04-04-title-one-2"]


def test_slugify_cuts_at_a_word_boundary() -> None:
    assert slugify("Changes to social care inspections aimed at improving stability for vulnerable children") == (
        "changes-to-social-care-inspections-aimed-at-improving-stability-for"
    )
    assert slugify("Ofsted’s “new” rules – é") == "ofsteds-new-rules-e"
    assert slugify("!!!") == "article"


def test_dedupe_key_ignores_case_spacing_and_quote_style() -> None:
    assert dedupe_key("Home Office", "Ofsted’s plan", date(2025, 4, 1)) == dedupe_key(
        " home  office", "OFSTED'S PLAN", date(2025, 4, 1)
    )
    assert dedupe_key("Home Office", "Plan", date(2025, 4, 1)) != dedupe_key("Home Office", "Plan", date(2025, 4, 2))


def test_sample_topics_are_tagged_by_keyword_rules(engine, settings, imported) -> None:  # type: ignore[no-untyped-def]
    topics = {a.source: a.topics[0] for a in list_articles(engine)}
    assert topics == {
        "Department for Children and Families": "child-sexual-abuse",
        "Riverside Police": "water-safety",
        "Care Standards Inspectorate": "social-care",
        "Regional Prosecution Service (RPS)": "courts-justice",
        "National Online Harms Unit": "online-safety",
    }


def test_list_filters(engine, settings, imported) -> None:  # type: ignore[no-untyped-def]
    assert [a.published for a in list_articles(engine, since=date(2025, 4, 7))] == [
        date(2025, 4, 9),
        date(2025, 4, 8),
        date(2025, 4, 7),
    ]
    assert [a.source for a in list_articles(engine, topic="water-safety")] == ["Riverside Police"]
    assert [a.source for a in list_articles(engine, source="regional")] == ["Regional Prosecution Service (RPS)"]
    assert list_articles(engine, until=date(2025, 4, 4))[0].source == "National Online Harms Unit"


def test_editor_topics_survive_reimport(engine, settings, sample_copy, imported) -> None:  # type: ignore[no-untyped-def]
    article_id = "2025-04-08-cold-water-safety-advice-as-the-weather-warms-up"
    set_topics(engine, settings, article_id, ["health", "water-safety"])
    sample_copy.write_text(
        sample_copy.read_text(encoding="utf-8").replace("Marine Policing Unit", "Marine Unit"), encoding="utf-8"
    )
    report = import_articles(engine, settings, [str(sample_copy)])
    assert report.updated == 1
    article = get_article(engine, article_id)
    assert (article.topics, article.topics_locked) == (["health", "water-safety"], True)


def test_unknown_topics_are_refused(engine, settings, imported) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as caught:
        set_topics(
            engine, settings, "2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son", ["astrology"]
        )
    assert str(caught.value).startswith("unknown topic 'astrology'; known topics: child-sexual-abuse, ")
    with pytest.raises(NotFoundError):
        set_topics(engine, settings, "no-such-article", ["health"])
