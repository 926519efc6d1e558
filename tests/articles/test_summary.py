"""Summaries: whole sentences near a word count, the first sentence always kept."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.articles.content import paragraph
from digest.articles.summary import split_sentences, summarise
from tests.conftest import examples


def test_sentences_split_but_not_after_abbreviations_or_initials() -> None:
    text = "Mr. Smith met Dr. Jones at 10 a.m. today. J. R. Hartley spoke. “Then,” she said, “we left.” Done!"
    assert split_sentences(text) == [
        "Mr. Smith met Dr. Jones at 10 a.m. today.",
        "J. R. Hartley spoke.",
        "“Then,” she said, “we left.”",
        "Done!",
    ]


def test_first_sentence_is_kept_whole_however_long() -> None:
    long_sentence = " ".join(["word"] * 120) + "."
    assert summarise([paragraph(long_sentence + " Second sentence.")], 30) == long_sentence


def test_stops_at_a_sentence_boundary_near_the_target() -> None:
    sentences = [f"Sentence {n} has exactly six words." for n in range(10)]
    summary = summarise([paragraph(" ".join(sentences))], 20)
    assert summary == " ".join(sentences[:4])  # 24 words: the sentence that crosses 20 is kept
    assert summary.endswith(".")


def test_overshooting_sentence_is_dropped() -> None:
    text = "Short one here. " + " ".join(["Long"] * 40) + "."
    assert summarise([paragraph(text)], 20) == "Short one here."


def test_the_lead_ends_at_a_heading_or_list_and_a_dangling_colon_goes() -> None:
    blocks = [
        paragraph("Our advice is simple. Here it is:"),
        {"type": "ul", "items": [[{"text": "one"}]]},
        paragraph("Later text."),
    ]
    assert summarise(blocks, 60) == "Our advice is simple."


def test_short_paragraphs_are_joined_and_a_missing_full_stop_added() -> None:
    blocks = [paragraph("A speech was given yesterday"), paragraph("It said things.")]
    assert summarise(blocks, 60) == "A speech was given yesterday. It said things."


def test_never_cuts_mid_word() -> None:
    text = "Alpha beta gamma. Delta epsilon zeta eta theta. Iota kappa lambda mu nu xi omicron pi rho."
    summary = summarise([paragraph(text)], 6)
    assert summary in text and text[len(summary) : len(summary) + 1] in ("", " ")


def test_ceremony_that_opens_a_statement_is_left_out() -> None:
    blocks = [
        paragraph("The minister spoke to Parliament yesterday"),
        paragraph("“With permission, Mr Speaker, I will make a statement on the review."),
        paragraph("“Abuse does lifelong harm. We will act on every recommendation."),
    ]
    summary = summarise(blocks, 30)
    assert "permission" not in summary
    assert summary == (
        "The minister spoke to Parliament yesterday. “Abuse does lifelong harm. We will act on every recommendation.”"
    )
    # Ceremony alone is still better than nothing.
    only = [paragraph("Thank you, Chair, for the invitation to speak today.")]
    assert summarise(only, 30) == ""  # nothing reads as news; the editor writes one (check warns)


def test_a_quotation_running_on_past_its_paragraph_is_closed_where_the_summary_ends() -> None:
    # British style opens each paragraph of a long quotation and closes only the last.
    blocks = [
        paragraph("She said: “The first part of what I said."),
        paragraph("“The second part of it. And more of it."),
        paragraph("“The end of it.”"),
    ]
    summary = summarise(blocks, 20)
    assert summary == "She said: “The first part of what I said. The second part of it. And more of it.”"


def test_a_summary_never_ends_inside_a_quotation_mid_paragraph() -> None:
    text = "Police made arrests. “We will find them. Nobody is hidden. We act fast,” he said. Later news."
    summary = summarise([paragraph(text)], 8)
    assert summary == "Police made arrests."  # not "… “We will find them." with the quote left open


QUOTED = st.sampled_from(
    [
        "Plain news sentence here.",
        "“A whole quotation.”",
        "He said: “Opened and not closed.",
        "“Closed only here,” she said.",
        'A "straight quote" sentence.',
        'An opened "straight one.',
        "Words.",
    ]
)


@given(st.lists(st.lists(QUOTED, min_size=1, max_size=6), min_size=1, max_size=5), st.integers(5, 80))
@settings(max_examples=examples(300))
def test_summaries_always_have_balanced_quotation_marks(paragraphs, target) -> None:  # type: ignore[no-untyped-def]
    blocks = [paragraph(" ".join(sentences)) for sentences in paragraphs]
    summary = summarise(blocks, target)
    assert summary.count("“") == summary.count("”"), summary
    assert summary.count('"') % 2 == 0, summary
    assert summary  # some news is always found here
