"""Article bodies as structured blocks, and the text helpers built on them.

A body is a list of blocks, stored as JSON:

* ``{"type": "p", "runs": [{"text": "…"}, {"text": "…", "href": "https://…"}]}``
* ``{"type": "h", "text": "…"}``  (a sub-heading)
* ``{"type": "ul", "items": [[run, …], …]}``  (a bulleted list)
* ``{"type": "ol", "items": [[run, …], …]}``  (a numbered list: steps to follow in order)

Text is always plain text; templates escape it. Links survive only as ``href``
values with an http(s) or mailto scheme.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from typing import Any

Run = dict[str, str]
Block = dict[str, Any]

LIST_TYPES = ("ul", "ol")
_SAFE_SCHEMES = ("https://", "http://", "mailto:")
_SPACE_RE = re.compile(r"\s+")


# C0 and C1 controls (but tab and line ends), surrogates and Unicode non-characters: no
# text means them, and a YAML issue file whose comment quoted one would not load.
_CONTROL_CHARS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NON_CHARACTERS_RE = re.compile(
    "[\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(chr(plane * 0x10000 + 0xFFFE) + chr(plane * 0x10000 + 0xFFFF) for plane in range(1, 17))
    + "]"
)


def strip_unwanted(value: Any) -> Any:
    """``value`` (text, or lists and dicts of it) without control characters and non-characters.

    Controls become spaces (``safety\x1b[31m`` must not glue words), non-characters vanish.
    """
    if isinstance(value, str):
        return _NON_CHARACTERS_RE.sub("", _CONTROL_CHARS_RE.sub(" ", value))
    if isinstance(value, list):
        return [strip_unwanted(item) for item in value]
    if isinstance(value, dict):
        return {key: strip_unwanted(item) for key, item in value.items()}
    return value


def clean_text(text: str) -> str:
    """Normalise whitespace: non-breaking and other odd spaces become plain spaces."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")
    text = text.replace("\u200b", "").replace("\ufeff", "").replace("\x00", "")
    return _SPACE_RE.sub(" ", text).strip()


def safe_href(href: str | None) -> str | None:
    """The link if it has a scheme we are willing to put in an email, else None."""
    if not href:
        return None
    href = href.strip()
    return href if href.lower().startswith(_SAFE_SCHEMES) else None


def runs_text(runs: Iterable[Run]) -> str:
    return clean_text("".join(run.get("text", "") for run in runs))


def block_text(block: Block) -> str:
    if block["type"] == "p":
        return runs_text(block["runs"])
    if block["type"] == "h":
        return str(block["text"])
    return "\n".join(runs_text(item) for item in block["items"])


def body_text(blocks: Sequence[Block]) -> str:
    """The whole body as plain text, blocks separated by blank lines."""
    return "\n\n".join(block_text(block) for block in blocks)


def paragraph(text: str) -> Block:
    return {"type": "p", "runs": [{"text": clean_text(text)}]}


def merge_runs(runs: list[Run]) -> list[Run]:
    """Join neighbouring plain runs and drop empty ones; trim the ends."""
    merged: list[Run] = []
    for run in runs:
        text = _SPACE_RE.sub(" ", run.get("text", ""))
        if not text:
            continue
        if merged and "href" not in run and "href" not in merged[-1]:
            merged[-1] = {"text": merged[-1]["text"] + text}
        else:
            merged.append({**run, "text": text})
    if merged:
        merged[0] = {**merged[0], "text": merged[0]["text"].lstrip()}
        merged[-1] = {**merged[-1], "text": merged[-1]["text"].rstrip()}
    return [run for run in merged if run["text"]]


_BLOCK_TAGS = {"p", "div", "blockquote", "section", "article", "figure", "table", "tr", "pre"}
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_SKIP_TAGS = {"script", "style", "head", "title", "noscript", "template", "iframe", "object"}


class _HtmlToBlocks(HTMLParser):
    """Turn (feed) HTML into blocks; anything that is not text or a link is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.runs: list[Run] = []
        self.items: list[list[Run]] | None = None
        self.list_type = "ul"
        self.in_item = False
        self.heading = False
        self.href: str | None = None
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag in _BLOCK_TAGS or tag in _HEADING_TAGS:
            self._flush()
            self.heading = tag in _HEADING_TAGS
        elif tag in LIST_TYPES:
            self._flush()
            self._close_list()
            self.items = []
            self.list_type = tag
        elif tag == "li":
            self._flush()
            if self.items is None:
                self.items = []
            self.in_item = True
        elif tag == "br":
            self.runs.append({"text": " "})
        elif tag == "a":
            self.href = safe_href(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS or tag in _HEADING_TAGS or tag == "li":
            self._flush()
        elif tag in LIST_TYPES:
            self._flush()
            self._close_list()
        elif tag == "a":
            self.href = None

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        run: Run = {"text": data.replace("\u00a0", " ")}
        if self.href:
            run["href"] = self.href
        self.runs.append(run)

    def _flush(self) -> None:
        runs = merge_runs(self.runs)
        self.runs = []
        if not runs:
            self.heading = False
            return
        if self.in_item and self.items is not None:
            self.items.append(runs)
            self.in_item = False
        elif self.heading:
            self.blocks.append({"type": "h", "text": runs_text(runs)})
        else:
            self.blocks.append({"type": "p", "runs": runs})
        self.heading = False

    def _close_list(self) -> None:
        if self.items:
            self.blocks.append({"type": self.list_type, "items": self.items})
        self.items = None
        self.list_type = "ul"
        self.in_item = False

    def result(self) -> list[Block]:
        self._flush()
        self._close_list()
        return self.blocks


def html_to_blocks(html: str) -> list[Block]:
    """Blocks from an HTML fragment: paragraphs, headings, lists and safe links only."""
    parser = _HtmlToBlocks()
    parser.feed(html)
    parser.close()
    return parser.result()


def markdown_to_blocks(text: str) -> list[Block]:
    """Blocks from Markdown. Raw HTML in the Markdown is kept as visible text."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False})
    tokens = md.parse(text)
    blocks: list[Block] = []
    items: list[list[Run]] | None = None
    list_type = "ul"
    depth = 0
    heading = False
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
            if items is None:
                items = []
                list_type = "ol" if token.type == "ordered_list_open" else "ul"
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            if depth == 0 and items is not None:
                if items:
                    blocks.append({"type": list_type, "items": items})
                items = None
        elif token.type == "heading_open":
            heading = True
        elif token.type == "heading_close":
            heading = False
        elif token.type in ("code_block", "fence"):
            blocks.append(paragraph(token.content))
        elif token.type == "inline":
            runs = merge_runs(_inline_runs(token.children or []))
            if not runs:
                continue
            if items is not None:
                items.append(runs)
            elif heading:
                blocks.append({"type": "h", "text": runs_text(runs)})
            else:
                blocks.append({"type": "p", "runs": runs})
    return blocks


def _inline_runs(children: Sequence[Any]) -> list[Run]:
    runs: list[Run] = []
    href: str | None = None
    for child in children:
        if child.type == "link_open":
            href = safe_href(child.attrs.get("href"))
        elif child.type == "link_close":
            href = None
        elif child.type in ("softbreak", "hardbreak"):
            runs.append({"text": " "})
        elif child.type in ("text", "code_inline", "html_inline"):
            run: Run = {"text": child.content}
            if href:
                run["href"] = href
            runs.append(run)
        elif child.type == "image":
            alt = child.content or ""
            if alt:
                runs.append({"text": alt})
    return runs
