"""The studio in a real browser (Chromium through Playwright) on a real HTTP server.

The editor's week end to end (choose, arrange by button and by dragging, set
the lead, edit a summary, show a story in full, save) must leave exactly the
expected issue.yaml, comments and all; a change on disk is caught; the preview
and the checks follow each edit; the keyboard alone can reorder; and axe-core
finds nothing serious on any studio page. The pages run under their own
Content-Security-Policy here; only the axe runs get a context that lets the
checker in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from digest.studio.app import create_app
from digest.studio.auth import Gate
from tests.conftest import axe, describe_violations
from tests.httpserve import serve_app
from tests.studio_support import (  # noqa: F401 - the fixtures studio and week
    COLD_WATER,
    DSL_DATES,
    ISSUE_ID,
    JAILED,
    LATE,
    NURSES,
    RECRUITMENT,
    REVIEW,
    SEXTORTION,
    TALL,
    YOUNG_CARERS,
    fixture_studio,
    fixture_week,
    issue_url,
    open_page,
    story_ids,
)

# --- composing ----------------------------------------------------------------------------


def test_compose_the_week_end_to_end(chromium: Any, studio: tuple[str, Gate], week: Path) -> None:
    from playwright.sync_api import expect

    original = week.read_text(encoding="utf-8")
    page = open_page(chromium, issue_url(studio), TALL)
    status = page.locator("#status")
    # Choose: a story that came in late, and one fewer on health.
    page.click(f"#add-{LATE}")
    expect(status).to_contain_text("Added: 1st of 1 in Sport, clubs and community.")
    page.click(f"#drop-{YOUNG_CARERS}")
    expect(status).to_contain_text("Left out of the issue.")
    # Arrange: a button, the lead, a drag into another section, an empty section removed.
    page.click(f"#down-{SEXTORTION}")
    expect(status).to_contain_text("Moved down: now 2nd of 2 in Online safety.")
    page.click(f"#lead-{SEXTORTION}")
    # The old lead goes to the section of its first topic.
    expect(status).to_contain_text("Now the lead; the previous lead is now 2nd of 2 in Sport, clubs and community.")
    page.locator(f"li.story[data-id='{NURSES}']").drag_to(
        page.locator(f"li.story[data-id='{REVIEW}']"), target_position={"x": 30, "y": 4}
    )
    expect(status).to_contain_text("Moved: now 1st of 2 in Children's social care.")
    page.click("#section-remove-s4")
    expect(status).to_contain_text("Removed the empty section Health and wellbeing.")
    # A summary of the editor's own, and one story in full.
    page.locator(f"#more-{COLD_WATER} > summary").click()
    page.fill(f"#summary-{COLD_WATER}", "Free lesson plans for Key Stages 2 to 4, and a poster for parents.")
    page.locator(f"#more-{DSL_DATES} > summary").click()
    page.check(f"#full-{DSL_DATES}")
    expect(page.locator("#save-state")).to_have_text("Unsaved changes")
    assert week.read_text(encoding="utf-8") == original  # nothing is written before Save
    page.click("#save")
    expect(status).to_contain_text("Saved issue.yaml.")
    expect(page.locator("#save-state")).to_have_text("Saved: the file says what you see")

    head = original.split("lead: ", 1)[0]
    assert week.read_text(encoding="utf-8") == head + (
        f"lead: {SEXTORTION}   # 2026-11-20 SAFE CIC: Sextortion: what to say if a young person comes to you\n"
        "sections:\n"
        "  - title: Online safety\n"
        "    stories:\n"
        f"      - {JAILED}   # court reporting restrictions checked; 2026-11-18 Northshire Police: "
        "Man jailed for grooming offences after online investigation\n"
        "  # Water safety: ask Priya for a quote before sending\n"
        "  - title: Water safety\n"
        "    stories:\n"
        f"      - id: {COLD_WATER}   # 2026-11-16 Northshire Fire and Rescue Service: "
        "Northshire launches summer-to-winter cold water safety ca…\n"
        "        summary: Free lesson plans for Key Stages 2 to 4, and a poster for parents.\n"
        "  - title: Children's social care\n"
        "    stories:\n"
        f"      - {NURSES}   # 2026-11-20 Example Health Safeguarding Network: "
        "Named nurses asked to review self-harm pathways for under…\n"
        f"      - {REVIEW}   # 2026-11-17 Westbridge Safeguarding Children Partnership: "
        "Council publishes learning review after neglect of two si…\n"
        "  - title: Schools and education\n"
        "    stories:\n"
        f"      - id: {DSL_DATES}   # 2026-11-21 SAFE CIC: Designated safeguarding lead refresher dates for spring 2027\n"
        "        full: true\n"
        "  - title: Sport, clubs and community\n"
        "    stories:\n"
        f"      - {LATE}   # 2026-11-22 SAFE CIC: Half-term holiday clubs reminded of staff vetting duties\n"
        f"      - {RECRUITMENT}\n"
        "# End of the issue: nothing below here.\n"
    )


def test_a_change_made_on_disk_meanwhile_is_shown_not_overwritten(
    chromium: Any, studio: tuple[str, Gate], week: Path
) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    theirs = week.read_text(encoding="utf-8").replace("editor_note: ''", "editor_note: 'Office closed Friday.'  # Sam")
    week.write_text(theirs, encoding="utf-8")
    page.fill("#subject", "Cold water, safer recruitment and sextortion")
    page.click("#save")
    conflict = page.locator("#conflict")
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text("+editor_note: 'Office closed Friday.'  # Sam")
    expect(conflict).to_contain_text("+subject: Cold water, safer recruitment and sextortion")
    expect(page.locator("#problems")).to_contain_text("nothing was saved")
    # The typing scheduled a preview; the save's answer must stay the last word.
    page.wait_for_timeout(800)
    expect(page.locator("#studio[aria-busy]")).to_have_count(0)
    assert "nothing was saved" in page.inner_text("#problems")
    assert week.read_text(encoding="utf-8") == theirs
    page.click("#overwrite")
    expect(page.locator("#status")).to_contain_text("Saved your changes into the changed file.")
    saved = week.read_text(encoding="utf-8")
    assert "subject: Cold water, safer recruitment and sextortion\n" in saved
    assert "editor_note: 'Office closed Friday.'  # Sam\n" in saved


def test_the_preview_and_the_checks_follow_each_edit(chromium: Any, studio: tuple[str, Gate]) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    email = page.frame_locator("#preview-frame")
    expect(email.locator("body")).to_contain_text("New guidance on safer recruitment for sports clubs")
    # Typing: the inbox line, the email and the checks change without a click.
    page.fill("#editor-note", "The office is closed on Friday 27 November.")
    expect(email.locator("body")).to_contain_text("The office is closed on Friday 27 November.")
    long_subject = "SAFE Newsfeed: " + "a very long subject line indeed, " * 3
    page.fill("#subject", long_subject)
    expect(page.locator("#preview-subject")).to_have_text(long_subject.strip())
    expect(page.locator("#checks")).to_contain_text("most inboxes cut it off")
    # A story in full brings its whole text into the email.
    whole = "Officers from the force’s online child abuse investigation team identified him"
    page.locator(f"#more-{JAILED} > summary").click()
    page.check(f"#full-{JAILED}")
    expect(email.locator("body")).to_contain_text(whole)
    # Another segment's variant, and the phone width.
    page.select_option("#segment", "health")
    expect(page.locator("#preview-output")).to_contain_text("for health")
    page.check("#width-375")
    assert page.locator("#preview-frame").bounding_box()["width"] == pytest.approx(377, abs=1)


def test_import_warnings_of_chosen_stories_are_shown(chromium: Any, studio: tuple[str, Gate], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    export = tmp_path / "newsfeed-late.txt"
    export.write_text(
        "Schools asked to update their lockdown procedures\n\n"
        "Source: Northshire Police published on this website Tuesday 19 November 2026\n\n"
        "Northshire Police has asked every school to review its lockdown procedure.\n",
        encoding="utf-8",
    )
    page = open_page(chromium, issue_url(studio))
    page.set_input_files("#import-file", str(export))
    page.click("#import")
    expect(page.locator("#status")).to_contain_text("Imported 1 new, 0 updated, 0 skipped.")
    page.click("#add-2026-11-19-schools-asked-to-update-their-lockdown-procedures")
    warnings = page.locator("#import-warnings")
    expect(warnings).to_contain_text("newsfeed-late.txt, line 3: says Tuesday 19 November 2026, which was a Thursday")


def test_without_the_token_the_browser_gets_nothing(chromium: Any, studio: tuple[str, Gate]) -> None:
    base, gate = studio
    page = chromium.new_page()
    for url in (f"{base}/", f"{base}/issue/{ISSUE_ID}", f"{base}/static/studio.js", f"{base}/?token=guess"):
        answer = page.goto(url)
        assert answer is not None and answer.status == 403
        assert "This studio is private" in page.content()
    answer = page.goto(f"{base}/issue/{ISSUE_ID}?token={gate.token}")
    assert answer is not None and answer.status == 200
    assert page.url == f"{base}/issue/{ISSUE_ID}"  # the token has left the address bar


def test_stories_can_be_reordered_with_the_keyboard_alone(chromium: Any, studio: tuple[str, Gate], week: Path) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    target = f"down-{SEXTORTION}"
    for _ in range(80):  # Tab through the page to the story's Down button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == target:
            break
    expect(page.locator(f"#{target}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Moved down: now 2nd of 2 in Online safety.")
    expect(page.locator(f"#{target}")).to_be_focused()  # the focus stays with the story
    page.keyboard.press("Alt+ArrowUp")
    expect(page.locator("#status")).to_contain_text("Moved up: now 1st of 2 in Online safety.")
    page.keyboard.press("Alt+ArrowDown")
    page.keyboard.press("Alt+ArrowDown")
    expect(page.locator("#status")).to_contain_text("Moved down: now 1st of 2 in Water safety.")
    assert story_ids(page)[:3] == [JAILED, SEXTORTION, COLD_WATER]
    # A section moves the same way, from its title.
    page.focus("#title-s4")
    page.keyboard.press("Alt+ArrowUp")
    expect(page.locator("#status")).to_contain_text("Section moved up: now 4th of 5.")
    page.focus("#save")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Saved issue.yaml.")
    saved = week.read_text(encoding="utf-8")
    assert saved.index("title: Health and wellbeing") < saved.index("title: Schools and education")
    assert re.search(rf"title: Water safety\n    stories:\n      - {SEXTORTION}   #", saved)


def test_the_page_works_without_javascript(chromium: Any, studio: tuple[str, Gate], week: Path) -> None:
    """Every button is a plain form submit: with scripts off the server answers with the whole page."""
    page = chromium.new_page()
    page.route("**/static/*.js", lambda route: route.abort())
    page.goto(issue_url(studio))
    assert page.evaluate("document.documentElement.dataset.studio") is None
    page.click(f"#down-{SEXTORTION}")
    assert "Moved down: now 2nd of 2 in Online safety." in page.locator("#status").inner_text()
    page.fill("#subject", "Written without scripts")
    page.click("#save")
    assert "Saved issue.yaml." in page.locator("#status").inner_text()
    assert "subject: Written without scripts\n" in week.read_text(encoding="utf-8")


# --- accessibility ----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    "state", ["issue", "issue-open", "issue-marked", "issue-text", "conflict", "index", "refused", "missing"]
)
def test_studio_pages_have_no_serious_accessibility_problems(  # type: ignore[no-untyped-def]
    chromium_for_axe, studio, week, state, scheme
) -> None:
    from playwright.sync_api import expect

    base, gate = studio
    page = chromium_for_axe.new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.emulate_media(color_scheme=scheme)
    page.on("dialog", lambda dialog: dialog.accept())
    if state == "refused":
        page.goto(f"{base}/issue/{ISSUE_ID}")
    else:
        page.goto(f"{base}/?token={gate.token}")
        if state == "missing":
            page.goto(f"{base}/issue/no-such-issue")
        elif state.startswith("issue") or state == "conflict":
            page.goto(f"{base}/issue/{ISSUE_ID}")
            expect(page.locator("html")).to_have_attribute("data-studio", "ready")
            if state == "issue-open":
                page.eval_on_selector_all("details", "els => els.forEach(d => d.open = true)")
            if state == "issue-marked":  # kept edits offered back, a field at fault, a refused save beside Save
                page.fill("#preheader", "Kept in the browser")
                expect(page.locator("#save-state")).to_have_text("Unsaved changes")
                page.reload()
                expect(page.locator("#draft-offer")).to_be_visible()
                page.fill("#subject", "")
                page.click("#save")
                expect(page.locator("#error-subject")).to_be_visible()
                expect(page.locator(".toolbar #outcome")).to_be_visible()
            if state == "issue-text":
                page.check("#view-text")
                expect(page.locator("#preview-text")).to_be_visible()
            if state == "conflict":
                week.write_text(week.read_text(encoding="utf-8") + "# changed on disk\n", encoding="utf-8")
                page.fill("#subject", "Another subject")
                page.click("#save")
                expect(page.locator("#conflict")).to_be_visible()
    violations = axe(page)
    assert violations == [], describe_violations(violations)


def test_the_login_page_has_no_serious_accessibility_problems(chromium_for_axe, settings, engine, week) -> None:  # type: ignore[no-untyped-def]
    gate = Gate(password="correct horse battery")
    with serve_app(create_app(settings, engine, gate)) as base:
        page = chromium_for_axe.new_page()
        page.goto(f"{base}/?token={gate.token}")
        assert page.url == f"{base}/login"
        page.fill("#password", "wrong password here")
        page.click("button[type=submit]")
        assert "That is not the studio's password." in page.content()
        violations = axe(page)
        page.fill("#password", "correct horse battery")
        page.click("button[type=submit]")
        assert page.url == f"{base}/"
    assert violations == [], describe_violations(violations)
