"""Scheduled sends: recorded now, claimed by `digest run-due` when due, cancellable before they start.

A time is checked before it is recorded (:func:`check_send_time`): one in the
past would be due at once, so a slip of the year or the month would send
the issue now; it is refused, as is a time the clocks skip. One more than
:data:`FAR_AHEAD` away is returned as a question for the operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import InputError, NotFoundError, StateError
from digest.sending.states import OPEN_SEND_STATES, DeliveryState, SendState
from digest.store import db

FAR_AHEAD = timedelta(days=60)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
AT_FORMS = "'YYYY-MM-DD HH:MM', or a weekday and a time, 'Monday 08:00'"


def parse_send_time(text: str, timezone: str, *, now: datetime | None = None) -> datetime:
    """The moment ``--at`` names, in ``timezone``: a date and time, or the next such weekday at that time.

    'Monday 08:00' (or 'mon 08:00') is the next Monday at 08:00 to come: today, if it is Monday
    and 08:00 has not passed yet, else the one after. The weekday form is what an editor means by
    "send it Monday morning", and it cannot name a time already past.
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    words = text.strip().split()
    if len(words) == 2 and len(words[0]) >= 3:
        named = [day for day in _WEEKDAYS if day.startswith(words[0].casefold())]
        if len(named) == 1:
            clock = _clock(words[1], text)
            today = (now or db.utcnow()).astimezone(zone)
            ahead = (_WEEKDAYS.index(named[0]) - today.weekday()) % 7
            moment = datetime.combine(today.date() + timedelta(days=ahead), clock, zone)
            return moment if moment > today else moment + timedelta(days=7)
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=zone)
    except ValueError:
        raise InputError(f"--at {text!r} is not a time written {AT_FORMS}") from None


def _clock(word: str, text: str) -> Any:
    try:
        return datetime.strptime(word, "%H:%M").time()
    except ValueError:
        raise InputError(f"--at {text!r} is not a time written {AT_FORMS}") from None


def check_send_time(at: datetime, *, now: datetime | None = None) -> str:
    """Refuse a send time that is past or that the clocks skip; for one more than :data:`FAR_AHEAD`
    ahead, say how far (the caller asks again); '' for a time that needs no second look.

    ``at`` carries the zone it was written in (``[sending] timezone``); messages show it there.
    """
    zone = at.tzinfo
    name = getattr(zone, "key", str(zone))
    written = f"{at:%Y-%m-%d %H:%M}"
    wall = at.astimezone(UTC).astimezone(zone)
    if wall.replace(tzinfo=None) != at.replace(tzinfo=None):
        raise InputError(f"--at {written} does not exist in {name}: the clocks go forward over it; give another time")
    now = now or db.utcnow()
    read = f"--at {written} reads as {_spoken(at)} ({name})"
    if at <= now:
        raise InputError(
            f"{read}, which is in the past: it is now {_spoken(now.astimezone(zone))} there. "
            "To send now, leave out --at; to schedule, give a time still to come."
        )
    ahead = at - now
    if ahead > FAR_AHEAD:
        return f"{read}, {ahead.days:,} days from now"
    return ""


def _spoken(moment: datetime) -> str:
    """'Sunday 30 November 2025, 08:00 GMT': the weekday and zone make a slip of the year or hour visible."""
    return f"{moment:%A} {moment.day} {moment:%B %Y, %H:%M} {moment.tzname()}"


def schedule_send(engine: Engine, issue_id: str, segment_names: Sequence[str], provider: str, at: datetime) -> int:
    """Record a send for later; `digest run-due` plans and sends it when it is due."""
    with db.write(engine) as conn:
        return int(
            conn.execute(
                db.sends.insert()
                .values(
                    issue_id=issue_id,
                    state=SendState.SCHEDULED,
                    provider=provider,
                    segments=list(segment_names),
                    created_at=db.utcnow(),
                    scheduled_at=at,
                )
                .returning(db.sends.c.id)
            ).scalar_one()
        )


@dataclass(frozen=True)
class Cancelled:
    """A send cancelled before it started: scheduled, or planned with nothing handed to a provider."""

    send_id: int
    was: str  # its state before
    removed: int  # planned deliveries removed (none for a scheduled send)


def cancel_send(engine: Engine, settings: Settings, issue_ref: str) -> Cancelled:
    """`digest send ISSUE --cancel`: cancel the issue's send before it starts.

    A scheduled send, or one planned whose copies were never handed to a provider
    (its provider failed before the first batch, say): its planned rows are removed,
    so the same people can be planned again by the next send. A send that has
    handed any copy over can only be paused.
    """
    from digest.issues.issue import issue_path
    from digest.sending.lock import read_lock

    issue_id = issue_path(settings, issue_ref).parent.name
    D = db.deliveries
    with db.write(engine) as conn:
        row = conn.execute(
            sa.select(db.sends.c.id, db.sends.c.state)
            .where(db.sends.c.issue_id == issue_id, db.sends.c.state.in_((*OPEN_SEND_STATES, SendState.FAILED)))
            .order_by(db.sends.c.id.desc())
        ).first()
        if row is None:
            raise NotFoundError(f"issue {issue_id} has no scheduled or unstarted send to cancel")
        handed = conn.execute(
            sa.select(sa.func.count()).where(
                D.c.send_id == row.id, D.c.state.not_in((DeliveryState.PENDING, DeliveryState.SKIPPED))
            )
        ).scalar_one()
        if handed:
            copies = f"{handed} cop{'y' if handed == 1 else 'ies'}"
            raise StateError(
                f"send #{row.id} of issue {issue_id} has started ({row.state}, {copies} handed to the provider); "
                "it can be paused, not cancelled"
            )
        lock = read_lock(conn, issue_id)
        if lock is not None and not lock.is_stale():
            raise StateError(f"send #{row.id} of issue {issue_id} is being sent right now: lock {lock.describe()}")
        result = conn.execute(
            db.sends.update()
            .where(db.sends.c.id == row.id, db.sends.c.state == row.state)
            .values(state=SendState.CANCELLED, finished_at=db.utcnow(), note="cancelled before it started")
        )
        if result.rowcount != 1:
            raise StateError(f"send #{row.id} started while it was being cancelled")
        removed = conn.execute(D.delete().where(D.c.send_id == row.id, D.c.state == DeliveryState.PENDING)).rowcount
        if lock is not None:
            conn.execute(db.send_locks.delete().where(db.send_locks.c.issue_id == issue_id))
    return Cancelled(int(row.id), str(row.state), int(removed))


def due_sends(engine: Engine, now: datetime) -> list[Any]:
    """Scheduled sends whose time has come, oldest first (not yet claimed)."""
    with db.read(engine) as conn:
        return list(
            conn.execute(
                sa.select(db.sends)
                .where(db.sends.c.state == SendState.SCHEDULED, db.sends.c.scheduled_at <= now)
                .order_by(db.sends.c.scheduled_at)
            ).all()
        )


def claim_due(engine: Engine, send_id: int) -> bool:
    """Take a due send with one conditional UPDATE: of two runners at once, exactly one wins."""
    with db.write(engine) as conn:
        result = conn.execute(
            db.sends.update()
            .where(db.sends.c.id == send_id, db.sends.c.state == SendState.SCHEDULED)
            .values(state=SendState.PLANNED, started_at=db.utcnow())
        )
        return bool(result.rowcount == 1)
