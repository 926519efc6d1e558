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
from digest.people.emails import mailbox_for_sending

LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"
# The standard library wraps quoted-printable and base64 bodies at the policy's
# max_line_length, 78 for SMTP; RFC 2045 allows 76 for both encodings.
_POLICY = policy.SMTP.clone(max_line_length=76)
_POLICY_UTF8 = policy.SMTPUTF8.clone(max_line_length=76)


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
    """One complete message for one recipient.

    An address with non-ASCII characters before the @ is written as UTF-8 in a message that needs
    SMTPUTF8 (RFC 6532: ``message.policy.utf8``); a non-ASCII domain alone is written in its ASCII form.
    Raises ``ValueError`` (``email.errors`` defects among them) when the recipient's values cannot be
    carried at all: the caller fails that recipient, not the batch.
    """
    mailbox, utf8 = mailbox_for_sending(envelope.to_address)
    message = EmailMessage(policy=_POLICY_UTF8 if utf8 else _POLICY)
    message["From"] = Address(settings.email.from_name, addr_spec=settings.email.from_address)
    # headerregistry.Address refuses a non-ASCII local part (NonASCIILocalPartDefect) even where SMTPUTF8
    # allows it, so that mailbox is written as text, its display name quoted.
    message["To"] = _utf8_mailbox(envelope.to_name, mailbox) if utf8 else Address(envelope.to_name, addr_spec=mailbox)
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


def _utf8_mailbox(name: str, address: str) -> str:
    if any(character in name for character in "\r\n"):
        raise ValueError("the recipient's name holds a line break")
    if not name:
        return address
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def needs_smtputf8(message: EmailMessage) -> bool:
    """Whether the message carries an address that only SMTPUTF8 can carry."""
    return bool(message.policy.utf8)  # type: ignore[attr-defined]


def message_bytes(message: EmailMessage) -> bytes:
    """The wire form, CRLF line endings, as an SMTP server receives it (UTF-8 headers when SMTPUTF8 is needed)."""
    return message.as_bytes(policy=policy.SMTPUTF8 if needs_smtputf8(message) else policy.SMTP)
