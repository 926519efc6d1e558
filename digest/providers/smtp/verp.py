"""The SMTP envelope sender, a signed VERP return path: ``bounces+<delivery id>-<tag>@domain``.

A bounce goes back to the envelope sender, so putting the delivery id there
tells us which message bounced. Delivery ids are small sequential numbers,
though, so anyone could write a "bounce" to ``bounces+12@`` and silence the
person behind delivery 12. The tag is an HMAC-SHA256 keyed with
``DIGEST_SECRET_KEY`` over the delivery id, truncated to 64 bits and written
in lower-case hex (mail systems may change the case of a local part): only a
message we sent carries a valid one, and guessing one takes about 2**63 tries.

The old unsigned form ``bounces+<id>@`` is still recognised, so that it can
be reported, but it is never trusted: it is exactly what a forger would write.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from digest.config import Settings

TAG_HEX = 16  # 64 bits of the HMAC
_PURPOSE = b"digest-verp:"


@dataclass(frozen=True)
class VerpTag:
    """A delivery id found in a return path, and whether its signature holds."""

    delivery_id: int
    signed: bool  # a valid tag: this address came from a message we sent
    address: str  # the address as found, for the evidence

    @property
    def state(self) -> str:
        return "signed" if self.signed else "unsigned or forged"


@lru_cache(maxsize=4)
def _keyed(secret: bytes) -> Any:
    return hmac.new(secret, _PURPOSE, hashlib.sha256)


def tag(secret: bytes, delivery_id: int) -> str:
    """The hex tag that signs one delivery id."""
    mac = _keyed(secret).copy()
    mac.update(str(delivery_id).encode("ascii"))
    return mac.hexdigest()[:TAG_HEX]


def _base(settings: Settings) -> tuple[str, str]:
    base = settings.email.bounce_address or f"bounces@{settings.email.domain}"
    local, _, domain = base.partition("@")
    return local, domain


def return_path(settings: Settings, delivery_id: int | None) -> str:
    """The envelope sender for one delivery (``bounces+test@`` for test sends, which have none)."""
    local, domain = _base(settings)
    if delivery_id is None:
        return f"{local}+test@{domain}"
    return f"{local}+{delivery_id}-{tag(settings.require_secret_key(), delivery_id)}@{domain}"


@lru_cache(maxsize=8)
def _pattern(local: str, domain: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![\w.+-]){re.escape(local)}\+(\d{{1,15}})(?:-([0-9a-zA-Z]{{1,64}}))?@{re.escape(domain)}\b",
        re.IGNORECASE,
    )


def find(settings: Settings, text: str) -> VerpTag | None:
    """The first VERP address of ours in ``text``; a signed one wins over any unsigned one."""
    local, domain = _base(settings)
    first: VerpTag | None = None
    for match in _pattern(local, domain).finditer(text):
        delivery_id = int(match.group(1))
        given = (match.group(2) or "").lower()
        signed = bool(given) and hmac.compare_digest(given, tag(settings.require_secret_key(), delivery_id))
        found = VerpTag(delivery_id, signed, match.group(0))
        if signed:
            return found
        first = first or found
    return first
