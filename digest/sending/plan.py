"""Planning a send: who gets which variant, written as one delivery row per (issue, person).

The audience is computed once: each active, non-suppressed person appears
once, in the first of the send's segments that matches, with the variant their
segment's topics (narrowed by their own topic preferences) give them. Planning
is serialised per issue, and refuses while another send of the issue is
unfinished.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.errors import InputError, StateError
from digest.sending import ledger
from digest.sending.states import OPEN_SEND_STATES, SendState
from digest.sending.variants import variant_key
from digest.store import db

D = db.deliveries
S = db.subscribers


@dataclass
class SegmentPlan:
    name: str
    audience: int = 0  # people this send will mail from this segment
    stories: int = 0


@dataclass
class Plan:
    issue_id: str
    provider: str
    segments: list[SegmentPlan]
    suppressed: int = 0
    not_active: Counter[str] = field(default_factory=Counter)
    already_sent: int = 0
    send_id: int | None = None
    personalised: int = 0  # people whose own topic preferences narrow their copy
    # Readers whose copy holds a single story (their topics leave out all the others): worth a look.
    single_story: list[str] = field(default_factory=list)
    # On a dry run: why the real send would stop at approval ('' when it would not).
    approval_problem: str = ""
    # On a dry run: why the provider could not send ('' when it could; digest.providers.preflight).
    provider_problem: str = ""

    @property
    def total(self) -> int:
        return sum(segment.audience for segment in self.segments)


def plan_send(
    engine: Engine,
    settings: Settings,
    issue_id: str,
    segment_names: Sequence[str],
    *,
    provider: str,
    dry_run: bool = False,
    story_counts: dict[str, int] | None = None,
    existing_send: int | None = None,
    count_stories: Callable[[frozenset[str] | None], int] | None = None,
    shown: Plan | None = None,
) -> Plan:
    """Work out who gets what; unless ``dry_run``, write the send and its deliveries in one transaction.

    ``existing_send`` plans into a send recorded earlier (a scheduled one that is now due).
    ``count_stories`` (the stories a copy narrowed to some topics holds) lets the plan
    name the readers who would get a single story.
    ``shown`` is the dry run just shown to the operator: when the rows written
    match it segment for segment, its counts stand and the audience is not
    counted a second time; otherwise it is counted again inside the transaction.
    """
    from digest.people.segments import find_segments

    if not segment_names:
        raise InputError("name at least one segment with --segment (see `digest segments list`)")
    segments = find_segments(settings, segment_names)
    plan = _empty_plan(issue_id, provider, segments, story_counts)
    if shown is not None and shown.total == 0:
        shown = None  # nothing was shown to send: count again, and write nothing if it is still nobody
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if not dry_run:
                    _serialise_planning(conn, issue_id, existing_send)
                if dry_run or shown is None:
                    _count_audience(conn, plan, segments, issue_id)
                    if count_stories is not None:
                        plan.single_story = _single_story_readers(conn, issue_id, segments, count_stories)
                if dry_run or (shown is None and plan.total == 0 and existing_send is None):
                    return plan  # nothing written: no empty sends
                send_id = _send_row(conn, issue_id, provider, segment_names, existing_send)
                written, personalised = _write_deliveries(conn, send_id, issue_id, segments)
                if shown is not None:
                    if written == {item.name: item.audience for item in shown.segments if item.audience}:
                        plan = replace(shown, segments=[replace(item) for item in shown.segments])
                    else:
                        # The audience changed since it was shown: count it as it was before this send's rows.
                        _count_audience(conn, plan, segments, issue_id, not_in_send=send_id)
                        if plan.total == 0 and existing_send is None:
                            raise _NothingToSend
                if sum(written.values()) != plan.total:
                    # Someone else planned the same people between our count and our insert.
                    raise StateError("another send of this issue was planned at the same moment; run the send again")
                plan.personalised = personalised
                plan.send_id = send_id
    except _NothingToSend:
        plan.send_id = None
    return plan


class _NothingToSend(Exception):
    """Everyone shown has gone meanwhile: the transaction is rolled back, no empty send is written."""


def _empty_plan(issue_id: str, provider: str, segments: Sequence[Any], story_counts: dict[str, int] | None) -> Plan:
    return Plan(
        issue_id, provider, [SegmentPlan(s.name, stories=(story_counts or {}).get(s.name, 0)) for s in segments]
    )


def _count_audience(
    conn: Connection, plan: Plan, segments: Sequence[Any], issue_id: str, *, not_in_send: int | None = None
) -> None:
    """Each person once, by their first segment and why they are left out, and how many choose their own
    topics (one grouped query).

    ``not_in_send``: count as if that send's rows were not there yet (after writing them).
    """
    from digest.people.segments import first_segment_case

    by_name = {item.name: item for item in plan.segments}
    for item in plan.segments:
        item.audience = 0
    plan.suppressed = plan.already_sent = plan.personalised = 0
    plan.not_active.clear()
    index = first_segment_case(segments).label("segment_index")
    suppressed = S.c.email_hash.in_(sa.select(db.suppressions.c.email_hash))
    already = sa.exists().where(D.c.issue_id == issue_id, D.c.subscriber_id == S.c.id)
    if not_in_send is not None:
        already = already.where(D.c.send_id != not_in_send)
    own_topics = sa.cast(S.c.topics, sa.Text) != "[]"
    breakdown = (
        sa.select(
            index,
            S.c.status,
            suppressed.label("suppressed"),
            already.label("already"),
            own_topics.label("own_topics"),
            sa.func.count(),
        )
        .where(first_segment_case(segments).is_not(None))
        .group_by(index, S.c.status, suppressed, already, own_topics)
    )
    for segment_index, status, is_suppressed, is_already, has_topics, count in conn.execute(breakdown):
        if status != "active":
            plan.not_active[status] += count
            continue
        if is_suppressed:
            plan.suppressed += count
            continue
        if has_topics:  # everyone eligible whose own topic choices narrow their copy (sent already or not)
            plan.personalised += count
        if is_already:
            plan.already_sent += count
        else:
            by_name[segments[segment_index].name].audience += count


def _send_row(
    conn: Connection, issue_id: str, provider: str, segment_names: Sequence[str], existing_send: int | None
) -> int:
    if existing_send is not None:
        conn.execute(db.sends.update().where(db.sends.c.id == existing_send).values(state=SendState.PLANNED))
        return existing_send
    return int(
        conn.execute(
            db.sends.insert()
            .values(
                issue_id=issue_id,
                state=SendState.PLANNED,
                provider=provider,
                segments=list(segment_names),
                created_at=db.utcnow(),
            )
            .returning(db.sends.c.id)
        ).scalar_one()
    )


def _write_deliveries(
    conn: Connection, send_id: int, issue_id: str, segments: Sequence[Any]
) -> tuple[dict[str, int], int]:
    """One pending row per eligible person of the send's segments.

    Returns the rows written per segment, and how many of them have a variant of their own topics.
    """
    from digest.people.segments import eligible

    now = db.utcnow()
    name_case = sa.case(*((s.condition, s.name) for s in segments), else_=sa.null())
    default_variant = sa.case(*((s.condition, variant_key(s.topics)) for s in segments), else_=sa.null())
    # People with their own topic preferences get their variant worked out below.
    variant = sa.case((sa.cast(S.c.topics, sa.Text) == "[]", default_variant), else_=sa.null())
    rows = sa.select(
        sa.literal(send_id),
        sa.literal(issue_id),
        S.c.id,
        S.c.email,
        name_case,
        variant,
        sa.literal(now, db.UTCDateTime),
    ).where(eligible(), name_case.is_not(None))
    ledger.add_planned(conn, rows)
    personalised = _assign_personal_variants(conn, send_id, segments)
    written = conn.execute(
        sa.select(D.c.segment, sa.func.count()).where(D.c.send_id == send_id).group_by(D.c.segment)
    ).all()
    return {segment: count for segment, count in written}, personalised


def _serialise_planning(conn: Connection, issue_id: str, existing_send: int | None) -> None:
    """One planner per issue at a time, and none while another send of it is unfinished.

    SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL takes an
    advisory lock keyed by the issue, so a second `digest send` started at the
    same instant waits, then sees the first one's send and stops.
    """
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"plan:{issue_id}".encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    query = sa.select(db.sends.c.id, db.sends.c.state).where(
        db.sends.c.issue_id == issue_id, db.sends.c.state.in_(OPEN_SEND_STATES)
    )
    if existing_send is not None:
        query = query.where(db.sends.c.id != existing_send)
    other = conn.execute(query).first()
    if other is not None:
        raise StateError(
            f"issue {issue_id} already has an unfinished send (#{other.id}, {other.state}); "
            f"continue it with `digest send {issue_id} --resume`"
        )


def _single_story_readers(
    conn: Connection, issue_id: str, segments: Sequence[Any], count_stories: Callable[[frozenset[str] | None], int]
) -> list[str]:
    """The addresses of readers this send would mail a copy of only one story.

    Only readers who can get such a copy are read: those with topic choices of their own, and
    everyone in a segment whose own copy holds one story. An audience of a million readers
    without choices, in segments whose copies hold several stories, costs one query that finds
    nobody, not a million rows read into memory.
    """
    from digest.people.segments import decode_json, eligible, first_segment_case, variant_topics

    counts: dict[frozenset[str] | None, int] = {}

    def stories(topics: frozenset[str] | None) -> int:
        if topics not in counts:
            counts[topics] = count_stories(topics)
        return counts[topics]

    index = first_segment_case(segments)
    thin_segments = [number for number, segment in enumerate(segments) if stories(segment.topics) == 1]
    own_choice = sa.cast(S.c.topics, sa.Text) != "[]"
    could_be_thin = sa.or_(own_choice, index.in_(thin_segments)) if thin_segments else own_choice
    already = sa.exists().where(D.c.issue_id == issue_id, D.c.subscriber_id == S.c.id)
    rows = conn.execution_options(yield_per=2000).execute(
        sa.select(S.c.email, index.label("segment_index"), sa.cast(S.c.topics, sa.Text).label("topics"))
        .where(eligible(), index.is_not(None), could_be_thin, sa.not_(already))
        .order_by(S.c.email)
    )
    found = []
    for email, segment_index, topics in rows:
        if stories(variant_topics(segments[segment_index].topics, decode_json(topics) or [])) == 1:
            found.append(email)
    return found


def _assign_personal_variants(conn: Connection, send_id: int, segments: Sequence[Any]) -> int:
    from digest.people.segments import decode_json, variant_topics

    topics_of = {segment.name: segment.topics for segment in segments}
    rows = conn.execute(
        sa.select(D.c.id, D.c.segment, S.c.topics)
        .join(S, S.c.id == D.c.subscriber_id)
        .where(D.c.send_id == send_id, D.c.variant.is_(None))
    ).all()
    updates = [
        {"d": row.id, "v": variant_key(variant_topics(topics_of[row.segment], decode_json(row.topics) or []))}
        for row in rows
    ]
    if updates:
        conn.execute(D.update().where(D.c.id == sa.bindparam("d")).values(variant=sa.bindparam("v")), updates)
    return len(updates)
