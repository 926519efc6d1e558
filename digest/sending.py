"""Sending: the plan, the ledger and the batches.

The guarantee (README, "The send guarantee"): planning writes one delivery row
per (issue, person) in one transaction, unique on (issue, person), so no second
segment or second send can add another copy. A batch is marked ``sending`` in
the database before the provider is called and ``accepted`` after it answers.
After a crash only rows left in ``sending`` are uncertain; they are reported,
reconciled by the provider's events, and sent again only on request
(``--resend-uncertain``). Nobody is skipped silently: every row ends
``accepted``, ``failed`` (with the reason) or ``skipped`` (with the reason).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest import db
from digest.config import Settings
from digest.errors import DigestError, InputError, NotFoundError, StateError
from digest.links import make_token
from digest.personalise import Personal, greeting_name, preferences_url, unsubscribe_url, view_url
from digest.render import RenderedEmail

PENDING, SENDING, ACCEPTED, FAILED, SKIPPED = "pending", "sending", "accepted", "failed", "skipped"
DELIVERY_STATES = (PENDING, SENDING, ACCEPTED, FAILED, SKIPPED)
# Send states.
PLANNED, RUNNING, PAUSED, DONE, SEND_FAILED, CANCELLED, SCHEDULED = (
    "planned",
    "sending",
    "paused",
    "done",
    "failed",
    "cancelled",
    "scheduled",
)
OPEN_STATES = (PLANNED, RUNNING, PAUSED, SCHEDULED)
LOCK_STALE_AFTER = timedelta(minutes=10)
ALL_TOPICS = "all"

D = db.deliveries
S = db.subscribers


# --- variants ---------------------------------------------------------------------------


def variant_key(topics: frozenset[str] | None) -> str:
    """A name for the stories a reader gets: 'all', or their topics."""
    return ALL_TOPICS if topics is None else "topics:" + ",".join(sorted(topics))


def variant_topics_of(key: str) -> frozenset[str] | None:
    if key == ALL_TOPICS:
        return None
    body = key.removeprefix("topics:")
    return frozenset(t for t in body.split(",") if t)


# --- the plan ---------------------------------------------------------------------------


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
) -> Plan:
    """Work out who gets what; unless ``dry_run``, write the send and its deliveries in one transaction.

    ``existing_send`` plans into a send recorded earlier (a scheduled one that is now due).
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
            if dry_run or (plan.total == 0 and existing_send is None):
                plan.personalised = _count_personalised(conn, segments)
                return plan  # nothing written: no empty sends
            now = db.utcnow()
            if existing_send is not None:
                send_id = existing_send
                conn.execute(db.sends.update().where(db.sends.c.id == send_id).values(state=PLANNED))
            else:
                send_id = conn.execute(
                    db.sends.insert()
                    .values(
                        issue_id=issue_id,
                        state=PLANNED,
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
                sa.literal(PENDING),
                sa.literal(now, db.UTCDateTime),
            ).where(eligible(), name_case.is_not(None))
            conn.execute(
                db.dialect_insert(conn, D)
                .from_select(
                    ["send_id", "issue_id", "subscriber_id", "email", "segment", "variant", "state", "updated_at"],
                    rows,
                )
                .on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
            )
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
        db.sends.c.issue_id == issue_id, db.sends.c.state.in_(OPEN_STATES)
    )
    if existing_send is not None:
        query = query.where(db.sends.c.id != existing_send)
    other = conn.execute(query).first()
    if other is not None:
        raise StateError(
            f"issue {issue_id} already has an unfinished send (#{other.id}, {other.state}); "
            f"continue it with `digest send {issue_id} --resume`"
        )


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


# --- the lock ---------------------------------------------------------------------------


def lock_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LockInfo:
    issue_id: str
    send_id: int
    holder: str
    acquired_at: datetime
    heartbeat_at: datetime

    def is_stale(self, now: datetime | None = None) -> bool:
        """No heartbeat for ten minutes, or its process is gone from this host."""
        now = now or db.utcnow()
        if now - self.heartbeat_at > LOCK_STALE_AFTER:
            return True
        host, _, pid = self.holder.rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            return not _process_alive(int(pid))
        return False

    def describe(self) -> str:
        return (
            f"held by {self.holder} since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC "
            f"(last heartbeat {self.heartbeat_at:%H:%M:%S} UTC)"
        )


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_lock(conn: Connection, issue_id: str) -> LockInfo | None:
    row = conn.execute(sa.select(db.send_locks).where(db.send_locks.c.issue_id == issue_id)).first()
    if row is None:
        return None
    return LockInfo(row.issue_id, row.send_id, row.holder, row.acquired_at, row.heartbeat_at)


def acquire_lock(
    engine: Engine, issue_id: str, send_id: int, *, take_over_stale: bool, on_take_over: Callable[[str], None]
) -> str:
    """Take the issue's send lock; returns the holder name. Refuses a lock another sender holds."""
    holder = lock_holder()
    now = db.utcnow()
    with db.write(engine) as conn:
        # Insert-or-nothing, so two senders starting at the same instant cannot both win
        # (on PostgreSQL the loser waits for the winner's commit, then sees its row).
        inserted = conn.execute(
            db.dialect_insert(conn, db.send_locks)
            .values(issue_id=issue_id, send_id=send_id, holder=holder, acquired_at=now, heartbeat_at=now)
            .on_conflict_do_nothing(index_elements=["issue_id"])
            .returning(db.send_locks.c.issue_id)
        ).first()
        if inserted is not None:
            return holder
        existing = read_lock(conn, issue_id)
        if existing is None:
            raise StateError(f"the send lock of issue {issue_id} changed hands just now; try again")
        if existing.holder == holder:
            return holder
        if not existing.is_stale(now):
            raise StateError(
                f"issue {issue_id} is being sent by another process: lock {existing.describe()}; "
                "wait for it to finish, or stop it first"
            )
        if not take_over_stale:
            raise StateError(
                f"issue {issue_id} has a stale send lock {existing.describe()}: the sender seems to have "
                f"stopped. Run `digest send {issue_id} --resume` to take it over"
            )
        taken = conn.execute(
            db.send_locks.update()
            .where(db.send_locks.c.issue_id == issue_id, db.send_locks.c.holder == existing.holder)
            .values(send_id=send_id, holder=holder, acquired_at=now, heartbeat_at=now)
        ).rowcount
        if taken != 1:
            raise StateError(f"another process took over the send lock of issue {issue_id} first")
        on_take_over(f"Taking over the stale send lock {existing.describe()}.")
    return holder


def heartbeat(conn: Connection, issue_id: str, holder: str) -> None:
    result = conn.execute(
        db.send_locks.update()
        .where(db.send_locks.c.issue_id == issue_id, db.send_locks.c.holder == holder)
        .values(heartbeat_at=db.utcnow())
    )
    if result.rowcount != 1:
        raise StateError(f"lost the send lock of issue {issue_id} to another process; stopping")


def release_lock(engine: Engine, issue_id: str, holder: str) -> None:
    with db.write(engine) as conn:
        conn.execute(
            db.send_locks.delete().where(db.send_locks.c.issue_id == issue_id, db.send_locks.c.holder == holder)
        )


# --- variants frozen per send ------------------------------------------------------------


def freeze_variants(engine: Engine, settings: Settings, send_id: int) -> dict[str, RenderedEmail]:
    """The rendered variants of a send: rendered once and stored, so a resume sends the same bytes."""
    with db.read(engine) as conn:
        send = conn.execute(sa.select(db.sends).where(db.sends.c.id == send_id)).one()
        stored = {
            row.variant: row
            for row in conn.execute(sa.select(db.send_variants).where(db.send_variants.c.send_id == send_id))
        }
        keys = conn.execute(sa.select(D.c.variant).where(D.c.send_id == send_id).distinct()).scalars().all()
    missing = [key for key in keys if key is not None and key not in stored]
    if missing:
        from digest.issues import load_view
        from digest.render import render_issue

        view = load_view(engine, settings, send.issue_id)
        with db.write(engine) as conn:
            for key in missing:
                rendered = render_issue(view, settings, topics=variant_topics_of(key), segment=key)
                conn.execute(
                    db.send_variants.insert().values(
                        send_id=send_id,
                        variant=key,
                        segment=None,
                        subject=rendered.subject,
                        preheader=rendered.preheader,
                        html=rendered.html,
                        text=rendered.text,
                        story_ids=list(rendered.story_ids),
                        content_hash=rendered.content_hash,
                    )
                )
        return freeze_variants(engine, settings, send_id)
    return {
        key: RenderedEmail(
            issue_id=send.issue_id,
            segment=key,
            subject=row.subject,
            preheader=row.preheader,
            html=row.html,
            text=row.text,
            story_ids=tuple(row.story_ids),
        )
        for key, row in stored.items()
    }


# --- running a send ----------------------------------------------------------------------


@dataclass
class Progress:
    done: int
    total: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass
class SendOutcome:
    send_id: int
    state: str
    counts: dict[str, int]
    uncertain_batches: int = 0
    message: str = ""
    requests: int = 0


def personal_values(
    settings: Settings, secret: bytes, issue_id: str, subscriber_id: int, delivery_id: int, first_name: str
) -> Personal:
    token = make_token(secret, subscriber_id, delivery_id)
    return Personal(
        unsubscribe_url=unsubscribe_url(settings, token),
        preferences_url=preferences_url(settings, token),
        view_url=view_url(settings, issue_id),
        greeting_name=greeting_name(first_name),
        token=token,
    )


def delivery_counts(conn: Connection, send_id: int) -> dict[str, int]:
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    for state, count in conn.execute(
        sa.select(D.c.state, sa.func.count()).where(D.c.send_id == send_id).group_by(D.c.state)
    ):
        counts[state] = count
    return counts


def _set_send_state(conn: Connection, send_id: int, state: str, note: str | None = None) -> None:
    values: dict[str, Any] = {"state": state}
    if state in (DONE, SEND_FAILED, CANCELLED):
        values["finished_at"] = db.utcnow()
    if note is not None:
        values["note"] = note
    conn.execute(db.sends.update().where(db.sends.c.id == send_id).values(**values))


def run_send(
    engine: Engine,
    settings: Settings,
    send_id: int,
    *,
    provider: Any = None,
    resume: bool = False,
    resend_uncertain: bool = False,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> SendOutcome:
    """Send every pending delivery of a send, batch by batch, under the issue's lock."""
    import time

    from digest.providers import (
        Batch,
        ProviderFatal,
        ProviderRejected,
        ProviderUnavailable,
        ProviderUncertain,
        make_provider,
    )

    notice = on_notice or (lambda _message: None)
    secret = settings.require_secret_key()
    with db.read(engine) as conn:
        send = conn.execute(sa.select(db.sends).where(db.sends.c.id == send_id)).first()
    if send is None:
        raise NotFoundError(f"no send #{send_id}")
    if send.state in (DONE, CANCELLED):
        raise StateError(f"send #{send_id} of issue {send.issue_id} is {send.state}")
    provider = provider or make_provider(settings, send.provider)
    holder = acquire_lock(engine, send.issue_id, send_id, take_over_stale=resume, on_take_over=notice)
    try:
        with db.write(engine) as conn:
            uncertain = conn.execute(
                sa.select(sa.func.count()).where(D.c.send_id == send_id, D.c.state == SENDING)
            ).scalar_one()
            if uncertain and resend_uncertain:
                conn.execute(
                    D.update()
                    .where(D.c.send_id == send_id, D.c.state == SENDING)
                    .values(state=PENDING, batch_id=None, updated_at=db.utcnow())
                )
                notice(f"{uncertain} uncertain deliveries will be sent again (--resend-uncertain).")
            elif uncertain:
                notice(
                    f"{uncertain} deliveries were being sent when an earlier run stopped; they stay uncertain "
                    "until the provider's events settle them, or --resend-uncertain sends them again."
                )
            conn.execute(
                db.sends.update()
                .where(db.sends.c.id == send_id)
                .values(state=RUNNING, started_at=sa.func.coalesce(db.sends.c.started_at, db.utcnow()))
            )
            total = conn.execute(
                sa.select(sa.func.count()).where(D.c.send_id == send_id, D.c.state == PENDING)
            ).scalar_one()
        variants = freeze_variants(engine, settings, send_id)
        started = time.perf_counter()
        done = 0
        uncertain_batches = 0
        answered: tuple[int, list[Any], Any] | None = None  # recorded with the next claim, in one commit
        for key, variant in variants.items():
            while True:
                if stop is not None and stop.is_set():
                    _flush(engine, answered)
                    return _finish(engine, send_id, PAUSED, "paused by the operator", uncertain_batches, provider)
                with db.write(engine) as conn:
                    if answered is not None:
                        _record_result(conn, *answered)
                        answered = None
                    rows = _claim_batch(conn, send_id, key, provider.batch_size, send.issue_id, holder)
                if rows is None:
                    break
                batch_id, claimed = rows
                if not claimed:
                    continue
                batch = Batch(
                    issue_id=send.issue_id,
                    send_id=send_id,
                    variant=variant,
                    recipients=[_recipient(settings, secret, send.issue_id, row) for row in claimed],
                    send_at=send.scheduled_at if send.provider_batch_id else None,
                    provider_batch_id=send.provider_batch_id,
                )
                try:
                    result = provider.send(batch)
                except ProviderUncertain as exc:
                    uncertain_batches += 1
                    _settle_batch(engine, batch_id, "uncertain", str(exc))
                    notice(f"Batch {batch_id}: {exc}; its {len(claimed)} deliveries are uncertain.")
                    continue
                except ProviderRejected as exc:
                    _fail_batch(engine, batch_id, str(exc))
                    notice(f"Batch {batch_id} failed: {exc}")
                    done += len(claimed)
                    continue
                except (ProviderFatal, ProviderUnavailable) as exc:
                    _return_batch(engine, batch_id, str(exc))
                    state = SEND_FAILED if isinstance(exc, ProviderFatal) else PAUSED
                    _finish(engine, send_id, state, str(exc), uncertain_batches, provider)
                    raise
                answered = (batch_id, claimed, result)
                done += len(claimed)
                if on_progress:
                    on_progress(Progress(done, total, time.perf_counter() - started))
        _flush(engine, answered)
        with db.read(engine) as conn:
            counts = delivery_counts(conn, send_id)
        if counts[SENDING] or counts[PENDING]:
            return _finish(
                engine, send_id, PAUSED, f"{counts[SENDING]} deliveries uncertain", uncertain_batches, provider
            )
        return _finish(engine, send_id, DONE, "", uncertain_batches, provider)
    finally:
        release_lock(engine, send.issue_id, holder)
        provider.close()


def _finish(engine: Engine, send_id: int, state: str, note: str, uncertain_batches: int, provider: Any) -> SendOutcome:
    with db.write(engine) as conn:
        _set_send_state(conn, send_id, state, note)
        counts = delivery_counts(conn, send_id)
    return SendOutcome(send_id, state, counts, uncertain_batches, note, getattr(provider, "requests", 0))


def _recipient(settings: Settings, secret: bytes, issue_id: str, row: Any) -> Any:
    from digest.providers import Recipient

    name = f"{row.first_name} {row.last_name}".strip() if row.last_name else row.first_name
    personal = personal_values(settings, secret, issue_id, row.subscriber_id, row.id, row.first_name)
    return Recipient(delivery_id=row.id, email=row.email, name=name, personal=personal)


def _flush(engine: Engine, answered: tuple[int, list[Any], Any] | None) -> None:
    if answered is not None:
        with db.write(engine) as conn:
            _record_result(conn, *answered)


def _claim_batch(
    conn: Connection, send_id: int, variant: str, size: int, issue_id: str, holder: str
) -> tuple[int, list[Any]] | None:
    """Mark the next pending rows of a variant ``sending`` (committed before the provider is called).

    Rows whose subscriber has since unsubscribed, bounced or been suppressed
    are skipped here, with the reason: the plan is honoured, the news too.
    Returns None when no pending rows are left.
    """
    suppressed = S.c.email_hash.in_(sa.select(db.suppressions.c.email_hash))
    query = (
        sa.select(
            D.c.id,
            D.c.subscriber_id,
            S.c.email,
            S.c.first_name,
            S.c.last_name,
            S.c.status,
            suppressed.label("suppressed"),
            D.c.email.label("planned_email"),
        )
        .join(S, S.c.id == D.c.subscriber_id)
        .where(D.c.send_id == send_id, D.c.state == PENDING, D.c.variant == variant)
        .order_by(D.c.id)
        .limit(size)
    )
    now = db.utcnow()
    heartbeat(conn, issue_id, holder)
    rows = conn.execute(query).all()
    if not rows:
        return None
    skipped = [row for row in rows if row.status != "active" or row.suppressed]
    for row in skipped:
        reason = f"{row.status} since the send was planned" if row.status != "active" else "suppressed"
        conn.execute(D.update().where(D.c.id == row.id).values(state=SKIPPED, error=reason, updated_at=now))
    claimed = [row for row in rows if row.status == "active" and not row.suppressed]
    if not claimed:
        return 0, []
    batch_id = conn.execute(
        db.send_batches.insert()
        .values(send_id=send_id, state=SENDING, size=len(claimed), started_at=now)
        .returning(db.send_batches.c.id)
    ).scalar_one()
    conn.execute(
        D.update()
        .where(D.c.id.in_([row.id for row in claimed]), D.c.state == PENDING)
        .values(state=SENDING, batch_id=batch_id, attempts=D.c.attempts + 1, updated_at=now)
    )
    moved = [{"d": row.id, "e": row.email} for row in claimed if row.email != row.planned_email]
    if moved:
        # An admin corrected the address after planning: record the one we mail.
        conn.execute(D.update().where(D.c.id == sa.bindparam("d")).values(email=sa.bindparam("e")), moved)
    return batch_id, claimed


def _record_result(conn: Connection, batch_id: int, claimed: Sequence[Any], result: Any) -> None:
    now = db.utcnow()
    accepted = [{"d": claimed[i].id, "m": message_id} for i, message_id in result.accepted.items()]
    failed = [{"d": claimed[i].id, "e": error} for i, error in result.failed.items()]
    answered = set(result.accepted) | set(result.failed) | set(getattr(result, "uncertain", {}))
    if accepted:
        message_ids = {item["m"] for item in accepted}
        if len(message_ids) == 1:
            # One message id for the whole request (SendGrid): one UPDATE.
            conn.execute(
                D.update()
                .where(D.c.id.in_([item["d"] for item in accepted]), D.c.state == SENDING)
                .values(state=ACCEPTED, provider_message_id=message_ids.pop(), updated_at=now)
            )
        else:
            conn.execute(
                D.update()
                .where(D.c.id == sa.bindparam("d"), D.c.state == SENDING)
                .values(state=ACCEPTED, provider_message_id=sa.bindparam("m"), updated_at=now),
                accepted,
            )
    if failed:
        conn.execute(
            D.update()
            .where(D.c.id == sa.bindparam("d"), D.c.state == SENDING)
            .values(state=FAILED, error=sa.bindparam("e"), updated_at=now),
            failed,
        )
    unanswered = [row.id for index, row in enumerate(claimed) if index not in answered]
    uncertain = bool(getattr(result, "uncertain", {})) or bool(unanswered)
    state = "accepted" if not failed and not uncertain else ("failed" if not accepted else "partial")
    conn.execute(
        db.send_batches.update()
        .where(db.send_batches.c.id == batch_id)
        .values(state=state, finished_at=now, provider_message_id=accepted[0]["m"] if accepted else None)
    )


def _settle_batch(engine: Engine, batch_id: int, state: str, error: str) -> None:
    with db.write(engine) as conn:
        conn.execute(
            db.send_batches.update()
            .where(db.send_batches.c.id == batch_id)
            .values(state=state, error=error, finished_at=db.utcnow())
        )


def _fail_batch(engine: Engine, batch_id: int, error: str) -> None:
    """The provider refused the batch: its rows failed, with the provider's reason."""
    with db.write(engine) as conn:
        conn.execute(
            D.update()
            .where(D.c.batch_id == batch_id, D.c.state == SENDING)
            .values(state=FAILED, error=error, updated_at=db.utcnow())
        )
        conn.execute(
            db.send_batches.update()
            .where(db.send_batches.c.id == batch_id)
            .values(state="failed", error=error, finished_at=db.utcnow())
        )


def _return_batch(engine: Engine, batch_id: int, error: str) -> None:
    """Nothing was sent (credentials refused, provider unavailable): the rows wait for a resume."""
    with db.write(engine) as conn:
        conn.execute(
            D.update()
            .where(D.c.batch_id == batch_id, D.c.state == SENDING)
            .values(state=PENDING, batch_id=None, updated_at=db.utcnow())
        )
        conn.execute(
            db.send_batches.update()
            .where(db.send_batches.c.id == batch_id)
            .values(state="failed", error=error, finished_at=db.utcnow())
        )


# --- reconciliation -----------------------------------------------------------------------


def reconcile(conn: Connection, delivery_id: int, *, accepted: bool, message_id: str | None, error: str = "") -> bool:
    """Settle one uncertain delivery from the provider's evidence (an event); True if it changed."""
    values: dict[str, Any] = {"state": ACCEPTED if accepted else FAILED, "updated_at": db.utcnow()}
    if message_id:
        values["provider_message_id"] = message_id
    if error:
        values["error"] = error
    result = conn.execute(D.update().where(D.c.id == delivery_id, D.c.state == SENDING).values(**values))
    return result.rowcount == 1


# --- finding sends --------------------------------------------------------------------------


@dataclass(frozen=True)
class SendSummary:
    id: int
    issue_id: str
    state: str
    provider: str
    segments: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    scheduled_at: datetime | None
    note: str
    counts: dict[str, int]


def list_sends(engine: Engine, issue_id: str | None = None) -> list[SendSummary]:
    query = sa.select(db.sends).order_by(db.sends.c.id)
    if issue_id:
        query = query.where(db.sends.c.issue_id == issue_id)
    with db.read(engine) as conn:
        return [
            SendSummary(
                row.id,
                row.issue_id,
                row.state,
                row.provider,
                list(row.segments),
                row.created_at,
                row.started_at,
                row.finished_at,
                row.scheduled_at,
                row.note,
                delivery_counts(conn, row.id),
            )
            for row in conn.execute(query).all()
        ]


def open_send(engine: Engine, issue_id: str) -> SendSummary | None:
    """The issue's unfinished send, if any."""
    found = [s for s in list_sends(engine, issue_id) if s.state in OPEN_STATES or s.state == SEND_FAILED]
    return found[-1] if found else None


def deliveries_of(engine: Engine, subscriber_id: int) -> list[Any]:
    query = (
        sa.select(D.c.issue_id, D.c.segment, D.c.state, D.c.updated_at, D.c.error, D.c.provider_message_id)
        .where(D.c.subscriber_id == subscriber_id)
        .order_by(D.c.id)
    )
    with db.read(engine) as conn:
        return list(conn.execute(query).all())


# --- test sends ------------------------------------------------------------------------------


def send_test_copies(
    engine: Engine,
    settings: Settings,
    issue_ref: str,
    addresses: Iterable[str],
    *,
    segment: str | None = None,
    provider: Any = None,
) -> tuple[int, list[str]]:
    """Send a segment's variant, subject prefixed [TEST], to the given addresses only.

    Nothing is recorded in the ledger. Returns (accepted, failure messages).
    """
    from digest.emails import check_address
    from digest.issues import load_view
    from digest.providers import Batch, Recipient, make_provider
    from digest.render import render_issue
    from digest.segments import find_segments

    secret = settings.require_secret_key()
    checked = [check_address(address) for address in addresses]
    if not checked:
        raise InputError("give at least one --test-to address")
    topics = find_segments(settings, [segment])[0].topics if segment else None
    view = load_view(engine, settings, issue_ref)
    rendered = render_issue(view, settings, topics=topics, segment=segment)
    provider = provider or make_provider(settings)
    recipients = [
        Recipient(None, address.email, "", personal_values(settings, secret, view.issue.id, 0, 0, ""))
        for address in checked
    ]
    try:
        result = provider.send(Batch(view.issue.id, None, rendered, recipients, test=True))
    finally:
        provider.close()
    failures = [f"{recipients[i].email}: {error}" for i, error in result.failed.items()]
    return len(result.accepted), failures


# --- the whole command ------------------------------------------------------------------------


def start_send(
    engine: Engine,
    settings: Settings,
    issue_ref: str,
    segment_names: Sequence[str],
    *,
    provider_name: str | None = None,
    dry_run: bool = False,
    at: datetime | None = None,
    confirm: Callable[[Plan], bool] = lambda _plan: True,
    show_plan: Callable[[Plan], None] = lambda _plan: None,
    provider: Any = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> tuple[Plan, SendOutcome | None]:
    """`digest send`: check, approve, plan, confirm, then send (or schedule for ``at``).

    Nothing is written on a dry run or a "no".
    """
    from digest.approval import require_approval

    settings.require_secret_key()
    issue_id, story_counts = _checked_issue(engine, settings, issue_ref, segment_names)
    existing = open_send(engine, issue_id)
    if existing is not None and not dry_run:
        raise StateError(
            f"issue {issue_id} already has an unfinished send (#{existing.id}, {existing.state}); "
            + (
                f"cancel it with `digest send {issue_id} --cancel`"
                if existing.state == SCHEDULED
                else f"continue it with `digest send {issue_id} --resume`"
            )
        )
    chosen = provider_name or settings.provider
    plan = plan_send(
        engine, settings, issue_id, segment_names, provider=chosen, dry_run=True, story_counts=story_counts
    )
    show_plan(plan)
    if dry_run or (plan.total == 0 and at is None):
        return plan, None
    require_approval(engine, settings, issue_ref)
    if not confirm(plan):
        return plan, None
    if at is not None and at > db.utcnow():
        plan.send_id = schedule_send(engine, issue_id, segment_names, chosen, at)
        return plan, None
    plan = plan_send(engine, settings, issue_id, segment_names, provider=chosen, story_counts=story_counts)
    if plan.send_id is None:
        return plan, None  # everyone was mailed meanwhile (by a send that started at the same moment)
    return plan, _run_planned(
        engine, settings, plan.send_id, provider=provider, stop=stop, on_progress=on_progress, on_notice=on_notice
    )


def _checked_issue(
    engine: Engine, settings: Settings, issue_ref: str, segment_names: Sequence[str]
) -> tuple[str, dict[str, int]]:
    """Run `digest check` (an error stops the send); (issue id, stories per segment)."""
    from digest.checks import check_issue
    from digest.issues import load_view
    from digest.render import render_issue
    from digest.segments import find_segments

    report = check_issue(engine, settings, issue_ref)
    if not report.passed:
        first = report.errors[0].message
        raise DigestError(f"`digest check` found {len(report.errors)} error(s), the first: {first}; fix them first")
    view = load_view(engine, settings, issue_ref)
    story_counts = {
        segment.name: len(render_issue(view, settings, topics=segment.topics).story_ids)
        for segment in find_segments(settings, segment_names)
    }
    return view.issue.id, story_counts


def _run_planned(engine: Engine, settings: Settings, send_id: int, **options: Any) -> SendOutcome:
    from digest.approval import freeze_sent

    freeze_sent(engine, settings, send_id)
    return run_send(engine, settings, send_id, **options)


# --- scheduling ----------------------------------------------------------------------------


def schedule_send(engine: Engine, issue_id: str, segment_names: Sequence[str], provider: str, at: datetime) -> int:
    """Record a send for later; `digest run-due` plans and sends it when it is due."""
    with db.write(engine) as conn:
        return int(
            conn.execute(
                db.sends.insert()
                .values(
                    issue_id=issue_id,
                    state=SCHEDULED,
                    provider=provider,
                    segments=list(segment_names),
                    created_at=db.utcnow(),
                    scheduled_at=at,
                )
                .returning(db.sends.c.id)
            ).scalar_one()
        )


def cancel_send(engine: Engine, settings: Settings, issue_ref: str) -> int:
    """`digest send ISSUE --cancel`: cancel a scheduled send before it starts; returns its id."""
    from digest.issues import issue_path

    issue_id = issue_path(settings, issue_ref).parent.name
    with db.write(engine) as conn:
        row = conn.execute(
            sa.select(db.sends.c.id, db.sends.c.state)
            .where(db.sends.c.issue_id == issue_id, db.sends.c.state.in_(OPEN_STATES))
            .order_by(db.sends.c.id.desc())
        ).first()
        if row is None:
            raise NotFoundError(f"issue {issue_id} has no scheduled send to cancel")
        if row.state != SCHEDULED:
            raise StateError(
                f"send #{row.id} of issue {issue_id} has started ({row.state}); it can be paused, not cancelled"
            )
        result = conn.execute(
            db.sends.update()
            .where(db.sends.c.id == row.id, db.sends.c.state == SCHEDULED)
            .values(state=CANCELLED, finished_at=db.utcnow(), note="cancelled before it started")
        )
        if result.rowcount != 1:
            raise StateError(f"send #{row.id} started while it was being cancelled")
    return int(row.id)


@dataclass
class DueResult:
    send_id: int
    issue_id: str
    outcome: SendOutcome | None
    error: str = ""


def run_due(
    engine: Engine, settings: Settings, *, now: datetime | None = None, on_notice: Callable[[str], None] | None = None
) -> list[DueResult]:
    """`digest run-due`: send every scheduled send that is due.

    Safe every minute, twice at once or after a missed hour: each due send is
    claimed with one conditional UPDATE, so only one runner takes it, and a
    late runner sends whatever is overdue.
    """
    from digest.approval import require_approval

    now = now or db.utcnow()
    with db.read(engine) as conn:
        due = conn.execute(
            sa.select(db.sends)
            .where(db.sends.c.state == SCHEDULED, db.sends.c.scheduled_at <= now)
            .order_by(db.sends.c.scheduled_at)
        ).all()
    results = []
    for send in due:
        with db.write(engine) as conn:
            claimed = (
                conn.execute(
                    db.sends.update()
                    .where(db.sends.c.id == send.id, db.sends.c.state == SCHEDULED)
                    .values(state=PLANNED, started_at=db.utcnow())
                ).rowcount
                == 1
            )
        if not claimed:
            continue  # another runner took it
        try:
            _issue_id, story_counts = _checked_issue(engine, settings, send.issue_id, send.segments)
            require_approval(engine, settings, send.issue_id)
            plan_send(
                engine,
                settings,
                send.issue_id,
                send.segments,
                provider=send.provider,
                story_counts=story_counts,
                existing_send=send.id,
            )
            outcome = _run_planned(engine, settings, send.id, on_notice=on_notice)
            results.append(DueResult(send.id, send.issue_id, outcome))
        except DigestError as exc:
            with db.write(engine) as conn:
                _set_send_state(conn, send.id, SEND_FAILED, str(exc))
            results.append(DueResult(send.id, send.issue_id, None, str(exc)))
    return results


def resume_send(
    engine: Engine,
    settings: Settings,
    issue_ref: str,
    *,
    resend_uncertain: bool = False,
    provider: Any = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> SendOutcome:
    """`digest send ISSUE --resume`: continue the issue's unfinished send."""
    from digest.issues import issue_path

    issue_id = issue_path(settings, issue_ref).parent.name
    existing = open_send(engine, issue_id)
    if existing is None:
        raise NotFoundError(
            f"issue {issue_id} has no unfinished send to resume; `digest sends {issue_id}` lists its sends"
        )
    return run_send(
        engine,
        settings,
        existing.id,
        provider=provider,
        resume=True,
        resend_uncertain=resend_uncertain,
        stop=stop,
        on_progress=on_progress,
        on_notice=on_notice,
    )
