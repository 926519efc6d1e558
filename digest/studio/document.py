"""Writing the studio's draft back into issue.yaml without losing what the editor wrote.

The file is read and written with ruamel.yaml's round trip, so what the draft
does not change stays byte for byte: the header comments, the window, quoting,
the layout. What the draft does change is written in place:

* a story keeps its end-of-line comment wherever it moves (the lead included);
* full-line comments belong to what follows them: a comment above a story or
  a section moves with it; one at the end of the file stays at the end;
* a story without overrides is written as its bare id, one with overrides as a
  mapping; a ``full:`` or ``pin:`` the editor wrote stays as written until it changes;
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

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    ScalarString,
    SingleQuotedScalarString,
)

from digest.errors import InputError
from digest.studio.comments import (
    DEFAULT_GAP,
    OwnComment,
    add_head,
    add_tail,
    cut_before,
    cut_end,
    cut_tail,
    own_comment,
    put_own,
)
from digest.studio.draft import Draft, StoryDraft

_STORY_ORDER = ("summary", "note", "full", "pin", "topics", "url")
_ISSUE_ORDER = ("date", "window", "grouping", "subject", "preheader", "introduction", "editor_note", "lead", "sections")


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


# --- values ---------------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    return "" if value is None else str(value).strip()


_RESOLVER = yaml.resolver.Resolver()


def _read_as_text(text: str) -> bool:
    """Whether PyYAML, which loads the file (YAML 1.1), reads ``text`` written plain as that text.

    ruamel writes YAML 1.2, where ``yes``, ``off`` or ``2026-11-23`` are plain
    strings; PyYAML would read them as a boolean or a date, so those are quoted.
    """
    return _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"


def _styled(old: Any, text: str) -> Any:
    """``text`` in the style the old value was written in (block, quoted or plain)."""
    if isinstance(old, LiteralScalarString | FoldedScalarString) or "\n" in text:
        return LiteralScalarString(text.strip("\n") + "\n")
    if isinstance(old, SingleQuotedScalarString | DoubleQuotedScalarString) and isinstance(old, ScalarString):
        return type(old)(text)
    if not _read_as_text(text):
        return SingleQuotedScalarString(text)
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
    own: OwnComment | None
    before: str


def _story_id(node: Any) -> str:
    return str(node["id"] if isinstance(node, CommentedMap) else node).strip()


def _story_node(piece: _Piece | None, story: StoryDraft, *, is_lead: bool) -> tuple[Any, OwnComment | None]:
    """The node for ``story``: the old one updated, a bare id, or a mapping; and its id-line comment."""
    node = piece.node if piece else None
    own = piece.own if piece else None
    mapping = node if isinstance(node, CommentedMap) else None
    wanted: dict[str, Any] = {}
    if story.summary:
        wanted["summary"] = story.summary
    if story.note:
        wanted["note"] = story.note
    # A flag is written when it differs from its default, or kept as written when it has not changed.
    for flag, value, default in (("full", story.full, False), ("pin", story.pin, is_lead)):
        if value != default or (mapping is not None and mapping.get(flag) is value):
            wanted[flag] = value
    if story.topics is not None:
        wanted["topics"] = story.topics
    if story.url:
        wanted["url"] = story.url
    plain_id = story.id if _read_as_text(story.id) else SingleQuotedScalarString(story.id)
    if not wanted:
        return (node if isinstance(node, str) and str(node) == story.id else plain_id), own
    if mapping is None:
        mapping = CommentedMap()
        mapping["id"] = plain_id
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


def _place_story(container: Any, key: Any, node: Any, own: OwnComment | None, column: int) -> None:
    """Attach a story's id-line comment where ruamel looks for it for this kind of node."""
    if isinstance(node, CommentedMap):
        put_own(node, "id", own, column + len("id: ") + len(_story_id(node)))
    else:
        put_own(container, key, own, column + len(str(node)))


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
        lead_tail = cut_tail(doc, "lead")
        node = doc["lead"]
        own = own_comment(node, "id", lines) if isinstance(node, CommentedMap) else own_comment(doc, "lead", lines)
        stories[_story_id(node)] = _Piece(node, own, "")
    # ruamel keeps a comment after the thing before it (or, after a flow value, in front of
    # the next item, or at the end of the sequence); each ends up as the "before" of its owner.
    pending = ""
    raw_sections = doc.get("sections")
    all_sections = raw_sections if isinstance(raw_sections, CommentedSeq) else CommentedSeq()
    for index, section in enumerate(all_sections):
        sections[f"s{index}"] = (section, pending + cut_before(all_sections, index))
        pending = ""
        items = section.get("stories") if isinstance(section, CommentedMap) else None
        if isinstance(items, CommentedSeq) and len(items):
            for position, node in enumerate(items):
                before = pending + cut_before(items, position)
                pending = cut_tail(items, position)
                if isinstance(node, CommentedMap):
                    own = own_comment(node, "id", lines)
                else:
                    own = own_comment(items, position, lines)
                stories[_story_id(node)] = _Piece(node, own, before)
            pending += cut_end(items)
        elif isinstance(section, CommentedMap) and len(section):
            pending = cut_tail(section, list(section)[-1])
            if isinstance(items, CommentedSeq):
                pending += cut_end(items)
    return _Cut(stories, sections, lead_tail, pending + cut_end(all_sections))


def apply_draft(text: str, draft: Draft, new_comments: Mapping[str, str] | None = None) -> str:
    """The text of issue.yaml with ``draft`` written into it; everything else kept.

    ``new_comments`` gives the comment to write beside stories that were not in
    the file before (by article id).
    """
    # A file saved on Windows keeps its line endings.
    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n")
    doc, layout = load_document(text)
    if not isinstance(doc, CommentedMap):
        raise InputError("issue.yaml must be a mapping of settings (date:, subject:, sections: …)")
    lines = text.splitlines()
    cut = _cut(doc, lines)
    new_comments = new_comments or {}

    def piece(story: StoryDraft) -> _Piece | None:
        found = cut.stories.get(story.id)
        if found is None and story.id in new_comments:
            return _Piece(None, OwnComment(f"# {new_comments[story.id]}", DEFAULT_GAP), "")
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
        keys = list(doc)
        if lead_piece is not None and lead_piece.before and keys.index("lead"):
            add_tail(doc, keys[keys.index("lead") - 1], lead_piece.before)
        add_tail(doc, "lead", cut.lead_tail)
    elif "lead" in doc:
        keys = list(doc)
        index = keys.index("lead")
        del doc["lead"]
        if cut.lead_tail and index > 0:
            add_tail(doc, keys[index - 1], cut.lead_tail)

    # The sections, rebuilt in the draft's order from the old nodes where there are any.
    if "sections" not in doc:
        _insert_key(doc, "sections", CommentedSeq(), _ISSUE_ORDER)
    sections = doc["sections"]
    if not isinstance(sections, CommentedSeq):
        sections = doc["sections"] = CommentedSeq()
    previous: tuple[Any, Any] | None = None
    del sections[:]
    sections.ca.items.clear()
    sections.fa.set_block_style()
    story_column = layout.sequence * 2
    for draft_section in draft.sections:
        old = cut.sections.get(draft_section.key)
        node, before = old if old else (CommentedMap(), "")
        if before and not len(sections):
            add_head(sections, before, doc, "sections")
        elif before and previous is not None:
            add_tail(previous[0], previous[1], before)
        if "title" in node:
            _set_text(node, "title", draft_section.title, ("title", "stories"), keep_empty=True)
        else:
            node.insert(0, "title", draft_section.title)
        items = node.get("stories")
        if not isinstance(items, CommentedSeq):
            items = CommentedSeq()
            node["stories"] = items
        was_flow = bool(items.fa.flow_style())
        del items[:]
        items.ca.items.clear()
        sections.append(node)
        placed = []
        for story in draft_section.stories:
            story_piece = piece(story)
            story_node, own = _story_node(story_piece, story, is_lead=False)
            placed.append((story_node, own, story_piece.before if story_piece else ""))
        # A list written [a, b] stays so while nothing in it needs a comment.
        if not placed or (was_flow and not any(own or before for _, own, before in placed)):
            items.extend(story_node for story_node, _, _ in placed)
            items.fa.set_flow_style()
            previous = (node, "stories")
            continue
        items.fa.set_block_style()
        previous = None
        for story_node, own, before in placed:
            if before and not len(items):
                add_head(items, before, node, "stories")
            elif before and previous is not None:
                add_tail(previous[0], previous[1], before)
            items.append(story_node)
            _place_story(items, len(items) - 1, story_node, own, story_column)
            previous = (items, len(items) - 1)
    if previous is None:
        previous = (doc, list(doc)[-1])
    add_tail(previous[0], previous[1], cut.end_tail)
    written = dump_document(doc, layout)
    return written.replace("\n", "\r\n") if crlf else written
