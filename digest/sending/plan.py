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
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest import db
from digest.config import Settings
from digest.errors import InputError, StateError
from digest.sending import ledger
from digest.sending.states import OPEN_SEND_STATES, SendState
from digest.sending.variants import variant_key

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
) -> Plan:
    """Work out who gets what; unless ``dry_run``, write the send and its deliveries in one transaction.

    ``existing_send`` plans into a send recorded earlier (a scheduled one that is now due).
    ``count_stories`` (the stories a copy narrowed to some topics holds) lets the plan
    name the readers who would get a single story.
    """
    from digest.segments import eligible, find_segments, first_segment_case

    if not segment_names:
        raise InputError("name at least one segment with --segment (see `digest segments list`)")
    segments = find_segments(settings, segment_names)
    plan = Plan(
        issue_id, provider, [SegmentPlan(s.name, stories=(story_counts or {}).get(s.name, 0)) for s in segments]
    )
    by_name = {item.name: item for item in plan.segments}
    index = first_segment_case(segments).label("segment_index")
    suppressed = S.c.email_hash.in_(sa.select(db.suppressions.c.email_hash))
    already = sa.exists().where(D.c.issue_id == issue_id, D.c.subscriber_id == S.c.id)
    breakdown = (
        sa.select(index, S.c.status, suppressed.label("suppressed"), already.label("already"), sa.func.count())
        .where(first_segment_case(segments).is_not(None))
        .group_by(index, S.c.status, suppressed, already)
    )
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if not dry_run:
                _serialise_planning(conn, issue_id, existing_send)
            for segment_index, status, is_suppressed, is_already, count in conn.execute(breakdown):
                if status != "active":
                    plan.not_active[status] += count
                elif is_suppressed:
                    plan.suppressed += count
                elif is_already:
                    plan.already_sent += count
                else:
                    by_name[segments[segment_index].name].audience += count
            if count_stories is not None:
                plan.single_story = _single_story_readers(conn, issue_id, segments, count_stories)
            if dry_run or (plan.total == 0 and existing_send is None):
                plan.personalised = _count_personalised(conn, segments)
                return plan  # nothing written: no empty sends
            now = db.utcnow()
            if existing_send is not None:
                send_id = existing_send
                conn.execute(db.sends.update().where(db.sends.c.id == send_id).values(state=SendState.PLANNED))
            else:
                send_id = conn.execute(
                    db.sends.insert()
                    .values(
                        issue_id=issue_id,
                        state=SendState.PLANNED,
                        provider=provider,
                        segments=list(segment_names),
                        created_at=now,
                    )
                    .returning(db.sends.c.id)
                ).scalar_one()
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
            plan.personalised = _assign_personal_variants(conn, send_id, segments)
            written = conn.execute(
                sa.select(D.c.segment, sa.func.count()).where(D.c.send_id == send_id).group_by(D.c.segment)
            ).all()
            if sum(count for _, count in written) != plan.total:
                # Someone else planned the same people between our count and our insert.
                raise StateError("another send of this issue was planned at the same moment; run the send again")
            plan.send_id = send_id
    return plan


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
    """The addresses of readers this send would mail a copy of only one story."""
    from digest.segments import decode_json, eligible, first_segment_case, variant_topics

    index = first_segment_case(segments)
    already = sa.exists().where(D.c.issue_id == issue_id, D.c.subscriber_id == S.c.id)
    rows = conn.execute(
        sa.select(S.c.email, index.label("segment_index"), sa.cast(S.c.topics, sa.Text).label("topics"))
        .where(eligible(), index.is_not(None), sa.not_(already))
        .order_by(S.c.email)
    )
    counts: dict[frozenset[str] | None, int] = {}
    found = []
    for email, segment_index, topics in rows:
        chosen = variant_topics(segments[segment_index].topics, decode_json(topics) or [])
        if chosen not in counts:
            counts[chosen] = count_stories(chosen)
        if counts[chosen] == 1:
            found.append(email)
    return found


def _count_personalised(conn: Connection, segments: Sequence[Any]) -> int:
    from digest.segments import eligible, first_segment_case

    query = sa.select(sa.func.count()).where(
        eligible(), first_segment_case(segments).is_not(None), sa.cast(S.c.topics, sa.Text) != "[]"
    )
    return int(conn.execute(query).scalar_one())


def _assign_personal_variants(conn: Connection, send_id: int, segments: Sequence[Any]) -> int:
    from digest.segments import decode_json, variant_topics

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
