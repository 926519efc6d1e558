"""The editor's choices for one issue while they work on it, and the moves they make.

A :class:`Draft` holds what the studio lets an editor change: the subject,
preheader, introduction and note, the lead, the sections in order and each
story's overrides. It comes from a checked :class:`~digest.issues.issue.Issue` and
goes back into the file through :mod:`digest.studio.document`, which keeps
everything else (comments, layout, the window) as it was. The moves are plain
functions on plain data, so the no-JavaScript buttons, the keyboard and drag
and drop all end in the same code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from digest.errors import InputError
from digest.issues.issue import Issue, StoryRef

LEAD = "lead"  # where() answers this instead of a section key for the lead story


@dataclass
class StoryDraft:
    """One story and the editor's overrides for this issue."""

    id: str
    summary: str = ""
    note: str = ""
    full: bool = False
    pin: bool = False
    topics: tuple[str, ...] | None = None  # None: the article's own topics
    url: str = ""


@dataclass
class SectionDraft:
    """A section; ``key`` names it for the page while its title is being edited."""

    key: str
    title: str
    stories: list[StoryDraft] = field(default_factory=list)


@dataclass
class Draft:
    subject: str
    preheader: str
    introduction: str
    editor_note: str
    lead: StoryDraft | None
    sections: list[SectionDraft]

    def stories(self) -> list[StoryDraft]:
        """Every story, the lead first, in the order of the issue."""
        found = [self.lead] if self.lead else []
        return found + [story for section in self.sections for story in section.stories]

    def story_ids(self) -> list[str]:
        return [story.id for story in self.stories()]

    def story(self, article_id: str) -> StoryDraft:
        for story in self.stories():
            if story.id == article_id:
                return story
        raise InputError(f"the story {article_id!r} is not in this issue")

    def where(self, article_id: str) -> tuple[str, int]:
        """(section key or LEAD, position) of a story."""
        if self.lead and self.lead.id == article_id:
            return LEAD, 0
        for section in self.sections:
            for position, story in enumerate(section.stories):
                if story.id == article_id:
                    return section.key, position
        raise InputError(f"the story {article_id!r} is not in this issue")

    def section(self, key: str) -> SectionDraft:
        for section in self.sections:
            if section.key == key:
                return section
        raise InputError("that section is no longer in this issue; reload the page")

    def new_section_key(self) -> str:
        taken = {section.key for section in self.sections}
        return next(f"n{number}" for number in itertools.count(1) if f"n{number}" not in taken)


def story_draft(ref: StoryRef) -> StoryDraft:
    return StoryDraft(
        id=ref.article_id,
        summary=ref.summary,
        note=ref.note,
        full=ref.full,
        pin=ref.pin,
        topics=ref.topics,
        url=ref.url,
    )


def draft_from_issue(issue: Issue) -> Draft:
    """The editable part of a checked issue; sections are keyed by their place in the file."""
    return Draft(
        subject=issue.subject,
        preheader=issue.preheader,
        introduction=issue.introduction,
        editor_note=issue.editor_note,
        lead=story_draft(issue.lead) if issue.lead else None,
        sections=[
            SectionDraft(f"s{index}", section.title, [story_draft(ref) for ref in section.stories])
            for index, section in enumerate(issue.sections)
        ],
    )


# --- moves ------------------------------------------------------------------------------
# Each returns a sentence saying what happened, for the page's status line (read out by
# screen readers), so the editor knows where a story went without looking.


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _place(draft: Draft, article_id: str) -> str:
    key, position = draft.where(article_id)
    if key == LEAD:
        return "the lead"
    section = draft.section(key)
    return f"{_ordinal(position + 1)} of {len(section.stories)} in {section.title or 'an untitled section'}"


def _take(draft: Draft, article_id: str) -> StoryDraft:
    key, position = draft.where(article_id)
    if key == LEAD:
        story = draft.lead
        assert story is not None
        draft.lead = None
        return story
    return draft.section(key).stories.pop(position)


def move_story(draft: Draft, article_id: str, step: int) -> str:
    """Move a story one place up (-1) or down (+1), across into the neighbouring section at its edge."""
    key, position = draft.where(article_id)
    if key == LEAD:
        return "The lead has its own place; use “Make lead” on another story to swap them."
    index = next(i for i, section in enumerate(draft.sections) if section.key == key)
    stories = draft.sections[index].stories
    target = position + step
    if 0 <= target < len(stories):
        stories.insert(target, stories.pop(position))
    else:
        neighbour = index + step
        if not 0 <= neighbour < len(draft.sections):
            return f"Already {'first' if step < 0 else 'last'}: {_place(draft, article_id)}."
        story = stories.pop(position)
        into = draft.sections[neighbour].stories
        into.insert(len(into) if step < 0 else 0, story)
    return f"Moved {'up' if step < 0 else 'down'}: now {_place(draft, article_id)}."


def move_story_to(
    draft: Draft, article_id: str, before: str | None, section_key: str | None, lead_home: str = ""
) -> str:
    """Drag and drop: put a story before another story, or at the end of a section.

    Dropped on the lead, it becomes the lead (see :func:`make_lead` for ``lead_home``).
    """
    if before == article_id:
        return f"Not moved: {_place(draft, article_id)}."
    if before is not None:
        target_key, _ = draft.where(before)
        if target_key == LEAD:
            return make_lead(draft, article_id, lead_home)
    elif section_key is None:
        raise InputError("say where the story should go")
    if draft.lead and draft.lead.id == article_id:
        return "The lead has its own place; use “Make lead” on another story to swap them."
    story = _take(draft, article_id)
    if before is not None:
        target_key, target_position = draft.where(before)
        draft.section(target_key).stories.insert(target_position, story)
    else:
        assert section_key is not None
        draft.section(section_key).stories.append(story)
    return f"Moved: now {_place(draft, article_id)}."


def make_lead(draft: Draft, article_id: str, lead_home: str = "") -> str:
    """Make a story the lead; the old lead goes to the end of the section titled ``lead_home``.

    ``lead_home`` is the section its first topic (or source) would put it in,
    made at the end when the issue has none; empty: it takes the new lead's place.
    """
    key, position = draft.where(article_id)
    if key == LEAD:
        return "That story is already the lead."
    section = draft.section(key)
    story = section.stories.pop(position)
    old = draft.lead
    # A story's pin follows its role: the lead reaches every segment unless the editor
    # said otherwise, and a story that stops leading goes back to its topics.
    if old is not None:
        old.pin = False
        if lead_home:
            _section_titled(draft, lead_home).stories.append(old)
        else:
            section.stories.insert(position, old)
    story.pin = True
    draft.lead = story
    swapped = f"; the previous lead is now {_place(draft, old.id)}" if old else ""
    return f"Now the lead{swapped}."


def _section_titled(draft: Draft, title: str) -> SectionDraft:
    """The section called ``title`` (in any case), made at the end if the issue has none."""
    section = next((s for s in draft.sections if s.title.casefold() == title.casefold()), None)
    if section is None:
        section = SectionDraft(draft.new_section_key(), title)
        draft.sections.append(section)
    return section


def leave_out(draft: Draft, article_id: str) -> str:
    _take(draft, article_id)
    return "Left out of the issue."


def include(draft: Draft, article_id: str, section_title: str) -> str:
    """Add an article to the section called ``section_title`` (made at the end if missing)."""
    if article_id in draft.story_ids():
        return f"Already in the issue: {_place(draft, article_id)}."
    _section_titled(draft, section_title).stories.append(StoryDraft(article_id))
    if draft.lead is None and len(draft.story_ids()) == 1:
        return make_lead(draft, article_id).replace("Now the lead", "Added as the lead")
    return f"Added: {_place(draft, article_id)}."


def move_section(draft: Draft, key: str, step: int) -> str:
    index = next((i for i, section in enumerate(draft.sections) if section.key == key), None)
    if index is None:
        raise InputError("that section is no longer in this issue; reload the page")
    target = index + step
    if not 0 <= target < len(draft.sections):
        return f"Already the {'first' if step < 0 else 'last'} section."
    draft.sections.insert(target, draft.sections.pop(index))
    return f"Section moved {'up' if step < 0 else 'down'}: now {_ordinal(target + 1)} of {len(draft.sections)}."


def add_section(draft: Draft, title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InputError("give the new section a title")
    draft.sections.append(SectionDraft(draft.new_section_key(), title))
    return f"Added the section {title}, at the end; move stories into it."


def remove_section(draft: Draft, key: str) -> str:
    section = draft.section(key)
    if section.stories:
        raise InputError(f"the section {section.title} still has stories; move them or leave them out first")
    draft.sections.remove(section)
    return f"Removed the empty section {section.title}."
