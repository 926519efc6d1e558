"""The studio's only door into sending: a test copy, as `digest send --test-to` sends it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine

from digest.config import Settings


def send_test_copies(
    engine: Engine, settings: Settings, issue_ref: str, addresses: Sequence[str], segment: str | None
) -> tuple[int, list[str]]:
    """Send the saved issue (one segment's variant) to ``addresses`` with [TEST] in the subject; no ledger."""
    from digest.providers.base import make_provider
    from digest.sending import send_test_copies as send

    return send(engine, settings, issue_ref, addresses, segment=segment, provider=make_provider(settings))
