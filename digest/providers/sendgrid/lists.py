"""SendGrid's suppression lists (bounces, blocks, spam reports, unsubscribes), read page by page as events.

Reading needs an API key with the Suppressions read scope. What the lists
mean for a person is decided by :func:`digest.events.rules.ingest`, like any event.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from digest.config import Settings
from digest.errors import ConfigError, ProviderError
from digest.events.event import Event
from digest.providers.sendgrid.events import canonical, text_field, timestamp

# Each list, and the event type an entry on it stands for.
SYNC_LISTS = {
    "bounces": "bounced",
    "blocks": "blocked",
    "spam_reports": "complained",
    "unsubscribes": "unsubscribed",
}
PAGE = 500


def suppression_list_pages(settings: Settings, *, client: Any = None) -> Iterator[list[Event]]:
    """Every entry of SendGrid's four lists as events, one page of up to 500 at a time."""
    from python_http_client import exceptions as http

    if client is None:
        if not settings.sendgrid.api_key:
            raise ConfigError("SENDGRID_API_KEY is not set; `digest bounces sync` reads SendGrid's lists with it")
        from sendgrid import SendGridAPIClient

        client = SendGridAPIClient(api_key=settings.sendgrid.api_key.reveal(), host=settings.sendgrid.api_host)
        client.client.timeout = settings.sendgrid.timeout
    for kind, event_type in SYNC_LISTS.items():
        offset = 0
        while True:
            try:
                response = client.client.suppression._(kind).get(query_params={"limit": PAGE, "offset": offset})
            except (http.UnauthorizedError, http.ForbiddenError):
                raise ProviderError(
                    "SendGrid refused the API key; `digest bounces sync` needs the Suppressions read scope "
                    "on SENDGRID_API_KEY"
                ) from None
            except http.HTTPError as exc:
                raise ProviderError(f"SendGrid answered {exc.status_code} for its {kind} list") from None
            entries = response.to_dict if hasattr(response, "to_dict") else []
            if not isinstance(entries, list):
                raise ProviderError(f"SendGrid's {kind} list was not a list")
            yield [list_event(kind, event_type, entry) for entry in entries]
            if len(entries) < PAGE:
                break
            offset += PAGE


def list_event(kind: str, event_type: str, entry: Any) -> Event:
    """One list entry as an event; its identity is the list, the address and the time it was added."""
    entry = entry if isinstance(entry, dict) else {}
    address = text_field(entry.get("email"), 320)
    created = entry.get("created")
    return Event(
        provider="sendgrid",
        provider_event_id=f"list:{kind}:{address.lower()}:{created}",
        type=event_type,
        raw_type=f"list:{kind}",
        occurred_at=timestamp(created, datetime.now(UTC)),
        raw=canonical(entry),
        email=address,
        bounce_class="hard" if kind == "bounces" else ("soft" if kind == "blocks" else None),
        status=text_field(entry.get("status"), 32),
        reason=text_field(entry.get("reason")),
    )
