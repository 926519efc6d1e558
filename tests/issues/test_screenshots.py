"""`digest preview` takes screenshots in a real browser and shows them on the preview page."""

from __future__ import annotations

from digest.issues import browser
from digest.issues.preview import write_preview
from tests.conftest import require_tool


def test_preview_writes_and_shows_screenshots(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    require_tool(browser.available(), "no Chromium for the browser checks", tool="chromium")
    result = write_preview(engine, settings, "2025-04-10")
    assert result.screenshots
    names = ["email-desktop.png", "email-phone.png", "email-dark.png"]
    for name in names:
        data = (result.folder / name).read_bytes()
        assert data.startswith(b"\x89PNG")
        width = int.from_bytes(data[16:20], "big")
        assert width == {"email-phone.png": 375}.get(name, 600)
    index = (result.folder / "index.html").read_text(encoding="utf-8")
    assert all(f'<img src="{name}"' in index for name in names)


def test_without_a_browser_the_preview_still_works(engine, settings, sample_issue, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DIGEST_CHROMIUM", "/nonexistent/chromium")
    result = write_preview(engine, settings, "2025-04-10")
    assert not result.screenshots
    assert not (result.folder / "email-desktop.png").exists()
    assert result.no_screenshots_because == "DIGEST_CHROMIUM names /nonexistent/chromium, which does not exist"


def test_the_preview_command_says_why_it_took_no_screenshots(invoke, sample_issue, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DIGEST_CHROMIUM", "/nonexistent/chromium")
    result = invoke("preview", "2025-04-10")
    assert result.exit_code == 0
    assert "No screenshots: DIGEST_CHROMIUM names /nonexistent/chromium, which does not exist.\n" in result.stderr
    # Asked for none, it says nothing about them.
    assert "No screenshots" not in invoke("preview", "2025-04-10", "--no-screenshots").stderr
