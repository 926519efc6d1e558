"""The studio's three-way merge: each side's change kept wherever only one side made it, the editor's where both did.

Drafts are built by hand here (no database, no file): ``base`` is the file as
the page opened it, ``mine`` the page's draft (it keeps base's section keys),
``theirs`` the file as it is now (keyed by its own order).
"""

from __future__ import annotations

import copy

import pytest

from digest.studio.draft import Draft, SectionDraft, StoryDraft
from digest.studio.merge import merge, merge_order


def draft(lead: str | None, *sections: tuple[str, list[str]], subject: str = "Subject") -> Draft:
    return Draft(
        subject=subject,
        preheader="",
        introduction="Hello.",
        editor_note="",
        lead=StoryDraft(lead, pin=True) if lead else None,
        sections=[
            SectionDraft(f"s{i}", title, [StoryDraft(s) for s in ids]) for i, (title, ids) in enumerate(sections)
        ],
    )


BASE = draft("lead", ("Online safety", ["a", "b", "c"]), ("Water safety", ["d"]), ("Health", ["e", "f"]))


def shape(result: Draft) -> tuple[str | None, list[tuple[str, list[str]]]]:
    return (
        result.lead.id if result.lead else None,
        [(section.title, [story.id for story in section.stories]) for section in result.sections],
    )


def mine_from(change) -> Draft:  # type: ignore[no-untyped-def]
    mine = copy.deepcopy(BASE)
    change(mine)
    return mine


def theirs_as(*sections: tuple[str, list[str]], lead: str | None = "lead", subject: str = "Subject") -> Draft:
    return draft(lead, *sections, subject=subject)


def test_a_rename_of_theirs_survives_my_move_inside_a_section() -> None:
    mine = mine_from(lambda d: d.sections[0].stories.reverse())
    theirs = theirs_as(("Online safety", ["a", "b", "c"]), ("Water and ice safety", ["d"]), ("Health", ["e", "f"]))
    assert shape(merge(BASE, mine, theirs)) == (
        "lead",
        [("Online safety", ["c", "b", "a"]), ("Water and ice safety", ["d"]), ("Health", ["e", "f"])],
    )


def test_my_rename_survives_their_move_across_sections() -> None:
    def rename(d: Draft) -> None:
        d.sections[1].title = "Water and ice safety"

    theirs = theirs_as(("Online safety", ["a", "c"]), ("Water safety", ["d", "b"]), ("Health", ["e", "f"]))
    assert shape(merge(BASE, mine_from(rename), theirs)) == (
        "lead",
        [("Online safety", ["a", "c"]), ("Water and ice safety", ["d", "b"]), ("Health", ["e", "f"])],
    )


def test_their_reordered_sections_and_my_rename_and_move() -> None:
    def change(d: Draft) -> None:
        d.sections[2].title = "Health and wellbeing"
        d.sections[2].stories.reverse()

    theirs = theirs_as(("Health", ["e", "f"]), ("Online safety", ["a", "b", "c"]), ("Water safety", ["d"]))
    assert shape(merge(BASE, mine_from(change), theirs)) == (
        "lead",
        [("Health and wellbeing", ["f", "e"]), ("Online safety", ["a", "b", "c"]), ("Water safety", ["d"])],
    )


def test_a_section_they_renamed_is_found_by_its_stories() -> None:
    mine = mine_from(lambda d: d.sections[2].stories.append(d.sections[0].stories.pop(0)))  # a → Health
    theirs = theirs_as(("Online", ["a", "b", "c"]), ("Water safety", ["d"]), ("Health", ["e", "f"]))
    assert shape(merge(BASE, mine, theirs)) == (
        "lead",
        [("Online", ["b", "c"]), ("Water safety", ["d"]), ("Health", ["e", "f", "a"])],
    )


def test_both_renamed_the_same_section_mine_wins() -> None:
    def rename(d: Draft) -> None:
        d.sections[0].title = "Online harms"

    theirs = theirs_as(("Staying safe online", ["a", "b", "c"]), ("Water safety", ["d"]), ("Health", ["e", "f"]))
    assert shape(merge(BASE, mine_from(rename), theirs))[1][0] == ("Online harms", ["a", "b", "c"])


def test_both_moved_the_same_story_mine_wins_and_their_other_moves_stay() -> None:
    def move(d: Draft) -> None:
        d.sections[1].stories.append(d.sections[0].stories.pop(0))  # a → Water safety

    theirs = theirs_as(("Online safety", ["b", "c"]), ("Water safety", ["d"]), ("Health", ["a", "f", "e"]))
    assert shape(merge(BASE, mine_from(move), theirs)) == (
        "lead",
        [("Online safety", ["b", "c"]), ("Water safety", ["d", "a"]), ("Health", ["f", "e"])],
    )


def test_stories_added_on_either_side_are_kept_and_one_left_out_on_either_side_goes() -> None:
    def change(d: Draft) -> None:
        d.sections[0].stories.insert(1, StoryDraft("mine-new"))
        d.sections[2].stories.remove(d.sections[2].stories[0])  # e left out

    theirs = theirs_as(("Online safety", ["a", "b", "c", "their-new"]), ("Water safety", []), ("Health", ["e", "f"]))
    assert shape(merge(BASE, mine_from(change), theirs)) == (
        "lead",
        [("Online safety", ["a", "mine-new", "b", "c", "their-new"]), ("Water safety", []), ("Health", ["f"])],
    )


def test_a_new_lead_on_one_side() -> None:
    def lead(d: Draft) -> None:
        old, d.lead = d.lead, d.sections[0].stories.pop(0)
        assert old is not None
        d.sections[2].stories.append(old)

    theirs = theirs_as(("Online", ["a", "b", "c"]), ("Water safety", ["d"]), ("Health", ["e", "f"]))
    assert shape(merge(BASE, mine_from(lead), theirs)) == (
        "a",
        [("Online", ["b", "c"]), ("Water safety", ["d"]), ("Health", ["e", "f", "lead"])],
    )
    # Theirs: their new lead, and where they put the old one.
    theirs = theirs_as(("Online safety", ["b", "c", "lead"]), ("Water safety", ["d"]), ("Health", ["e", "f"]), lead="a")
    assert shape(merge(BASE, copy.deepcopy(BASE), theirs)) == (
        "a",
        [("Online safety", ["b", "c", "lead"]), ("Water safety", ["d"]), ("Health", ["e", "f"])],
    )


def test_two_new_leads_mine_wins_and_theirs_goes_back_to_its_section() -> None:
    def lead(d: Draft) -> None:
        old, d.lead = d.lead, d.sections[0].stories.pop(0)
        assert old is not None
        d.sections[0].stories.append(old)

    theirs = theirs_as(("Online safety", ["a", "b", "c"]), ("Water safety", ["lead"]), ("Health", ["e", "f"]), lead="d")
    assert shape(merge(BASE, mine_from(lead), theirs)) == (
        "a",
        [("Online safety", ["b", "c", "lead"]), ("Water safety", ["d"]), ("Health", ["e", "f"])],
    )


def test_sections_added_and_removed_on_either_side() -> None:
    def change(d: Draft) -> None:
        del d.sections[1]  # Water safety and its story left out
        d.sections.append(SectionDraft("n1", "Courts", [StoryDraft("mine-new")]))

    theirs = theirs_as(
        ("Online safety", ["a", "b", "c"]), ("Water safety", ["d"]), ("Health", ["e", "f"]), ("Sport", ["g"])
    )
    merged = merge(BASE, mine_from(change), theirs)
    assert shape(merged) == (
        "lead",
        [("Online safety", ["a", "b", "c"]), ("Health", ["e", "f"]), ("Courts", ["mine-new"]), ("Sport", ["g"])],
    )
    assert [section.key for section in merged.sections] == ["s0", "s2", "n1", "s3"]  # their nodes, by their keys


def test_a_section_they_removed_stays_while_i_put_a_story_in_it() -> None:
    mine = mine_from(lambda d: d.sections[1].stories.append(d.sections[0].stories.pop()))  # c → Water safety
    theirs = theirs_as(("Online safety", ["a", "b", "c"]), ("Health", ["e", "f", "d"]))
    assert shape(merge(BASE, mine, theirs)) == (
        "lead",
        [("Online safety", ["a", "b"]), ("Water safety", ["c"]), ("Health", ["e", "f", "d"])],
    )


@pytest.mark.parametrize(
    ("name", "mine_value", "their_value", "expected"),
    [
        ("subject", "Mine", "Subject", "Mine"),
        ("subject", "Subject", "Theirs", "Theirs"),
        ("subject", "Mine", "Theirs", "Mine"),
        ("introduction", "Hello.", "Their hello.", "Their hello."),
    ],
)
def test_fields_of_the_issue(name: str, mine_value: str, their_value: str, expected: str) -> None:
    mine = mine_from(lambda d: setattr(d, name, mine_value))
    theirs = copy.deepcopy(BASE)
    setattr(theirs, name, their_value)
    assert getattr(merge(BASE, mine, theirs), name) == expected


def test_fields_of_a_story_merge_one_by_one() -> None:
    def change(d: Draft) -> None:
        d.sections[0].stories[0].summary = "My summary."
        d.sections[0].stories[1].note = "My note."

    theirs = copy.deepcopy(BASE)
    theirs.sections[0].stories[0].url = "https://their.example/a"
    theirs.sections[0].stories[1].note = "Their note."
    merged = merge(BASE, mine_from(change), theirs)
    a, b = merged.sections[0].stories[:2]
    assert (a.summary, a.url) == ("My summary.", "https://their.example/a")
    assert b.note == "My note."


@pytest.mark.parametrize(
    ("base", "mine", "theirs", "expected"),
    [
        ("abc", "cba", "abc", "cba"),
        ("abc", "abc", "bca", "bca"),
        ("abc", "acb", "bac", "acb"),  # both reordered: mine
        ("abc", "axbc", "abcy", "axbcy"),  # additions placed after what they follow
        ("abc", "abc", "yabc", "yabc"),
    ],
)
def test_merge_order(base: str, mine: str, theirs: str, expected: str) -> None:
    assert "".join(merge_order(list(base), list(mine), list(theirs), set(mine) | set(theirs))) == expected
