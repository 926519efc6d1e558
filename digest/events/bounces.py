"""Bounce mailboxes (SMTP sending): what each message is, and whether it is tied to a message we sent.

What is found becomes :class:`digest.events.event.Event` records handed to
:func:`digest.events.rules.ingest`, so the same rules apply however a bounce arrives.

A message in the bounce mailbox changes somebody only when it is tied to a
message we sent (issue 12: forged bounces must silence nobody):

* a signed VERP address (``bounces+<delivery>-<tag>@``, digest.providers.smtp.verp) anywhere
  in it: the return path it came back to, or the returned copy's headers; or
* a Message-ID it quotes (returned headers, inline copy, In-Reply-To) that is
  exactly one delivery's recorded Message-ID (random, so it cannot be guessed);

and then only for the person that delivery went to, named by the report
(Final-Recipient, else Original-Recipient). Everything else (unsigned or
forged VERP ids, a report about somebody else, a bare ``X-Digest-Delivery``
number, which anyone can write) is stored as ``unmatched`` evidence that
`digest bounces review` lists and nobody acts on. Auto-replies and delay
notices are stored and never count; what no reader understands is stored as
``not-understood``, never as a bounce.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.config import Settings
from digest.errors import ConfigError, ProviderError
from digest.events.bounce_parse import (
    AUTOREPLY,
    BOUNCE,
    COMPLAINT,
    DELAYED,
    Finding,
    Reading,
    clean_address,
    read_message,
)
from digest.events.event import Event
from digest.events.mail_decode import parse_bytes
from digest.events.mailboxes import MailItem, open_source
from digest.events.rules import IngestReport, ingest
from digest.providers.smtp import verp
from digest.store import db

RAW_LIMIT = 100_000
CHUNK = 200  # messages per ingest transaction (and per IMAP "processed" mark)


@dataclass
class ScanReport:
    """What a scan found, message by message and recipient by recipient."""

    source: str = ""
    messages: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    delays: int = 0
    autoreplies: int = 0
    unmatched: int = 0
    not_understood: int = 0
    unreadable: list[str] = field(default_factory=list)
    ingest: IngestReport = field(default_factory=IngestReport)


@dataclass(frozen=True)
class Anchor:
    """Deliveries a message is proved to be about, by lower-case address, and how that was proved."""

    deliveries: dict[str, tuple[int, str]]  # email key → (delivery id, email as sent)
    how: str


def scan_mailbox(engine: Engine, settings: Settings, where: str | Path, *, chunk: int = CHUNK) -> ScanReport:
    """`digest bounces scan MAILBOX`: read every message, tie it to what we sent, apply the rules."""
    settings.require_secret_key()  # VERP tags are checked with it: refuse before reading anything
    source = open_source(settings, str(where))
    report = ScanReport(source=source.label)
    events: list[Event] = []
    done: list[MailItem] = []

    def flush() -> None:
        report.ingest.merge(ingest(engine, settings, events))
        source.processed(done)  # only once their events are committed
        events.clear()
        done.clear()

    try:
        for item in source.messages():
            report.messages += 1
            try:
                found = message_events(engine, settings, item.raw)
            except (ConfigError, ProviderError):
                raise
            except Exception as exc:  # one malformed message must not stop the scan
                report.unreadable.append(f"{item.key}: unreadable, skipped ({type(exc).__name__}: {exc})"[:300])
                continue
            _count(report, found)
            events.extend(found)
            done.append(item)
            if len(done) >= chunk:
                flush()
        flush()
    finally:
        source.close()
    return report


def _count(report: ScanReport, events: Sequence[Event]) -> None:
    for event in events:
        if event.type == "bounced":
            report.hard += 1
        elif event.type == "blocked":
            report.soft += 1
        elif event.type == "complained":
            report.complaints += 1
        elif event.type == "deferred":
            report.delays += 1
        elif event.type == "autoreply":
            report.autoreplies += 1
        elif event.type == "unmatched":
            report.unmatched += 1
        elif event.type == "not-understood":
            report.not_understood += 1


def message_events(engine: Engine, settings: Settings, raw: bytes) -> list[Event]:
    """The events one raw message stands for (see the module's docstring for when one may act)."""
    message = parse_bytes(raw)
    reading = read_message(message)
    text = raw[:1_000_000].decode("utf-8", "replace")
    with db.read(engine) as conn:
        anchor, doubt = _anchor(conn, settings, text, reading)
    base = _EventBase(message, reading, raw, text)
    if reading.kind in (BOUNCE, COMPLAINT):
        found = [_finding_event(base, finding, anchor, doubt) for finding in reading.findings]
        return found or [base.event("not-understood", anchor=_only(anchor, reading), matched_by=doubt)]
    if reading.kind == DELAYED:
        return [base.event("deferred", anchor=_only(anchor, reading), matched_by=_how(anchor, doubt))]
    if reading.kind == AUTOREPLY:
        return [base.event("autoreply", anchor=_only(anchor, reading), matched_by=_how(anchor, doubt))]
    return [base.event("not-understood", anchor=_only(anchor, reading), matched_by=_how(anchor, doubt))]


def _anchor(conn: Connection, settings: Settings, text: str, reading: Reading) -> tuple[Anchor | None, str]:
    """The deliveries a message is proved to be about, or None and why not."""
    doubt = ""
    tag = verp.find(settings, text)
    d = db.deliveries
    if tag is not None and tag.signed:
        row = conn.execute(sa.select(d.c.id, d.c.email).where(d.c.id == tag.delivery_id)).first()
        if row is not None and row.email:
            return Anchor({row.email.lower(): (row.id, row.email)}, f"signed VERP {tag.address}"), ""
        doubt = f"signed VERP for delivery {tag.delivery_id}, which is not in the ledger"
    elif tag is not None:
        doubt = f"VERP address {tag.address} without a valid signature: not trusted (anyone can write one)"
    for message_id in reading.referenced_ids:
        rows = conn.execute(
            sa.select(d.c.id, d.c.email).where(d.c.provider_message_id == message_id[:300]).limit(2)
        ).all()
        # A Message-ID shared by several deliveries (a provider's batch id) proves nothing about one person.
        if len(rows) == 1 and rows[0].email:
            row = rows[0]
            return Anchor({row.email.lower(): (row.id, row.email)}, f"our Message-ID {message_id}"), ""
    return None, doubt or "no signed VERP address and no Message-ID of ours in it"


def _only(anchor: Anchor | None, reading: Reading) -> tuple[int, str] | None:
    """The one delivery a whole-message event (auto-reply, delay, not understood) is about."""
    if anchor is None:
        return None
    if len(anchor.deliveries) == 1:
        return next(iter(anchor.deliveries.values()))
    return anchor.deliveries.get(clean_address(parseaddr(reading.sender)[1]).lower())


def _how(anchor: Anchor | None, doubt: str) -> str:
    return anchor.how if anchor is not None else doubt


def _finding_event(base: _EventBase, finding: Finding, anchor: Anchor | None, doubt: str) -> Event:
    """A bounce or complaint for one recipient: acted on only when it names the person we sent that message to."""
    matched: tuple[int, str] | None = None
    how = doubt
    if anchor is not None:
        final = anchor.deliveries.get(finding.address.lower())
        original = anchor.deliveries.get(finding.original.lower()) if finding.original else None
        matched = final or original
        if matched is not None:
            how = anchor.how + ("" if final else " (by Original-Recipient)")
        elif finding.action == "complaint" and len(anchor.deliveries) == 1:
            # Feedback loops redact or rewrite the recipient; the proof says whose message was reported.
            matched = next(iter(anchor.deliveries.values()))
            how = anchor.how + (f" (the report names {finding.address})" if finding.address else "")
        else:
            named = ", ".join(finding.addresses)
            how = f"{anchor.how}, but the report names {named}, not the person that message went to"
    if matched is None:
        event = base.event("unmatched", finding=finding, matched_by=how)
        event.email = finding.original if finding.original and not finding.address else finding.address
        return event
    if finding.action == "complaint":
        kind = "complained"
    else:
        kind = "bounced" if finding.verdict.hard else "blocked"
    return base.event(kind, anchor=matched, finding=finding, matched_by=how)


class _EventBase:
    """What every event from one message shares: its identity, time and raw text."""

    def __init__(self, message: Message, reading: Reading, raw: bytes, text: str) -> None:
        self.reading = reading
        self.identity = reading.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
        self.occurred = _date(message, reading.date)
        self.raw = text.replace("\x00", "")[:RAW_LIMIT]

    def event(
        self,
        kind: str,
        *,
        anchor: tuple[int, str] | None = None,
        finding: Finding | None = None,
        matched_by: str = "",
    ) -> Event:
        reading = self.reading
        address = finding.address if finding else ""
        status = finding.status if finding else ""
        key = f"{self.identity}|{kind}|{address.lower()}|{status}"
        if finding is not None:
            reason, diagnostic, parser = finding.verdict.reason, finding.diagnostic, finding.parser
        else:
            reason = {"deferred": "delayed", "autoreply": "autoreply"}.get(kind, "not-understood")
            diagnostic = reading.note or f"subject: {reading.subject}"
            parser = reading.parser
        bounce_class = None
        if kind in ("bounced", "blocked") and finding is not None:
            bounce_class = "hard" if finding.verdict.hard else "soft"
        return Event(
            provider="smtp",
            provider_event_id="mail:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest(),
            type=kind,
            raw_type=reading.kind,
            occurred_at=self.occurred,
            raw=self.raw,
            email=(anchor[1] if anchor else address or clean_address(parseaddr(reading.sender)[1]))[:320],
            delivery_id=anchor[0] if anchor else None,
            bounce_class=bounce_class,
            status=status[:32],
            reason=diagnostic[:2000],
            bounce_reason=reason[:32],
            parser=parser[:64],
            matched_by=matched_by[:200],
        )


def _date(message: Message, value: str) -> Any:
    """The message's Date, if it is a sane one; else now."""
    now = db.utcnow()
    try:
        when = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        when = None
    if when is None or when.tzinfo is None or not now - timedelta(days=3650) < when < now + timedelta(days=1):
        return now
    return when


# --- what is kept for people to look at ------------------------------------------------------

REVIEW_TYPES = ("unmatched", "not-understood")
EVIDENCE_TYPES = ("bounced", "blocked", "complained", "deferred", "autoreply", "unmatched", "not-understood")


def review_evidence(engine: Engine, *, limit: int = 50) -> list[Any]:
    """Mailbox messages nobody acted on: bounces not tied to a message we sent, and what no reader understood."""
    e = db.events
    query = (
        sa.select(
            e.c.id,
            e.c.type,
            e.c.email,
            e.c.occurred_at,
            e.c.status,
            e.c.reason,
            e.c.bounce_reason,
            e.c.parser,
            e.c.matched_by,
            e.c.raw_type,
        )
        .where(e.c.provider == "smtp", e.c.type.in_(REVIEW_TYPES))
        .order_by(e.c.id.desc())
        .limit(limit)
    )
    with db.read(engine) as conn:
        return list(conn.execute(query).all())


def subscriber_evidence(engine: Engine, subscriber_id: int, *, limit: int = 20) -> list[Any]:
    """The bounce-mailbox evidence about one subscriber, newest first."""
    e = db.events
    query = (
        sa.select(
            e.c.id,
            e.c.type,
            e.c.occurred_at,
            e.c.status,
            e.c.reason,
            e.c.bounce_reason,
            e.c.parser,
            e.c.matched_by,
            e.c.outcome,
            e.c.bounce_class,
        )
        .where(e.c.subscriber_id == subscriber_id, e.c.type.in_(EVIDENCE_TYPES), e.c.bounce_reason != "")
        .order_by(e.c.occurred_at.desc(), e.c.id.desc())
        .limit(limit)
    )
    with db.read(engine) as conn:
        return list(conn.execute(query).all())
