"""Merging the editor's draft into an issue file that changed on disk while the page was open.

Three versions meet: ``base`` (the file as the page opened it), ``mine`` (the
page's draft) and ``theirs`` (the file now). Wherever only one side changed
something, that change is kept; where both changed the same thing, the
editor's wins. "Something" is each of: the subject, preheader, introduction
and note; each story's overrides; whether a story is in the issue; which
section a story is in (or the lead); the order of the stories in each section;
each section's title; the order of the sections.

The page knows its sections by their place in ``base`` (keys ``s0``, ``s1``…;
``n1``… for ones it added). The file now is matched to ``base`` section by
section: the same title first, then the most stories in common; the rest are
sections the other side added.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Hashable, Sequence
from typing import TypeVar

from digest.studio.draft import LEAD, Draft, SectionDraft, StoryDraft

T = TypeVar("T", bound=Hashable)
_ISSUE_FIELDS = ("subject", "preheader", "introduction", "editor_note")
_STORY_FIELDS = ("summary", "note", "full", "pin", "topics", "url")


def _pick(base: object, mine: object, theirs: object) -> object:
    """The editor's value where they changed it, else the file's."""
    return mine if mine != base else theirs


def merge_order(base: Sequence[T], mine: Sequence[T], theirs: Sequence[T], present: set[T]) -> list[T]:
    """The order of the ``present`` items after a three-way merge.

    The side that reordered the items both sides share with ``base`` sets the
    order (the editor's, if both did); an item only the other side has goes
    straight after the item it follows there.
    """
    shared = set(base) & set(mine) & set(theirs)
    mine_moved = [x for x in mine if x in shared] != [x for x in base if x in shared]
    first, second = (mine, theirs) if mine_moved else (theirs, mine)
    result = [x for x in dict.fromkeys(first) if x in present]
    for position, item in enumerate(second):
        if item not in present or item in result:
            continue
        before = next((x for x in reversed(second[:position]) if x in result), None)
        result.insert(result.index(before) + 1 if before is not None else 0, item)
    return result


def _match_sections(base: Draft, theirs: Draft) -> dict[str, str]:
    """Their section key → the base key it is the same section as."""
    matched: dict[str, str] = {}
    free = {section.key: section for section in base.sections}
    for section in theirs.sections:
        same = next((k for k, b in free.items() if b.title.casefold() == section.title.casefold()), None)
        if same is not None:
            matched[section.key] = same
            del free[same]
    for section in theirs.sections:
        if section.key in matched or not free:
            continue
        ids = {story.id for story in section.stories}
        best = max(free, key=lambda k: len(ids & {story.id for story in free[k].stories}))
        if ids & {story.id for story in free[best].stories}:
            matched[section.key] = best
            del free[best]
    return matched


def _locations(draft: Draft, name: dict[str, str]) -> dict[str, str]:
    """Where each story is: LEAD or its section's name (through ``name``, section key → name)."""
    found = {draft.lead.id: LEAD} if draft.lead else {}
    for section in draft.sections:
        for story in section.stories:
            found[story.id] = name[section.key]
    return found


def merge(base: Draft, mine: Draft, theirs: Draft) -> Draft:
    """The editor's changes (``base`` → ``mine``) made to the file as it is now (``theirs``)."""
    # Every section gets one name across the three: its base key, or "mine:"/"theirs:" and its own key.
    base_names = {s.key: s.key for s in base.sections}
    mine_names = {s.key: s.key if s.key in base_names else f"mine:{s.key}" for s in mine.sections}
    matched = _match_sections(base, theirs)
    their_names = {s.key: matched.get(s.key, f"theirs:{s.key}") for s in theirs.sections}
    sections = {
        side: {names[s.key]: s for s in draft.sections}
        for side, draft, names in (
            ("base", base, base_names),
            ("mine", mine, mine_names),
            ("theirs", theirs, their_names),
        )
    }
    was, now, other = (_locations(d, n) for d, n in ((base, base_names), (mine, mine_names), (theirs, their_names)))

    # Which stories stay, and where: a story leaves if either side left it out; it moves where a side moved it.
    place: dict[str, str] = {}
    for story_id in dict.fromkeys([*now, *other]):
        if story_id in was and not (story_id in now and story_id in other):
            continue
        mine_place = now.get(story_id)
        moved_by_me = mine_place is not None and mine_place != was.get(story_id)
        place[story_id] = (mine_place if moved_by_me else other.get(story_id) or mine_place) or LEAD
    lead = _pick(base.lead and base.lead.id, mine.lead and mine.lead.id, theirs.lead and theirs.lead.id)
    lead_id = lead if isinstance(lead, str) and lead in place else None
    for story_id, where in place.items():
        if where == LEAD and story_id != lead_id:
            # Two leads: the one that lost goes where it would be otherwise.
            place[story_id] = next(
                (p for p in (now.get(story_id), other.get(story_id), was.get(story_id)) if p and p != LEAD),
                LEAD,
            )
    if lead_id is not None:
        place[lead_id] = LEAD

    # Sections: one either side removed goes, unless a story is still placed in it.
    used = set(place.values())
    present = {
        name
        for name in dict.fromkeys([*sections["mine"], *sections["theirs"]])
        if name in used or name not in sections["base"] or (name in sections["mine"] and name in sections["theirs"])
    }
    order = merge_order(list(sections["base"]), list(sections["mine"]), list(sections["theirs"]), present)
    order += [name for name in dict.fromkeys(place.values()) if name != LEAD and name not in order]

    stories = _stories(base, mine, theirs)
    fresh = (f"n{number}" for number in itertools.count(1))
    taken = {s.key for s in theirs.sections}
    result_sections = []
    for name in order:
        b, m, t = (sections[side].get(name) for side in ("base", "mine", "theirs"))
        some = m or t or b
        assert some is not None  # every name is a section of one side
        title = _pick(b.title if b else None, m.title if m else None, t.title if t else None)
        if not isinstance(title, str):
            title = some.title  # a section one side removed and the other still uses
        key = t.key if t else next(k for k in fresh if k not in taken)
        ids = merge_order(
            [s.id for s in b.stories] if b else [],
            [s.id for s in m.stories] if m else [],
            [s.id for s in t.stories] if t else [],
            {story_id for story_id, where in place.items() if where == name},
        )
        ids += [i for i, where in place.items() if where == name and i not in ids]
        result_sections.append(SectionDraft(key, title, [stories[i] for i in ids]))
    return Draft(
        subject=str(_pick(base.subject, mine.subject, theirs.subject)),
        preheader=str(_pick(base.preheader, mine.preheader, theirs.preheader)),
        introduction=str(_pick(base.introduction, mine.introduction, theirs.introduction)),
        editor_note=str(_pick(base.editor_note, mine.editor_note, theirs.editor_note)),
        lead=stories[lead_id] if lead_id else None,
        sections=result_sections,
    )


def _stories(base: Draft, mine: Draft, theirs: Draft) -> dict[str, StoryDraft]:
    """Every story with its overrides merged field by field."""
    was = {story.id: story for story in base.stories()}
    now = {story.id: story for story in mine.stories()}
    other = {story.id: story for story in theirs.stories()}
    merged = {}
    for story_id in dict.fromkeys([*now, *other]):
        b, m, t = was.get(story_id), now.get(story_id), other.get(story_id)
        source = m or t
        assert source is not None
        story = dataclasses.replace(source)
        for name in _STORY_FIELDS:
            if m is not None and (b is None or getattr(m, name) != getattr(b, name)):
                setattr(story, name, getattr(m, name))
            elif t is not None:
                setattr(story, name, getattr(t, name))
        merged[story_id] = story
    return merged
