"""The database remembers which secret key made its address hashes, and refuses another.

Suppressions are kept as keyed hashes of the address (digest.people.emails), so with
another DIGEST_SECRET_KEY the suppression list silently recognises nobody: an
erased or unsubscribed person added again looks new. The database therefore
keeps the key's fingerprint (an HMAC of a fixed label with the key, never the
key) and every command that opens it through :func:`digest.project.open_engine`
checks it first. A database made before fingerprints adopts the current key
once, after checking the subscribers' hashes against it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.errors import ConfigError
from digest.people.emails import keyed_hashes
from digest.secret import key_problem
from digest.store import db

FINGERPRINT_LABEL = b"digest secret key fingerprint v1"
SHOWN = 12  # hex digits of a fingerprint shown in messages
FIRST_USE, ADOPTED, REKEY = "first use", "adopted", "rekey"
CHECK_CHUNK = 2000
HOW_TO_FIX = (
    "Put the old key back in .env (from a backup of .env, or another host's), or, to change the key on purpose, "
    "keep the old key in a file and run `digest db rekey --old-key-file FILE`"
)


def fingerprint(secret: bytes) -> str:
    """What the database keeps of the key: an HMAC of a fixed label, from which the key cannot be found."""
    return hmac.new(secret, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def stored_fingerprint(conn: Connection) -> str | None:
    return conn.execute(sa.select(db.key_fingerprint.c.fingerprint).where(db.key_fingerprint.c.slot == 1)).scalar()


def record_fingerprint(conn: Connection, secret: bytes, how: str) -> None:
    """Remember ``secret``'s fingerprint as the database's key (replacing any before it)."""
    conn.execute(db.key_fingerprint.delete())
    conn.execute(
        db.key_fingerprint.insert().values(slot=1, fingerprint=fingerprint(secret), recorded_at=db.utcnow(), how=how)
    )


def check_database_key(engine: Engine, settings: Settings, on_notice: Callable[[str], None] | None = None) -> None:
    """Refuse a key other than the one the database's hashes were made with; remember it on first use.

    Without a usable key nothing is checked here: the commands that hash an
    address refuse that key themselves (:meth:`Settings.require_secret_key`).
    """
    key = settings.secret_key.reveal() if settings.secret_key else ""
    if not key or key_problem(key) is not None:
        return
    secret = key.encode("utf-8")
    mine = fingerprint(secret)
    with db.read(engine) as conn:
        stored = stored_fingerprint(conn)
    if stored == mine:
        return
    if stored is not None:
        raise mismatch(stored, mine)
    with db.write(engine) as conn:
        stored = stored_fingerprint(conn)  # another process may have recorded one meanwhile
        if stored is not None:
            if stored != mine:
                raise mismatch(stored, mine)
            return
        checked, differing = hashes_not_made_with(conn, secret)
        if differing:
            raise ConfigError(
                f"DIGEST_SECRET_KEY did not make this database's address hashes: {differing:,} of {checked:,} "
                "subscribers' hashes do not match it, so the key changed after they were added and the "
                "suppression list would not recognise them. " + HOW_TO_FIX
            )
        held = _hashed_rows(conn)
        record_fingerprint(conn, secret, ADOPTED if held else FIRST_USE)
    if held and on_notice is not None:
        on_notice(
            f"Note: this database did not yet record which DIGEST_SECRET_KEY made its address hashes; it now "
            f"remembers the current one (fingerprint {mine[:SHOWN]}…, checked against {checked:,} subscribers' "
            "hashes), and refuses any other key from now on."
        )


def hashes_not_made_with(conn: Connection, secret: bytes) -> tuple[int, int]:
    """(subscribers checked, how many of their stored hashes ``secret`` did not make).

    Erased subscribers are left out: their address is gone, only its hash is left.
    """
    S = db.subscribers
    query = sa.select(S.c.email_key, S.c.email_hash).where(S.c.status != "erased").order_by(S.c.id)
    checked = differing = 0
    result = conn.execute(query, execution_options={"yield_per": CHECK_CHUNK})
    for chunk in result.partitions(CHECK_CHUNK):
        keys = [row.email_key for row in chunk]
        computed = keyed_hashes(secret, keys)
        checked += len(chunk)
        differing += sum(1 for row, made in zip(chunk, computed, strict=True) if row.email_hash != made)
    return checked, differing


def _hashed_rows(conn: Connection) -> int:
    counts = [conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in _HASHED_TABLES]
    return int(sum(counts))


_HASHED_TABLES = (db.subscribers, db.suppressions)


def mismatch(stored: str, mine: str) -> ConfigError:
    """The refusal of a key whose fingerprint is ``mine`` by a database that remembers ``stored``."""
    return ConfigError(
        f"DIGEST_SECRET_KEY is not the key this database's address hashes were made with (the database "
        f"remembers key {stored[:SHOWN]}…, the key in .env is {mine[:SHOWN]}…). With another key the "
        "suppression list recognises nobody: erased and unsubscribed people would look new. " + HOW_TO_FIX
    )
