"""`digest preview`: the folder, the .eml, the archive pages, atomic replacement."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from digest.errors import DigestError
from digest.issues.preview import write_preview


def test_preview_writes_every_file(engine, settings, sample_issue, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = write_preview(engine, settings, "2025-04-10", screenshots=False)
    folder = project / "preview" / "2025-04-10"
    assert result.index == folder / "index.html"
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == [
        ".digest-preview",  # the marker: a later preview may replace this folder (digest.issues.folders)
        "archive/2025-04-10/2025-04-03-online-forum-shut-down-and-details-of-40-users-passed-to-police.html",
        "archive/2025-04-10/2025-04-04-changes-to-children-s-home-inspections-to-support-stable-placements.html",
        "archive/2025-04-10/2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son.html",
        "archive/2025-04-10/2025-04-08-cold-water-safety-advice-as-the-weather-warms-up.html",
        "archive/2025-04-10/2025-04-09-protecting-children-from-sexual-abuse-and-exploitation-progress-report.html",
        "archive/2025-04-10/index.html",
        "archive/index.html",
        "email.eml",
        "email.html",
        "email.txt",
        "index.html",
    ]


def test_preview_fills_links_for_a_sample_reader(engine, settings, sample_issue, project: Path) -> None:  # type: ignore[no-untyped-def]
    write_preview(engine, settings, "2025-04-10", screenshots=False)
    html = (project / "preview/2025-04-10/email.html").read_text(encoding="utf-8")
    assert "%%" not in html
    assert 'href="https://news.safe.example.org/unsubscribe/preview"' in html
    assert "Dear colleague," in html


def test_eml_is_a_complete_multipart_alternative_message(engine, settings, sample_issue, project: Path) -> None:  # type: ignore[no-untyped-def]
    write_preview(engine, settings, "2025-04-10", screenshots=False)
    raw = (project / "preview/2025-04-10/email.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["From"] == "SAFE Newsfeed <newsfeed@safe.example.org>"
    # Folded onto its own line (it is 72 characters); unfolding leaves the space Python's parser keeps.
    assert message["Subject"].strip() == "Protecting children from sexual abuse and exploitation: progress report"
    assert message["List-Unsubscribe"] == (
        "<https://news.safe.example.org/unsubscribe/preview>, <mailto:unsubscribe@safe.example.org?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"].endswith("@safe.example.org>")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\r\n" in raw
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Unsubscribe: https://news.safe.example.org/unsubscribe/preview" in text


def test_archive_pages_show_the_full_article_escaped(engine, settings, sample_issue, project: Path) -> None:  # type: ignore[no-untyped-def]
    write_preview(engine, settings, "2025-04-10", screenshots=False)
    page = (
        project
        / "preview/2025-04-10/archive/2025-04-10/2025-04-09-protecting-children-from-sexual-abuse-and-exploitation-progress-report.html"
    ).read_text(encoding="utf-8")
    assert '<html lang="en-GB">' in page
    assert "<h2>New measures</h2>" in page
    assert "<li>a single framework for how police forces record" in page
    assert '<a href="./">Back to the issue of 10 April 2025</a>' in page
    index = (project / "preview/2025-04-10/archive/2025-04-10/index.html").read_text(encoding="utf-8")
    assert '<a href="2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son.html">' in index


def test_index_shows_inbox_row_frames_text_and_checks(engine, settings, sample_issue, project: Path) -> None:  # type: ignore[no-untyped-def]
    write_preview(engine, settings, "2025-04-10", screenshots=False)
    index = (project / "preview/2025-04-10/index.html").read_text(encoding="utf-8")
    assert (
        '<span class="subject">Protecting children from sexual abuse and exploitation: progress report</span>' in index
    )
    assert '<iframe src="email.html" width="640"' in index
    assert '<iframe src="email.html" width="377"' in index
    assert '<td class="level-ok">ok</td><td>size</td>' in index
    assert "Read the full story [1]" in index


def test_a_failed_render_leaves_the_old_preview_whole(
    engine, settings, sample_issue, project: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    write_preview(engine, settings, "2025-04-10", screenshots=False)
    folder = project / "preview/2025-04-10"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise DigestError("render failed")

    monkeypatch.setattr("digest.issues.preview.archive_index", broken)
    with pytest.raises(DigestError):
        write_preview(engine, settings, "2025-04-10", screenshots=False)
    after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in (project / "preview").iterdir()] == ["2025-04-10"]
