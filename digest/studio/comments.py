"""Moving ruamel.yaml's comment tokens with the values they belong to.

ruamel.yaml keeps a comment in a slot of the node *before* it (the end of the
previous key or list item), so when a story or section moves, its comments
must be cut from where they were and put where it lands. These functions do
that surgery and nothing else; :mod:`digest.studio.document` decides what moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString
from ruamel.yaml.tokens import CommentToken

DEFAULT_GAP = 3  # spaces between a value and its comment, as `digest issue new` writes them

# A slot is where ruamel keeps the comment that follows a value: position 2 of a mapping
# key's entry, position 0 of a sequence item's.


def _end_slot(container: Any, key: Any) -> tuple[Any, Any]:
    """The (container, key) whose comment slot holds what follows ``container[key]``, however deep.

    A flow collection (``topics: [a, b]``) is not entered: a comment inside
    its brackets would break it; it goes after the closing bracket.
    """
    value = container[key]
    if isinstance(value, CommentedMap | CommentedSeq) and len(value) and not value.fa.flow_style():
        return _end_slot(value, list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1)
    return container, key


def _position(container: Any) -> int:
    return 0 if isinstance(container, CommentedSeq) else 2


def _get_token(container: Any, key: Any) -> CommentToken | None:
    entry = container.ca.items.get(key)
    return entry[_position(container)] if entry else None


def _set_token(container: Any, key: Any, token: CommentToken | None) -> None:
    position = _position(container)
    entry = container.ca.items.get(key)
    if entry is None:
        if token is None:
            return
        entry = container.ca.items[key] = [None, None, None, None] if position else [None, None]
    entry[position] = token
    if not any(entry):
        del container.ca.items[key]


def _split(value: str) -> tuple[str, str]:
    """A token's text as (the comment on the value's own line or "", the lines after it)."""
    first, newline, rest = value.partition("\n")
    if not newline:
        return first, ""
    return first, rest


def _tokens_text(tokens: list[Any]) -> str:
    """Comment tokens kept as separate lines, back into text with their indentation."""
    text = ""
    for token in tokens:
        if token is None:
            continue
        column = getattr(token, "column", 0) or 0
        value = token.value
        text += (" " * column + value) if value.strip() else value
    return text


def cut_before(seq: CommentedSeq, index: int) -> str:
    """Remove and return the comments ruamel keeps in front of item ``index`` (after a flow value)."""
    entry = seq.ca.items.get(index)
    if not entry or len(entry) < 2 or not entry[1]:
        return ""
    text = _tokens_text(entry[1])
    entry[1] = None
    return text


def cut_end(seq: CommentedSeq) -> str:
    """Remove and return the comments ruamel keeps after a sequence's last item."""
    text = _tokens_text(seq.ca.end or [])
    seq.ca.end = []
    return text


def _is_block(container: Any, key: Any) -> bool:
    """Whether the value is a ``|`` or ``>`` block, after which a comment is a whole line of its own."""
    return isinstance(container[key], LiteralScalarString | FoldedScalarString)


def cut_tail(container: Any, key: Any) -> str:
    """Remove and return the full-line comments after ``container[key]``."""
    slot = _end_slot(container, key)
    token = _get_token(*slot)
    if token is None:
        return ""
    if _is_block(*slot):
        _set_token(*slot, None)
        return " " * (getattr(token, "column", 0) or 0) + token.value
    own, tail = _split(token.value)
    if not tail:
        return ""
    if own:
        token.value = own + "\n"
    else:
        _set_token(*slot, None)
    return tail


def add_tail(container: Any, key: Any, tail: str) -> None:
    """Put full-line comments after ``container[key]``."""
    if not tail:
        return
    slot = _end_slot(container, key)
    token = _get_token(*slot)
    if _is_block(*slot):
        # An indented line straight after a block would be read as part of its text.
        flush = "".join(line.lstrip(" ") + "\n" for line in tail.splitlines())
        if token is None:
            _set_token(*slot, CommentToken(flush, CommentMark(0)))
        else:
            token.value += flush
    elif token is None:
        _set_token(*slot, CommentToken("\n" + tail, CommentMark(0)))
    else:
        own, rest = _split(token.value)
        token.value = (own + "\n" if own else "\n") + rest + tail


def add_head(seq: CommentedSeq, lines: str, parent: CommentedMap, key: str) -> None:
    """Put full-line comments before the first item of ``parent[key]``, after any that are there already."""
    if not lines:
        return
    tokens = []
    for line in lines.splitlines():
        text = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        tokens.append(CommentToken(f"{text}\n", CommentMark(indent if text else 0)))
    # ruamel keeps these in the sequence and, when the key has an entry, in that entry too
    # (and then writes that one): keep both pointing at one list.
    entry = parent.ca.items.get(key)
    head = seq.ca.comment[1] if seq.ca.comment and isinstance(seq.ca.comment[1], list) else None
    if head is None and entry is not None and isinstance(entry[3], list):
        head = entry[3]
    head = head if head is not None else []
    head.extend(tokens)
    seq.ca.comment = [seq.ca.comment[0] if seq.ca.comment else None, head]
    if entry is not None:
        entry[3] = head


@dataclass
class OwnComment:
    """A comment on a story's id line, and how many spaces stood before it."""

    text: str
    gap: int


def own_comment(container: Any, key: Any, lines: list[str]) -> OwnComment | None:
    token = _get_token(container, key)
    if token is None:
        return None
    own, rest = _split(token.value)
    if rest:
        raise AssertionError("tails are cut before comments are taken")  # pragma: no cover
    _set_token(container, key, None)
    if not own:
        return None
    gap = DEFAULT_GAP
    mark = getattr(token, "start_mark", None)
    if mark is not None and 0 <= mark.line < len(lines):
        line = lines[mark.line]
        gap = max(1, mark.column - len(line[: mark.column].rstrip()))
    return OwnComment(own.strip(), gap)


def put_own(container: Any, key: Any, own: OwnComment | None, column: int) -> None:
    if own is not None:
        _set_token(container, key, CommentToken(own.text + "\n", CommentMark(column + own.gap)))
