"""`digest db rekey`: move the database's address hashes from an old secret key to the key in .env.

Every hash of an address the database still holds is made again with the
new key, in one transaction: the subscribers' own, the suppressions and the
suppression list's history (a suppression is found under the subscriber's
stored hash or under the old key's hash of their address, so a database that
was written with two keys comes out whole). Hashes of addresses it no longer
holds (an erased person, an address suppressed without being subscribed)
cannot be made again without the address: they are left as they were, and
said so. Rate-limit counts (hashes of client addresses, for an hour or a day)
are cleared. Then the database remembers the new key (:mod:`digest.people.keyguard`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.errors import InputError, StateError
from digest.people.emails import keyed_hashes
from digest.people.keyguard import REKEY, SHOWN, fingerprint, record_fingerprint, stored_fingerprint
from digest.people.subscribers import SUPPRESSION_GRAVITY
from digest.store import db

CHUNK = 2000


@dataclass
class Rekeying:
    """What a re-key does (or did)."""

    old: str  # fingerprints, as far as messages show them
    new: str
    subscribers: int = 0  # subscribers' hashes made again
    suppressions: int = 0  # suppressions moved to the new key
    merged: int = 0  # of which, found twice (under both keys) and kept once
    log_lines: int = 0  # lines of the suppression list's history moved
    unknown: int = 0  # suppressions of addresses the database no longer holds, left as they were
    now_suppressed: list[str] = field(default_factory=list)  # active, and suppressed under the old key
    rate_limits: int = 0  # rate-limit counts cleared


def read_old_key(path: Path) -> bytes:
    """The old key from ``path``: a copy of an old .env (its DIGEST_SECRET_KEY line), or the key alone."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the old key: {exc}", path=path) from None
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.strip().removeprefix("export ").strip() == "DIGEST_SECRET_KEY":
            return value.strip().strip("'\"").encode("utf-8")
    key = text.strip()
    if not key or "\n" in key:
        raise InputError("holds neither a DIGEST_SECRET_KEY= line nor a key alone on one line", path=path)
    return key.encode("utf-8")


def rekey(engine: Engine, settings: Settings, old: bytes, *, dry_run: bool = False) -> Rekeying:
    """Move every hash the database can make again from key ``old`` to the key in .env, in one transaction.

    ``dry_run`` works it all out and writes nothing (what `digest db rekey` shows before asking).
    """
    new = settings.require_secret_key()
    if old == new:
        raise InputError("the old key is the key in .env already; put the new key in .env first")
    report = Rekeying(fingerprint(old)[:SHOWN], fingerprint(new)[:SHOWN])
    try:
        with db.write(engine) as conn:
            _check_old_key(conn, old, new)
            mapping, active = _rehash_subscribers(conn, old, new, report)
            _move_suppressions(conn, mapping, report)
            _move_log(conn, mapping, report)
            suppressed = set(conn.execute(sa.select(db.suppressions.c.email_hash)).scalars())
            report.now_suppressed = sorted(email for made, email in active if made in suppressed)
            report.rate_limits = int(conn.execute(db.rate_limit_hits.delete()).rowcount)
            record_fingerprint(conn, new, REKEY)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return report


class _DryRun(Exception):
    """Raised to roll the transaction back after working out a dry run."""


def _check_old_key(conn: Connection, old: bytes, new: bytes) -> None:
    stored = stored_fingerprint(conn)
    if stored is None or stored == fingerprint(old):
        return
    if stored == fingerprint(new):
        raise StateError("the database already remembers the key in .env: there is nothing to re-key")
    raise InputError(
        f"the old key given is not the key this database remembers (key {stored[:SHOWN]}…, the file's is "
        f"{fingerprint(old)[:SHOWN]}…); give the key the database was made with"
    )


def _rehash_subscribers(
    conn: Connection, old: bytes, new: bytes, report: Rekeying
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Each known address's hash made with the new key; returns {hash before: hash now} and the active (hash, email)."""
    S = db.subscribers
    query = sa.select(S.c.id, S.c.email_key, S.c.email_hash, S.c.email, S.c.status).where(S.c.status != "erased")
    rows = conn.execute(query.order_by(S.c.id)).all()
    mapping: dict[str, str] = {}
    active: list[tuple[str, str]] = []
    changed = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        keys = [row.email_key for row in chunk]
        for row, made_old, made_new in zip(chunk, keyed_hashes(old, keys), keyed_hashes(new, keys), strict=True):
            mapping[row.email_hash] = made_new
            mapping[made_old] = made_new
            if row.email_hash != made_new:
                changed.append({"i": row.id, "h": made_new})
            if row.status == "active":
                active.append((made_new, row.email))
    if changed:
        conn.execute(S.update().where(S.c.id == sa.bindparam("i")).values(email_hash=sa.bindparam("h")), changed)
    report.subscribers = len(changed)
    return mapping, active


def _move_suppressions(conn: Connection, mapping: dict[str, str], report: Rekeying) -> None:
    """Suppressions under a hash made again take the new one; one found under both keys is kept once (the graver)."""
    T = db.suppressions
    rows = conn.execute(sa.select(T)).all()
    made_now = set(mapping.values())
    moving = [row for row in rows if mapping.get(row.email_hash, row.email_hash) != row.email_hash]
    moved = {row.email_hash for row in moving}
    report.unknown = sum(1 for row in rows if row.email_hash not in mapping and row.email_hash not in made_now)
    present: dict[str, tuple[str, str, datetime]] = {
        row.email_hash: (row.reason, row.detail, row.created_at) for row in rows if row.email_hash not in moved
    }
    if moving:
        conn.execute(T.delete().where(T.c.email_hash.in_(sorted(moved))))
    for row in moving:
        target = mapping[row.email_hash]
        kept = present.get(target)
        if kept is None:
            conn.execute(
                T.insert().values(email_hash=target, reason=row.reason, detail=row.detail, created_at=row.created_at)
            )
            present[target] = (row.reason, row.detail, row.created_at)
            report.suppressions += 1
            continue
        report.merged += 1
        if SUPPRESSION_GRAVITY.get(row.reason, 0) > SUPPRESSION_GRAVITY.get(kept[0], 0):
            conn.execute(
                T.update()
                .where(T.c.email_hash == target)
                .values(reason=row.reason, detail=row.detail, created_at=row.created_at)
            )
            present[target] = (row.reason, row.detail, row.created_at)


def _move_log(conn: Connection, mapping: dict[str, str], report: Rekeying) -> None:
    L = db.suppression_log
    counted = conn.execute(sa.select(L.c.email_hash, sa.func.count()).group_by(L.c.email_hash))
    logged: dict[str, int] = {hashed: count for hashed, count in counted}
    moves = [{"o": before, "n": after} for before, after in mapping.items() if before != after and before in logged]
    if moves:
        conn.execute(L.update().where(L.c.email_hash == sa.bindparam("o")).values(email_hash=sa.bindparam("n")), moves)
    report.log_lines = sum(logged[move["o"]] for move in moves)
