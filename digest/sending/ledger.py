"""The ledger: one row per (issue, person), and the only code that writes a delivery's state.

A batch is claimed (rows ``pending`` → ``sending``, committed) before the
provider is called and recorded (``accepted`` / ``failed``) after it answers.
Rows left in ``sending`` by a crash or a timeout are uncertain until the
provider's events settle them (:func:`settle_uncertain`) or the operator asks
for them to be sent again (:func:`requeue_uncertain`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.errors import StateError
from digest.providers.base import BatchResult
from digest.providers.registry import ONE_REQUEST_PER_BATCH
from digest.sending.states import OPEN_SEND_STATES, BatchState, DeliveryState, SendState
from digest.store import db
from digest.store.bulk import select_in

D = db.deliveries
S = db.subscribers
# A send of another kind than an issue's (a correction of one story, digest.corrections) goes through the same
# ledger under its own key, "<issue id>/<what>": one row per (key, person). An issue id never holds this
# separator (digest.issues.issue), so no such key is ever taken for an issue by the archive, the feed or the reports.
KEY_SEPARATOR = "/"


# --- planning ------------------------------------------------------------------------------


def add_planned(conn: Connection, rows: sa.Select[Any]) -> None:
    """Insert planned deliveries from ``rows`` (send, issue, subscriber, email, segment, variant, updated_at).

    Insert-or-nothing on (issue, person): nobody can get a second row for an issue.
    """
    columns = ["send_id", "issue_id", "subscriber_id", "email", "segment", "variant", "updated_at"]
    select = rows.add_columns(sa.literal(DeliveryState.PENDING.value).label("state"))
    conn.execute(
        db.dialect_insert(conn, D)
        .from_select([*columns, "state"], select)
        .on_conflict_do_nothing(index_elements=["issue_id", "subscriber_id"])
    )


# --- claiming and recording batches ---------------------------------------------------------------


def _next_pending(send_id: int, variant: str, size: int) -> sa.Select[Any]:
    suppressed = S.c.email_hash.in_(sa.select(db.suppressions.c.email_hash))
    return (
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
        .where(D.c.send_id == send_id, D.c.state == DeliveryState.PENDING, D.c.variant == variant)
        .order_by(D.c.id)
        .limit(size)
    )


def claim_batch(
    conn: Connection,
    send_id: int,
    variant: str,
    size: int,
    *,
    on_claim: Callable[[list[Any]], None] | None = None,
) -> tuple[int, list[Any]] | None:
    """Mark the next pending rows of a variant ``sending`` (committed before the provider is called).

    Rows whose subscriber has since unsubscribed, bounced or been suppressed
    are skipped here, with the reason: the plan is honoured, the news too.
    Returns None when no pending rows are left, and (0, []) when every row of
    this lot was skipped. Each claimed row is (id, subscriber_id, email,
    first_name, last_name, status, suppressed, planned_email), in that order.
    ``on_claim`` is given the rows to be claimed before the claim is written, so the
    caller can prepare their request meanwhile (it sends nothing before the commit).
    """
    query = _next_pending(send_id, variant, size)
    now = db.utcnow()
    rows = conn.execute(query).all()
    if not rows:
        return None
    # One pass, the rows unpacked (a thousand rows' look-ups by name cost more than the query).
    skipped: list[dict[str, Any]] = []
    claimed: list[Any] = []
    moved: list[dict[str, Any]] = []
    for row in rows:
        delivery_id, _subscriber, email, _first, _last, status, suppressed, planned_email = row
        if status != "active" or suppressed:
            reason = f"{status} since the send was planned" if status != "active" else "suppressed"
            skipped.append({"d": delivery_id, "e": reason})
            continue
        claimed.append(row)
        if email != planned_email:
            moved.append({"d": delivery_id, "e": email})
    if skipped:
        conn.execute(
            D.update()
            .where(D.c.id == sa.bindparam("d"))
            .values(state=DeliveryState.SKIPPED, error=sa.bindparam("e"), updated_at=now),
            skipped,
        )
    if not claimed:
        return 0, []
    if on_claim is not None:
        on_claim(claimed)
    batch_id = conn.execute(
        db.send_batches.insert()
        .values(send_id=send_id, state=BatchState.SENDING, size=len(claimed), started_at=now)
        .returning(db.send_batches.c.id)
    ).scalar_one()
    # The rows read above were the variant's first pending ones by id, and the skipped ones are
    # no longer pending: so the pending rows up to the last id are exactly the claimed ones. One
    # range UPDATE (a few bound values) instead of a list of a thousand ids; the count proves it.
    moved_to_sending = conn.execute(
        D.update()
        .where(
            D.c.send_id == send_id,
            D.c.state == DeliveryState.PENDING,
            D.c.variant == variant,
            D.c.id.between(claimed[0][0], claimed[-1][0]),
        )
        .values(state=DeliveryState.SENDING, batch_id=batch_id, attempts=D.c.attempts + 1, updated_at=now)
    ).rowcount
    if moved_to_sending != len(claimed):
        raise StateError(f"the ledger changed while batch {batch_id} was claimed; run `digest send --resume`")
    if moved:
        # An admin corrected the address after planning: record the one we mail.
        conn.execute(D.update().where(D.c.id == sa.bindparam("d")).values(email=sa.bindparam("e")), moved)
    return batch_id, claimed


def record_result(conn: Connection, batch_id: int, claimed: Sequence[Any], result: BatchResult) -> None:
    """The provider's answer for a claimed batch: accepted rows with their message id, failed with the reason.

    Rows the provider reported as uncertain, or did not mention, stay ``sending``.
    """
    now = db.utcnow()
    message_ids = set(result.accepted.values())
    whole = len(result.accepted) == len(claimed) and len(message_ids) == 1
    accepted = [] if whole else [{"d": claimed[i][0], "m": message_id} for i, message_id in result.accepted.items()]
    failed = [{"d": claimed[i][0], "e": error} for i, error in result.failed.items()]
    answered = set(result.accepted) | set(result.failed) | set(result.uncertain)
    if whole:
        # The whole batch in one request (SendGrid): one UPDATE of the batch's rows by their id range.
        conn.execute(
            D.update()
            .where(
                D.c.batch_id == batch_id,
                D.c.state == DeliveryState.SENDING,
                D.c.id.between(claimed[0][0], claimed[-1][0]),
            )
            .values(state=DeliveryState.ACCEPTED, provider_message_id=next(iter(message_ids)), updated_at=now)
        )
    elif accepted:
        conn.execute(
            D.update()
            .where(D.c.id == sa.bindparam("d"), D.c.state == DeliveryState.SENDING)
            .values(state=DeliveryState.ACCEPTED, provider_message_id=sa.bindparam("m"), updated_at=now),
            accepted,
        )
    if failed:
        conn.execute(
            D.update()
            .where(D.c.id == sa.bindparam("d"), D.c.state == DeliveryState.SENDING)
            .values(state=DeliveryState.FAILED, error=sa.bindparam("e"), updated_at=now),
            failed,
        )
    unanswered = len(claimed) > len(answered)
    uncertain = bool(result.uncertain) or unanswered
    if not failed and not uncertain:
        state = BatchState.ACCEPTED
    else:
        state = BatchState.FAILED if not result.accepted else BatchState.PARTIAL
    first_message = next(iter(result.accepted.values()), None)
    conn.execute(
        db.send_batches.update()
        .where(db.send_batches.c.id == batch_id)
        .values(state=state, finished_at=now, provider_message_id=first_message)
    )


def mark_batch_uncertain(conn: Connection, batch_id: int, error: str) -> None:
    """No answer in time: the batch's rows stay ``sending`` (uncertain) and are never resent blindly."""
    conn.execute(
        db.send_batches.update()
        .where(db.send_batches.c.id == batch_id)
        .values(state=BatchState.UNCERTAIN, error=error, finished_at=db.utcnow())
    )


def fail_batch(conn: Connection, batch_id: int, error: str) -> None:
    """The provider refused the batch: its rows failed, with the provider's reason."""
    now = db.utcnow()
    conn.execute(
        D.update()
        .where(D.c.batch_id == batch_id, D.c.state == DeliveryState.SENDING)
        .values(state=DeliveryState.FAILED, error=error, updated_at=now)
    )
    conn.execute(
        db.send_batches.update()
        .where(db.send_batches.c.id == batch_id)
        .values(state=BatchState.FAILED, error=error, finished_at=now)
    )


def return_batch(conn: Connection, batch_id: int, error: str) -> None:
    """Nothing was sent (credentials refused, provider unavailable): the rows wait for a resume."""
    now = db.utcnow()
    conn.execute(
        D.update()
        .where(D.c.batch_id == batch_id, D.c.state == DeliveryState.SENDING)
        .values(state=DeliveryState.PENDING, batch_id=None, updated_at=now)
    )
    conn.execute(
        db.send_batches.update()
        .where(db.send_batches.c.id == batch_id)
        .values(state=BatchState.FAILED, error=error, finished_at=now)
    )


# --- uncertain deliveries ------------------------------------------------------------------------


def count_uncertain(conn: Connection, send_id: int) -> int:
    query = sa.select(sa.func.count()).where(D.c.send_id == send_id, D.c.state == DeliveryState.SENDING)
    return int(conn.execute(query).scalar_one())


def requeue_uncertain(conn: Connection, send_id: int) -> int:
    """`--resend-uncertain`: the operator accepts the risk of a second copy; rows go back to pending."""
    result = conn.execute(
        D.update()
        .where(D.c.send_id == send_id, D.c.state == DeliveryState.SENDING)
        .values(state=DeliveryState.PENDING, batch_id=None, updated_at=db.utcnow())
    )
    return int(result.rowcount)


def settle_uncertain(
    conn: Connection,
    *,
    accepted: Mapping[int, str | None],
    dropped: Mapping[int, str],
    batches: Mapping[int, int | None] | None = None,
) -> int:
    """Settle uncertain deliveries from the provider's own word; returns how many changed.

    ``accepted`` maps a delivery to the message id of an event that proves the
    provider took it; ``dropped`` maps a delivery to the provider's drop reason.
    Only rows still ``sending`` change: an event never undoes a recorded answer.
    Where the provider takes a batch in one request (SendGrid), an event for any
    one of its recipients proves the request arrived: the whole batch is settled.
    ``batches`` gives each delivery's batch when the caller has just read it.
    """
    # A row is only ever `sending` inside a batch not yet recorded as wholly accepted; most events
    # are about batches that were, and then there is nothing to settle (one look-up by id).
    open_batches = _open_batches(conn, [*accepted, *dropped], batches)
    if not open_batches:
        return 0
    now = db.utcnow()
    settled = 0
    for delivery_id, reason in dropped.items():
        result = conn.execute(
            D.update()
            .where(D.c.id == delivery_id, D.c.state == DeliveryState.SENDING)
            .values(state=DeliveryState.FAILED, error=f"dropped by the provider: {reason}", updated_at=now)
        )
        settled += result.rowcount
    by_message: dict[str | None, list[int]] = {}
    for delivery_id, message_id in accepted.items():
        by_message.setdefault(message_id, []).append(delivery_id)
    for message_id, delivery_ids in by_message.items():
        values: dict[str, Any] = {"state": DeliveryState.ACCEPTED, "updated_at": now}
        if message_id:
            values["provider_message_id"] = message_id
        result = conn.execute(
            D.update().where(D.c.id.in_(delivery_ids), D.c.state == DeliveryState.SENDING).values(**values)
        )
        settled += result.rowcount
    return settled + _settle_whole_batches(conn, open_batches, now)


def _open_batches(conn: Connection, delivery_ids: Sequence[int], known: Mapping[int, int | None] | None) -> list[int]:
    """The batches of these deliveries that may still hold rows in ``sending``."""
    if known is not None and all(delivery_id in known for delivery_id in delivery_ids):
        batch_ids = {known[delivery_id] for delivery_id in delivery_ids} - {None}
    else:
        batch_ids = {batch for (batch,) in select_in(conn, D, ("batch_id",), "id", list(delivery_ids)) if batch}
    if not batch_ids:
        return []
    b = db.send_batches
    query = sa.select(b.c.id).where(b.c.id.in_(sorted(batch_ids)), b.c.state != BatchState.ACCEPTED)
    return list(conn.execute(query).scalars())


def _settle_whole_batches(conn: Connection, batch_ids: Sequence[int], now: datetime) -> int:
    b = db.send_batches
    whole = list(
        conn.execute(
            sa.select(b.c.id, b.c.send_id)
            .join(db.sends, db.sends.c.id == b.c.send_id)
            .where(b.c.id.in_(list(batch_ids)), db.sends.c.provider.in_(sorted(ONE_REQUEST_PER_BATCH)))
        ).all()
    )
    if not whole:
        return 0
    result = conn.execute(
        D.update()
        .where(
            D.c.send_id.in_(sorted({send_id for _, send_id in whole})),  # the (send, state) index finds them
            D.c.state == DeliveryState.SENDING,
            D.c.batch_id.in_([batch_id for batch_id, _ in whole]),
        )
        .values(state=DeliveryState.ACCEPTED, updated_at=now)
    )
    conn.execute(
        b.update()
        .where(b.c.id.in_([batch_id for batch_id, _ in whole]), b.c.state == BatchState.UNCERTAIN)
        .values(state=BatchState.ACCEPTED, error="settled by the provider's events")
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class SilentBatch:
    batch_id: int
    size: int


def release_silent_batches(conn: Connection, send_id: int, quiet: timedelta) -> list[SilentBatch]:
    """Uncertain batches the provider never took: their rows go back to ``pending``.

    A batch counts as never taken when it is one request (SendGrid), no event
    came for any of its recipients for ``quiet`` since it timed out, and other
    batches of the same send did get events, so events are known to arrive.
    Without that evidence nothing changes: the rows stay uncertain.
    """
    provider = conn.execute(sa.select(db.sends.c.provider).where(db.sends.c.id == send_id)).scalar()
    if provider not in ONE_REQUEST_PER_BATCH:
        return []
    e, b = db.events, db.send_batches
    heard = set(
        conn.execute(
            sa.select(D.c.batch_id).join(e, e.c.delivery_id == D.c.id).where(D.c.send_id == send_id).distinct()
        ).scalars()
    )
    if not heard:
        return []  # no event at all for this send: the webhook may not work; decide nothing
    cutoff = db.utcnow() - quiet
    candidates = conn.execute(
        sa.select(b.c.id, b.c.size)
        .where(b.c.send_id == send_id, b.c.state == BatchState.UNCERTAIN, b.c.finished_at <= cutoff)
        .order_by(b.c.id)
    ).all()
    released = []
    for batch_id, size in candidates:
        if batch_id in heard:
            continue
        now = db.utcnow()
        conn.execute(
            D.update()
            .where(D.c.batch_id == batch_id, D.c.state == DeliveryState.SENDING)
            .values(state=DeliveryState.PENDING, batch_id=None, updated_at=now)
        )
        conn.execute(
            b.update()
            .where(b.c.id == batch_id)
            .values(state=BatchState.NOT_TAKEN, error=f"no event for any recipient within {quiet}")
        )
        released.append(SilentBatch(batch_id, size))
    return released


# --- sends -------------------------------------------------------------------------------------


def delivery_counts(conn: Connection, send_id: int) -> dict[str, int]:
    """How many of a send's deliveries are in each state (every state present, 0 if none)."""
    counts = {state.value: 0 for state in DeliveryState}
    for state, count in conn.execute(
        sa.select(D.c.state, sa.func.count()).where(D.c.send_id == send_id).group_by(D.c.state)
    ):
        counts[state] = count
    return counts


def count_pending(conn: Connection, send_id: int) -> int:
    query = sa.select(sa.func.count()).where(D.c.send_id == send_id, D.c.state == DeliveryState.PENDING)
    return int(conn.execute(query).scalar_one())


def set_send_state(conn: Connection, send_id: int, state: SendState, note: str | None = None) -> None:
    values: dict[str, Any] = {"state": state}
    if state in (SendState.DONE, SendState.FAILED, SendState.CANCELLED):
        values["finished_at"] = db.utcnow()
    if note is not None:
        values["note"] = note
    conn.execute(db.sends.update().where(db.sends.c.id == send_id).values(**values))


def mark_send_started(conn: Connection, send_id: int) -> None:
    """The send is sending; refused if it was cancelled (or finished) since the runner read it."""
    result = conn.execute(
        db.sends.update()
        .where(db.sends.c.id == send_id, db.sends.c.state.not_in((SendState.CANCELLED, SendState.DONE)))
        .values(state=SendState.SENDING, started_at=sa.func.coalesce(db.sends.c.started_at, db.utcnow()))
    )
    if result.rowcount != 1:
        raise StateError(f"send #{send_id} was cancelled or finished meanwhile; nothing was sent")


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
    """Every send (of one issue, or all), oldest first, with its delivery counts."""
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
    found = [s for s in list_sends(engine, issue_id) if s.state in (*OPEN_SEND_STATES, SendState.FAILED)]
    return found[-1] if found else None


def deliveries_of(engine: Engine, subscriber_id: int) -> list[Any]:
    """One subscriber's deliveries, oldest first (for `digest subscribers show`)."""
    query = (
        sa.select(D.c.issue_id, D.c.segment, D.c.state, D.c.updated_at, D.c.error, D.c.provider_message_id)
        .where(D.c.subscriber_id == subscriber_id)
        .order_by(D.c.id)
    )
    with db.read(engine) as conn:
        return list(conn.execute(query).all())


def sent_issue_ids(engine: Engine, *, only: str | None = None, limit: int | None = None) -> list[str]:
    """Issues that went out: at least one copy accepted by the provider, newest first.

    The one definition the archive, its feed and the reports share: a send that
    crashed or was refused before anything was accepted published nothing, and
    a correction's send (its own ledger key) is not an issue.
    """
    query = (
        sa.select(D.c.issue_id)
        .where(D.c.state == DeliveryState.ACCEPTED, D.c.issue_id.not_like(f"%{KEY_SEPARATOR}%"))
        .group_by(D.c.issue_id)
        .order_by(sa.func.max(D.c.id).desc())
    )
    if only is not None:
        query = query.where(D.c.issue_id == only)
    if limit is not None:
        query = query.limit(limit)
    with db.read(engine) as conn:
        return list(conn.execute(query).scalars())
