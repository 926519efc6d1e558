"""The right to erasure: every trace of a person's address, gone; only a keyed hash stays.

The address sits in more places than the subscriber row: the ledger (the
address mailed, and refusal texts that quote it), provider events (their
address, reason and raw payload: a bounce message quotes it whole), sign-up
requests, and the outbox files of sent issues, test copies and sign-up
confirmations. All of them are scrubbed. The suppression list keeps an
HMAC of the address, so it is never imported or mailed again.

On SQLite deleted and overwritten bytes could survive in free pages and in the
write-ahead log: every connection runs with ``secure_delete`` (freed space is
zeroed), and erasure ends with a checkpoint that truncates the log. On
PostgreSQL old row versions are vacuumed afterwards; bytes in the server's
free space last until it is reused (``VACUUM FULL`` rewrites the tables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.errors import NotFoundError
from digest.people.emails import check_address, mailbox_for_sending
from digest.people.subscribers import ERASED, PROFILE_FIELDS, _find, add_suppression, email_hash
from digest.store import db

REDACTED = "<erased>"
ERASED_EVENT = '{"erased":true}'


@dataclass
class Erasure:
    """What an erasure did."""

    subscriber_id: int
    files_removed: list[Path] = field(default_factory=list)
    log_truncated: bool = True


def erase_subscriber(engine: Engine, settings: Settings, raw_email: str) -> int:
    """Wipe a subscriber's personal data from the database; returns their id (now holding none).

    The subscriber row keeps only its id, the status ``erased`` and the keyed
    hash; the history is reduced to the fact of erasure.
    """
    address = check_address(raw_email)
    hashed = email_hash(settings, address.key)
    now = db.utcnow()
    with db.write(engine) as conn:
        row = _find(conn, address.key)
        if row is None:
            raise NotFoundError(f"no subscriber {address.email}")
        add_suppression(conn, hashed, "erased", "right to erasure", at=now)
        conn.execute(db.subscriber_history.delete().where(db.subscriber_history.c.subscriber_id == row.id))
        conn.execute(
            db.subscribers.update()
            .where(db.subscribers.c.id == row.id)
            .values(
                email="",
                email_key=f"erased:{row.id}",
                email_hash=hashed,
                **{name: "" for name in PROFILE_FIELDS},
                attributes={},
                topics=[],
                key_contact=False,
                status=ERASED,
                status_reason="erased",
                status_changed_at=now,
                consent_source="",
                consent_at=None,
                consent_text="",
                updated_at=now,
            )
        )
        conn.execute(
            db.subscriber_history.insert().values(
                subscriber_id=row.id, at=now, old_status=None, new_status=ERASED, cause="erasure", detail=""
            )
        )
        _erase_traces(conn, int(row.id), address.key)
    return int(row.id)


def _mentions(column: sa.ColumnElement[str], key: str) -> sa.ColumnElement[bool]:
    """``column`` contains the address, whatever its case (LIKE wildcards in it escaped)."""
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.func.lower(column).like(f"%{escaped}%", escape="\\")


def _erase_traces(conn: Connection, subscriber_id: int, key: str) -> None:
    d, e = db.deliveries, db.events
    conn.execute(d.update().where(d.c.subscriber_id == subscriber_id).values(email=""))
    # Refusal texts quote the address ("550 <ann@…>: no such user"): keep the reason, lose the address.
    _redact(conn, d, d.c.error, key)
    mentions = sa.or_(
        e.c.subscriber_id == subscriber_id,
        sa.func.lower(e.c.email) == key,
        _mentions(e.c.raw, key),
        _mentions(e.c.reason, key),
        _mentions(e.c.outcome, key),
    )
    conn.execute(e.update().where(mentions).values(email="", raw=ERASED_EVENT, reason="", url="", outcome=""))
    # Why an address was suppressed may quote it too (a bounce's diagnostic line).
    _redact(conn, db.suppressions, db.suppressions.c.detail, key, primary="email_hash")
    _redact(conn, db.suppression_log, db.suppression_log.c.detail, key)
    conn.execute(db.subscribe_requests.delete().where(db.subscribe_requests.c.email_key == key))


def _redact(conn: Connection, table: sa.Table, column: sa.Column[str], key: str, primary: str = "id") -> None:
    """Replace the address wherever ``column`` quotes it, keeping the rest of the text."""
    pattern = re.compile(re.escape(key), re.IGNORECASE)
    ident = table.c[primary]
    for row_id, text in conn.execute(sa.select(ident, column).where(_mentions(column, key))).all():
        conn.execute(table.update().where(ident == row_id).values({column.name: pattern.sub(REDACTED, text)}))


def erase_files(settings: Settings, raw_email: str) -> list[Path]:
    """Remove every outbox file that holds the address (sent issues, test copies, confirmations)."""
    key = check_address(raw_email).key
    # Messages carry a non-ASCII domain in its ASCII (IDNA) form: look for that too.
    needles = {key.encode("utf-8"), mailbox_for_sending(key)[0].lower().encode("utf-8")}
    removed = []
    if settings.outbox_dir.is_dir():
        for path in sorted(settings.outbox_dir.rglob("*.eml")):
            content = path.read_bytes().lower()
            if any(needle in content for needle in needles):
                path.unlink()
                removed.append(path)
    return removed


def settle_storage(engine: Engine) -> bool:
    """Make what was overwritten unrecoverable from the database files; False if the log could
    not be emptied yet (another process was reading: it is emptied at its next checkpoint)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        return busy is None or busy[0] == 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("subscribers", "subscriber_history", "deliveries", "events", "subscribe_requests"):
            conn.exec_driver_sql(f"VACUUM {table}")
    return True


def erase_person(engine: Engine, settings: Settings, raw_email: str) -> Erasure:
    """`digest subscribers erase`: the database, the outbox files and the storage underneath."""
    subscriber_id = erase_subscriber(engine, settings, raw_email)
    removed = erase_files(settings, raw_email)
    return Erasure(subscriber_id, removed, settle_storage(engine))
