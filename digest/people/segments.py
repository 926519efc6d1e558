"""Segments: who gets an issue and which of its stories, from ``subscribers/segments.yaml``.

A segment is a name, a description, match rules over subscriber fields and
free attributes, and optionally the topics it receives. Rules are data, never
code or SQL: equals, one_of, contains, word, exists, combined with all / any / not.
The checked rule tree is compiled into a SQLAlchemy expression with bound
parameters, so the database does the matching (on SQLite and PostgreSQL
alike) and nothing from the file ever becomes SQL text.

The audience of a send is computed once: each active, non-suppressed person
appears once, in the first segment (in the order the send names them) whose
rules match, with the topics of that segment narrowed by the person's own
topic preferences.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from digest.config import Settings
from digest.errors import NotFoundError
from digest.people.subscribers import ACTIVE, PROFILE_FIELDS
from digest.store import db
from digest.topics import check_topics
from digest.yamlfile import YamlDocument, read_yaml

Condition = sa.ColumnElement[bool]

TEXT_FIELDS = ("email", "email_domain", *PROFILE_FIELDS, "consent_source")
FIELDS = (*TEXT_FIELDS, "topics", "key_contact", "consent_at")
OPERATORS = ("equals", "one_of", "contains", "word", "exists")
ATTRIBUTE_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
_SEGMENT_KEYS = {"name", "description", "match", "topics"}
S = db.subscribers


@dataclass(frozen=True)
class Segment:
    name: str
    description: str
    rules: Any  # the rule tree as written, for display
    topics: frozenset[str] | None  # None: every story
    condition: Condition
    line: int | None = None


@dataclass(frozen=True)
class AudienceMember:
    subscriber_id: int
    email: str
    first_name: str
    last_name: str
    segment: str
    topics: frozenset[str] | None  # the stories this person gets; None: all


# --- SQL helpers the rules compile to ----------------------------------------------------


class folded(FunctionElement[str]):
    """A text value as rules compare it: trimmed and lower-cased."""

    type = sa.String()
    inherit_cache = True


@compiles(folded)
def _folded_default(element: folded, compiler: Any, **kw: Any) -> str:
    return f"lower(trim({compiler.process(element.clauses, **kw)}))"


@compiles(folded, "sqlite")
def _folded_sqlite(element: folded, compiler: Any, **kw: Any) -> str:
    # SQLite's lower() folds ASCII only; digest_fold (registered on every
    # connection in db.py) is Python's casefold, matching PostgreSQL's lower().
    return f"digest_fold({compiler.process(element.clauses, **kw)})"


class email_domain(FunctionElement[str]):
    """The part of an address after the @."""

    type = sa.String()
    inherit_cache = True


@compiles(email_domain)
def _domain_default(element: email_domain, compiler: Any, **kw: Any) -> str:
    return f"split_part({compiler.process(element.clauses, **kw)}, '@', 2)"


@compiles(email_domain, "sqlite")
def _domain_sqlite(element: email_domain, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"substr({value}, instr({value}, '@') + 1)"


class word_text(FunctionElement[str]):
    """Text as whole-word rules compare it: folded words joined by single spaces, padded with one each side."""

    type = sa.String()
    inherit_cache = True


@compiles(word_text)
def _words_default(element: word_text, compiler: Any, **kw: Any) -> str:
    # Every run of characters that are not letters or digits becomes one space,
    # as db.spaced_words does for SQLite.
    value = compiler.process(element.clauses, **kw)
    return f"(' ' || regexp_replace(lower({value}), '[^[:alnum:]]+', ' ', 'g') || ' ')"


@compiles(word_text, "sqlite")
def _words_sqlite(element: word_text, compiler: Any, **kw: Any) -> str:
    return f"digest_words({compiler.process(element.clauses, **kw)})"


def fold(value: Any) -> str:
    """A rule's value as the database compares it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return " ".join(str(value).split()).casefold()


# --- loading ---------------------------------------------------------------------------


def load_segments(settings: Settings, path: Path | None = None) -> list[Segment]:
    """Read and check the segments file, naming the line of any problem."""
    path = path or settings.segments_file
    if not path.is_file():
        raise NotFoundError(f"no segments file at {path}; create it (see subscribers/segments.yaml in digest)")
    doc = read_yaml(path)
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        raise doc.error("the file must have a 'segments:' list")
    unknown = sorted(set(data) - {"segments"}, key=str)
    if unknown:
        raise doc.error(f"unknown key {unknown[0]!r}; the file has only 'segments:'", unknown[0])
    found: list[Segment] = []
    names: dict[str, int | None] = {}
    for index, raw in enumerate(data["segments"]):
        segment = _segment(doc, raw, settings, ("segments", index))
        if segment.name in names:
            raise doc.error(
                f"segment {segment.name!r} is defined twice (first on line {names[segment.name]})",
                "segments",
                index,
                "name",
            )
        names[segment.name] = segment.line
        found.append(segment)
    return found


def _segment(doc: YamlDocument, raw: Any, settings: Settings, where: tuple[str | int, ...]) -> Segment:
    if not isinstance(raw, dict):
        raise doc.error("each segment is a mapping with name, description, match and topics", *where)
    unknown = sorted(set(raw) - _SEGMENT_KEYS, key=str)
    if unknown:
        raise doc.error(
            f"unknown segment key {unknown[0]!r}; use {', '.join(sorted(_SEGMENT_KEYS))}", *where, unknown[0]
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise doc.error("a segment needs a name", *where)
    name = name.strip()
    if not all(c.isalnum() or c in "-_" for c in name):
        raise doc.error(f"segment name {name!r} may use only letters, digits, '-' and '_'", *where, "name")
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise doc.error("description must be text", *where, "description")
    topics = raw.get("topics")
    if topics is not None:
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics) or not topics:
            raise doc.error("topics must be a non-empty list of topic names", *where, "topics")
        missing = check_topics(topics, settings.topics)
        if missing:
            raise doc.error(
                f"unknown topic {missing[0]!r}; known topics: {', '.join(settings.topic_slugs)}", *where, "topics"
            )
    rules = raw.get("match", "everyone")
    condition = sa.true() if rules == "everyone" else compile_rule(doc, rules, (*where, "match"))
    return Segment(
        name=name,
        description=description.strip(),
        rules=rules,
        topics=frozenset(topics) if topics is not None else None,
        condition=condition,
        line=doc.line(*where),
    )


def compile_rule(doc: YamlDocument, rule: Any, where: tuple[str | int, ...]) -> Condition:
    """Turn a checked rule into a SQL condition with bound parameters; refuse anything unknown."""
    if not isinstance(rule, dict) or not rule:
        raise doc.error("a rule is a mapping such as {sector: education} or {any: [...]}", *where)
    parts: list[Condition] = []
    for key, value in rule.items():
        here = (*where, key)
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise doc.error(f"'{key}' needs a list of rules", *here)
            subs = [compile_rule(doc, item, (*here, index)) for index, item in enumerate(value)]
            parts.append(sa.and_(*subs) if key == "all" else sa.or_(*subs))
        elif key == "not":
            parts.append(sa.not_(compile_rule(doc, value, here)))
        else:
            parts.append(_field_rule(doc, str(key), value, here))
    return sa.and_(*parts) if len(parts) > 1 else parts[0]


def _field_rule(doc: YamlDocument, name: str, condition: Any, where: tuple[str | int, ...]) -> Condition:
    if not (name in FIELDS or (name.startswith("attributes.") and len(name) > len("attributes."))):
        raise doc.error(f"unknown field {name!r}; use one of {', '.join(FIELDS)} or attributes.<name>", *where)
    attribute = name.removeprefix("attributes.") if name.startswith("attributes.") else ""
    if attribute and not ATTRIBUTE_NAME.fullmatch(attribute):
        # Imports store names this way (digest.people.csvimport.layout.attribute_key); anything else would
        # never match, and becomes part of a JSON path, where a quote breaks the query.
        raise doc.error(
            f"attribute name {attribute!r} may use only lower-case letters, digits and '_' (at most 64, "
            "not starting with '_'), as imports store them: e.g. attributes.local_authority",
            *where,
        )
    if not isinstance(condition, dict):
        # `sector: health` is equals; `topics: [care, sport]` can only mean one of them.
        condition = {"one_of": condition} if isinstance(condition, list) else {"equals": condition}
    if len(condition) != 1:
        raise doc.error(f"give one operator for {name!r}: {', '.join(OPERATORS)}", *where)
    ((operator, operand),) = condition.items()
    if operator not in OPERATORS:
        raise doc.error(
            f"unknown operator {operator!r} for {name!r}; use one of {', '.join(OPERATORS)}", *where, operator
        )
    if operator == "equals" and isinstance(operand, list | dict):
        raise doc.error(f"equals for {name!r} needs one value; for a list use {{one_of: [...]}}", *where, operator)
    if operator == "one_of" and (not isinstance(operand, list) or not operand):
        raise doc.error(f"one_of for {name!r} needs a list of values", *where, operator)
    if operator == "contains" and (
        not isinstance(operand, str | int) or isinstance(operand, bool) or not str(operand).strip()
    ):
        raise doc.error(f"contains for {name!r} needs some text", *where, operator)
    if operator == "exists" and not isinstance(operand, bool):
        raise doc.error(f"exists for {name!r} must be true or false", *where, operator)
    if operator == "word":
        phrases = _word_phrases(operand)
        if not phrases:
            raise doc.error(
                f"word for {name!r} needs a word or phrase (or a list of them) with letters or digits", *where, operator
            )
        if name in ("topics", "key_contact"):
            raise doc.error(f"word does not apply to {name!r}; use equals or one_of", *where, operator)
    if name == "consent_at":
        # Whether the date consent was given is on record: imports store a date nobody recorded as unknown.
        if operator != "exists":
            raise doc.error("consent_at takes only exists: true (the date is on record) or false", *where, operator)
        return S.c.consent_at.is_not(None) if operand else S.c.consent_at.is_(None)
    if name == "key_contact":
        return _key_contact_rule(doc, operator, operand, where)
    if name == "topics":
        return _topics_rule(operator, operand)
    value = _text_expression(name)
    if operator == "equals":
        return value == fold(operand)
    if operator == "one_of":
        return value.in_(sorted({fold(v) for v in operand}))
    if operator == "contains":
        return value.contains(fold(operand), autoescape=True)
    if operator == "word":
        spaced = word_text(_raw_expression(name))
        # The phrase is letters, digits and single spaces, so it needs no LIKE escaping.
        return sa.or_(*(spaced.like(f"% {phrase} %") for phrase in _word_phrases(operand)))
    return (sa.func.coalesce(value, "") != "") if operand else (sa.func.coalesce(value, "") == "")


def _word_phrases(operand: Any) -> list[str]:
    """The whole words or phrases a `word` rule looks for, folded as db.spaced_words folds text."""
    items = operand if isinstance(operand, list) else [operand]
    phrases = []
    for item in items:
        if not isinstance(item, str | int) or isinstance(item, bool):
            return []
        folded_item = (db.spaced_words(str(item)) or "").strip()
        if not folded_item:
            return []
        phrases.append(folded_item)
    return phrases


def _raw_expression(name: str) -> sa.ColumnElement[str]:
    if name == "email_domain":
        return email_domain(S.c.email)
    if name.startswith("attributes."):
        return S.c.attributes[name.split(".", 1)[1]].as_string()
    return S.c[name]


def _text_expression(name: str) -> sa.ColumnElement[str]:
    return folded(_raw_expression(name))


def _key_contact_rule(doc: YamlDocument, operator: str, operand: Any, where: tuple[str | int, ...]) -> Condition:
    if operator == "exists":
        return S.c.key_contact.is_(sa.true()) if operand else S.c.key_contact.is_(sa.false())
    wanted = {fold(v) for v in (operand if operator == "one_of" else [operand])}
    if not wanted <= {"true", "false", "yes", "no"}:
        raise doc.error("key_contact is true or false", *where)
    conditions = []
    if wanted & {"true", "yes"}:
        conditions.append(S.c.key_contact.is_(sa.true()))
    if wanted & {"false", "no"}:
        conditions.append(S.c.key_contact.is_(sa.false()))
    return sa.or_(*conditions)


def _topics_rule(operator: str, operand: Any) -> Condition:
    # Topics are a JSON list of slugs (lower-case letters, digits, hyphens), so
    # a quoted slug in the JSON text is an exact element match on any backend.
    text = sa.cast(S.c.topics, sa.Text)
    if operator == "exists":
        has = sa.and_(text != "[]", text != "")
        return has if operand else sa.not_(has)
    if operator == "contains":
        return text.contains(fold(operand), autoescape=True)
    values = operand if operator == "one_of" else [operand]
    return sa.or_(*(text.contains(f'"{fold(v)}"', autoescape=True) for v in values))


# --- audiences ------------------------------------------------------------------------


def find_segments(settings: Settings, names: Sequence[str]) -> list[Segment]:
    """The named segments, in the order given."""
    available = {segment.name: segment for segment in load_segments(settings)}
    chosen = []
    for name in names:
        if name not in available:
            raise NotFoundError(f"no segment {name!r} in {settings.segments_file}; known: {', '.join(available)}")
        chosen.append(available[name])
    return chosen


def variant_topics(segment_topics: frozenset[str] | None, own: Sequence[str]) -> frozenset[str] | None:
    """The segment's topics narrowed by the person's own preferences (None: everything)."""
    mine = frozenset(own) if own else None
    if segment_topics is None:
        return mine
    if mine is None:
        return segment_topics
    return segment_topics & mine


def decode_json(value: Any) -> Any:
    """A JSON column read as text (SQLite) or already decoded (PostgreSQL's driver)."""
    if isinstance(value, str):
        return json.loads(value) if value else None
    return value


def eligible() -> Condition:
    """Active, and not on the suppression list."""
    # NOT IN lets SQLite build the suppression set once instead of probing its
    # index for every subscriber (PostgreSQL plans it as a hashed subplan).
    return sa.and_(S.c.status == ACTIVE, S.c.email_hash.not_in(sa.select(db.suppressions.c.email_hash)))


def first_segment_case(segments: Sequence[Segment]) -> sa.ColumnElement[Any]:
    """The index of the first segment whose rules match, or NULL."""
    return sa.case(*((segment.condition, index) for index, segment in enumerate(segments)), else_=sa.null())


def iter_audience(engine: Engine, segments: Sequence[Segment]) -> Iterator[AudienceMember]:
    """Stream the audience: each eligible person once, in the first segment that matches."""
    if not segments:
        return
    chosen = first_segment_case(segments).label("segment_index")
    inner = (
        sa.select(
            S.c.id, S.c.email, S.c.first_name, S.c.last_name, sa.cast(S.c.topics, sa.Text).label("topics"), chosen
        )
        .where(eligible())
        .subquery()
    )
    query = sa.select(inner).where(inner.c.segment_index.is_not(None)).order_by(inner.c.id)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=5000).execute(query):
            segment = segments[row.segment_index]
            own = row.topics
            yield AudienceMember(
                subscriber_id=row.id,
                email=row.email,
                first_name=row.first_name,
                last_name=row.last_name,
                segment=segment.name,
                topics=variant_topics(segment.topics, decode_json(own) if own != "[]" else []),
            )


def segment_counts(engine: Engine, segments: Sequence[Segment]) -> dict[str, int]:
    """Eligible members of each segment on its own (a person may count in several)."""
    if not segments:
        return {}
    columns = [
        sa.func.coalesce(sa.func.sum(sa.case((segment.condition, 1), else_=0)), 0).label(f"c{index}")
        for index, segment in enumerate(segments)
    ]
    with db.read(engine) as conn:
        row = conn.execute(sa.select(*columns).where(eligible())).one()
    return {segment.name: int(row[index]) for index, segment in enumerate(segments)}


def members(engine: Engine, segment: Segment, *, limit: int | None = None) -> list[Any]:
    """Eligible members of one segment (a sample when ``limit`` is given)."""
    query = sa.select(S).where(eligible(), segment.condition).order_by(S.c.id)
    if limit is not None:
        query = query.limit(limit)
    with db.read(engine) as conn:
        return [row._mapping for row in conn.execute(query)]


def segments_of(engine: Engine, segments: Sequence[Segment], subscriber_id: int) -> list[str]:
    """The segments an eligible subscriber is in (none when not active or suppressed)."""
    if not segments:
        return []
    columns = [sa.case((segment.condition, 1), else_=0) for segment in segments]
    with db.read(engine) as conn:
        row = conn.execute(sa.select(*columns).where(eligible(), S.c.id == subscriber_id)).first()
    return [segment.name for segment, hit in zip(segments, row or [], strict=False) if hit]


def select_subscribers(
    engine: Engine, settings: Settings, *, segment: str | None = None, status: str | None = None
) -> Iterator[Any]:
    """Subscribers for `list` and `export`: all, or those a segment's rules match, by status.

    With a segment and no status, only people who would receive it (active,
    not suppressed) are listed.
    """
    from digest.people.subscribers import STATUSES, row_to_subscriber

    if status is not None and status not in STATUSES:
        from digest.errors import InputError

        raise InputError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    query = sa.select(S).order_by(S.c.id)
    if segment is not None:
        (chosen,) = find_segments(settings, [segment])
        query = query.where(chosen.condition)
        if status is None:
            query = query.where(eligible())
    if status is not None:
        query = query.where(S.c.status == status)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=2000).execute(query):
            yield row_to_subscriber(row)


# --- the sign-up form's choices ----------------------------------------------------------------


def sector_choices(settings: Settings) -> list[tuple[str, str]]:
    """(value, label) for the sign-up form's Sector: the organisation's own words, which segments match.

    ``[web] sectors`` lists them; otherwise they are the values the segment
    rules name for ``sector`` (equals, one_of, word), in the file's order, a
    plural that only adds an "s" folded into its singular. A sector typed
    freely would rarely match a rule word for word.
    """
    if settings.sectors:
        values = list(settings.sectors)
    elif settings.segments_file.is_file():
        values = [value for segment in load_segments(settings) for value in _sector_values(segment.rules)]
    else:
        values = []
    chosen: dict[str, str] = {}
    for value in values:
        key = " ".join(value.split()).casefold()
        if key and key not in chosen and not (key.endswith("s") and key[:-1] in chosen):
            chosen[key] = " ".join(value.split())
    return [(value, _label(value)) for value in chosen.values()]


def _sector_values(rule: Any) -> Iterator[str]:
    if isinstance(rule, list):
        for item in rule:
            yield from _sector_values(item)
    elif isinstance(rule, dict):
        for key, value in rule.items():
            if key in ("any", "all", "not"):
                yield from _sector_values(value)
            elif key == "sector":
                if isinstance(value, str):
                    yield value
                elif isinstance(value, dict):
                    for operator in ("equals", "one_of", "word"):
                        found = value.get(operator)
                        yield from ([found] if isinstance(found, str) else found or [])


def _label(value: str) -> str:
    # Short lower-case values are initials ("nhs"); the rest read as words.
    return value.upper() if len(value) <= 3 and value.isalpha() and value.islower() else value[:1].upper() + value[1:]
