"""The one list of provider names, and where each provider's class lives.

Settings, the CLI and :func:`digest.providers.base.make_provider` all read
this table; adding a provider is one line here and one package beside it.
"""

from __future__ import annotations

PROVIDERS: dict[str, str] = {
    "outbox": "digest.providers.outbox:OutboxProvider",
    "smtp": "digest.providers.smtp.sending:SmtpProvider",
    "sendgrid": "digest.providers.sendgrid.sending:SendGridProvider",
}
PROVIDER_NAMES: tuple[str, ...] = tuple(PROVIDERS)

# Providers whose batch is one request: if the provider shows it took any message of a
# batch, it took the whole batch (the ledger settles uncertain batches on that rule).
ONE_REQUEST_PER_BATCH: frozenset[str] = frozenset({"sendgrid"})
