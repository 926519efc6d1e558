"""One sender per issue: a lock row with its holder and a heartbeat.

A stale lock (no heartbeat for ten minutes, or its process gone from this
host) is taken over only by `--resume`, and only after saying so; a sender
whose lock was taken over stops at its next heartbeat.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.errors import StateError
from digest.store import db

LOCK_STALE_AFTER = timedelta(minutes=10)


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


def require_lock(conn: Connection, issue_id: str, holder: str) -> None:
    """Raise as :func:`heartbeat` does if ``holder`` no longer holds the issue's lock, without writing.

    For a transaction that runs beside the sender's own (its heartbeat): a read
    takes no row lock, so neither waits for the other.
    """
    query = sa.select(db.send_locks.c.holder).where(db.send_locks.c.issue_id == issue_id)
    if conn.execute(query).scalar() != holder:
        raise StateError(f"lost the send lock of issue {issue_id} to another process; stopping")


def release_lock(engine: Engine, issue_id: str, holder: str) -> None:
    with db.write(engine) as conn:
        conn.execute(
            db.send_locks.delete().where(db.send_locks.c.issue_id == issue_id, db.send_locks.c.holder == holder)
        )
