"""Writing the studio's draft back into issue.yaml without losing what the editor wrote.

The file is read and written with ruamel.yaml's round trip, so what the draft
does not change stays byte for byte: the header comments, the window, quoting,
the layout. What the draft does change is written in place:

* a story keeps its end-of-line comment wherever it moves (the lead included);
* full-line comments belong to what follows them: a comment above a story or
  a section moves with it; one at the end of the file stays at the end;
* a story without overrides is written as its bare id, one with overrides as a
  mapping; a ``full:`` or ``pin:`` the editor wrote stays written;
* a story added in the studio gets the same "date source: title" comment as a
  drafted one.

ruamel keeps a comment on the node *before* it (a comment above item 3 is
stored after item 2), so the comments are first cut off the nodes they trail
and then put back after whatever precedes their owner in the new order.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    ScalarString,
    SingleQuotedScalarString,
)
from ruamel.yaml.tokens import CommentToken

from digest.errors import InputError
from digest.studio.draft import Draft, StoryDraft

_STORY_ORDER = ("summary", "note", "full", "pin", "topics", "url")
_ISSUE_ORDER = ("date", "window", "grouping", "subject", "preheader", "introduction", "editor_note", "lead", "sections")
DEFAULT_GAP = 3  # spaces between a value and its comment, as `digest issue new` writes them


@dataclass(frozen=True)
class Layout:
    """How far the file indents nested mappings, sequence items and their dashes."""

    mapping: int = 2
    sequence: int = 4
    offset: int = 2


_KEY_LINE = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")
_NEXT_LINE = re.compile(r"^( *)(- +)?")


def guess_layout(text: str) -> Layout:
    """The file's own indentation, so writing it back does not re-indent it."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping = sequence = offset = None
    for before, line in itertools.pairwise(lines):
        key = _KEY_LINE.match(before)
        if key is None:
            continue
        base = len(key.group(1))
        found = _NEXT_LINE.match(line)
        assert found is not None
        indent = len(found.group(1)) - base
        if indent < 0:
            continue
        if found.group(2) and sequence is None:
            offset, sequence = indent, indent + len(found.group(2))
        elif not found.group(2) and mapping is None and indent > 0:
            mapping = indent
        if mapping is not None and sequence is not None:
            break
    default = Layout()
    return Layout(
        mapping or default.mapping, sequence or default.sequence, default.offset if offset is None else offset
    )


def _yaml(layout: Layout) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the editor's long lines
    yaml.indent(mapping=layout.mapping, sequence=layout.sequence, offset=layout.offset)
    return yaml


def load_document(text: str) -> tuple[Any, Layout]:
    layout = guess_layout(text)
    try:
        return _yaml(layout).load(text), layout
    except YAMLError as exc:
        raise InputError(f"issue.yaml is not valid YAML ({str(exc).splitlines()[0]})") from None


def dump_document(doc: Any, layout: Layout) -> str:
    out = io.StringIO()
    _yaml(layout).dump(doc, out)
    return out.getvalue()


# --- comment slots ------------------------------------------------------------------------
# A slot is where ruamel keeps the comment that follows a value: position 2 of a mapping
# key's entry, position 0 of a sequence item's.


def _end_slot(container: Any, key: Any) -> tuple[Any, Any]:
    """The (container, key) whose comment slot holds what follows ``container[key]``, however deep."""
    value = container[key]
    if isinstance(value, CommentedMap) and len(value):
        return _end_slot(value, list(value)[-1])
    if isinstance(value, CommentedSeq) and len(value):
        return _end_slot(value, len(value) - 1)
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


def _cut_tail(container: Any, key: Any) -> str:
    """Remove and return the full-line comments after ``container[key]``."""
    slot = _end_slot(container, key)
    token = _get_token(*slot)
    if token is None:
        return ""
    own, tail = _split(token.value)
    if not tail:
        return ""
    if own:
        token.value = own + "\n"
    else:
        _set_token(*slot, None)
    return tail


def _add_tail(container: Any, key: Any, tail: str) -> None:
    """Put full-line comments after ``container[key]``."""
    if not tail:
        return
    slot = _end_slot(container, key)
    token = _get_token(*slot)
    if token is None:
        _set_token(*slot, CommentToken("\n" + tail, CommentMark(0)))
    else:
        own, rest = _split(token.value)
        token.value = (own + "\n" if own else "\n") + rest + tail


@dataclass
class _Own:
    """A comment on a story's id line, and how many spaces stood before it."""

    text: str
    gap: int


def _own_comment(container: Any, key: Any, lines: list[str]) -> _Own | None:
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
    return _Own(own.strip(), gap)


def _put_own(container: Any, key: Any, own: _Own | None, column: int) -> None:
    if own is not None:
        _set_token(container, key, CommentToken(own.text + "\n", CommentMark(column + own.gap)))


# --- values ---------------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _styled(old: Any, text: str) -> Any:
    """``text`` in the style the old value was written in (block, quoted or plain)."""
    if isinstance(old, LiteralScalarString | FoldedScalarString) or "\n" in text:
        return LiteralScalarString(text.strip("\n") + "\n")
    if isinstance(old, SingleQuotedScalarString | DoubleQuotedScalarString) and isinstance(old, ScalarString):
        return type(old)(text)
    return text


def _insert_key(mapping: CommentedMap, key: str, value: Any, order: tuple[str, ...]) -> None:
    """Add a key after the last of the keys that come before it in ``order``."""
    earlier = set(order[: order.index(key)])
    position = 0
    for index, existing in enumerate(mapping):
        if existing in earlier:
            position = index + 1
    mapping.insert(position, key, value)


def _set_text(mapping: CommentedMap, key: str, text: str, order: tuple[str, ...], *, keep_empty: bool) -> None:
    if key in mapping:
        if _text_of(mapping[key]) == text.strip():
            return  # unchanged: keep the quoting and layout the editor chose
        if not text.strip() and not keep_empty:
            del mapping[key]
            return
        mapping[key] = _styled(mapping[key], text)
    elif text.strip():
        _insert_key(mapping, key, _styled(None, text), order)


def _flow_list(items: tuple[str, ...]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


# --- stories ----------------------------------------------------------------------------------


@dataclass
class _Piece:
    """A story's node as it was in the file, with its comments cut loose."""

    node: Any
    own: _Own | None
    before: str


def _story_id(node: Any) -> str:
    return str(node["id"] if isinstance(node, CommentedMap) else node).strip()


def _story_node(piece: _Piece | None, story: StoryDraft, *, is_lead: bool) -> tuple[Any, _Own | None]:
    """The node for ``story``: the old one updated, a bare id, or a mapping; and its id-line comment."""
    node = piece.node if piece else None
    own = piece.own if piece else None
    mapping = node if isinstance(node, CommentedMap) else None
    wanted: dict[str, Any] = {}
    if story.summary:
        wanted["summary"] = story.summary
    if story.note:
        wanted["note"] = story.note
    if story.full or (mapping is not None and "full" in mapping):
        wanted["full"] = story.full
    if story.pin != is_lead or (mapping is not None and "pin" in mapping):
        wanted["pin"] = story.pin
    if story.topics is not None:
        wanted["topics"] = story.topics
    if story.url:
        wanted["url"] = story.url
    if not wanted:
        return story.id, own
    if mapping is None:
        mapping = CommentedMap()
        mapping["id"] = story.id
    for key in _STORY_ORDER:
        if key not in wanted:
            if key in mapping:
                del mapping[key]
        elif key in ("summary", "note", "url"):
            _set_text(mapping, key, wanted[key], ("id", *_STORY_ORDER), keep_empty=False)
        elif key == "topics":
            if key not in mapping or tuple(mapping[key] or ()) != wanted[key]:
                if key in mapping:
                    mapping[key] = _flow_list(wanted[key])
                else:
                    _insert_key(mapping, key, _flow_list(wanted[key]), ("id", *_STORY_ORDER))
        elif key in mapping:
            mapping[key] = wanted[key]
        else:
            _insert_key(mapping, key, wanted[key], ("id", *_STORY_ORDER))
    return mapping, own


def _place_story(container: Any, key: Any, node: Any, own: _Own | None, column: int) -> None:
    """Attach a story's id-line comment where ruamel looks for it for this kind of node."""
    if isinstance(node, CommentedMap):
        _put_own(node, "id", own, column + len("id: ") + len(_story_id(node)))
    else:
        _put_own(container, key, own, column + len(str(node)))


# --- the whole document ------------------------------------------------------------------------


@dataclass
class _Cut:
    stories: dict[str, _Piece]
    sections: dict[str, tuple[CommentedMap, str]]
    lead_tail: str
    end_tail: str


def _cut(doc: CommentedMap, lines: list[str]) -> _Cut:
    """Take the lead's and every story's and section's comments off the nodes that carry them."""
    stories: dict[str, _Piece] = {}
    sections: dict[str, tuple[CommentedMap, str]] = {}
    lead_tail = ""
    if doc.get("lead") not in (None, ""):
        lead_tail = _cut_tail(doc, "lead")
        node = doc["lead"]
        own = _own_comment(node, "id", lines) if isinstance(node, CommentedMap) else _own_comment(doc, "lead", lines)
        stories[_story_id(node)] = _Piece(node, own, "")
    pending = ""
    raw_sections = doc.get("sections")
    for index, section in enumerate(raw_sections if isinstance(raw_sections, CommentedSeq) else []):
        sections[f"s{index}"] = (section, pending)
        pending = ""
        items = section.get("stories")
        if isinstance(items, CommentedSeq) and len(items):
            for position, node in enumerate(items):
                before, pending = pending, _cut_tail(items, position)
                if isinstance(node, CommentedMap):
                    own = _own_comment(node, "id", lines)
                else:
                    own = _own_comment(items, position, lines)
                stories[_story_id(node)] = _Piece(node, own, before)
        elif len(section):
            pending = _cut_tail(section, list(section)[-1])
    return _Cut(stories, sections, lead_tail, pending)


def apply_draft(text: str, draft: Draft, new_comments: Mapping[str, str] | None = None) -> str:
    """The text of issue.yaml with ``draft`` written into it; everything else kept.

    ``new_comments`` gives the comment to write beside stories that were not in
    the file before (by article id).
    """
    doc, layout = load_document(text)
    if not isinstance(doc, CommentedMap):
        raise InputError("issue.yaml must be a mapping of settings (date:, subject:, sections: …)")
    lines = text.splitlines()
    cut = _cut(doc, lines)
    new_comments = new_comments or {}

    def piece(story: StoryDraft) -> _Piece | None:
        found = cut.stories.get(story.id)
        if found is None and story.id in new_comments:
            return _Piece(None, _Own(f"# {new_comments[story.id]}", DEFAULT_GAP), "")
        return found

    for key, value in (
        ("subject", draft.subject),
        ("preheader", draft.preheader),
        ("introduction", draft.introduction),
        ("editor_note", draft.editor_note),
    ):
        _set_text(doc, key, value, _ISSUE_ORDER, keep_empty=True)

    # The lead.
    if draft.lead is not None:
        lead_piece = piece(draft.lead)
        node, own = _story_node(lead_piece, draft.lead, is_lead=True)
        if "lead" in doc:
            doc["lead"] = node
        else:
            _insert_key(doc, "lead", node, _ISSUE_ORDER)
        _place_story(doc, "lead", node, own, layout.mapping if isinstance(node, CommentedMap) else len("lead: "))
        if lead_piece is not None and lead_piece.before:
            _add_tail(doc, "lead", lead_piece.before)
        _add_tail(doc, "lead", cut.lead_tail)
    elif "lead" in doc:
        keys = list(doc)
        index = keys.index("lead")
        del doc["lead"]
        if cut.lead_tail and index > 0:
            _add_tail(doc, keys[index - 1], cut.lead_tail)

    # The sections, rebuilt in the draft's order from the old nodes where there are any.
    if "sections" not in doc:
        _insert_key(doc, "sections", CommentedSeq(), _ISSUE_ORDER)
    sections = doc["sections"]
    if not isinstance(sections, CommentedSeq):
        sections = doc["sections"] = CommentedSeq()
    keys = list(doc)
    previous: tuple[Any, Any] | None = None
    if keys.index("sections"):
        previous = (doc, keys[keys.index("sections") - 1])
    del sections[:]
    sections.ca.items.clear()
    sections.fa.set_block_style()
    story_column = layout.sequence * 2
    for draft_section in draft.sections:
        old = cut.sections.get(draft_section.key)
        node, before = old if old else (CommentedMap(), "")
        if before and previous is not None:
            _add_tail(previous[0], previous[1], before)
        if "title" in node:
            _set_text(node, "title", draft_section.title, ("title", "stories"), keep_empty=True)
        else:
            node.insert(0, "title", draft_section.title)
        items = node.get("stories")
        if not isinstance(items, CommentedSeq):
            items = CommentedSeq()
            node["stories"] = items
        del items[:]
        items.ca.items.clear()
        sections.append(node)
        previous = (node, list(node)[list(node).index("stories") - 1]) if list(node).index("stories") else None
        for story in draft_section.stories:
            story_piece = piece(story)
            story_node, own = _story_node(story_piece, story, is_lead=False)
            if story_piece is not None and story_piece.before and previous is not None:
                _add_tail(previous[0], previous[1], story_piece.before)
            items.append(story_node)
            _place_story(items, len(items) - 1, story_node, own, story_column)
            previous = (items, len(items) - 1)
        if len(items):
            items.fa.set_block_style()
        else:
            items.fa.set_flow_style()
            previous = (node, "stories")
    if previous is not None:
        _add_tail(previous[0], previous[1], cut.end_tail)
    return dump_document(doc, layout)
