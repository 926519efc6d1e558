"""Summaries: the lead paragraph(s) cut at a sentence boundary near a word count."""

from __future__ import annotations

import re
from collections.abc import Sequence

from digest.content import Block, block_text

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "st",
    "sr",
    "jr",
    "rev",
    "hon",
    "sgt",
    "insp",
    "supt",
    "det",
    "cllr",
    "gov",
    "no",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "approx",
    "dept",
    "inc",
    "ltd",
    "co",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
}
_BOUNDARY_RE = re.compile(r"(?<=[.!?…])[\"”’')\]]*\s+(?=[\"“‘'(\[]?[A-Z0-9£$])")

# Stop once a summary reaches this many times the target rather than add a
# sentence that would overshoot it badly.
OVERSHOOT = 1.5
# A paragraph that ends after this share of the target ends the summary.
PARAGRAPH_STOP = 0.6


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``; abbreviations such as "Mr." and "e.g." do not split."""
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(text):
        candidate = text[start : match.start()].rstrip()
        last_word = candidate.rsplit(" ", 1)[-1].rstrip(".").lower().lstrip("(\"“‘'")
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def summarise(blocks: Sequence[Block], target_words: int) -> str:
    """The lead paragraphs, whole sentences only, ending near ``target_words`` words.

    The first sentence is always kept whole, however long; later sentences are
    added while the total stays under the target, and the sentence that crosses
    it is kept only if the result is no more than 1.5× the target.
    """
    chosen: list[str] = []
    words = 0
    for block in blocks:
        if block["type"] != "p":
            if chosen:
                break  # the lead ends at the first heading or list
            continue
        if chosen and words >= target_words * PARAGRAPH_STOP:
            break  # a paragraph end near the target reads better than a mid-paragraph cut
        if chosen and chosen[-1][-1].isalnum():
            chosen[-1] += "."  # a lead line without a full stop, joined to the next one
        for sentence in split_sentences(block_text(block)):
            count = len(sentence.split())
            if chosen and words + count > target_words * OVERSHOOT:
                return _finish(chosen)
            chosen.append(sentence)
            words += count
            if words >= target_words:
                return _finish(chosen)
    return _finish(chosen)


def _finish(chosen: list[str]) -> str:
    # A lead-in such as "Our advice is:" promises a list the summary does not show.
    if len(chosen) > 1 and chosen[-1].endswith(":"):
        chosen = chosen[:-1]
    return " ".join(chosen)
