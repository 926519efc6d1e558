"""DKIM signing for SMTP sending (dkimpy): the headers RFC 8058 requires signed, those readers see oversigned."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from digest.config import Settings
from digest.errors import ConfigError

# RFC 8058 section 4: the signature must cover List-Unsubscribe and
# List-Unsubscribe-Post, or a receiver cannot trust the one-click address.
SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"MIME-Version",
    b"Content-Type",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
)
# What a reader sees or a mailbox acts on. Each is listed in h= once more than the message
# has it ("oversigning", RFC 6376 section 8.15): the verifier then also signs the absence of
# one more, so a copy added above the signed one later (and shown instead of it) breaks the
# signature rather than riding on it.
OVERSIGNED = frozenset(
    {b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"list-unsubscribe", b"list-unsubscribe-post"}
)


def headers_to_sign(message: bytes) -> list[bytes]:
    """``h=`` for ``message``: each of SIGNED_HEADERS once, the OVERSIGNED ones once more than they appear."""
    import dkim

    present = Counter(name.lower() for name, _value in dkim.rfc822_parse(message)[0])
    names: list[bytes] = []
    for name in SIGNED_HEADERS:
        names += [name] * (present[name.lower()] + 1 if name.lower() in OVERSIGNED else 1)
    return names


def signer_from_settings(settings: Settings) -> Callable[[bytes], bytes] | None:
    """A function adding a DKIM-Signature header, or None when DKIM is not configured."""
    smtp = settings.smtp
    if not (smtp.dkim_selector or smtp.dkim_private_key_file):
        return None
    if not (smtp.dkim_selector and smtp.dkim_private_key_file):
        raise ConfigError("[smtp] DKIM needs both dkim_selector and dkim_private_key_file")
    path = settings.project_dir / smtp.dkim_private_key_file
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"[smtp] dkim_private_key_file {path} cannot be read ({exc.strerror})") from None
    return make_signer(key, smtp.dkim_selector, smtp.dkim_domain or settings.email.domain)


def make_signer(private_key: bytes, selector: str, domain: str) -> Callable[[bytes], bytes]:
    import dkim

    def sign(message: bytes) -> bytes:
        signature = dkim.sign(
            message, selector.encode(), domain.encode(), private_key, include_headers=headers_to_sign(message)
        )
        return signature + message

    return sign
