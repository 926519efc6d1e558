"""`digest subscribers import`: messy CSV exports in, a clean subscriber store out.

The file is streamed: rows are checked one by one and written in batches,
all inside one transaction, so a 100,000-row file never sits in memory and a
failure (or ``--dry-run``) leaves the database exactly as it was.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest import db
from digest.config import Settings
from digest.emails import Address, check_address
from digest.errors import InputError
from digest.subscribers import (
    ACTIVE,
    BOUNCED,
    COMPLAINED,
    PROFILE_FIELDS,
    UNSUBSCRIBED,
    add_suppression,
    change_status,
    email_hash,
    new_subscriber_values,
)

BATCH = 1000
MAX_FIELD = 1_000_000  # characters in one cell; csv's own default is 131,072
MAX_PROFILE_FIELD = 300
SHOWN_REJECTS = 200

# Header names from our own exports and from common tools (Mailchimp, CRMs,
# spreadsheets), compared after lower-casing and folding spaces, "_" and "-".
HEADER_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        [
            "email",
            "email address",
            "e mail",
            "e mail address",
            "emailaddress",
            "mail",
            "email addr",
            "work email",
            "primary email",
        ],
        "email",
    ),
    **dict.fromkeys(["first name", "firstname", "first", "given name", "forename", "fname"], "first_name"),
    **dict.fromkeys(["last name", "lastname", "last", "surname", "family name", "lname"], "last_name"),
    **dict.fromkeys(
        [
            "organisation",
            "organization",
            "company",
            "school",
            "employer",
            "org",
            "organisation name",
            "organization name",
            "setting",
        ],
        "organisation",
    ),
    **dict.fromkeys(["role", "job title", "position", "job role", "jobtitle"], "role"),
    **dict.fromkeys(["sector"], "sector"),
    **dict.fromkeys(["region", "county", "area", "local authority"], "region"),
    **dict.fromkeys(["topics", "interests"], "topics"),
    **dict.fromkeys(["key contact", "keycontact"], "key_contact"),
    **dict.fromkeys(
        [
            "consent date",
            "consent at",
            "optin time",
            "opt in time",
            "opt in date",
            "consent_at",
            "confirm time",
            "subscribed at",
            "date subscribed",
        ],
        "consent_at",
    ),
    **dict.fromkeys(["consent text", "consent", "consent wording", "notice version", "privacy notice"], "consent_text"),
    **dict.fromkeys(["status", "member status", "subscription status"], "status"),
}
# Columns of mailing-tool exports that are tracking data, not facts about a person.
IGNORED_COLUMNS = {
    "member rating",
    "optin ip",
    "confirm ip",
    "latitude",
    "longitude",
    "gmtoff",
    "dstoff",
    "timezone",
    "cc",
    "last changed",
    "leid",
    "euid",
    "unsub time",
    "unsub campaign title",
    "unsub campaign id",
    "unsub reason",
    "unsub reason other",
    "clean time",
    "clean campaign title",
    "clean campaign id",
    "marketing permissions",
    "status_reason",
    "status reason",
    "status changed at",
    "created at",
    "attributes",
}
FILE_STATUSES = {
    "subscribed": ACTIVE,
    "active": ACTIVE,
    "": ACTIVE,
    "unsubscribed": UNSUBSCRIBED,
    "cleaned": BOUNCED,
    "bounced": BOUNCED,
    "complained": COMPLAINED,
    "spam": COMPLAINED,
    "erased": UNSUBSCRIBED,
}
_TRUE = {"yes", "y", "true", "1", "x"}
_FALSE = {"no", "n", "false", "0", ""}


@dataclass
class ImportSummary:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate: int = 0
    invalid: int = 0
    suppressed: int = 0
    differs: int = 0  # existing subscribers whose row differs, left alone without --update
    rows: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    attribute_columns: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    dry_run: bool = False

    def reject(self, line: int, reason: str, writer: Any = None) -> None:
        self.invalid += 1
        if len(self.rejects) < SHOWN_REJECTS:
            self.rejects.append((line, reason))
        if writer is not None:
            writer.writerow([line, reason])


@dataclass
class _Row:
    line: int
    address: Address
    profile: dict[str, Any]
    status: str
    consent_at: datetime | None
    consent_text: str


class _WrongEncoding(Exception):
    pass


def normalise_header(name: str) -> str:
    return " ".join(re.sub(r"[\s_\-]+", " ", name.strip().strip("\ufeff*").lower()).split())


def attribute_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_") or "column"


def import_csv(
    engine: Engine,
    settings: Settings,
    path: Path,
    *,
    dry_run: bool = False,
    update: bool = False,
    consent_source: str | None = None,
    consent_text: str = "",
    encoding: str | None = None,
    check_deliverability: bool = False,
    rejects_file: Path | None = None,
) -> ImportSummary:
    """Import subscribers from a CSV file; see the module docstring for the guarantees."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    settings.require_secret_key()  # suppression hashes need it; fail before reading
    source = consent_source or f"import: {path.name}"
    for candidate in [encoding] if encoding else ["utf-8-sig", "cp1252"]:
        assert candidate is not None
        try:
            summary = _import(
                engine,
                settings,
                path,
                candidate,
                dry_run=dry_run,
                update=update,
                consent_source=source,
                consent_text=consent_text,
                check_deliverability=check_deliverability,
                rejects_file=rejects_file,
            )
        except _WrongEncoding as exc:
            if encoding:
                raise InputError(f"not valid {encoding} text ({exc}); try another --encoding", path=path) from None
            continue
        if candidate == "cp1252" and not encoding:
            summary.warnings.insert(0, f"{path}: not UTF-8; read as Windows-1252 (use --encoding to choose)")
        return summary
    raise InputError("neither UTF-8 nor Windows-1252 text; name the encoding with --encoding (e.g. latin-1)", path=path)


def _import(
    engine: Engine,
    settings: Settings,
    path: Path,
    encoding: str,
    *,
    dry_run: bool,
    update: bool,
    consent_source: str,
    consent_text: str,
    check_deliverability: bool,
    rejects_file: Path | None,
) -> ImportSummary:
    summary = ImportSummary(encoding="utf-8" if encoding == "utf-8-sig" else encoding, dry_run=dry_run)
    old_limit = csv.field_size_limit(MAX_FIELD)
    rejects_handle = rejects_file.open("w", newline="", encoding="utf-8") if rejects_file else None
    rejects_writer = csv.writer(rejects_handle) if rejects_handle else None
    if rejects_writer:
        rejects_writer.writerow(["line", "reason"])
    try:
        with path.open("r", encoding=encoding, newline="") as handle, engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            transaction = conn.begin()
            try:
                writer = _BatchWriter(conn, settings, summary, update=update, consent_source=consent_source)
                for item in _parse_rows(
                    handle, path, settings, summary, consent_text, check_deliverability, rejects_writer
                ):
                    writer.add(item)
                writer.flush()
                writer.finish()
            except UnicodeDecodeError as exc:
                transaction.rollback()
                raise _WrongEncoding(str(exc)) from None
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
    finally:
        csv.field_size_limit(old_limit)
        if rejects_handle:
            rejects_handle.close()
    return summary


def _header_map(header: list[str], path: Path, summary: ImportSummary) -> dict[int, str]:
    """Column index → our field name, or ``attr:<key>`` for free attributes."""
    mapping: dict[int, str] = {}
    taken: dict[str, str] = {}
    for index, name in enumerate(header):
        normalised = normalise_header(name)
        if not normalised or normalised in IGNORED_COLUMNS:
            continue
        target = HEADER_ALIASES.get(normalised)
        if target is None:
            target = "attr:" + attribute_key(name)
            summary.attribute_columns.append(name.strip())
        if target in taken:
            raise InputError(
                f"columns {taken[target]!r} and {name.strip()!r} both mean {target}; remove one", path=path, line=1
            )
        taken[target] = name.strip()
        mapping[index] = target
    if "email" not in taken:
        shown = ", ".join(repr(h.strip()) for h in header[:12])
        raise InputError(
            f"no email column; the header has {shown}. Name the column 'email' (or 'Email Address', 'E-mail')",
            path=path,
            line=1,
        )
    return mapping


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _parse_rows(
    handle: IO[str],
    path: Path,
    settings: Settings,
    summary: ImportSummary,
    consent_text: str,
    check_deliverability: bool,
    rejects_writer: Any,
) -> Iterator[_Row]:
    first_line = handle.readline()
    handle.seek(0)
    reader = csv.reader(handle, delimiter=_delimiter(first_line))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("the file is empty; it needs a header row with an email column", path=path) from None
    except csv.Error as exc:
        raise InputError(f"the header row cannot be read ({exc})", path=path, line=1) from None
    mapping = _header_map(header, path, summary)
    known_topics = set(settings.topic_slugs)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            summary.rows += 1
            summary.reject(start, _csv_reason(exc), rejects_writer)
            continue
        if not any(cell.strip() for cell in cells):
            continue  # a blank line or a row of empty cells
        summary.rows += 1
        if any("\x00" in cell for cell in cells):
            summary.reject(start, "contains a NUL character (is it a binary file?)", rejects_writer)
            continue
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
            summary.reject(start, f"has {len(cells)} fields but the header has {len(header)}", rejects_writer)
            continue
        try:
            yield _row(start, cells, mapping, known_topics, consent_text, check_deliverability)
        except InputError as exc:
            summary.reject(start, exc.reason, rejects_writer)


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {MAX_FIELD:,} characters"
    return f"cannot be read as CSV ({text})"


def _row(
    line: int,
    cells: list[str],
    mapping: dict[int, str],
    known_topics: set[str],
    consent_text: str,
    check_deliverability: bool,
) -> _Row:
    values: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for index, target in mapping.items():
        cell = cells[index].strip() if index < len(cells) else ""
        if target.startswith("attr:"):
            if cell:
                attributes[target[5:]] = " ".join(cell.split())
        else:
            values[target] = cell
    address = check_address(values.get("email", ""), check_deliverability=check_deliverability)
    profile: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        value = " ".join(values.get(name, "").split())
        if len(value) > MAX_PROFILE_FIELD:
            raise InputError(f"{name} is longer than {MAX_PROFILE_FIELD} characters")
        profile[name] = value
    if attributes:
        profile["attributes"] = attributes
    if values.get("topics"):
        topics = [t.strip() for t in re.split(r"[;,|]", values["topics"]) if t.strip()]
        unknown = [t for t in topics if t not in known_topics]
        if unknown:
            raise InputError(f"unknown topic {unknown[0]!r}")
        profile["topics"] = topics
    if "key_contact" in values:
        flag = values["key_contact"].lower()
        if flag not in _TRUE | _FALSE:
            raise InputError(f"key contact {values['key_contact']!r} is not yes or no")
        profile["key_contact"] = flag in _TRUE
    status_text = values.get("status", "").lower()
    if status_text not in FILE_STATUSES:
        raise InputError(
            f"status {values['status']!r} is not one of subscribed, unsubscribed, cleaned, bounced, complained"
        )
    return _Row(
        line=line,
        address=address,
        profile=profile,
        status=FILE_STATUSES[status_text],
        consent_at=parse_consent_date(values.get("consent_at", "")),
        consent_text=values.get("consent_text") or consent_text,
    )


def parse_consent_date(text: str) -> datetime | None:
    """ISO dates and times, or UK spreadsheet dates (dd/mm/yyyy); naive times are taken as UTC."""
    text = text.strip()
    if not text:
        return None
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d-%m-%Y"):
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise InputError(f"consent date {text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _BatchWriter:
    """Classifies parsed rows against the store and writes them in batches."""

    def __init__(
        self, conn: Connection, settings: Settings, summary: ImportSummary, *, update: bool, consent_source: str
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.summary = summary
        self.update = update
        self.consent_source = consent_source
        self.batch: dict[str, _Row] = {}
        self.seen: dict[str, str] = {}  # key → outcome of its first row in this file
        self.fills: list[dict[str, Any]] = []

    def add(self, row: _Row) -> None:
        key = row.address.key
        if key in self.batch:
            self.summary.duplicate += 1
            _fill(self.batch[key].profile, row.profile)
            return
        if key in self.seen:
            self.summary.duplicate += 1
            if self.seen[key] == "new":
                self.fills.append({"k": key, **{name: row.profile.get(name, "") for name in PROFILE_FIELDS}})
            return
        self.batch[key] = row
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        rows = list(self.batch.values())
        self.batch = {}
        hashes = {row.address.key: email_hash(self.settings, row.address.key) for row in rows}
        existing = {
            found.email_key: found
            for found in self.conn.execute(
                sa.select(db.subscribers).where(db.subscribers.c.email_key.in_(list(hashes)))
            )
        }
        suppressed = set(
            self.conn.execute(
                sa.select(db.suppressions.c.email_hash).where(db.suppressions.c.email_hash.in_(list(hashes.values())))
            ).scalars()
        )
        now = db.utcnow()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for row in rows:
            key = row.address.key
            current = existing.get(key)
            outcome = self._classify(row, current, hashes[key] in suppressed, hashes[key], now, updates)
            self.seen[key] = outcome
            if outcome == "new":
                inserts.append(
                    new_subscriber_values(
                        self.settings,
                        row.address,
                        row.profile,
                        consent_source=self.consent_source,
                        consent_at=row.consent_at or now,
                        consent_text=row.consent_text,
                        now=now,
                        hashed=hashes[key],
                    )
                )
        self._write(inserts, updates, now)

    def _classify(
        self, row: _Row, current: Any, suppressed: bool, hashed: str, now: datetime, updates: list[dict[str, Any]]
    ) -> str:
        if row.status != ACTIVE:
            # The old tool's own export says this person left: honour it.
            self.summary.suppressed += 1
            if current is not None and current.status == ACTIVE:
                change_status(
                    self.conn,
                    current.id,
                    row.status,
                    cause="import",
                    detail=f"line {row.line} says {row.status}",
                    at=now,
                )
            else:
                add_suppression(self.conn, hashed, row.status, f"import: line {row.line}", at=now)
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

    def _write(self, inserts: list[dict[str, Any]], updates: list[dict[str, Any]], now: datetime) -> None:
        if inserts:
            db.bulk_insert(self.conn, db.subscribers, inserts)
            # One history row per new subscriber, written by the database itself.
            keys = [row["email_key"] for row in inserts]
            new_people = sa.select(
                db.subscribers.c.id,
                sa.literal(now, db.UTCDateTime),
                sa.literal(ACTIVE),
                sa.literal("import"),
                sa.literal(self.consent_source),
            ).where(db.subscribers.c.email_key.in_(keys))
            self.conn.execute(
                db.subscriber_history.insert().from_select(
                    ["subscriber_id", "at", "new_status", "cause", "detail"], new_people
                )
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
        """Fill gaps in new subscribers from later duplicate rows in other batches."""
        if not self.fills:
            return
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
