"""The subscriber store: people, their status history, consent and the suppression list.

Every status change goes through :func:`change_status` (or, for many people
in one transaction, :class:`digest.people.statusbook.StatusBook`, which does the
same in bulk), which records the
cause in the history (so an admin can answer "why did this person stop
getting the digest?") and adds the address to the suppression list when the
new status means "never mail again".
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.errors import InputError, NotFoundError, StateError
from digest.files import atomic_text_writer
from digest.people.emails import Address, check_address, keyed_hash
from digest.people.plaintext import one_line
from digest.store import db
from digest.topics import check_topics

ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED, ERASED = "active", "unsubscribed", "bounced", "complained", "erased"
STATUSES = (ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED, ERASED)
# Statuses that put the address on the suppression list, with the reason recorded there.
SUPPRESSING = {UNSUBSCRIBED: "unsubscribed", BOUNCED: "bounced", COMPLAINED: "complained", ERASED: "erased"}
# When a suppressed address is suppressed again for a graver reason, the graver one is recorded
# (an admin's "never contact again" after the person's own unsubscribe must not read as theirs).
SUPPRESSION_GRAVITY = {"unsubscribed": 0, "bounced": 1, "complained": 2, "manual": 3, "erased": 4}
# Unsubscribes the person made themselves: the only suppression they may lift themselves.
OWN_UNSUBSCRIBE_CAUSES = frozenset(
    {"unsubscribe-link", "one-click", "preferences", "provider-unsubscribe", "group-unsubscribe"}
)
PROFILE_FIELDS = ("first_name", "last_name", "organisation", "role", "sector", "region")
EXPORT_COLUMNS = (
    "email",
    *PROFILE_FIELDS,
    "topics",
    "key_contact",
    "status",
    "status_reason",
    "status_changed_at",
    "consent_source",
    "consent_at",
    "consent_text",
    "created_at",
    "attributes",
)
# A spreadsheet treats a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    first_name: str
    last_name: str
    organisation: str
    role: str
    sector: str
    region: str
    attributes: dict[str, Any]
    topics: list[str]
    key_contact: bool
    status: str
    status_reason: str
    status_changed_at: datetime
    consent_source: str
    consent_at: datetime | None
    consent_text: str
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def field(self, name: str) -> Any:
        return getattr(self, name)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    old_status: str | None
    new_status: str
    cause: str
    detail: str
    event_id: int | None


@dataclass(frozen=True)
class Suppression:
    email_hash: str
    reason: str
    detail: str
    created_at: datetime
    email: str | None  # known when a subscriber record still has the address


def row_to_subscriber(row: Any) -> Subscriber:
    m = row._mapping
    return Subscriber(
        id=m["id"],
        email=m["email"],
        first_name=m["first_name"],
        last_name=m["last_name"],
        organisation=m["organisation"],
        role=m["role"],
        sector=m["sector"],
        region=m["region"],
        attributes=dict(m["attributes"] or {}),
        topics=list(m["topics"] or []),
        key_contact=bool(m["key_contact"]),
        status=m["status"],
        status_reason=m["status_reason"],
        status_changed_at=m["status_changed_at"],
        consent_source=m["consent_source"],
        consent_at=m["consent_at"],
        consent_text=m["consent_text"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def email_hash(settings: Settings, key: str) -> str:
    return keyed_hash(settings.require_secret_key(), key)


# --- status changes and suppressions -------------------------------------------------


def status_reason(cause: str, detail: str) -> str:
    """The reason stored with a status (and a suppression): the cause, and what it said."""
    return f"{cause}: {detail}" if detail else cause


def change_status(
    conn: Connection,
    subscriber_id: int,
    new_status: str,
    *,
    cause: str,
    detail: str = "",
    event_id: int | None = None,
    at: datetime | None = None,
) -> bool:
    """Move a subscriber to ``new_status``, recording why; False when nothing changed."""
    if new_status not in STATUSES:
        raise InputError(f"unknown status {new_status!r}; use one of {', '.join(STATUSES)}")
    # FOR UPDATE (PostgreSQL): two events for one person are applied one after the other.
    row = conn.execute(
        sa.select(db.subscribers.c.status, db.subscribers.c.email_hash)
        .where(db.subscribers.c.id == subscriber_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFoundError(f"no subscriber with id {subscriber_id}")
    if row.status == new_status:
        return False
    now = at or db.utcnow()
    conn.execute(
        db.subscribers.update()
        .where(db.subscribers.c.id == subscriber_id)
        .values(
            status=new_status,
            status_reason=status_reason(cause, detail),
            status_changed_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        db.subscriber_history.insert().values(
            subscriber_id=subscriber_id,
            at=now,
            old_status=row.status,
            new_status=new_status,
            cause=cause,
            detail=detail,
            event_id=event_id,
        )
    )
    if new_status in SUPPRESSING:
        raise_suppression(conn, row.email_hash, SUPPRESSING[new_status], status_reason(cause, detail), at=now)
    return True


def add_suppression(conn: Connection, hashed: str, reason: str, detail: str, *, at: datetime | None = None) -> bool:
    """Put a hashed address on the suppression list; False if it was already there."""
    now = at or db.utcnow()
    # Insert-or-nothing: a webhook and an admin may suppress the same address at once.
    # RETURNING says whether a row went in (rowcount is not reliable for INSERT on every driver).
    added = conn.execute(
        db.dialect_insert(conn, db.suppressions)
        .values(email_hash=hashed, reason=reason, detail=detail, created_at=now)
        .on_conflict_do_nothing(index_elements=["email_hash"])
        .returning(db.suppressions.c.email_hash)
    ).first()
    if added is None:
        return False
    conn.execute(
        db.suppression_log.insert().values(email_hash=hashed, action="added", reason=reason, detail=detail, at=now)
    )
    return True


def raise_suppression(conn: Connection, hashed: str, reason: str, detail: str, *, at: datetime | None = None) -> bool:
    """Suppress an address, or record a graver reason on its suppression; False when nothing changed."""
    if add_suppression(conn, hashed, reason, detail, at=at):
        return True
    current = conn.execute(sa.select(db.suppressions.c.reason).where(db.suppressions.c.email_hash == hashed)).scalar()
    if current is None or SUPPRESSION_GRAVITY.get(reason, 0) <= SUPPRESSION_GRAVITY.get(current, 0):
        return False
    now = at or db.utcnow()
    conn.execute(
        db.suppressions.update()
        .where(db.suppressions.c.email_hash == hashed)
        .values(reason=reason, detail=detail, created_at=now)
    )
    conn.execute(
        db.suppression_log.insert().values(email_hash=hashed, action="raised", reason=reason, detail=detail, at=now)
    )
    return True


def own_unsubscribe(conn: Connection, subscriber_id: int) -> bool:
    """True when the person is out only by their own unsubscribe, which they may then undo themselves.

    Their status is ``unsubscribed``, the change that made it was theirs (a link,
    one-click, the preferences page, the provider's unsubscribe), and nothing
    graver was recorded since: an admin's suppression, a bounce or a complaint
    each leave another status or another reason on the suppression.
    """
    person = conn.execute(
        sa.select(db.subscribers.c.status, db.subscribers.c.email_hash).where(db.subscribers.c.id == subscriber_id)
    ).first()
    if person is None or person.status != UNSUBSCRIBED:
        return False
    h = db.subscriber_history
    last = conn.execute(
        sa.select(h.c.new_status, h.c.cause, h.c.at)
        .where(h.c.subscriber_id == subscriber_id)
        .order_by(h.c.at.desc(), h.c.id.desc())
        .limit(1)
    ).first()
    if last is None or last.new_status != UNSUBSCRIBED or last.cause not in OWN_UNSUBSCRIBE_CAUSES:
        return False
    suppression = conn.execute(
        sa.select(db.suppressions.c.reason, db.suppressions.c.created_at).where(
            db.suppressions.c.email_hash == person.email_hash
        )
    ).first()
    return suppression is None or (suppression.reason == "unsubscribed" and suppression.created_at <= last.at)


def is_suppressed(conn: Connection, hashed: str) -> bool:
    query = sa.select(db.suppressions.c.email_hash).where(db.suppressions.c.email_hash == hashed)
    return conn.execute(query).first() is not None


def suppress_address(engine: Engine, settings: Settings, raw_email: str, *, reason: str) -> bool:
    """`digest suppressions add`: never mail this address again (whether or not it is subscribed)."""
    if not reason.strip():
        raise InputError("give a reason with --reason")
    address = check_address(raw_email)
    hashed = email_hash(settings, address.key)
    with db.write(engine) as conn:
        row = _find(conn, address.key)
        if row is not None and row.status == ACTIVE:
            change_status(conn, row.id, UNSUBSCRIBED, cause="admin", detail=f"suppressed: {reason}")
            return True
        # Already out (say by their own unsubscribe): the admin's suppression is recorded over it.
        return raise_suppression(conn, hashed, "manual", reason)


def lift_suppression(engine: Engine, settings: Settings, raw_email: str, *, reason: str) -> Subscriber | None:
    """`digest suppressions lift`: the only way an address can be mailed again.

    A subscriber record that still exists becomes active again, with the
    stated reason in its history.
    """
    if not reason.strip():
        raise InputError("lifting a suppression needs a reason: say why this person may be mailed again (--reason)")
    address = check_address(raw_email)
    hashed = email_hash(settings, address.key)
    with db.write(engine) as conn:
        if not remove_suppression(conn, hashed, reason):
            raise NotFoundError(f"{address.email} is not on the suppression list")
        row = _find(conn, address.key)
        if row is not None and row.status in (UNSUBSCRIBED, BOUNCED, COMPLAINED):
            change_status(conn, row.id, ACTIVE, cause="suppression-lifted", detail=reason)
    return get_subscriber(engine, address.email) if row is not None else None


def remove_suppression(conn: Connection, hashed: str, detail: str) -> bool:
    """Take an address off the suppression list, logging why; False if it was not on it."""
    reason = conn.execute(sa.select(db.suppressions.c.reason).where(db.suppressions.c.email_hash == hashed)).scalar()
    if reason is None:
        return False
    conn.execute(db.suppressions.delete().where(db.suppressions.c.email_hash == hashed))
    conn.execute(
        db.suppression_log.insert().values(
            email_hash=hashed, action="lifted", reason=reason, detail=detail, at=db.utcnow()
        )
    )
    return True


def list_suppressions(engine: Engine) -> list[Suppression]:
    query = (
        sa.select(db.suppressions, db.subscribers.c.email)
        .select_from(
            db.suppressions.outerjoin(db.subscribers, db.subscribers.c.email_hash == db.suppressions.c.email_hash)
        )
        .order_by(db.suppressions.c.created_at.desc())
    )
    with db.read(engine) as conn:
        return [
            Suppression(row.email_hash, row.reason, row.detail, row.created_at, row.email or None)
            for row in conn.execute(query)
        ]


# --- finding, adding, removing -------------------------------------------------------


def _find(conn: Connection, key: str) -> Any:
    return conn.execute(sa.select(db.subscribers).where(db.subscribers.c.email_key == key)).first()


def get_subscriber(engine: Engine, raw_email: str) -> Subscriber:
    address = check_address(raw_email)
    with db.read(engine) as conn:
        row = _find(conn, address.key)
    if row is None:
        raise NotFoundError(f"no subscriber {address.email}")
    return row_to_subscriber(row)


def history(engine: Engine, subscriber_id: int) -> list[HistoryEntry]:
    query = (
        sa.select(db.subscriber_history)
        .where(db.subscriber_history.c.subscriber_id == subscriber_id)
        .order_by(db.subscriber_history.c.at, db.subscriber_history.c.id)
    )
    with db.read(engine) as conn:
        return [
            HistoryEntry(row.at, row.old_status, row.new_status, row.cause, row.detail, row.event_id)
            for row in conn.execute(query)
        ]


def clean_topics(settings: Settings, topics: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(t.strip() for t in topics if t.strip()))
    unknown = check_topics(chosen, settings.topics)
    if unknown:
        raise InputError(f"unknown topic {unknown[0]!r}; known topics: {', '.join(settings.topic_slugs)}")
    return chosen


def normalise_profile(profile: Mapping[str, Any]) -> dict[str, Any]:
    """Collapse whitespace in text fields once, on the way in, so segment rules compare like for like."""
    cleaned = dict(profile)
    for name in PROFILE_FIELDS:
        cleaned[name] = _one_line(profile.get(name))
    cleaned["attributes"] = {_one_line(k): _one_line(v) for k, v in (profile.get("attributes") or {}).items()}
    return cleaned


def _one_line(value: Any) -> str:
    # No control characters (NUL, terminal escapes) and no runs of whitespace.
    return one_line(value)


def new_subscriber_values(
    settings: Settings,
    address: Address,
    profile: Mapping[str, Any],
    *,
    consent_source: str,
    consent_at: datetime | None,
    consent_text: str,
    now: datetime,
    hashed: str | None = None,
) -> dict[str, Any]:
    """The row of a new, active subscriber (``profile`` already normalised)."""
    return {
        "email": address.email,
        "email_key": address.key,
        "email_hash": hashed or email_hash(settings, address.key),
        # PROFILE_FIELDS, written out: an import makes this row a hundred thousand times.
        "first_name": profile.get("first_name") or "",
        "last_name": profile.get("last_name") or "",
        "organisation": profile.get("organisation") or "",
        "role": profile.get("role") or "",
        "sector": profile.get("sector") or "",
        "region": profile.get("region") or "",
        "attributes": dict(profile.get("attributes") or {}),
        "topics": list(profile.get("topics") or []),
        "key_contact": bool(profile.get("key_contact", False)),
        "status": ACTIVE,
        "status_reason": "",
        "status_changed_at": now,
        "consent_source": consent_source,
        "consent_at": consent_at,
        "consent_text": consent_text,
        "created_at": now,
        "updated_at": now,
    }


def add_subscriber(
    engine: Engine,
    settings: Settings,
    raw_email: str,
    profile: Mapping[str, Any],
    *,
    consent_source: str,
    consent_text: str = "",
    cause: str = "admin",
) -> Subscriber:
    """Add one active subscriber; refuses a suppressed or existing address."""
    if not consent_source.strip():
        raise InputError("say where consent came from with --consent-source (e.g. 'signed up at the DSL conference')")
    address = check_address(raw_email)
    topics = clean_topics(settings, profile.get("topics") or [])
    profile = normalise_profile(profile)
    now = db.utcnow()
    with db.write(engine) as conn:
        if _find(conn, address.key) is not None:
            raise StateError(f"{address.email} is already a subscriber; `digest subscribers show {address.email}`")
        if is_suppressed(conn, email_hash(settings, address.key)):
            raise StateError(
                f"{address.email} is on the suppression list and must not be mailed; only "
                "`digest suppressions lift EMAIL --reason …` can change that"
            )
        values = new_subscriber_values(
            settings,
            address,
            {**profile, "topics": topics},
            consent_source=consent_source,
            consent_at=now,
            consent_text=consent_text,
            now=now,
        )
        insert_subscriber(conn, values, cause=cause, detail=consent_source)
    return get_subscriber(engine, address.email)


def insert_subscriber(conn: Connection, values: Mapping[str, Any], *, cause: str, detail: str) -> int:
    """Store a new active subscriber (``values`` from :func:`new_subscriber_values`) and the first line
    of their history; the one way a single person is created."""
    new_id = int(conn.execute(db.subscribers.insert().values(**values).returning(db.subscribers.c.id)).scalar_one())
    conn.execute(
        db.subscriber_history.insert().values(
            subscriber_id=new_id,
            at=values["created_at"],
            old_status=None,
            new_status=ACTIVE,
            cause=cause,
            detail=detail,
        )
    )
    return new_id


def remove_subscriber(engine: Engine, settings: Settings, raw_email: str, *, reason: str = "") -> Subscriber:
    """Unsubscribe by admin command; the address is suppressed."""
    address = check_address(raw_email)
    with db.write(engine) as conn:
        row = _find(conn, address.key)
        if row is None:
            raise NotFoundError(f"no subscriber {address.email}")
        if row.status == ERASED:
            raise StateError(f"{address.email} was erased")
        detail = reason or "removed by admin command"
        if not change_status(conn, row.id, UNSUBSCRIBED, cause="admin", detail=detail):
            # Already unsubscribed (perhaps by their own hand, which they could undo): record the admin's word.
            raise_suppression(conn, row.email_hash, "manual", f"admin: {detail}")
    return get_subscriber(engine, address.email)


def iter_subscribers(
    engine: Engine, *, status: str | None = None, ids: Iterable[int] | None = None
) -> Iterator[Subscriber]:
    """Subscribers in id order, streamed."""
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    query = sa.select(db.subscribers).order_by(db.subscribers.c.id)
    if status:
        query = query.where(db.subscribers.c.status == status)
    if ids is not None:
        query = query.where(db.subscribers.c.id.in_(list(ids)))
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=2000).execute(query):
            yield row_to_subscriber(row)


def neutralise_formula(value: str) -> str:
    """Make a cell that a spreadsheet would run as a formula show as text (OWASP advice)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_rows(subscribers: Iterable[Subscriber]) -> Iterator[list[str]]:
    yield list(EXPORT_COLUMNS)
    for person in subscribers:
        row = [
            person.email,
            *(person.field(name) for name in PROFILE_FIELDS),
            ";".join(person.topics),
            "yes" if person.key_contact else "",
            person.status,
            person.status_reason,
            person.status_changed_at.isoformat(timespec="seconds"),
            person.consent_source,
            person.consent_at.isoformat(timespec="seconds") if person.consent_at else _unknown_unless_erased(person),
            person.consent_text,
            person.created_at.isoformat(timespec="seconds"),
            ";".join(f"{k}={v}" for k, v in sorted(person.attributes.items())),
        ]
        yield [neutralise_formula(str(value)) for value in row]


def _unknown_unless_erased(person: Subscriber) -> str:
    """A consent date nobody recorded shows as "unknown" (an erased person's is simply gone)."""
    return "" if person.status == ERASED else "unknown"


def write_csv(path: Path, rows: Iterable[Sequence[str]]) -> int:
    """Stream rows into ``path`` atomically, UTF-8 with a BOM so spreadsheets detect it.

    Returns the number of data rows (the first row is the header).
    """
    count = -1
    with atomic_text_writer(path, encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        for row in rows:
            writer.writerow(row)
            count += 1
    return max(count, 0)
