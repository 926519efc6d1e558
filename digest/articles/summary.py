"""Summaries: the lead paragraph(s) cut at a sentence boundary near a word count."""

from __future__ import annotations

import re
from collections.abc import Sequence

from digest.articles.content import Block, block_text

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


# Ceremony rather than news: the opening words of a statement to Parliament or a
# speech ("With permission, Mr Speaker, I will make a statement…"). A summary
# leaves such a sentence out when it opens a paragraph.
_OPENER_RE = re.compile(
    r"^(?:"
    r"with (?:your )?permission,? (?:mr|madam|madame|mister)\.? (?:deputy )?speaker\b"
    r"|(?:mr|madam)\.? (?:deputy )?speaker,"
    r"|(?:my lords|ladies and gentlemen|good (?:morning|afternoon|evening))\b"
    r"|thank you(?: very much)?(?:,| for| mr| madam| chair| everyone| all)"
    r"|it(?:'s|’s| is) (?:a |an )?(?:great |real )?(?:pleasure|privilege|honour) to"
    r"|i(?: am|'m|’m) (?:delighted|pleased|honoured|grateful) to (?:be|have been) (?:here|with|asked)"
    r"|check against delivery"
    r")",
    re.IGNORECASE,
)
_OPEN_QUOTE, _CLOSE_QUOTE, _STRAIGHT_QUOTE = "“", "”", '"'


def is_opener(sentence: str) -> bool:
    """A sentence of ceremony that opens a speech or statement, not news."""
    return bool(_OPENER_RE.match(sentence.lstrip(_OPEN_QUOTE + _STRAIGHT_QUOTE + "‘'( ")))


def open_quotes(text: str) -> int:
    """Quotation marks opened and not closed in ``text`` (curly and straight double quotes)."""
    curly = max(0, text.count(_OPEN_QUOTE) - text.count(_CLOSE_QUOTE))
    return curly + text.count(_STRAIGHT_QUOTE) % 2


def summarise(blocks: Sequence[Block], target_words: int) -> str:
    """The lead paragraphs, whole sentences only, ending near ``target_words`` words.

    The first sentence is always kept whole, however long; later sentences are
    added while the total stays under the target, and the sentence that crosses
    it is kept only if the result is no more than 1.5× the target. Ceremony
    that opens a speech ("With permission, Mr Speaker…") is left out, and a
    summary never ends inside a quotation: it ends before it, or, when the
    quotation runs on past the paragraph (as British style writes a quotation
    of several paragraphs), it closes the quotation where the summary ends.
    """
    paragraphs: list[list[str]] = []
    for block in blocks:
        if block["type"] != "p":
            if paragraphs:
                break  # the lead ends at the first heading or list
            continue
        sentences = split_sentences(block_text(block))
        news = sentences[1:] if sentences and is_opener(sentences[0]) else sentences
        if news:
            paragraphs.append(news)
    chosen: list[tuple[int, str]] = []  # (paragraph number, sentence)
    words = 0
    for number, sentences in enumerate(paragraphs):
        if chosen and words >= target_words * PARAGRAPH_STOP:
            break  # a paragraph end near the target reads better than a mid-paragraph cut
        stop = False
        for sentence in sentences:
            count = len(sentence.split())
            if chosen and words + count > target_words * OVERSHOOT:
                stop = True
                break
            chosen.append((number, sentence))
            words += count
            if words >= target_words:
                stop = True
                break
        if stop:
            break
    return _finish(chosen, paragraphs)


def _finish(chosen: list[tuple[int, str]], paragraphs: list[list[str]]) -> str:
    # A lead-in such as "Our advice is:" promises a list the summary does not show.
    if len(chosen) > 1 and chosen[-1][1].endswith(":"):
        chosen = chosen[:-1]
    # Never end inside a quotation in mid-paragraph: end before it when something is left.
    while len(chosen) > 1 and _inside_quote_mid_paragraph(chosen, paragraphs):
        chosen = chosen[:-1]
    text = ""
    previous: int | None = None
    for number, sentence in chosen:
        if previous is None:
            text = sentence
        elif number == previous:
            text += " " + sentence
        else:
            if text[-1].isalnum():
                text += "."  # a lead line without a full stop, joined to the next one
            # The same quotation carried on into a new paragraph: join it, do not reopen it.
            if text.count(_OPEN_QUOTE) > text.count(_CLOSE_QUOTE) and sentence.startswith(_OPEN_QUOTE):
                sentence = sentence[1:]
            elif text.count(_STRAIGHT_QUOTE) % 2 and sentence.startswith(_STRAIGHT_QUOTE):
                sentence = sentence[1:]
            text += " " + sentence
        previous = number
    return _close_quotes(text)


def _inside_quote_mid_paragraph(chosen: list[tuple[int, str]], paragraphs: list[list[str]]) -> bool:
    number = chosen[-1][0]
    taken = [sentence for n, sentence in chosen if n == number]
    if len(taken) == len(paragraphs[number]):
        return False  # the paragraph is whole: a quotation left open runs on into the next one
    return open_quotes(" ".join(taken)) > 0


def _close_quotes(text: str) -> str:
    if text.count(_STRAIGHT_QUOTE) % 2:
        text += _STRAIGHT_QUOTE
    return text + _CLOSE_QUOTE * max(0, text.count(_OPEN_QUOTE) - text.count(_CLOSE_QUOTE))
