"""What every provider shares: a batch of recipients in, a result per recipient out.

Each provider only translates a batch into its provider's terms and reports
what happened; the ledger (:mod:`digest.sending.ledger`) decides who still
needs a copy.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import NamedTuple, Protocol

from digest.config import Settings
from digest.errors import ConfigError, ProviderError
from digest.issues.mime import Envelope, build_message
from digest.issues.personalise import Personal, fill
from digest.issues.render import RenderedEmail
from digest.providers.registry import PROVIDERS


class Recipient(NamedTuple):
    """One person in a batch. ``delivery_id`` is None for test sends (no ledger row).

    A named tuple: a send makes one per reader, and that is cheaper than a dataclass.
    """

    delivery_id: int | None
    email: str
    name: str
    personal: Personal


@dataclass(frozen=True)
class Batch:
    """Recipients who all get the same variant of an issue."""

    issue_id: str
    send_id: int | None
    variant: RenderedEmail
    recipients: Sequence[Recipient]
    test: bool = False
    send_at: datetime | None = None
    provider_batch_id: str | None = None

    @property
    def subject(self) -> str:
        return f"[TEST] {self.variant.subject}" if self.test else self.variant.subject


@dataclass
class BatchResult:
    """Per recipient (by position in the batch): accepted with a message id, or failed with a reason."""

    accepted: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    uncertain: dict[int, str] = field(default_factory=dict)  # may have been delivered; never retried blindly
    where: dict[int, str] = field(default_factory=dict)  # where an accepted copy went, when there is more to say


class ProviderFatal(ProviderError):
    """The provider refused us outright (bad credentials): stop the whole send; nothing was sent."""


class ProviderRejected(ProviderError):
    """The provider refused this batch (bad request): its recipients failed; nothing was sent."""


class ProviderUncertain(ProviderError):
    """No answer in time: the provider may or may not have accepted the batch."""


class ProviderUnavailable(ProviderError):
    """The provider kept failing (5xx, 429, unreachable) after every retry; nothing was sent."""


class Provider(Protocol):
    """What the runner needs of a provider: a name, a batch size, a send and a close."""

    name: str
    batch_size: int
    requests: int  # requests made so far (reported in benchmarks)

    def send(self, batch: Batch) -> BatchResult: ...

    def close(self) -> None: ...


def make_provider(settings: Settings, name: str | None = None) -> Provider:
    """The provider named (or the configured default), checked and ready."""
    chosen = name or settings.provider
    if chosen not in PROVIDERS:
        raise ConfigError(f"unknown provider {chosen!r}; use one of {', '.join(PROVIDERS)}")
    module_name, _, class_name = PROVIDERS[chosen].partition(":")
    # Imported on use: each provider pulls in its own libraries (sendgrid, smtplib, dkimpy).
    provider_class = getattr(importlib.import_module(module_name), class_name)
    provider: Provider = provider_class(settings)
    return provider


def message_or_reason(settings: Settings, batch: Batch, recipient: Recipient) -> EmailMessage | str:
    """The recipient's message, or why it cannot be made (a value no message can carry): that recipient
    fails with the reason, and the rest of the batch is sent."""
    try:
        return recipient_message(settings, batch, recipient)
    except (ValueError, UnicodeError) as exc:  # email.errors' header defects are ValueErrors
        return f"no message can be made for this address ({type(exc).__name__}: {exc})"


def recipient_message(settings: Settings, batch: Batch, recipient: Recipient) -> EmailMessage:
    """The complete MIME message one recipient gets (SMTP and outbox send these bytes)."""
    values = recipient.personal.as_dict()
    extra = {"Feedback-ID": f"{batch.issue_id}:{batch.send_id or 'test'}:digest:{settings.email.domain}"}
    if recipient.delivery_id is not None:
        extra["X-Digest-Delivery"] = str(recipient.delivery_id)
    return build_message(
        settings,
        subject=batch.subject,
        html=fill(batch.variant.html, values, html=True),
        text=fill(batch.variant.text, values, html=False),
        envelope=Envelope(
            to_address=recipient.email,
            to_name=recipient.name,
            unsubscribe_url=recipient.personal.unsubscribe_url,
            extra_headers=extra,
        ),
    )
