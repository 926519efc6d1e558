"""The archive as corrections leave it: a dated correction under a story's title, a withdrawn
story's notice in its place, and the feed's entry for the issue updated.

The archive serves the pages frozen when the issue was sent (what readers got). A correction
changes them only as they are served, so the frozen files stay as they were sent and a
correction shows from the moment it is recorded. The notices are put in with lxml at the
places the archive's templates give them: under the story page's ``h1``, and after the
story's heading (the one linking to its page) on the issue page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

import lxml.html
from lxml.html import HtmlElement

from digest.config import Settings
from digest.corrections.store import Correction, correction_day
from digest.issues.issue import human_date

DOCTYPE = "<!doctype html>"
# What a story is on the issue page, after its heading: the source line, the summary, an editor's note.
_STORY_PARTS = ("meta", "", "note")


def corrected_pages(settings: Settings, pages: Mapping[str, str], corrections: Sequence[Correction]) -> dict[str, str]:
    """An issue's archive pages ({file name: HTML}) with its corrections, oldest first, shown."""
    out = dict(pages)
    by_story: dict[str, list[Correction]] = {}
    for correction in sorted(corrections, key=lambda item: item.id):
        by_story.setdefault(correction.article_id, []).append(correction)
    for article_id, items in by_story.items():
        name = f"{article_id}.html"
        if name in out:
            out[name] = _edit(out[name], partial(_story_page, settings, items=items))
    if by_story and "index.html" in out:
        out["index.html"] = _edit(out["index.html"], partial(_issue_page, settings, by_story=by_story))
    return out


def feed_updates(corrections: Sequence[Correction]) -> dict[str, str]:
    """{issue id: the Atom ``updated`` time of its latest correction}."""
    latest: dict[str, datetime] = {}
    for correction in corrections:
        when = correction.created_at
        if correction.issue_id not in latest or when > latest[correction.issue_id]:
            latest[correction.issue_id] = when
    return {issue_id: when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for issue_id, when in latest.items()}


def _edit(page: str, change: Callable[[HtmlElement], None]) -> str:
    root = lxml.html.document_fromstring(page)
    change(root)
    return str(lxml.html.tostring(root, doctype=DOCTYPE, encoding="unicode"))


def _main(root: HtmlElement) -> HtmlElement:
    found = root.find(".//main")
    return found if found is not None else root.find(".//body")


def _notice(settings: Settings, correction: Correction, *, brief: str = "") -> HtmlElement:
    """The dated notice: the wording in full, or one line linking to the story's page (``brief``)."""
    day = human_date(correction_day(settings, correction))
    box = lxml.html.Element("div", {"class": "note correction", "role": "note"})
    box.tail = "\n"
    first = lxml.html.Element("p")
    strong = lxml.html.Element("strong")
    strong.text = f"Withdrawn on {day}." if correction.withdrawn else f"Correction, {day}:"
    first.append(strong)
    box.append(first)
    if brief:
        strong.tail = " "
        link = lxml.html.Element("a", {"href": f"{correction.article_id}.html"})
        link.text = brief
        first.append(link)
        return box
    paragraphs = correction.paragraphs
    strong.tail = " " + paragraphs[0] if paragraphs else ""
    for text in paragraphs[1:]:
        more = lxml.html.Element("p")
        more.text = text
        box.append(more)
    return box


def _story_page(settings: Settings, root: HtmlElement, *, items: Sequence[Correction]) -> None:
    main = _main(root)
    heading = main.find(".//h1")
    withdrawn = any(item.withdrawn for item in items)
    if heading is None:
        anchor, position = main, 0  # a page of the project's own templates without a title: notices go first
    else:
        anchor, position = heading.getparent(), heading.getparent().index(heading) + 1
        if withdrawn:
            for sibling in list(heading.itersiblings()):
                if not _kept_after_withdrawal(sibling):
                    sibling.getparent().remove(sibling)
    for offset, item in enumerate(items):
        anchor.insert(position + offset, _notice(settings, item))


def _kept_after_withdrawal(element: HtmlElement) -> bool:
    """The way back to the issue and the sign-up line stay; the story's words go."""
    return element.get("class") == "subscribe" or element.find("a[@href='./']") is not None


def _issue_page(settings: Settings, root: HtmlElement, *, by_story: Mapping[str, Sequence[Correction]]) -> None:
    main = _main(root)
    for article_id, items in by_story.items():
        link = main.find(f".//a[@href='{article_id}.html']")
        heading = link.getparent() if link is not None else None
        if heading is None:
            continue  # the story is not on this page (a project's own template): its own page says it all
        parent = heading.getparent()
        parts = _story_parts(heading)
        if any(item.withdrawn for item in items):
            for part in parts:
                parent.remove(part)
            parts = []
        # Under the story as it stands (a correction), or in its place (a withdrawal).
        position = parent.index(parts[-1] if parts else heading) + 1
        for offset, item in enumerate(items):
            brief = "The story was withdrawn." if item.withdrawn else "See the correction."
            parent.insert(position + offset, _notice(settings, item, brief=brief))


def _story_parts(heading: HtmlElement) -> list[HtmlElement]:
    """The paragraphs that follow a story's heading on the issue page and belong to it, in the order
    the archive writes them (source line, summary, editor's note); anything else ends the story."""
    parts = []
    expected = list(_STORY_PARTS)
    for sibling in heading.itersiblings():
        if sibling.tag != "p" or not expected:
            break
        kind = sibling.get("class") or ""
        while expected and expected[0] != kind:
            expected.pop(0)
        if not expected:
            break
        expected.pop(0)
        parts.append(sibling)
    return parts
