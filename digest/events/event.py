"""The generic event every provider translates its own into: plain data, no storage.

Providers (:mod:`digest.providers`) and bounce mailboxes make these;
:func:`digest.events.rules.ingest` stores them and applies the rules. Kept
apart from the rules so that a provider can speak of an event without
reaching the store or the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

EVENT_TYPES = (
    "processed",
    "delivered",
    "deferred",
    "bounced",
    "blocked",
    "dropped",
    "opened",
    "clicked",
    "complained",
    "unsubscribed",
    "group-unsubscribed",
    "group-resubscribed",
    "unknown",
    # From bounce mailboxes (digest.events.bounces): kept as evidence, never acted on.
    "autoreply",
    "unmatched",
    "not-understood",
)


@dataclass(slots=True)
class Event:
    """One provider event, normalised; ``raw`` keeps the payload as received."""

    provider: str
    provider_event_id: str
    type: str
    raw_type: str
    occurred_at: datetime
    raw: str
    email: str = ""
    delivery_id: int | None = None
    issue_id: str | None = None
    message_id: str | None = None
    bounce_class: str | None = None
    status: str = ""
    reason: str = ""
    url: str = ""
    machine_open: bool = False
    bounce_reason: str = ""  # digest.events.bounce_reasons' class, for bounces read from a mailbox
    parser: str = ""  # the reader that decided (dsn, flufl.bounce:qmail, ses-json…)
    matched_by: str = ""  # what tied it to a message we sent, or why nothing did
