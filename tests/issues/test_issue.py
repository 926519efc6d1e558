"""Issue files: drafting, loading with line-numbered errors, resolving."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from digest.errors import InputError, NotFoundError
from digest.issues.drafting import new_issue
from digest.issues.issue import issue_path, load_issue, load_view, select_stories

WATER = "2025-04-08-cold-water-safety-advice-as-the-weather-warms-up"
LEAD = "2025-04-09-protecting-children-from-sexual-abuse-and-exploitation-progress-report"
CPS = "2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son"


def test_draft_groups_the_weeks_articles_by_topic(sample_issue: Path) -> None:
    data = yaml.safe_load(sample_issue.read_text(encoding="utf-8"))
    assert data["date"] == date(2025, 4, 10)
    assert data["window"] == {"from": date(2025, 4, 3), "until": date(2025, 4, 9)}
    assert data["lead"] == LEAD
    assert [s["title"] for s in data["sections"]] == [
        "Online safety",
        "Water safety",
        "Children's social care",
        "Courts and justice",
    ]


def test_the_drafted_words_are_ones_an_editor_would_keep(sample_issue: Path, settings) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(sample_issue.read_text(encoding="utf-8"))
    # The lead's title: not the sender's name again (inboxes show it), no stacked colons.
    assert data["subject"] == "Protecting children from sexual abuse and exploitation: progress report"
    assert settings.email.from_name not in data["subject"] and data["subject"].count(":") <= 1
    # Left to each copy, which names its own stories (tests/issues/test_render.py).
    assert data["preheader"] == ""
    # True in every copy: it names the lead, which every copy has; no counts, no list of sources.
    assert data["introduction"] == (
        "Here is this week's safeguarding news. We lead with “Protecting children from sexual abuse and "
        "exploitation: progress report” (Department for Children and Families, 9 April). Please pass on "
        "anything useful to colleagues.\n"
    )


def test_a_long_lead_title_is_cut_at_a_word_for_the_subject() -> None:
    from digest.issues.drafting import draft_subject

    title = "Council publishes its learning review after the neglect of two siblings over three winters in Westbridge"
    subject = draft_subject(title)
    assert len(subject) <= 78 and subject.endswith("…") and title.startswith(subject[:-1])
    assert draft_subject("Short title") == "Short title"


def test_draft_by_source_and_a_narrow_window(engine, settings, imported) -> None:  # type: ignore[no-untyped-def]
    path, count = new_issue(engine, settings, issue_date=date(2025, 4, 9), days=2, grouping="source")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert count == 2
    assert data["grouping"] == "source"
    assert data["lead"] == WATER
    assert data["sections"] == [{"title": "Regional Prosecution Service (RPS)", "stories": [CPS]}]


def test_draft_refuses_to_overwrite_without_force(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as caught:
        new_issue(engine, settings, issue_date=date(2025, 4, 10))
    assert (
        str(caught.value)
        == f"{sample_issue}: already exists; edit it, or pass --force to draft it again (your edits would be lost)"
    )
    new_issue(engine, settings, issue_date=date(2025, 4, 10), force=True)


def test_force_never_redrafts_an_issue_that_was_sent_or_is_being_sent(  # type: ignore[no-untyped-def]
    invoke, engine, settings, audience, sample_issue
) -> None:
    """The issue file of a sent issue is the record of what readers got (issue 21, item 6)."""
    from digest.sending import plan_send

    plan = plan_send(engine, settings, "2025-04-10", ["everyone"], provider="outbox")
    before = sample_issue.read_bytes()
    sending = invoke("issue", "new", "--date", "2025-04-10", "--force")
    assert sending.exit_code == 1
    assert sending.output == (
        f"Error: {sample_issue}: issue 2025-04-10 has a send under way (#{plan.send_id}, planned): its issue file "
        "is what that send sends, so it is not drafted again; draft another date, or cancel the send first "
        "(`digest send 2025-04-10 --cancel`)\n"
    )
    assert invoke("send", "2025-04-10", "--resume").exit_code == 0
    sent = invoke("issue", "new", "--date", "2025-04-10", "--force")
    assert sent.exit_code == 1
    assert sent.output == (
        f"Error: {sample_issue}: issue 2025-04-10 was sent (12 copies accepted): its issue file is the record of "
        "what readers got, so it is not drafted again; draft another date\n"
    )
    assert sample_issue.read_bytes() == before


def test_empty_window_is_an_error(engine, settings, imported) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as caught:
        new_issue(engine, settings, issue_date=date(2024, 1, 1))
    assert str(caught.value).startswith("no articles published from 2023-12-25 to 2023-12-31;")


def test_issue_can_be_named_by_id_folder_or_file(settings, sample_issue: Path) -> None:  # type: ignore[no-untyped-def]
    assert issue_path(settings, "2025-04-10") == sample_issue
    assert issue_path(settings, str(sample_issue)) == sample_issue
    assert issue_path(settings, str(sample_issue.parent)) == sample_issue
    with pytest.raises(NotFoundError) as caught:
        issue_path(settings, "2030-01-01")
    assert str(caught.value) == f"no issue '2030-01-01' in {settings.issues_dir}; known issues: 2025-04-10"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(needle)


@pytest.mark.parametrize(
    ("old", "new", "needle", "reason"),
    [
        (
            f"- {CPS}",
            "- no-such-article",
            "no-such-article",
            "unknown article id 'no-such-article'; `digest articles list` shows the ids",
        ),
        ("subject: ", "subject: ''\nx_subject: ", "x_subject", "unknown key 'x_subject'; expected one of"),
        (f"- {CPS}", f"- {WATER}", WATER, f"article '{WATER}' appears twice (first on line"),
        (f"- {CPS}", f"- {{id: {CPS}, colour: red}}", CPS, "unknown story key 'colour'"),
        (f"- {CPS}", f"- {{id: {CPS}, full: yes please}}", CPS, "full must be true or false"),
        (f"- {CPS}", f"- {{id: {CPS}, topics: [astrology]}}", CPS, "unknown topic 'astrology'"),
        ("date: 2025-04-10", "date: 10/04/2025", "date:", "date must be a date written YYYY-MM-DD, not '10/04/2025'"),
        ("grouping: topic", "grouping: mood", "grouping:", "grouping must be 'topic' or 'source'"),
        ("sections:", "sections: [unclosed", "sections:", "not valid YAML"),
        ("lead: ", "lead: x\nlead: ", "lead:", "'lead' appears twice"),
        ("date: 2025-04-10", "date: 2025-04-11", "date:", "date 2025-04-11 differs from the folder's name 2025-04-10"),
        (f"- {CPS}", f"- {{id: {CPS}, url: 'javascript:alert(1)'}}", CPS, "url 'javascript:alert(1)' must be a web"),
    ],
)
def test_bad_issue_files_name_the_line(
    engine, settings, sample_issue: Path, old: str, new: str, needle: str, reason: str
) -> None:  # type: ignore[no-untyped-def]
    edit(sample_issue, old, new)
    occurrence = 2 if reason.startswith(("article '", "'lead'")) else 1
    with pytest.raises(InputError) as caught:
        load_issue(settings, "2025-04-10", engine)
    assert caught.value.path == str(sample_issue)
    assert reason in caught.value.reason
    if reason != "not valid YAML":
        assert caught.value.line == line_of(sample_issue, needle, occurrence)


def test_empty_subject_is_refused(engine, settings, sample_issue: Path) -> None:  # type: ignore[no-untyped-def]
    text = sample_issue.read_text(encoding="utf-8")
    subject_line = next(line for line in text.splitlines() if line.startswith("subject:"))
    edit(sample_issue, subject_line, "subject: '  '")
    with pytest.raises(InputError) as caught:
        load_issue(settings, "2025-04-10")
    assert (
        str(caught.value)
        == f"{sample_issue}, line {line_of(sample_issue, 'subject:')}: subject is empty; every issue needs a subject line"
    )


def test_editor_overrides_reach_the_view(engine, settings, sample_issue: Path) -> None:  # type: ignore[no-untyped-def]
    edit(
        sample_issue,
        f"- {CPS}",
        f"- {{id: {CPS}, summary: My words., note: Read this., full: true, topics: [health], url: 'https://rps.example.org/a'}}",
    )
    view = load_view(engine, settings, "2025-04-10")
    story = next(s for s in view.stories() if s.id == CPS)
    assert (story.summary, story.note, story.full, story.topics) == ("My words.", "Read this.", True, ("health",))
    assert story.url == "https://rps.example.org/a"
    assert view.lead is not None and view.lead.pin and view.lead.is_lead


def test_select_stories_keeps_pinned_and_matching_stories(engine, settings, sample_issue: Path) -> None:  # type: ignore[no-untyped-def]
    view = load_view(engine, settings, "2025-04-10")
    narrowed = select_stories(view, frozenset({"water-safety"}))
    assert [s.id for s in narrowed.stories()] == [LEAD, WATER]
    assert [s.title for s in narrowed.sections] == ["Water safety"]
    assert select_stories(view, None) is view


def test_a_folder_not_named_by_a_date_takes_the_files_date(engine, settings, sample_issue: Path) -> None:  # type: ignore[no-untyped-def]
    special = sample_issue.parent.parent / "spring-special"
    sample_issue.parent.rename(special)
    assert load_issue(settings, "spring-special").date == date(2025, 4, 10)


def test_issue_list_says_where_each_issue_stands(invoke, engine, settings, sample_issue: Path) -> None:  # type: ignore[no-untyped-def]
    from digest.issues.approval import approve

    listed = invoke("issue", "list")
    assert listed.output == (
        "2025-04-10  draft\n"
        "            Protecting children from sexual abuse and exploitation: progress report · 5 stories\n"
    )
    approve(engine, settings, "2025-04-10", approved_by="Ed")
    broken = sample_issue.parent.parent / "2025-04-17" / "issue.yaml"
    broken.parent.mkdir()
    broken.write_text("date: [\n", encoding="utf-8")
    lines = invoke("issue", "list").output.splitlines()
    assert lines[0].startswith(f"2025-04-17  broken ({broken}, line ")
    assert lines[1].startswith("2025-04-10  approved (by Ed on ")


@pytest.mark.parametrize(
    ("change", "needle", "words"),
    [
        # An unquoted colon in the subject: the fix is to quote the value.
        (
            lambda s: re.sub(r"(?m)^subject: .*$", "subject: Ofsted: new guidance", s),
            "subject:",
            "put the whole value in double quotes",
        ),
        # A quote never closed is found at the end of the file; the editor must look where it opened.
        (
            lambda s: re.sub(r"(?m)^subject: .*$", 'subject: "Ofsted new guidance', s),
            "subject:",
            "the quote opened on line",
        ),
        # A quote closed by the next line's quote is found a line late; the line named is where it opened.
        (
            lambda s: re.sub(r"(?m)^subject: .*$", 'subject: "Ofsted new guidance', s).replace(
                "introduction: ", 'introduction: "Dear colleague" ', 1
            ),
            "subject:",
            "is not closed on that line",
        ),
        (lambda s: re.sub(r"(?m)^subject: .*$", "subject: 'It's here'", s), "subject:", "quote it with the other kind"),
        (lambda s: re.sub(r"(?m)^subject: .*$", "subject: @safe news", s), "subject:", "cannot start with '@'"),
    ],
    ids=["colon", "never-closed", "closed-late", "apostrophe", "at-sign"],
)
def test_yaml_mistakes_are_told_in_an_editors_words_at_the_line_to_fix(
    invoke, sample_issue: Path, change, needle: str, words: str
) -> None:  # type: ignore[no-untyped-def]
    text = change(sample_issue.read_text(encoding="utf-8"))
    sample_issue.write_text(text, encoding="utf-8")
    result = invoke("check", "2025-04-10")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {sample_issue}, line {line_of(sample_issue, needle)}: not valid YAML: ")
    assert words in result.output
    assert "mapping values" not in result.output and "scalar" not in result.output
