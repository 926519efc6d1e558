"""Parsed rows → the subscriber store, in batches, each person's status decided with its evidence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.config import Settings
from digest.people.csvimport.profile import ImportRow
from digest.people.csvimport.summary import ImportSummary
from digest.people.csvimport.tools import NOT_SUBSCRIBED
from digest.people.emails import Address, keyed_hashes
from digest.people.subscribers import (
    ACTIVE,
    PROFILE_FIELDS,
    SUPPRESSING,
    add_suppression,
    change_status,
    email_hash,
    new_subscriber_values,
)
from digest.store import db
from digest.store.bulk import among, insert_returning, insert_rows, select_in

BATCH = 1000
SUPPRESSIONS_HELD = 200_000  # a suppression list up to this long is read into memory once


class BatchWriter:
    """Classifies parsed rows against the store and writes them in batches."""

    def __init__(
        self, conn: Connection, settings: Settings, summary: ImportSummary, *, update: bool, consent_source: str
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.summary = summary
        self.update = update
        self.consent_source = consent_source
        self.batch: dict[str, ImportRow] = {}
        self.seen: dict[str, str] = {}  # key → outcome of its first row in this file
        self.fills: list[dict[str, Any]] = []
        self.late_leavers: list[ImportRow] = []  # a later row says a person written earlier has left
        # SQLite holds its one write lock for the whole import, so for every address not yet seen in
        # the file the tables hold what they held at the start: read that once, not once a batch.
        self.secret = settings.require_secret_key()
        self.new_rows = NewRows(settings, consent_source)
        self.exclusive = conn.dialect.name == "sqlite"
        self.nobody_yet = self.exclusive and conn.execute(sa.select(db.subscribers.c.id).limit(1)).first() is None
        self.analysed = self.exclusive
        self.suppressed_at_start: set[str] | None = None
        if self.exclusive:
            listed = conn.execute(sa.select(sa.func.count()).select_from(db.suppressions)).scalar_one()
            if listed <= SUPPRESSIONS_HELD:
                self.suppressed_at_start = set(conn.execute(sa.select(db.suppressions.c.email_hash)).scalars())

    def add(self, row: ImportRow) -> None:
        """Queue a row; a second row for the same person fills gaps and never makes a leaver active."""
        key = row.address.key
        leaving = row.status not in (ACTIVE, NOT_SUBSCRIBED)
        if key in self.batch:
            self.summary.duplicate += 1
            first = self.batch[key]
            _fill(first.profile, row.profile)
            if leaving and first.status in (ACTIVE, NOT_SUBSCRIBED):
                # The most cautious row wins: someone listed as left is never made active by a duplicate.
                first.status, first.detail, first.line = row.status, row.detail, row.line
            return
        if key in self.seen:
            self.summary.duplicate += 1
            if self.seen[key] == "new":
                self.fills.append({"k": key, **{name: row.profile.get(name, "") for name in PROFILE_FIELDS}})
            if leaving:
                self.late_leavers.append(row)
            return
        self.batch[key] = row
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Classify the queued rows against the store and write them."""
        if not self.batch:
            return
        rows = list(self.batch.values())
        self.batch = {}
        keys = [row.address.key for row in rows]
        hashes = dict(zip(keys, keyed_hashes(self.secret, keys), strict=True))
        existing: dict[str, Any] = {}
        if not self.nobody_yet:
            query = sa.select(db.subscribers).where(among(self.conn, db.subscribers.c.email_key, list(hashes)))
            existing = {found.email_key: found for found in self.conn.execute(query)}
        if self.suppressed_at_start is not None:
            suppressed = {hashed for hashed in hashes.values() if hashed in self.suppressed_at_start}
        else:
            found_hashes = select_in(self.conn, db.suppressions, ("email_hash",), "email_hash", list(hashes.values()))
            suppressed = {hashed for (hashed,) in found_hashes}
        now = db.utcnow()
        inserts: list[tuple[tuple[Any, ...], ImportRow]] = []
        updates: list[dict[str, Any]] = []
        new_row = self.new_rows.maker(now)
        for row in rows:
            key = row.address.key
            current = existing.get(key)
            outcome = self._classify(row, current, hashes[key] in suppressed, hashes[key], now, updates)
            self.seen[key] = outcome
            if outcome == "new":
                # No consent date in the file: unknown, never the day of the import.
                if row.consent_at is None:
                    self.summary.no_consent_date += 1
                inserts.append((new_row(row.address, row.profile, hashes[key], row.consent_at, row.consent_text), row))
            elif outcome == "new-left":
                values = new_subscriber_values(
                    self.settings,
                    row.address,
                    row.profile,
                    consent_source=self.consent_source,
                    consent_at=row.consent_at,
                    consent_text=row.consent_text,
                    now=now,
                    hashed=hashes[key],
                )
                values.update(status=row.status, status_reason=f"import: {self._history_detail(row)}")
                inserts.append((tuple(values[name] for name in self.new_rows.columns), row))
        self._write(inserts, updates, now)
        if not self.analysed:
            # PostgreSQL plans the next batches' look-ups from the table's statistics; an import into a
            # new or small table would otherwise scan it whole for every batch (quadratic). Its own
            # rows count: ANALYZE inside the transaction sees them.
            self.conn.execute(sa.text("ANALYZE subscribers"))
            self.analysed = True

    def _history_detail(self, row: ImportRow) -> str:
        where = f"line {row.line}: {row.detail}"
        return f"{self.consent_source}, {where}" if row.status == ACTIVE else where

    def _classify(
        self, row: ImportRow, current: Any, suppressed: bool, hashed: str, now: datetime, updates: list[dict[str, Any]]
    ) -> str:
        if row.status == NOT_SUBSCRIBED:
            # Never opted in to this list: not stored, not mailed, and not suppressed
            # (they may sign up themselves one day). Someone already here is left as they are.
            self.summary.not_subscribed += 1
            return "not-subscribed"
        if row.status != ACTIVE:
            # The old tool's own export says this person left: honour it.
            self.summary.suppressed += 1
            if current is not None and current.status == ACTIVE:
                change_status(
                    self.conn, current.id, row.status, cause="import", detail=self._history_detail(row), at=now
                )
                return "suppressed"
            if current is None and not suppressed:
                return "new-left"  # stored with that status, its evidence in the history, and suppressed
            add_suppression(self.conn, hashed, SUPPRESSING[row.status], f"import: {self._history_detail(row)}", at=now)
            return "suppressed"
        if suppressed or (current is not None and current.status != ACTIVE):
            self.summary.suppressed += 1
            return "suppressed"
        if current is None:
            self.summary.new += 1
            return "new"
        merged = _merged(current, row.profile)
        if merged is None:
            self.summary.unchanged += 1
        elif self.update:
            self.summary.updated += 1
            updates.append({"k": current.email_key, **merged, "updated_at": now})
        else:
            self.summary.unchanged += 1
            self.summary.differs += 1
        return "existing"

    def _write(
        self, inserts: list[tuple[tuple[Any, ...], ImportRow]], updates: list[dict[str, Any]], now: datetime
    ) -> None:
        if inserts:
            layout = self.new_rows.columns
            key_at, status_at, hash_at = (layout.index(name) for name in ("email_key", "status", "email_hash"))
            ids = {
                key: number
                for key, number in insert_returning(
                    self.conn,
                    db.subscribers,
                    [values for values, _ in inserts],
                    layout,
                    returning=("email_key", "id"),
                )
            }
            # One history row per new subscriber, with the evidence for their status.
            insert_rows(
                self.conn,
                db.subscriber_history,
                ("subscriber_id", "at", "old_status", "new_status", "cause", "detail"),
                [
                    (ids[values[key_at]], now, None, values[status_at], "import", self._history_detail(row))
                    for values, row in inserts
                ],
            )
            for values, row in inserts:
                if row.status in SUPPRESSING:
                    add_suppression(
                        self.conn,
                        values[hash_at],
                        SUPPRESSING[row.status],
                        f"import: {self._history_detail(row)}",
                        at=now,
                    )
        if updates:
            columns = [c for c in updates[0] if c != "k"]
            self.conn.execute(
                db.subscribers.update()
                .where(db.subscribers.c.email_key == sa.bindparam("k"))
                .values({c: sa.bindparam(c) for c in columns}),
                updates,
            )

    def finish(self) -> None:
        """Fill gaps in new subscribers from later duplicate rows in other batches; apply late leavers."""
        if self.fills:
            table = db.subscribers
            self.conn.execute(
                table.update()
                .where(table.c.email_key == sa.bindparam("k"))
                .values(
                    {
                        name: sa.case((table.c[name] == "", sa.bindparam(name)), else_=table.c[name])
                        for name in PROFILE_FIELDS
                    }
                ),
                self.fills,
            )
        for row in self.late_leavers:
            found = self.conn.execute(
                sa.select(db.subscribers.c.id, db.subscribers.c.status).where(
                    db.subscribers.c.email_key == row.address.key
                )
            ).first()
            if found is not None and found.status == ACTIVE:
                change_status(self.conn, found.id, row.status, cause="import", detail=self._history_detail(row))
            elif found is None:
                hashed = email_hash(self.settings, row.address.key)
                add_suppression(self.conn, hashed, SUPPRESSING[row.status], f"import: {self._history_detail(row)}")


class NewRows:
    """The stored row of each new subscriber, as :func:`new_subscriber_values` makes it, written as a tuple.

    An import makes a hundred thousand of these: a dict each, then picked apart into the
    insert's tuple, cost more than the rest of the writer's work on a row. The columns and
    their order are new_subscriber_values's own (asked once); should it ever make other
    columns, every row is made by it instead. tests/people/test_csvimport_fastpaths.py checks the
    values against it.
    """

    # Spelt out, not built from PROFILE_FIELDS: `make` below names each field, so a profile field
    # added there must send rows the slow way until `make` is taught it.
    COLUMNS = (
        "email", "email_key", "email_hash", "first_name", "last_name", "organisation", "role", "sector",
        "region", "attributes", "topics", "key_contact", "status", "status_reason", "status_changed_at",
        "consent_source", "consent_at", "consent_text", "created_at", "updated_at",
    )  # fmt: skip

    def __init__(self, settings: Settings, consent_source: str) -> None:
        self.settings = settings
        self.consent_source = consent_source
        sample = new_subscriber_values(
            settings,
            Address("a@example.org", "a@example.org"),
            {},
            consent_source=consent_source,
            consent_at=None,
            consent_text="",
            now=db.utcnow(),
            hashed="-",
        )
        self.columns = tuple(sample)
        self.fast = self.columns == self.COLUMNS

    def maker(self, now: datetime) -> Callable[[Address, dict[str, Any], str, datetime | None, str], tuple[Any, ...]]:
        """A function making the row of a new, active subscriber created ``now``."""
        source = self.consent_source
        if not self.fast:
            columns, settings = self.columns, self.settings

            def by_the_book(
                address: Address, profile: dict[str, Any], hashed: str, consent_at: datetime | None, consent_text: str
            ) -> tuple[Any, ...]:
                values = new_subscriber_values(
                    settings,
                    address,
                    profile,
                    consent_source=source,
                    consent_at=consent_at,
                    consent_text=consent_text,
                    now=now,
                    hashed=hashed,
                )
                return tuple(values[name] for name in columns)

            return by_the_book

        def make(
            address: Address, profile: dict[str, Any], hashed: str, consent_at: datetime | None, consent_text: str
        ) -> tuple[Any, ...]:
            get = profile.get
            return (
                address.email, address.key, hashed or email_hash(self.settings, address.key),
                get("first_name") or "", get("last_name") or "", get("organisation") or "", get("role") or "",
                get("sector") or "", get("region") or "", dict(get("attributes") or {}), list(get("topics") or []),
                bool(get("key_contact", False)), ACTIVE, "", now, source, consent_at, consent_text, now, now,
            )  # fmt: skip

        return make


def _fill(first: dict[str, Any], later: dict[str, Any]) -> None:
    """Merge a duplicate row into the first: later values fill only what is empty."""
    for name, value in later.items():
        if name == "attributes":
            first["attributes"] = {**value, **first.get("attributes", {})}
        elif not first.get(name) and value:
            first[name] = value


def _merged(current: Any, profile: dict[str, Any]) -> dict[str, Any] | None:
    """The row's values over the stored ones (empty cells keep what is stored); None if equal."""
    values: dict[str, Any] = {name: profile.get(name) or current._mapping[name] for name in PROFILE_FIELDS}
    values["attributes"] = {**(current.attributes or {}), **profile.get("attributes", {})}
    values["topics"] = profile.get("topics", list(current.topics or []))
    values["key_contact"] = profile.get("key_contact", bool(current.key_contact))
    unchanged = all(values[name] == current._mapping[name] for name in PROFILE_FIELDS) and (
        values["attributes"] == (current.attributes or {})
        and values["topics"] == list(current.topics or [])
        and values["key_contact"] == bool(current.key_contact)
    )
    return None if unchanged else values
