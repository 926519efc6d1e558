"""The SAFE newsfeed text reader: on the suite's own export, messy copies of it, and the real one (corpus)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from digest.articles.sources import newsfeed_blocks, parse_newsfeed, read_source
from digest.errors import InputError
from tests.conftest import REAL_SAMPLE, SAMPLE, need_corpus


@pytest.fixture(scope="module")
def sample():  # type: ignore[no-untyped-def]
    return read_source(str(SAMPLE))


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def test_sample_has_five_articles_with_sources_dates_and_who_posted_them(sample) -> None:  # type: ignore[no-untyped-def]
    # "by <name>" in the export is the member of staff who posted the item, not its author.
    assert all(a.author == "" for a in sample.articles)
    found = [(a.source, a.published, a.posted_by) for a in sample.articles]
    assert found == [
        ("Department for Children and Families", date(2025, 4, 9), "Rowan Ellis"),
        ("Riverside Police", date(2025, 4, 8), "Rowan Ellis"),
        ("Care Standards Inspectorate", date(2025, 4, 4), "Rowan Ellis"),
        ("Regional Prosecution Service (RPS)", date(2025, 4, 7), "Rowan Ellis"),
        ("National Online Harms Unit", date(2025, 4, 3), ""),
    ]
    assert sample.articles[0].title == "Protecting children from sexual abuse and exploitation: progress report"
    assert sample.articles[0].line == 8


def test_wrong_weekday_keeps_the_date_and_warns(sample) -> None:  # type: ignore[no-untyped-def]
    unit = sample.articles[-1]
    assert unit.published == date(2025, 4, 3)
    line = line_of(SAMPLE, "Source: National Online Harms Unit")
    message = f"{SAMPLE}, line {line}: says Wednesday 3 April 2025, which was a Thursday; keeping the date"
    assert sample.warnings == [message]
    # Kept with the article too, so `digest check` can say it again later.
    assert unit.warnings == [message]
    assert all(a.warnings == [] for a in sample.articles[:-1])


def test_sub_headings_and_bullets_survive(sample) -> None:  # type: ignore[no-untyped-def]
    department = sample.articles[0].body
    headings = [b["text"] for b in department if b["type"] == "h"]
    assert headings == ["New measures", "The independent review", "Progress so far", "Next steps"]
    lists = [b for b in department if b["type"] == "ul"]
    assert [len(b["items"]) for b in lists] == [5, 3, 2]
    assert lists[0]["items"][0] == [
        {"text": "a single framework for how police forces record and review child exploitation cases"}
    ]
    # A line indented with a non-breaking space is still a paragraph (the lead-in to the list).
    assert {"type": "p", "runs": [{"text": "The measures we are bringing in this year are:"}]} in department


def test_bullets_separated_by_blank_lines_form_one_list(sample) -> None:  # type: ignore[no-untyped-def]
    police = sample.articles[1].body
    lists = [b for b in police if b["type"] in ("ul", "ol")]
    assert [(b["type"], len(b["items"])) for b in lists] == [("ul", 3), ("ol", 5)]
    assert lists[1]["items"][0][0]["text"] == "Fight the urge to swim hard or thrash around."


def test_a_bullet_ending_in_a_colon_before_a_list_is_its_lead_in(sample) -> None:  # type: ignore[no-untyped-def]
    police = sample.articles[1].body
    lead_in = "If you end up in cold water, follow the ‘float first’ steps:"
    where = police.index({"type": "p", "runs": [{"text": lead_in}]})
    assert police[where + 1]["type"] == "ol"  # the steps, numbered


def test_steps_are_numbered_and_other_lists_keep_their_bullets() -> None:
    def kinds(text: str) -> list[str]:
        return [b["type"] for b in newsfeed_blocks(text.split("\n")) if b["type"] in ("ul", "ol")]

    # The lead-in announces steps.
    assert kinds("Follow these steps:\n\n- Stop.\n- Look.\n- Listen.") == ["ol"]
    # An item carries on from the one before.
    assert kinds("What to do:\n\n- Stay calm.\n- Then call for help.") == ["ol"]
    # Measures, advice and findings are not steps.
    assert kinds("The measures are:\n\n- a framework\n- new offences") == ["ul"]
    assert kinds("Our advice is simple:\n\n- Swim where there are lifeguards.\n- Never swim alone.") == ["ul"]
    # A lone bullet ending in a colon, with no list after it, stays an item.
    assert newsfeed_blocks(["- Remember this:", "", "Next paragraph."])[0]["type"] == "ul"


def test_lead_in_lines_ending_in_colon_are_paragraphs_not_headings(sample) -> None:  # type: ignore[no-untyped-def]
    prosecutors = sample.articles[3].body
    assert {"type": "p", "runs": [{"text": "Sam Carter of the Regional Prosecution Service said:"}]} in prosecutors
    assert not [b for b in prosecutors if b["type"] == "h"]


def test_non_breaking_spaces_become_plain_spaces(sample) -> None:  # type: ignore[no-untyped-def]
    texts = [run["text"] for a in sample.articles for b in a.body if b["type"] == "p" for run in b["runs"]]
    assert not [t for t in texts if "\u00a0" in t]
    assert any("the force’s Marine Policing Unit" in t for t in texts)


# --- the corpus tier: the real SAFE export beside the checkout ---------------------------


@pytest.fixture(scope="module")
def real_sample():  # type: ignore[no-untyped-def]
    return read_source(str(need_corpus(REAL_SAMPLE, "the real SAFE newsfeed export")))


@pytest.mark.corpus
def test_the_real_export_reads_as_five_dated_articles(real_sample) -> None:  # type: ignore[no-untyped-def]
    assert [a.published for a in real_sample.articles] == [
        date(2025, 4, 9),
        date(2025, 4, 8),
        date(2025, 4, 4),
        date(2025, 4, 7),
        date(2025, 4, 3),
    ]
    assert all(a.source and a.posted_by and not a.author for a in real_sample.articles)
    assert len(real_sample.warnings) == 1 and "which was a Thursday; keeping the date" in real_sample.warnings[0]


@pytest.mark.corpus
def test_the_real_export_keeps_its_structure(real_sample) -> None:  # type: ignore[no-untyped-def]
    first, second, _third, fourth, _fifth = (a.body for a in real_sample.articles)
    assert len([b for b in first if b["type"] == "h"]) == 4
    assert [len(b["items"]) for b in first if b["type"] == "ul"] == [5, 3, 2]
    assert [(b["type"], len(b["items"])) for b in second if b["type"] in ("ul", "ol")] == [("ul", 3), ("ol", 5)]
    assert not [b for b in fourth if b["type"] == "h"]
    assert [b for b in fourth if b["type"] == "p" and b["runs"][0]["text"].endswith("said:")]


MESSY = (
    "SAFE\r\nCIC\r\n\r\n"
    "First\u00a0story title\r\n\r\n"
    "Source: Ofsted published on this site on Friday 4 April 2025\r\n\r\n"
    "A first\u00a0paragraph.\r\n\r\n"
    "* one\r\n+ two\r\n\r\n"
    "Second story\r\n"
    "Source:  Home Office published on this website Thursday, 3rd April 2025 by  A. Writer \r\n"
    "Body text that was hard\r\nwrapped mid-sentence.\r\n"
)


def test_crlf_nbsp_extra_on_missing_author_and_ordinals() -> None:
    text = MESSY.replace("\r\n", "\n")
    result = parse_newsfeed(text, origin="messy.txt")
    first, second = result.articles
    assert first.title == "First story title"
    assert first.posted_by == ""
    assert first.body == [
        {"type": "p", "runs": [{"text": "A first paragraph."}]},
        {"type": "ul", "items": [[{"text": "one"}], [{"text": "two"}]]},
    ]
    assert second.published == date(2025, 4, 3)
    assert second.posted_by == "A. Writer"
    assert second.body == [{"type": "p", "runs": [{"text": "Body text that was hard wrapped mid-sentence."}]}]
    assert result.warnings == []


def test_crlf_file_read_from_disk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "messy.txt"
    path.write_bytes(b"\xef\xbb\xbf" + MESSY.encode("utf-8"))
    result = read_source(str(path))
    assert [a.title for a in result.articles] == ["First story title", "Second story"]


def test_windows_1252_file_is_read_with_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cp1252.txt"
    text = "Title\n\nSource: Ofsted published on this site Friday 4 April 2025\n\nIt’s here – now.\n"
    path.write_bytes(text.encode("cp1252"))
    result = read_source(str(path))
    assert result.articles[0].body[0]["runs"][0]["text"] == "It’s here – now."
    assert result.warnings == [f"{path}: not UTF-8; read as Windows-1252"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("Title\n\nSource: Ofsted said so on 4 April 2025\n", 3, "a 'Source:' line must read"),
        ("Title\n\nSource: Ofsted published on this site Friday 4 Apricot 2025\n", 3, "unknown month 'Apricot'"),
        ("Title\n\nSource: Ofsted published on this site Friday 31 April 2025\n", 3, "impossible date"),
        ("Source: Ofsted published on this site Friday 4 April 2025\nbody\n", 1, "must follow the article's title"),
        ("Just a preamble\nwith no articles\n", None, "no articles found"),
        (
            "T\n\nSource: Ofsted published on this site Friday 4 April 2025\n"
            "Source: Ofsted published on this site Friday 4 April 2025\n",
            4,
            "two 'Source:' lines",
        ),
    ],
)
def test_bad_files_name_the_line_and_reason(text: str, line: int | None, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_newsfeed(text, origin="bad.txt")
    assert caught.value.path == "bad.txt"
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_short_line_followed_by_text_is_a_paragraph_not_a_heading() -> None:
    blocks = newsfeed_blocks(["Short line", "continues here.", "", "Heading", "", "Text."])
    assert blocks[0] == {"type": "p", "runs": [{"text": "Short line continues here."}]}
    assert blocks[1] == {"type": "h", "text": "Heading"}


def test_a_last_short_line_is_not_a_heading() -> None:
    assert newsfeed_blocks(["Text.", "", "Ends here"]) == [
        {"type": "p", "runs": [{"text": "Text."}]},
        {"type": "p", "runs": [{"text": "Ends here"}]},
    ]


def test_markup_in_text_stays_text() -> None:
    result = parse_newsfeed(
        "<b>Title</b>\n\nSource: Ofsted published on this site Friday 4 April 2025\n\n<script>alert(1)</script>\n",
        origin="x.txt",
    )
    assert result.articles[0].title == "<b>Title</b>"
    assert result.articles[0].body[0]["runs"][0]["text"] == "<script>alert(1)</script>"
