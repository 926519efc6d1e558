"""Per-recipient link tokens: only the server, holding DIGEST_SECRET_KEY, can make them.

A token names a subscriber and the delivery that carried the link, with an
HMAC-SHA256 over both (truncated to 128 bits, which is beyond guessing), so a
forged or altered token is refused and an unsubscribe can be traced to the
issue that prompted it. Tokens do not expire: an unsubscribe link in an old
email must keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# One spelling per token: ASCII digits without leading zeros (a subscriber id is never 0),
# matched whole (``$`` would also match before a trailing newline).
_TOKEN_RE = re.compile(r"([1-9][0-9]{0,11})\.(0|[1-9][0-9]{0,11})\.([A-Za-z0-9_-]{22})", re.ASCII)
_PURPOSE = b"digest-link:"


@dataclass(frozen=True)
class LinkToken:
    subscriber_id: int
    delivery_id: int  # 0 for links not sent through the ledger (previews, tests, web pages)


@lru_cache(maxsize=4)
def _keyed(secret: bytes) -> Any:
    # Keying HMAC costs two hash blocks; a copy of a keyed object skips that per token.
    return hmac.new(secret, _PURPOSE, hashlib.sha256)


def _signature(secret: bytes, subscriber_id: int, delivery_id: int) -> str:
    mac = _keyed(secret).copy()
    mac.update(f"{subscriber_id}.{delivery_id}".encode())
    digest = mac.digest()
    return base64.urlsafe_b64encode(digest[:16]).decode("ascii").rstrip("=")


def make_token(secret: bytes, subscriber_id: int, delivery_id: int = 0) -> str:
    """``<subscriber>.<delivery>.<signature>``, safe in a URL path."""
    return f"{subscriber_id}.{delivery_id}.{_signature(secret, subscriber_id, delivery_id)}"


def token_maker(secret: bytes) -> Callable[[int, int], str]:
    """:func:`make_token` for many tokens in a row (a send's batch): the keyed HMAC looked up once."""
    keyed = _keyed(secret)
    encode = base64.urlsafe_b64encode

    def make(subscriber_id: int, delivery_id: int) -> str:
        mac = keyed.copy()
        ids = f"{subscriber_id}.{delivery_id}"
        mac.update(ids.encode())
        return f"{ids}.{encode(mac.digest()[:16]).decode('ascii').rstrip('=')}"

    return make


def read_token(secret: bytes, token: str) -> LinkToken | None:
    """The token's subscriber and delivery, or None if it is malformed or forged."""
    match = _TOKEN_RE.fullmatch(token or "")
    if not match:
        return None
    subscriber_id, delivery_id = int(match.group(1)), int(match.group(2))
    expected = _signature(secret, subscriber_id, delivery_id)
    if not hmac.compare_digest(expected, match.group(3)):
        return None
    return LinkToken(subscriber_id, delivery_id)
