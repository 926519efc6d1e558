"""The editor's corrections: edit an imported article in place, delete one; what imports keep and say."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.articles.edits import delete_article, edit_article
from digest.articles.store import get_article, import_articles, list_articles
from digest.errors import InputError, NotFoundError, StateError
from digest.store import db

TEXT = (
    "Councl publishes reveiw\n\n"
    "Source: Westbridge Council published on this website Friday 4 April 2025 by Kim Poster\n\n"
    "The council published its review of how agencies shared information.\n"
)
WRONG_WEEKDAY = TEXT.replace("Friday 4 April", "Monday 4 April")


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def ids(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(db.articles.c.id).order_by(db.articles.c.id)).scalars())


def test_the_exports_by_line_is_who_posted_it_not_the_author(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    (article_id,) = import_articles(engine, settings, [write(project, "a.txt", TEXT)]).ids
    article = get_article(engine, article_id)
    assert (article.author, article.posted_by) == ("", "Kim Poster")


def test_import_warnings_are_kept_with_the_article(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = write(project, "a.txt", WRONG_WEEKDAY)
    report = import_articles(engine, settings, [path])
    (article_id,) = report.ids
    stored = get_article(engine, article_id).import_warnings
    assert stored == tuple(report.warnings) and "which was a Friday" in stored[0]
    # A likely duplicate from another source is remembered by the new article.
    feedish = WRONG_WEEKDAY.replace("Westbridge Council", "GOV.UK").replace("Monday 4 April", "Friday 4 April")
    second = import_articles(engine, settings, [write(project, "b.txt", feedish)])
    assert "likely duplicate" in get_article(engine, second.ids[0]).import_warnings[0]


def test_an_edited_title_keeps_the_id_and_survives_the_next_import(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = write(project, "a.txt", TEXT)
    (article_id,) = import_articles(engine, settings, [path]).ids
    edited = edit_article(engine, settings, article_id, {"title": "Council publishes review", "author": None})
    assert (edited.id, edited.title, edited.edited) == (article_id, "Council publishes review", ("title",))
    # The same file again: no second article, and the correction stands.
    again = import_articles(engine, settings, [path])
    assert (again.new, again.updated, again.skipped) == (0, 0, 1)
    # A changed body in the export updates the body and still keeps the title.
    changed = import_articles(engine, settings, [write(project, "a.txt", TEXT.replace("information", "records"))])
    assert (changed.new, changed.updated) == (0, 1)
    article = get_article(engine, article_id)
    assert article.title == "Council publishes review" and "records" in article.text
    assert ids(engine) == [article_id]  # never a "-2" duplicate


def test_edits_are_checked(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    (article_id,) = import_articles(engine, settings, [write(project, "a.txt", TEXT)]).ids
    with pytest.raises(InputError, match="the title cannot be empty"):
        edit_article(engine, settings, article_id, {"title": "  "})
    with pytest.raises(InputError, match="must start with https:// or http://"):
        edit_article(engine, settings, article_id, {"url": "javascript:alert(1)"})
    with pytest.raises(InputError, match="nothing to change"):
        edit_article(engine, settings, article_id, {"title": None})
    with pytest.raises(NotFoundError):
        edit_article(engine, settings, "no-such-article", {"title": "x"})
    moved = edit_article(engine, settings, article_id, {"published": date(2025, 4, 5), "url": "https://example.org/r"})
    assert (moved.published, moved.url) == (date(2025, 4, 5), "https://example.org/r")


def test_a_deleted_article_stays_deleted(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    path = write(project, "a.txt", TEXT)
    (article_id,) = import_articles(engine, settings, [path]).ids
    delete_article(engine, settings, article_id)
    assert list_articles(engine) == []
    with pytest.raises(NotFoundError):
        get_article(engine, article_id)
    again = import_articles(engine, settings, [path])
    assert (again.new, again.updated, again.skipped) == (0, 0, 1)
    # Even a changed copy of it in a later export does not bring it back.
    changed = import_articles(engine, settings, [write(project, "a.txt", TEXT.replace("information", "records"))])
    assert (changed.new, changed.updated, changed.skipped) == (0, 0, 1)
    assert list_articles(engine) == []


def test_an_article_in_an_issue_cannot_be_deleted(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    article_id = "2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son"
    with pytest.raises(StateError) as caught:
        delete_article(engine, settings, article_id)
    assert str(caught.value).startswith(f"{article_id} is in issue 2025-04-10 ({sample_issue}, line ")
    assert get_article(engine, article_id)


def test_the_cli_edits_and_deletes(invoke, project, engine, settings) -> None:  # type: ignore[no-untyped-def]
    path = write(project, "a.txt", TEXT)
    (article_id,) = import_articles(engine, settings, [path]).ids
    result = invoke("articles", "edit", article_id, "--title", "Council publishes review")
    assert result.exit_code == 0
    assert (
        result.output == f"{article_id}: title changed.\n  2025-04-04  Westbridge Council: Council publishes review\n"
    )
    shown = invoke("articles", "show", article_id).output
    assert "posted by: Kim Poster (who put it on the site it came from; not shown to readers)\n" in shown
    assert "edited:    title (kept when the file is imported again)\n" in shown
    assert invoke("articles", "delete", article_id).output == (
        f"Deleted {article_id} (Westbridge Council: Council publishes review).\n"
    )
    assert invoke("articles", "delete", article_id).exit_code == 1


def test_the_migration_moves_the_exports_by_line_to_posted_by(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = db.create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade(engine, "0006")
    now = db.utcnow()
    with engine.begin() as conn:
        for number, (origin, author) in enumerate([("export.TXT", "Kim Poster"), ("feed.xml", "News Desk")]):
            conn.execute(
                sa.text(
                    "INSERT INTO articles (id, dedupe_key, source, title, published, author, body, topics,"
                    " origin, content_hash, created_at, updated_at)"
                    " VALUES (:id, :id, 's', 't', '2025-04-04', :author, '[]', '[]', :origin, 'h', :now, :now)"
                ),
                {"id": f"a{number}", "author": author, "origin": origin, "now": now.replace(tzinfo=None)},
            )
    db.upgrade(engine)
    assert (get_article(engine, "a0").author, get_article(engine, "a0").posted_by) == ("", "Kim Poster")
    assert (get_article(engine, "a1").author, get_article(engine, "a1").posted_by) == ("News Desk", "")
