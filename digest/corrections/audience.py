"""Who got a story: the readers whose accepted copy of an issue held it; a correction's send planned to them.

The ledger knows which copy (send and variant) each reader of an issue got and
whether the provider accepted it; the send's frozen variants know which stories
each copy held. A correction goes to the readers of the copies that held its
story and to nobody else: not to a reader whose copy left it out, not to anyone
the issue never reached, not to anyone who has since left (unsubscribed,
bounced, complained, erased) or been suppressed. Its deliveries are ledger
rows like an issue's, under the correction's own key, so nobody gets it twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.corrections.store import Correction
from digest.errors import StateError
from digest.issues.render import RenderedEmail
from digest.sending import ledger
from digest.sending.states import OPEN_SEND_STATES, DeliveryState, SendState
from digest.sending.variants import store_variant
from digest.store import db

CORRECTION_VARIANT = "correction"
D = db.deliveries
S = db.subscribers
Copies = dict[int, set[str]]  # send id → the variant keys of that send whose copy held the story


@dataclass
class SegmentReach:
    """One segment of the issue's readers, as far as the story goes."""

    name: str
    readers: int = 0  # to be mailed the correction now
    held: int = 0  # accepted copies that held the story
    left_out: int = 0  # accepted copies that did not


@dataclass
class CorrectionPlan:
    """Who a correction's send mails, by the segment their copy of the issue came from, and who not and why."""

    correction: Correction
    provider: str
    segments: list[SegmentReach] = field(default_factory=list)
    issue_readers: int = 0  # accepted copies of the issue
    not_active: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0
    already_sent: int = 0
    uncertain: int = 0  # copies that held the story with no answer from the provider yet
    unsent: int = 0  # copies that hold the story still waiting in the issue's unfinished send
    send_id: int | None = None

    @property
    def total(self) -> int:
        return sum(segment.readers for segment in self.segments)

    @property
    def holders(self) -> int:
        return sum(segment.held for segment in self.segments)


def holding_copies(conn: Connection, issue_id: str, article_id: str) -> Copies:
    """The issue's frozen copies that held the story, by send."""
    sv, sends = db.send_variants, db.sends
    query = (
        sa.select(sv.c.send_id, sv.c.variant, sv.c.story_ids)
        .join(sends, sends.c.id == sv.c.send_id)
        .where(sends.c.issue_id == issue_id)
    )
    copies: Copies = {}
    for send_id, variant, stories in conn.execute(query):
        if article_id in (stories or ()):
            copies.setdefault(int(send_id), set()).add(variant)
    return copies


def _held(rows: Any, copies: Copies) -> sa.ColumnElement[bool]:
    """``rows`` (deliveries) whose copy held the story."""
    if not copies:
        return rows.c.send_id.is_(None)  # never true (the column is NOT NULL), and not a bare constant
    return sa.or_(
        *(
            sa.and_(rows.c.send_id == send_id, rows.c.variant.in_(sorted(variants)))
            for send_id, variants in sorted(copies.items())
        )
    )


def plan_correction(
    engine: Engine,
    correction: Correction,
    *,
    provider: str,
    dry_run: bool = False,
    rendered: RenderedEmail | None = None,
) -> CorrectionPlan:
    """Count who the correction reaches; unless ``dry_run``, write its send, deliveries and email in one
    transaction (``rendered``: the email, frozen with the send so a resume sends the same bytes)."""
    plan = CorrectionPlan(correction, provider)
    with engine.connect() as conn:
        if not dry_run:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")  # a writer from the first read (SQLite)
        with conn.begin():
            if not dry_run:
                _serialise(conn, correction)
            copies = holding_copies(conn, correction.issue_id, correction.article_id)
            _count(conn, plan, copies)
            if dry_run or plan.total == 0:
                return plan
            if rendered is None:
                raise ValueError("a correction's send needs its rendered email")
            send_id = _write(conn, plan, copies, rendered)
            plan.send_id = send_id
    return plan


def _count(conn: Connection, plan: CorrectionPlan, copies: Copies) -> None:
    """The issue's readers by segment, copy and state, and whether each can be mailed now (one grouped query)."""
    correction = plan.correction
    mine = D.alias("correction_copy")
    suppressed = S.c.email_hash.in_(sa.select(db.suppressions.c.email_hash))
    already = sa.exists().where(mine.c.issue_id == correction.ledger_key, mine.c.subscriber_id == D.c.subscriber_id)
    breakdown = (
        sa.select(
            D.c.segment,
            D.c.state,
            D.c.send_id,
            D.c.variant,
            S.c.status,
            suppressed.label("suppressed"),
            already.label("already"),
            sa.func.count(),
        )
        .join(S, S.c.id == D.c.subscriber_id)
        .where(D.c.issue_id == correction.issue_id)
        .group_by(D.c.segment, D.c.state, D.c.send_id, D.c.variant, S.c.status, suppressed, already)
    )
    reach: dict[str, SegmentReach] = {}
    for segment, state, send_id, variant, status, is_suppressed, is_already, count in conn.execute(breakdown):
        held = variant in copies.get(send_id, ())
        item = reach.setdefault(segment, SegmentReach(segment))
        if state == DeliveryState.SENDING and held:
            plan.uncertain += count
        elif state == DeliveryState.PENDING and held:
            plan.unsent += count
        if state != DeliveryState.ACCEPTED:
            continue
        plan.issue_readers += count
        if not held:
            item.left_out += count
            continue
        item.held += count
        if is_already:
            plan.already_sent += count
        elif status != "active":
            plan.not_active[status] += count
        elif is_suppressed:
            plan.suppressed += count
        else:
            item.readers += count
    order = _segment_order(conn, correction.issue_id)
    plan.segments = sorted(reach.values(), key=lambda item: (order.get(item.name, len(order)), item.name))


def _segment_order(conn: Connection, issue_id: str) -> dict[str, int]:
    """The segments in the order the issue's sends named them."""
    order: dict[str, int] = {}
    named = conn.execute(sa.select(db.sends.c.segments).where(db.sends.c.issue_id == issue_id).order_by(db.sends.c.id))
    for segments in named.scalars():
        for name in segments or ():
            order.setdefault(name, len(order))
    return order


def _write(conn: Connection, plan: CorrectionPlan, copies: Copies, rendered: RenderedEmail) -> int:
    """The correction's send, one pending row per reader to mail, and its frozen email."""
    from digest.people.segments import eligible

    correction = plan.correction
    now = db.utcnow()
    send_id = int(
        conn.execute(
            db.sends.insert()
            .values(
                issue_id=correction.ledger_key,
                state=SendState.PLANNED,
                provider=plan.provider,
                segments=[item.name for item in plan.segments if item.readers],
                created_at=now,
            )
            .returning(db.sends.c.id)
        ).scalar_one()
    )
    rows = (
        sa.select(
            sa.literal(send_id),
            sa.literal(correction.ledger_key),
            D.c.subscriber_id,
            S.c.email,
            D.c.segment,
            sa.literal(CORRECTION_VARIANT),
            sa.literal(now, db.UTCDateTime),
        )
        .join(S, S.c.id == D.c.subscriber_id)
        .where(
            D.c.issue_id == correction.issue_id,
            D.c.state == DeliveryState.ACCEPTED,
            _held(D, copies),
            eligible(),
        )
        .order_by(D.c.id)
    )
    ledger.add_planned(conn, rows)
    written = conn.execute(sa.select(sa.func.count()).where(D.c.send_id == send_id)).scalar_one()
    if written != plan.total:
        raise StateError(f"the readers of correction #{correction.id} changed while it was planned; send it again")
    store_variant(conn, send_id, CORRECTION_VARIANT, rendered)
    return send_id


def _serialise(conn: Connection, correction: Correction) -> None:
    """One planner per correction at a time, and none while another send of it is unfinished (as for issues)."""
    key = correction.ledger_key
    if conn.dialect.name == "postgresql":
        lock = int.from_bytes(hashlib.sha256(f"plan:{key}".encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
    other = conn.execute(
        sa.select(db.sends.c.id, db.sends.c.state).where(
            db.sends.c.issue_id == key, db.sends.c.state.in_([*OPEN_SEND_STATES, SendState.FAILED])
        )
    ).first()
    if other is not None:
        raise StateError(
            f"correction #{correction.id} already has an unfinished send (#{other.id}, {other.state}); "
            f"continue it with `digest corrections send {correction.id} --resume`"
        )


def reach_of(engine: Engine, correction: Correction) -> dict[str, int]:
    """The correction's deliveries so far, by state (every state present, 0 if none)."""
    counts = {state.value: 0 for state in DeliveryState}
    with db.read(engine) as conn:
        for state, count in conn.execute(
            sa.select(D.c.state, sa.func.count()).where(D.c.issue_id == correction.ledger_key).group_by(D.c.state)
        ):
            counts[state] = count
    return counts
