"""Test copies: one segment's variant, subject prefixed [TEST], to named addresses; no ledger."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.errors import InputError
from digest.providers.base import Batch, Provider, Recipient, make_provider
from digest.sending.runner import personal_values


@dataclass
class TestCopies:
    """What became of the test copies: how many the provider accepted, where they went, what failed."""

    accepted: int
    failures: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)  # "address: where it went"


def send_test_copies(
    engine: Engine,
    settings: Settings,
    issue_ref: str,
    addresses: Iterable[str],
    *,
    segment: str | None = None,
    provider: Provider | None = None,
) -> TestCopies:
    """Send a segment's variant, subject prefixed [TEST], to the given addresses only.

    Nothing is recorded in the ledger.
    """
    from digest.issues.issue import load_view
    from digest.issues.render import render_issue
    from digest.people.emails import check_address
    from digest.people.segments import find_segments

    secret = settings.require_secret_key()
    checked = [check_address(address) for address in addresses]
    if not checked:
        raise InputError("give at least one --test-to address")
    topics = find_segments(settings, [segment])[0].topics if segment else None
    view = load_view(engine, settings, issue_ref)
    rendered = render_issue(view, settings, topics=topics, segment=segment)
    chosen = provider or make_provider(settings)
    recipients = [
        Recipient(None, address.email, "", personal_values(settings, secret, view.issue.id, 0, 0, ""))
        for address in checked
    ]
    try:
        result = chosen.send(Batch(view.issue.id, None, rendered, recipients, test=True))
    finally:
        chosen.close()
    failures = [f"{recipients[i].email}: {error}" for i, error in result.failed.items()]
    delivered = [
        f"{recipients[i].email}: {result.where.get(i) or f'accepted by {chosen.name} as {message_id}'}"
        for i, message_id in result.accepted.items()
    ]
    return TestCopies(len(result.accepted), failures, delivered)
