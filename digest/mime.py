"""MIME messages: the exact bytes SMTP sends and the outbox and preview write.

A multipart/alternative message with the plain text first and the HTML last
(RFC 2046: the last part is the preferred one), UTF-8 in quoted-printable with
lines of at most 76 characters (RFC 2045), and the headers bulk senders are judged on:
Message-ID, Date, List-Unsubscribe with List-Unsubscribe-Post (RFC 8058).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from digest.config import Settings

LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"
# The standard library wraps quoted-printable and base64 bodies at the policy's
# max_line_length, 78 for SMTP; RFC 2045 allows 76 for both encodings.
_POLICY = policy.SMTP.clone(max_line_length=76)


@dataclass(frozen=True)
class Envelope:
    """Who a message goes to and the per-message headers."""

    to_address: str
    to_name: str = ""
    unsubscribe_url: str = ""
    message_id: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def list_unsubscribe_header(settings: Settings, unsubscribe_url: str) -> str:
    """The https one-click address, plus mailto where the settings give one."""
    parts = [f"<{unsubscribe_url}>"]
    if settings.email.unsubscribe_mailto:
        parts.append(f"<mailto:{settings.email.unsubscribe_mailto}?subject=unsubscribe>")
    return ", ".join(parts)


def new_message_id(settings: Settings) -> str:
    return make_msgid(idstring="digest", domain=settings.email.domain)


def list_id(settings: Settings) -> str:
    return f"SAFE Newsfeed <newsfeed.{settings.email.domain}>"


def build_message(
    settings: Settings,
    *,
    subject: str,
    html: str,
    text: str,
    envelope: Envelope,
    date: datetime | None = None,
) -> EmailMessage:
    """One complete message for one recipient."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = Address(settings.email.from_name, addr_spec=settings.email.from_address)
    message["To"] = Address(envelope.to_name, addr_spec=envelope.to_address)
    if settings.email.reply_to:
        message["Reply-To"] = settings.email.reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = envelope.message_id or new_message_id(settings)
    message["List-Id"] = list_id(settings)
    if envelope.unsubscribe_url:
        message["List-Unsubscribe"] = list_unsubscribe_header(settings, envelope.unsubscribe_url)
        message["List-Unsubscribe-Post"] = LIST_UNSUBSCRIBE_POST
    for name, value in envelope.extra_headers.items():
        message[name] = value
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def message_bytes(message: EmailMessage) -> bytes:
    """The wire form, CRLF line endings, as an SMTP server receives it."""
    return message.as_bytes(policy=policy.SMTP)
