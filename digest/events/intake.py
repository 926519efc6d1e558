"""Where provider events come in: a webhook body, a saved file, a provider's suppression lists.

Each source is read by its provider's translator (:mod:`digest.providers`)
into :class:`digest.events.event.Event` records, which go through the one ingest path
(:func:`digest.events.rules.ingest`). Bounce mailboxes are :mod:`digest.events.bounces`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import InputError
from digest.events.event import Event
from digest.events.rules import IngestReport, ingest
from digest.providers.sendgrid.events import normalise_sendgrid, read_sendgrid_body
from digest.store import db

CHUNK = 2000


def ingest_webhook_body(engine: Engine, settings: Settings, payload: str) -> IngestReport:
    """A verified Event Webhook body: read it, store its events once and apply the rules.

    A body that is not JSON events raises :class:`InputError`; one odd event in
    a good body is skipped and reported, and the others are stored.
    """
    events, skipped = _normalised(read_sendgrid_body(payload), db.utcnow())
    report = ingest(engine, settings, events)
    report.received += len(skipped)
    report.reported.extend(skipped)
    return report


def _normalised(objects: list[tuple[Any, str]], received_at: datetime, first: int = 1) -> tuple[list[Event], list[str]]:
    events: list[Event] = []
    skipped: list[str] = []
    for position, (obj, raw) in enumerate(objects, start=first):
        try:
            events.append(normalise_sendgrid(obj, received_at=received_at, raw=raw))
        except Exception as exc:  # meant never to happen; if it does, it costs this event only
            skipped.append(f"event {position} of the body skipped: unreadable ({type(exc).__name__})")
    return events, skipped


def import_events_file(engine: Engine, settings: Settings, path: str, *, chunk: int = CHUNK) -> IngestReport:
    """`digest events import FILE.json`: saved webhook bodies or exports, through the same path."""
    file = Path(path)
    if not file.is_file():
        raise InputError("no such file", path=path)
    objects = read_sendgrid_body(file.read_bytes(), origin=path)
    report = IngestReport()
    received_at = db.utcnow()
    for start in range(0, len(objects), chunk):
        events, skipped = _normalised(objects[start : start + chunk], received_at, first=start + 1)
        report.merge(ingest(engine, settings, events))
        report.received += len(skipped)
        report.reported.extend(skipped)
    return report


def sync_sendgrid(engine: Engine, settings: Settings, *, client: Any = None) -> IngestReport:
    """`digest bounces sync`: SendGrid's bounces, blocks, spam reports and unsubscribes, as events."""
    from digest.providers.sendgrid.lists import suppression_list_pages

    report = IngestReport()
    for page in suppression_list_pages(settings, client=client):
        report.merge(ingest(engine, settings, page))
    return report
