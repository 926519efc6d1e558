"""The studio never loses an editor's work (issue 22, items 1, 5 and 6), in Chromium on a real HTTP server.

Every unsaved edit is kept in the browser's storage under the issue and the
hash of the file the page opened, and offered back after a reload, a crash
of the tab and a restart of the studio. A restarted studio still knows the
editor's session (it is signed with the project's secret key); one that does
not (no key, another key) refuses beside the control and keeps the page, and
takes the page back once the editor has signed in again in another tab. A
field the studio cannot take is refused at that field, never by replacing
the page; Save says why, opens the panel the field is in and focuses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from digest.studio.app import create_app
from digest.studio.auth import Gate
from tests.httpserve import serve_app
from tests.studio_support import (  # noqa: F401 - the fixtures studio and week
    ISSUE_ID,
    JAILED,
    SEXTORTION,
    fixture_studio,
    fixture_week,
    issue_url,
    open_page,
    story_ids,
)

JAILED_TITLE = "Man jailed for grooming offences after online investigation"


def saved_and_shown(page: Any, subject: str) -> None:
    """Wait until the preview shows ``subject``: the page and the studio agree on it."""
    from playwright.sync_api import expect

    expect(page.locator("#preview-subject")).to_have_text(subject)


def saved_file(page: Any, week: Path) -> str:
    """Press Save, wait for the studio to say it saved, and read the file."""
    from playwright.sync_api import expect

    page.click("#save")
    expect(page.locator("#status")).to_contain_text("Saved issue.yaml.")
    return week.read_text(encoding="utf-8")


def test_unsaved_edits_are_offered_back_after_a_reload(chromium: Any, studio: tuple[str, Gate], week: Path) -> None:
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page = open_page(chromium, issue_url(studio), dialogs=dialogs)
    original = week.read_text(encoding="utf-8")
    page.click(f"#down-{SEXTORTION}")
    expect(page.locator("#status")).to_contain_text("Moved down: now 2nd of 2 in Online safety.")
    page.fill("#subject", "Kept through a reload")
    saved_and_shown(page, "Kept through a reload")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-studio", "ready")
    assert dialogs == ["beforeunload"]  # the browser asked before leaving unsaved changes
    offer = page.locator("#draft-offer")
    expect(offer).to_contain_text("Unsaved changes to this issue from")
    expect(page.locator("#subject")).to_have_value("New guidance on safer recruitment for sports clubs")
    page.click("#draft-restore")
    expect(page.locator("#subject")).to_have_value("Kept through a reload")
    expect(offer).to_have_count(0)
    assert story_ids(page)[:2] == [JAILED, SEXTORTION]  # the arrangement came back too
    expect(page.locator("#save-state")).to_have_text("Unsaved changes")
    assert week.read_text(encoding="utf-8") == original
    assert "subject: Kept through a reload\n" in saved_file(page, week)
    # Saved: nothing is kept or offered any more, and leaving asks nothing.
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-studio", "ready")
    expect(page.locator("#draft-offer")).to_have_count(0)
    assert dialogs == ["beforeunload"]


def test_kept_edits_can_be_discarded(chromium: Any, studio: tuple[str, Gate]) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    page.fill("#editor-note", "A note the editor changes their mind about.")
    expect(page.locator("#save-state")).to_have_text("Unsaved changes")
    page.reload()
    page.click("#draft-discard")
    expect(page.locator("#draft-offer")).to_have_count(0)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-studio", "ready")
    expect(page.locator("#draft-offer")).to_have_count(0)
    expect(page.locator("#editor-note")).to_have_value("")


def test_unsaved_edits_survive_a_crash_of_the_tab(chromium: Any, studio: tuple[str, Gate], week: Path) -> None:
    from playwright.sync_api import Error, expect

    page = open_page(chromium, issue_url(studio))
    page.fill("#introduction", "Typed just before the tab crashed.")
    expect(page.locator("#save-state")).to_have_text("Unsaved changes")
    session = chromium.new_cdp_session(page)
    with page.expect_event("crash"):
        try:
            session.send("Page.crash", timeout=2000)  # the renderer dies: no unload handler runs
        except Error:
            pass  # the call is not answered: the page it asked is gone
    again = open_page(chromium, issue_url(studio))
    expect(again.locator("#draft-offer")).to_be_visible()
    again.click("#draft-restore")
    expect(again.locator("#introduction")).to_have_value("Typed just before the tab crashed.")
    again.keyboard.press("Control+s")
    expect(again.locator("#status")).to_contain_text("Saved issue.yaml.")
    assert "Typed just before the tab crashed." in week.read_text(encoding="utf-8")


def typed_then_stopped(chromium: Any, settings: Any, engine: Any, gate: Gate, subject: str) -> tuple[Any, str, int]:
    """A page of a studio run with ``gate``, ``subject`` typed and shown; then that studio stops.

    Returns the page (still open), the studio's address and its port, for the next run to take.
    """
    with serve_app(create_app(settings, engine, gate)) as base:
        page = open_page(chromium, f"{base}/issue/{ISSUE_ID}?token={gate.token}")
        page.fill("#subject", subject)
        saved_and_shown(page, subject)
    return page, base, int(base.rsplit(":", 1)[1])


def test_a_restarted_studio_keeps_the_session_and_the_page(
    chromium: Any, settings: Any, engine: Any, week: Path
) -> None:
    """The session is signed with the project's secret key: the next run of the studio knows it."""
    secret = settings.require_secret_key()
    page, base, port = typed_then_stopped(chromium, settings, engine, Gate(secret=secret), "Written before the restart")
    second = Gate(secret=secret)  # a new run: a new token in the printed address
    with serve_app(create_app(settings, engine, second), port=port):
        assert "subject: Written before the restart\n" in saved_file(page, week)
        # A page opened afresh, without the new address, is let in on the same cookie.
        other = chromium.new_page()
        answer = other.goto(f"{base}/issue/{ISSUE_ID}")
        assert answer is not None and answer.status == 200


def test_after_a_restart_the_issue_opened_again_offers_the_kept_edits(
    chromium: Any, settings: Any, engine: Any, week: Path
) -> None:
    from playwright.sync_api import expect

    secret = settings.require_secret_key()
    page, _base, port = typed_then_stopped(chromium, settings, engine, Gate(secret=secret), "Typed, then a restart")
    with serve_app(create_app(settings, engine, Gate(secret=secret)), port=port):
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-studio", "ready")
        page.click("#draft-restore")
        expect(page.locator("#subject")).to_have_value("Typed, then a restart")
        assert "subject: Typed, then a restart\n" in saved_file(page, week)


def test_a_restarted_studio_with_another_key_refuses_beside_save_and_keeps_the_page(
    chromium: Any, settings: Any, engine: Any, week: Path
) -> None:
    """Without the project's key the session ends with the run: the page stays, and is taken back after signing in."""
    from playwright.sync_api import expect

    before = week.read_text(encoding="utf-8")
    page, base, port = typed_then_stopped(chromium, settings, engine, Gate(), "Not lost to a restart")
    second = Gate()
    with serve_app(create_app(settings, engine, second), port=port):
        page.click("#save")
        outcome = page.locator(".toolbar #outcome")
        expect(outcome).to_contain_text("This studio is private")
        expect(outcome).to_contain_text("Your changes are still on this page, and kept in this browser.")
        expect(page.locator("#subject")).to_have_value("Not lost to a restart")
        expect(page.locator("#studio")).to_have_count(1)
        assert week.read_text(encoding="utf-8") == before
        # The editor opens the new address in another tab, comes back and saves again.
        chromium.new_page().goto(f"{base}/?token={second.token}")
        assert "subject: Not lost to a restart\n" in saved_file(page, week)


def test_a_field_too_long_is_refused_at_that_field_and_nothing_else_is_lost(
    chromium: Any, studio: tuple[str, Gate], week: Path
) -> None:
    from playwright.sync_api import expect

    before = week.read_text(encoding="utf-8")
    page = open_page(chromium, issue_url(studio))
    page.fill("#subject", "A subject typed before the paste")
    saved_and_shown(page, "A subject typed before the paste")
    page.locator(f"#more-{JAILED} > summary").click()
    summary = page.locator(f"#summary-{JAILED}")
    summary.fill("x" * 20_001)
    error = page.locator(f"#error-summary-{JAILED}")
    expect(error).to_contain_text("this is 20,001 characters long; a field takes up to 20,000")
    expect(summary).to_have_attribute("aria-invalid", "true")
    expect(summary).to_have_attribute("aria-describedby", f"summary-hint-{JAILED} error-summary-{JAILED}")
    # The email stays as last shown, and says why it does not follow.
    expect(page.locator("#preview-kept")).to_be_visible()
    expect(page.locator("#preview-subject")).to_have_text("A subject typed before the paste")
    page.click("#save")
    expect(page.locator(".toolbar #outcome")).to_contain_text(
        f"Not saved: Summary of “{JAILED_TITLE}”: this is 20,001 characters long"
    )
    expect(summary).to_be_focused()
    expect(page.locator("#subject")).to_have_value("A subject typed before the paste")
    expect(page.locator("#preview-subject")).to_have_text("A subject typed before the paste")
    assert week.read_text(encoding="utf-8") == before
    summary.fill("A summary of a sensible length.")
    expect(error).to_have_count(0)
    expect(summary).not_to_have_attribute("aria-invalid", "true")
    assert "summary: A summary of a sensible length.\n" in saved_file(page, week)


def test_save_with_a_bad_link_in_a_closed_panel_opens_it_and_says_why(
    chromium: Any, studio: tuple[str, Gate], week: Path
) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    page.fill("#subject", "Saved once before")
    page.click("#save")
    expect(page.locator(".toolbar #outcome")).to_have_text("Saved issue.yaml.")
    before = week.read_text(encoding="utf-8")
    panel = page.locator(f"#more-{JAILED}")
    panel.locator("summary").click()
    page.fill(f"#url-{JAILED}", "www.northshire.police.example/jailed")
    panel.locator("summary").click()  # closed again: the link is out of sight
    expect(panel).not_to_have_attribute("open", "")
    page.click("#save")
    link = page.locator(f"#url-{JAILED}")
    expect(link).to_be_focused()
    expect(panel).to_have_attribute("open", "")
    expect(page.locator(f"#error-url-{JAILED}")).to_contain_text("must be a web address starting with https://")
    outcome = page.locator(".toolbar #outcome")
    expect(outcome).to_contain_text(f"Not saved: Link of “{JAILED_TITLE}”: url")
    expect(outcome).not_to_contain_text("Saved issue.yaml.")  # the old banner is gone
    expect(page.locator("#status")).not_to_contain_text("Saved issue.yaml.")
    assert week.read_text(encoding="utf-8") == before


def test_the_unsaved_flag_is_set_by_typing_not_by_the_studios_answer(chromium: Any, studio: tuple[str, Gate]) -> None:
    """The studio's answers are held back: the flag, the question on leaving and the kept draft still come."""
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page = open_page(chromium, issue_url(studio), dialogs=dialogs)
    held: list[Any] = []
    page.route("**/issue/*", lambda route: held.append(route) if route.request.method == "POST" else route.continue_())
    page.locator("#editor-note").press_sequentially("Office closed")
    expect(page.locator("#studio")).to_have_attribute("data-dirty", "1")
    expect(page.locator("#save-state")).to_have_text("Unsaved changes")
    page.unroute_all(behavior="ignoreErrors")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-studio", "ready")
    assert dialogs == ["beforeunload"]
    page.click("#draft-restore")
    expect(page.locator("#editor-note")).to_have_value("Office closed")
