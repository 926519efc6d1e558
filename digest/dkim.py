"""DKIM signing for SMTP sending (dkimpy), with the headers RFC 8058 requires signed."""

from __future__ import annotations

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
            message, selector.encode(), domain.encode(), private_key, include_headers=list(SIGNED_HEADERS)
        )
        return signature + message

    return sign
