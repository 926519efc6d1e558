"""`digest subscribers import`: messy CSV exports in, a clean subscriber store out.

The file is streamed: rows are checked one by one and written in batches,
all inside one transaction, so a 100,000-row file never sits in memory and a
failure (or ``--dry-run``) leaves the database exactly as it was.

Which tool wrote the file, and so what it says about the people in it, is
decided by :mod:`digest.csvlayout`; cells become fields in
:mod:`digest.csvvalues`; workbooks and runaway quotes are caught by
:mod:`digest.csvsniff`. Every status decision records its reason and evidence
(the file's layout, the column, the value) in the subscriber's history.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest import db
from digest.config import Settings
from digest.csvlayout import FILE_STATUSES, NOT_SUBSCRIBED, Layout, Plan, parse_maps, plan_columns
from digest.csvsniff import quote_open_at_end, refuse_non_csv, swallowed_row
from digest.csvvalues import TopicMatcher, json_attributes, split_name, split_tags
from digest.emails import Address, check_address
from digest.errors import InputError
from digest.subscribers import (
    ACTIVE,
    PROFILE_FIELDS,
    SUPPRESSING,
    add_suppression,
    change_status,
    email_hash,
    new_subscriber_values,
)

BATCH = 1000
MAX_FIELD = 1_000_000  # characters in one cell; csv's own default is 131,072
MAX_PROFILE_FIELD = 300
MAX_EVIDENCE = 200  # characters of one evidence value kept in the history
SHOWN_REJECTS = 200
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
    not_subscribed: int = 0  # rows that say the person never opted in: not stored, not mailed
    differs: int = 0  # existing subscribers whose row differs, left alone without --update
    rows: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    attribute_columns: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # how each column was understood
    layout: Layout | None = None
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
    detail: str  # the evidence for the status (or for consent, when active), for the history


class _WrongEncoding(Exception):
    pass


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
    maps: list[str] | None = None,
) -> ImportSummary:
    """Import subscribers from a CSV file; see the module docstring for the guarantees.

    ``maps`` are ``COLUMN=FIELD`` choices that override how a column is read
    (``REGION=region`` uses Mailchimp's geo-IP guess as the region).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    settings.require_secret_key()  # suppression hashes need it; fail before reading
    refuse_non_csv(path)
    chosen_maps = parse_maps(maps or [])
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
                maps=chosen_maps,
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
    maps: Mapping[str, str],
) -> ImportSummary:
    summary = ImportSummary(encoding="utf-8" if encoding == "utf-8-sig" else encoding, dry_run=dry_run)
    old_limit = csv.field_size_limit(MAX_FIELD)
    rejects_handle = rejects_file.open("w", newline="", encoding="utf-8") if rejects_file else None
    rejects_writer = csv.writer(rejects_handle) if rejects_handle else None
    if rejects_writer:
        rejects_writer.writerow(["line", "reason"])
    reader = _Reader(path, encoding, settings, summary, consent_text, check_deliverability, rejects_writer, maps)
    try:
        with path.open("r", encoding=encoding, newline="") as handle, engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            transaction = conn.begin()
            try:
                writer = _BatchWriter(conn, settings, summary, update=update, consent_source=consent_source)
                for item in reader.rows(handle):
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
    reader.report_topics()
    return summary


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


class _Reader:
    """Reads the rows of one file against its column plan."""

    def __init__(
        self,
        path: Path,
        encoding: str,
        settings: Settings,
        summary: ImportSummary,
        consent_text: str,
        check_deliverability: bool,
        rejects_writer: Any,
        maps: Mapping[str, str],
    ) -> None:
        self.path = path
        self.encoding = encoding
        self.summary = summary
        self.consent_text = consent_text
        self.check_deliverability = check_deliverability
        self.rejects_writer = rejects_writer
        self.maps = maps
        self.topics = TopicMatcher(settings.topics)
        self.unknown_topics: dict[str, list[int]] = {}
        self.plan: Plan | None = None

    def rows(self, handle: IO[str]) -> Iterator[_Row]:
        first_line = handle.readline()
        handle.seek(0)
        delimiter = _delimiter(first_line)
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError("the file is empty; it needs a header row with an email column", path=self.path) from None
        except csv.Error as exc:
            raise InputError(f"the header row cannot be read ({exc})", path=self.path, line=1) from None
        plan = plan_columns(header, self.path, self.maps)
        self.plan = plan
        self.summary.layout = plan.layout
        self.summary.columns = [column.describe() for column in plan.columns]
        self.summary.attribute_columns = [c.header for c in plan.columns if (c.target or "").startswith("attr:")]
        email_index = next(c.index for c in plan.columns if c.target == "email")
        last_multiline: int | None = None
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self.summary.rows += 1
                self.summary.reject(start, _csv_reason(exc), self.rejects_writer)
                continue
            # A quote left open at the very end reads to the end of the file without a further line.
            multiline = reader.line_num > start or any("\n" in cell or "\r" in cell for cell in cells)
            if multiline:
                swallowed = swallowed_row(cells, start, delimiter, email_index, len(header))
                if swallowed is not None:
                    raise _runaway_quote(self.path, start, *swallowed)
            last_multiline = start if multiline else None
            if not any(cell.strip() for cell in cells):
                continue  # a blank line or a row of empty cells
            self.summary.rows += 1
            if any("\x00" in cell for cell in cells):
                self.summary.reject(start, "contains a NUL character (is it a binary file?)", self.rejects_writer)
                continue
            if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
                self.summary.reject(
                    start, f"has {len(cells)} fields but the header has {len(header)}", self.rejects_writer
                )
                continue
            try:
                yield self.row(start, cells, plan)
            except InputError as exc:
                self.summary.reject(start, exc.reason, self.rejects_writer)
        if last_multiline is not None and quote_open_at_end(self.path, self.encoding, delimiter, last_multiline):
            raise InputError(
                "a quoted field opens on this line and is never closed before the end of the file; "
                'add the missing closing " (a " inside a field is written ""). Nothing was imported',
                path=self.path,
                line=last_multiline,
            )

    def row(self, line: int, cells: list[str], plan: Plan) -> _Row:
        values: dict[str, str] = {}
        attributes: dict[str, str] = {}
        evidence: list[str] = []
        for index, target in plan.used.items():
            cell = cells[index].strip() if index < len(cells) else ""
            if target.startswith("attr:"):
                if cell:
                    attributes[target[5:]] = " ".join(cell.split())
            elif target == "evidence":
                if cell:
                    evidence.append(f"{plan.columns[index].header} {_shown(cell)}")
            else:
                values[target] = cell
        address = check_address(values.get("email", ""), check_deliverability=self.check_deliverability)
        if values.get("name") and not (values.get("first_name") or values.get("last_name")):
            values["first_name"], values["last_name"] = split_name(values["name"], address.email)
        profile: dict[str, Any] = {}
        for name in PROFILE_FIELDS:
            value = " ".join(values.get(name, "").split())
            if len(value) > MAX_PROFILE_FIELD:
                raise InputError(f"{name} is longer than {MAX_PROFILE_FIELD} characters")
            profile[name] = value
        if values.get("attributes_json"):
            try:
                attributes = {**json_attributes(values["attributes_json"]), **attributes}
            except InputError as exc:
                self.summary.warnings.append(
                    f"{self.path}, line {line}: {exc.reason}; {address.email} imported without them"
                )
        topics = self.topic_cells(line, values, attributes)
        if attributes:
            profile["attributes"] = attributes
        if topics:
            profile["topics"] = topics
        if "key_contact" in values:
            flag = values["key_contact"].lower()
            if flag not in _TRUE | _FALSE:
                raise InputError(f"key contact {values['key_contact']!r} is not yes or no")
            profile["key_contact"] = flag in _TRUE
        status, status_evidence = self.status(values, plan, evidence)
        consent_at, consent_evidence = self.consent(values, plan)
        if status == ACTIVE and plan.layout.name == "mailchimp-subscribed" and consent_at is None:
            raise InputError(
                "neither OPTIN_TIME nor CONFIRM_TIME: nothing shows this person opted in (Mailchimp's "
                "non-subscribed contacts look like this); add them with `digest subscribers add` if they did"
            )
        return _Row(
            line=line,
            address=address,
            profile=profile,
            status=status,
            consent_at=consent_at,
            consent_text=values.get("consent_text") or self.consent_text,
            detail=status_evidence if status != ACTIVE else consent_evidence,
        )

    def topic_cells(self, line: int, values: Mapping[str, str], attributes: dict[str, str]) -> list[str]:
        """Topics from a Topics column and from tags that name a topic; unknown topics are dropped, not the person."""
        topics: list[str] = []
        if values.get("topics"):
            found, unknown = self.topics.match(values["topics"])
            topics.extend(found)
            for name in unknown:
                self.unknown_topics.setdefault(name, []).append(line)
        if values.get("tags"):
            others = []
            for tag in split_tags(values["tags"]):
                slug = self.topics.lookup(tag)
                if slug:
                    topics.append(slug)
                else:
                    others.append(tag)
            if others:
                attributes["tags"] = "; ".join(others)
        return list(dict.fromkeys(topics))

    def status(self, values: Mapping[str, str], plan: Plan, evidence: list[str]) -> tuple[str, str]:
        """The row's status and the evidence for it: the file's layout, or the status column's value."""
        layout = plan.layout
        if layout.status is not None:
            said = f"; {', '.join(evidence)}" if evidence else ""
            return layout.status, f"{layout.description}, known by {layout.evidence}{said}"
        text = values.get("status", "")
        if text.lower() not in FILE_STATUSES:
            raise InputError(
                f"status {text!r} is not one of subscribed, unsubscribed, cleaned, bounced, complained, "
                "non-subscribed (or listmonk's enabled, disabled, blocklisted)"
            )
        return FILE_STATUSES[text.lower()], f"{layout.description}, column {plan.header_of('status')!r} says {text!r}"

    def consent(self, values: Mapping[str, str], plan: Plan) -> tuple[datetime | None, str]:
        """The consent time (CONFIRM_TIME, else OPTIN_TIME, else a consent date) and its evidence with the IPs."""
        evidence = []
        chosen: datetime | None = None
        for time_field, ip_field in (("confirm_at", "confirm_ip"), ("optin_at", "optin_ip"), ("consent_at", "")):
            moment = parse_consent_date(values.get(time_field, ""))
            ip = values.get(ip_field, "") if ip_field else ""
            if moment is None and not ip:
                continue
            chosen = chosen or moment
            said = f"{plan.header_of(time_field)} {values[time_field]}" if moment else ""
            ip_said = f"from {plan.header_of(ip_field)} {_shown(ip)}" if ip else ""
            evidence.append(" ".join(part for part in (said, ip_said) if part))
        layout = plan.layout
        about = f"{layout.description}" + (f"; consent: {'; '.join(evidence)}" if evidence else "")
        return chosen, about

    def report_topics(self) -> None:
        for name, lines in self.unknown_topics.items():
            shown = ", ".join(str(n) for n in lines[:10]) + (" …" if len(lines) > 10 else "")
            self.summary.warnings.append(
                f"{self.path}: unknown topic {name!r} left out on line{'s' if len(lines) > 1 else ''} {shown} "
                f"(the people were imported); topics are {self.topics.known()}"
            )


def _shown(value: str) -> str:
    value = " ".join(value.split())
    return repr(value if len(value) <= MAX_EVIDENCE else value[: MAX_EVIDENCE - 1] + "…")


def _runaway_quote(path: Path, start: int, line: int, text: str) -> InputError:
    shown = text if len(text) <= 80 else text[:77] + "…"
    return InputError(
        f"a quoted field opens on this line and is not closed, so it swallows the rows after it "
        f'(line {line}: {shown!r}); add the missing closing " on line {start} '
        '(a " inside a field is written ""). Nothing was imported',
        path=path,
        line=start,
    )


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {MAX_FIELD:,} characters"
    return f"cannot be read as CSV ({text})"


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
        self.late_leavers: list[_Row] = []  # a later row says a person written earlier has left

    def add(self, row: _Row) -> None:
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
        inserts: list[tuple[dict[str, Any], _Row]] = []
        updates: list[dict[str, Any]] = []
        for row in rows:
            key = row.address.key
            current = existing.get(key)
            outcome = self._classify(row, current, hashes[key] in suppressed, hashes[key], now, updates)
            self.seen[key] = outcome
            if outcome in ("new", "new-left"):
                values = new_subscriber_values(
                    self.settings,
                    row.address,
                    row.profile,
                    consent_source=self.consent_source,
                    consent_at=row.consent_at or (now if outcome == "new" else None),
                    consent_text=row.consent_text,
                    now=now,
                    hashed=hashes[key],
                )
                if outcome == "new-left":
                    values.update(status=row.status, status_reason=f"import: {self._history_detail(row)}")
                inserts.append((values, row))
        self._write(inserts, updates, now)

    def _history_detail(self, row: _Row) -> str:
        where = f"line {row.line}: {row.detail}"
        return f"{self.consent_source}, {where}" if row.status == ACTIVE else where

    def _classify(
        self, row: _Row, current: Any, suppressed: bool, hashed: str, now: datetime, updates: list[dict[str, Any]]
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

    def _write(self, inserts: list[tuple[dict[str, Any], _Row]], updates: list[dict[str, Any]], now: datetime) -> None:
        if inserts:
            db.bulk_insert(self.conn, db.subscribers, [values for values, _ in inserts])
            keys = [values["email_key"] for values, _ in inserts]
            ids = dict(
                self.conn.execute(
                    sa.select(db.subscribers.c.email_key, db.subscribers.c.id).where(
                        db.subscribers.c.email_key.in_(keys)
                    )
                ).all()
            )
            # One history row per new subscriber, with the evidence for their status.
            self.conn.execute(
                db.subscriber_history.insert(),
                [
                    {
                        "subscriber_id": ids[values["email_key"]],
                        "at": now,
                        "old_status": None,
                        "new_status": values["status"],
                        "cause": "import",
                        "detail": self._history_detail(row),
                    }
                    for values, row in inserts
                ],
            )
            for values, row in inserts:
                if row.status in SUPPRESSING:
                    add_suppression(
                        self.conn,
                        values["email_hash"],
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
