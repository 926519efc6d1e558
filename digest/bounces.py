"""Bounce mailboxes (SMTP sending): DSNs and other bounces, traced to deliveries by their VERP address.

What is found becomes :class:`digest.events.Event` records handed to
:func:`digest.events.ingest`, so the same rules apply however a bounce arrives.
"""

from __future__ import annotations

import email
import hashlib
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest import db
from digest.config import Settings
from digest.errors import InputError
from digest.events import Event, IngestReport, ingest

_STATUS_RE = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")


@dataclass
class ScanReport:
    messages: int = 0
    bounces: int = 0
    not_understood: int = 0
    ingest: IngestReport = field(default_factory=IngestReport)


@dataclass(frozen=True)
class Failure:
    address: str
    permanent: bool
    status: str
    reason: str
    delivered: bool = False  # Action: delayed or relayed, not a failure


def read_mailbox(path: Path) -> Iterator[Message]:
    """Messages of an mbox file or a Maildir folder."""
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise InputError("is a folder but not a Maildir (no cur/ or new/)", path=path)
        box: Any = mailbox.Maildir(path, factory=None, create=False)
    elif path.is_file():
        box = mailbox.mbox(path, factory=None, create=False)
    else:
        raise InputError("no such mailbox", path=path)
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        yield email.message_from_bytes(raw)


def verp_delivery(message: Message, settings: Settings) -> int | None:
    """The delivery id in the VERP address the bounce was sent back to (bounces+<id>@domain)."""
    base = settings.email.bounce_address or f"bounces@{settings.email.domain}"
    local, _, domain = base.partition("@")
    pattern = re.compile(rf"{re.escape(local)}\+(\d+)@{re.escape(domain)}", re.IGNORECASE)
    for header in ("X-Original-To", "Delivered-To", "Envelope-To", "To", "Return-Path"):
        for value in message.get_all(header, []):
            match = pattern.search(str(value))
            if match:
                return int(match.group(1))
    return None


def dsn_failures(message: Message) -> list[Failure]:
    """Per-recipient results from an RFC 3464 delivery status notification."""
    found: list[Failure] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        groups: list[Any] = [g for g in payload if isinstance(g, Message)] if isinstance(payload, list) else []
        # The first group is about the reporting MTA; the rest are one per recipient.
        for group in groups[1:] if len(groups) > 1 else groups:
            action = str(group.get("Action", "")).strip().lower()
            recipient = str(group.get("Final-Recipient") or group.get("Original-Recipient") or "")
            address = recipient.split(";", 1)[-1].strip().strip("<>")
            status = str(group.get("Status", "")).strip()
            reason = " ".join(str(group.get("Diagnostic-Code", "")).split(";", 1)[-1].split())
            if not address:
                continue
            if action in ("delayed", "relayed", "delivered", "expanded"):
                found.append(Failure(address, False, status, reason or action, delivered=True))
            elif action == "failed":
                found.append(Failure(address, not status.startswith("4"), status, reason or "failed"))
    return found


def message_failures(message: Message) -> list[Failure]:
    """Failed recipients of a bounce: the DSN when there is one, flufl.bounce's detectors otherwise."""
    found = dsn_failures(message)
    if found:
        return found
    from flufl.bounce import all_failures

    temporary, permanent = all_failures(message)
    status_match = _STATUS_RE.search(message.as_string()[:20000])
    status = status_match.group(0) if status_match else ""
    failures = [Failure(a.decode("utf-8", "replace"), True, status, "non-standard bounce") for a in permanent]
    failures += [
        Failure(a.decode("utf-8", "replace"), False, status, "non-standard bounce, temporary")
        for a in temporary
        if a not in permanent
    ]
    return failures


def scan_mailbox(engine: Engine, settings: Settings, path: Path) -> ScanReport:
    """`digest bounces scan MAILBOX`: find the failed recipients and apply the bounce rules."""
    report = ScanReport()
    events: list[Event] = []
    for message in read_mailbox(Path(path)):
        report.messages += 1
        failures = message_failures(message)
        delivery_id = verp_delivery(message, settings)
        if not failures and delivery_id is not None:
            # Only the VERP address says who bounced; the message body is beyond the detectors.
            failures = [Failure(_delivery_email(engine, delivery_id), True, "", "bounce without a readable report")]
        if not failures:
            report.not_understood += 1
            continue
        for failure in failures:
            if failure.delivered or not failure.address:
                continue
            report.bounces += 1
            events.append(_bounce_event(message, failure, delivery_id))
    report.ingest = ingest(engine, settings, events)
    return report


def _delivery_email(engine: Engine, delivery_id: int) -> str:
    with db.read(engine) as conn:
        found = conn.execute(sa.select(db.deliveries.c.email).where(db.deliveries.c.id == delivery_id)).scalar()
    return str(found or "")


def _bounce_event(message: Message, failure: Failure, delivery_id: int | None) -> Event:
    from email.utils import parsedate_to_datetime

    identity = f"{message.get('Message-ID', '')}|{failure.address.lower()}|{failure.status}"
    if not message.get("Message-ID"):
        identity += "|" + hashlib.sha256(message.as_bytes()[:65536]).hexdigest()
    try:
        occurred = parsedate_to_datetime(str(message["Date"])) if message["Date"] else db.utcnow()
        if occurred.tzinfo is None:
            raise ValueError
    except (TypeError, ValueError):
        occurred = db.utcnow()
    raw = message.as_string()[:100_000]
    return Event(
        provider="smtp",
        provider_event_id="dsn:" + hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest(),
        type="bounced" if failure.permanent else "blocked",
        raw_type="dsn" if failure.reason != "non-standard bounce" else "bounce",
        occurred_at=occurred,
        raw=raw,
        email=failure.address,
        delivery_id=delivery_id,
        bounce_class="hard" if failure.permanent else "soft",
        status=failure.status[:32],
        reason=failure.reason[:2000],
    )
