"""The studio an editor trusts on deadline (issue 22, items 2, 3, 4, 7, 8 and 10), in Chromium.

Enter never saves and Ctrl+S does; a conflict keeps each side's changes; Make
lead sends the old lead to its own section, and the checks notice a story
under a section that is not its topic; every result is shown beside its
control and read out, and the focus stays put; the smaller points of item 8;
and nothing is approved or sent from a page whose file changed on disk, nor
accepted from an origin that only looks like the studio's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from digest.issues.approval import approve, latest_approval
from digest.studio.auth import Gate
from tests.studio_support import (  # noqa: F401 - the fixtures studio and week
    ISSUE_ID,
    JAILED,
    RECRUITMENT,
    SEXTORTION,
    fixture_studio,
    fixture_week,
    issue_url,
    open_page,
)

ONLINE_SAFETY = re.compile(r"  - title: Online safety\n    stories:\n((?:      - .*\n)+)")


def online_safety(text: str) -> list[str]:
    """The ids of the stories under Online safety in an issue file, in order."""
    found = ONLINE_SAFETY.search(text)
    assert found, text
    return [line.split()[1] for line in found.group(1).splitlines()]


# --- 2. Enter and Ctrl+S ----------------------------------------------------------------------


def test_enter_never_saves_and_presses_the_fields_own_button(
    chromium: Any, studio: tuple[str, Gate], week: Path, engine: Any
) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    before = week.read_text(encoding="utf-8")
    page.fill("#subject", "Half-typed subj")
    page.press("#subject", "Enter")
    page.fill("#new-section", "Courts and justice")
    page.press("#new-section", "Enter")
    expect(page.locator("#outcome")).to_contain_text("Added the section Courts and justice, at the end")
    expect(page.locator("#new-section")).to_be_focused()
    expect(page.locator("#new-section")).to_have_value("")
    assert week.read_text(encoding="utf-8") == before  # neither Enter saved
    page.keyboard.press("Control+s")
    expect(page.locator(".toolbar #outcome")).to_have_text("Saved issue.yaml.")
    saved = week.read_text(encoding="utf-8")
    assert "subject: Half-typed subj\n" in saved and "title: Courts and justice" in saved
    page.fill("#approver", "Sam Editor")
    page.press("#approver", "Enter")
    expect(page.locator("#outcome")).to_contain_text("Approved by Sam Editor")
    approval = latest_approval(engine, ISSUE_ID)
    assert approval is not None and approval.approved_by == "Sam Editor"
    assert week.read_text(encoding="utf-8") == saved


def test_without_javascript_enter_in_a_field_only_updates_the_preview(
    chromium: Any, studio: tuple[str, Gate], week: Path
) -> None:
    page = chromium.new_page()
    page.route("**/static/*.js", lambda route: route.abort())
    page.goto(issue_url(studio))
    before = week.read_text(encoding="utf-8")
    page.fill("#subject", "Typed without scripts")
    with page.expect_navigation():
        page.press("#subject", "Enter")
    assert page.locator("#preview-subject").inner_text() == "Typed without scripts"
    assert page.input_value("#subject") == "Typed without scripts"
    assert "Saved issue.yaml." not in page.content()
    assert week.read_text(encoding="utf-8") == before


# --- 3. the three-way merge ---------------------------------------------------------------------


@pytest.mark.parametrize("renamer", ["they", "I"])
def test_a_conflict_keeps_a_rename_on_one_side_and_a_move_on_the_other(
    chromium: Any, studio: tuple[str, Gate], week: Path, renamer: str
) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    text = week.read_text(encoding="utf-8")
    assert online_safety(text) == [SEXTORTION, JAILED]
    if renamer == "they":
        week.write_text(text.replace("title: Water safety", "title: Water and ice safety"), encoding="utf-8")
        page.click(f"#down-{SEXTORTION}")  # a move inside one section
        expect(page.locator("#status")).to_contain_text("Moved down: now 2nd of 2 in Online safety.")
    else:
        page.fill("#title-s1", "Water and ice safety")
        expect(page.locator("#save-state")).to_have_text("Unsaved changes")
        first, second = [line for line in text.splitlines(keepends=True) if line.startswith("      - 2026-11-")][:2]
        week.write_text(text.replace(first + second, second + first), encoding="utf-8")  # they swap two stories
    page.click("#save")
    expect(page.locator("#conflict")).to_be_visible()
    page.click("#overwrite")
    expect(page.locator("#status")).to_contain_text("Saved your changes into the changed file.")
    saved = week.read_text(encoding="utf-8")
    assert "  - title: Water and ice safety\n" in saved
    assert online_safety(saved) == [JAILED, SEXTORTION]


# --- 4. Make lead, and a story under the wrong heading ----------------------------------------------


def test_make_lead_sends_the_old_lead_to_its_topics_section_and_the_checks_watch_the_headings(
    chromium: Any, studio: tuple[str, Gate]
) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio), {"width": 1500, "height": 4000})  # the drag needs no scrolling
    page.click(f"#lead-{SEXTORTION}")
    expect(page.locator(f"#story-{SEXTORTION} #outcome")).to_have_text(
        "Now the lead; the previous lead is now 1st of 1 in Sport, clubs and community."
    )
    checks = page.locator("#checks")
    expect(checks).not_to_contain_text("is under")
    # Put by hand under Online safety, it is allowed, and warned about.
    page.locator(f"li.story[data-id='{RECRUITMENT}']").drag_to(
        page.locator(f"li.story[data-id='{JAILED}']"), target_position={"x": 30, "y": 4}
    )
    expect(page.locator("#status")).to_contain_text("Moved: now 1st of 2 in Online safety.")
    warning = checks.locator("a", has_text=f"{RECRUITMENT} is under 'Online safety' but is not about online-safety")
    expect(warning).to_be_visible()
    warning.click()
    expect(page.locator(f"#story-{RECRUITMENT}")).to_be_focused()


# --- 7. results beside their controls, skip links, focus ----------------------------------------------


def below(page: Any, control: str, message: str) -> float:
    """How far below ``control`` the top of ``message`` is, in pixels."""
    top = page.locator(message).bounding_box()["y"]
    box = page.locator(control).bounding_box()
    return float(top - (box["y"] + box["height"]))


def test_each_result_is_shown_beside_its_control_and_read_out(
    chromium: Any, studio: tuple[str, Gate], settings: Any
) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    announced = page.locator("#announce")
    page.fill("#approver", "Sam Editor")
    page.click("#approve")
    finish = page.locator("section[aria-labelledby=finish-heading] #outcome")
    expect(finish).to_have_text("Approved by Sam Editor: this rendering of every variant may now be sent.")
    expect(announced).to_have_text("Approved by Sam Editor: this rendering of every variant may now be sent.")
    expect(announced).to_have_attribute("role", "status")
    expect(page.locator("#approve")).to_be_focused()
    assert 0 <= below(page, "#approve", "#outcome") < 60
    page.fill("#test-to", "dsl@school.example")
    page.click("#test")
    expect(finish).to_contain_text("Sent 1 test copy through outbox; nothing was recorded in the ledger.")
    assert 0 <= below(page, "#test", "#outcome") < 60
    expect(page.locator("#test")).to_be_focused()
    # A move is said in the story's card; the next edit takes the old message away.
    page.click(f"#down-{SEXTORTION}")
    expect(page.locator(f"#story-{SEXTORTION} #outcome")).to_have_text("Moved down: now 2nd of 2 in Online safety.")
    expect(announced).to_have_text("Moved down: now 2nd of 2 in Online safety.")
    page.fill("#editor-note", "Closed on Friday.")
    expect(page.locator("#outcome")).to_have_count(0)


def test_skip_links_lead_between_choose_arrange_see_and_save(chromium: Any, studio: tuple[str, Gate]) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    route = [
        ("#stories-heading", "See", "#preview-heading"),
        ("#preview-heading", "Choose", "#candidates-heading"),
        ("#candidates-heading", "Save", "#save"),
        ("#approver", "Arrange", "#stories-heading"),
    ]
    for start, name, target in route:
        page.focus(start)
        for _presses in range(6):
            page.keyboard.press("Shift+Tab" if start == "#approver" else "Tab")
            if page.evaluate("document.activeElement.textContent") == name:
                break
        expect(page.locator(f"a[href='{target}']:focus")).to_have_count(1)
        page.keyboard.press("Enter")
        expect(page.locator(target)).to_be_focused()


def test_after_save_the_focus_stays_where_the_editor_was(chromium: Any, studio: tuple[str, Gate]) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    page.fill("#editor-note", "Closed on Friday.")
    page.focus("#approver")
    page.keyboard.press("Control+s")
    expect(page.locator("#save-state")).to_have_text("Saved: the file says what you see")
    expect(page.locator("#approver")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#approve")).to_be_focused()  # one Tab to Approve, not ninety
    # In a text field the caret stays where it was too.
    page.click("#subject")
    page.keyboard.press("End")
    page.keyboard.type(" this week")
    page.keyboard.press("Control+s")
    expect(page.locator("#save-state")).to_have_text("Saved: the file says what you see")
    expect(page.locator("#subject")).to_be_focused()
    assert (
        page.evaluate("[subject.selectionStart, subject.value.length]")
        == [len("New guidance on safer recruitment for sports clubs this week")] * 2
    )


# --- 8. the smaller points ------------------------------------------------------------------------


def test_the_inbox_row_shows_the_from_name(chromium: Any, studio: tuple[str, Gate], settings: Any) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    expect(page.locator("#preview-output .from")).to_have_text(settings.email.from_name)
    assert settings.email.from_name == "SAFE Newsfeed" != settings.organisation.name


def test_an_empty_subject_is_marked_at_the_field_and_the_email_stays(chromium: Any, studio: tuple[str, Gate]) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    page.fill("#subject", "")
    expect(page.locator("#error-subject")).to_have_text("subject is empty; every issue needs a subject line")
    expect(page.locator("#subject")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#preview-kept")).to_be_visible()
    expect(page.locator("#preview-frame")).to_be_visible()
    expect(page.locator("#preview-subject")).to_have_text("New guidance on safer recruitment for sports clubs")
    page.fill("#subject", "Retyped")
    expect(page.locator("#preview-subject")).to_have_text("Retyped")
    expect(page.locator("#error-subject")).to_have_count(0)
    expect(page.locator("#preview-kept")).to_have_count(0)


def test_conflict_diffs_are_single_spaced(chromium: Any, studio: tuple[str, Gate], week: Path) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    week.write_text(week.read_text(encoding="utf-8").replace("title: Water safety", "title: Water"), encoding="utf-8")
    page.fill("#subject", "Another subject")
    page.click("#save")
    expect(page.locator("#conflict")).to_be_visible()
    steps, line = page.evaluate(
        """() => {
          const pre = document.querySelector("#conflict pre.diff");
          const tops = Array.from(pre.children).map((line) => line.getBoundingClientRect().top);
          return [tops.slice(1).map((top, i) => top - tops[i]), parseFloat(getComputedStyle(pre).lineHeight)];
        }"""
    )
    assert len(steps) > 4 and max(steps) < 1.2 * line, (steps, line)


def test_the_checks_list_problems_first_grouped_and_linked_to_their_field(
    chromium: Any, studio: tuple[str, Gate]
) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    page.fill("#subject", "A subject long enough to be cut off by most inboxes, " * 2)
    page.locator(f"#more-{JAILED} > summary").click()
    long_summary = ("A summary that goes on. " * 60).strip()
    page.fill(f"#summary-{JAILED}", long_summary)
    page.locator(f"#more-{JAILED} > summary").click()  # closed again
    checks = page.locator("#checks")
    expect(checks).to_contain_text("most inboxes cut it off")
    levels = checks.locator(":scope > li > .level")
    expect(levels.first).to_have_text("warning")
    assert "ok" not in levels.all_inner_texts()[:-1]  # what passed comes last, folded
    passed = page.locator("#checks-passed")
    expect(passed).to_contain_text("checks passed")
    expect(passed.locator("li", has_text="4 × links")).to_have_count(1)  # one entry for the four copies
    subject = checks.locator("a[href='#subject']", has_text="most inboxes cut it off")
    subject.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#subject")).to_be_focused()
    summary = checks.locator(f"a[href='#summary-{JAILED}']", has_text=f"{len(long_summary):,} characters")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"#more-{JAILED}")).to_have_attribute("open", "")
    expect(page.locator(f"#summary-{JAILED}")).to_be_focused()


def test_messages_show_commands_as_code_not_backticks(chromium: Any, studio: tuple[str, Gate]) -> None:
    base, _gate = studio
    page = chromium.new_page()
    page.goto(f"{base}/issue/{ISSUE_ID}")
    assert page.locator("h1").inner_text() == "This studio is private"
    assert "`" not in page.locator("main").inner_text()
    assert page.locator("main p code").inner_text() == "digest studio"


def test_text_takes_its_direction_from_itself(chromium: Any, studio: tuple[str, Gate]) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    hebrew = "חדשות שמירה על ילדים"
    page.fill("#subject", hebrew)
    expect(page.locator("#preview-subject")).to_have_text(hebrew)
    for selector in ("#subject", "#preview-subject"):
        assert page.eval_on_selector(selector, "e => e.matches(':dir(rtl)')"), selector
    assert page.eval_on_selector("#introduction", "e => e.matches(':dir(ltr)')")
    assert page.eval_on_selector_all("[dir=auto]", "els => els.length") > 30


def test_the_email_can_be_seen_as_plain_text_and_in_dark_mode(chromium: Any, studio: tuple[str, Gate]) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    background = "() => getComputedStyle(document.body).backgroundColor"
    email = page.frame_locator("#preview-frame").locator("body")
    light = email.evaluate(background)
    assert light == "rgb(238, 241, 244)"  # the email's own light page
    page.check("#view-text")
    text = page.locator("#preview-text")
    expect(text).to_contain_text("New guidance on safer recruitment for sports clubs")
    expect(page.locator("#preview-frame")).to_have_count(0)
    assert "<" not in text.inner_text()
    page.check("#view-dark")
    expect(page.locator("#preview-frame.dark")).to_be_visible()
    expect(email).to_contain_text("New guidance on safer recruitment for sports clubs")
    assert email.evaluate(background) == "rgb(15, 23, 42)"
    page.check("#view-email")
    expect(page.locator("#preview-frame:not(.dark)")).to_be_visible()
    assert email.evaluate(background) == light


def test_the_issue_list_shows_draft_approved_and_sent(
    chromium: Any, studio: tuple[str, Gate], week: Path, engine: Any, settings: Any, invoke: Any
) -> None:
    from playwright.sync_api import expect

    from digest.people.subscribers import add_subscriber

    base, gate = studio
    page = open_page(chromium, f"{base}/?token={gate.token}")
    state = page.locator(f"#issue-{ISSUE_ID} .state")
    expect(state).to_have_text("Draft")
    approve(engine, settings, str(week), approved_by="Sam Editor")
    page.reload()
    expect(state).to_have_text("Approved")
    week.write_text(week.read_text(encoding="utf-8").replace("title: Water safety", "title: Water"), encoding="utf-8")
    page.reload()
    expect(state).to_have_text("Approved, changed since")
    add_subscriber(engine, settings, "dsl@school.example", {"sector": "education"}, consent_source="test")
    invoke("send", ISSUE_ID, "--segment", "everyone", "--yes")
    page.reload()
    expect(state).to_have_text("Sent")


# --- 10. refused: a changed file, a look-alike origin -------------------------------------------------


def test_approve_and_test_copy_are_refused_on_a_page_whose_file_changed(
    chromium: Any, studio: tuple[str, Gate], week: Path, engine: Any, settings: Any
) -> None:
    from playwright.sync_api import expect

    page = open_page(chromium, issue_url(studio))
    week.write_text(week.read_text(encoding="utf-8") + "# a colleague was here\n", encoding="utf-8")
    page.fill("#approver", "Sam Editor")
    page.click("#approve")
    outcome = page.locator("section[aria-labelledby=finish-heading] #outcome")
    expect(outcome).to_have_text("issue.yaml changed on disk since this page opened it; reload it before you approve")
    assert latest_approval(engine, ISSUE_ID) is None
    page.fill("#test-to", "dsl@school.example")
    page.click("#test")
    expect(outcome).to_have_text(
        "issue.yaml changed on disk since this page opened it; reload it before you send a test copy"
    )
    assert not settings.outbox_dir.exists() or not any(settings.outbox_dir.rglob("*"))


@pytest.mark.parametrize("origin", ["{base}.evil.example", "http://localhost.evil.example"])
def test_a_post_from_an_origin_that_only_starts_like_the_studios_is_refused(
    chromium: Any, studio: tuple[str, Gate], week: Path, origin: str
) -> None:
    base, _gate = studio
    page = open_page(chromium, issue_url(studio))
    fields = page.evaluate(
        "() => Array.from(new FormData(studio).entries()).filter(([, value]) => typeof value === 'string')"
    )
    body = urlencode(
        [*[(k, v) for k, v in fields if k != "subject"], ("subject", "Posted from elsewhere"), ("action", "save")]
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    before = week.read_text(encoding="utf-8")
    refused = chromium.request.post(
        f"{base}/issue/{ISSUE_ID}", data=body, headers={**headers, "Origin": origin.format(base=base)}
    )
    assert refused.status == 403 and "That request came from another site" in refused.text()
    assert week.read_text(encoding="utf-8") == before
    # The same request from the studio's own origin is taken: only the origin was wrong.
    taken = chromium.request.post(f"{base}/issue/{ISSUE_ID}", data=body, headers={**headers, "Origin": base})
    assert taken.status == 200 and "Saved issue.yaml." in taken.text()
    assert "subject: Posted from elsewhere\n" in week.read_text(encoding="utf-8")
