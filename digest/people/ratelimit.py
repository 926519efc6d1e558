"""Rate limits kept in the database, so every `digest serve` process counts against the same limits.

A sliding window: each counted request is a row (bucket, time); a request is
allowed while its bucket has fewer than ``limit`` rows within ``window``.
Buckets are named by a keyed hash of what they count (a client's network,
a target address), so the table holds no address in the clear. Counting and
adding happen under a lock on the bucket (SQLite's write transaction; a
PostgreSQL advisory lock), so two processes cannot both take the last place.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.people.emails import keyed_hash
from digest.store import db

H = db.rate_limit_hits


def bucket(secret: bytes, kind: str, value: str) -> str:
    """The bucket of ``value`` (e.g. kind ``client`` and an IP address), as a keyed hash."""
    return f"{kind}:{keyed_hash(secret, f'{kind}:{value}')[:64]}"


def client_network(remote_addr: str | None) -> str:
    """Who a request counts as: an IPv4 address, or an IPv6 /64 (one home or host gets a whole /64)."""
    try:
        address = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def hit(conn: Connection, name: str, *, limit: int, window: timedelta, now: datetime | None = None) -> bool:
    """Count a request in bucket ``name``; False (and nothing counted) when it is over the limit."""
    now = now or db.utcnow()
    if conn.dialect.name == "postgresql":  # pragma: no mutate block (PostgreSQL only; see docs/mutation.md)
        # Serialises requests of one bucket until the transaction ends (SQLite's writers are already serial).
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    recent = conn.execute(
        sa.select(sa.func.count()).select_from(H).where(H.c.bucket == name, H.c.at > now - window)
    ).scalar_one()
    if recent >= limit:
        return False
    conn.execute(H.insert().values(bucket=name, at=now))
    return True


def purge(conn: Connection, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Forget hits older than the longest window; returns how many rows went."""
    cutoff = (now or db.utcnow()) - older_than
    return int(conn.execute(H.delete().where(H.c.at < cutoff)).rowcount or 0)
