"""The words each copy computes for itself, and the editor's words checked against every copy.

A copy narrowed to a reader's topics holds fewer stories than the issue, so
anything that counts or names stories (the header's count, the preheader, the
contents, the note that stories were left out) is worked out from that copy's
own stories, never the whole issue's. The editor's free text cannot be
recomputed, so :func:`copy_mismatches` finds what in it is untrue of a copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from digest.config import Settings
from digest.issues.issue import IssueView, Story

PREHEADER_LIMIT = 110
_GREETING_RE = re.compile(
    r"^\s*(?:dear|hello|hi|hiya|hey|greetings|good (?:morning|afternoon|evening))\b[^.!?\n]{0,40}[,!:]",
    re.IGNORECASE,
)
_NUMBER_WORDS = {
    word: number
    for number, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_COUNT_RE = re.compile(
    r"\b(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\s+(?:new\s+|more\s+|other\s+)?(?:stories|articles|items)\b",
    re.IGNORECASE,
)


def greeting_of(introduction: str) -> str:
    """The greeting an introduction opens with ("Dear colleague,"), or ''."""
    match = _GREETING_RE.match(introduction or "")
    return match.group(0).strip() if match else ""


def automatic_preheader(subject: str, stories: Sequence[Story]) -> str:
    """A preheader made from this copy's stories, never repeating the subject.

    It names the stories after the one the subject names ("Also: …; …"); in a
    copy with only that story it is the start of its summary.
    """
    folded = subject.casefold()
    others = [story.article.title for story in stories if story.article.title.casefold() not in folded]
    if others and len(others) < len(stories):
        return _cut("Also: " + "; ".join(others))
    if others:
        return _cut("; ".join(others))
    summary = stories[0].summary if stories else ""
    return _cut(summary)


def _cut(text: str, limit: int = PREHEADER_LIMIT) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:–-") + "…"


def byline(settings: Settings, story: Story) -> str:
    """The name to show as 'by …': the author, or who posted it where that source says they wrote it."""
    article = story.article
    if article.author:
        return article.author
    shown = settings.byline_sources
    if article.posted_by and ("*" in shown or article.source.casefold() in {s.casefold() for s in shown}):
        return article.posted_by
    return ""


def narrowed_topics(settings: Settings, whole: IssueView, copy: IssueView, topics: Iterable[str] | None) -> list[str]:
    """The labels of the topics a copy was narrowed to, when it leaves stories out (else [])."""
    if topics is None or len(copy.stories()) >= len(whole.stories()):
        return []
    return sorted(settings.topic_label(topic) for topic in topics)


def join_words(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'; 'a; b, c; d' when an item has a comma of its own.

    When an item has an "and" of its own, a comma before the last "and" says where the
    items part: "Domestic abuse and violence, and Health and wellbeing".
    """
    if len(items) <= 1:
        return "".join(items)
    if any("," in item for item in items):
        return "; ".join(items)
    last = ", and " if any(_AND.search(item) for item in items) else " and "
    return ", ".join(items[:-1]) + last + items[-1]


_AND = re.compile(r"\band\b", re.IGNORECASE)


def copy_shows(settings: Settings, copy: IssueView, topics: Iterable[str], labels: Sequence[str]) -> str:
    """What a narrowed copy holds, for its note: "the stories on your topics (…)", and first the lead and
    the stories every reader gets where those are not on the reader's topics."""
    chosen = set(topics)
    outside = [story for story in copy.stories() if not chosen.intersection(story.topics)]
    others = len([story for story in outside if not story.is_lead])
    extras = ["the lead story"] if any(story.is_lead for story in outside) else []
    if others:
        extras.append(f"{others} {'story' if others == 1 else 'stories'} for every reader")
    on_topics = f"the stories on your topics ({join_words(labels)})"
    return ", ".join(extras) + " and " + on_topics if extras else on_topics


def copy_mismatches(view: IssueView, story_ids: Sequence[str]) -> list[str]:
    """What the editor's introduction and subject say that is untrue of a copy holding ``story_ids``.

    A count of stories that is not this copy's, a source none of its stories
    comes from, a story title in the subject that it does not hold.
    """
    issue = view.issue
    held = [story for story in view.stories() if story.id in set(story_ids)]
    text = f"{issue.introduction}\n{issue.editor_note}"
    problems = []
    for match in _COUNT_RE.finditer(text):
        said = match.group(1).lower()
        number = int(said) if said.isdigit() else _NUMBER_WORDS[said]
        if number != len(held):
            problems.append(f"the introduction says {match.group(0)!r}, but this copy has {len(held)}")
    sources = {story.article.source for story in held}
    for source in sorted({story.article.source for story in view.stories()} - sources):
        if _mentions(text, source):
            problems.append(f"the introduction names {source}, but no story in this copy comes from it")
    for story in view.stories():
        if story.id not in set(story_ids) and _mentions(issue.subject, story.article.title):
            problems.append(f"the subject names {story.article.title!r}, which this copy does not hold")
    return problems


def _mentions(text: str, name: str) -> bool:
    return bool(re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text, re.IGNORECASE))
