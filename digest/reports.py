"""Reports an admin reads: one subscriber's full story."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.subscribers import PROFILE_FIELDS, get_subscriber, history


def subscriber_report(engine: Engine, settings: Settings, email: str) -> Iterator[str]:
    """Lines describing a subscriber: fields, consent, segments, status history, deliveries."""
    from digest.segments import load_segments, segments_of

    person = get_subscriber(engine, email)
    yield f"email:        {person.email}"
    for name in PROFILE_FIELDS:
        yield f"{name + ':':<14}{person.field(name) or '-'}"
    yield f"topics:       {', '.join(person.topics) or 'all'}"
    yield f"key contact:  {'yes' if person.key_contact else 'no'}"
    for key, value in sorted(person.attributes.items()):
        yield f"attribute:    {key} = {value}"
    yield f"status:       {person.status} since {person.status_changed_at:%Y-%m-%d %H:%M} UTC"
    if person.status_reason:
        yield f"reason:       {person.status_reason}"
    consent_at = f" on {person.consent_at:%Y-%m-%d}" if person.consent_at else ""
    yield f"consent:      {person.consent_source or '-'}{consent_at}"
    if person.consent_text:
        yield f"              {person.consent_text}"
    yield f"created:      {person.created_at:%Y-%m-%d %H:%M} UTC"
    if settings.segments_file.is_file():
        matched = segments_of(engine, load_segments(settings), person.id)
        yield f"segments:     {', '.join(matched) or '(none: not active, or no segment matches)'}"
    yield "history:"
    for entry in history(engine, person.id):
        change = f"{entry.old_status or 'new'} → {entry.new_status}"
        detail = f" ({entry.detail})" if entry.detail else ""
        yield f"  {entry.at:%Y-%m-%d %H:%M}  {change:<26} {entry.cause}{detail}"
    from digest.sending import deliveries_of

    found = deliveries_of(engine, person.id)
    yield "deliveries:" if found else "deliveries:   (none yet)"
    for delivery in found:
        error = f" ({delivery.error})" if delivery.error else ""
        when = f"{delivery.updated_at:%Y-%m-%d %H:%M}"
        yield f"  {delivery.issue_id}  {delivery.segment:<16} {delivery.state:<9} {when}{error}"
