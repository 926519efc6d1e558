"""Provider events: the one ingest path (store once, place), and the rules.

Every source (SendGrid's signed webhook, `digest events import`, bounce
mailboxes, SendGrid's suppression lists) produces
:class:`~digest.events.event.Event` records (each provider translates its own
format, see :mod:`digest.providers`) and hands them to :func:`ingest`, the one
code path that stores them and acts on them. Events
are stored once (the same provider event twice changes nothing), the raw
payload is kept beside the normalised fields, and an event that cannot be
placed is stored and reported, never dropped.

Rules (thresholds in digest.toml ``[events]``):

* hard bounce (SendGrid ``bounce`` of type ``bounce``; from a bounce mailbox,
  a hard reason of digest.events.bounce_reasons) → bounced;
* soft bounce (``blocked``; from a mailbox, a soft reason) raises a score at
  most once a day, by ``[events.soft_bounce_scores]`` for its reason (1 when
  not set), which resets after ``soft_bounce_reset_days`` without one; at
  ``soft_bounce_threshold`` → bounced. Deferrals and auto-replies never count;
* spam complaint → complained; unsubscribe of any kind → unsubscribed;
  group resubscribe undoes only the person's own unsubscribe;
* dropped for "Bounced Address", "Unsubscribed Address" or "Spam Reporting
  Address" → the matching status; other drop reasons are reported;
* any event for a delivery left uncertain by a crashed send settles it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.events.event import Event
from digest.people.statusbook import StatusBook
from digest.people.subscribers import ACTIVE, BOUNCED, COMPLAINED, UNSUBSCRIBED
from digest.sending.ledger import settle_uncertain
from digest.store import db
from digest.store.bulk import insert_returning, select_in

# Drop reasons that mean SendGrid already knows this address must not be mailed.
DROP_STATUS = {
    "bounced address": BOUNCED,
    "unsubscribed address": UNSUBSCRIBED,
    "spam reporting address": COMPLAINED,
}
# Every event but these proves the provider took the message (and settles an uncertain delivery).
NOT_PROOF_OF_ACCEPTANCE = frozenset({"dropped", "unknown"})


@dataclass
class IngestReport:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    unplaced: int = 0
    reconciled: int = 0
    changes: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)  # drop reasons and other things to look at

    def merge(self, other: IngestReport) -> None:
        self.received += other.received
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.unplaced += other.unplaced
        self.reconciled += other.reconciled
        self.changes.extend(other.changes)
        self.reported.extend(other.reported)


# --- the one ingest path -----------------------------------------------------------------


def ingest(engine: Engine, settings: Settings, events: Sequence[Event]) -> IngestReport:
    """Store events once, place them, settle uncertain deliveries and apply the rules, in one transaction."""
    report = IngestReport(received=len(events))
    if not events:
        return report
    batch = uuid.uuid4().hex
    now = db.utcnow()
    # The same event twice in one body is stored once too.
    unique: dict[tuple[str, str], Event] = {}
    for event in events:
        unique.setdefault((event.provider, event.provider_event_id), event)
    with db.write(engine) as conn:
        events_in = list(unique.values())
        placed = _place(conn, events_in)
        rows = [
            (
                event.provider,
                event.provider_event_id,
                event.type,
                event.raw_type,
                event.occurred_at,
                now,
                event.email,
                place[0],
                place[1],
                place[2],
                event.message_id,
                event.bounce_class,
                event.status,
                event.reason,
                event.url,
                event.machine_open,
                place[1] is not None,
                "",
                batch,
                event.raw,
                event.bounce_reason,
                event.parser,
                event.matched_by,
            )
            for event, place in zip(events_in, placed, strict=True)
        ]
        # RETURNING names the rows that went in (a duplicate is skipped and not returned), so
        # nothing is read back: a read-back by batch would scan the whole, ever-growing table.
        ids = {
            (provider, event_id): number
            for number, provider, event_id in insert_returning(
                conn,
                db.events,
                rows,
                _EVENT_COLUMNS,
                returning=("id", "provider", "provider_event_id"),
                ignore_conflicts=("provider", "provider_event_id"),
            )
        }
        stored = sorted(
            (
                _Stored.of(ids[(event.provider, event.provider_event_id)], event, place)
                for event, place in zip(events_in, placed, strict=True)
                if (event.provider, event.provider_event_id) in ids
            ),
            key=lambda row: (row.occurred_at, row.id),
        )
        report.stored = len(stored)
        report.duplicates = len(events) - len(stored)
        report.unplaced = sum(1 for row in stored if not row.placed)
        # The batch of each delivery, as placing read it: settling needs no second look-up.
        batch_of = {place[0]: place[3] for place in placed if place[0] is not None}
        report.reconciled = _reconcile(conn, stored, batch_of)
        _apply_rules(conn, settings, stored, report)
    return report


_EVENT_COLUMNS = (
    "provider",
    "provider_event_id",
    "type",
    "raw_type",
    "occurred_at",
    "received_at",
    "email",
    "delivery_id",
    "subscriber_id",
    "issue_id",
    "message_id",
    "bounce_class",
    "status",
    "reason",
    "url",
    "machine_open",
    "placed",
    "outcome",
    "ingest_batch",
    "raw",
    "bounce_reason",
    "parser",
    "matched_by",
)


class _Stored(NamedTuple):
    """A stored event as the settling and the rules read it (what the row in the table now holds)."""

    id: int
    type: str
    raw_type: str
    delivery_id: int | None
    subscriber_id: int | None
    email: str
    reason: str
    status: str
    message_id: str | None
    occurred_at: datetime
    placed: bool
    bounce_reason: str
    parser: str

    @classmethod
    def of(cls, number: int, event: Event, place: tuple[int | None, int | None, str | None, int | None]) -> _Stored:
        return cls(
            number,
            event.type,
            event.raw_type,
            place[0],
            place[1],
            event.email,
            event.reason,
            event.status,
            event.message_id,
            event.occurred_at.astimezone(UTC),  # as the table gives it back
            place[1] is not None,
            event.bounce_reason,
            event.parser,
        )


def _place(conn: Connection, events: Sequence[Event]) -> list[tuple[int | None, int | None, str | None, int | None]]:
    """(delivery id, subscriber id, issue id, delivery's batch id) of each event: from our custom args,
    else the message id and the address."""
    d = db.deliveries
    Place = tuple[int | None, int | None, str | None, int | None]
    ids = {event.delivery_id for event in events if event.delivery_id}
    by_id: dict[int, Place] = {}
    if ids:
        found_ids = select_in(conn, d, ("id", "subscriber_id", "issue_id", "batch_id"), "id", list(ids))
        by_id = {number: (number, subscriber, issue, batch) for number, subscriber, issue, batch in found_ids}
    message_ids = {event.message_id for event in events if event.message_id and event.delivery_id not in by_id}
    by_message: dict[tuple[str, str], Place] = {}
    if message_ids:
        message_query = sa.select(
            d.c.id, d.c.subscriber_id, d.c.issue_id, d.c.batch_id, d.c.email, d.c.provider_message_id
        ).where(d.c.provider_message_id.in_(list(message_ids)))
        for number, subscriber, issue, batch, email, message_id in conn.execute(message_query):
            by_message[(message_id, email.lower())] = (number, subscriber, issue, batch)
    emails = {event.email.lower() for event in events if event.email and event.delivery_id not in by_id}
    by_email: dict[str, int] = {}
    if emails:
        email_query = sa.select(db.subscribers.c.email_key, db.subscribers.c.id).where(
            db.subscribers.c.email_key.in_(list(emails))
        )
        by_email = {key: number for key, number in conn.execute(email_query)}
    found: list[Place] = []
    for event in events:
        place = by_id.get(event.delivery_id) if event.delivery_id else None
        if place is None and event.message_id:
            place = by_message.get((event.message_id, event.email.lower()))
        found.append(place or (None, by_email.get(event.email.lower()), event.issue_id, None))
    return found


def _reconcile(conn: Connection, stored: Sequence[Any], batch_of: dict[int, int | None]) -> int:
    """Settle deliveries left uncertain by a crash or a timeout, from the provider's own word."""
    accepted = {
        row.delivery_id: row.message_id for row in stored if row.delivery_id and row.type not in NOT_PROOF_OF_ACCEPTANCE
    }
    dropped = {row.delivery_id: row.reason for row in stored if row.delivery_id and row.type == "dropped"}
    return settle_uncertain(conn, accepted=accepted, dropped=dropped, batches=batch_of)


# Events that can change a subscriber (the rest are only counted in reports).
_ACTIONABLE = {
    "bounced",
    "blocked",
    "complained",
    "unsubscribed",
    "group-unsubscribed",
    "group-resubscribed",
    "dropped",
}


def _apply_rules(conn: Connection, settings: Settings, stored: Sequence[Any], report: IngestReport) -> None:
    actionable = [row for row in stored if row.type in _ACTIONABLE]
    # Everyone these events may change is read once and changed in memory, then written together.
    book = StatusBook(conn, (row.subscriber_id for row in actionable if row.subscriber_id is not None))
    outcomes = []
    for row in actionable:
        if row.subscriber_id is None:
            # Only events that could change someone are worth a line: an open from a stranger is not.
            report.reported.append(f"event {row.id} ({row.type} for {row.email or 'no address'}) matches no subscriber")
            continue
        outcome = _rule(book, settings, row)
        if row.type == "dropped" and row.reason.strip().lower() not in DROP_STATUS:
            report.reported.append(f"dropped for {row.email}: {row.reason or 'no reason given'}")
        if outcome:
            report.changes.append(f"{row.email or 'subscriber ' + str(row.subscriber_id)}: {outcome}")
            outcomes.append({"event": row.id, "outcome": outcome})
    book.flush()
    if outcomes:
        e = db.events
        conn.execute(
            e.update().where(e.c.id == sa.bindparam("event")).values(outcome=sa.bindparam("outcome")), outcomes
        )


def _rule(book: StatusBook, settings: Settings, row: Any) -> str:
    """What one event does to its subscriber; returns a description ('' for nothing)."""
    kind = row.type
    detail = row.reason or row.status or row.raw_type
    if row.bounce_reason:  # read from a bounce mailbox: the reason, status, server's words and reader
        detail = f"{row.bounce_reason}, {row.status or 'no status'}: {row.reason or 'no diagnostic'} [{row.parser}]"
    if kind == "bounced":
        return _status(book, row, BOUNCED, "bounce", f"hard bounce: {detail}")
    if kind == "blocked":
        return _soft_bounce(book, settings, row, detail)
    if kind == "complained":
        return _status(book, row, COMPLAINED, "complaint", "reported the digest as spam")
    if kind == "unsubscribed":
        return _status(book, row, UNSUBSCRIBED, "provider-unsubscribe", "unsubscribed through the provider")
    if kind == "group-unsubscribed":
        return _status(book, row, UNSUBSCRIBED, "group-unsubscribe", "unsubscribed from the group")
    if kind == "group-resubscribed":
        return _resubscribe(book, row)
    if kind == "dropped":
        status = DROP_STATUS.get(row.reason.strip().lower())
        if status:
            return _status(book, row, status, "dropped", f"the provider dropped it: {row.reason}")
    return ""


def _status(book: StatusBook, row: Any, status: str, cause: str, detail: str) -> str:
    person = book.person(row.subscriber_id)
    if person is None or person.status == "erased":
        return ""
    current = person.status
    if current != ACTIVE and status != COMPLAINED:
        # Already out; a complaint still overrides a softer status. A hard bounce after an unsubscribe
        # is recorded on the suppression, so the person cannot start again to a dead address.
        if status == BOUNCED and book.raise_suppression(person.email_hash, "bounced", f"{cause}: {detail}"):
            return f"{current}; suppressed as bounced ({detail})"
        return ""
    if book.change(row.subscriber_id, status, cause=cause, detail=detail, event_id=row.id):
        return f"{current} → {status} ({detail})"
    return ""


def _soft_bounce(book: StatusBook, settings: Settings, row: Any, detail: str) -> str:
    person = book.person(row.subscriber_id)
    if person is None or person.status != ACTIVE:
        return ""
    score, last = person.soft_bounce_score, person.last_soft_bounce_at
    when = row.occurred_at
    if last is not None and when - last > timedelta(days=settings.events.soft_bounce_reset_days):
        score = 0  # a quiet spell: the address recovered
    if last is not None and when.date() <= last.date() and score > 0:
        return ""  # at most one step a day, however many blocks SendGrid reports
    weight = settings.events.soft_bounce_scores.get(row.bounce_reason, 1)
    if weight <= 0:
        return ""  # this reason is set to count for nothing
    score += weight
    book.soft_bounce(row.subscriber_id, score, when)
    if score >= settings.events.soft_bounce_threshold:
        reason = f"{score} soft bounces on different days, the last: {detail}"
        book.change(row.subscriber_id, BOUNCED, cause="soft-bounce", detail=reason, event_id=row.id)
        return f"active → bounced ({reason})"
    return f"soft bounce {score} of {settings.events.soft_bounce_threshold} ({detail})"


def _resubscribe(book: StatusBook, row: Any) -> str:
    person = book.person(row.subscriber_id)
    if person is None or not book.own_unsubscribe(row.subscriber_id):
        return ""  # only the person's own unsubscribe is undone; never an admin's, a bounce or a complaint
    book.lift_suppression(person.email_hash, f"group resubscribe event {row.id}")
    book.change(
        row.subscriber_id,
        ACTIVE,
        cause="group-resubscribe",
        detail="resubscribed to the group",
        event_id=row.id,
    )
    return "unsubscribed → active (group resubscribe)"


# --- sources ----------------------------------------------------------------------------------


def unplaced_events(engine: Engine, *, limit: int = 100) -> list[Any]:
    query = sa.select(db.events).where(db.events.c.placed == sa.false()).order_by(db.events.c.id.desc()).limit(limit)
    with db.read(engine) as conn:
        return list(conn.execute(query).all())


def bounce_review(engine: Engine) -> list[Any]:
    """Key contacts silenced by a bounce: an admin should find their new address."""
    s = db.subscribers
    query = (
        sa.select(
            s.c.id, s.c.email, s.c.first_name, s.c.last_name, s.c.organisation, s.c.status_reason, s.c.status_changed_at
        )
        .where(s.c.key_contact == sa.true(), s.c.status == BOUNCED)
        .order_by(s.c.status_changed_at.desc())
    )
    with db.read(engine) as conn:
        return list(conn.execute(query).all())
