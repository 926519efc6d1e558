"""Status changes for many subscribers in one transaction: read once, written together, in order.

:func:`digest.people.subscribers.change_status` costs half a dozen statements a
person; a webhook body of 2,000 events can hold dozens of bounces. The book
reads everyone it may change in one query (locking their rows on
PostgreSQL, in id order), decides each change in memory exactly as
``change_status`` does (the status, its reason, the history row with the
event behind it, the suppression), and writes them with one statement per
kind. Rows are written in the order the changes were made, so the history
reads as if each had been applied on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.errors import InputError, NotFoundError
from digest.people.subscribers import (
    STATUSES,
    SUPPRESSING,
    own_unsubscribe,
    raise_suppression,
    remove_suppression,
    status_reason,
)
from digest.store import db
from digest.store.bulk import bulk_insert, insert_returning

S = db.subscribers


@dataclass
class Person:
    """What the rules read of a subscriber, as it stands after the changes made so far."""

    status: str
    email_hash: str
    soft_bounce_score: int
    last_soft_bounce_at: datetime | None


class StatusBook:
    """The subscribers ``subscriber_ids`` name, read (and on PostgreSQL locked) once, changed in memory."""

    def __init__(self, conn: Connection, subscriber_ids: Iterable[int]) -> None:
        self.conn = conn
        ids = sorted(set(subscriber_ids))
        self.people: dict[int, Person] = {}
        if ids:
            # FOR UPDATE (PostgreSQL), in id order: two ingests touching the same people apply one after the other.
            query = (
                sa.select(S.c.id, S.c.status, S.c.email_hash, S.c.soft_bounce_score, S.c.last_soft_bounce_at)
                .where(S.c.id.in_(ids))
                .order_by(S.c.id)
                .with_for_update()
            )
            for row in conn.execute(query):
                self.people[row.id] = Person(row.status, row.email_hash, row.soft_bounce_score, row.last_soft_bounce_at)
        self._updates: dict[int, dict[str, Any]] = {}
        self._history: list[dict[str, Any]] = []
        self._suppress: list[tuple[str, str, str, datetime]] = []

    def person(self, subscriber_id: int) -> Person | None:
        return self.people.get(subscriber_id)

    def change(
        self,
        subscriber_id: int,
        new_status: str,
        *,
        cause: str,
        detail: str = "",
        event_id: int | None = None,
        at: datetime | None = None,
    ) -> bool:
        """:func:`digest.people.subscribers.change_status`, recorded to be written by :meth:`flush`."""
        if new_status not in STATUSES:
            raise InputError(f"unknown status {new_status!r}; use one of {', '.join(STATUSES)}")
        person = self.people.get(subscriber_id)
        if person is None:
            raise NotFoundError(f"no subscriber with id {subscriber_id}")
        if person.status == new_status:
            return False
        now = at or db.utcnow()
        reason = status_reason(cause, detail)
        self._updates.setdefault(subscriber_id, {}).update(
            status=new_status, status_reason=reason, status_changed_at=now, updated_at=now
        )
        self._history.append(
            {
                "subscriber_id": subscriber_id,
                "at": now,
                "old_status": person.status,
                "new_status": new_status,
                "cause": cause,
                "detail": detail,
                "event_id": event_id,
            }
        )
        if new_status in SUPPRESSING:
            self._suppress.append((person.email_hash, SUPPRESSING[new_status], reason, now))
        person.status = new_status
        return True

    def soft_bounce(self, subscriber_id: int, score: int, when: datetime) -> None:
        """A soft bounce's new score and time."""
        person = self.people[subscriber_id]
        person.soft_bounce_score, person.last_soft_bounce_at = score, when
        self._updates.setdefault(subscriber_id, {}).update(soft_bounce_score=score, last_soft_bounce_at=when)

    def lift_suppression(self, hashed: str, detail: str) -> bool:
        """:func:`digest.people.subscribers.remove_suppression`, after what was recorded before it is written."""
        self.flush()
        return remove_suppression(self.conn, hashed, detail)

    def raise_suppression(self, hashed: str, reason: str, detail: str) -> bool:
        """:func:`digest.people.subscribers.raise_suppression`, after what was recorded before it is written."""
        self.flush()
        return raise_suppression(self.conn, hashed, reason, detail)

    def own_unsubscribe(self, subscriber_id: int) -> bool:
        """:func:`digest.people.subscribers.own_unsubscribe`, reading what was recorded before it as written."""
        self.flush()
        return own_unsubscribe(self.conn, subscriber_id)

    def flush(self) -> None:
        """Write every change recorded so far."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for subscriber_id, values in self._updates.items():
            by_columns.setdefault(tuple(sorted(values)), []).append({"person": subscriber_id, **values})
        for columns, rows in by_columns.items():
            self.conn.execute(
                S.update().where(S.c.id == sa.bindparam("person")).values({c: sa.bindparam(c) for c in columns}),
                rows,
            )
        bulk_insert(self.conn, db.subscriber_history, self._history)
        self._write_suppressions()
        self._updates, self._history, self._suppress = {}, [], []

    def _write_suppressions(self) -> None:
        first: dict[str, tuple[str, str, str, datetime]] = {}
        later: list[tuple[str, str, str, datetime]] = []
        for item in self._suppress:
            if item[0] in first:
                later.append(item)  # the same address again: it may only make the reason graver
            else:
                first[item[0]] = item
        if not first:
            return
        # Insert-or-nothing, as add_suppression: RETURNING names the addresses that went on the list.
        added = {
            hashed
            for (hashed,) in insert_returning(
                self.conn,
                db.suppressions,
                [(hashed, reason, detail, at) for hashed, reason, detail, at in first.values()],
                ("email_hash", "reason", "detail", "created_at"),
                returning=("email_hash",),
                ignore_conflicts=("email_hash",),
            )
        }
        bulk_insert(
            self.conn,
            db.suppression_log,
            [
                {"email_hash": hashed, "action": "added", "reason": reason, "detail": detail, "at": at}
                for hashed, reason, detail, at in first.values()
                if hashed in added
            ],
        )
        # Already on the list (rare: a person out already, or twice in one body): as raise_suppression,
        # one by one and in order, so a graver reason replaces a milder one and never the reverse.
        for hashed, reason, detail, at in [item for item in first.values() if item[0] not in added] + later:
            raise_suppression(self.conn, hashed, reason, detail, at=at)
