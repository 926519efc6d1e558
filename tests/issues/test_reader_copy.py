"""What a reader gets: the contents, the hierarchy, each copy's own words, by-lines, full stories, Outlook's needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.issues.issue import load_view
from digest.issues.render import render_issue
from tests.golden import html_outline

LEAD = "2025-04-09-protecting-children-from-sexual-abuse-and-exploitation-progress-report"
WATER = "2025-04-08-cold-water-safety-advice-as-the-weather-warms-up"
CARE = "2025-04-04-changes-to-children-s-home-inspections-to-support-stable-placements"
CPS = "2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son"
FORUM = "2025-04-03-online-forum-shut-down-and-details-of-40-users-passed-to-police"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def render(engine, settings, topics=None):  # type: ignore[no-untyped-def]
    return render_issue(load_view(engine, settings, "2025-04-10"), settings, topics=topics)


def outline_lines(html: str, prefix: str) -> list[str]:
    return [line for line in html_outline(html).splitlines() if line.startswith(prefix)]


def test_the_contents_list_links_every_story_of_the_copy_to_its_anchor(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    html = render(engine, settings).html
    links = re.findall(r'<a href="#(story-\d+)" class="contents-link"[^>]*>([^<]+)</a>', html)
    assert [anchor for anchor, _ in links] == [f"story-{n}" for n in range(1, 6)]
    for anchor, title in links:
        # An empty <a name> (Outlook and Gmail's webmail jump to nothing else), then the story's title.
        story = rf'<a name="{anchor}" id="{anchor}"></a>(?:(?!<h3).)*<h3 class="(lead|story)-title"[^>]*>'
        assert re.search(rf"{story}<a [^>]*>{re.escape(title)}</a>", html, re.S)
    # The contents come before the lead, full width: no column beside the lead to leave empty.
    assert html.index('class="contents-title"') < html.index('class="lead-title"')
    assert "mj-column-per-64" not in html and "mj-column-per-36" not in html


def test_a_section_of_one_story_names_itself_in_a_small_heading(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    html = render(engine, settings).html
    # Four sections of one story each: the story carries its section's name (an H2 styled as a kicker);
    # no heading-and-rule blocks.
    assert outline_lines(html, "h2 dir=auto class=section-title") == []
    assert [line.split(": ", 1)[1] for line in outline_lines(html, "h2 dir=auto class=kicker-topic")] == [
        "Online safety",
        "Water safety",
        "Children's social care",
        "Courts and justice",
    ]
    # Two stories in one section: one heading, and the stories under it carry no kicker.
    edit(sample_issue, f"      - {CPS}", f"      - {CPS}\n      - {CARE}")
    edit(
        sample_issue,
        "  - title: Children's social care\n    stories:\n",
        "  - title: Children's social care\n    stories: []\n",
    )
    text = sample_issue.read_text(encoding="utf-8")
    sample_issue.write_text(re.sub(rf"\n      - {CARE}[^\n]*", "", text, count=1), encoding="utf-8")
    html = render(engine, settings).html
    assert outline_lines(html, "h2 dir=auto class=section-title") == [
        "h2 dir=auto class=section-title: Courts and justice"
    ]
    assert len(outline_lines(html, "h2 dir=auto class=kicker-topic")) == 2


def test_each_copy_counts_and_names_only_its_own_stories(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    whole = render(engine, settings)
    water = render(engine, settings, topics=frozenset({"water-safety"}))
    assert water.story_ids == (LEAD, WATER)
    # The header's count, the contents and the text part's contents are the copy's own.
    assert "10\u00a0April\u00a02025 ·\u00a02\u00a0stories" in water.html and "·\u00a05\u00a0stories" in whole.html
    assert len(re.findall(r'class="contents-link"', water.html)) == 2
    assert "In this issue (2 stories)" in water.text and "In this issue (5 stories)" in whole.text
    # The preheader names the stories this copy holds, never the subject again.
    assert water.preheader == "Also: Cold water safety advice as the weather warms up"
    assert "Online forum" in whole.preheader and "Online forum" not in water.preheader
    # It says stories were left out, and where the whole issue is; the lead, on other topics, is named apart.
    notice = "This copy shows the lead story and the stories on your topics (Water safety); the whole issue is at"
    assert notice in water.html and "https://news.safe.example.org/archive/2025-04-10/" in water.html
    assert notice in " ".join(water.text.split())
    assert "This copy shows" not in whole.html and "This copy shows" not in whole.text
    # Labels with commas of their own are kept apart.
    labels = render(engine, settings, topics=frozenset({"sport-community", "water-safety"}))
    assert "(Sport, clubs and community; Water safety)" in labels.html
    # Topics that leave nothing out are no narrower than the issue: no notice.
    every = frozenset(settings.topic_slugs)
    assert "This copy shows" not in render(engine, settings, topics=every).html


def test_the_text_part_opens_with_its_contents_numbered_as_the_stories(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    text = render(engine, settings).text
    head = text.split("Dear ", 1)[0]
    assert head.splitlines()[:6] == [
        "SAFE Newsfeed: 10 April 2025",
        "============================",
        "SAFE CIC · The Safeguarding Specialists",
        "",
        "In this issue (5 stories)",
        "-------------------------",
    ]
    titles = re.findall(r"^ ?(\d)\. (.+)$", head, re.M)
    assert [number for number, _ in titles] == ["1", "2", "3", "4", "5"]
    for number, title in titles:
        assert f"\n{number}. {title}\n" in text  # the story below carries the same number


def test_full_stories_number_steps_mark_sub_headings_and_link_only_to_an_original(
    engine, settings, sample_issue
) -> None:  # type: ignore[no-untyped-def]
    edit(sample_issue, f"- {WATER}", f"- {{id: {WATER}, full: true}}")
    edit(sample_issue, f"lead: {LEAD}", f"lead: {{id: {LEAD}, full: true, url: 'https://dcf.example.org/statement'}}")
    rendered = render(engine, settings)
    html, text = rendered.html, rendered.text
    # The '+' lead-in is a paragraph, the steps a numbered list: in the email and the text part.
    assert re.search(r"<p[^>]*>If you end up in cold water, follow the ‘float first’ steps:</p>\s*<ol", html)
    assert " 1. Fight the urge to swim hard or thrash around." in text
    from digest.issues.archive import archive_pages

    page = archive_pages(load_view(engine, settings, "2025-04-10"), settings)[f"{WATER}.html"]
    assert re.search(r"<p>If you end up in cold water, follow the ‘float first’ steps:</p>\s*<ol>\s*<li>Fight", page)
    assert " 5. Then shout for help or swim to safety." in text
    # A sub-heading inside a story is not dressed as a story title.
    assert "\n## New measures\n" in text
    assert "New measures\n------------" not in text
    assert re.search(r'<h4 class="sub-heading"[^>]*>New measures</h4>', html)
    # Shown in full without an original elsewhere: no link to the same text again.
    water_card = html[html.index('id="story-3"') : html.index('id="story-4"')]
    assert "Read the full story" not in water_card and "Read the original" not in water_card
    # With an original (the issue file's url): the link goes there, and says so.
    assert 'href="https://dcf.example.org/statement"' in html
    assert re.search(r">Read the original</a>", html) and "Read the original [1]" in text


def test_the_uploader_is_not_shown_as_the_author_unless_the_source_says_so(
    engine, settings, sample_issue, project
) -> None:  # type: ignore[no-untyped-def]
    rendered = render(engine, settings)
    assert "Rowan Ellis" not in rendered.html and "Rowan Ellis" not in rendered.text
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + '\n[render]\nbyline_sources = ["Riverside Police"]\n', encoding="utf-8"
    )
    shown = load_settings(toml)
    rendered = render(engine, shown)
    assert rendered.html.count("by\u00a0Rowan\u00a0Ellis") == 1  # only Riverside Police's story
    assert "Riverside Police · 8 April 2025 · by Rowan Ellis" in rendered.text


def test_dates_and_names_do_not_break_across_lines(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    rendered = render(engine, settings)
    # No-break spaces, not CSS (Outlook for Windows ignores white-space: nowrap); tests/issues/test_email_reading.py
    # checks every name and date of every copy.
    assert "yesterday, 8\u00a0April\u00a02025." in rendered.html
    assert ">Riverside\u00a0Police ·\u00a08\u00a0April\u00a02025</p>" in rendered.html
    # In the text part, a wrapped line never ends inside a date.
    assert not re.search(r"\b\d{1,2}\n(January|February|March|April|May|June|July)", rendered.text)


def test_outlook_gets_fonts_title_colours_and_list_spacing_it_honours(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    edit(sample_issue, f"- {WATER}", f"- {{id: {WATER}, full: true}}")
    html = render(engine, settings).html
    for tag in re.findall(r"<h[1-4] [^>]*>", html):
        assert "font-family:Arial, Helvetica, sans-serif" in tag, tag
    # Titles have their colour on the heading too, not only on the link inside it.
    assert re.search(r'<h3 class="story-title" dir="auto" style="[^"]*color:#12355b', html)
    # Lists indent with margin-left (Outlook ignores padding on lists).
    for tag in re.findall(r"<(?:ul|ol) [^>]*>", html):
        assert re.search(r"margin:0 0 \d+px \d+px", tag) and "padding:0" in tag, tag
    assert '<meta name="format-detection" content="telephone=no, date=no, address=no, email=no">' in html
    assert "a[x-apple-data-detectors]" in html


@pytest.mark.parametrize("stories", [20])
def test_a_big_issue_stays_well_under_gmails_clip(engine, settings, project, stories: int) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from digest.articles.store import import_articles
    from digest.issues.drafting import new_issue

    text = "".join(
        f"Story number {n} about safeguarding children in schools and clubs\n\n"
        f"Source: Agency {n % 4} published on this website Friday 4 April 2025 by Someone\n\n"
        + ("A sentence of news about safeguarding that goes on for a while. " * 12 + "\n\n")
        * 4
        for n in range(stories)
    )
    (project / "big.txt").write_text(text, encoding="utf-8")
    import_articles(engine, settings, [str(project / "big.txt")])
    new_issue(engine, settings, issue_date=date(2025, 4, 10))
    size = len(render(engine, settings).html.encode("utf-8"))
    print(f"\nHTML of a {stories}-story issue: {size / 1024:.1f} KB")
    assert size < 90 * 1024
