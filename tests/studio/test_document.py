"""The studio writes issue.yaml back with ruamel.yaml's round trip: the editor's comments and layout survive.

Every text written here is also loaded back through digest.issues.issue, which reads
with PyYAML, so what the studio writes is what the CLI, approval and sending read.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from digest.config import Settings, load_settings
from digest.errors import InputError
from digest.issues.issue import parse_issue_text
from digest.studio import draft as moves
from digest.studio.document import Layout, apply_draft, guess_layout
from digest.studio.draft import Draft, SectionDraft, StoryDraft, draft_from_issue
from tests.conftest import PROJECT_TOML

# Written as `digest issue new` writes, then annotated by an editor.
DRAFTED = """\
# SAFE CIC: issue of 23 November 2026.
# Edit freely, then run `digest preview` to see the result.
date: 2026-11-23
window:
  from: 2026-11-16
  until: 2026-11-22
grouping: topic   # sections were made by topic
subject: 'SAFE Newsfeed: New guidance'
preheader: 'This week: a; b'
introduction: |
  This week's 5 stories come from A and B.
editor_note: ''
lead: 2026-11-19-guidance   # 2026-11-19 Sport: New guidance
sections:
  - title: Online safety
    stories:
      - 2026-11-20-sextortion   # 2026-11-20 SAFE CIC: Sextortion
      # Check the helpline number before sending.
      - id: 2026-11-18-jailed   # court reporting checked
        summary: Our own summary.
        full: false
  # Water safety: ask Priya for a quote
  - title: Water safety
    stories:
      - 2026-11-16-cold-water   # 2026-11-16 Fire: Cold water
  - title: Health and wellbeing
    stories:
      - 2026-11-21-carers   # 2026-11-21 Health: Young carers
# End of the issue.
"""

# The same content as someone else might lay it out: dashes flush with their key, double quotes.
FLUSH = """\
date: 2026-11-23
subject: "Hello"
lead:
  id: 2026-11-19-guidance   # the lead
  note: "Read this first."
sections:
- title: Online safety   # first
  stories:
  - 2026-11-20-sextortion   # one
  - 2026-11-18-jailed
- title: Empty for now
  stories: []
"""

# Where ruamel keeps comments in odd places: after flow values, after an empty list, in a flow list.
TRICKY = """\
date: 2026-11-23
subject: Hello
lead:
  id: 2026-11-19-guidance   # the lead
  topics: [online-safety]
# before sections
sections:
  - title: Online safety
    stories:
      - id: 2026-11-20-sextortion
        topics: [online-safety, education]
      # before jailed
      - 2026-11-18-jailed   # jailed eol
      - id: 2026-11-16-cold-water
        topics: [water-safety]
  # before Empty
  - title: Empty
    stories: []
  # before Health
  - title: Health and wellbeing
    stories: [2026-11-21-carers]
# the end
"""


@pytest.fixture
def plain(tmp_path: Path) -> Settings:
    """Settings without a database: writing YAML needs none."""
    (tmp_path / "digest.toml").write_text(PROJECT_TOML, encoding="utf-8")
    return load_settings(tmp_path / "digest.toml", env={})


def parse(settings: Settings, text: str) -> Draft:
    return draft_from_issue(parse_issue_text(settings, text, Path("issues/2026-11-23/issue.yaml")))


def comparable(draft: Draft) -> tuple[object, ...]:
    """A draft without the page's section keys, which the file does not keep."""
    return (
        draft.subject,
        draft.preheader,
        draft.introduction,
        draft.editor_note,
        draft.lead,
        [(section.title, section.stories) for section in draft.sections],
    )


@pytest.mark.parametrize(
    "text", [DRAFTED, FLUSH, TRICKY, DRAFTED.replace("\n", "\r\n")], ids=["drafted", "flush", "tricky", "crlf"]
)
def test_an_unchanged_draft_writes_the_file_back_byte_for_byte(plain: Settings, text: str) -> None:
    assert apply_draft(text, parse(plain, text)) == text


def test_the_layout_is_read_from_the_file() -> None:
    assert guess_layout(DRAFTED) == Layout(mapping=2, sequence=4, offset=2)
    assert guess_layout(FLUSH) == Layout(mapping=2, sequence=2, offset=0)


def test_moves_take_each_comment_with_what_it_describes(plain: Settings) -> None:
    draft = parse(plain, DRAFTED)
    moves.move_section(draft, "s1", -1)  # Water safety first, with the comment above it
    moves.make_lead(draft, "2026-11-20-sextortion")  # the old lead takes its place
    moves.move_story(draft, "2026-11-18-jailed", +1)  # past the end of Online safety, into Health
    moves.leave_out(draft, "2026-11-21-carers")
    written = apply_draft(DRAFTED, draft)
    assert (
        written
        == """\
# SAFE CIC: issue of 23 November 2026.
# Edit freely, then run `digest preview` to see the result.
date: 2026-11-23
window:
  from: 2026-11-16
  until: 2026-11-22
grouping: topic   # sections were made by topic
subject: 'SAFE Newsfeed: New guidance'
preheader: 'This week: a; b'
introduction: |
  This week's 5 stories come from A and B.
editor_note: ''
lead: 2026-11-20-sextortion   # 2026-11-20 SAFE CIC: Sextortion
sections:
  # Water safety: ask Priya for a quote
  - title: Water safety
    stories:
      - 2026-11-16-cold-water   # 2026-11-16 Fire: Cold water
  - title: Online safety
    stories:
      - 2026-11-19-guidance   # 2026-11-19 Sport: New guidance
  - title: Health and wellbeing
    stories:
      # Check the helpline number before sending.
      - id: 2026-11-18-jailed   # court reporting checked
        summary: Our own summary.
        full: false
# End of the issue.
"""
    )
    assert comparable(parse(plain, written)) == comparable(draft)


def test_overrides_turn_a_bare_id_into_a_mapping_and_back_keeping_its_comment(plain: Settings) -> None:
    draft = parse(plain, DRAFTED)
    story = draft.story("2026-11-20-sextortion")
    story.summary = "What to say,\n\nand who to call."
    story.full = True
    story.topics = ("online-safety",)
    story.url = "https://example.org/guide"
    written = apply_draft(DRAFTED, draft)
    assert (
        """\
      - id: 2026-11-20-sextortion   # 2026-11-20 SAFE CIC: Sextortion
        summary: |
          What to say,

          and who to call.
        full: true
        topics: [online-safety]
        url: https://example.org/guide
      # Check the helpline number before sending.
"""
        in written
    )
    assert comparable(parse(plain, written)) == comparable(draft)
    # Back to nothing special: a bare id again, comment and all.
    story.summary, story.full, story.topics, story.url = "", False, None, ""
    assert apply_draft(written, draft) == DRAFTED


def test_a_full_or_pin_the_editor_wrote_stays_written(plain: Settings) -> None:
    draft = parse(plain, DRAFTED)
    draft.story("2026-11-18-jailed").summary = ""
    written = apply_draft(DRAFTED, draft)
    assert "      - id: 2026-11-18-jailed   # court reporting checked\n        full: false\n" in written


def test_the_lead_is_pinned_unless_the_editor_says_not(plain: Settings) -> None:
    draft = parse(plain, DRAFTED)
    assert draft.lead is not None and draft.lead.pin
    draft.lead.pin = False
    written = apply_draft(DRAFTED, draft)
    assert "lead:\n  id: 2026-11-19-guidance   # 2026-11-19 Sport: New guidance\n  pin: false\n" in written
    lead = parse_issue_text(plain, written, Path("issues/x/issue.yaml")).lead
    assert lead is not None and not lead.pin


def test_text_keeps_the_quoting_the_editor_chose_and_stays_text(plain: Settings) -> None:
    draft = parse(plain, DRAFTED)
    draft.subject = "SAFE Newsfeed: it's here"
    draft.preheader = "yes"  # PyYAML would read a plain yes as true
    draft.introduction = "One paragraph.\n\nAnother: with a colon # and a hash."
    draft.editor_note = "2026-11-23"  # … and a plain date as a date
    written = apply_draft(DRAFTED, draft)
    assert "subject: 'SAFE Newsfeed: it''s here'\n" in written
    assert "preheader: 'yes'\n" in written
    assert "introduction: |\n  One paragraph.\n\n  Another: with a colon # and a hash.\n" in written
    assert comparable(parse(plain, written)) == comparable(draft)


def test_a_new_story_gets_the_comment_a_drafted_one_has(plain: Settings) -> None:
    draft = parse(plain, DRAFTED)
    moves.include(draft, "2026-11-22-late", "Health and wellbeing")
    moves.include(draft, "2026-11-22-other", "Courts and justice")
    written = apply_draft(DRAFTED, draft, {"2026-11-22-late": "2026-11-22 SAFE CIC: Late news"})
    assert "      - 2026-11-21-carers   # 2026-11-21 Health: Young carers\n" in written
    assert "      - 2026-11-22-late   # 2026-11-22 SAFE CIC: Late news\n" in written
    assert "  - title: Courts and justice\n    stories:\n      - 2026-11-22-other\n# End of the issue.\n" in written


def test_an_empty_section_is_kept_and_can_be_removed(plain: Settings) -> None:
    draft = parse(plain, FLUSH)
    moves.add_section(draft, "Courts and justice")
    written = apply_draft(FLUSH, draft)
    assert written.endswith("- title: Empty for now\n  stories: []\n- title: Courts and justice\n  stories: []\n")
    moves.remove_section(draft, draft.sections[-1].key)
    moves.remove_section(draft, draft.sections[-1].key)
    assert apply_draft(FLUSH, draft) == FLUSH.removesuffix("- title: Empty for now\n  stories: []\n")
    with pytest.raises(InputError, match="still has stories"):
        moves.remove_section(draft, draft.sections[0].key)


def test_without_a_lead_the_key_goes_and_its_comments_stay(plain: Settings) -> None:
    draft = parse(plain, FLUSH)
    draft.lead = None
    written = apply_draft(FLUSH, draft)
    assert "lead" not in written
    assert written.startswith('date: 2026-11-23\nsubject: "Hello"\nsections:\n- title: Online safety   # first\n')


def test_text_that_is_not_yaml_is_an_error_not_a_crash(plain: Settings) -> None:
    with pytest.raises(InputError, match="not valid YAML"):
        apply_draft("subject: [unclosed\n", parse(plain, FLUSH))


# --- any sequence of moves ----------------------------------------------------------------

STORY_IDS = [
    "2026-11-19-guidance",
    "2026-11-20-sextortion",
    "2026-11-18-jailed",
    "2026-11-16-cold-water",
    "2026-11-21-carers",
]
# Text an editor might type, including what YAML treats specially.
TEXT = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab yes:#'\"-[]{}&*!|>%@`\n\t é✓~")), max_size=30),
    st.sampled_from(["no", "null", "2026-11-23", "1.5", "~", "on", "- item", "key: value", "#hash", "'quoted'"]),
)

SECTIONS = ["Online safety", "Courts and justice", "Water safety", "Brand new"]
move = st.one_of(
    st.tuples(st.just("up"), st.sampled_from(STORY_IDS)),
    st.tuples(st.just("down"), st.sampled_from(STORY_IDS)),
    st.tuples(st.just("lead"), st.sampled_from(STORY_IDS)),
    st.tuples(st.just("drop"), st.sampled_from(STORY_IDS)),
    st.tuples(st.just("section-up"), st.sampled_from(["s0", "s1", "s2"])),
    st.tuples(st.just("summary"), st.sampled_from(STORY_IDS), TEXT),
    st.tuples(st.just("note"), st.sampled_from(STORY_IDS), TEXT),
    st.tuples(st.just("full"), st.sampled_from(STORY_IDS)),
    st.tuples(st.just("add"), st.sampled_from(["2026-11-22-late", "2026-11-22-other"]), st.sampled_from(SECTIONS)),
    st.tuples(st.just("section"), st.sampled_from(SECTIONS)),
    st.tuples(st.just("subject"), TEXT),
    st.tuples(st.just("introduction"), TEXT),
)


def _apply(draft: Draft, step: tuple[str, ...]) -> None:
    kind = step[0]
    ids = draft.story_ids()
    try:
        if kind in ("up", "down") and step[1] in ids:
            moves.move_story(draft, step[1], -1 if kind == "up" else 1)
        elif kind == "lead" and step[1] in ids:
            moves.make_lead(draft, step[1])
        elif kind == "drop" and step[1] in ids and len(ids) > 1:
            moves.leave_out(draft, step[1])
        elif kind == "section-up":
            moves.move_section(draft, step[1], -1)
        elif kind in ("summary", "note") and step[1] in ids:
            setattr(draft.story(step[1]), kind, step[2].strip())
        elif kind == "full" and step[1] in ids:
            draft.story(step[1]).full = not draft.story(step[1]).full
        elif kind == "subject" and step[1].strip():
            draft.subject = " ".join(step[1].split())
        elif kind == "add":
            moves.include(draft, step[1], step[2])
        elif kind == "section":
            moves.add_section(draft, step[1])
        elif kind == "introduction":
            draft.introduction = step[1].strip()
    except InputError:
        pass


# The comments that belong to a story, and go when it leaves the issue; the rest always stay.
TRICKY_OWNERS = {
    "# the lead": "2026-11-19-guidance",
    "# before jailed": "2026-11-18-jailed",
    "# jailed eol": "2026-11-18-jailed",
}
COMMENT_OWNERS = {
    "# 2026-11-19 Sport: New guidance": "2026-11-19-guidance",
    "# 2026-11-20 SAFE CIC: Sextortion": "2026-11-20-sextortion",
    "# Check the helpline number before sending.": "2026-11-18-jailed",
    "# court reporting checked": "2026-11-18-jailed",
    "# 2026-11-16 Fire: Cold water": "2026-11-16-cold-water",
    "# 2026-11-21 Health: Young carers": "2026-11-21-carers",
}


def _comments(text: str) -> set[str]:
    return {match.strip() for match in re.findall(r"#[^\n]*", text)}


@pytest.mark.parametrize(
    ("original", "owners", "last_line"),
    [(DRAFTED, COMMENT_OWNERS, "# End of the issue.\n"), (TRICKY, TRICKY_OWNERS, "# the end\n")],
    ids=["drafted", "tricky"],
)
@hsettings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(move, max_size=12))
def test_any_edits_load_back_as_the_draft_and_keep_the_comments_of_what_remains(
    plain: Settings, original: str, owners: dict[str, str], last_line: str, steps: list[tuple[str, ...]]
) -> None:
    draft = parse(plain, original)
    for step in steps:
        _apply(draft, step)
    before = copy.deepcopy(draft)
    written = apply_draft(original, draft)
    assert comparable(parse(plain, written)) == comparable(before)
    # Every comment survives unless its story left the issue.
    kept = _comments(written)
    for comment in _comments(original):
        if comment in owners and owners[comment] not in draft.story_ids():
            continue
        assert comment in kept, (comment, written)
    assert written.startswith(original.split("date:")[0])
    assert written.endswith(last_line)
    # Opening the written file and saving it untouched changes nothing.
    assert apply_draft(written, parse(plain, written)) == written


def test_a_draft_of_nothing_but_sections_round_trips(plain: Settings) -> None:
    draft = Draft("Subject", "", "", "", None, [SectionDraft("n1", "Only", [StoryDraft("2026-11-20-sextortion")])])
    written = apply_draft("date: 2026-11-23\nsubject: Old\n", draft)
    assert written == (
        "date: 2026-11-23\nsubject: Subject\nsections:\n  - title: Only\n    stories:\n      - 2026-11-20-sextortion\n"
    )
    assert comparable(parse(plain, written)) == comparable(draft)
