"""Summaries: whole sentences near a word count, the first sentence always kept."""

from __future__ import annotations

from digest.content import paragraph
from digest.summary import split_sentences, summarise


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
