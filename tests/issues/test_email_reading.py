"""The email as its readers meet it: jumping from the contents, the heading outline a screen reader
announces, names and dates that hold together, and the wording of each copy.

Every copy (each segment's variant) of the demo issue (examples/) and of the suite's sample issue is
checked, since a copy narrowed to some topics has a different shape from the whole issue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from digest.issues.issue import IssueView, load_view, select_stories
from digest.issues.render import RenderedEmail, Renderings, paragraphs
from digest.people.segments import load_segments

MASTHEAD = "SAFE Newsfeed"
CONTENTS = "In this issue"
LEAD = "Lead story"
_SPACES = re.compile(r"[ \t\r\n\f]+")


@dataclass(eq=False)  # found by identity: two spans of the same date are still two elements
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: int = 0  # elements inside it


@dataclass
class _Elements(HTMLParser):
    """Every element of a document in document order, with its whole text (the preheader's hidden div too)."""

    found: list[Element] = field(default_factory=list)
    _open: list[Element] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        for outer in self._open:
            outer.children += 1
        self.found.append(element)
        if tag not in ("br", "img", "meta", "hr", "link", "input"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data


def elements(html: str) -> list[Element]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    for element in parser.found:
        # ASCII white space only: no-break spaces are part of what is tested.
        element.text = _SPACES.sub(" ", element.text).strip(" ")
    return parser.found


def copies(engine, settings, issue_id: str) -> list[tuple[str, IssueView, RenderedEmail]]:  # type: ignore[no-untyped-def]
    """(name, stories, rendering) of the whole issue and of every segment's copy."""
    view = load_view(engine, settings, issue_id)
    renderings = Renderings(view, settings)
    found = [("whole issue", view, renderings.variant())]
    for segment in load_segments(settings):
        found.append((segment.name, select_stories(view, segment.topics), renderings.variant(segment.topics)))
    return found


@pytest.fixture(params=["sample", "demo"])
def every_copy(request, engine, settings, project):  # type: ignore[no-untyped-def]
    """Every copy of the suite's sample issue, or of the demo's issue."""
    if request.param == "sample":
        request.getfixturevalue("audience")  # the sample issue and its segments
        return copies(engine, settings, "2025-04-10")
    request.getfixturevalue("demo_issue")
    return copies(engine, settings, "2026-11-23")


def expected_outline(whole: IssueView, copy: IssueView) -> list[tuple[str, str]]:
    """H1 the issue, H2 the contents, H2 "Lead story" over the lead's H3, H2 each section over its stories' H3s."""
    outline = [("h1", MASTHEAD)]
    if len(copy.stories()) > 1 or len(copy.stories()) < len(whole.stories()):
        outline.append(("h2", CONTENTS))
    if copy.lead:
        outline += [("h2", LEAD), ("h3", copy.lead.article.title)]
    for section in copy.sections:
        outline.append(("h2", section.title))
        outline += [("h3", story.article.title) for story in section.stories]
    return outline


def test_every_copy_has_one_heading_outline(every_copy) -> None:  # type: ignore[no-untyped-def]
    whole = every_copy[0][1]
    for name, copy, rendered in every_copy:
        # Sub-headings inside a story shown in full are h4s, below its h3: not part of the issue's outline.
        found = [(e.tag, e.text) for e in elements(rendered.html) if e.tag in ("h1", "h2", "h3", "h5", "h6")]
        assert found == expected_outline(whole, copy), name


def test_contents_links_jump_to_named_anchors_and_read_as_a_list(every_copy) -> None:  # type: ignore[no-untyped-def]
    """Outlook 2016-2021, Windows Mail and Gmail's and Yahoo's webmail jump only to an empty <a name>
    (caniemail's "Local anchors", note 7); other browsers go by id, so the anchor has both."""
    for name, copy, rendered in every_copy:
        found = elements(rendered.html)
        titles = [story.article.title for story in copy.stories()]
        contents = next(e for e in found if e.tag == "ul" and "contents-list" in e.attrs.get("class", ""))
        start = found.index(contents)
        items = [e for e in found[start + 1 : start + 1 + contents.children] if e.tag == "li"]
        assert [item.text for item in items] == titles, name  # where nothing jumps, still the list of stories
        links = [e for e in found if e.tag == "a" and e.attrs.get("href", "").startswith("#")]
        assert [link.text for link in links] == titles, name
        for link in links:
            target = link.attrs["href"][1:]
            anchors = [e for e in found if e.tag == "a" and e.attrs.get("name") == target]
            assert len(anchors) == 1, (name, target)
            anchor = anchors[0]
            assert anchor.attrs.get("id") == target and anchor.text == "" and anchor.children == 0, (name, anchor)
            assert "href" not in anchor.attrs
            # The anchor opens the story (above a one-story section's name and the source line): its title is
            # the next story title below it.
            title = next(e for e in found[found.index(anchor) :] if e.tag == "h3")
            assert title.text == link.text, (name, target)
        assert not [e for e in found if e.attrs.get("id") and e.tag != "a"], name  # one target per story, no twin id


def test_the_lead_shows_its_source_and_date_as_every_story_does(every_copy) -> None:  # type: ignore[no-untyped-def]
    for name, copy, rendered in every_copy:
        found = elements(rendered.html)
        for story in copy.stories():
            heading = next(e for e in found if e.tag == "h3" and e.text == story.article.title)
            before = found[found.index(heading) - 1]
            while before.tag in ("a", "span"):  # the story's anchor; a name's parts
                before = found[found.index(before) - 1]
            assert before.tag == "p" and "source" in before.attrs.get("class", "").split(), (name, story.id, before)
            assert before.text.replace("\u00a0", " ").startswith(story.article.source), (name, story.id)


NBSP, NB_HYPHEN = "\u00a0", "\u2011"
NAME_LIMIT = 40  # a longer organisation name may break across lines; a shorter one never does


def unbreakable(name: str) -> str:
    """A name or date as the email must write it: no-break spaces and hyphens, so no client can split it
    (Outlook for Windows, Windows Mail and Samsung Email ignore CSS's white-space: nowrap)."""
    if len(name) > NAME_LIMIT:
        return name
    return name.replace(" ", NBSP).replace("-", NB_HYPHEN)


def test_names_and_dates_never_break_and_separators_stay_with_what_follows(every_copy, settings) -> None:  # type: ignore[no-untyped-def]
    from digest.issues.issue import human_date
    from digest.issues.typeset import _DATE_RE
    from digest.issues.wording import byline

    dates_in_text = 0
    for name, copy, rendered in every_copy:
        found = elements(rendered.html)
        for story in copy.stories():
            article = story.article
            heading = next(e for e in found if e.tag == "h3" and e.text == article.title)
            source_line = next(e for e in reversed(found[: found.index(heading)]) if e.tag == "p")
            parts = [unbreakable(article.source), unbreakable(human_date(article.published))]
            author = byline(settings, story)
            if author:
                parts.append(unbreakable(f"by {author}"))
            assert source_line.text == f" ·{NBSP}".join(parts), (name, story.id)
        # Dates in the editor's and the stories' own words ("on 8 April 2025") hold together too.
        for element in found:
            if element.tag in ("p", "li") and element.children == 0:
                assert not _DATE_RE.findall(element.text), (name, element.text)
                dates_in_text += len(_DATE_RE.findall(element.text.replace(NBSP, " ")))
        body = rendered.html.split("<body", 1)[1]
        assert "· " not in body and "·</" not in body, name  # every "·" is held to the item after it
        header = next(e for e in found if e.tag == "p" and "dateline" in e.attrs.get("class", ""))
        assert header.text.startswith(unbreakable(human_date(copy.issue.date)) + f" ·{NBSP}"), name
    assert dates_in_text  # the summaries' own dates were looked at


def copy_note(rendered: RenderedEmail) -> str:
    return next(e.text for e in elements(rendered.html) if e.tag == "p" and e.attrs.get("class") == "copy-note")


def test_a_copys_note_counts_a_lead_outside_the_readers_topics(engine, settings, demo_issue) -> None:  # type: ignore[no-untyped-def]
    by_name = {name: (copy, rendered) for name, copy, rendered in copies(engine, settings, "2026-11-23")}
    archive = "news.safe.example.org/archive/2026-11-23/"
    # The lead (sport and community) reaches every copy; the health copy's topics do not include it.
    health_copy, health = by_name["health"]
    assert health_copy.lead is not None and "sport-community" not in load_segments(settings)[1].topics
    topics = (
        "Child sexual abuse and exploitation, Children's social care, Courts and justice, "
        "Domestic abuse and violence, and Health and wellbeing"
    )
    assert copy_note(health) == (
        f"This copy shows the lead story and the stories on your topics ({topics}); the whole issue is at {archive}."
    )
    assert f"This copy shows the lead story and the stories on your topics ({topics}); the whole" in " ".join(
        health.text.split()
    )
    # The sport and community copy's topics include the lead's: its stories are all on them.
    assert copy_note(by_name["sport-community"][1]).startswith("This copy shows the stories on your topics (")
    # A story the editor pins for every reader is counted apart too.
    dsl = "2026-11-21-designated-safeguarding-lead-refresher-dates-for-spring-2027"
    text = demo_issue.read_text(encoding="utf-8")
    demo_issue.write_text(text.replace(f"- {dsl}", f"- {{id: {dsl}, pin: true}}"), encoding="utf-8")
    health = next(rendered for name, _, rendered in copies(engine, settings, "2026-11-23") if name == "health")
    assert copy_note(health).startswith(
        "This copy shows the lead story, 1 story for every reader and the stories on your topics (Child sexual"
    )


def test_topic_lists_read_one_way() -> None:
    from digest.issues.wording import join_words

    assert join_words(["Domestic abuse and violence", "Health and wellbeing"]) == (
        "Domestic abuse and violence, and Health and wellbeing"
    )
    assert join_words(["Online safety", "Health and wellbeing", "Water safety"]) == (
        "Online safety, Health and wellbeing, and Water safety"
    )
    assert join_words(["Online safety", "Water safety", "Courts"]) == "Online safety, Water safety and Courts"
    assert join_words(["Online safety", "Water safety"]) == "Online safety and Water safety"
    assert join_words(["Sport, clubs", "Health"]) == "Sport, clubs; Health"
    assert join_words(["Health"]) == "Health" and join_words([]) == ""


def test_the_preheader_is_padded_so_the_preview_text_stops_where_it_ends(every_copy) -> None:  # type: ignore[no-untyped-def]
    spacer = "\u034f\u200c\u00a0"  # &#847;&zwnj;&nbsp;: invisible, and inboxes fill their preview line with it
    for name, _copy, rendered in every_copy:
        found = elements(rendered.html)
        hidden = next(e for e in found if e.tag == "div" and "display:none" in e.attrs.get("style", ""))
        assert hidden.text.startswith(rendered.preheader), name
        padding = hidden.text[len(rendered.preheader) :]
        assert len(padding) >= 150 and padding == spacer * (len(padding) // 3), name
        after = found[found.index(hidden) + 1 :]
        assert next(e.text for e in after if e.text).startswith("View this email"), name


def test_text_from_outside_is_marked_for_either_direction(every_copy) -> None:  # type: ignore[no-untyped-def]
    """dir="auto" on each block of written text (titles, summaries, the introduction, section names, the
    contents), so an Arabic or Hebrew title reads right to left; never on a link (Outlook mishandles it)."""
    for name, copy, rendered in every_copy:
        found = elements(rendered.html)
        titles = {story.article.title for story in copy.stories()}
        summaries = {story.summary[:30] for story in copy.stories()}
        headings = titles | {section.title for section in copy.sections}
        prose = summaries | {para[:30] for para in paragraphs(copy.issue.introduction)}
        marked = [
            e
            for e in found
            if (e.tag in ("h2", "h3", "li") and e.text in headings) or (e.tag == "p" and e.text[:30] in prose)
        ]
        assert len(marked) >= 3 * len(titles), name
        assert [e.text for e in marked if e.attrs.get("dir") != "auto"] == [], name
        assert not [e for e in found if e.tag == "a" and "dir" in e.attrs], name


def test_a_first_name_that_is_a_spreadsheet_formula_is_never_used_to_greet(
    engine, settings, sample_issue, project
) -> None:  # type: ignore[no-untyped-def]
    import email
    from email import policy

    from digest.people.subscribers import add_subscriber
    from digest.sending import start_send

    names = {"=SUM(1+1)": "colleague", "+44 7700 900123": "colleague", "-2+3": "colleague", "@admin": "colleague"}
    names |= {" =HYPERLINK(x)": "colleague", "Ana": "Ana", "Anne-Marie": "Anne-Marie"}
    (project / "subscribers").mkdir()
    (project / "subscribers" / "segments.yaml").write_text("segments:\n  - name: everyone\n", encoding="utf-8")
    for number, first in enumerate(names):
        add_subscriber(engine, settings, f"p{number}@example.org", {"first_name": first}, consent_source="test")
    start_send(engine, settings, "2025-04-10", ["everyone"])
    greeted = {}
    for path in (project / "outbox" / "2025-04-10").glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        number = int(str(message["To"].addresses[0].username)[1:])
        greeted[list(names)[number]] = re.search(r"Dear (.*),", text).group(1)
        assert f"Dear {greeted[list(names)[number]]}," in html
    assert greeted == names


def test_the_footer_names_the_sender_its_address_and_its_registration(engine, settings, sample_issue, project) -> None:  # type: ignore[no-untyped-def]
    from digest.config import load_settings
    from digest.issues.render import render_issue

    registration = "Community interest company no. 12345678, registered in England and Wales"
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            "[organisation]\n", f'[organisation]\nregistration = "{registration}"\n'
        ),
        encoding="utf-8",
    )
    registered = load_settings(toml)
    rendered = render_issue(load_view(engine, registered, "2025-04-10"), registered)
    footer = [e for e in elements(rendered.html) if e.tag == "p"][-3:]
    assert [e.text for e in footer] == [
        "Unsubscribe ·\u00a0Choose your topics ·\u00a0Privacy notice",
        f"SAFE CIC1 Test Street, Diss IP22 4AA{registration}Telephone 01379\u00a0871091",  # lines parted by <br>
        "safe.example.org",
    ]
    assert f"SAFE CIC\n1 Test Street, Diss IP22 4AA\n{registration}\nTelephone 01379 871091\n" in rendered.text
    assert registration not in render_issue(load_view(engine, settings, "2025-04-10"), settings).html


def test_the_text_parts_separators_stay_with_what_follows(engine, demo_issue, project) -> None:  # type: ignore[no-untyped-def]
    from digest.config import load_settings

    toml = project / "digest.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[render]\nbyline_sources = ["*"]\n', encoding="utf-8")
    bylines = load_settings(toml)
    text = Renderings(load_view(engine, bylines, "2026-11-23"), bylines).variant().text
    # "Westbridge Safeguarding Children Partnership · 17 November 2026 · by Demo Editor" is 80 characters.
    assert "Westbridge Safeguarding Children Partnership · 17 November 2026\n· by Demo Editor\n" in text
    assert not [line for line in text.splitlines() if line.rstrip().endswith("·")]
