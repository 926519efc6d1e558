"""The cache of inlined HTML and compiled templates: the same output as without it, and never a cause of failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import DigestError
from digest.issues import render
from digest.issues.cache import cache_dir
from digest.issues.issue import load_view


@pytest.fixture
def view(engine, settings, sample_issue):  # type: ignore[no-untyped-def]
    return load_view(engine, settings, "2025-04-10")


def _no_premailer(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    class Refusing:
        def transform(self, html: str, **_options: object) -> str:
            calls.append(html)
            raise AssertionError("premailer ran")

    monkeypatch.setattr(render, "_premailer", lambda: Refusing())
    return calls


def test_the_same_html_is_inlined_once_and_comes_back_the_same(view, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = render.render_issue(view, settings)
    calls = _no_premailer(monkeypatch)
    assert render.render_issue(view, settings).html == first.html  # from the cache: premailer not asked
    assert calls == []
    with pytest.raises(DigestError, match="premailer ran"):
        render.render_issue(view, settings, topics=frozenset({"sport"}))  # other stories: other HTML, inlined anew


def test_a_damaged_entry_is_inlined_again(view, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = render.render_issue(view, settings)
    folder = cache_dir()
    assert folder is not None
    for entry in (folder / "inlined").glob("*.txt"):
        entry.write_text(entry.read_text(encoding="utf-8").replace("<table", "<tabel"), encoding="utf-8")
    again = render.render_issue(view, settings)
    assert again.html == first.html and "<tabel" not in again.html


@pytest.mark.parametrize("setting", ["off", "file"])
def test_without_a_usable_cache_the_work_is_simply_done(
    view, settings, monkeypatch, tmp_path: Path, setting: str
) -> None:  # type: ignore[no-untyped-def]
    expected = render.render_issue(view, settings).html
    if setting == "file":
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("x", encoding="utf-8")
        setting = str(blocker / "digest")  # cannot be made: a file is in the way
    monkeypatch.setenv("DIGEST_CACHE_DIR", setting)
    cache_dir.cache_clear()
    render._environment.cache_clear()
    assert cache_dir() is None
    calls = _no_premailer(monkeypatch)
    with pytest.raises(DigestError, match="premailer ran"):
        render.render_issue(view, settings)  # no cache: premailer is asked every time
    assert len(calls) == 1
    monkeypatch.undo()
    render._environment.cache_clear()
    assert render.render_issue(view, settings).html == expected
