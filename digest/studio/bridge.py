"""The studio's only door into sending: a test copy, as `digest send --test-to` sends it, and which issues went out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine

from digest.config import Settings
from digest.sending.testcopy import TestCopies


def send_test_copies(
    engine: Engine, settings: Settings, issue_ref: str, addresses: Sequence[str], segment: str | None
) -> TestCopies:
    """Send the saved issue (one segment's variant) to ``addresses`` with [TEST] in the subject; no ledger."""
    from digest.providers.base import make_provider
    from digest.sending import send_test_copies as send

    return send(engine, settings, issue_ref, addresses, segment=segment, provider=make_provider(settings))


def sent_issues(engine: Engine) -> set[str]:
    """The issues that went out (at least one copy accepted), as the archive counts them."""
    from digest.sending.ledger import sent_issue_ids

    return set(sent_issue_ids(engine))
